/**
 * How many inputs each fuzz property tries. `npm test` runs a bounded number so that the suite
 * stays quick on a loaded machine; `npm run fuzz` sets HYBI_FUZZ_RUNS much higher. A failing run
 * prints its seed and path; HYBI_FUZZ_SEED (and HYBI_FUZZ_PATH) replay it exactly.
 */
import type { Parameters } from 'fast-check';

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

/** Runs per property: HYBI_FUZZ_RUNS, default 300. */
export const FUZZ_RUNS = positive('HYBI_FUZZ_RUNS', 300);

/**
 * fast-check parameters for a property whose single run costs about `weight` ordinary runs (the
 * expensive properties run fewer inputs, in the same proportion under `npm run fuzz`).
 */
export function fuzzParameters<T>(weight = 1): Parameters<T> {
  const parameters: Parameters<T> = { numRuns: Math.max(10, Math.floor(FUZZ_RUNS / weight)) };
  const seed = process.env.HYBI_FUZZ_SEED;
  if (seed !== undefined && seed !== '') {
    parameters.seed = Number(seed);
    const path = process.env.HYBI_FUZZ_PATH;
    if (path !== undefined && path !== '') parameters.path = path;
  }
  return parameters;
}
