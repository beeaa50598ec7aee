/**
 * What the browser-compatible classes (BrowserWebSocket and the browser ReconnectingWebSocket)
 * make of a native connection: a message's `data` per `binaryType`, the events of a close, and
 * close()'s argument checks, so that both classes say the same thing the same way.
 */
import { Buffer } from 'node:buffer';
import { ConnectionClosedError, WebSocketError } from '../core/errors.js';
import { clampUnsignedShort, CloseEvent, errorEvent, type BinaryType } from './browser-events.js';
import { connectionInternals } from './connection-internals.js';
import { type WebSocket } from './websocket.js';

/** WHATWG: the UTF-8 encoding of a close reason is at most 123 bytes. */
const MAX_REASON_BYTES = 123;

/** A native message as a MessageEvent's `data`: text as a string, binary as `binaryType` says. */
export function messageData(data: string | Buffer, isBinary: boolean, binaryType: BinaryType): unknown {
  if (!isBinary) return data;
  const bytes = data as Buffer;
  if (binaryType === 'blob') return new Blob([bytes as Uint8Array<ArrayBuffer>]);
  if (binaryType === 'arraybuffer') return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return bytes;
}

/**
 * The events a browser fires when `ws` has closed: a CloseEvent with the peer's code and reason
 * after a completed closing handshake; otherwise (RFC 6455 section 7.1.5 as the standard uses it:
 * the code is then 1006) an ErrorEvent carrying why, then a CloseEvent with 1006.
 */
export function closeEvents(ws: WebSocket): Event[] {
  const result = connectionInternals.closeResult(ws);
  if (result !== null && result.wasClean) return [new CloseEvent('close', { wasClean: true, code: result.code, reason: result.reason })];
  const cause = result?.error ?? null;
  const error = cause instanceof WebSocketError
    ? cause
    : new ConnectionClosedError(1006, '', false, cause === null ? undefined : `the connection was lost: ${cause.message}`);
  return [errorEvent(error), new CloseEvent('close', { wasClean: false, code: 1006, reason: '' })];
}

/**
 * close()'s arguments as the standard checks them: `code` (an unsigned short, clamped) must be
 * 1000 or 3000-4999, else an InvalidAccessError DOMException; `reason` at most 123 UTF-8 bytes,
 * else a SyntaxError DOMException. Returns them converted (undefined stays undefined).
 */
export function checkCloseArguments(code: number | undefined, reason: string | undefined): { code: number | undefined; reason: string | undefined } {
  if (code !== undefined) {
    const clamped = clampUnsignedShort(code);
    if (clamped !== 1000 && (clamped < 3000 || clamped > 4999)) {
      throw new DOMException(`close code must be 1000 or between 3000 and 4999, got ${String(code)}`, 'InvalidAccessError');
    }
    code = clamped;
  }
  const text = reason === undefined ? undefined : String(reason);
  if (text !== undefined && Buffer.byteLength(text, 'utf8') > MAX_REASON_BYTES) {
    throw new DOMException(`close reason must be at most ${MAX_REASON_BYTES} UTF-8 bytes`, 'SyntaxError');
  }
  return { code, reason: text };
}
