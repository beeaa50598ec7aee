/**
 * A fake clock for timer logic (the ReconnectClock interface): time moves only when a test calls
 * advance(), so a schedule of waits is checked without real waiting and without timing luck.
 */
import type { ReconnectClock } from '../../src/api/reconnect/clock.js';

interface Timer {
  at: number;
  seq: number;
  callback: () => void;
}

export class FakeClock implements ReconnectClock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, Timer>();
  #onTimer: Array<() => void> = [];

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + ms, seq: id, callback });
    const waiting = this.#onTimer;
    this.#onTimer = [];
    for (const wake of waiting) wake();
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** The delays (from now) of the timers still pending, soonest first. */
  get pending(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /** Resolves once at least one timer is pending (at once if one already is). */
  async untilTimer(): Promise<void> {
    while (this.#timers.size === 0) await new Promise<void>((resolve) => this.#onTimer.push(resolve));
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order of time. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, Timer] | null = null;
      for (const entry of this.#timers) {
        if (entry[1].at <= end && (next === null || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq))) next = entry;
      }
      if (next === null) break;
      this.#timers.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].callback();
    }
    this.#now = end;
  }
}
