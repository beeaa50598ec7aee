/**
 * The rules of one RFC 6455 frame header (section 5.2), checked from the header's bytes alone:
 * shared by the incremental parser (frame-parser.ts) and the one-shot decoder (frame-decode.ts),
 * so that both report the same violation for the same bytes.
 */
import { type ConnectionFailure, InvalidArgumentError, MessageTooLargeError, type ProtocolError } from './errors.js';
import { violation } from './failure-errors.js';
import { Failures } from './failures.js';
import { MAX_CONTROL_PAYLOAD } from './limits.js';

const TWO_POW_32 = 0x1_0000_0000;

/** `rsvBits` value of a direct decodeFrame call that names no extension: RSV bits are reported, not judged. */
export const ANY_RSV = -1;

/**
 * The checks that need only the first two header bytes, in a fixed order so that every split of
 * the input reports the same error. Returns null when the bytes are acceptable.
 */
export function checkFirstBytes(b0: number, b1: number, rsvBits: number, expectMask: number): ProtocolError | null {
  const opcode = b0 & 0x0f;
  // Section 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved; an unknown one MUST fail the connection.
  if ((opcode > 0x2 && opcode < 0x8) || opcode > 0xa) return violation(Failures.invalidOpcode, `reserved opcode 0x${opcode.toString(16)}`);
  const rsv = b0 & 0x70;
  if (rsv !== 0 && rsvBits !== ANY_RSV) {
    // Section 5.2: RSV bits MUST be 0 unless an extension defines them; the receiver MUST fail otherwise.
    if ((rsv & ~rsvBits) !== 0) return violation(Failures.unexpectedRsv, `RSV bits 0x${rsv.toString(16)} set without an extension claiming them`);
    // RFC 7692 section 6: extension bits belong on the first frame of a data message only, never
    // on control frames or continuations (an endpoint MUST fail the connection otherwise).
    if (opcode === 0 || opcode >= 0x8) return violation(Failures.unexpectedRsv, 'RSV bits set on a control or continuation frame');
  }
  if (opcode >= 0x8) {
    // Section 5.5: control frames MUST have a payload of 125 bytes or less...
    if ((b1 & 0x7f) > MAX_CONTROL_PAYLOAD) return violation(Failures.invalidControlPayloadLength, 'control frame payload over 125 bytes');
    // ...and MUST NOT be fragmented.
    if ((b0 & 0x80) === 0) return violation(Failures.fragmentedControlFrame, 'fragmented control frame');
  }
  const masked = (b1 & 0x80) !== 0 ? 1 : 0;
  if (expectMask !== -1 && masked !== expectMask) {
    // Section 5.1: a server MUST close the connection on an unmasked frame, and a client MUST close
    // it on a masked frame (close code 1002, section 7.4.1).
    return masked === 1 ? violation(Failures.unexpectedMask, 'masked frame from the server') : violation(Failures.expectedMask, 'unmasked frame from the client');
  }
  return null;
}

/** Header size implied by the second byte: 2, plus the extended length, plus the mask key. */
export function headerSize(b1: number): number {
  const len7 = b1 & 0x7f;
  const size = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
  return (b1 & 0x80) !== 0 ? size + 4 : size;
}

/**
 * Reads the payload length of a header at buf[off]. Returns the length, or -1 when the 64-bit form
 * has its most significant bit set (section 5.2: it MUST be 0).
 */
export function readLength(buf: Uint8Array, off: number): number {
  const len7 = buf[off + 1]! & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return (buf[off + 2]! << 8) | buf[off + 3]!;
  const high = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
  if (high >= 0x8000_0000) return -1;
  const low = ((buf[off + 6]! << 24) | (buf[off + 7]! << 16) | (buf[off + 8]! << 8) | buf[off + 9]!) >>> 0;
  // Above 2^53 the sum is no longer exact, but it is still far above any usable maxFrameSize.
  return high * TWO_POW_32 + low;
}

export function checkLength(length: number, maxFrameSize: number): ConnectionFailure | null {
  // Section 5.2: the most significant bit of a 64-bit length MUST be 0.
  if (length === -1) return violation(Failures.invalidPayloadLength, '64-bit payload length with the most significant bit set');
  // Section 10.4: an endpoint may refuse frames too large for it; 1009 says so (section 7.4.1).
  if (length > maxFrameSize) return new MessageTooLargeError(`frame of more than ${maxFrameSize} bytes (maxFrameSize)`, maxFrameSize);
  return null;
}

export function resolveLimit(value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new InvalidArgumentError(`maxFrameSize must be a number of at least 0 (or Infinity), got ${String(value)}`);
  }
  return value;
}
