/**
 * How the reconnection engine waits. It has no clock of its own: every delay it takes (backoff,
 * Retry-After, the liveness ping and its timeout) is a `WheelTimer` on a `TimerService`, the one
 * timer service of the node and api layers (node/timer-wheel.ts over node/clock.ts), so one fake
 * clock drives the whole schedule in tests, as it drives the connections' own timers.
 */
import { WheelTimer, type TimerService } from '../../node/timer-wheel.js';

/**
 * Waits `ms` on `timers`; resolves false at once (and cancels the timer) when `signal` aborts.
 * Never rejects, so a caller decides what an abort means. The timer is ref'd: the caller awaits
 * it, so it keeps the process alive as a `setTimeout` would. It may fire up to one wheel
 * resolution late (about 5% of the delay), never early, which a backoff wait does not mind.
 */
export function waitOn(timers: TimerService, ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    if (signal?.aborted) {
      resolve(false);
      return;
    }
    // "At once" takes no timer: a wheel timer fires on the next tick at the earliest, and a
    // reconnection decided 'now' should not wait for one (nor, on a fake clock, for time to move).
    if (ms <= 0) {
      resolve(true);
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      resolve(false);
    };
    const timer = new WheelTimer(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      },
      { ref: true, timers },
    );
    timer.schedule(ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
