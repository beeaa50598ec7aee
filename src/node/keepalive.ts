/**
 * Keep-alive, all of it: the ping after `pingInterval` of silence, the pong that ping must bring
 * back within `pongTimeout`, and the `idleTimeout` after which a silent peer is given up. Where
 * is the ping timeout? Here.
 *
 * One `Keepalive` per connection that has any of them on (none otherwise: a feature that is off
 * costs nothing). It is itself the connection's timer on the shared wheels, so the three bounds
 * cost one timer object and three integers per connection, and it decides; its owner (the
 * socket driver) acts on the verdict: sends the ping (through its owner, who lists it among the
 * pings awaiting pongs), fails the connection, or closes it as idle.
 *
 * The rules:
 * - Silence means nothing read at all (any frame, any byte). After `pingInterval` ms of it a ping
 *   is sent, and again every `pingInterval` ms while the silence lasts (RFC 6455 section 5.5.2:
 *   the peer MUST answer a ping with a pong, so a live peer breaks the silence at once).
 * - From the first unanswered keep-alive ping, a pong must arrive within `pongTimeout` ms, or the
 *   connection fails with 1011 (KeepaliveTimeoutError). Any pong counts: a peer may answer only
 *   the latest of several pings (section 5.5.3), and a pong at all proves the peer reads our
 *   frames and writes its own.
 * - After `idleTimeout` ms with nothing read the connection is closed as idle (1001).
 * - While we ourselves hold reading (backpressure, an inflation), the peer cannot be heard, so
 *   that time counts as neither silence nor a missing pong.
 */
import { WheelTimer, type TimerService } from './timer-wheel.js';

/** The keep-alive options, in ms; 0 disables each. */
export interface KeepaliveSettings {
  /** Ping after this much silence (and again every as much while it lasts). */
  readonly pingInterval: number;
  /** Fail the connection when a keep-alive ping has no pong after this long. */
  readonly pongTimeout?: number;
  /** Close the connection after this much silence. */
  readonly idleTimeout: number;
}

/** What a keep-alive check asks its owner to do. */
export const KeepaliveVerdict = {
  /** Nothing is due. */
  None: 0,
  /** Send a keep-alive ping now. */
  Ping: 1,
  /** The peer was silent for `idleTimeout`: close the connection as idle. */
  Idle: 2,
  /** A keep-alive ping had no pong within `pongTimeout`: fail the connection. */
  PongTimeout: 3,
} as const;
export type KeepaliveVerdict = (typeof KeepaliveVerdict)[keyof typeof KeepaliveVerdict];

/** Whether any keep-alive bound is on, so that a connection needs a Keepalive at all. */
export function keepaliveEnabled(settings: KeepaliveSettings): boolean {
  return settings.pingInterval > 0 || settings.idleTimeout > 0;
}

/**
 * The keep-alive state of one connection, and its timer. Times are whole ms of the timer
 * service's clock: a field that only ever holds small integers is stored in the object itself,
 * while one that held a fraction is a pointer to a boxed number (16 bytes more per connection).
 */
export class Keepalive extends WheelTimer {
  /** When something was last read. */
  private lastReceived = 0;
  /** When the last keep-alive ping was sent. */
  private lastPing = 0;
  /** When the pong for the oldest unanswered keep-alive ping is due; 0 while none waits. */
  private pongDue = 0;

  /** `check` is called with `target` as `this` when the timer fires (one function for every connection). */
  constructor(check: (this: never) => void, target: unknown, timers: TimerService) {
    super(check, { target, timers });
  }

  /** Whole ms of the service's clock. */
  now(): number {
    return Math.floor(this.timers.now());
  }

  /** The connection starts: the silence is timed from now. */
  start(settings: KeepaliveSettings): void {
    this.lastReceived = this.lastPing = this.now();
    this.pongDue = 0;
    this.arm(settings);
  }

  /** Something was read (the hot path: one clock read and one store). */
  received(): void {
    this.lastReceived = this.now();
  }

  /** A pong was read: the keep-alive ping waiting for one is answered. */
  pong(): void {
    this.pongDue = 0;
  }

  /** The connection is closing or gone: no more keep-alive. */
  stop(): void {
    this.cancel();
  }

  /**
   * The timer fired: what is due now, given whether we hold reading ourselves. After `Ping` the
   * owner sends the ping; every verdict but `None` ends the checks unless `rearm` is called.
   */
  check(settings: KeepaliveSettings, readingHeld: boolean): KeepaliveVerdict {
    const now = this.now();
    // While we are the ones not reading (backpressure, a transform), silence proves nothing, and
    // a pong cannot be read either: both clocks restart when we read again.
    if (readingHeld) {
      this.lastReceived = now;
      if (this.pongDue !== 0) this.pongDue = now + (settings.pongTimeout ?? 0);
    }
    const { pingInterval, idleTimeout } = settings;
    if (idleTimeout > 0 && now - this.lastReceived >= idleTimeout) return KeepaliveVerdict.Idle;
    if (this.pongDue !== 0 && now >= this.pongDue) return KeepaliveVerdict.PongTimeout;
    if (pingInterval > 0 && now - Math.max(this.lastReceived, this.lastPing) >= pingInterval) {
      this.lastPing = now;
      const pongTimeout = settings.pongTimeout ?? 0;
      if (pongTimeout > 0 && this.pongDue === 0) this.pongDue = now + pongTimeout;
      return KeepaliveVerdict.Ping;
    }
    return KeepaliveVerdict.None;
  }

  /** Schedules the next check: the earliest of the idle deadline, the pong deadline and the next ping. */
  arm(settings: KeepaliveSettings): void {
    const { pingInterval, idleTimeout } = settings;
    let next = Infinity;
    if (idleTimeout > 0) next = this.lastReceived + idleTimeout;
    if (pingInterval > 0) next = Math.min(next, Math.max(this.lastReceived, this.lastPing) + pingInterval);
    if (this.pongDue !== 0) next = Math.min(next, this.pongDue);
    this.schedule(Math.max(1, next - this.now()));
  }
}
