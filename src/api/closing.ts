/**
 * The closing layer of the WebSocket class (websocket.ts is the facade on top of it): how a
 * connection ends, and what may still be done meanwhile.
 * - readyState, derived from the core's close state plus the one flag the api keeps: a close was
 *   asked for here (it may still wait behind queued sends);
 * - close(), terminate(), the idle timeout, a failing listener, a failed send: each starts the
 *   end, queued behind earlier sends where the user's order matters;
 * - the answer to the peer's close, held while a pull consumer catches up (receive-queue.ts
 *   decides, holdsCloseReply), then sent behind the sends before it (replyToClose);
 * - the ending: the driver's one report of the close result, which settles the close() promise,
 *   the pings, the queues, the 'error' (with propagateErrors) and 'close' events;
 * - the errors of a connection that cannot send (ConnectionNotOpenError, ConnectionClosedError).
 *
 * It is a layer of one class (see websocket-emitter.ts for why) that owns the driver: the driver
 * reports to the WebSocket itself, through symbol-keyed methods (DriverEvents in node/driver.ts);
 * the ones of the end are here, the ones of messages and pings in the facade.
 */
import type { Duplex } from 'node:stream';
import { encodeClosePayload } from '../core/close.js';
import { CloseCode } from '../core/close-code.js';
import type { Role } from '../core/connection.js';
import { type ConnectionFailure, ConnectionClosedError, ConnectionNotOpenError } from '../core/errors.js';
import { isConnectionFailure } from '../core/failure-errors.js';
import { CloseTimeoutError, SendBufferFullError } from '../node/errors.js';
import { errorChannel, publishClose, publishError } from '../node/diagnostics.js';
import {
  holdsCloseReply,
  onClosed,
  onFragment,
  onIdle,
  onKeepalive,
  onMessage,
  onPeerClose,
  onPing,
  onPong,
  onProtocolError,
  SocketDriver,
  type CloseResult,
  type DriverEvents,
  type DriverOptions,
} from '../node/driver.js';
import type { MessageCodec } from '../node/message-codec.js';
import { cancelStream } from '../node/http2-streams.js'; // http2 hook
import { checkTimeout, CLOSE_NAMES, handled } from './call-arguments.js';
import { IdleTimeoutError } from './errors.js';
import { checkOptionNames, optionsObject, type ResolvedOptions } from './options.js';
import {
  assertSendable,
  emitMessage,
  failConnection,
  hasMessageListeners,
  ownerCodecs,
  ownerDriver,
  ownerFinal,
  ownerOptions,
  ownerTerminated,
  replyToClose,
  startClose,
} from './owner-keys.js';
import type { PingTracker } from './ping-tracker.js';
import type { ReceiveQueue, ReceiveQueueOwner } from './receive-queue.js';
import { SendQueue, type JobMaker, type SendQueueOwner } from './send-queue.js';
import type { ConnectionFacts } from './connection-facts.js'; // issue 24, idle memory
import { WebSocketEmitter } from './websocket-emitter.js';
import type { CloseInfo, CloseOptions, WebSocketReadyState } from './websocket-types.js';

const noop = (): void => {};

/** Bits of WebSocketClosing's #closeBits (issue 24, idle memory). */
const CLOSE_ASKED = 1;
const TERMINATED = 2;
const ERROR_REPORTED = 4;

type CloseSettle = { resolve(info: CloseInfo): void; reject(error: Error): void };

/** What only a closing connection has (see WebSocketClosing's #closing). */
class ClosingRecord {
  peerClose: CloseInfo | null = null;
  promise: Promise<CloseInfo> | null = null;
  settle: CloseSettle | null = null;
}

/** The closing layer of WebSocket: its close state, the closing handshake and the ending. Not exported from the package. */
export abstract class WebSocketClosing extends WebSocketEmitter implements DriverEvents, SendQueueOwner, ReceiveQueueOwner {
  protected readonly driver: SocketDriver;
  /** issue 24, idle memory: options, role, version, transport, observer and protocol, shared (connection-facts.ts). */
  protected readonly facts: ConnectionFacts;
  /** Sends that had to wait (send-queue.ts); null until the first. */
  protected sender: SendQueue | null = null;
  /** Queued messages and pull consumers (receive-queue.ts); null until the first of either. */
  protected receiver: ReceiveQueue | null = null;
  /** Pings waiting for their pong (ping-tracker.ts); null until the first ping. */
  protected pings: PingTracker | null = null;
  /** 'message' listeners running now (a depth: a listener may cause another delivery). */
  protected delivering = 0;
  /** How the connection ended (the driver's report of the core's close result), once it has. */
  protected final: CloseResult | null = null;

  /**
   * A close was asked for here (close(), the idle timeout, a failing listener, a failed send,
   * terminate()) and may still wait behind queued sends, so the core is still open: readyState
   * is 'closing' from the call on. The api's only close flag; the rest is the core's state.
   */
  get #closeAsked(): boolean {
    return (this.#closeBits & CLOSE_ASKED) !== 0;
  }

  set #closeAsked(on: boolean) {
    this.#closeBits = on ? this.#closeBits | CLOSE_ASKED : this.#closeBits & ~CLOSE_ASKED;
  }

  get #terminated(): boolean {
    return (this.#closeBits & TERMINATED) !== 0;
  }

  set #terminated(on: boolean) {
    this.#closeBits = on ? this.#closeBits | TERMINATED : this.#closeBits & ~TERMINATED;
  }

  get #errorReported(): boolean {
    return (this.#closeBits & ERROR_REPORTED) !== 0;
  }

  set #errorReported(on: boolean) {
    this.#closeBits = on ? this.#closeBits | ERROR_REPORTED : this.#closeBits & ~ERROR_REPORTED;
  }

  get #peerClose(): CloseInfo | null {
    return this.#closing?.peerClose ?? null;
  }

  set #peerClose(info: CloseInfo | null) {
    (this.#closing ??= new ClosingRecord()).peerClose = info;
  }

  get #closePromise(): Promise<CloseInfo> | null {
    return this.#closing?.promise ?? null;
  }

  set #closePromise(promise: Promise<CloseInfo> | null) {
    (this.#closing ??= new ClosingRecord()).promise = promise;
  }

  get #closeSettle(): CloseSettle | null {
    return this.#closing?.settle ?? null;
  }

  set #closeSettle(settle: CloseSettle | null) {
    (this.#closing ??= new ClosingRecord()).settle = settle;
  }

  // issue 24, idle memory: the flags above are bits of one field, and what only a closing
  // connection has (the peer's close, the close() promise and its settle) one object made with
  // the first of them: two fields instead of six. The accessors keep the names.
  #closeBits = 0;
  #closing: ClosingRecord | null = null;

  constructor(stream: Duplex, facts: ConnectionFacts, driverOptions: DriverOptions) {
    super();
    this.facts = facts;
    this.driver = new SocketDriver(stream, driverOptions, this);
  }

  protected get options(): ResolvedOptions {
    return this.facts.options;
  }

  protected get role(): Role {
    return this.facts.role;
  }

  /** How the WebSocket was set up (the facade's public getter); terminate() resets an HTTP/2 stream. */
  abstract readonly transport: 'http1' | 'http2';

  // The driver's reports of messages and pings, and what the queues need of messages: the facade's.
  abstract [onMessage](data: Uint8Array, isText: boolean): void;
  abstract [onFragment](data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void;
  abstract [onPing](payload: Uint8Array): void;
  abstract [onPong](payload: Uint8Array): void;
  abstract [onKeepalive](): void;
  abstract readonly [ownerCodecs]: readonly MessageCodec[];
  abstract [hasMessageListeners](): boolean;
  abstract [emitMessage](data: Uint8Array, isText: boolean): void;

  /** Derived from the core's close state: 'closing' from a close frame either way, a failure or a close asked for here; 'closed' once the transport is gone. */
  protected get state(): WebSocketReadyState {
    if (this.final !== null) return 'closed';
    // issue 24: the bit itself, not the private accessor (a call into V8's runtime): read per delivery of a publish.
    return (this.#closeBits & CLOSE_ASKED) === 0 && this.driver.connection.closeState === 'open' ? 'open' : 'closing';
  }

  /**
   * The peer's close arrived and our answer is held while the messages received before it are
   * delivered (receive-queue.ts), and no close was asked for here: for the browser class, whose
   * readyState stays OPEN for those messages, as a browser handles them before the close frame.
   */
  protected get answerHeld(): boolean {
    return !this.#closeAsked && this.driver.connection.closeReplyPending;
  }

  /**
   * Data may be sent while open, and after the peer's close while our answer is held for the
   * consumer to catch up (unless we were asked to close meanwhile).
   */
  protected mayWrite(): boolean {
    // On every send: the core's state directly, not the derived readyState.
    const connection = this.driver.connection;
    if (!connection.canSendData) return false;
    // idle memory: the bit itself, not the accessor, on every send.
    return connection.closeReplyPending ? this.#closePromise === null : (this.#closeBits & CLOSE_ASKED) === 0;
  }

  /** Nothing is queued or running: a send may go straight to the driver. */
  protected sendIdle(): boolean {
    return this.sender === null || this.sender.idle;
  }

  protected enqueue(make: JobMaker): Promise<void> {
    return (this.sender ??= new SendQueue(this)).enqueue(make, this.delivering > 0);
  }

  protected notOpenError(): ConnectionNotOpenError {
    const final = this.final;
    return new ConnectionNotOpenError(this.state, final?.code ?? this.#peerClose?.code ?? 1006, final?.reason ?? this.#peerClose?.reason ?? '', final?.wasClean ?? false);
  }

  // Closing.

  /**
   * Starts the closing handshake with `code` (default 1000) and `reason` (at most 123 UTF-8
   * bytes), after every send called before it, and resolves with the peer's code and reason once
   * the transport is closed (code 1006 if it went away without answering). Rejects with
   * CloseTimeoutError when the peer did not answer within `options.timeout` ms of our close frame
   * (default: the closeTimeout option; the socket was then destroyed), with InvalidArgumentError
   * for a code that may not be sent or a bad timeout. Calling it again returns the same promise
   * (its timeout is the first call's); after the close it resolves with how the connection ended.
   */
  close(code: number = CloseCode.NormalClosure, reason = '', options?: CloseOptions): Promise<CloseInfo> {
    let timeout: number | undefined;
    try {
      if (options !== undefined) checkOptionNames('close()', optionsObject('close()', options), CLOSE_NAMES);
      timeout = options?.timeout;
      if (timeout !== undefined) checkTimeout('close', timeout);
    } catch (error) {
      return handled(Promise.reject(error));
    }
    return this.closeWith(code, reason, timeout);
  }

  /** close() after its argument checks; `code` undefined sends a close frame without a status code (the browser's close()). */
  protected closeWith(code: number | undefined, reason: string, timeout?: number): Promise<CloseInfo> {
    if (this.#closePromise !== null) return this.#closePromise;
    if (this.final !== null) return Promise.resolve({ code: this.final.code, reason: this.final.reason });
    try {
      // Validated now, even when the close frame waits behind queued sends.
      encodeClosePayload(code, reason);
    } catch (error) {
      const rejected = Promise.reject(error);
      rejected.catch(noop);
      return rejected;
    }
    this.#closePromise = new Promise<CloseInfo>((resolve, reject) => {
      this.#closeSettle = { resolve, reject };
    });
    this.#closePromise.catch(noop);
    // While the answer to the peer's close is held, this close (after the sends before it) is it.
    if (this.state === 'open' || this.driver.connection.closeReplyPending) this.#closeAfterSends(code, reason, timeout);
    return this.#closePromise;
  }

  /** Asks for the close now and sends it after the sends queued before it. */
  #closeAfterSends(code: number | undefined, reason: string, timeout: number | undefined): void {
    this.#closeAsked = true;
    if (this.sendIdle()) this[startClose](code, reason, timeout);
    else void this.enqueue((resolve, reject) => ({ resolve, reject, kind: 'close', code, reason, timeout, size: 0 })).catch(noop);
  }

  /** Destroys the transport at once, without a closing handshake; 'close' follows with 1006. */
  terminate(): void {
    if (this.final !== null) return;
    this.#terminated = true;
    this.#closeAsked = true;
    if (this.transport === 'http2') cancelStream(this.driver.stream); // http2 hook: RST_STREAM CANCEL, not NO_ERROR
    this.driver.terminate();
  }

  /** An open connection whose listener failed is closed with 1011, after the sends before. */
  protected closeForFailedListener(): void {
    if (this.state === 'open') this.#closeAfterSends(CloseCode.InternalError, 'internal error', undefined);
  }

  // What the queues need of the close state (SendQueueOwner, ReceiveQueueOwner).

  /** @internal */
  get [ownerDriver](): SocketDriver {
    return this.driver;
  }

  /** @internal */
  get [ownerOptions](): ResolvedOptions {
    return this.options;
  }

  /** @internal */
  get [ownerFinal](): CloseResult | null {
    return this.final;
  }

  /** @internal */
  get [ownerTerminated](): boolean {
    return this.#terminated;
  }

  /** @internal */
  [assertSendable](): void {
    if (!this.driver.connection.canSendData || !this.driver.active) {
      const info = this.final ?? this.#peerClose;
      throw new ConnectionClosedError(info?.code ?? 1006, info?.reason ?? '', this.final?.wasClean ?? info !== null);
    }
  }

  /** @internal */
  [startClose](code: number | undefined, reason: string, timeout?: number): void {
    try {
      this.driver.startClose(code, reason, timeout);
    } catch {
      // Validated beforehand; a core that refuses now is already closing.
    }
  }

  /** @internal */
  [failConnection](code: number, reason: string): void {
    this.#closeAsked = true;
    this[startClose](code, reason);
  }

  /** @internal */
  [replyToClose](): void {
    if (this.sendIdle()) this.driver.replyToClose();
    else void this.enqueue((resolve, reject) => ({ resolve, reject, kind: 'reply', size: 0 })).catch(noop);
  }

  // The driver's reports of the end (DriverEvents).

  /** @internal */
  [onPeerClose](code: number, reason: string): void {
    this.#peerClose = { code, reason };
  }

  /** @internal */
  [holdsCloseReply](): boolean {
    return this.receiver?.holdCloseReply() ?? false;
  }

  /** @internal */
  [onProtocolError](error: ConnectionFailure): void {
    publishError(this, this.role, error);
    // A full send buffer is reported by the send() that found it (its promise rejects), like the
    // other bounds on a peer that went quiet; 'error' only when asked for.
    if (error instanceof SendBufferFullError && !this.options.propagateErrors) return;
    this.emitError(error);
  }

  /** @internal */
  [onIdle](): void {
    if (this.state !== 'open') return;
    this.#closeAsked = true;
    if (errorChannel.hasSubscribers) publishError(this, this.role, new IdleTimeoutError(this.options.idleTimeout));
    if (this.options.propagateErrors) {
      this.#errorReported = true;
      this.emitError(new IdleTimeoutError(this.options.idleTimeout));
    }
    // Straight to the core, past queued sends: a peer silent this long is not reading them.
    this[startClose](CloseCode.GoingAway, 'idle timeout');
  }

  /** @internal */
  [onClosed](result: CloseResult): void {
    this.final = result;
    const closedError = (): ConnectionClosedError => new ConnectionClosedError(result.code, result.reason, result.wasClean);

    this.pings?.closeAll(closedError);
    this.pings = null;

    this.sender?.closed(closedError);

    this.receiver?.closed(closedError);

    // Expected endings are 'error' events only when asked for (propagateErrors). A protocol
    // error was reported when it happened; terminate() is the user's own doing.
    if (this.options.propagateErrors && !this.#errorReported && !this.#terminated && !result.wasClean && !isConnectionFailure(result.error)) {
      this.emitError(endingError(result));
    }

    const settle = this.#closeSettle;
    this.#closeSettle = null;
    if (settle !== null) {
      if (result.error instanceof CloseTimeoutError) settle.reject(result.error);
      else settle.resolve({ code: result.code, reason: result.reason });
    }
    // A protocol error was published when it happened ([onProtocolError]).
    if (result.error !== null && !isConnectionFailure(result.error)) publishError(this, this.role, result.error);
    const driver = this.driver;
    publishClose(this, this.role, result.code, result.reason, result.wasClean, driver.closedBy, driver.openedAt);
    this.safeEmit('close', result.code, result.reason);
  }
}

/** The 'error' of an unexpected ending (propagateErrors): the close timeout's own, or ConnectionClosedError with the cause. */
function endingError(result: CloseResult): Error {
  if (result.error instanceof CloseTimeoutError) return result.error;
  const error = new ConnectionClosedError(result.code, result.reason, result.wasClean);
  if (result.error !== null) Object.defineProperty(error, 'cause', { value: result.error, configurable: true, writable: true });
  return error;
}
