/**
 * The checks of what a WebSocket's methods are called with, before anything is sent: option
 * names, ws's argument forms (callbacks, `mask`), indexes, timeouts and control-frame payloads.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import type { Role } from '../core/connection.js';
import { InvalidArgumentError } from '../core/errors.js';
import { MAX_CONTROL_PAYLOAD } from '../core/limits.js';
import { byteView, EMPTY } from './bytes.js';
import type { PingData, SendCallback, SendOptions } from './websocket-types.js';

export const SEND_NAMES: ReadonlySet<string> = new Set(['binary', 'fragmentSize', 'start', 'end', 'compress']);

/**
 * True when every own enumerable name of `options` is one of SEND_NAMES. send() runs this per
 * message: names compared by a switch cost less than a Set lookup each (bench/README.md, "Small
 * echo and latency, session 5"); a false answer goes to checkOptionNames for the error.
 */
export function sendOptionNamesKnown(options: object): boolean {
  for (const name in options) {
    switch (name) {
      case 'binary':
      case 'fragmentSize':
      case 'start':
      case 'end':
      case 'compress':
        continue;
      default:
        if (Object.hasOwn(options, name)) return false;
    }
  }
  return true;
}

/** ws's send options that hybi does not take, and why. */
export const SEND_HINTS: Readonly<Record<string, string>> = {
  mask: 'frames are masked as the role requires (RFC 6455 section 5.3)',
  fin: 'to send a message in pieces, use beginMessage(), or pass a Readable or an async iterable',
};

export const PING_NAMES: ReadonlySet<string> = new Set(['timeout']);
export const CLOSE_NAMES: ReadonlySet<string> = new Set(['timeout']);
export const RECEIVE_NAMES: ReadonlySet<string> = new Set(['as']);
export const BEGIN_MESSAGE_NAMES: ReadonlySet<string> = new Set(['binary']);

const noop = (): void => {};

/**
 * Marks a promise of ours that may reject as handled, so that a caller who fires and forgets
 * (`void ws.send(...)`) never gets an unhandled rejection; returns the same promise.
 */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(noop);
  return promise;
}

/**
 * The arguments of ping() and pong() in ws's forms: (cb), (data, cb), (data, mask, cb), and
 * hybi's (data, options). A callback in any other place, or a non-function last argument after a
 * callback, throws: the call would otherwise go through with the callback silently dropped.
 */
export function controlArguments(
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

/** ws's `mask` argument: honoured when it is what RFC 6455 section 5.3 prescribes for `role`, refused otherwise. */
export function checkMask(method: string, role: Role, options: unknown): void {
  if (typeof options !== 'boolean' || options === (role === 'client')) return;
  throw new InvalidArgumentError(
    `${method}(data, mask): a ${role} ${role === 'client' ? 'masks every frame' : 'masks no frame'} (RFC 6455 section 5.3), so mask cannot be ${String(options)}`,
  );
}

/**
 * The bytes of a ping or pong payload, at most 125 (RFC 6455 section 5.5). `copy`: a ping's is
 * compared with the pong later and the caller may reuse its buffer.
 */
export function controlPayload(method: 'ping' | 'pong', data: PingData | undefined, copy: boolean): Uint8Array {
  const payload = data === undefined ? EMPTY : typeof data === 'string' ? Buffer.from(data, 'utf8') : copy ? Buffer.from(byteView(data)) : byteView(data);
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    throw new InvalidArgumentError(`a ${method} payload is at most ${MAX_CONTROL_PAYLOAD} bytes, got ${payload.length}`);
  }
  return payload;
}

/** A timeout option in ms: a finite number from 0 (0 waits without bound). */
export function checkTimeout(what: string, timeout: unknown): void {
  if (typeof timeout !== 'number' || !(timeout >= 0) || !Number.isFinite(timeout)) {
    throw new InvalidArgumentError(`${what} timeout must be a non-negative number of ms, got ${String(timeout)}`);
  }
}

function checkIndex(name: string, value: number | undefined, length: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > length) {
    throw new InvalidArgumentError(`${name} must be an integer from 0 to ${length}, got ${String(value)}`);
  }
  return value;
}

/**
 * The bytes of a whole message given to send(): `start` to `end` of it, a view of bytes (never a
 * copy) or a string's UTF-8. Bytes sent as text (`binary: false`) must be valid UTF-8.
 */
export function messageBytes(data: string | Uint8Array | ArrayBuffer | ArrayBufferView, options: SendOptions | undefined): Uint8Array {
  // The common call, send(bytes) or send(bytes, { binary }): the caller's own array, with no
  // checks to make (issue 24: messageBytes runs for every message sent).
  if (data instanceof Uint8Array && (options === undefined || (options.start === undefined && options.end === undefined && options.binary !== false))) return data;
  if (typeof data === 'string') {
    const start = checkIndex('start', options?.start, data.length, 0);
    const end = checkIndex('end', options?.end, data.length, data.length);
    return Buffer.from(start === 0 && end === data.length ? data : data.slice(start, end), 'utf8');
  }
  const view = byteView(data);
  const start = checkIndex('start', options?.start, view.length, 0);
  const end = checkIndex('end', options?.end, view.length, view.length);
  const bytes = start === 0 && end === view.length ? view : view.subarray(start, Math.max(start, end));
  // RFC 6455 section 5.6: a text message's payload is UTF-8; sending anything else would make the
  // peer fail the connection, so it is the caller's error, caught here.
  if (options?.binary === false && !isUtf8(bytes)) throw new InvalidArgumentError('bytes sent as text are not valid UTF-8');
  return bytes;
}
