/**
 * Close codes and the close frame payload (RFC 6455 sections 5.5.1 and 7.4): an optional 2-byte
 * big-endian status code followed by an optional UTF-8 reason, 125 bytes at most in all.
 */
import { InvalidArgumentError, ProtocolError } from './errors.js';
import { violation } from './failure-errors.js';
import { Failures } from './failures.js';
import { CloseCode } from './close-code.js';
import { MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD } from './limits.js';
import { decodeUtf8, encodeUtf8, isValidUtf8 } from './utf8.js';

export { CloseCode } from './close-code.js';

/**
 * True when `code` may appear in a close frame on the wire. RFC 6455 section 7.4.1 reserves 1004,
 * 1005, 1006 and 1015 (they MUST NOT be sent); 1000-1003 and 1007-1011 are defined, 1012-1014 are
 * registered with IANA; 3000-3999 are for libraries and frameworks, 4000-4999 for applications.
 * Everything else (0-999, unassigned 1016-2999, 5000 and above) is invalid.
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 1000 && code <= 1014) return code !== 1004 && code !== 1005 && code !== 1006;
  return code >= 3000 && code <= 4999;
}

/**
 * The payload of a close frame. With no code the payload is empty (and the reason must be empty:
 * section 5.5.1 allows a reason only after a code). Throws InvalidArgumentError for a code not
 * valid on the wire or a reason longer than 123 UTF-8 bytes (125 minus the code, section 5.5).
 */
export function encodeClosePayload(code?: number, reason = ''): Uint8Array {
  if (code === undefined) {
    if (reason !== '') throw new InvalidArgumentError('a close reason needs a close code');
    return new Uint8Array(0);
  }
  if (typeof code !== 'number' || !isValidCloseCode(code)) {
    throw new InvalidArgumentError(`close code ${String(code)} may not be sent`);
  }
  const text = reason === '' ? null : encodeUtf8(reason);
  const length = text === null ? 0 : text.length;
  if (length > MAX_CLOSE_REASON) {
    throw new InvalidArgumentError(`close reason is ${length} bytes; at most ${MAX_CLOSE_REASON} are allowed`);
  }
  const payload = new Uint8Array(2 + length);
  payload[0] = code >>> 8;
  payload[1] = code & 0xff;
  if (text !== null) payload.set(text, 2);
  return payload;
}

/**
 * Reads a close frame payload without throwing, for the receive path: the code and reason, or the
 * ProtocolError to fail the connection with. An empty payload gives 1005 and '' (section 7.1.5).
 */
export function checkClosePayload(bytes: Uint8Array): { code: number; reason: string } | ProtocolError {
  const n = bytes.length;
  if (n === 0) return { code: CloseCode.NoStatusReceived, reason: '' };
  // Section 5.5.1: a body, if present, MUST start with a 2-byte code, so 1 byte is malformed.
  if (n === 1) return violation(Failures.invalidClosePayload, 'close frame payload of 1 byte');
  // Section 5.5: control frame payloads MUST be 125 bytes or less (the parser normally catches it).
  if (n > MAX_CONTROL_PAYLOAD) return violation(Failures.invalidControlPayloadLength, `close frame payload of ${n} bytes`);
  const code = (bytes[0]! << 8) | bytes[1]!;
  // Section 7.4: receiving a code that may not be sent is a protocol error.
  if (!isValidCloseCode(code)) return violation(Failures.invalidCloseCode, `invalid close code ${code}`);
  if (n === 2) return { code, reason: '' };
  const reasonBytes = bytes.subarray(2);
  // Section 5.5.1: the reason is UTF-8; section 8.1: invalid UTF-8 fails the connection with 1007.
  if (!isValidUtf8(reasonBytes)) {
    return violation(Failures.invalidUtf8, 'close reason is not valid UTF-8');
  }
  return { code, reason: decodeUtf8(reasonBytes) };
}

/**
 * Reads a close frame payload: empty gives code 1005 and reason ''. Throws ProtocolError with
 * closeCode 1002 for a 1-byte payload or a code not valid on the wire, 1007 for a reason that is
 * not UTF-8.
 */
export function parseClosePayload(bytes: Uint8Array): { code: number; reason: string } {
  const result = checkClosePayload(bytes);
  if (result instanceof ProtocolError) throw result;
  return result;
}
