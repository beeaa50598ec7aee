/**
 * The socket driver: binds one sans-I/O core `Connection` to a Node `Duplex` (a TCP or TLS socket,
 * an HTTP/2 stream, an in-memory pair). It owns everything the core leaves out on purpose, in
 * layers of one class, each in its own file, so that a connection stays one object:
 * - output-batch.ts: writing (everything one read or one tick produces leaves in one write;
 *   `whenWritten`; a peer that does not read);
 * - connection-timers.ts: the closing-handshake and message bounds, and keep-alive (keepalive.ts),
 *   on the connection's timer service;
 * - pump.ts: reading, holds on input, reading ahead, the extension's transform, the deferred end;
 * - here: the core's handler (the driver is the core's ConnectionHandler), the calls of the owner
 *   (send, ping, close, terminate) and how the connection ended.
 *
 * It knows nothing of events, promises or queues of messages: that is the api layer's
 * `WebSocket`, which receives everything through `DriverEvents`.
 */
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { CloseResult } from '../core/close-state.js';
import { Connection, type ConnectionHandler, type Role } from '../core/connection.js';
import { CloseTimeoutError } from './errors.js';
import { type ConnectionFailure, ConnectionClosedError } from '../core/errors.js';
import type { PreparedFrame } from '../core/prepared-frame.js';
import { CLIENT_CLOSE_LINGER } from './connection-timers.js';
import { Hybi00Connection, type CoreConnection } from '../core/hybi00/connection.js'; // legacy hybi-00 (issue 22)
import type { MessageCodec } from './message-codec.js';
import { maskIntoPool } from './mask-pool.js';
import { allocatePooled, allocateUninitialised, bufferView, releasesOnWriteCallback } from './core-memory.js';
import { markPrepared } from './prepared-output.js'; // issue 24, publish
import { InputPump, type PumpSettings } from './pump.js';
import { setReadTarget } from './read-buffers.js';
import type { TimerService } from './timer-wheel.js';
import { CLOSED_BY_MASK, CLOSED_BY_SHIFT, PROGRESS, Seldom, TERMINATED, withBit } from './driver-state.js'; // issue 24, idle memory

export { CLIENT_CLOSE_LINGER } from './connection-timers.js';
export { defineHold, TransformHold, type HoldKind } from './pump.js';

/** Options of the driver, already validated and defaulted by the api layer (see src/api/options.ts). */
export interface DriverOptions extends PumpSettings {
  role: Role;
  maxFrameSize?: number;
  maxMessageSize: number;
  maxFragments?: number;
  autoPong?: boolean;
  /** Keep-alive ping after this many ms with nothing received; 0 disables (see keepalive.ts). */
  pingInterval: number;
  /** Fail the connection (1011) when a keep-alive ping has no pong within this many ms; 0 or absent disables. */
  pongTimeout?: number;
  /** Close after this many ms with nothing received; 0 disables. */
  idleTimeout: number;
  /** Bound on each phase of the closing handshake, in ms; then the transport is destroyed. 0 disables (wait forever). */
  closeTimeout: number;
  /** Bound on how long a frame or gathered message may take to arrive, in ms (1008); 0 or absent disables. */
  messageTimeout?: number;
  /** The timer service (wheels and clock) of the connection's timers; default the process's (systemTimers). Tests inject a fake clock here. */
  timers?: TimerService;
  /** Negotiated extension codecs, in response-header order. */
  codecs?: readonly MessageCodec[];
  /** For tests: the mask-key source handed to the core. */
  maskKey?: () => Uint8Array;
  /** legacy (issue 22): 'hybi-00' drives a Hybi00Connection instead of the RFC 6455 Connection; default 'hybi-13'. */
  version?: 'hybi-13' | 'hybi-00';
}

/**
 * How the connection ended, reported once by `DriverEvents[onClosed]`: the core's close result
 * (`connection.closeResult`), whose error is the failure, the driver's CloseTimeoutError, the
 * transport's error, or null.
 */
export type { CloseResult } from '../core/close-state.js';

// The keys of DriverEvents are symbols: the owner the api layer gives (its public WebSocket)
// implements them on itself, with no forwarding object, and symbols neither clash with its public
// methods of the same idea (ping, pong, close) nor widen its public API; an application cannot
// reach them without importing this internal module.
/** DriverEvents key: a whole message. */
export const onMessage: unique symbol = Symbol('hybi.driver.message');
/** DriverEvents key: a piece of a message, in the core's streaming mode. */
export const onFragment: unique symbol = Symbol('hybi.driver.fragment');
/** DriverEvents key: a ping arrived. */
export const onPing: unique symbol = Symbol('hybi.driver.ping');
/** DriverEvents key: a pong arrived. */
export const onPong: unique symbol = Symbol('hybi.driver.pong');
/** DriverEvents key: the peer's close frame arrived. */
export const onPeerClose: unique symbol = Symbol('hybi.driver.peerClose');
/** DriverEvents key: whether to hold the answer to the peer's close. */
export const holdsCloseReply: unique symbol = Symbol('hybi.driver.holdCloseReply');
/** DriverEvents key: the peer broke the protocol. */
export const onProtocolError: unique symbol = Symbol('hybi.driver.protocolError');
/** DriverEvents key: time for a keep-alive ping. */
export const onKeepalive: unique symbol = Symbol('hybi.driver.keepalive');
/** DriverEvents key: nothing arrived for idleTimeout. */
export const onIdle: unique symbol = Symbol('hybi.driver.idle');
/** DriverEvents key: the transport is gone. */
export const onClosed: unique symbol = Symbol('hybi.driver.closed');

/** What the driver reports to its owner. All are called synchronously; none may throw. */
export interface DriverEvents {
  [onMessage](data: Uint8Array, isText: boolean): void;
  [onFragment](data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void;
  [onPing](payload: Uint8Array): void;
  [onPong](payload: Uint8Array): void;
  /**
   * The peer's close frame arrived. The core has answered it if we had closed first or
   * `holdsCloseReply` said no; otherwise the answer waits for `SocketDriver.replyToClose` (at most
   * closeTimeout, then it is sent anyway).
   */
  [onPeerClose](code: number, reason: string): void;
  /** The peer's close frame is arriving: true to hold the answer (see ConnectionHandler.holdCloseReply). Absent: answer at once. */
  [holdsCloseReply]?(): boolean;
  /** The peer broke the protocol or made us reach a limit; a close frame with `error.closeCode` is on its way. */
  [onProtocolError](error: ConnectionFailure): void;
  /** Nothing arrived for `pingInterval` ms: time for a keep-alive ping (the owner sends it with `sendPing`, listing it as it lists its own). */
  [onKeepalive](): void;
  /** Nothing arrived for `idleTimeout` ms. */
  [onIdle](): void;
  /** The transport is gone; nothing more will be reported. */
  [onClosed](result: CloseResult): void;
}

const EMPTY = new Uint8Array(0);

/** One core connection over one Duplex; the core's handler itself (no forwarding object between them). */
export class SocketDriver extends InputPump<DriverOptions> implements ConnectionHandler {
  readonly connection: CoreConnection; // legacy (issue 22): a Connection or a Hybi00Connection
  private readonly events: DriverEvents;

  // issue 24, idle memory: the errors, the close bound, `terminated` and `closedBy` are kept in the
  // seldom-used state and the bits of driver-state.ts; these accessors keep their names.
  private get transportError(): Error | null {
    return this.seldom?.transportError ?? null;
  }

  private set transportError(error: Error | null) {
    (this.seldom ??= new Seldom()).transportError = error;
  }

  private get timeoutError(): Error | null {
    return this.seldom?.timeoutError ?? null;
  }

  private set timeoutError(error: Error | null) {
    (this.seldom ??= new Seldom()).timeoutError = error;
  }

  /** terminate() was called: what is still parsed is discarded, not reported. */
  private get terminated(): boolean {
    return (this.bits & TERMINATED) !== 0;
  }

  private set terminated(on: boolean) {
    this.bits = withBit(this.bits, TERMINATED, on);
  }

  /** The bound on the wait for the peer's close frame (closeTimeout unless startClose() was given one), for its CloseTimeoutError. */
  private get closeWait(): number {
    const wait = this.seldom?.closeWait ?? -1;
    return wait >= 0 ? wait : this.options.closeTimeout;
  }

  private set closeWait(wait: number) {
    (this.seldom ??= new Seldom()).closeWait = wait;
  }

  // Counters for metrics (WebSocketServer.metrics()): plain integers in the object, one increment
  // per message or read, summed only when someone asks; nothing else is done with them.
  /** Messages received: whole ones, and the last fragment of each one delivered in pieces. */
  messagesIn = 0;
  /** Messages handed over to be sent (a broadcast counts once per connection). */
  messagesOut = 0;
  /** When the driver was made, in whole ms of the monotonic clock (a connection's duration). */
  readonly openedAt: number;
  /** Who started the end: 0 nobody (yet), 1 we did (a close frame, a failure, terminate), 2 the peer's close frame came first. */
  get closedBy(): 0 | 1 | 2 {
    return ((this.bits & CLOSED_BY_MASK) >> CLOSED_BY_SHIFT) as 0 | 1 | 2;
  }

  set closedBy(by: 0 | 1 | 2) {
    this.bits = (this.bits & ~CLOSED_BY_MASK) | (by << CLOSED_BY_SHIFT);
  }

  constructor(stream: Duplex, options: DriverOptions, events: DriverEvents) {
    super(stream, options);
    this.events = events;
    this.openedAt = this.nowMs();
    // Masked output goes into the masking pool where the transport's write callback says when it may be reused.
    const pooled = releasesOnWriteCallback(stream);
    this.connection = new (options.version === 'hybi-00' ? Hybi00Connection : Connection)( // legacy (issue 22)
      {
        role: options.role,
        maxFrameSize: options.maxFrameSize,
        maxMessageSize: options.maxMessageSize,
        maxFragments: options.maxFragments,
        autoPong: options.autoPong,
        extensions: this.codecs.length === 0 ? undefined : this.codecs.map((c) => c.hook),
        isUtf8,
        maskKey: options.maskKey,
        allocate: pooled ? allocatePooled : allocateUninitialised,
        maskOutput: pooled ? maskIntoPool : undefined,
        view: bufferView, // issue 24: a Buffer per message without Buffer#subarray's runtime call
      },
      this,
    );
    // Frames are written whole (header and payload corked together), so Nagle's algorithm can
    // only add latency: a small message would wait for the ACK of the previous one.
    const socket = stream as Duplex & { setNoDelay?: (noDelay: boolean) => unknown };
    if (typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    this.listen();
    setReadTarget(stream, this);
  }

  /** True until the transport is gone. */
  get active(): boolean {
    return !this.finished;
  }

  // Sending (batched: see output-batch.ts).

  /** See Connection.sendMessage. */
  sendMessage(data: Uint8Array, isText: boolean, options?: { rsv?: number; fragmentSize?: number }): void {
    this.openTickBatch();
    this.connection.sendMessage(data, isText, options);
    this.messagesOut++;
  }

  /** See Connection.sendFrame. */
  sendFrame(data: Uint8Array, isText: boolean, first: boolean, fin: boolean, rsv?: number): void {
    this.openTickBatch();
    this.connection.sendFrame(data, isText, first, fin, rsv);
    if (fin) this.messagesOut++;
  }

  /**
   * Topics hook (issue 20): sends a frame prepared once for many connections (a server's publish
   * or broadcast) through the core, which checks it as any send (see Connection.sendPrepared).
   */
  sendPrepared(frame: PreparedFrame): void {
    this.openTickBatch();
    markPrepared(frame); // issue 24: may be joined with the publish before it, once for all
    this.connection.sendPrepared(frame);
    this.messagesOut++;
  }

  /** Sends a ping (see Connection.ping); the owner lists it among the pings awaiting pongs first. */
  sendPing(payload: Uint8Array = EMPTY): void {
    this.connection.ping(payload);
  }

  /** Sends a pong (see Connection.pong). */
  sendPong(payload: Uint8Array = EMPTY): void {
    this.connection.pong(payload);
  }

  /**
   * Starts the closing handshake (the core validates code and reason and may throw
   * InvalidArgumentError) and bounds the wait for the peer's close frame with `timeout` (default
   * closeTimeout; 0 waits without bound), after which the transport is destroyed and the result's
   * error is a CloseTimeoutError.
   */
  startClose(code?: number, reason?: string, timeout: number = this.options.closeTimeout): void {
    const wasOpen = this.connection.readyState === 'open';
    const answering = this.connection.closeReplyPending;
    // Our close frame goes out now, behind whatever was corked.
    this.uncorkAll();
    this.connection.close(code, reason);
    // Our close was the answer to the peer's, held until now: the handshake is complete.
    if (answering && this.connection.readyState === 'closed') return this.endTransport();
    if (!wasOpen) return;
    if (this.closedBy === 0) this.closedBy = 1;
    this.stopKeepalive();
    // Unless the answer already came (a transport may deliver it synchronously), bound the wait.
    // A close(code, reason, { timeout }) of the owner bounds it with its own timeout.
    this.closeWait = timeout;
    if (this.connection.closeState === 'closing-by-us') this.armCloseTimer(timeout);
  }

  /**
   * Sends the answer to the peer's close frame that `holdCloseReply` held, then ends the transport
   * as after any closing handshake. Does nothing unless an answer is held.
   */
  replyToClose(): void {
    if (!this.connection.closeReplyPending) return;
    this.connection.replyToClose();
    this.endTransport();
  }

  /** Destroys the transport at once; `closed` follows with 1006 unless the handshake had completed. */
  terminate(): void {
    this.terminated = true;
    if (this.closedBy === 0 && !this.finished) this.closedBy = 1;
    this.stopKeepalive();
    if (!this.stream.destroyed) this.stream.destroy();
    else if (!this.finished && !this.stream.closed) queueMicrotask(() => this.finish());
  }

  // The core's callbacks (ConnectionHandler; `output` is in output-batch.ts, `transformMessage` in
  // pump.ts). The owner's calls in are sendPing, sendPong and startClose.

  /** @internal */
  message(data: Uint8Array, isText: boolean): void {
    this.bits |= PROGRESS; // this.progress = true, without the setter's call (once per message)
    this.messagesIn++;
    // Nothing reaches the owner after terminate() (from a listener, say). A transport that merely
    // went away still delivers what was read before (parsed late, after an inflation).
    if (!this.terminated) this.events[onMessage](data, isText);
  }

  /** @internal */
  fragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
    if (fin) {
      this.progress = true;
      this.messagesIn++;
    }
    if (!this.terminated) this.events[onFragment](data, isText, first, fin);
  }

  /** @internal */
  ping(payload: Uint8Array): void {
    // A control frame is progress only outside a message: one between a dribbled message's
    // fragments does not bring that message any closer to its end.
    if (!this.connection.receiving) this.progress = true;
    if (!this.terminated) this.events[onPing](payload);
  }

  /** @internal */
  pong(payload: Uint8Array): void {
    if (!this.connection.receiving) this.progress = true;
    this.keepalive?.pong();
    if (!this.terminated) this.events[onPong](payload);
  }

  /** @internal */
  holdCloseReply(): boolean {
    return !this.stream.destroyed && this.events[holdsCloseReply]?.() === true;
  }

  /** @internal */
  close(code: number, reason: string): void {
    if (this.closedBy === 0) this.closedBy = 2;
    // The answer (and what was corked before it) must not wait for an uncork that may never come.
    this.uncorkAll();
    this.stopKeepalive();
    if (this.connection.closeReplyPending) {
      // Our answer is held while the owner's consumer catches up, for at most half of closeTimeout:
      // a peer that bounds its closing handshake with the same timeout still gets it in time.
      this.armCloseTimer(Math.ceil(this.options.closeTimeout / 2));
      this.events[onPeerClose](code, reason);
      return;
    }
    this.events[onPeerClose](code, reason);
    this.endTransport();
  }

  /** @internal */
  protocolError(error: ConnectionFailure): void {
    if (this.closedBy === 0) this.closedBy = 1;
    this.uncorkAll();
    this.stopKeepalive();
    this.events[onProtocolError](error);
    // RFC 6455 section 7.1.7: after the close frame, _Close the WebSocket Connection_ (TCP); we
    // still read until the peer's FIN (or the close timeout), discarding, so its own close frame
    // and FIN are taken off the wire rather than reset.
    this.endStream();
    this.armCloseTimer(this.options.closeTimeout);
  }

  // What the layers below ask of the driver.

  protected peerClosed(): boolean {
    const state = this.connection.closeState;
    return state === 'closing-by-peer' || state === 'closed';
  }

  protected sendKeepalive(): void {
    this.events[onKeepalive]();
  }

  protected onIdle(): void {
    this.events[onIdle]();
  }

  /** After the closing handshake: who closes TCP first (RFC 6455 section 7.1.1). */
  private endTransport(): void {
    if (this.options.role === 'server') {
      // The server SHOULD close the TCP connection first, so that it, not the client, holds
      // TIME_WAIT. The close reply goes before the FIN.
      this.endStream();
      this.armCloseTimer(this.options.closeTimeout);
    } else {
      // The client waits for the server's FIN (onEnd), but not for long.
      const timeout = this.options.closeTimeout;
      this.armCloseTimer(timeout > 0 ? Math.min(timeout, CLIENT_CLOSE_LINGER) : CLIENT_CLOSE_LINGER);
    }
  }

  protected onCloseTimeout(): void {
    if (this.finished) return;
    // The owner's consumer did not catch up in time: answer the peer's close now.
    if (this.connection.closeReplyPending) return this.replyToClose();
    // The peer's close frame never came (not a wait for the end of TCP after a handshake or a failure).
    const state = this.connection.closeState;
    if (state === 'open' || state === 'closing-by-us') this.timeoutError ??= new CloseTimeoutError(this.closeWait);
    // The stream is already gone and what it left unparsed was never taken: end without it.
    if (this.closeDeferred) {
      this.closeDeferred = false;
      this.endDeferred = false;
      return this.finish();
    }
    this.stream.destroy();
  }

  /**
   * Fails the connection for a bound of ours the peer made us reach (RFC 6455 section 7.1.7, as
   * for a protocol error: close frame with the error's code, input ignored, `protocolError`
   * reported); with `destroy`, the transport goes at once, for when a close frame could not get
   * through anyway.
   */
  fail(error: ConnectionFailure, destroy = false): void {
    this.batchDepth++;
    try {
      this.connection.failConnection(error);
    } finally {
      this.endBatch();
    }
    if (destroy) this.terminate();
  }

  /** @internal */
  onError(error: Error): void {
    this.transportError ??= error;
  }

  protected finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopTimers();
    // The core's state decides the result: a transport that went while our answer to the peer's
    // close was still held leaves an unclean close, a failure keeps its error.
    this.connection.transportClosed(this.timeoutError ?? this.transportError);
    for (const codec of this.codecs) {
      try {
        codec.close();
      } catch {
        // A codec that fails to release is not the connection's failure.
      }
    }
    const result = this.connection.closeResult!;
    // Senders whose bytes the operating system took are done; the others' may never have left.
    this.rejectWaiters();
    this.events[onClosed](result);
  }

  /** The error for a send that did not make it before the transport ended. */
  protected closedError(): ConnectionClosedError {
    const result = this.connection.closeResult;
    return new ConnectionClosedError(result?.code ?? 1006, result?.reason ?? '', result?.wasClean ?? false);
  }
}
