/**
 * The connection object every user holds, on the client and the server side alike. It takes an
 * already-upgraded Duplex and a role (the handshake is not its business) and offers events,
 * ordered pull (`receive()`, `for await`, `receiveStream()`), sends that never interleave two
 * messages' fragments, ping with pong matching, and the closing handshake.
 *
 * This file is the facade: what a connection is (URL, protocol, extensions, transport, version)
 * and sending. It is the top layer of one class, each layer in its own file, so that a connection
 * stays one object: pinging.ts (ping, pong, keep-alive), on receiving.ts (pull calls, 'message'
 * events), on closing.ts (the close state, close(), terminate(), the held answer to the peer's
 * close, the ending), on websocket-emitter.ts (events and listener failures). The work is done
 * by the units they wire, each made only when first needed: the send queue (send-queue.ts: sends
 * that must wait), the receive queue (receive-queue.ts: queued messages, pull consumers, the hold
 * on the answer to the peer's close) and the ping books (ping-tracker.ts). The driver
 * (node/driver.ts) reads and writes the socket and reports to the WebSocket itself (DriverEvents,
 * symbol-keyed methods: no forwarding object between them).
 */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { PreparedFrame } from '../core/prepared-frame.js';
import { hubOf, topicsOf } from './topics/hub.js';
import type { SubscribeOptions } from './topics/types.js';
import { InvalidArgumentError } from '../core/errors.js';
import { backpressureChannel, noteAboveMark, noteBuffered, publishOpen } from '../node/diagnostics.js';
import type { MessageCodec } from '../node/message-codec.js';
import { isAsyncIterable, isByteSource } from './bytes.js';
import { BEGIN_MESSAGE_NAMES, handled, messageBytes, SEND_HINTS, SEND_NAMES, sendOptionNamesKnown } from './call-arguments.js';
import { driverOptions, initOptions, type ConnectionInit } from './connection-init.js';
import { connectionFacts } from './connection-facts.js'; // issue 24, idle memory
import { connectionInternals } from './connection-internals.js';
import { checkFragmentSize } from './fragment-size.js';
import { MessageWriter, type BeginMessageOptions } from './message-writer.js';
import { checkOptionNames, DEFAULT_FRAGMENT_SIZE, optionsObject } from './options.js';
import { ownerCodecs } from './owner-keys.js';
import { WebSocketPings } from './pinging.js';
import { streamPair, type WebSocketStreamPair } from './stream-pair.js';
import { sendSplit, SendQueue } from './send-queue.js';
import type { MessageListenerArgs, SendCallback, SendData, SendOptions, WebSocketEvents, WebSocketInit, WebSocketReadyState } from './websocket-types.js';
import { hybi00SendRefusal, hybi00Unsupported, supportsPayloadType, versionDriverOptions, type ProtocolVersion } from './legacy.js'; // legacy (issue 22)

export type { MessageCodec } from '../node/message-codec.js';
export type { WebSocketOptions } from './options.js';
export type * from './websocket-types.js';

const noop = (): void => {};

/** The URL string of the last connection made (see sharedUrl). */
let lastUrl = '';

/**
 * `url`, or an equal string already held: each request brings its own copy of the path, while the
 * connections of a server mostly share a few, so an equal one is kept once (issue 24, idle memory:
 * 24 bytes and more per connection).
 */
function sharedUrl(url: string): string {
  if (url === lastUrl) return lastUrl;
  return (lastUrl = url);
}


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
export class WebSocket<Data = unknown> extends WebSocketPings {
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

  static {
    connectionInternals.sendPrepared = (ws, frame) => {
      try {
        return ws.#sendPrepared(frame);
      } catch (error) {
        return handled(Promise.reject(error));
      }
    };
    connectionInternals.pendingWrite = (ws) => (ws.driver.bufferedAmount > 0 ? ws.driver.whenWritten() : null); // topics hook (issue 24)
    connectionInternals.closeWithoutCode = (ws) => ws.closeWith(undefined, '');
    connectionInternals.closeResult = (ws) => ws.final;
    connectionInternals.answerHeld = (ws) => ws.answerHeld;
    connectionInternals.driver = (ws) => ws.driver;
  }

  /** Messages queued while nobody listened go to a 'message' listener as soon as one is added (shared by every connection). */
  static readonly #onNewListener = function (this: WebSocket, event: string | symbol): void {
    if (event === 'message') this.receiver?.scheduleFlush();
  };

  readonly #url: string;
  // issue 24, idle memory: what the connections of a server share is kept in one shared object
  // (connection-facts.ts); the codecs are the driver's; the private names stay, as accessors.
  /** The negotiated extension codecs. */
  get #codecs(): readonly MessageCodec[] {
    return this.driver.codecs;
  }

  get #protocol(): string {
    return this.facts.protocol;
  }

  /** The Sec-WebSocket-Extensions value the codecs came from ('' without any). */
  get #extensions(): string {
    const codecs = this.#codecs;
    return codecs.length === 0 ? '' : codecs.map((c) => c.header).join(', ');
  }

  /** legacy (issue 22): the protocol spoken. */
  get #version(): ProtocolVersion {
    return this.facts.version;
  }

  // http2 hook: the handshake's transport (ws.transport) and terminate()'s RST_STREAM CANCEL.
  get #transport(): 'http1' | 'http2' {
    return this.facts.transport;
  }

  /**
   * Per-connection data of your own, so that nobody needs a WeakMap keyed by the connection. On
   * the server it starts as what the `accept` hook (or the `headers` function) handed over as
   * `{ data }`, typed from the hook's return type (see WebSocketServerOptions); undefined
   * otherwise. Free to replace.
   */
  data: Data = undefined as Data;

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
    // connect() and the server pass more than the public init (connection-init.ts).
    const given: ConnectionInit = init;
    const options = initOptions(given);
    const version = init.version === 'hybi-00' ? 'hybi-00' : 'hybi-13'; // legacy (issue 22)
    // The closing layer makes the driver, which reports to this object (DriverEvents).
    const forDriver = versionDriverOptions(driverOptions(options, given), version);
    // http2 hook: the transport; issue 24, idle memory: the facts a server's connections share.
    const facts = connectionFacts(options, forDriver.role, version, given.transport ?? 'http1', given.observer ?? null, init.protocol ?? '');
    super(stream, facts, forDriver);
    this.#url = sharedUrl(init.url ?? '');
    // Messages queued while nobody listened go to a 'message' listener as soon as one is added.
    (this as EventEmitter).on('newListener', WebSocket.#onNewListener);
    const head = init.head;
    const start = (): void => {
      if (this.state === 'open') {
        publishOpen(this, this.role, this.driver.stream, this.#protocol, this.#extensions, this.#url);
        this.safeEmit('open');
      }
      this.driver.start(head);
    };
    if (given.startThisTurn === true) process.nextTick(start);
    else setImmediate(start);
  }

  /** 'open', then 'closing' once a close frame was sent or received, 'closed' once the transport is gone. */
  get readyState(): WebSocketReadyState {
    return this.state;
  }

  /**
   * How the WebSocket was set up: 'http1', an HTTP/1.1 Upgrade on its own TCP connection, or
   * 'http2', an extended CONNECT (RFC 8441) on one stream of a shared HTTP/2 connection (then
   * `socket` is that Http2Stream). (http2 hook)
   */
  override get transport(): 'http1' | 'http2' {
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
    return (this.sender?.queuedBytes ?? 0) + this.driver.bufferedAmount;
  }

  /** The close code once closed (see the 'close' event); null before. */
  get closeCode(): number | null {
    return this.final?.code ?? null;
  }

  /** The close reason once closed; null before. */
  get closeReason(): string | null {
    return this.final?.reason ?? null;
  }

  /**
   * The protocol version spoken: 'hybi-13', RFC 6455's (Sec-WebSocket-Version: 13), as
   * websocket-driver's `version` names it; 'hybi-00' for a legacy draft-hixie-76 peer (see
   * docs/legacy.md).
   */
  override get version(): ProtocolVersion {
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
    return this.driver.stream;
  }

  /**
   * Holds outgoing frames until the matching `uncork()`, so frames sent in between leave in one
   * write (one system call, one TCP segment when small). Calls nest; `uncork()` must be called as
   * often. Held output of 64 KiB or more is written anyway, and pongs and pings wait too, so uncork
   * soon (typically in the same tick). A send's promise resolves only after its bytes were
   * written, so do not await a send while corked. Closing (ours or the peer's) uncorks.
   */
  cork(): void {
    if (this.final === null) this.driver.cork();
  }

  /** Ends one `cork()`; the last one writes what was held. Extra calls do nothing. */
  uncork(): void {
    this.driver.uncork();
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
      if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options) || !sendOptionNamesKnown(options))) {
        checkOptionNames('send()', optionsObject('send()', options), SEND_NAMES, SEND_HINTS);
      }
      promise = this.#send(data, options);
    } catch (error) {
      promise = handled(Promise.reject(error));
    }
    if (callback !== undefined) this.callBack(promise, callback);
    return promise;
  }


  // #send and #sendPrepared mark every promise that may reject with handled(); the fast path
  // returns the driver's as is (already marked): no second promise per message.
  #send(data: SendData, options: SendOptions | undefined): Promise<void> {
    if (!this.mayWrite()) return handled(Promise.reject(this.notOpenError()));
    const refused = this.facts.version === 'hybi-00' ? hybi00SendRefusal(data, options) : null; // legacy (issue 22); idle memory: not through the accessor on every send
    if (refused !== null) return handled(Promise.reject(refused));
    this.#watchBuffered();
    const fragmentSize = options?.fragmentSize;
    if (fragmentSize !== undefined) checkFragmentSize(fragmentSize);
    const binary = options?.binary;
    if (typeof data === 'string' || isByteSource(data)) {
      const isText = typeof data === 'string' ? binary !== true : binary === false;
      let bytes = messageBytes(data, options);
      const compress = this.driver.codecs.length > 0 && options?.compress !== false; // idle memory: the driver's, not through the accessor
      if (!compress && this.sendIdle()) {
        // The fast path: straight to the core and the socket, synchronously, so a reply sent
        // from a 'message' listener leaves before anything the core writes after that message.
        if (typeof fragmentSize === 'function') sendSplit(this.driver, bytes, isText, fragmentSize, 0);
        else this.driver.sendMessage(bytes, isText, fragmentSize === undefined ? undefined : { fragmentSize });
        return this.driver.whenWritten();
      }
      // Queued, the bytes are read later (by the codec, or once the sends ahead are done), so they
      // are copied now: the message is what the caller gave even if the buffer changes after
      // send() returns. Next to deflating or waiting in the queue the copy is cheap; a string's
      // bytes are ours already, and the fast path above copies nothing.
      if (typeof data !== 'string') bytes = new Uint8Array(bytes);
      return handled(
        this.enqueue((resolve, reject) => ({
          resolve,
          reject,
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
        this.enqueue((resolve, reject) => ({
          resolve,
          reject,
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

  #sendPrepared(frame: PreparedFrame): Promise<void> | undefined {
    if (this.role !== 'server') throw new InvalidArgumentError('encoded frames are for the server role (client frames are masked one by one)');
    if (!this.mayWrite()) return handled(Promise.reject(this.notOpenError()));
    this.#watchBuffered();
    if (this.sendIdle()) {
      this.driver.sendPrepared(frame); // topics hook (issue 20): the core checks the frame
      return undefined; // issue 24: no promise per delivery (see ConnectionInternals.sendPrepared)
    }
    return handled(this.enqueue((resolve, reject) => ({ resolve, reject, kind: 'encoded', frame, size: frame.size })));
  }

  /**
   * Much is waiting to be written: a burst of sends, or a peer that does not read. The driver
   * tells them apart by progress (watchStall) and fails only the second, with 1008.
   */
  #watchBuffered(): void {
    const limit = this.options.maxBufferedAmount;
    if (this.bufferedAmount > limit) {
      this.driver.watchStall(limit, this.options.stallTimeout);
      noteAboveMark(this, this.role, this.driver.stream, limit);
    } else if (backpressureChannel.hasSubscribers) noteBuffered(this);
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
      (this.sender ??= new SendQueue(this)).queuedBytes += delta;
    });
    if (!this.mayWrite()) {
      writer.close(this.notOpenError());
      return writer;
    }
    this.#watchBuffered();
    void this.enqueue((resolve, reject) => ({ resolve, reject, kind: 'writer', writer, size: 0 })).catch(noop);
    return writer;
  }




  /**
   * The connection as WHATWG streams, the shape of WebSocketStream's `opened` plus `closed` and
   * `close()`; reading stops reading the socket when the reader stops (src/api/stream-pair.ts).
   */
  stream(): WebSocketStreamPair {
    return streamPair(this);
  }

  // What the send queue needs of the connection (SendQueueOwner; the rest is in closing.ts).

  /** @internal */
  get [ownerCodecs](): readonly MessageCodec[] {
    return this.#codecs;
  }
}
