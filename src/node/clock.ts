/**
 * The one clock every timer of hybi's node and api layers reads: the monotonic time and the
 * periodic tick that drives the timer wheels (see timer-wheel.ts). Injecting another clock (a
 * `TimerService` built over it) is how tests run keep-alive, idle, close and handshake timers
 * without waiting: a fake clock moves time forward by hand and ticks the wheels as it goes.
 */
import { performance } from 'node:perf_hooks';

/** A periodic tick started by `Clock.every`. */
export interface Ticker {
  /** Let the tick keep the process alive (as a ref'd `setInterval`). */
  ref(): void;
  /** Do not let the tick keep the process alive (the default). */
  unref(): void;
  /** Stop ticking; harmless twice. */
  stop(): void;
}

/** A monotonic clock with a periodic tick. */
export interface Clock {
  /** Milliseconds on a monotonic scale (never goes back; fractions allowed). */
  now(): number;
  /** Calls `tick` about every `period` ms until stopped; starts unref'd. */
  every(period: number, tick: () => void): Ticker;
}

/**
 * The process's clock: `performance.now()` (monotonic, unlike `Date.now()`, which jumps with the
 * wall clock and would fire or delay every timer when NTP steps it) and `setInterval`.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  every(period: number, tick: () => void): Ticker {
    const interval = setInterval(tick, period);
    interval.unref();
    return {
      ref: () => void interval.ref(),
      unref: () => void interval.unref(),
      stop: () => clearInterval(interval),
    };
  },
};
