// Summaries of repeated measurements: the median (robust to one disturbed run on a shared
// machine) and the full min-max spread, never a mean that one outlier can drag.

/** { median, min, max, n } of a list of numbers (median of an even count: the mean of the middle two). */
export function summarize(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { median, min: sorted[0], max: sorted[n - 1], n };
}
