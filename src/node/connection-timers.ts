/**
 * The timers of one connection, on its timer service: the bound on the closing handshake (and on
 * the end of the transport after it), the bound on a frame or message that arrives too slowly
 * (`messageTimeout`), and keep-alive (keepalive.ts: ping interval, pong timeout, idle timeout).
 * What happens when one fires is the driver's business (driver.ts); this file keeps the clocks.
 *
 * SocketDriver is built on this class; a connection is still one object.
 */
import type { CoreConnection } from '../core/hybi00/connection.js'; // legacy (issue 22): a Connection or a Hybi00Connection
import { KeepaliveTimeoutError, MessageTimeoutError } from './errors.js';
import { Keepalive, KeepaliveVerdict, keepaliveEnabled, type KeepaliveSettings } from './keepalive.js';
import { OutputBatcher } from './output-batch.js';
import { systemTimers, WheelTimer, type TimerService } from './timer-wheel.js';
import { PROGRESS, Seldom, withBit } from './driver-state.js'; // issue 24, idle memory
import type { Duplex } from 'node:stream';

/** The timer options a connection runs with, in ms (validated and defaulted by the api layer). */
export interface TimerSettings extends KeepaliveSettings {
  /** Bound on each phase of the closing handshake; 0 waits without bound. */
  readonly closeTimeout: number;
  /** Bound on how long a frame or gathered message may take to arrive (1008); 0 or absent disables. */
  readonly messageTimeout?: number;
  /** The timer service of the connection's timers; absent: the process's (systemTimers). */
  readonly timers?: TimerService;
}

/**
 * How long a client waits for the server to close TCP after the closing handshake, at most
 * (bounded by closeTimeout too). RFC 6455 section 7.1.1: the client SHOULD wait for the server to
 * close the connection, but MAY close it if that does not happen in a reasonable time.
 */
export const CLIENT_CLOSE_LINGER = 1000;

/**
 * The messageTimeout clock of a connection: its timer, and the partial frame or message it times.
 * Made when a read first ends inside a frame or message (perf-mem, issue 24: an idle connection
 * keeps one null field instead of four fields, 24 bytes).
 */
export class MessageClock extends WheelTimer {
  /** A partial frame or message is being timed. */
  active = false;
  /** Its remaining time, as of startedAt. */
  left = 0;
  startedAt = 0;
}

/** The timers of one connection (see the file's comment). */
export abstract class ConnectionTimers<O extends TimerSettings = TimerSettings> extends OutputBatcher {
  // Timer callbacks shared by every connection (the timer passes its connection as `this`).
  private static readonly keepaliveCheck = function (this: ConnectionTimers): void {
    this.onKeepalive();
  };
  private static readonly closeTimeout = function (this: ConnectionTimers): void {
    this.onCloseTimeout();
  };
  private static readonly messageTimeout = function (this: ConnectionTimers): void {
    this.onMessageTimeout();
  };

  protected abstract readonly connection: CoreConnection; // legacy (issue 22)
  /** The connection's options (shared by many connections: never written). */
  protected readonly options: O;

  /** Ping interval, pong timeout and idle timeout share one timer; null when all are off. */
  protected readonly keepalive: Keepalive | null;

  // issue 24, idle memory: the closing bound, the messageTimeout clock and `progress` are kept in
  // the driver's seldom-used state and bits (driver-state.ts); these accessors keep their names.
  private get closeTimer(): WheelTimer | null {
    return this.seldom?.closeTimer ?? null;
  }

  private set closeTimer(timer: WheelTimer | null) {
    (this.seldom ??= new Seldom()).closeTimer = timer;
  }

  // messageTimeout: a partly received frame or message is timed from the read in which it began
  // (after the last one that completed something), minus the time reads were paused by us.
  private get messageClock(): MessageClock | null {
    return (this.seldom?.messageClock as MessageClock | null | undefined) ?? null;
  }

  private set messageClock(clock: MessageClock | null) {
    (this.seldom ??= new Seldom()).messageClock = clock;
  }

  /** The core completed a frame or message during the current read. */
  protected get progress(): boolean {
    return (this.bits & PROGRESS) !== 0;
  }

  protected set progress(on: boolean) {
    this.bits = withBit(this.bits, PROGRESS, on);
  }

  constructor(stream: Duplex, options: O) {
    super(stream);
    this.options = options;
    this.keepalive = keepaliveEnabled(options) ? new Keepalive(ConnectionTimers.keepaliveCheck, this, this.timers) : null;
  }

  /** The timers of this connection (the options' service, or the process's): the same for all the connections of a server. */
  get timers(): TimerService {
    return this.options.timers ?? systemTimers;
  }

  /** Whether we ourselves hold reading now (the peer cannot be blamed for silence meanwhile). */
  protected abstract readingHeld(): boolean;
  /** A closing-handshake bound (see armCloseTimer) ran out. */
  protected abstract onCloseTimeout(): void;
  /** Keep-alive: time for a ping (the owner sends it). */
  protected abstract sendKeepalive(): void;
  /** Keep-alive: nothing arrived for idleTimeout. */
  protected abstract onIdle(): void;

  /** Whole ms of the connection's clock. */
  protected nowMs(): number {
    return Math.floor(this.timers.now());
  }

  // Keep-alive (the rules are in keepalive.ts).

  protected startKeepalive(): void {
    this.keepalive?.start(this.options);
  }

  protected stopKeepalive(): void {
    this.keepalive?.stop();
  }

  private onKeepalive(): void {
    const keepalive = this.keepalive;
    if (keepalive === null || this.finished || this.connection.readyState !== 'open') return;
    switch (keepalive.check(this.options, this.readingHeld())) {
      case KeepaliveVerdict.Idle:
        return this.onIdle();
      case KeepaliveVerdict.PongTimeout:
        return this.fail(new KeepaliveTimeoutError(this.options.pongTimeout ?? 0));
      case KeepaliveVerdict.Ping:
        // perf-mem2 (issue 24): the peer has been silent for pingInterval: the writer's output
        // slab can go (made again by the next data frame), so a quiet connection keeps none.
        this.connection.releaseSendMemory();
        this.sendKeepalive();
        break;
    }
    if (!this.finished && this.connection.readyState === 'open') keepalive.arm(this.options);
  }

  // The closing handshake.

  /** Bounds what waits now (the peer's close frame, our reply, the end of TCP) by `delay` ms; 0 or less: no bound. */
  protected armCloseTimer(delay: number): void {
    if (this.finished) return;
    if (delay <= 0) {
      this.closeTimer?.cancel();
      return;
    }
    // Ref'd: a closing handshake is short and bounded, and its end (the destroy) must happen.
    this.closeTimer ??= new WheelTimer(ConnectionTimers.closeTimeout, { ref: true, target: this, timers: this.timers });
    this.closeTimer.schedule(delay);
  }

  /** Whether a closing bound is running. */
  protected closeTimerPending(): boolean {
    return this.closeTimer !== null && this.closeTimer.pending;
  }

  /** A bound on the end of the transport, unless one runs already (closeTimeout, else the client's linger). */
  protected boundTransportEnd(): void {
    if (!this.closeTimerPending()) this.armCloseTimer(this.options.closeTimeout || CLIENT_CLOSE_LINGER);
  }

  // messageTimeout.

  /** Reading stopped (by us): the partial message's clock stops too. */
  protected pauseMessageClock(): void {
    const clock = this.messageClock;
    if (clock !== null && clock.active && clock.pending) {
      clock.cancel();
      clock.left -= this.nowMs() - clock.startedAt;
    }
  }

  /** Reading resumed: the partial message's clock runs again with what was left of it. */
  protected resumeMessageClock(): void {
    const clock = this.messageClock;
    if (clock !== null && clock.active && !clock.pending) {
      clock.startedAt = this.nowMs();
      clock.schedule(Math.max(1, clock.left));
    }
  }

  /** After a read: start, keep or stop timing the partial frame or message it ended inside. */
  protected trackMessage(): void {
    const timeout = this.options.messageTimeout ?? 0;
    if (timeout <= 0) return;
    const progress = this.progress;
    this.progress = false;
    let clock = this.messageClock;
    if (this.finished || !this.connection.receiving) {
      if (clock !== null) {
        clock.active = false;
        clock.cancel();
      }
      return;
    }
    // Still inside the same partial as before this read: its clock keeps running.
    if (clock !== null && clock.active && !progress) return;
    clock ??= this.messageClock = new MessageClock(ConnectionTimers.messageTimeout, { target: this, timers: this.timers });
    clock.active = true;
    clock.left = timeout;
    clock.startedAt = this.nowMs();
    if (!this.readingHeld()) clock.schedule(timeout);
  }

  private onMessageTimeout(): void {
    this.messageClock!.active = false;
    if (this.finished || !this.connection.receiving) return;
    this.fail(new MessageTimeoutError(this.options.messageTimeout ?? 0));
  }

  /** The transport is gone: every timer stops. */
  protected stopTimers(): void {
    this.stopKeepalive();
    this.closeTimer?.cancel();
    if (this.messageClock !== null) {
      this.messageClock.cancel();
      this.messageClock.active = false;
    }
    this.stall?.timer.cancel();
  }
}
