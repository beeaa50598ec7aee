/**
 * The events and Web IDL types of the browser-compatible WebSocket (browser-websocket.ts):
 * CloseEvent and ErrorEvent as their Web IDL definitions construct them (Node 20 has neither
 * global), the event map, listener and init types, and the Web IDL conversions the class uses.
 */
import type { WebSocketError } from '../core/errors.js';
import type { HybiError } from './errors.js';
import type { BrowserWebSocket } from './browser-websocket.js';
import type { ConnectOptions } from './connect.js';
/** What `binaryType` may be: the browser's two, plus Node Buffers. */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** The second constructor argument: subprotocols, or (as undici allows) an object with them and connect() options. */
export type BrowserWebSocketInit = string | string[] | (ConnectOptions & { protocols?: string | string[] });

/** The data `send()` accepts, as the browser's. */
export type BrowserSendData = string | ArrayBufferLike | ArrayBufferView | Blob;

/**
 * The members every event's init dictionary has (the DOM's EventInit, spelt out here so that
 * hybi's type declarations name no DOM-only type and compile in a Node project without the DOM lib).
 */
export interface BrowserEventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

/** The init dictionary of CloseEvent. */
export interface CloseEventInit extends BrowserEventInit {
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/** Web IDL `unsigned short` conversion (no [Clamp], no [EnforceRange]): truncated, then modulo 2^16. */
function toUnsignedShort(value: unknown): number {
  // Number() would turn a BigInt into a number; ToNumber (and so IDL) throws a TypeError for it.
  if (typeof value === 'bigint') throw new TypeError('cannot convert a BigInt to an unsigned short');
  const n = Number(value);
  if (!Number.isFinite(n)) return 0;
  const m = Math.trunc(n) % 65536;
  return m < 0 ? m + 65536 : m + 0;
}

/** Web IDL `USVString` conversion: ToString (a TypeError for a Symbol), lone surrogates become U+FFFD. */
export function toUSVString(value: unknown): string {
  const text = `${value as string}`;
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/**
 * The event a WebSocket fires when its connection closes (Node 20 has no global CloseEvent).
 * `wasClean` is true when the closing handshake completed; `code` is the peer's close code, 1005
 * when its close frame had none, 1006 when there was no closing handshake.
 *
 * Constructed as its Web IDL definition says (WebSockets Standard, "The CloseEvent interface";
 * Web IDL "Dictionary types" for the init dictionary): the type is required, the init
 * dictionary is undefined, null or an object (else a TypeError), and its members are read once
 * each, inherited EventInit members first, then `code`, `reason`, `wasClean`, converted to
 * unsigned short, USVString and boolean.
 */
export class CloseEvent extends Event {
  static {
    // Web IDL: attributes are enumerable accessors on the prototype, and the class string makes
    // Object.prototype.toString say [object CloseEvent].
    for (const name of ['wasClean', 'code', 'reason']) {
      Object.defineProperty(CloseEvent.prototype, name, { ...Object.getOwnPropertyDescriptor(CloseEvent.prototype, name), enumerable: true });
    }
    Object.defineProperty(CloseEvent.prototype, Symbol.toStringTag, { value: 'CloseEvent', writable: false, enumerable: false, configurable: true });
  }

  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  constructor(type: string, eventInitDict?: CloseEventInit) {
    if (arguments.length === 0) throw new TypeError("CloseEvent: the 'type' argument is required");
    const name = `${type}`;
    if (eventInitDict !== undefined && eventInitDict !== null && typeof eventInitDict !== 'object' && typeof eventInitDict !== 'function') {
      throw new TypeError('CloseEvent: the init dictionary must be an object');
    }
    const dict = eventInitDict ?? {};
    // Each member is read once and converted at once, in the order Web IDL does it.
    const bubbles = Boolean(dict.bubbles);
    const cancelable = Boolean(dict.cancelable);
    const composed = Boolean(dict.composed);
    const code = dict.code;
    const codeValue = code === undefined ? 0 : toUnsignedShort(code);
    const reason = dict.reason;
    const reasonValue = reason === undefined ? '' : toUSVString(reason);
    const wasClean = Boolean(dict.wasClean);
    super(name, { bubbles, cancelable, composed });
    this.#code = codeValue;
    this.#reason = reasonValue;
    this.#wasClean = wasClean;
  }

  /** Whether the closing handshake completed. */
  get wasClean(): boolean {
    return this.#wasClean;
  }

  /** The close code (0 unless given). */
  get code(): number {
    return this.#code;
  }

  /** The close reason ('' unless given). */
  get reason(): string {
    return this.#reason;
  }
}

/** The init dictionary of ErrorEvent. */
export interface ErrorEventInit extends BrowserEventInit {
  message?: string;
  filename?: string;
  lineno?: number;
  colno?: number;
  error?: unknown;
}

/**
 * The event a BrowserWebSocket fires when its connection fails (Node 20 has no global ErrorEvent),
 * as Node's own WebSocket (undici) does: a plain Event to code that expects one, and beside it
 * `error`, the typed hybi error that says why (a ConnectError, a HandshakeError, a ProtocolError,
 * a ConnectionClosedError when the transport was lost, ...) and `message`, its message. A browser
 * gives no reason, by design (a page must not learn about the network); a Node program may.
 */
export class ErrorEvent extends Event {
  static {
    for (const name of ['message', 'filename', 'lineno', 'colno', 'error']) {
      Object.defineProperty(ErrorEvent.prototype, name, { ...Object.getOwnPropertyDescriptor(ErrorEvent.prototype, name), enumerable: true });
    }
    Object.defineProperty(ErrorEvent.prototype, Symbol.toStringTag, { value: 'ErrorEvent', writable: false, enumerable: false, configurable: true });
  }

  readonly #message: string;
  readonly #filename: string;
  readonly #lineno: number;
  readonly #colno: number;
  readonly #error: unknown;

  constructor(type: string, eventInitDict?: ErrorEventInit) {
    if (arguments.length === 0) throw new TypeError("ErrorEvent: the 'type' argument is required");
    const name = `${type}`;
    if (eventInitDict !== undefined && eventInitDict !== null && typeof eventInitDict !== 'object' && typeof eventInitDict !== 'function') {
      throw new TypeError('ErrorEvent: the init dictionary must be an object');
    }
    const dict = eventInitDict ?? {};
    const bubbles = Boolean(dict.bubbles);
    const cancelable = Boolean(dict.cancelable);
    const composed = Boolean(dict.composed);
    // Web IDL order: members sorted by name (colno, error, filename, lineno, message).
    const colno = dict.colno === undefined ? 0 : toUnsignedLong(dict.colno);
    const error = dict.error;
    const filename = dict.filename === undefined ? '' : toUSVString(dict.filename);
    const lineno = dict.lineno === undefined ? 0 : toUnsignedLong(dict.lineno);
    const message = dict.message === undefined ? '' : `${dict.message}`;
    super(name, { bubbles, cancelable, composed });
    this.#message = message;
    this.#filename = filename;
    this.#lineno = lineno;
    this.#colno = colno;
    this.#error = error;
  }

  /** What went wrong, in words: the error's message. */
  get message(): string {
    return this.#message;
  }

  /** Always '' here (the DOM fills it for script errors). */
  get filename(): string {
    return this.#filename;
  }

  /** Always 0 here (the DOM fills it for script errors). */
  get lineno(): number {
    return this.#lineno;
  }

  /** Always 0 here (the DOM fills it for script errors). */
  get colno(): number {
    return this.#colno;
  }

  /**
   * The error itself. On the events a BrowserWebSocket fires it is always one of hybi's errors,
   * typed as the HybiError union so that `switch (event.error.code)` narrows.
   */
  get error(): HybiError {
    return this.#error as HybiError;
  }
}

/** Web IDL `unsigned long` conversion: truncated, then modulo 2^32. */
function toUnsignedLong(value: unknown): number {
  if (typeof value === 'bigint') throw new TypeError('cannot convert a BigInt to an unsigned long');
  const n = Number(value);
  if (!Number.isFinite(n)) return 0;
  const m = Math.trunc(n) % 4294967296;
  return m < 0 ? m + 4294967296 : m + 0;
}

/** The events of a BrowserWebSocket and their classes, as lib.dom's WebSocketEventMap gives them. */
export interface BrowserWebSocketEventMap {
  open: Event;
  message: MessageEvent;
  error: ErrorEvent;
  close: CloseEvent;
}

/**
 * A listener as EventTarget takes it, for an event of class `E`: a function (called with the
 * socket, of class `This`, as `this`) or an object with `handleEvent`.
 */
export type BrowserEventListener<E extends Event = Event, This = BrowserWebSocket> =
  | ((this: This, event: E) => unknown)
  | { handleEvent(event: E): unknown };

/** addEventListener's options (the DOM's AddEventListenerOptions, spelt out: see BrowserEventInit). */
export interface BrowserListenerOptions {
  capture?: boolean;
  once?: boolean;
  passive?: boolean;
  signal?: AbortSignal;
}

/** WebIDL [Clamp] unsigned short: clamped to 0-65535, rounded to the nearest integer, ties to even. */
export function clampUnsignedShort(value: unknown): number {
  const n = Number(value);
  if (Number.isNaN(n)) return 0;
  const x = Math.min(65535, Math.max(0, n));
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}


/** The 'error' event of a failed connection: `error` is why, `message` its text. */
export function errorEvent(error: WebSocketError): ErrorEvent {
  return new ErrorEvent('error', { error, message: error.message });
}

