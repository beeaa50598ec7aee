/**
 * The connection object every user holds, on the client and the server side alike. It takes an
 * already-upgraded Duplex and a role (the handshake is not its business) and offers events,
 * ordered pull (`receive()`, `for await`, `receiveStream()`), sends that never interleave two
 * messages' fragments, ping with pong matching, and the closing handshake.
 *
 * This file is the facade: the connection's state (open, closing, closed) and its events. The
 * work is done by the units it wires, each made only when first needed: the send queue
 * (send-queue.ts: sends that must wait), the receive queue (receive-queue.ts: queued messages,
 * pull consumers, the hold on the answer to the peer's close) and the ping books
 * (ping-tracker.ts). The driver (node/driver.ts) reads and writes the socket.
 */
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { encodeClosePayload } from '../core/close.js';
import { CloseCode } from '../core/close-code.js';
import type { Role } from '../core/connection.js';
import type { PreparedFrame } from '../core/prepared-frame.js';
import { hubOf, topicsOf } from './topics/hub.js';
import type { SubscribeOptions } from './topics/types.js';
import { type ConnectionFailure, ConnectionClosedError, ConnectionNotOpenError, InvalidArgumentError } from '../core/errors.js';
import { isConnectionFailure } from '../core/failure-errors.js';
import { CloseTimeoutError, SendBufferFullError } from '../node/errors.js';
import { IdleTimeoutError } from './errors.js';
import {
  backpressureChannel,
  errorChannel,
  noteAboveMark,
  noteBuffered,
  publishClose,
  publishError,
  publishOpen,
  publishPing,
  publishPong,
} from '../node/diagnostics.js';
import { SocketDriver, type CloseResult, type DriverEvents } from '../node/driver.js';
import type { MessageCodec } from '../node/message-codec.js';
import { asBuffer, EMPTY, isAsyncIterable, isByteSource } from './bytes.js';
import {
  BEGIN_MESSAGE_NAMES,
  checkMask,
  checkTimeout,
  CLOSE_NAMES,
  controlArguments,
  controlPayload,
  handled,
  messageBytes,
  PING_NAMES,
  RECEIVE_NAMES,
  SEND_HINTS,
  SEND_NAMES,
} from './call-arguments.js';
import { driverOptions, initOptions, type ConnectionInit } from './connection-init.js';
import type { Fragment } from './fragment-reader.js';
import { checkFragmentSize } from './fragment-size.js';
import { MessageWriter, type BeginMessageOptions } from './message-writer.js';
import { checkOptionNames, DEFAULT_FRAGMENT_SIZE, optionsObject, type ResolvedOptions } from './options.js';
import { PingTracker } from './ping-tracker.js';
import { streamPair, type WebSocketStreamPair } from './stream-pair.js';
import { ReceiveQueue, type ReceiveQueueOwner } from './receive-queue.js';
import { sendSplit, SendQueue, type SendJob, type SendQueueOwner, type Settle } from './send-queue.js';
import { cancelStream } from '../node/http2-streams.js'; // http2 hook
import type {
  CloseInfo,
  CloseOptions,
  Message,
  MessageListenerArgs,
  MessageReadable,
  PingData,
  PingOptions,
  ReceiveOptions,
  SendCallback,
  SendData,
  SendOptions,
  WebSocketEvents,
  WebSocketInit,
  WebSocketReadyState,
} from './websocket-types.js';
import { hybi00SendRefusal, hybi00Unsupported, supportsPayloadType, versionDriverOptions, type ProtocolVersion } from './legacy.js'; // legacy (issue 22)

export type { MessageCodec } from '../node/message-codec.js';
export type { WebSocketOptions } from './options.js';
export type * from './websocket-types.js';

const noop = (): void => {};
const NO_CODECS: readonly MessageCodec[] = [];

/**
 * What the server, its metrics and the browser-compatible class use of a connection beyond its
 * public API. Not exported from the package; filled in by the class's static block, which alone
 * sees its private members.
 */
export interface ConnectionInternals {
  /**
   * Sends a frame prepared once for many connections (core/prepared-frame.ts; server role only:
   * unmasked), in order with the other sends, through the core's checks (Connection.sendPrepared).
   * For WebSocketServer.publish and broadcast (topics hook, issue 20). Same promise and bounds as send().
   */
  sendPrepared(ws: WebSocket, frame: PreparedFrame): Promise<void>;
  /** The browser's close() with no code: a close frame without a status code. */
  closeWithoutCode(ws: WebSocket): Promise<CloseInfo>;
  /** How the connection ended (with wasClean); null before. */
  closeResult(ws: WebSocket): CloseResult | null;
  /** The connection's driver, whose counters the server's metrics sum. */
  driver(ws: WebSocket): SocketDriver;
}

export const connectionInternals = {} as ConnectionInternals;

/** A listener of the WebSocket event `K`, its arguments as WebSocketEvents lists them. */
type EventListenerOf<K extends keyof WebSocketEvents> = (...args: WebSocketEvents[K]) => void;

/**
 * The ways to add (and remove) a listener, with an overload for 'message' whose arguments are
 * correlated (MessageListenerArgs) before the one that takes any listener of WebSocketEvents. The
 * correlated form cannot be the event's tuple itself: TypeScript then rejects a listener with
 * fewer parameters, such as `(data) => ...`. Declared here, merged into the class (no code).
 */
export interface WebSocket<Data = unknown> {
  on(event: 'message', listener: (...args: MessageListenerArgs) => void): this;
  on<K extends keyof WebSocketEvents>(event: K, listener: EventListenerOf<K>): this;
  once(event: 'message', listener: (...args: MessageListenerArgs) => void): this;
  once<K extends keyof WebSocketEvents>(event: K, listener: EventListenerOf<K>): this;
  addListener(event: 'message', listener: (...args: MessageListenerArgs) => void): this;
  addListener<K extends keyof WebSocketEvents>(event: K, listener: EventListenerOf<K>): this;
  prependListener(event: 'message', listener: (...args: MessageListenerArgs) => void): this;
  prependListener<K extends keyof WebSocketEvents>(event: K, listener: EventListenerOf<K>): this;
  prependOnceListener(event: 'message', listener: (...args: MessageListenerArgs) => void): this;
  prependOnceListener<K extends keyof WebSocketEvents>(event: K, listener: EventListenerOf<K>): this;
  off(event: 'message', listener: (...args: MessageListenerArgs) => void): this;
  off<K extends keyof WebSocketEvents>(event: K, listener: EventListenerOf<K>): this;
  removeListener(event: 'message', listener: (...args: MessageListenerArgs) => void): this;
  removeListener<K extends keyof WebSocketEvents>(event: K, listener: EventListenerOf<K>): this;
}

/**
 * A WebSocket connection (RFC 6455) over any Duplex, client or server side. See DESIGN.md "The
 * public API" and docs/connection.md. `connect()` and `WebSocketServer` construct it; a user
 * rarely does.
 */
export class WebSocket<Data = unknown> extends EventEmitter<WebSocketEvents> {
  /**
   * The `readyState` values under the names `ws` and the browser use, so that ported code such
   * as `ws.readyState === WebSocket.OPEN` works unchanged. They are the strings `readyState`
   * holds ('open', ...), not the browser's numbers (BrowserWebSocket has those). CONNECTING is
   * here for completeness: a WebSocket of this class is made after its handshake and is never
   * 'connecting', so TypeScript flags a comparison with it as always false.
   */
  static readonly CONNECTING = 'connecting' as const;
  /** `readyState` while messages flow both ways: 'open'. */
  static readonly OPEN = 'open' as const;
  /** `readyState` once a close frame was sent or received: 'closing'. */
  static readonly CLOSING = 'closing' as const;
  /** `readyState` once the transport is gone: 'closed'. */
  static readonly CLOSED = 'closed' as const;

  /**
   * What the driver reports to, as one small object per connection: an object of nine arrow
   * functions and their context cost about 600 bytes of heap per connection, idle or not. A
   * class inside the class body may call the private methods.
   */

  /**
   * The connection's side of its internal seams, one small object per connection: what the
   * driver reports to (DriverEvents), and what the send and receive queues need of the
   * connection. A class in the class body may use the private members; the WebSocket cannot
   * implement DriverEvents itself, whose `ping` and `pong` are not the public methods' (an
   * object of arrow functions instead costs about 600 bytes per connection).
   */
  static readonly #Link = class implements DriverEvents, SendQueueOwner, ReceiveQueueOwner {
    readonly ws: WebSocket;

    constructor(ws: WebSocket) {
      this.ws = ws;
    }

    get driver(): SocketDriver {
      return this.ws.#driver;
    }

    get options(): ResolvedOptions {
      return this.ws.#options;
    }

    get codecs(): readonly MessageCodec[] {
      return this.ws.#codecs;
    }

    get final(): CloseResult | null {
      return this.ws.#final;
    }

    get terminated(): boolean {
      return this.ws.#terminated;
    }

    // DriverEvents.

    message(data: Uint8Array, isText: boolean): void {
      const ws = this.ws;
      // Without a receive queue nothing waits, so a listener takes the message at once.
      if (ws.#receiver !== null) ws.#receiver.deliver(data, isText);
      else if (ws.listenerCount('message') > 0) ws.#emitMessage(data, isText);
      else ws.#receiveQueue().deliver(data, isText);
    }

    fragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
      this.ws.#receiveQueue().fragment(data, isText, first, fin);
    }

    ping(payload: Uint8Array): void {
      publishPing(this.ws, this.ws.#role, payload);
      this.ws.#safeEmit('ping', Buffer.from(payload));
    }

    pong(payload: Uint8Array): void {
      this.ws.#onPong(payload);
    }

    peerClose(code: number, reason: string): void {
      this.ws.#peerClose = { code, reason };
    }

    holdCloseReply(): boolean {
      return this.ws.#receiver?.holdCloseReply() ?? false;
    }

    protocolError(error: ConnectionFailure): void {
      this.ws.#onProtocolError(error);
    }

    keepalive(): void {
      this.ws.#onKeepalive();
    }

    idle(): void {
      this.ws.#onIdle();
    }

    closed(result: CloseResult): void {
      this.ws.#onClosed(result);
    }

    // What the queues need.

    assertSendable(): void {
      this.ws.#assertSendable();
    }

    startClose(code: number | undefined, reason: string, timeout: number | undefined): void {
      this.ws.#startClose(code, reason, timeout);
    }

    fail(code: number, reason: string): void {
      this.ws.#closeAsked = true;
      this.ws.#startClose(code, reason);
    }

    hasMessageListeners(): boolean {
      return this.ws.listenerCount('message') > 0;
    }

    emitMessage(data: Uint8Array, isText: boolean): void {
      this.ws.#emitMessage(data, isText);
    }

    replyToClose(): void {
      const ws = this.ws;
      if (ws.#sendIdle()) ws.#driver.replyToClose();
      else void ws.#enqueue((settle) => ({ ...settle, kind: 'reply', size: 0 })).catch(noop);
    }
  };

  static {
    connectionInternals.sendPrepared = (ws, frame) => {
      try {
        return ws.#sendPrepared(frame);
      } catch (error) {
        return handled(Promise.reject(error));
      }
    };
    connectionInternals.closeWithoutCode = (ws) => ws.#close(undefined, '');
    connectionInternals.closeResult = (ws) => ws.#final;
    connectionInternals.driver = (ws) => ws.#driver;
  }

  /** Messages queued while nobody listened go to a 'message' listener as soon as one is added (shared by every connection). */
  static readonly #onNewListener = function (this: WebSocket, event: string | symbol): void {
    if (event === 'message') this.#receiver?.scheduleFlush();
  };

  readonly #driver: SocketDriver;
  readonly #link: DriverEvents & SendQueueOwner & ReceiveQueueOwner;
  readonly #options: ResolvedOptions;
  readonly #codecs: readonly MessageCodec[];
  readonly #url: string;
  readonly #protocol: string;
  readonly #extensions: string;
  readonly #role: Role;
  /** legacy (issue 22): the protocol spoken. */
  readonly #version: ProtocolVersion;
  // http2 hook: the handshake's transport (ws.transport) and terminate()'s RST_STREAM CANCEL.
  readonly #transport: 'http1' | 'http2';
  readonly #observer: { pingRoundTrip(ms: number): void } | null;

  /**
   * Per-connection data of your own, so that nobody needs a WeakMap keyed by the connection. On
   * the server it starts as what the `accept` hook (or the `headers` function) handed over as
   * `{ data }`, typed from the hook's return type (see WebSocketServerOptions); undefined
   * otherwise. Free to replace.
   */
  data: Data = undefined as Data;

  /**
   * A close was asked for here (close(), the idle timeout, a failing listener, a failed send,
   * terminate()) and may still wait behind queued sends, so the core is still open: readyState
   * is 'closing' from the call on. The facade's only close flag; the rest is the core's state.
   */
  #closeAsked = false;
  /** How the connection ended (the driver's report of the core's close result), once it has. */
  #final: CloseResult | null = null;
  #peerClose: CloseInfo | null = null;
  #terminated = false;
  #errorReported = false;
  /** 'message' listeners running now (a depth: a listener may cause another delivery). */
  #delivering = 0;
  /** Sends that had to wait (send-queue.ts); null until the first. */
  #sender: SendQueue | null = null;
  /** Queued messages and pull consumers (receive-queue.ts); null until the first of either. */
  #receiver: ReceiveQueue | null = null;
  /** Pings waiting for their pong (ping-tracker.ts); null until the first ping. */
  #pings: PingTracker | null = null;
  #closePromise: Promise<CloseInfo> | null = null;
  #closeSettle: { resolve(info: CloseInfo): void; reject(error: Error): void } | null = null;

  /**
   * Wraps an upgraded stream. The stream must be in paused mode with no 'data' listener (a
   * socket fresh from an upgrade is). Reading starts, and 'open' is emitted, on the next turn of
   * the event loop, so that listeners attached right after construction see everything.
   * Throws InvalidArgumentError for a bad or unknown option in `init`, before the stream is touched.
   */
  constructor(stream: Duplex, init: WebSocketInit) {
    if (typeof stream === 'string' || stream instanceof URL) {
      // Code ported from ws (`new WebSocket(url)`) would otherwise fail later with a confusing
      // TypeError from the stream plumbing.
      throw new InvalidArgumentError(
        'this WebSocket wraps an upgraded stream and is not constructed from a URL: use `await connect(url)` ' +
          "for a client connection, or `new BrowserWebSocket(url)` (the WebSocket of hybi/browser) for the browser API",
      );
    }
    super({ captureRejections: true });
    // connect() and the server pass more than the public init (connection-init.ts).
    const given: ConnectionInit = init;
    this.#options = initOptions(given);
    this.#codecs = given.codecs !== undefined && given.codecs.length > 0 ? given.codecs : NO_CODECS;
    this.#url = init.url ?? '';
    this.#protocol = init.protocol ?? '';
    this.#role = init.role;
    this.#transport = given.transport ?? 'http1'; // http2 hook
    this.#observer = given.observer ?? null;
    this.#extensions = this.#codecs.length === 0 ? '' : this.#codecs.map((c) => c.header).join(', ');
    this.#version = init.version === 'hybi-00' ? 'hybi-00' : 'hybi-13'; // legacy (issue 22)
    this.#link = new WebSocket.#Link(this);
    this.#driver = new SocketDriver(stream, versionDriverOptions(driverOptions(this.#options, given), this.#version), this.#link);
    // Messages queued while nobody listened go to a 'message' listener as soon as one is added.
    (this as EventEmitter).on('newListener', WebSocket.#onNewListener);
    const head = init.head;
    setImmediate(() => {
      if (this.#state === 'open') {
        publishOpen(this, this.#role, this.#driver.stream, this.#protocol, this.#extensions, this.#url);
        this.#safeEmit('open');
      }
      this.#driver.start(head);
    });
  }

  /** 'open', then 'closing' once a close frame was sent or received, 'closed' once the transport is gone. */
  get readyState(): WebSocketReadyState {
    return this.#state;
  }

  /** Derived from the core's close state: 'closing' from a close frame either way, a failure or a close asked for here; 'closed' once the transport is gone. */
  get #state(): WebSocketReadyState {
    if (this.#final !== null) return 'closed';
    return !this.#closeAsked && this.#driver.connection.closeState === 'open' ? 'open' : 'closing';
  }

  /**
   * How the WebSocket was set up: 'http1', an HTTP/1.1 Upgrade on its own TCP connection, or
   * 'http2', an extended CONNECT (RFC 8441) on one stream of a shared HTTP/2 connection (then
   * `socket` is that Http2Stream). (http2 hook)
   */
  get transport(): 'http1' | 'http2' {
    return this.#transport;
  }

  /** The subprotocol the server selected, '' if none. */
  get protocol(): string {
    return this.#protocol;
  }

  /** The negotiated extensions, as the Sec-WebSocket-Extensions response header gave them; '' if none. */
  get extensions(): string {
    return this.#extensions;
  }

  /** The URL this connection was opened to ('' when the creator did not say). */
  get url(): string {
    return this.#url;
  }

  // Topics hook (issue 20): the subscriptions live in api/topics/hub.ts.
  /**
   * Subscribes this connection (one a WebSocketServer accepted) to `topic`: messages the server
   * publishes to it are sent here, in publish order. `options.policy` overrides the server's
   * slowSubscriber policy for this topic. Subscribing again only updates the policy.
   */
  subscribe(topic: string, options?: SubscribeOptions): void {
    if (this.#version === 'hybi-00') throw hybi00Unsupported('topics'); // legacy (issue 22): publish frames are RFC 6455's
    hubOf(this).subscribe(this, topic, options);
  }

  /** Ends a subscription; false when there was none. Messages of the topic still queued are dropped. */
  unsubscribe(topic: string): boolean {
    return hubOf(this).unsubscribe(this, topic);
  }

  /** The topics this connection is subscribed to (a copy). */
  get topics(): ReadonlySet<string> {
    return topicsOf(this);
  }

  /**
   * Bytes accepted by `send()` but not yet written to the network: queued in the send queue or
   * buffered in the socket. It grows when the peer reads slower than we send.
   */
  get bufferedAmount(): number {
    return (this.#sender?.queuedBytes ?? 0) + this.#driver.bufferedAmount;
  }

  /** The close code once closed (see the 'close' event); null before. */
  get closeCode(): number | null {
    return this.#final?.code ?? null;
  }

  /** The close reason once closed; null before. */
  get closeReason(): string | null {
    return this.#final?.reason ?? null;
  }

  /**
   * The protocol version spoken: 'hybi-13', RFC 6455's (Sec-WebSocket-Version: 13), as
   * websocket-driver's `version` names it; 'hybi-00' for a legacy draft-hixie-76 peer (see
   * docs/legacy.md).
   */
  get version(): ProtocolVersion {
    return this.#version;
  }

  // legacy (issue 22): what the peer's protocol can carry, as the Racket seed's ws-conn-supports-*.
  /** True when messages may be sent and received in fragments (RFC 6455); false on hybi-00. */
  get supportsFragmentation(): boolean {
    return this.#version !== 'hybi-00';
  }

  /** True when messages of `type` ('text' or 'binary') can be exchanged: both on RFC 6455, text only on hybi-00. */
  supportsPayloadType(type: 'text' | 'binary'): boolean {
    return supportsPayloadType(this.#version, type);
  }

  /** True when close() sends its code and reason to the peer (RFC 6455); false on hybi-00, whose peer's close reads as 1005. */
  get signalsStatusOnClose(): boolean {
    return this.#version !== 'hybi-00';
  }

  /**
   * Advanced use: the transport under the connection (a net.Socket or tls.TLSSocket, or whatever
   * Duplex the connection was made over), for its addresses, TLS details or socket options. Do
   * not read from it, write to it or pause it: the connection owns its bytes and flow.
   */
  get socket(): Duplex {
    return this.#driver.stream;
  }

  /**
   * Holds outgoing frames until the matching `uncork()`, so frames sent in between leave in one
   * write (one system call, one TCP segment when small). Calls nest; `uncork()` must be called as
   * often. Held output of 64 KiB or more is written anyway, and pongs and pings wait too, so uncork
   * soon (typically in the same tick). A send's promise resolves only after its bytes were
   * written, so do not await a send while corked. Closing (ours or the peer's) uncorks.
   */
  cork(): void {
    if (this.#final === null) this.#driver.cork();
  }

  /** Ends one `cork()`; the last one writes what was held. Extra calls do nothing. */
  uncork(): void {
    this.#driver.uncork();
  }

  // Sending.

  /**
   * Sends one message. A string goes as text; bytes (Buffer, Uint8Array, ArrayBuffer, any view)
   * as binary; a Readable or async iterable as one fragmented message, each chunk sent as it
   * comes (split to `fragmentSize`), ended by an empty final frame. Messages go out in call
   * order and their fragments never interleave. Resolves once the operating system has taken the
   * message's bytes (a socket's write completed), so awaiting it never outruns a slow peer;
   * rejects with ConnectionNotOpenError when called after the close began (sends still work
   * while our answer to the peer's close is held for a pull consumer, see docs/connection.md),
   * with ConnectionClosedError when the connection ended before its bytes were seen to leave the
   * process. The returned promise never counts as an unhandled rejection: fire-and-forget is safe.
   *
   * Bytes (not strings) are copied only when the message is queued: when it is compressed
   * (permessage-deflate negotiated and `compress` not false) or waits behind earlier sends.
   * Otherwise (the fast path) the buffer itself is framed and written, without a copy, and is read
   * until the returned promise settles: do not change it before then. A streamed message's chunks
   * are never copied either.
   *
   * ws's callback forms `send(data, cb)` and `send(data, options, cb)` work too: `cb()` when the
   * promise resolves, `cb(error)` when it rejects. Unknown option names reject with
   * InvalidArgumentError; a callback that is not a function throws it at once.
   */
  send(data: SendData, options?: SendOptions, callback?: SendCallback): Promise<void>;
  send(data: SendData, callback: SendCallback): Promise<void>;
  send(data: SendData, a?: SendOptions | SendCallback, b?: SendCallback): Promise<void> {
    // ws's forms: send(data, cb) and send(data, options, cb). The callback gets what the promise
    // gives; one that is not a function throws at once, since a rejection nobody awaits is silent.
    const callback = typeof a === 'function' ? a : b;
    if (typeof a === 'function' ? b !== undefined : callback !== undefined && typeof callback !== 'function') {
      throw new InvalidArgumentError('the send() callback must be the last argument and a function');
    }
    const options = typeof a === 'function' ? undefined : a;
    let promise: Promise<void>;
    try {
      if (options !== undefined) checkOptionNames('send()', optionsObject('send()', options), SEND_NAMES, SEND_HINTS);
      promise = this.#send(data, options);
    } catch (error) {
      promise = handled(Promise.reject(error));
    }
    if (callback !== undefined) this.#callBack(promise, callback);
    return promise;
  }

  /** Calls a ws-style completion callback with the outcome of `promise`; a callback that throws is a failed listener. */
  #callBack(promise: Promise<unknown>, callback: (error?: Error) => void): void {
    promise.then(
      () => this.#runCallback(callback, undefined),
      (error: unknown) => this.#runCallback(callback, error instanceof Error ? error : new Error(String(error))),
    );
  }

  #runCallback(callback: (error?: Error) => void, error: Error | undefined): void {
    try {
      if (error === undefined) callback();
      else callback(error);
    } catch (thrown) {
      this.#listenerFailed(thrown, 'callback');
    }
  }

  // #send and #sendPrepared mark every promise that may reject with handled(); the fast path
  // returns the driver's as is (already marked): no second promise per message.
  #send(data: SendData, options: SendOptions | undefined): Promise<void> {
    if (!this.#mayWrite()) return handled(Promise.reject(this.#notOpenError()));
    const refused = this.#version === 'hybi-00' ? hybi00SendRefusal(data, options) : null; // legacy (issue 22)
    if (refused !== null) return handled(Promise.reject(refused));
    this.#watchBuffered();
    const fragmentSize = options?.fragmentSize;
    if (fragmentSize !== undefined) checkFragmentSize(fragmentSize);
    const binary = options?.binary;
    if (typeof data === 'string' || isByteSource(data)) {
      const isText = typeof data === 'string' ? binary !== true : binary === false;
      let bytes = messageBytes(data, options);
      const compress = this.#codecs.length > 0 && options?.compress !== false;
      if (!compress && this.#sendIdle()) {
        // The fast path: straight to the core and the socket, synchronously, so a reply sent
        // from a 'message' listener leaves before anything the core writes after that message.
        if (typeof fragmentSize === 'function') sendSplit(this.#driver, bytes, isText, fragmentSize, 0);
        else this.#driver.sendMessage(bytes, isText, fragmentSize === undefined ? undefined : { fragmentSize });
        return this.#driver.whenWritten();
      }
      // Queued, the bytes are read later (by the codec, or once the sends ahead are done), so they
      // are copied now: the message is what the caller gave even if the buffer changes after
      // send() returns. Next to deflating or waiting in the queue the copy is cheap; a string's
      // bytes are ours already, and the fast path above copies nothing.
      if (typeof data !== 'string') bytes = new Uint8Array(bytes);
      return handled(
        this.#enqueue((settle) => ({
          ...settle,
          kind: 'message',
          data: bytes,
          isText,
          fragmentSize: fragmentSize ?? 0,
          compress,
          size: bytes.length,
        })),
      );
    }
    if (isAsyncIterable(data)) {
      return handled(
        this.#enqueue((settle) => ({
          ...settle,
          kind: 'stream',
          source: data,
          isText: binary === undefined ? undefined : !binary,
          fragmentSize: fragmentSize ?? DEFAULT_FRAGMENT_SIZE,
          size: 0,
        })),
      );
    }
    throw new InvalidArgumentError('send() takes a string, bytes, a Readable or an async iterable');
  }

  #sendPrepared(frame: PreparedFrame): Promise<void> {
    if (this.#role !== 'server') throw new InvalidArgumentError('encoded frames are for the server role (client frames are masked one by one)');
    if (!this.#mayWrite()) return handled(Promise.reject(this.#notOpenError()));
    this.#watchBuffered();
    if (this.#sendIdle()) {
      this.#driver.sendPrepared(frame); // topics hook (issue 20): the core checks the frame
      return this.#driver.whenWritten();
    }
    return handled(this.#enqueue((settle) => ({ ...settle, kind: 'encoded', frame, size: frame.size })));
  }

  /**
   * Data may be sent while open, and after the peer's close while our answer is held for the
   * consumer to catch up (unless we were asked to close meanwhile).
   */
  #mayWrite(): boolean {
    // On every send: the core's state directly, not the derived readyState.
    const connection = this.#driver.connection;
    if (!connection.canSendData) return false;
    return connection.closeReplyPending ? this.#closePromise === null : !this.#closeAsked;
  }

  /**
   * Much is waiting to be written: a burst of sends, or a peer that does not read. The driver
   * tells them apart by progress (watchStall) and fails only the second, with 1008.
   */
  #watchBuffered(): void {
    const limit = this.#options.maxBufferedAmount;
    if (this.bufferedAmount > limit) {
      this.#driver.watchStall(limit, this.#options.stallTimeout);
      noteAboveMark(this, this.#role, this.#driver.stream, limit);
    } else if (backpressureChannel.hasSubscribers) noteBuffered(this);
  }

  /** Nothing is queued or running: a send may go straight to the driver. */
  #sendIdle(): boolean {
    return this.#sender === null || this.#sender.idle;
  }

  #enqueue(make: (settle: Settle) => SendJob): Promise<void> {
    return (this.#sender ??= new SendQueue(this.#link)).enqueue(make, this.#delivering > 0);
  }

  /**
   * Starts a message sent part by part, where the caller says which part is the last (each part is
   * one frame; the part given to `end()` carries FIN): `const w = ws.beginMessage({ binary: true });
   * await w.write(a); await w.end(b)`. The writer takes its place in the send queue now: its
   * frames go out after the sends called before, and sends (and close()) called after wait until
   * it ends or is aborted; pings and pongs may go between its frames. Text parts must make valid
   * UTF-8 as a whole (a code point may be split between parts). Parts are never compressed.
   * Called when the connection cannot send, it returns a writer whose calls reject with
   * ConnectionNotOpenError. Throws InvalidArgumentError for an unknown option. See MessageWriter
   * for abort() and errors.
   */
  beginMessage(options?: BeginMessageOptions): MessageWriter {
    if (this.#version === 'hybi-00') throw hybi00Unsupported('fragments'); // legacy (issue 22)
    if (options !== undefined) checkOptionNames('beginMessage()', optionsObject('beginMessage()', options), BEGIN_MESSAGE_NAMES);
    const writer = new MessageWriter(options?.binary !== true, (delta) => {
      (this.#sender ??= new SendQueue(this.#link)).queuedBytes += delta;
    });
    if (!this.#mayWrite()) {
      writer.close(this.#notOpenError());
      return writer;
    }
    this.#watchBuffered();
    void this.#enqueue((settle) => ({ ...settle, kind: 'writer', writer, size: 0 })).catch(noop);
    return writer;
  }

  #assertSendable(): void {
    if (!this.#driver.connection.canSendData || !this.#driver.active) {
      const info = this.#final ?? this.#peerClose;
      throw new ConnectionClosedError(info?.code ?? 1006, info?.reason ?? '', this.#final?.wasClean ?? info !== null);
    }
  }

  #notOpenError(): ConnectionNotOpenError {
    const final = this.#final;
    return new ConnectionNotOpenError(this.#state, final?.code ?? this.#peerClose?.code ?? 1006, final?.reason ?? this.#peerClose?.reason ?? '', final?.wasClean ?? false);
  }

  // Pings.

  /**
   * Sends a ping (payload at most 125 bytes) and resolves with the round-trip time in ms when
   * the pong with the same payload arrives. A pong that answers a later ping also answers the
   * earlier ones (RFC 6455 section 5.5.3 lets a peer answer only the latest). A pong that answers
   * no outstanding ping is an unsolicited heartbeat (section 5.5.3) and leaves the ping waiting.
   * After `timeout` ms without its pong it rejects with PongMismatchError (`expected` is its
   * payload, `received` the last of those other pongs) if pongs with other payloads arrived
   * meanwhile, else with PingTimeoutError. Without `timeout` (0 or absent) it waits until the
   * connection closes, and then rejects with ConnectionClosedError.
   *
   * ws's forms `ping(cb)`, `ping(data, cb)` and `ping(data, mask, cb)` work too: `cb()` once the
   * ping frame was handed to the socket (not when the pong comes: the promise tells that), or
   * `cb(error)` when it could not be sent. `mask` must be what RFC 6455 section 5.3 prescribes
   * for the role (true for a client, false for a server), else InvalidArgumentError.
   */
  ping(data?: PingData, options?: PingOptions | boolean, callback?: SendCallback): Promise<number>;
  ping(data: PingData | undefined, callback: SendCallback): Promise<number>;
  ping(callback: SendCallback): Promise<number>;
  ping(data?: PingData | SendCallback, a?: PingOptions | boolean | SendCallback, b?: SendCallback): Promise<number> {
    const { payload, options, callback } = controlArguments('ping', data, a, b);
    let promise: Promise<number>;
    let sent: Promise<void> | null = null;
    try {
      if (this.#version === 'hybi-00') throw hybi00Unsupported('ping'); // legacy (issue 22)
      checkMask('ping', this.#role, options);
      let timeout: number | undefined;
      if (options !== undefined && typeof options !== 'boolean') {
        const given = optionsObject('ping()', options as PingOptions);
        checkOptionNames('ping()', given, PING_NAMES);
        timeout = given.timeout;
      }
      const open = this.#state === 'open';
      promise = this.#ping(payload, timeout ?? 0);
      // ws calls the callback once the ping is written, not when the pong comes (the promise
      // says that); when the connection was not open, it gets the promise's error.
      if (callback !== undefined && open) sent = this.#driver.whenWritten();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.catch(noop);
    if (callback !== undefined) this.#callBack(sent ?? promise, callback);
    return promise;
  }

  #ping(data: string | Uint8Array | ArrayBuffer | undefined, timeout: number): Promise<number> {
    if (!this.#mayWrite()) return Promise.reject(this.#notOpenError());
    checkTimeout('ping', timeout);
    const payload = controlPayload('ping', data, true);
    // Listed before it is written: a transport may deliver the pong synchronously.
    const roundTrip = (this.#pings ??= new PingTracker()).add(payload, timeout);
    this.#driver.sendPing(payload);
    return roundTrip;
  }

  /**
   * Sends a pong (payload at most 125 bytes): an unsolicited one-way heartbeat (RFC 6455 section
   * 5.5.3), or the answer to a ping when `autoPong` is false. Allowed while closing too, as a
   * control frame. Rejects with ConnectionNotOpenError once closed. Takes ws's `mask` and
   * callback arguments as `ping()` does.
   */
  pong(data?: PingData, mask?: boolean, callback?: SendCallback): Promise<void>;
  pong(data: PingData | undefined, callback: SendCallback): Promise<void>;
  pong(callback: SendCallback): Promise<void>;
  pong(data?: PingData | SendCallback, a?: boolean | SendCallback, b?: SendCallback): Promise<void> {
    const { payload: given, options: mask, callback } = controlArguments('pong', data, a, b);
    let promise: Promise<void>;
    try {
      if (this.#version === 'hybi-00') throw hybi00Unsupported('pong'); // legacy (issue 22)
      if (mask !== undefined && typeof mask !== 'boolean') throw new InvalidArgumentError('pong() takes no options; its second argument is ws\'s mask, a boolean');
      checkMask('pong', this.#role, mask);
      if (this.#state === 'closed') throw this.#notOpenError();
      this.#driver.sendPong(controlPayload('pong', given, false));
      promise = this.#driver.whenWritten();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.catch(noop);
    if (callback !== undefined) this.#callBack(promise, callback);
    return promise;
  }

  #onKeepalive(): void {
    if (this.#state !== 'open') return;
    (this.#pings ??= new PingTracker()).addKeepalive();
    this.#driver.sendPing(EMPTY);
  }

  #onPong(payload: Uint8Array): void {
    const roundTrip = this.#pings === null ? null : this.#pings.pong(payload);
    if (roundTrip !== null) this.#observer?.pingRoundTrip(roundTrip);
    publishPong(this, this.#role, payload, roundTrip);
    this.#safeEmit('pong', Buffer.from(payload));
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
    return this.#close(code, reason, timeout);
  }

  #close(code: number | undefined, reason: string, timeout?: number): Promise<CloseInfo> {
    if (this.#closePromise !== null) return this.#closePromise;
    if (this.#final !== null) return Promise.resolve({ code: this.#final.code, reason: this.#final.reason });
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
    if (this.#state === 'open' || this.#driver.connection.closeReplyPending) {
      this.#closeAsked = true;
      if (this.#sendIdle()) this.#startClose(code, reason, timeout);
      else void this.#enqueue((settle) => ({ ...settle, kind: 'close', code, reason, timeout, size: 0 })).catch(noop);
    }
    return this.#closePromise;
  }

  #startClose(code: number | undefined, reason: string, timeout?: number): void {
    try {
      this.#driver.startClose(code, reason, timeout);
    } catch {
      // Validated beforehand; a core that refuses now is already closing.
    }
  }

  /** Destroys the transport at once, without a closing handshake; 'close' follows with 1006. */
  terminate(): void {
    if (this.#final !== null) return;
    this.#terminated = true;
    this.#closeAsked = true;
    if (this.#transport === 'http2') cancelStream(this.#driver.stream); // http2 hook: RST_STREAM CANCEL, not NO_ERROR
    this.#driver.terminate();
  }

  // Receiving.

  /**
   * The next message, in order: `{ type: 'text', data: string }` or `{ type: 'binary', data:
   * Buffer }`. Takes a queued message first; rejects with ConnectionClosedError once the
   * connection is closed and nothing is queued. `{ as: 'text' }` or `{ as: 'binary' }` forces the
   * type (see ReceiveOptions); a binary message that is not UTF-8 then rejects with NotUtf8Error
   * (its bytes in `error.data`) and the connection stays open.
   */
  receive(options: { as: 'text' }): Promise<{ type: 'text'; data: string }>;
  receive(options: { as: 'binary' }): Promise<{ type: 'binary'; data: Buffer }>;
  receive(options?: ReceiveOptions): Promise<Message>;
  receive(options?: ReceiveOptions): Promise<Message> {
    const as = options?.as;
    try {
      if (options !== undefined) checkOptionNames('receive()', optionsObject('receive()', options), RECEIVE_NAMES);
      if (as !== undefined && as !== 'text' && as !== 'binary') {
        throw new InvalidArgumentError(`receive({ as }) takes 'text' or 'binary', got ${String(as)}`);
      }
    } catch (error) {
      return handled(Promise.reject(error));
    }
    return this.#receiveQueue().receive(as);
  }

  /**
   * The next message as a Readable of its bytes, with `type` 'text' or 'binary'; for messages
   * too big to hold. The bytes arrive as the frames do (so `maxMessageSize` does not apply; the
   * consumer bounds memory), and while the Readable is full the socket is not read. A message
   * already queued whole comes as one chunk. If the Readable is destroyed early, the rest of its
   * message is discarded. It errors with ConnectionClosedError if the connection closes midway.
   */
  receiveStream(): Promise<MessageReadable> {
    return this.#receiveQueue().receiveStream();
  }

  /**
   * The connection as WHATWG streams, the shape of WebSocketStream's `opened` plus `closed` and
   * `close()`; reading stops reading the socket when the reader stops (src/api/stream-pair.ts).
   */
  stream(): WebSocketStreamPair {
    return streamPair(this);
  }

  /**
   * The next message as its pieces, as they arrive: `for await (const f of ws.receiveFragments())`
   * yields `{ data: Buffer, fin, type }` until the piece with `fin` (see Fragment: a piece is a
   * frame's payload, or the part of a long frame read so far; text may end inside a code point).
   * One message per call, taken in order with the other pull calls. Like receiveStream(), the
   * pieces come as they arrive (so `maxMessageSize` does not apply), and while more than a quarter
   * of `receiveHighWaterMark` waits unread in the iterator the socket is not read. A message
   * already queued whole comes as one piece. Breaking out of the loop discards the rest of the
   * message. If the connection closes first the iterator throws ConnectionClosedError (after the
   * pieces it already holds).
   */
  receiveFragments(): AsyncIterableIterator<Fragment> {
    return this.#receiveQueue().receiveFragments();
  }

  /**
   * Iterates the messages in order until the connection closes. While an iterator is active,
   * every message goes to it (or to other pull calls), not to 'message' listeners. It ends
   * quietly on any close, unless propagateErrors is set and the close was not normal (1000,
   * 1001 or 1005), in which case it throws ConnectionClosedError.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    return this.#receiveQueue().iterate();
  }

  #receiveQueue(): ReceiveQueue {
    return (this.#receiver ??= new ReceiveQueue(this.#link));
  }

  #emitMessage(data: Uint8Array, isText: boolean): void {
    const buffer = asBuffer(data);
    // Sends queued by the listeners hold parsing until they are handed over (see #enqueue).
    this.#delivering++;
    try {
      this.#safeEmit('message', isText ? buffer.toString('utf8') : buffer, !isText);
    } finally {
      this.#delivering--;
    }
  }

  // The end.

  #onProtocolError(error: ConnectionFailure): void {
    publishError(this, this.#role, error);
    // A full send buffer is reported by the send() that found it (its promise rejects), like the
    // other bounds on a peer that went quiet; 'error' only when asked for.
    if (error instanceof SendBufferFullError && !this.#options.propagateErrors) return;
    this.#emitError(error);
  }

  #onIdle(): void {
    if (this.#state !== 'open') return;
    this.#closeAsked = true;
    if (errorChannel.hasSubscribers) publishError(this, this.#role, new IdleTimeoutError(this.#options.idleTimeout));
    if (this.#options.propagateErrors) {
      this.#errorReported = true;
      this.#emitError(new IdleTimeoutError(this.#options.idleTimeout));
    }
    // Straight to the core, past queued sends: a peer silent this long is not reading them.
    this.#startClose(CloseCode.GoingAway, 'idle timeout');
  }

  #onClosed(result: CloseResult): void {
    this.#final = result;
    const closedError = (): ConnectionClosedError => new ConnectionClosedError(result.code, result.reason, result.wasClean);

    this.#pings?.closeAll(closedError);
    this.#pings = null;

    this.#sender?.closed(closedError);

    this.#receiver?.closed(closedError);

    // Expected endings are 'error' events only when asked for (propagateErrors). A protocol
    // error was reported when it happened; terminate() is the user's own doing.
    if (this.#options.propagateErrors && !this.#errorReported && !this.#terminated && !result.wasClean && !isConnectionFailure(result.error)) {
      this.#emitError(this.#endingError(result));
    }

    const settle = this.#closeSettle;
    this.#closeSettle = null;
    if (settle !== null) {
      if (result.error instanceof CloseTimeoutError) settle.reject(result.error);
      else settle.resolve({ code: result.code, reason: result.reason });
    }
    // A protocol error was published when it happened (#onProtocolError).
    if (result.error !== null && !isConnectionFailure(result.error)) publishError(this, this.#role, result.error);
    const driver = this.#driver;
    publishClose(this, this.#role, result.code, result.reason, result.wasClean, driver.closedBy, driver.openedAt);
    this.#safeEmit('close', result.code, result.reason);
  }

  #endingError(result: CloseResult): Error {
    if (result.error instanceof CloseTimeoutError) return result.error;
    const error = new ConnectionClosedError(result.code, result.reason, result.wasClean);
    if (result.error !== null) Object.defineProperty(error, 'cause', { value: result.error, configurable: true, writable: true });
    return error;
  }

  // Errors and listener failures.

  /** 'error' is emitted only when someone listens: an unheard 'error' must not crash the process. */
  #emitError(error: Error): void {
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', error);
    } catch (thrown) {
      this.#listenerFailed(thrown, 'error');
    }
  }

  #safeEmit<E extends keyof WebSocketEvents>(event: E, ...args: WebSocketEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: WebSocketEvents[E]) => boolean)(event, ...args);
    } catch (thrown) {
      this.#listenerFailed(thrown, event);
    }
  }

  /** With captureRejections, a rejected promise returned by an async listener lands here. */
  override [EventEmitter.captureRejectionSymbol]<K>(
    error: Error,
    event: keyof WebSocketEvents | K,
    ..._args: K extends keyof WebSocketEvents ? WebSocketEvents[K] : never
  ): void {
    this.#listenerFailed(error, String(event));
  }

  /**
   * A listener threw (or its promise rejected). It must not take the process or other
   * connections down: the error is emitted as 'error' (or, with no 'error' listener or when
   * an 'error' or 'close' listener failed, printed as a process warning), and an open
   * connection is closed with 1011, since the application's state for it is unknown.
   */
  #listenerFailed(thrown: unknown, event: string): void {
    const error = thrown instanceof Error ? thrown : new Error(`a '${event}' listener threw ${String(thrown)}`);
    if (event !== 'error' && event !== 'close' && this.listenerCount('error') > 0) {
      this.#emitError(error);
    } else {
      process.emitWarning(error);
    }
    if (this.#state === 'open') {
      this.#closeAsked = true;
      if (this.#sendIdle()) this.#startClose(CloseCode.InternalError, 'internal error');
      else void this.#enqueue((settle) => ({ ...settle, kind: 'close', code: CloseCode.InternalError, reason: 'internal error', timeout: undefined, size: 0 })).catch(noop);
    }
  }
}
