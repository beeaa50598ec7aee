/**
 * The renewal of a node's subscriber counts in Redis (see COUNT_SET_SCRIPT in index.ts): each
 * count is written with an expiry of `countTtl`, and the node rewrites its counts every third of
 * that, so that a live node's counts never expire and a dead node's stop counting within
 * `countTtl`. It runs on the TimerService (not a setInterval of its own), unref'd, so an idle
 * broker never keeps the process alive, and a test drives it with a fake clock.
 */
import { systemTimers, WheelTimer, type TimerService } from '../node/timer-wheel.js';

/** Milliseconds between renewals: a third of countTtl (two renewals may be lost before a count expires), at least 1. */
export function renewalPeriod(countTtl: number): number {
  return Math.max(1, Math.floor(countTtl / 3));
}

/** Calls `renew` every renewalPeriod(countTtl) ms from start() until stop(). */
export class CountRenewal {
  readonly #period: number;
  readonly #timer: WheelTimer;

  constructor(countTtl: number, renew: () => void, timers: TimerService = systemTimers) {
    this.#period = renewalPeriod(countTtl);
    // The next renewal is timed from this one's moment, whatever `renew` does.
    this.#timer = new WheelTimer(() => {
      this.#timer.schedule(this.#period);
      renew();
    }, { timers });
  }

  /** Starts renewing (again, after stop()); the first renewal is one period from now. */
  start(): void {
    this.#timer.schedule(this.#period);
  }

  /** Stops renewing; harmless twice. */
  stop(): void {
    this.#timer.cancel();
  }
}
