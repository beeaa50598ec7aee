/**
 * The clock the reconnection engine waits on. Every delay it takes (backoff, Retry-After, the
 * liveness ping and its timeout, a queued message's time to live) goes through this interface,
 * so that tests and simulations can drive the whole schedule with a fake clock and no real wait.
 */

/** A source of time and timers; `realClock` is Node's. */
export interface ReconnectClock {
  /** Milliseconds since the epoch (Date.now() for the real clock): Retry-After dates are compared with it. */
  now(): number;
  /** Calls `callback` once after `ms` milliseconds; the handle goes to clearTimeout. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer from setTimeout; a handle already fired or cleared is ignored. */
  clearTimeout(handle: unknown): void;
}

/** Node's clock: Date.now() and the global timers. */
export const realClock: ReconnectClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Waits `ms` on `clock`; resolves false at once (and clears the timer) when `signal` aborts.
 * Never rejects, so a caller decides what an abort means.
 */
export function waitOn(clock: ReconnectClock, ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(handle);
      resolve(false);
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
