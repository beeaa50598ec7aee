/**
 * The browser flavour of ReconnectingWebSocket (exported from `hybi/browser` under that name):
 * the interface of the browser-compatible WebSocket (an EventTarget with onopen/onmessage/
 * onclose/onerror, MessageEvent data per `binaryType`, numeric readyState, close(code, reason)
 * with the browser's checks) on an object that outlives its connections, as users of
 * reconnecting-websocket and partysocket know it: 'open' and 'close' per connection, `retryCount`,
 * `reconnect()`.
 *
 * It adds no reconnection logic of its own: it runs the Node ReconnectingWebSocket (the engine's
 * backoff, ending table, liveness, queue and onReconnect hook) and translates its events with
 * the browser class's translation (browser-translate.ts).
 */
import { ConnectionClosedError, WebSocketError } from '../core/errors.js';
import { BrowserEventTarget } from './browser-event-target.js';
import { CloseEvent, ErrorEvent, errorEvent, toUSVString, type BinaryType, type BrowserSendData } from './browser-events.js';
import { checkCloseArguments, closeEvents, messageData } from './browser-translate.js';
import type { ReconnectURL } from './reconnect/engine.js';
import { ReconnectingWebSocket, type ReconnectingWebSocketOptions, type SendResult } from './reconnecting-websocket.js';
import type { WebSocket } from './websocket.js';

/** The second constructor argument: subprotocols, or the options of the Node ReconnectingWebSocket (with `protocols`). */
export type BrowserReconnectingInit = string | string[] | ReconnectingWebSocketOptions;

/** The error of an ending that came without a close of an open connection, as an 'error' event. */
function failureEvent(error: unknown): ErrorEvent {
  if (error instanceof WebSocketError) return errorEvent(error);
  return new ErrorEvent('error', { error, message: error instanceof Error ? error.message : String(error) });
}

/**
 * A browser-style WebSocket that survives drops (docs/client.md "Reconnection"). Each connection
 * fires 'open' and, when it ends, 'close' (after 'error' when it was not clean), and the next
 * attempt follows unless the ending table says stop; a failed attempt fires 'error' then 'close'
 * (1006), as a browser WebSocket that cannot connect does. Sends while disconnected wait in the
 * queue. `close()` ends it for good.
 */
export class BrowserReconnectingWebSocket extends BrowserEventTarget {
  readonly #inner: ReconnectingWebSocket;
  readonly #url: string;
  #origin = '';
  #binaryType: BinaryType = 'blob';
  /** The connection being set up or open, from the moment onReconnect sees it until it closes. */
  #current: WebSocket | null = null;
  #retryCount = 0;
  /** Set by reconnect(): the next close of a connection reconnects at once, whatever its code. */
  #forced = false;

  /**
   * Starts connecting to `url` (fixed, or a function called per attempt) on the next turn.
   * `init` is subprotocols, or every option of the Node ReconnectingWebSocket (backoff, ending
   * table, liveness, queue, onReconnect and connect() options); as the browser class,
   * permessage-deflate is offered and connect()'s own keep-alive pings and idle timeout are off
   * by default (the engine's `liveness` pings watch the link). Throws InvalidArgumentError or
   * InvalidURLError for bad options or a URL that cannot be dialed, before anything is dialed.
   */
  constructor(url: ReconnectURL, init?: BrowserReconnectingInit) {
    super();
    const options: ReconnectingWebSocketOptions =
      typeof init === 'object' && init !== null && !Array.isArray(init) ? { ...init } : init === undefined ? {} : { protocols: init };
    const { onReconnect, shouldReconnect } = options;
    this.#url = typeof url === 'function' ? '' : String(url);
    this.#inner = new ReconnectingWebSocket(url, {
      compress: true,
      pingInterval: 0,
      idleTimeout: 0,
      ...options,
      onReconnect: async (ws) => {
        this.#current = ws;
        await onReconnect?.(ws);
      },
      shouldReconnect: (ending, decision) => {
        if (this.#forced && ending.type === 'close') {
          this.#forced = false;
          return 'now';
        }
        return shouldReconnect?.(ending, decision);
      },
    });
    const inner = this.#inner;
    inner.on('open', (ws) => {
      this.#origin = new URL(ws.url).origin;
      this.dispatchEvent(new Event('open'));
    });
    inner.on('message', (data, isBinary) => {
      // As a browser: a message is delivered only while OPEN (not during onReconnect, nor once closing).
      if (this.readyState !== this.OPEN) return;
      this.dispatchEvent(new MessageEvent('message', { data: messageData(data, isBinary, this.#binaryType), origin: this.#origin }));
    });
    inner.on('close', (code, reason) => {
      const ws = this.#current;
      this.#current = null;
      // A connection that closed before onReconnect saw it: only its code and reason are known.
      const events = ws !== null ? closeEvents(ws) : [new CloseEvent('close', { wasClean: false, code, reason })];
      for (const event of events) this.dispatchEvent(event);
    });
    inner.on('reconnecting', (info) => {
      this.#retryCount = info.attempt;
      // A failed attempt is a WebSocket that could not connect: error, then close 1006.
      if (info.ending.type !== 'close') this.#fail(info.ending.error);
    });
    inner.on('end', (error) => {
      // A close that stops or gave up was announced by its own 'close'; a last failed attempt was not.
      if (error !== undefined && !(error instanceof ConnectionClosedError)) this.#fail(error);
    });
  }

  #fail(error: unknown): void {
    this.dispatchEvent(failureEvent(error));
    this.dispatchEvent(new CloseEvent('close', { wasClean: false, code: 1006, reason: '' }));
  }

  /** The URL given (the current connection's when the URL is a function; '' before the first). */
  get url(): string {
    return this.#current?.url ?? this.#url;
  }

  /** CONNECTING (0) between connections, OPEN (1), CLOSING (2) while a close is under way, CLOSED (3) for good. */
  get readyState(): number {
    switch (this.#inner.readyState) {
      case 'connecting':
        return this.CONNECTING;
      case 'open':
        return this.#inner.ws?.readyState === 'open' ? this.OPEN : this.CLOSING;
      case 'closing':
        return this.CLOSING;
      case 'closed':
        return this.CLOSED;
    }
  }

  /** The subprotocol the current connection's server selected ('' between connections, or if none). */
  get protocol(): string {
    return this.#inner.ws?.protocol ?? '';
  }

  /** The extensions of the current connection ('' between connections, or if none). */
  get extensions(): string {
    return this.#inner.ws?.extensions ?? '';
  }

  /** How binary messages are given to 'message' listeners: 'blob' (the default), 'arraybuffer' or 'nodebuffer'. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  /** Bytes waiting: those in the queue and those the current connection has not written yet. */
  get bufferedAmount(): number {
    return this.#inner.bufferedAmount;
  }

  /** Messages waiting in the queue for a connection. */
  get queuedMessages(): number {
    return this.#inner.queuedMessages;
  }

  /**
   * Connection attempts already made in the current outage, as of the last wait (0 before any).
   * The engine's count: it starts again once a connection stayed open `minUptime`.
   */
  get retryCount(): number {
    return this.#retryCount;
  }

  /** Resolves once reconnecting is over for good (after close(), a close that stops, or giving up). */
  get ended(): Promise<void> {
    return this.#inner.ended;
  }

  /**
   * Sends a whole message: a string as text, an ArrayBuffer or a view as binary (copied now).
   * Unlike a browser WebSocket it never throws while CONNECTING: the message is queued for the
   * next connection. Returns 'sent', 'queued' or 'dropped' (queue full under 'drop-newest', or
   * after close()); a full queue under 'reject' throws SendQueueFullError. A Blob is a TypeError:
   * its bytes come asynchronously, and a queue cannot hold a promise of bytes.
   */
  send(data: Exclude<BrowserSendData, Blob>): SendResult {
    if (typeof Blob !== 'undefined' && (data as unknown) instanceof Blob) {
      throw new TypeError('ReconnectingWebSocket.send() does not take a Blob: send await blob.arrayBuffer()');
    }
    // As the browser's Web IDL conversion: what is no buffer or view is sent as its string.
    const message = typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data) ? data : toUSVString(data);
    return this.#inner.send(message);
  }

  /**
   * Ends reconnecting for good and closes the current connection with `code` (1000 unless
   * given; 1000 or 3000-4999, else an InvalidAccessError DOMException) and `reason` (at most 123
   * UTF-8 bytes, else a SyntaxError DOMException). Its 'close' event follows; between
   * connections no event follows. Once closing or closed it does nothing.
   */
  close(code?: number, reason?: string): void {
    const checked = checkCloseArguments(code, reason);
    const state = this.readyState;
    if (state === this.CLOSING || state === this.CLOSED) return;
    void this.#inner.close(checked.code ?? 1000, checked.reason ?? '');
  }

  /**
   * Closes the current connection (with `code` and `reason`, checked as close() checks them;
   * default 1000) and reconnects at once, whatever the ending table says of that code, as long
   * as the connection stayed open `minUptime` (a younger one backs off, as every quick drop
   * does). Between connections it does nothing: the next attempt is already coming. After
   * close() it does nothing.
   */
  reconnect(code?: number, reason?: string): void {
    const checked = checkCloseArguments(code, reason);
    const ws = this.#inner.ws;
    if (this.readyState !== this.OPEN || ws === null) return;
    this.#forced = true;
    ws.close(checked.code ?? 1000, checked.reason ?? '').catch(() => {});
  }
}
