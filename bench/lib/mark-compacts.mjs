// Mark-compacts of the calling process. Where a process's old generation sits just above V8's
// 8 MB threshold, it can run one every 50 ms where another runs none, and that alone can decide a
// row (bench/README.md, "The 8 MB band, session 13"), so the suites report them beside the CPU.

import { constants, PerformanceObserver } from 'node:perf_hooks';

let count = 0;
let counting = false;

/** Starts counting (once per process); another runtime than Node's (Bun) reports NaN. */
export function countMarkCompacts() {
  if (counting) return;
  counting = true;
  if (process.versions.bun !== undefined) {
    // Bun accepts the observer but its collector is not V8's: no count rather than a false 0.
    count = NaN;
    return;
  }
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) count++;
    }).observe({ entryTypes: ['gc'] });
  } catch {
    count = NaN;
  }
}

/** Mark-compacts since countMarkCompacts() ran. */
export function markCompacts() {
  return count;
}
