/**
 * A WebSocket class that behaves like the browser's (the WHATWG WebSockets standard) and undici's,
 * so that code written for browsers runs on hybi unchanged: `new BrowserWebSocket(url, protocols)`,
 * numeric `readyState` with the CONNECTING..CLOSED constants, `onopen`/`onmessage`/`onerror`/
 * `onclose` and `addEventListener` with Event, MessageEvent and CloseEvent objects, `binaryType`,
 * `send`, `close` with the browser's argument checks, `bufferedAmount`.
 *
 * It is a thin layer over the native `WebSocket` (src/api/websocket.ts): `connect()` opens one,
 * and this class translates. Deliberate differences from a browser, all Node-side: binaryType
 * also accepts 'nodebuffer' (Buffers, as `ws` offers), the second constructor argument may be an
 * object with `protocols` and any `connect()` option (as undici accepts `{ protocols, headers }`),
 * and an exception thrown by a listener is reported as a process warning instead of crashing the
 * process (Node's EventTarget would rethrow it as an uncaught exception; a browser logs it).
 */
import { Buffer } from 'node:buffer';
import { types } from 'node:util';
import { ConnectionClosedError, WebSocketError } from '../core/errors.js';
import { ConnectError } from '../node/errors.js';
import { BrowserEventTarget } from './browser-event-target.js';
import { CloseEvent, errorEvent, toUSVString, type BinaryType, type BrowserSendData, type BrowserWebSocketInit } from './browser-events.js';
import { checkCloseArguments, closeEvents, messageData } from './browser-translate.js';
import { connectResolved, resolveConnectOptions, type ConnectOptions } from './connect.js';
import { parseWebSocketURL } from './url.js';
import { connectionInternals } from './connection-internals.js';
import { type WebSocket } from './websocket.js';

export { CloseEvent, ErrorEvent } from './browser-events.js';
export type * from './browser-events.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** RFC 7230 token characters (the Sec-WebSocket-Protocol element grammar). */
function isToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
    // Separators: ( ) < > @ , ; : \ " / [ ] ? = { }
    if ('()<>@,;:\\"/[]?={}'.includes(value[i]!)) return false;
  }
  return true;
}

function ignore(): void {}

/** True for a resizable ArrayBuffer (Node 20 has them; Web IDL's BufferSource excludes them). */
function isResizable(buffer: ArrayBufferLike): boolean {
  return (buffer as { resizable?: boolean }).resizable === true;
}

/** Internal: set by `wrapOpenWebSocket` for the constructor call it makes. */
let adopting: WebSocket | null = null;

/**
 * The browser-compatible WebSocket. Exported from the package as `BrowserWebSocket`; the
 * package's `WebSocket` export is the native class.
 */
export class BrowserWebSocket extends BrowserEventTarget {

  #url: string;
  #origin: string;
  /**
   * The state while there is no native connection: CONNECTING, CLOSING once close() was called
   * while connecting, CLOSED once the connection failed. Once the native connection is attached,
   * readyState is derived from its close state (see the getter) and this is not read.
   */
  #pending = CONNECTING;
  #native: WebSocket | null = null;
  #protocol = '';
  #extensions = '';
  #binaryType: BinaryType = 'blob';
  /** Bytes passed to send() after the close began (the standard counts them in bufferedAmount). */
  #discarded = 0;
  /**
   * Payload bytes handed to the native send() whose promise has not resolved: not yet written
   * out. A send that rejects (the connection ended first) was never transmitted and stays counted.
   */
  #sending = 0;
  /** Blob sends waiting for their bytes, and everything sent after them (order is kept). */
  #chain: Promise<void> | null = null;
  #chainBytes = 0;
  #closeFired = false;

  /**
   * Opens a connection to `url` (ws:, wss:, or http:/https: mapped to them). Throws a
   * SyntaxError DOMException for a URL that cannot be a WebSocket URL, a fragment, or duplicate
   * or invalid subprotocols, exactly as a browser does, and InvalidArgumentError for a bad or
   * unknown connect() option in an options object, before anything is dialed; any later failure
   * is an 'error' event followed by 'close' (code 1006).
   */
  constructor(url: string | URL, protocols?: BrowserWebSocketInit) {
    super();
    let parsed: URL;
    try {
      parsed = new URL(String(url));
    } catch {
      throw new DOMException(`'${String(url)}' is not a valid URL`, 'SyntaxError');
    }
    if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
    else if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
    if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') {
      throw new DOMException(`the URL's scheme must be ws, wss, http or https, not '${parsed.protocol.slice(0, -1)}'`, 'SyntaxError');
    }
    if (parsed.hash !== '' || String(url).includes('#')) {
      throw new DOMException('a WebSocket URL may not have a fragment', 'SyntaxError');
    }
    this.#url = parsed.href;
    this.#origin = parsed.origin;

    const options: ConnectOptions & { protocols?: string | string[] } =
      typeof protocols === 'object' && protocols !== null && !Array.isArray(protocols) ? { ...protocols } : { protocols };
    const list = options.protocols === undefined ? [] : typeof options.protocols === 'string' ? [options.protocols] : [...options.protocols];
    const seen = new Set<string>();
    for (let i = 0; i < list.length; i++) {
      // WebIDL converts each element to a string.
      const protocol = String(list[i]);
      list[i] = protocol;
      if (!isToken(protocol) || seen.has(protocol)) {
        throw new DOMException(`invalid or repeated subprotocol '${protocol}'`, 'SyntaxError');
      }
      seen.add(protocol);
    }

    const adopted = adopting;
    adopting = null;
    if (adopted !== null) {
      // A task, as a browser queues 'open': listeners attached after construction see it.
      setImmediate(() => this.#attach(adopted));
      return;
    }
    // A browser negotiates permessage-deflate and sends no keep-alive pings of its own, nor
    // closes idle connections: the same defaults here, each overridable. The options are checked
    // here, so that a bad or unknown one throws InvalidArgumentError from the constructor (as a
    // bad subprotocol throws SyntaxError) rather than becoming an 'error' event after a dial.
    const settings = resolveConnectOptions(
      { compress: true, pingInterval: 0, idleTimeout: 0, ...options, protocols: list },
      'new BrowserWebSocket()',
    );
    // Inside the promise: whatever the URL parser still finds is an 'error' event, as before.
    const href = parsed.href;
    (async () => connectResolved(parseWebSocketURL(href), settings))().then(
      (ws) => this.#attach(ws),
      (error: unknown) => this.#failBeforeOpen(error),
    );
  }

  /** The URL, serialized (http: and https: become ws: and wss:). */
  get url(): string {
    return this.#url;
  }

  /** CONNECTING (0), OPEN (1), CLOSING (2) or CLOSED (3). */
  get readyState(): number {
    const native = this.#native;
    if (native === null) return this.#pending;
    const state = native.readyState;
    if (state === 'open') return OPEN;
    if (state === 'closed') return CLOSED;
    // The peer's close arrived, but our answer is held while the messages received before it are
    // delivered: a browser handles those before the close frame, so they come in OPEN (and are
    // not dropped by #onMessage). CLOSING once they are, or once a close was asked for here.
    return connectionInternals.answerHeld(native) ? OPEN : CLOSING;
  }

  /** The subprotocol the server selected ('' until open, or if none). */
  get protocol(): string {
    return this.#protocol;
  }

  /** The extensions the server accepted ('' until open, or if none). */
  get extensions(): string {
    return this.#extensions;
  }

  /** How binary messages are given to 'message' listeners: 'blob' (the default, as in browsers), 'arraybuffer' or 'nodebuffer'. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  set binaryType(value: BinaryType) {
    // An enumerated attribute ignores values outside its enumeration (WebIDL).
    if (value === 'blob' || value === 'arraybuffer' || value === 'nodebuffer') this.#binaryType = value;
  }

  /**
   * Bytes of application data (UTF-8 text and binary payload) passed to send() and not yet
   * transmitted. As the WebSockets Standard's bufferedAmount getter says, it does not include
   * framing overhead: 'x' counts 1 and 'å' 2, compressed or not. It falls as the native send()
   * calls resolve, and keeps counting what was sent once the connection is closing or closed.
   */
  get bufferedAmount(): number {
    return this.#sending + this.#chainBytes + this.#discarded;
  }

  /**
   * Sends a message: a string as text, a Blob, ArrayBuffer or view as binary, in call order. The
   * bytes are copied at the call, so changing the buffer afterwards does not change the message.
   * Throws a TypeError for a typed array or DataView over a SharedArrayBuffer or a resizable
   * buffer (a SharedArrayBuffer itself is sent as the text of its string conversion), as the
   * Web IDL conversion of the argument says; an InvalidStateError DOMException while CONNECTING.
   * Once closing, the data is discarded (and counted in bufferedAmount, as the standard says).
   */
  send(data: BrowserSendData): void {
    // The argument is first converted to the IDL union (BufferSource or Blob or USVString), as
    // Web IDL's "Union types" conversion (#js-union) does, before the method steps run: a Blob
    // (a platform object) is a Blob; an ArrayBuffer that is not shared is an ArrayBuffer, whose
    // conversion throws a TypeError when it is resizable ("Buffer source types",
    // #js-buffer-source-types); a DataView or typed array converts to its ArrayBufferView type,
    // which throws a TypeError when its buffer is shared or resizable (no [AllowShared] or
    // [AllowResizable] on send()); a SharedArrayBuffer matches no member (BufferSource has no
    // SharedArrayBuffer), so it falls through, like any other value, to the USVString
    // conversion, and is sent as the text "[object SharedArrayBuffer]".
    let size: number;
    let payload: string | Uint8Array | null = null;
    let blob: Blob | null = null;
    if (typeof data === 'string') {
      payload = data;
      size = Buffer.byteLength(data, 'utf8');
    } else if (typeof Blob !== 'undefined' && data instanceof Blob) {
      blob = data;
      size = data.size;
    } else if (types.isArrayBuffer(data)) {
      if (isResizable(data)) throw new TypeError('send() does not take a resizable ArrayBuffer');
      size = data.byteLength;
      // WebSockets Standard, send(): the message is "the data stored in the buffer" when send() is
      // called; it goes out later (after compression, or behind earlier sends), so it is copied.
      payload = size === 0 ? new Uint8Array(0) : new Uint8Array(data.slice(0));
    } else if (ArrayBuffer.isView(data)) {
      if (types.isSharedArrayBuffer(data.buffer)) throw new TypeError('send() does not take a view on a SharedArrayBuffer');
      if (isResizable(data.buffer)) throw new TypeError('send() does not take a view on a resizable ArrayBuffer');
      size = data.byteLength;
      payload = size === 0 ? new Uint8Array(0) : new Uint8Array(data.buffer, data.byteOffset, size).slice();
    } else {
      payload = toUSVString(data);
      size = Buffer.byteLength(payload, 'utf8');
    }
    if (this.readyState === CONNECTING) throw new DOMException('the WebSocket is still connecting', 'InvalidStateError');
    const native = this.#native;
    if (this.readyState !== OPEN || native === null) {
      this.#discarded += size;
      return;
    }
    if (blob === null && this.#chain === null) {
      this.#transmit(native, payload!, size);
      return;
    }
    // A Blob's bytes come asynchronously; everything sent after it waits behind it.
    this.#chainBytes += size;
    const previous = this.#chain ?? Promise.resolve();
    const next = previous.then(async () => {
      let bytes: string | Uint8Array | null = payload;
      try {
        if (blob !== null) bytes = new Uint8Array(await blob.arrayBuffer());
      } catch {
        // An unreadable Blob: a browser fails the connection when it cannot send.
        bytes = null;
        native.terminate();
      }
      this.#chainBytes -= size;
      if (this.#chain === next) this.#chain = null;
      if (bytes !== null && this.readyState === OPEN) this.#transmit(native, bytes, size);
      else this.#discarded += size;
    });
    this.#chain = next;
  }

  /** Hands a message to the native connection; its `size` payload bytes count in bufferedAmount until it is written. */
  #transmit(native: WebSocket, data: string | Uint8Array, size: number): void {
    this.#sending += size;
    native.send(data).then(() => {
      this.#sending -= size;
    }, ignore);
  }

  /**
   * Starts the closing handshake. `code` must be 1000 or 3000-4999 (else an InvalidAccessError
   * DOMException) and `reason` at most 123 UTF-8 bytes (else a SyntaxError DOMException). While
   * CONNECTING it fails the connection instead; once closing or closed it does nothing.
   */
  close(code?: number, reason?: string): void {
    let text: string | undefined;
    ({ code, reason: text } = checkCloseArguments(code, reason));
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    const native = this.#native;
    if (native === null) {
      // The standard: fail the WebSocket connection; error and close (1006) follow (#attach).
      this.#pending = CLOSING;
      return;
    }
    // The native close() asks for the close at once (readyState is CLOSING from here on), even
    // when its close frame waits behind earlier sends.
    // With a reason but no code the standard sends 1000; with neither, a close frame without a body.
    if (code === undefined && text === undefined) void connectionInternals.closeWithoutCode(native);
    else void native.close(code ?? 1000, text ?? '');
  }

  #attach(ws: WebSocket): void {
    if (this.#pending === CLOSING) {
      ws.terminate();
      this.#fireFailure(new ConnectionClosedError(1006, '', false, 'close() was called before the connection was open'));
      return;
    }
    this.#native = ws;
    this.#protocol = ws.protocol;
    this.#extensions = ws.extensions;
    // The native class emits only to listeners: an 'error' listener keeps its errors quiet here
    // (the browser reports a failure as 'error' then 'close', below).
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#onClose(ws));
    if (ws.readyState === 'closed') {
      this.#onClose(ws);
      return;
    }
    this.dispatchEvent(new Event('open'));
  }

  #onMessage(data: string | Buffer, isBinary: boolean): void {
    // The standard: a message received when the ready state is not OPEN is dropped.
    if (this.readyState !== OPEN) return;
    this.dispatchEvent(new MessageEvent('message', { data: messageData(data, isBinary, this.#binaryType), origin: this.#origin }));
  }

  #onClose(ws: WebSocket): void {
    if (this.#closeFired) return;
    this.#closeFired = true;
    for (const event of closeEvents(ws)) this.dispatchEvent(event);
  }

  #failBeforeOpen(cause: unknown): void {
    if (cause instanceof WebSocketError) {
      this.#fireFailure(cause);
      return;
    }
    // connect() rejects with hybi's errors; anything else still reaches the listener typed.
    const url = new URL(this.#url);
    const port = url.port === '' ? (url.protocol === 'wss:' ? 443 : 80) : Number(url.port);
    const message = cause instanceof Error ? cause.message : String(cause);
    this.#fireFailure(new ConnectError(`could not connect: ${message}`, url.hostname, port, { cause }));
  }

  #fireFailure(error: WebSocketError): void {
    if (this.#closeFired) return;
    this.#pending = CLOSED;
    this.#closeFired = true;
    this.dispatchEvent(errorEvent(error));
    this.dispatchEvent(new CloseEvent('close', { wasClean: false, code: 1006, reason: '' }));
  }
}

/**
 * Internal: a BrowserWebSocket over an already open native WebSocket (tests, and servers that
 * want to hand browser-style objects to shared code). Events start from 'open', queued now.
 */
export function wrapOpenWebSocket(ws: WebSocket, url = ws.url || 'ws://localhost/'): BrowserWebSocket {
  adopting = ws;
  try {
    return new BrowserWebSocket(url);
  } finally {
    adopting = null;
  }
}
