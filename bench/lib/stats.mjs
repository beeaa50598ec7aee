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

/**
 * The spread of a ratio measured round by round: `a[i] / b[i]` for every round i in which both
 * peers have a finite, non-zero figure, summarized like any other list. The peers of one round
 * ran one right after the other, so a burst of other work on the machine moves both figures of a
 * round and mostly cancels out of their ratio; a ratio of medians taken over all rounds does not
 * have that property.
 */
export function pairedRatios(a, b) {
  const ratios = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) ratios.push(a[i] / b[i]);
  }
  return summarize(ratios);
}

/**
 * The same for what two peers hold above a floor (memory above a bare socket): per round,
 * (a[i] - floor[i]) / (b[i] - floor[i]); rounds where b is not above its floor are left out.
 */
export function pairedExcessRatios(a, b, floor) {
  const ratios = [];
  for (let i = 0; i < Math.min(a.length, b.length, floor.length); i++) {
    const over = b[i] - floor[i];
    if (Number.isFinite(a[i]) && Number.isFinite(over) && over > 0) ratios.push((a[i] - floor[i]) / over);
  }
  return summarize(ratios);
}
