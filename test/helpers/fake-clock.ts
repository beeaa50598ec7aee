/**
 * A clock for timer tests: time moves only when the test says so, and the timer wheels of a
 * `TimerService` built over it tick as it moves. No test that uses it sleeps or depends on how
 * busy the machine is.
 */
import type { Clock, Ticker } from '../../src/node/clock.js';
import { TimerService } from '../../src/node/timer-wheel.js';

interface FakeTicker extends Ticker {
  period: number;
  next: number;
  tick: () => void;
  stopped: boolean;
  refd: boolean;
}

export class FakeClock implements Clock {
  private time: number;
  private readonly tickers = new Set<FakeTicker>();
  private waiting: Array<() => void> = [];

  constructor(start = 1_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  every(period: number, tick: () => void): Ticker {
    const ticker: FakeTicker = {
      period,
      next: this.time + period,
      tick,
      stopped: false,
      refd: false,
      ref: () => void (ticker.refd = true),
      unref: () => void (ticker.refd = false),
      stop: () => {
        ticker.stopped = true;
        this.tickers.delete(ticker);
      },
    };
    this.tickers.add(ticker);
    const waiting = this.waiting;
    this.waiting = [];
    for (const wake of waiting) wake();
    return ticker;
  }

  /** Ticks running now (a wheel with pending timers has one). */
  get running(): number {
    return this.tickers.size;
  }

  /**
   * Resolves once some tick is running (at once if one already is): a wheel of the service starts
   * ticking when its first timer is scheduled, so this is how a test waits until code running on
   * real I/O has armed a timer before it moves time.
   */
  async untilTimer(): Promise<void> {
    while (this.tickers.size === 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /**
   * Moves time forward by `ms`, firing every tick due on the way in time order, with time set to
   * each tick's moment while it runs (so a timer scheduled from a callback is timed from then).
   */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let first: FakeTicker | null = null;
      for (const t of this.tickers) if (first === null || t.next < first.next) first = t;
      if (first === null || first.next > end) break;
      this.time = Math.max(this.time, first.next);
      first.next += first.period;
      first.tick();
    }
    this.time = end;
  }
}

/** A timer service over a fresh fake clock. */
export function fakeTimers(): { clock: FakeClock; timers: TimerService } {
  const clock = new FakeClock();
  return { clock, timers: new TimerService(clock) };
}
