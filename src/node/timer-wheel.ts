/**
 * A shared, coarse timer wheel for the connection timers (keep-alive, idle, closing handshake,
 * ping timeouts).
 *
 * Why not one `setTimeout` per connection: a server holding 10,000 idle connections would keep
 * 10,000 Node `Timeout` objects and re-arm one on every read. Here a timer is a small object
 * threaded on an intrusive list in one slot of a hashed wheel; scheduling, cancelling and
 * re-scheduling are O(1) and allocate nothing, and one unref'd interval per resolution ticks only
 * while some timer is pending (and once more after the last is cancelled, when it stops). A feature that is off costs no timer at all.
 *
 * Timers are coarse by design: one fires at most one resolution late, never early. Three shared
 * wheels exist (10 ms, 100 ms, 1 s resolution); a delay goes to the coarsest wheel whose
 * resolution is at most a twentieth of it, so lateness stays within about 5% of the delay (or
 * 10 ms for short ones).
 *
 * The wheels of one clock form a `TimerService`: every connection timer, ping timeout and
 * handshake bound of the node and api layers runs on one (the process's `systemTimers` unless
 * another was injected), so that one fake clock can drive all of them in tests.
 */
import { systemClock, type Clock, type Ticker } from './clock.js';

/** WheelTimer.flags: scheduled and not yet fired or cancelled. */
const ARMED = 1;
/** WheelTimer.flags: keeps the process alive while pending. */
const REF = 2;

/** A one-shot timer that can be (re)scheduled on a wheel and cancelled, any number of times. */
export class WheelTimer {
  /** Called when the timer fires, with `target` as `this`. It may re-schedule the timer. */
  callback: (this: never) => void;
  /**
   * `this` of the callback: lets many timers share one function (a method of their owner)
   * instead of a closure each, which is about 100 bytes per idle connection.
   */
  readonly target: unknown;
  /** @internal tick at which the timer is due. */
  tick = 0;
  /**
   * @internal ARMED: scheduled and neither fired nor cancelled (stays set while it waits in a
   * batch about to fire); REF: see `ref`. One small integer rather than two boolean fields: 8
   * bytes less per timer, and an idle connection has one.
   */
  flags: number;
  /** @internal the wheel holding it, or null when not pending. */
  wheel: TimerWheel | null = null;
  /** @internal intrusive list links within the slot. */
  next: WheelTimer | null = null;
  /** @internal */
  prev: WheelTimer | null = null;


  /** The service (the wheels and their clock) the timer runs on. */
  readonly timers: TimerService;

  constructor(callback: () => void, options?: { ref?: boolean; timers?: TimerService });
  constructor(callback: (this: never) => void, options: { ref?: boolean; target: unknown; timers?: TimerService });
  constructor(callback: (this: never) => void, options?: { ref?: boolean; target?: unknown; timers?: TimerService }) {
    this.callback = callback;
    this.target = options?.target;
    this.flags = options?.ref === true ? REF : 0;
    this.timers = options?.timers ?? systemTimers;
  }

  /**
   * Whether a pending timer keeps the process alive. Connection timers do not (their socket
   * does); a timer the user awaits the outcome of (a ping timeout, a closing handshake) does, as a
   * `setTimeout` would.
   */
  get ref(): boolean {
    return (this.flags & REF) !== 0;
  }

  /** True while the timer is scheduled and has not fired. */
  get pending(): boolean {
    return (this.flags & ARMED) !== 0;
  }

  /** (Re)schedules the timer to fire `delay` ms from now on the wheel suited to that delay. */
  schedule(delay: number): void {
    this.cancel();
    this.timers.wheelFor(delay).add(this, delay);
  }

  /** Cancels the timer if it is pending; harmless otherwise. */
  cancel(): void {
    this.flags &= ~ARMED;
    this.wheel?.remove(this);
  }
}

/** A hashed timer wheel: `slotCount` slots of `resolution` ms each, driven by one unref'd tick of its clock. */
export class TimerWheel {
  readonly resolution: number;
  private readonly clock: Clock;
  private readonly slots: (WheelTimer | null)[];
  private readonly mask: number;
  private interval: Ticker | null = null;
  /** The last tick whose slot was processed. */
  private currentTick = 0;
  private count = 0;
  /** Pending timers that keep the process alive; the interval is ref'd while there are any. */
  private refs = 0;
  /** Timers found due in one tick, fired after the scan so callbacks may touch any slot. */
  private readonly due: WheelTimer[] = [];

  /** `slotCount` must be a power of two. */
  constructor(resolution: number, slotCount = 256, clock: Clock = systemClock) {
    if (!(resolution > 0) || slotCount <= 0 || (slotCount & (slotCount - 1)) !== 0) {
      throw new RangeError('a timer wheel needs a positive resolution and a power-of-two slot count');
    }
    this.resolution = resolution;
    this.clock = clock;
    this.slots = new Array<WheelTimer | null>(slotCount).fill(null);
    this.mask = slotCount - 1;
  }

  /** Number of pending timers (for tests and leak checks). */
  get size(): number {
    return this.count;
  }

  /** @internal use `WheelTimer.schedule`. */
  add(timer: WheelTimer, delay: number): void {
    const now = this.clock.now();
    if (this.interval === null) {
      this.currentTick = Math.floor(now / this.resolution);
      // One interval per wheel, unref'd unless a ref'd timer is pending: connection timers never
      // keep the process alive on their own (the sockets they belong to do).
      this.interval = this.clock.every(this.resolution, () => this.advance());
    }
    if (timer.ref && this.refs++ === 0) this.interval.ref();
    // Rounded up, and never the tick being processed: a timer never fires early.
    timer.tick = Math.max(this.currentTick + 1, Math.ceil((now + Math.max(0, delay)) / this.resolution));
    const index = timer.tick & this.mask;
    const head = this.slots[index] ?? null;
    timer.prev = null;
    timer.next = head;
    if (head) head.prev = timer;
    this.slots[index] = timer;
    timer.wheel = this;
    timer.flags |= ARMED;
    this.count++;
  }

  /** @internal use `WheelTimer.cancel`. */
  remove(timer: WheelTimer): void {
    if (timer.wheel !== this) return;
    if (timer.prev) timer.prev.next = timer.next;
    else this.slots[timer.tick & this.mask] = timer.next;
    if (timer.next) timer.next.prev = timer.prev;
    timer.next = timer.prev = null;
    timer.wheel = null;
    if (timer.ref && --this.refs === 0 && this.interval !== null) this.interval.unref();
    // An emptied wheel stops its interval at its next tick (advance), not here: a server taking
    // connections one after another empties a wheel with every handshake timer it cancels, and
    // a new setInterval per connection cost more than the rest of the wheel's work.
    this.count--;
  }

  /** Processes every tick up to now; after a long event-loop stall each slot is visited once. */
  private advance(): void {
    const target = Math.floor(this.clock.now() / this.resolution);
    const steps = Math.min(target - this.currentTick, this.slots.length);
    for (let i = 1; i <= steps; i++) {
      let timer = this.slots[(this.currentTick + i) & this.mask] ?? null;
      while (timer !== null) {
        if (timer.tick <= target) this.due.push(timer);
        timer = timer.next;
      }
    }
    this.currentTick = Math.max(this.currentTick, target);
    // Unlinked before any callback runs, but still armed: a callback that cancels or re-schedules
    // a later timer of the same batch disarms it (a re-scheduled one is armed again, but linked
    // into a wheel), so each is checked once more just before it fires.
    for (const t of this.due) this.remove(t);
    const fired = this.due.splice(0, this.due.length);
    for (const t of fired) {
      if ((t.flags & ARMED) !== 0 && t.wheel === null) {
        t.flags &= ~ARMED;
        try {
          t.callback.call(t.target as never);
        } catch (error) {
          // A timer callback belongs to a connection; its failure must not stop the others.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }
    // Nothing pending (the callbacks scheduled nothing): the interval stops until the next add.
    if (this.count === 0 && this.interval !== null) {
      this.interval.stop();
      this.interval = null;
    }
  }
}

/**
 * The timer service: the three shared wheels (10 ms, 100 ms, 1 s) over one clock. Every timer of
 * a connection asks it for its wheel and its clock, so nothing in the node and api layers reads
 * `performance.now()`, `Date.now()` or calls `setTimeout` for connection timing on its own.
 */
export class TimerService {
  readonly clock: Clock;
  private readonly wheels: readonly TimerWheel[];

  constructor(clock: Clock = systemClock) {
    this.clock = clock;
    this.wheels = [new TimerWheel(10, 256, clock), new TimerWheel(100, 256, clock), new TimerWheel(1000, 256, clock)];
  }

  /** Milliseconds of the service's monotonic clock. */
  now(): number {
    return this.clock.now();
  }

  /** The wheel for a delay: the coarsest whose resolution is at most delay / 20. */
  wheelFor(delay: number): TimerWheel {
    const wheels = this.wheels;
    for (let i = wheels.length - 1; i > 0; i--) {
      const wheel = wheels[i]!;
      if (wheel.resolution * 20 <= delay) return wheel;
    }
    return wheels[0]!;
  }

  /** Pending timers across the wheels (for leak checks in tests). */
  get pending(): number {
    let n = 0;
    for (const w of this.wheels) n += w.size;
    return n;
  }
}

/** The process's timer service, over the system clock: what every timer uses unless given another. */
export const systemTimers = new TimerService(systemClock);

/** The shared wheel of the process's timer service for a delay (see TimerService.wheelFor). */
export function wheelFor(delay: number): TimerWheel {
  return systemTimers.wheelFor(delay);
}

/** Pending timers across the process's shared wheels (for leak checks in tests). */
export function pendingTimers(): number {
  return systemTimers.pending;
}
