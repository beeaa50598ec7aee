/**
 * Waiting in tests without sleeping. A test waits for the event its assertion is about (`once`),
 * for a condition re-checked whenever the event loop has turned (`waitFor`), or for a promise
 * (`until`); each has a deadline so that a hang fails with a message that says what did not
 * happen, instead of hanging the run. Deadlines are generous and scaled by TIME_SCALE: they bound
 * a failure, they never decide a pass, so a loaded machine makes a test slower, not red.
 *
 * Timer logic belongs on the fake clock (fake-clock.ts), not here. The one real wait left,
 * `quietFor`, is for proving that something does NOT happen within a time.
 */
import { once as onceEvent, type EventEmitter } from 'node:events';
import { setImmediate as nextTurn, setTimeout as delay } from 'node:timers/promises';

/**
 * Multiplies every real-time bound of the tests: `HYBI_TEST_TIME_SCALE` (default 1). Set it above 1
 * on a slow or heavily loaded machine; nothing that passes depends on it being small.
 */
export const TIME_SCALE = ((): number => {
  const raw = Number(process.env['HYBI_TEST_TIME_SCALE'] ?? '1');
  return Number.isFinite(raw) && raw > 0 ? raw : 1;
})();

/** `ms` scaled by TIME_SCALE (for deadlines and the few real waits). */
export function scaled(ms: number): number {
  return Math.ceil(ms * TIME_SCALE);
}

/** The default deadline of the waits here, before scaling. */
const DEFAULT_TIMEOUT = 5000;

/** Rejects with "`what` did not happen within N ms" if `promise` has not settled by then. */
export async function until<T>(promise: Promise<T>, ms = DEFAULT_TIMEOUT, what = 'the awaited event'): Promise<T> {
  const bound = scaled(ms);
  const ac = new AbortController();
  try {
    return await Promise.race([
      promise,
      delay(bound, undefined, { signal: ac.signal }).then(() => {
        throw new Error(`${what} did not happen within ${bound} ms`);
      }),
    ]);
  } finally {
    ac.abort();
  }
}

/** The arguments of the next `event` of `emitter` (rejects on 'error' first, as events.once does), bounded. */
export function once(emitter: EventEmitter, event: string, options: { timeout?: number } = {}): Promise<unknown[]> {
  return until(onceEvent(emitter, event), options.timeout ?? DEFAULT_TIMEOUT, `event '${event}'`);
}

/**
 * Resolves once `predicate()` is true, re-checking after every turn of the event loop (I/O and
 * timers run between checks, so it sees what they changed); fails with `what` after the deadline.
 */
export async function waitFor(predicate: () => boolean, options: { timeout?: number; what?: string } = {}): Promise<void> {
  const bound = scaled(options.timeout ?? DEFAULT_TIMEOUT);
  const end = performance.now() + bound;
  let turns = 0;
  while (!predicate()) {
    if (performance.now() > end) throw new Error(`${options.what ?? 'the condition'} did not hold within ${bound} ms`);
    // setImmediate lets pending I/O run; every 64 turns a short timer, so a predicate waiting on a
    // timer of the code under test does not spin a core the other tests need.
    if (++turns % 64 === 0) await delay(1);
    else await nextTurn();
  }
}

/**
 * A real wait of `ms` × TIME_SCALE, for the one thing no event can show: that something does
 * NOT happen within a time (a message not delivered, a timer not fired). Never use it to wait for
 * something that should happen: wait for that event instead.
 */
export function quietFor(ms: number): Promise<void> {
  return delay(scaled(ms));
}

/** One turn of the event loop (pending I/O callbacks and immediates run). */
export function turn(): Promise<void> {
  return nextTurn();
}
