/**
 * The connection object every user holds, on the client and the server side alike. It takes an
 * already-upgraded Duplex and a role (the handshake is not its business) and offers events,
 * ordered pull (`receive()`, `for await`, `receiveStream()`), sends that never interleave two
 * messages' fragments, ping with pong matching, and the closing handshake.
 *
 * How push and pull share the incoming messages (see docs/connection.md): each message goes to
 * exactly one consumer, chosen when it arrives:
 *   1. the oldest pending `receive()`, `receiveStream()` or iterator `next()`, if any;
 *   2. otherwise, if no iterator is active and the queue is empty, the 'message' listeners, if any;
 *   3. otherwise the queue, from which the next pull takes it, or, once a 'message' listener is
 *      attached and no iterator is active, the listeners (right after attaching, in order).
 * So no message is delivered twice, and none is dropped while nobody listens.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { Readable, type Duplex } from 'node:stream';
import { encodeClosePayload } from '../core/close.js';
import type { ReadyState, Role } from '../core/connection.js';
import {
  CloseTimeoutError,
  ConnectionClosedError,
  ConnectionNotOpenError,
  IdleTimeoutError,
  InvalidArgumentError,
  NotUtf8Error,
  ProtocolError,
  SendBufferFullError,
} from '../core/errors.js';
import { MAX_CONTROL_PAYLOAD } from '../core/limits.js';
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
import { PauseReason, SocketDriver, type CloseResult, type DriverEvents, type DriverOptions } from '../node/driver.js';
import type { MessageCodec } from '../node/message-codec.js';
import { PingTracker } from './ping-tracker.js';
import {
  checkOptionNames,
  CONNECTION_OPTION_NAMES,
  DEFAULT_FRAGMENT_SIZE,
  isResolvedOptions,
  optionsObject,
  resolveOptions,
  type ResolvedOptions,
  type WebSocketOptions,
} from './options.js';
import { FragmentReader, type Fragment } from './fragment-reader.js';
import { checkFragmentSize, fragmentEnds, type FragmentSizer } from './fragment-size.js';
import { MessageWriter, type BeginMessageOptions, type MessageWriterSink } from './message-writer.js';
import { hybi00SendRefusal, hybi00Unsupported, supportsPayloadType, versionDriverOptions, type ProtocolVersion } from './legacy.js'; // legacy (issue 22)

export type { MessageCodec } from '../node/message-codec.js';
export type { WebSocketOptions } from './options.js';

/** What the client or server knows once the handshake is done. */
export interface WebSocketInit extends WebSocketOptions {
  role: Role;
  /** The URL the client connected to (the request URL on the server side); `ws.url`. */
  url?: string;
  /** The negotiated subprotocol, '' if none; `ws.protocol`. */
  protocol?: string;
  /** Bytes that arrived after the handshake head: they belong to the WebSocket and are processed first. */
  head?: Uint8Array;
  /** Negotiated extension codecs (permessage-deflate), in response-header order. */
  codecs?: readonly MessageCodec[];
  /** For tests: the mask-key source of the core (the client masks every frame). */
  maskKey?: () => Uint8Array;
  /**
   * Options already checked by `resolveOptions`, used instead of the WebSocketOptions fields of
   * this object: a server resolves its connection options once, and its connections share them.
   * An object that did not come from `resolveOptions` is checked like the fields would be.
   */
  options?: ResolvedOptions;
  /** @internal The server's metrics: told each round trip of a ping this connection sent. */
  observer?: { pingRoundTrip(ms: number): void };
  /** legacy (issue 22): the protocol the handshake agreed on; default 'hybi-13' (RFC 6455). */
  version?: ProtocolVersion;
}

/** What a WebSocketInit may hold: its own fields and every connection option. */
const INIT_NAMES: ReadonlySet<string> = new Set(['role', 'url', 'protocol', 'head', 'codecs', 'maskKey', 'options', 'version', ...CONNECTION_OPTION_NAMES]);

/**
 * The options of a WebSocket built from `init`: the front-ends (connect(), the server) resolved
 * theirs before any network and pass the result, which is used as it is; a direct construction
 * is checked here, names included, before the stream is touched.
 */
function initOptions(init: WebSocketInit): ResolvedOptions {
  if (isResolvedOptions(init?.options)) return init.options;
  // Without an init there is no role, and the constructor could not go on.
  if (init === undefined) throw new InvalidArgumentError("new WebSocket() needs an init with a role ('client' or 'server')");
  checkOptionNames('new WebSocket()', optionsObject('new WebSocket()', init), INIT_NAMES);
  return resolveOptions(init.options !== undefined ? optionsObject('WebSocketInit.options', init.options) : init);
}

/** One received message, as `receive()` and `for await` give it. */
export type Message = { type: 'text'; data: string } | { type: 'binary'; data: Buffer };

/** A received message as a stream of its bytes (`receiveStream()`); text arrives as UTF-8 bytes. */
export type MessageReadable = Readable & { readonly type: 'text' | 'binary' };

/** Options of one `send()`. */
export interface SendOptions {
  /**
   * Send as binary (true) or text (false). By default a string is text and bytes are binary; a
   * stream is text when its first chunk is a string. Bytes sent as text must be valid UTF-8.
   */
  binary?: boolean;
  /**
   * Split the message into frames of at most this many bytes. Streams default to 64 KiB
   * (DEFAULT_FRAGMENT_SIZE) per frame; a plain buffer or string is one frame unless given. May
   * also be a function `(data, offset) => size` choosing each frame's size (see FragmentSizer),
   * called with the message's bytes (after compression, if any) or a streamed chunk's.
   */
  fragmentSize?: number | FragmentSizer;
  /** Send only from this index (bytes for binary data, UTF-16 code units for a string), without copying bytes. */
  start?: number;
  /** Send only up to this index (exclusive). */
  end?: number;
  /** Let a negotiated extension (permessage-deflate) transform this message; default true. Streams are never compressed. */
  compress?: boolean;
}

/** Options of `receive()`. */
export interface ReceiveOptions {
  /**
   * Force the message's type: 'text' decodes a binary message as UTF-8 (a message that is not valid
   * UTF-8 rejects this call with NotUtf8Error, the connection stays open); 'binary' gives a text
   * message's UTF-8 bytes. By default each message comes as the type it was sent as.
   */
  as?: 'text' | 'binary';
}

/** Options of one `close()`. */
export interface CloseOptions {
  /**
   * How long to wait for the peer's close frame once ours is sent, in ms, before the socket is
   * destroyed and close() rejects with CloseTimeoutError; 0 waits without bound. Default: the
   * connection's closeTimeout.
   */
  timeout?: number;
}

/**
 * A ws-style completion callback of `send()`, `ping()` and `pong()`: called with no argument once
 * the frame was handed to the socket (as the returned promise resolves), or with the error the
 * promise rejects with.
 */
export type SendCallback = (error?: Error) => void;

/** A ping or pong payload: at most 125 bytes (RFC 6455 section 5.5). */
export type PingData = string | Uint8Array | ArrayBuffer;

/** Options of one `ping()`. */
export interface PingOptions {
  /** Reject with PingTimeoutError when no matching pong came within this many ms; default 0 (wait until the close). */
  timeout?: number;
}

/** What `send()` accepts: text, bytes, or a stream of either sent as one fragmented message. */
export type SendData = string | Uint8Array | ArrayBuffer | ArrayBufferView | Readable | AsyncIterable<Uint8Array | string>;

/** The events of a WebSocket and their arguments. */
export interface WebSocketEvents {
  /** The connection is open (emitted once, on the turn of the event loop after construction). */
  open: [];
  /**
   * A message for the push consumers: a string for text, a Buffer for binary. (`on('message')`
   * and the other ways to add a listener take a listener typed with MessageListenerArgs, where the
   * two arguments go together.)
   */
  message: [data: string | Buffer, isBinary: boolean];
  /** The transport is closed: the peer's code after a clean handshake, ours after a failure, 1006 otherwise. */
  close: [code: number, reason: string];
  /** A protocol error, an exception of a listener, or (with propagateErrors) an expected ending. */
  error: [error: Error];
  /** A ping arrived (already answered unless autoPong is false). */
  ping: [payload: Buffer];
  /** A pong arrived (solicited or not). */
  pong: [payload: Buffer];
}

/**
 * The states a connection object can be in. It is made once the handshake is done, so it is never
 * 'connecting' (the ReadyState of the core, which also covers the handshake, has that one too).
 */
export type WebSocketReadyState = Exclude<ReadyState, 'connecting'>;

/** How the connection ended; `closeCode` and `closeReason` give it once `readyState` is 'closed'. */
export interface CloseInfo {
  code: number;
  reason: string;
}

interface QueuedMessage {
  data: Uint8Array;
  isText: boolean;
}

type WaiterKind = 'receive' | 'stream' | 'iterate' | 'fragments';

interface Waiter {
  kind: WaiterKind;
  /** receive({ as }). */
  as?: 'text' | 'binary' | undefined;
  /** The reader of a receiveFragments() call. */
  reader?: FragmentReader;
  resolve(value: Message | MessageReadable | IteratorResult<Message>): void;
  reject(error: Error): void;
}

interface Settle {
  resolve(): void;
  reject(error: unknown): void;
}

type SendJob =
  | (Settle & { kind: 'message'; data: Uint8Array; isText: boolean; fragmentSize: number | FragmentSizer; compress: boolean; size: number })
  | (Settle & { kind: 'stream'; source: AsyncIterable<unknown>; isText: boolean | undefined; fragmentSize: number | FragmentSizer; size: 0 })
  | (Settle & { kind: 'writer'; writer: MessageWriter; size: 0 })
  | (Settle & { kind: 'close'; code: number | undefined; reason: string; timeout: number | undefined; size: 0 })
  | (Settle & { kind: 'reply'; size: 0 })
  | (Settle & { kind: 'encoded'; chunks: readonly Uint8Array[]; size: number });

/** The state of the message being received in the core's streaming mode. */
interface Incoming {
  stream: MessageStream | null;
  reader?: FragmentReader | null;
  chunks: Uint8Array[] | null;
  size: number;
}

const EMPTY = new Uint8Array(0);
const noop = (): void => {};
const NO_CODECS: readonly MessageCodec[] = [];

const SEND_NAMES: ReadonlySet<string> = new Set(['binary', 'fragmentSize', 'start', 'end', 'compress']);

/** ws's send options that hybi does not take, and why. */
const SEND_HINTS: Readonly<Record<string, string>> = {
  mask: 'frames are masked as the role requires (RFC 6455 section 5.3)',
  fin: 'to send a message in pieces, use beginMessage(), or pass a Readable or an async iterable',
};

const PING_NAMES: ReadonlySet<string> = new Set(['timeout']);
const CLOSE_NAMES: ReadonlySet<string> = new Set(['timeout']);
const RECEIVE_NAMES: ReadonlySet<string> = new Set(['as']);
const BEGIN_MESSAGE_NAMES: ReadonlySet<string> = new Set(['binary']);

/**
 * The arguments of ping() and pong() in ws's forms: (cb), (data, cb), (data, mask, cb), and
 * hybi's (data, options). A callback in any other place, or a non-function last argument after a
 * callback, throws: the call would otherwise go through with the callback silently dropped.
 */
function controlArguments(
  method: string,
  data: unknown,
  a: unknown,
  b: unknown,
): { payload: PingData | undefined; options: unknown; callback: SendCallback | undefined } {
  if (typeof data === 'function') {
    if (a !== undefined || b !== undefined) throw new InvalidArgumentError(`${method}(callback) takes nothing after the callback`);
    return { payload: undefined, options: undefined, callback: data as SendCallback };
  }
  if (typeof a === 'function') {
    if (b !== undefined) throw new InvalidArgumentError(`${method}(data, callback) takes nothing after the callback`);
    return { payload: data as PingData | undefined, options: undefined, callback: a as SendCallback };
  }
  if (b !== undefined && typeof b !== 'function') throw new InvalidArgumentError(`the ${method}() callback must be a function, got ${String(b)}`);
  return { payload: data as PingData | undefined, options: a, callback: b as SendCallback | undefined };
}

/**
 * Driver options made from resolved options, kept for connections without extension codecs or
 * a test's mask source: one object per server (and role) rather than one per connection.
 */
const sharedDriverOptions = new WeakMap<ResolvedOptions, { client?: DriverOptions; server?: DriverOptions }>();

function driverOptions(options: ResolvedOptions, init: WebSocketInit): DriverOptions {
  const shareable = (init.codecs === undefined || init.codecs.length === 0) && init.maskKey === undefined;
  if (shareable) {
    let byRole = sharedDriverOptions.get(options);
    if (byRole === undefined) sharedDriverOptions.set(options, (byRole = {}));
    const cached = byRole[init.role];
    if (cached !== undefined) return cached;
    return (byRole[init.role] = makeDriverOptions(options, init.role));
  }
  return makeDriverOptions(options, init.role, init.codecs, init.maskKey);
}

function makeDriverOptions(options: ResolvedOptions, role: Role, codecs?: readonly MessageCodec[], maskKey?: () => Uint8Array): DriverOptions {
  return {
    role,
    maxFrameSize: options.maxFrameSize,
    maxMessageSize: options.maxMessageSize,
    maxFragments: options.maxFragments,
    autoPong: options.autoPong,
    pingInterval: options.pingInterval,
    idleTimeout: options.idleTimeout,
    closeTimeout: options.closeTimeout,
    messageTimeout: options.messageTimeout,
    codecs,
    maskKey,
  };
}

/**
 * Marks a promise of ours that may reject as handled, so that a caller who fires and forgets
 * (`void ws.send(...)`) never gets an unhandled rejection; returns the same promise.
 */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(noop);
  return promise;
}

/** A send that may never end (a streamed source, a message writer): nothing is held for it. */
function isOpenEnded(job: SendJob): boolean {
  return job.kind === 'stream' || job.kind === 'writer';
}

/** Close codes after which `for await` ends quietly even with propagateErrors. */
function isNormalClose(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005;
}

/** A Buffer over the same memory (no copy). */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function isByteSource(data: unknown): data is Uint8Array | ArrayBuffer | ArrayBufferView {
  return data instanceof ArrayBuffer || ArrayBuffer.isView(data) || data instanceof SharedArrayBuffer;
}

/** Bytes of a byte source, as a view (never a copy). */
function byteView(data: Uint8Array | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

function isAsyncIterable(data: unknown): data is AsyncIterable<unknown> {
  return typeof data === 'object' && data !== null && typeof (data as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function checkIndex(name: string, value: number | undefined, length: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > length) {
    throw new InvalidArgumentError(`${name} must be an integer from 0 to ${length}, got ${String(value)}`);
  }
  return value;
}

/**
 * The buffer mark of a streamed message's Readable: a quarter of receiveHighWaterMark. A reader
 * that takes everything buffered at once (`for await`, read() without a size) then holds what it
 * took while the buffer fills again, and one read of input may be pushed past the mark: the
 * message's memory stays within receiveHighWaterMark instead of at twice it and more.
 */
function streamHighWaterMark(receiveHighWaterMark: number): number {
  return Math.max(1, Math.floor(receiveHighWaterMark / 4));
}

/** The Readable of one received message. */
class MessageStream extends Readable {
  readonly type: 'text' | 'binary';
  private readonly onPull: () => void;
  private readonly onGone: () => void;

  constructor(type: 'text' | 'binary', highWaterMark: number, onPull: () => void, onGone: () => void) {
    super({ highWaterMark });
    this.type = type;
    this.onPull = onPull;
    this.onGone = onGone;
  }

  override _read(): void {
    this.onPull();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onGone();
    callback(error);
  }
}

/** Internal: sends a close frame without a status code (the browser's close() with no code). */
export const kCloseWithoutCode: unique symbol = Symbol('hybi.closeWithoutCode');

/** Internal: how the connection ended (with wasClean), null before; for the browser-compatible class. */
export const kCloseResult: unique symbol = Symbol('hybi.closeResult');

/**
 * Internal: sends a frame already encoded (server role only: unmasked), in order with the other
 * sends: `ws[kSendEncoded](chunks, size)`. For WebSocketServer.broadcast, which frames a message
 * once for every client. Same promise and bounds as send(); never compressed.
 */
export const kSendEncoded: unique symbol = Symbol('hybi.sendEncoded');

/** Internal: the connection's driver, whose counters the server's metrics sum (`ws[kDriverOf]()`). */
export const kDriverOf: unique symbol = Symbol('hybi.driverOf');

/**
 * The arguments of a 'message' listener, correlated: text comes as a string with `isBinary`
 * false, binary as a Buffer with `isBinary` true, so `if (isBinary)` narrows `data`.
 */
export type MessageListenerArgs = [data: string, isBinary: false] | [data: Buffer, isBinary: true];

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
  static readonly #DriverEventsOf = class implements DriverEvents {
    readonly ws: WebSocket;

    constructor(ws: WebSocket) {
      this.ws = ws;
    }

    message(data: Uint8Array, isText: boolean): void {
      this.ws.#onMessage(data, isText);
    }

    fragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
      this.ws.#onFragment(data, isText, first, fin);
    }

    ping(payload: Uint8Array): void {
      publishPing(this.ws, this.ws.#role, payload);
      this.ws.#safeEmit('ping', Buffer.from(payload));
    }

    pong(payload: Uint8Array): void {
      this.ws.#onPong(payload);
    }

    peerClose(code: number, reason: string): void {
      this.ws.#onPeerClose(code, reason);
    }

    holdCloseReply(): boolean {
      return this.ws.#holdCloseReply();
    }

    protocolError(error: ProtocolError): void {
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
  };

  /** Messages queued while nobody listened go to a 'message' listener as soon as one is added (shared by every connection). */
  static readonly #onNewListener = function (this: WebSocket, event: string | symbol): void {
    if (event === 'message') this.#scheduleFlush();
  };

  readonly #driver: SocketDriver;
  readonly #options: ResolvedOptions;
  readonly #codecs: readonly MessageCodec[];
  readonly #url: string;
  readonly #protocol: string;
  readonly #extensions: string;
  readonly #role: Role;
  /** legacy (issue 22): the protocol spoken. */
  readonly #version: ProtocolVersion;
  readonly #observer: { pingRoundTrip(ms: number): void } | null;

  /**
   * Per-connection data of your own, so that nobody needs a WeakMap keyed by the connection. On
   * the server it starts as what the `accept` hook (or the `headers` function) handed over as
   * `{ data }`, typed from the hook's return type (see WebSocketServerOptions); undefined
   * otherwise. Free to replace.
   */
  data: Data = undefined as Data;

  #state: WebSocketReadyState = 'open';
  #final: CloseResult | null = null;
  #peerClose: CloseInfo | null = null;
  #terminated = false;
  #errorReported = false;

  // Sending.
  /** Queues are the shared empty NO_QUEUE until something is queued (see own()): most connections never queue. */
  #sendQueue: Fifo<SendJob> = NO_QUEUE;
  #sendBusy = false;
  #queuedBytes = 0;
  /** 'message' listeners running now (a depth: a listener may cause another delivery). */
  #delivering = 0;
  /** Streamed sends queued or running; a reply queued behind one is not waited for (see #enqueue). */
  #streamSends = 0;
  /** The last send queued from a 'message' listener while parsing is held for it (PauseReason.Reply). */
  #replyHold: SendJob | null = null;
  /** The beginMessage() writer whose turn it is, until its message is over. */
  #writer: MessageWriter | null = null;

  // Receiving.
  #inbox: Fifo<QueuedMessage> = NO_QUEUE;
  #inboxBytes = 0;
  #waiters: Fifo<Waiter> = NO_QUEUE;
  #iterators = 0;
  #flushScheduled = false;
  #streaming = false;
  #incoming: Incoming | null = null;
  /**
   * A pull consumer took a message and has not come back for the next one yet: an iterator whose
   * loop body is running ('iterate'), or a receive() or receiveStream() caller ('receive'). While
   * it is set, or messages are queued, the answer to the peer's close waits (#holdCloseReply).
   */
  #pullTaken: 'iterate' | 'receive' | null = null;
  /** Counts takes by receive() while a close answer waits, so that each gets its grace (#graceForTake). */
  #takes = 0;

  // Pings and closing.
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
    this.#options = initOptions(init);
    this.#codecs = init.codecs !== undefined && init.codecs.length > 0 ? init.codecs : NO_CODECS;
    this.#url = init.url ?? '';
    this.#protocol = init.protocol ?? '';
    this.#role = init.role;
    this.#observer = init.observer ?? null;
    this.#extensions = this.#codecs.length === 0 ? '' : this.#codecs.map((c) => c.header).join(', ');
    this.#version = init.version === 'hybi-00' ? 'hybi-00' : 'hybi-13'; // legacy (issue 22)
    this.#driver = new SocketDriver(stream, versionDriverOptions(driverOptions(this.#options, init), this.#version), new WebSocket.#DriverEventsOf(this));
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

  /**
   * Bytes accepted by `send()` but not yet written to the network: queued in the send queue or
   * buffered in the socket. It grows when the peer reads slower than we send.
   */
  get bufferedAmount(): number {
    return this.#queuedBytes + this.#driver.bufferedAmount;
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

  // #send and #sendEncoded mark every promise that may reject with handled(); the fast path
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
      let bytes: Uint8Array;
      let isText: boolean;
      if (typeof data === 'string') {
        const start = checkIndex('start', options?.start, data.length, 0);
        const end = checkIndex('end', options?.end, data.length, data.length);
        bytes = Buffer.from(start === 0 && end === data.length ? data : data.slice(start, end), 'utf8');
        isText = binary !== true;
      } else {
        const view = byteView(data);
        const start = checkIndex('start', options?.start, view.length, 0);
        const end = checkIndex('end', options?.end, view.length, view.length);
        bytes = start === 0 && end === view.length ? view : view.subarray(start, Math.max(start, end));
        isText = binary === false;
        // RFC 6455 section 5.6: a text message's payload is UTF-8; sending anything else would
        // make the peer fail the connection, so it is the caller's error, caught here.
        if (isText && !isUtf8(bytes)) throw new InvalidArgumentError('bytes sent as text are not valid UTF-8');
      }
      const compress = this.#codecs.length > 0 && options?.compress !== false;
      if (!compress && !this.#sendBusy && this.#sendQueue.length === 0) {
        // The fast path: straight to the core and the socket, synchronously, so a reply sent
        // from a 'message' listener leaves before anything the core writes after that message.
        if (typeof fragmentSize === 'function') this.#sendSplit(bytes, isText, fragmentSize, 0);
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

  /** @internal see kSendEncoded. */
  [kSendEncoded](chunks: readonly Uint8Array[], size: number): Promise<void> {
    try {
      return this.#sendEncoded(chunks, size);
    } catch (error) {
      return handled(Promise.reject(error));
    }
  }

  #sendEncoded(chunks: readonly Uint8Array[], size: number): Promise<void> {
    if (this.#role !== 'server') throw new InvalidArgumentError('encoded frames are for the server role (client frames are masked one by one)');
    if (!this.#mayWrite()) return handled(Promise.reject(this.#notOpenError()));
    this.#watchBuffered();
    if (!this.#sendBusy && this.#sendQueue.length === 0) {
      this.#driver.sendEncoded(chunks);
      return this.#driver.whenWritten();
    }
    return handled(this.#enqueue((settle) => ({ ...settle, kind: 'encoded', chunks, size })));
  }

  /**
   * Sends a whole message as frames cut where `size` says (a fragmentSize function); every size is
   * asked for (and checked) before the first frame goes, so a bad answer sends nothing.
   */
  #sendSplit(data: Uint8Array, isText: boolean, size: FragmentSizer, rsv: number): void {
    const ends = fragmentEnds(data, size);
    let start = 0;
    for (let i = 0; i < ends.length; i++) {
      const end = ends[i]!;
      this.#driver.sendFrame(data.subarray(start, end), isText, i === 0, i === ends.length - 1, i === 0 ? rsv : 0);
      start = end;
    }
  }

  /**
   * Data may be sent while open, and after the peer's close while our answer is held for the
   * consumer to catch up (unless we were asked to close meanwhile).
   */
  #mayWrite(): boolean {
    return this.#state === 'open' || (this.#closePromise === null && this.#driver.connection.closeReplyPending);
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

  #enqueue(make: (settle: Settle) => SendJob): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const job = make({ resolve, reject });
      (this.#sendQueue = own(this.#sendQueue)).push(job);
      this.#queuedBytes += job.size;
      if (isOpenEnded(job)) {
        this.#streamSends++;
      } else if (this.#delivering > 0 && this.#streamSends === 0) {
        // A reply from a 'message' listener that cannot go out at once (it is compressed, or
        // waits behind other sends). The core would otherwise go on parsing what followed the
        // message in the same read, and a protocol error or close frame there would be answered
        // (and the connection closed to sends) before this reply: Autobahn's rule is that every
        // message that arrived before the error is answered first. So parsing is held until the
        // reply is handed to the driver (#handedOver). That is bounded: only sends queued during
        // the delivery, none behind a streamed send (which may never end), encoding takes finite
        // time, and waiting for 'drain' comes after the release. The fast path never gets here.
        this.#replyHold = job;
        this.#driver.pause(PauseReason.Reply);
      }
      if (!this.#sendBusy) void this.#pump();
    });
  }

  /** The job's frames are with the driver (or it failed): lift the parsing hold if it was the one held for. */
  #handedOver(job: SendJob): void {
    if (job !== this.#replyHold) return;
    this.#replyHold = null;
    this.#driver.resume(PauseReason.Reply);
  }

  /** Runs queued sends one at a time: the queue is what keeps messages whole and ordered. */
  async #pump(): Promise<void> {
    this.#sendBusy = true;
    try {
      while (this.#sendQueue.length > 0) {
        const job = this.#sendQueue.shift()!;
        this.#queuedBytes -= job.size;
        try {
          await this.#run(job);
          job.resolve();
        } catch (error) {
          job.reject(error);
        } finally {
          if (isOpenEnded(job)) this.#streamSends--;
          this.#handedOver(job);
        }
      }
    } finally {
      this.#sendBusy = false;
    }
  }

  async #run(job: SendJob): Promise<void> {
    const driver = this.#driver;
    if (job.kind === 'close') {
      if (driver.connection.canSendData) this.#startClose(job.code, job.reason, job.timeout);
      return;
    }
    if (job.kind === 'writer') {
      this.#writer = job.writer;
      try {
        await job.writer.start(this.#writerSink());
      } finally {
        this.#writer = null;
      }
      return;
    }
    if (job.kind === 'reply') {
      // Behind every send queued before it: the replies to the messages read before the close.
      driver.replyToClose();
      return;
    }
    if (job.kind === 'encoded') {
      this.#assertSendable();
      driver.sendEncoded(job.chunks);
      this.#handedOver(job);
      await driver.whenWritten();
      return;
    }
    if (job.kind === 'message') {
      let data = job.data;
      let rsv = 0;
      if (job.compress) {
        for (const codec of this.#codecs) {
          const result = await codec.encode(data, job.isText);
          if (result !== null) {
            data = result.data;
            rsv |= result.rsv;
          }
        }
      }
      this.#assertSendable();
      const fragmentSize = job.fragmentSize;
      if (typeof fragmentSize === 'function') this.#sendSplit(data, job.isText, fragmentSize, rsv);
      else driver.sendMessage(data, job.isText, fragmentSize > 0 || rsv !== 0 ? { rsv, fragmentSize: fragmentSize || undefined } : undefined);
      // Parsing may go on now (which may deliver the next message and queue its reply).
      this.#handedOver(job);
      await driver.whenWritten();
      return;
    }
    await this.#runStream(job.source, job.isText, job.fragmentSize);
  }

  async #runStream(source: AsyncIterable<unknown>, binaryHint: boolean | undefined, fragmentSize: number | FragmentSizer): Promise<void> {
    const driver = this.#driver;
    const iterator = source[Symbol.asyncIterator]();
    let isText = binaryHint;
    let first = true;
    let done = false;
    try {
      for (;;) {
        const step = await iterator.next();
        if (step.done === true) {
          done = true;
          break;
        }
        const chunk = step.value;
        let bytes: Uint8Array;
        if (typeof chunk === 'string') bytes = Buffer.from(chunk, 'utf8');
        else if (isByteSource(chunk)) bytes = byteView(chunk);
        else throw new InvalidArgumentError('a streamed message yields strings or bytes');
        isText ??= typeof chunk === 'string';
        if (bytes.length === 0) continue;
        // The chunk's frame sizes are all asked for before its first frame goes (see #sendSplit).
        const ends = fragmentEnds(bytes, fragmentSize);
        this.#assertSendable();
        let offset = 0;
        for (const end of ends) {
          driver.sendFrame(bytes.subarray(offset, end), isText, first, false);
          offset = end;
          first = false;
        }
        // Backpressure: read the source no faster than the socket drains.
        await driver.whenWritten();
      }
      this.#assertSendable();
      // The message ends with an empty final frame: a chunk is sent as soon as it is read, before
      // anyone knows whether it was the last.
      driver.sendFrame(EMPTY, isText ?? false, first, true);
      await driver.whenWritten();
    } catch (error) {
      if (!done) {
        try {
          await iterator.return?.();
        } catch {
          // The source's own cleanup failure is secondary to the error being reported.
        }
      }
      // Half a message is on the wire and cannot be taken back: the only honest end is to fail
      // the connection (1011), so the peer never mistakes a truncated message for a whole one.
      if (!first && driver.connection.canSendData) {
        this.#state = 'closing';
        this.#startClose(1011, 'message stream failed');
      }
      throw error;
    }
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
      this.#queuedBytes += delta;
    });
    if (!this.#mayWrite()) {
      writer.close(this.#notOpenError());
      return writer;
    }
    this.#watchBuffered();
    void this.#enqueue((settle) => ({ ...settle, kind: 'writer', writer, size: 0 })).catch(noop);
    return writer;
  }

  /** How the writer whose turn it is reaches the socket. */
  #writerSink(): MessageWriterSink {
    const driver = this.#driver;
    return {
      frame: (data, isText, first, fin) => {
        this.#assertSendable();
        driver.sendFrame(data, isText, first, fin);
      },
      written: () => driver.whenWritten(),
      failConnection: () => {
        if (!driver.connection.canSendData) return;
        this.#state = 'closing';
        this.#startClose(1011, 'message writer failed');
      },
    };
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
      this.#checkMask('ping', options);
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

  /** ws's `mask` argument: honoured when it is what RFC 6455 section 5.3 prescribes for our role, refused otherwise. */
  #checkMask(method: string, options: unknown): void {
    if (typeof options !== 'boolean' || options === (this.#role === 'client')) return;
    throw new InvalidArgumentError(
      `${method}(data, mask): a ${this.#role} ${this.#role === 'client' ? 'masks every frame' : 'masks no frame'} (RFC 6455 section 5.3), so mask cannot be ${String(options)}`,
    );
  }

  #ping(data: string | Uint8Array | ArrayBuffer | undefined, timeout: number): Promise<number> {
    if (!this.#mayWrite()) return Promise.reject(this.#notOpenError());
    if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
      throw new InvalidArgumentError(`ping timeout must be a non-negative number of ms, got ${String(timeout)}`);
    }
    // Copied: it is compared with the pong later and the caller may reuse its buffer.
    const payload = data === undefined ? EMPTY : typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(byteView(data));
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new InvalidArgumentError(`a ping payload is at most ${MAX_CONTROL_PAYLOAD} bytes, got ${payload.length}`);
    }
    // Listed before it is written: a transport may deliver the pong synchronously.
    const roundTrip = (this.#pings ??= new PingTracker()).add(payload, timeout);
    this.#driver.ping(payload);
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
      this.#checkMask('pong', mask);
      if (this.#state === 'closed') throw this.#notOpenError();
      const payload = given === undefined ? EMPTY : typeof given === 'string' ? Buffer.from(given, 'utf8') : byteView(given);
      if (payload.length > MAX_CONTROL_PAYLOAD) {
        throw new InvalidArgumentError(`a pong payload is at most ${MAX_CONTROL_PAYLOAD} bytes, got ${payload.length}`);
      }
      this.#driver.pong(payload);
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
    this.#driver.ping(EMPTY);
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
  close(code = 1000, reason = '', options?: CloseOptions): Promise<CloseInfo> {
    let timeout: number | undefined;
    try {
      if (options !== undefined) checkOptionNames('close()', optionsObject('close()', options), CLOSE_NAMES);
      timeout = options?.timeout;
      if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout))) {
        throw new InvalidArgumentError(`close timeout must be a non-negative number of ms, got ${String(timeout)}`);
      }
    } catch (error) {
      return handled(Promise.reject(error));
    }
    return this.#close(code, reason, timeout);
  }

  /** @internal the browser's close() without a code: an empty close frame. */
  [kCloseWithoutCode](): Promise<CloseInfo> {
    return this.#close(undefined, '');
  }

  /** @internal */
  [kCloseResult](): CloseResult | null {
    return this.#final;
  }

  /** @internal */
  [kDriverOf](): SocketDriver {
    return this.#driver;
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
      this.#state = 'closing';
      if (!this.#sendBusy && this.#sendQueue.length === 0) this.#startClose(code, reason, timeout);
      else void this.#enqueue((settle) => ({ ...settle, kind: 'close', code, reason, timeout, size: 0 })).catch(noop);
    }
    return this.#closePromise;
  }

  #startClose(code: number | undefined, reason: string, timeout?: number): void {
    try {
      this.#driver.close(code, reason, timeout);
    } catch {
      // Validated beforehand; a core that refuses now is already closing.
    }
  }

  /** Destroys the transport at once, without a closing handshake; 'close' follows with 1006. */
  terminate(): void {
    if (this.#final !== null) return;
    this.#terminated = true;
    this.#state = 'closing';
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
    const queued = this.#inbox.shift();
    if (queued !== undefined) {
      this.#taken('receive');
      this.#consumed(queued);
      try {
        return Promise.resolve(toMessage(queued.data, queued.isText, as));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.#final !== null) return Promise.reject(this.#closedError());
    const waiting = new Promise<Message>((resolve, reject) => {
      (this.#waiters = own(this.#waiters)).push({ kind: 'receive', as, resolve: resolve as Waiter['resolve'], reject });
    });
    this.#cameBack();
    return waiting;
  }

  /**
   * The next message as a Readable of its bytes, with `type` 'text' or 'binary'; for messages
   * too big to hold. The bytes arrive as the frames do (so `maxMessageSize` does not apply; the
   * consumer bounds memory), and while the Readable is full the socket is not read. A message
   * already queued whole comes as one chunk. If the Readable is destroyed early, the rest of its
   * message is discarded. It errors with ConnectionClosedError if the connection closes midway.
   */
  receiveStream(): Promise<MessageReadable> {
    const queued = this.#inbox.shift();
    if (queued !== undefined) {
      this.#taken('receive');
      this.#consumed(queued);
      return Promise.resolve(this.#wholeStream(queued.data, queued.isText));
    }
    if (this.#final !== null) return Promise.reject(this.#closedError());
    const waiting = new Promise<MessageReadable>((resolve, reject) => {
      (this.#waiters = own(this.#waiters)).push({ kind: 'stream', resolve: resolve as Waiter['resolve'], reject });
      this.#updateStreaming();
    });
    this.#cameBack();
    return waiting;
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
    let reader: FragmentReader;
    const queued = this.#inbox.shift();
    if (queued !== undefined) {
      this.#taken('receive');
      this.#consumed(queued);
      reader = new FragmentReader(Number.POSITIVE_INFINITY, noop, noop);
      reader.push(asBuffer(queued.data), queued.isText, true);
      return reader;
    }
    reader = new FragmentReader(
      streamHighWaterMark(this.#options.receiveHighWaterMark),
      () => {
        if (this.#incoming?.reader === reader) this.#driver.resume(PauseReason.Stream);
      },
      () => {
        // Given up by its reader: the rest of its message is discarded and no longer holds the socket.
        if (this.#incoming?.reader === reader) this.#driver.resume(PauseReason.Stream);
      },
    );
    if (this.#final !== null) {
      reader.fail(this.#closedError());
      return reader;
    }
    (this.#waiters = own(this.#waiters)).push({ kind: 'fragments', reader, resolve: noop, reject: (error) => reader.fail(error) });
    this.#updateStreaming();
    this.#cameBack();
    return reader;
  }

  /**
   * Iterates the messages in order until the connection closes. While an iterator is active,
   * every message goes to it (or to other pull calls), not to 'message' listeners. It ends
   * quietly on any close, unless propagateErrors is set and the close was not normal (1000,
   * 1001 or 1005), in which case it throws ConnectionClosedError.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Message> {
    let finished = false;
    this.#iterators++;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.#iterators--;
      // A loop that ended (break, return) will send no more replies to what it took.
      if (this.#pullTaken === 'iterate') this.#cameBack();
      this.#scheduleFlush();
    };
    const iterator: AsyncIterableIterator<Message> = {
      next: (): Promise<IteratorResult<Message>> => {
        if (finished) return Promise.resolve({ done: true, value: undefined });
        const queued = this.#inbox.shift();
        if (queued !== undefined) {
          this.#taken('iterate');
          this.#consumed(queued);
          return Promise.resolve({ done: false, value: toMessage(queued.data, queued.isText) });
        }
        if (this.#final !== null) {
          finish();
          const error = this.#iterationError();
          return error === null ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(error);
        }
        const waiting = new Promise<IteratorResult<Message>>((resolve, reject) => {
          (this.#waiters = own(this.#waiters)).push({
            kind: 'iterate',
            resolve: (value) => {
              const result = value as IteratorResult<Message>;
              if (result.done === true) finish();
              resolve(result);
            },
            reject: (error) => {
              finish();
              reject(error);
            },
          });
        });
        // The loop came back for more: its body has sent whatever it sends for the last message.
        this.#cameBack();
        return waiting;
      },
      return: (): Promise<IteratorResult<Message>> => {
        finish();
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  #iterationError(): Error | null {
    const final = this.#final!;
    if (!this.#options.propagateErrors || this.#terminated || (final.wasClean && isNormalClose(final.code))) return null;
    return this.#closedError();
  }

  #closedError(): ConnectionClosedError {
    const final = this.#final!;
    return new ConnectionClosedError(final.code, final.reason, final.wasClean);
  }

  #pullActive(): boolean {
    return this.#waiters.length > 0 || this.#iterators > 0;
  }

  #onMessage(data: Uint8Array, isText: boolean): void {
    this.#deliver(data, isText);
  }

  // The answer to the peer's close (RFC 6455 section 5.5.1: an endpoint may send its remaining
  // data before answering). A pull consumer takes messages after the read that held them was
  // parsed, so a close in the same read would otherwise be answered, and the connection closed
  // to sends, before its replies: they would be lost. The answer is held while messages read
  // before the close are queued or a consumer that took one has not come back for the next; it
  // then goes behind the sends queued meanwhile. The driver bounds the wait with closeTimeout.

  /** The peer's close frame is arriving: hold the answer? */
  #holdCloseReply(): boolean {
    const hold = this.#inbox.length > 0 || this.#pullTaken !== null;
    if (hold && this.#pullTaken === 'receive') this.#graceForTake();
    return hold;
  }

  /** A pull consumer took a message (it may send a reply before it comes back). */
  #taken(by: 'iterate' | 'receive'): void {
    this.#pullTaken = by;
    if (by === 'receive' && this.#driver.connection.closeReplyPending) this.#graceForTake();
  }

  /**
   * A receive() caller may never call again: its reply is expected within the continuations of
   * the take (microtasks), so the take counts until the next macrotask.
   */
  #graceForTake(): void {
    const take = ++this.#takes;
    setImmediate(() => {
      if (take === this.#takes && this.#pullTaken === 'receive') this.#cameBack();
    });
  }

  /** The consumer came back (or will not): answer the peer's close if nothing else is pending. */
  #cameBack(): void {
    this.#pullTaken = null;
    if (!this.#driver.connection.closeReplyPending || this.#inbox.length > 0) return;
    if (!this.#sendBusy && this.#sendQueue.length === 0) this.#driver.replyToClose();
    else void this.#enqueue((settle) => ({ ...settle, kind: 'reply', size: 0 })).catch(noop);
  }

  /** Routes one whole message to exactly one consumer (the rules at the top of this file). */
  #deliver(data: Uint8Array, isText: boolean): void {
    this.#dropCancelled();
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#pullTaken = waiter.kind === 'iterate' ? 'iterate' : 'receive';
      if (waiter.kind === 'stream') waiter.resolve(this.#wholeStream(data, isText));
      else if (waiter.kind === 'iterate') waiter.resolve({ done: false, value: toMessage(data, isText) });
      else if (waiter.kind === 'fragments') waiter.reader!.push(asBuffer(data), isText, true);
      else if (waiter.as === 'text' && !isText && !isUtf8(data)) {
        // Only this call fails: the message was valid binary, the connection goes on.
        waiter.reject(new NotUtf8Error(asBuffer(data)));
      } else waiter.resolve(toMessage(data, isText, waiter.as));
      this.#updateStreaming();
      return;
    }
    if (this.#iterators === 0 && this.#inbox.length === 0 && this.listenerCount('message') > 0) {
      this.#emitMessage(data, isText);
      return;
    }
    // A queued message may wait long: as a small view it would keep its whole socket chunk
    // alive, and the high-water mark (which counts message bytes) would not see that memory.
    if (data.byteLength * 2 < data.buffer.byteLength) data = Uint8Array.prototype.slice.call(data);
    (this.#inbox = own(this.#inbox)).push({ data, isText });
    this.#inboxBytes += data.length;
    const options = this.#options;
    if (this.#inboxBytes > options.receiveHighWaterMark || this.#inbox.length > options.receiveHighWaterMessages) {
      // A slow pull consumer: stop reading, so TCP pushes back on the peer instead of memory growing.
      this.#driver.pause(PauseReason.Queue);
    }
  }

  #consumed(message: QueuedMessage): void {
    this.#inboxBytes -= message.data.length;
    if (this.#driver.isPaused(PauseReason.Queue)) {
      const options = this.#options;
      // Resume at half the marks, so a consumer hovering at the mark does not flap the socket.
      if (this.#inboxBytes <= options.receiveHighWaterMark / 2 && this.#inbox.length <= options.receiveHighWaterMessages / 2) {
        this.#driver.resume(PauseReason.Queue);
      }
    }
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

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#inbox.length === 0) return;
    this.#flushScheduled = true;
    queueMicrotask(() => {
      this.#flushScheduled = false;
      while (this.#inbox.length > 0 && !this.#pullActive() && this.listenerCount('message') > 0) {
        const queued = this.#inbox.shift()!;
        this.#consumed(queued);
        this.#emitMessage(queued.data, queued.isText);
      }
      // The listeners took the queue (their replies are sent or queued): a held close answer may go.
      if (this.#inbox.length === 0 && this.#pullTaken === null) this.#cameBack();
    });
  }

  /** receiveFragments() iterators given up before their message came take none. */
  #dropCancelled(): void {
    for (let first = this.#waiters.peek(); first?.kind === 'fragments' && first.reader!.cancelled; first = this.#waiters.peek()) {
      this.#waiters.shift();
    }
  }

  /** Streaming mode is on exactly when the next message will go to a receiveStream() or receiveFragments() call. */
  #updateStreaming(): void {
    this.#dropCancelled();
    const first = this.#waiters.peek();
    const wanted = this.#inbox.length === 0 && first !== undefined && (first.kind === 'stream' || first.kind === 'fragments');
    if (wanted !== this.#streaming && this.#final === null) {
      this.#streaming = wanted;
      this.#driver.connection.setStreaming(wanted);
    }
  }

  #wholeStream(data: Uint8Array, isText: boolean): MessageReadable {
    const stream = new MessageStream(isText ? 'text' : 'binary', Math.max(1, this.#options.receiveHighWaterMark), noop, noop);
    if (data.length > 0) stream.push(asBuffer(data));
    stream.push(null);
    return stream;
  }

  #onFragment(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void {
    if (first) {
      this.#dropCancelled();
      const waiter = this.#waiters.peek();
      if (waiter !== undefined && waiter.kind === 'fragments') {
        this.#waiters.shift();
        this.#pullTaken = 'receive';
        this.#incoming = { stream: null, reader: waiter.reader!, chunks: null, size: 0 };
        this.#updateStreaming();
      } else if (waiter !== undefined && waiter.kind === 'stream') {
        this.#waiters.shift();
        this.#pullTaken = 'receive';
        const stream: MessageStream = new MessageStream(
          isText ? 'text' : 'binary',
          streamHighWaterMark(this.#options.receiveHighWaterMark),
          () => this.#driver.resume(PauseReason.Stream),
          () => {
            // Destroyed early by its reader, or ended: either way it no longer holds the socket.
            if (this.#incoming?.stream === stream) this.#driver.resume(PauseReason.Stream);
          },
        );
        this.#incoming = { stream, chunks: null, size: 0 };
        waiter.resolve(stream);
        this.#updateStreaming();
      } else {
        // Defensive: streaming mode with no stream consumer; gather it into a whole message.
        this.#incoming = { stream: null, chunks: [], size: 0 };
      }
    }
    const incoming = this.#incoming;
    if (incoming === null) return;
    const reader = incoming.reader;
    if (reader !== undefined && reader !== null) {
      if (!reader.cancelled) {
        // Copied when a small view of a large read, as for a message stream (below).
        if (data.byteLength * 2 < data.buffer.byteLength) data = Uint8Array.prototype.slice.call(data);
        if (!reader.push(asBuffer(data), isText, fin)) this.#driver.pause(PauseReason.Stream);
      }
      if (fin) {
        this.#incoming = null;
        this.#driver.resume(PauseReason.Stream);
      }
      return;
    }
    if (incoming.stream !== null) {
      const stream = incoming.stream;
      if (!stream.destroyed) {
        // A small piece of a large read would keep the whole read alive while the stream counts
        // only the piece (a peer could pin a read per byte): copied, as a queued message is.
        if (data.byteLength * 2 < data.buffer.byteLength) data = Uint8Array.prototype.slice.call(data);
        if (data.length > 0 && !stream.push(asBuffer(data))) this.#driver.pause(PauseReason.Stream);
        if (fin) stream.push(null);
      }
      if (fin) {
        this.#incoming = null;
        this.#driver.resume(PauseReason.Stream);
      }
      return;
    }
    incoming.chunks!.push(data);
    incoming.size += data.length;
    if (incoming.size > this.#options.maxMessageSize) {
      this.#incoming = null;
      this.#state = 'closing';
      this.#startClose(1009, `message of more than ${this.#options.maxMessageSize} bytes (maxMessageSize)`);
      return;
    }
    if (fin) {
      this.#incoming = null;
      this.#deliver(Buffer.concat(incoming.chunks!, incoming.size), isText);
    }
  }

  // The end.

  #onPeerClose(code: number, reason: string): void {
    this.#peerClose = { code, reason };
    if (this.#state === 'open') this.#state = 'closing';
  }

  #onProtocolError(error: ProtocolError): void {
    publishError(this, this.#role, error);
    if (this.#state === 'open') this.#state = 'closing';
    // A full send buffer is reported by the send() that found it (its promise rejects), like the
    // other bounds on a peer that went quiet; 'error' only when asked for.
    if (error instanceof SendBufferFullError && !this.#options.propagateErrors) return;
    this.#emitError(error);
  }

  #onIdle(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    if (errorChannel.hasSubscribers) publishError(this, this.#role, new IdleTimeoutError(this.#options.idleTimeout));
    if (this.#options.propagateErrors) {
      this.#errorReported = true;
      this.#emitError(new IdleTimeoutError(this.#options.idleTimeout));
    }
    // Straight to the core, past queued sends: a peer silent this long is not reading them.
    this.#startClose(1001, 'idle timeout');
  }

  #onClosed(result: CloseResult): void {
    this.#final = result;
    this.#state = 'closed';
    const closedError = (): ConnectionClosedError => new ConnectionClosedError(result.code, result.reason, result.wasClean);

    this.#pings?.closeAll(closedError);
    this.#pings = null;

    this.#writer?.close(closedError());
    for (let job = this.#sendQueue.shift(); job !== undefined; job = this.#sendQueue.shift()) {
      if (isOpenEnded(job)) this.#streamSends--;
      if (job.kind === 'writer') job.writer.close(closedError());
      job.reject(closedError());
    }
    this.#queuedBytes = 0;
    this.#replyHold = null;

    const incoming = this.#incoming;
    this.#incoming = null;
    if (incoming?.stream && !incoming.stream.destroyed && !incoming.stream.readableEnded) {
      incoming.stream.destroy(closedError());
    }
    incoming?.reader?.fail(closedError());
    for (let waiter = this.#waiters.shift(); waiter !== undefined; waiter = this.#waiters.shift()) {
      if (waiter.kind === 'iterate') {
        const error = this.#iterationError();
        if (error === null) waiter.resolve({ done: true, value: undefined });
        else waiter.reject(error);
      } else {
        waiter.reject(closedError());
      }
    }

    // Expected endings are 'error' events only when asked for (propagateErrors). A protocol
    // error was reported when it happened; terminate() is the user's own doing.
    if (this.#options.propagateErrors && !this.#errorReported && !this.#terminated && !result.wasClean && !(result.error instanceof ProtocolError)) {
      this.#emitError(this.#endingError(result));
    }

    const settle = this.#closeSettle;
    this.#closeSettle = null;
    if (settle !== null) {
      if (result.error instanceof CloseTimeoutError) settle.reject(result.error);
      else settle.resolve({ code: result.code, reason: result.reason });
    }
    // A protocol error was published when it happened (#onProtocolError).
    if (result.error !== null && !(result.error instanceof ProtocolError)) publishError(this, this.#role, result.error);
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
      this.#state = 'closing';
      if (!this.#sendBusy && this.#sendQueue.length === 0) this.#startClose(1011, 'internal error');
      else void this.#enqueue((settle) => ({ ...settle, kind: 'close', code: 1011, reason: 'internal error', timeout: undefined, size: 0 })).catch(noop);
    }
  }
}

/** A received message as `receive()` gives it; `as` forces the type (NotUtf8Error for binary that is not UTF-8). */
function toMessage(data: Uint8Array, isText: boolean, as?: 'text' | 'binary'): Message {
  const buffer = asBuffer(data);
  if (as === 'text' && !isText && !isUtf8(buffer)) throw new NotUtf8Error(buffer);
  const text = as === undefined ? isText : as === 'text';
  return text ? { type: 'text', data: buffer.toString('utf8') } : { type: 'binary', data: buffer };
}

/** `queue` itself, or a new queue in place of the shared empty one: call it before pushing. */
function own<T>(queue: Fifo<T>): Fifo<T> {
  return queue === NO_QUEUE ? new Fifo<T>() : queue;
}

/**
 * A first-in first-out queue with O(1) shift (an array's shift is O(n) once it is long). A
 * connection gets one only when it first queues something (see own); its array is kept, emptied,
 * once drained, so that queueing does not allocate per message.
 */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    const items = this.items;
    if (this.head >= items.length) return undefined;
    const item = items[this.head];
    items[this.head++] = undefined;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** The queue of every connection with nothing queued: never pushed to (see own). */
const NO_QUEUE: Fifo<never> = new Fifo<never>();
