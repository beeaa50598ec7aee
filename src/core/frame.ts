/**
 * The frame layout of RFC 6455 section 5.2 and the encoders for it. Parsing lives in
 * frame-parser.ts; both share the `Frame` shape defined here.
 *
 *   byte 0: FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
 *   byte 1: MASK | payload length (7 bits: 0-125, or 126 = 16-bit length follows, 127 = 64-bit)
 *   then the extended length (big-endian), then the 4-byte masking key if MASK, then the payload.
 */
import { InvalidArgumentError } from './errors.js';
import { MAX_CONTROL_PAYLOAD } from './limits.js';
import { maskInto, writeMaskKey } from './mask.js';
import { isControlOpcode } from './opcode.js';

/** One frame as read off the wire (payload already unmasked) or as it is to be sent. */
export interface Frame {
  /** Last frame of its message (section 5.4). */
  fin: boolean;
  /** Reserved bits; only a negotiated extension may set them (RSV1 is permessage-deflate's). */
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  /** The 4-bit opcode (see `Opcode`). */
  opcode: number;
  /** Whether the frame was masked on the wire. */
  masked: boolean;
  /** The masking key when masked, else null. */
  maskKey: Uint8Array | null;
  /** Application data, unmasked. */
  payload: Uint8Array;
}

/** What `encodeFrame` needs; everything but the opcode has a default. */
export interface EncodeFrameOptions {
  /** 0x0-0xF; 0x8 and above are control frames (section 5.5). */
  opcode: number;
  /** Default: empty. Never modified, even when masked. */
  payload?: Uint8Array;
  /** Default true: most frames are whole messages. Control frames must keep it true. */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /**
   * Default false (what a server sends). true masks with a fresh random key (what a client MUST
   * do, section 5.3); a 4-byte Uint8Array masks with that key (tests, reproducible output).
   */
  mask?: boolean | Uint8Array;
}

/** Options of `encodeFrameHeader`. */
export interface FrameHeaderOptions {
  /** Default true. */
  fin?: boolean;
  /** RSV bits in first-byte position (0x40 RSV1, 0x20 RSV2, 0x10 RSV3); default 0. */
  rsv?: number;
  /** The masking key to put in the header (the caller masks the payload with it); default null. */
  maskKey?: Uint8Array | null;
}

const EMPTY = new Uint8Array(0);
const scratchKey = new Uint8Array(4);
/** 2^53 - 1: the largest length a JavaScript number carries exactly. */
const MAX_LENGTH = Number.MAX_SAFE_INTEGER;
const TWO_POW_32 = 0x1_0000_0000;

/**
 * Header size in bytes for a payload of `payloadLength`: 2, plus 2 or 8 for the extended length
 * (section 5.2: the minimal form MUST be used), plus 4 when masked.
 */
export function frameHeaderSize(payloadLength: number, masked: boolean): number {
  const base = payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10;
  return masked ? base + 4 : base;
}

function checkHeader(opcode: number, payloadLength: number, fin: boolean, rsv: number): void {
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xf) {
    throw new InvalidArgumentError(`opcode ${String(opcode)} is not a 4-bit value`);
  }
  if (!Number.isInteger(payloadLength) || payloadLength < 0 || payloadLength > MAX_LENGTH) {
    throw new InvalidArgumentError(`invalid payload length ${String(payloadLength)}`);
  }
  if (!Number.isInteger(rsv) || (rsv & ~0x70) !== 0) {
    throw new InvalidArgumentError(`rsv ${String(rsv)} has bits outside 0x70`);
  }
  if (isControlOpcode(opcode)) {
    // Section 5.5: control frames MUST have a payload of 125 bytes or less and MUST NOT be fragmented.
    if (payloadLength > MAX_CONTROL_PAYLOAD) {
      throw new InvalidArgumentError(`control frame payload of ${payloadLength} bytes; at most ${MAX_CONTROL_PAYLOAD} allowed`);
    }
    if (!fin) throw new InvalidArgumentError('control frames cannot be fragmented (fin must be true)');
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 4) throw new InvalidArgumentError('a masking key is 4 bytes');
}

/**
 * Writes a frame header's first byte (FIN, RSV bits and opcode, already combined in `first`) and
 * its length in the shortest form (RFC 6455 section 5.2: the minimal number of bytes MUST be used)
 * at target[at], and returns the offset right after them, where the masking key (if any) goes.
 * Shared by the encoders here and the connection's send path, which writes headers into its own
 * buffers.
 */
export function writeFrameHeaderAt(target: Uint8Array, at: number, first: number, payloadLength: number, masked: boolean): number {
  target[at] = first;
  const maskBit = masked ? 0x80 : 0;
  if (payloadLength < 126) {
    target[at + 1] = maskBit | payloadLength;
    return at + 2;
  }
  if (payloadLength < 0x10000) {
    target[at + 1] = maskBit | 126;
    target[at + 2] = payloadLength >>> 8;
    target[at + 3] = payloadLength & 0xff;
    return at + 4;
  }
  target[at + 1] = maskBit | 127;
  // Section 5.2: 64-bit length, most significant bit 0. MAX_LENGTH < 2^53 keeps the top 11 bits 0.
  const high = Math.floor(payloadLength / TWO_POW_32);
  const low = payloadLength >>> 0;
  target[at + 2] = high >>> 24;
  target[at + 3] = (high >>> 16) & 0xff;
  target[at + 4] = (high >>> 8) & 0xff;
  target[at + 5] = high & 0xff;
  target[at + 6] = low >>> 24;
  target[at + 7] = (low >>> 16) & 0xff;
  target[at + 8] = (low >>> 8) & 0xff;
  target[at + 9] = low & 0xff;
  return at + 10;
}

function writeBase(target: Uint8Array, opcode: number, payloadLength: number, fin: boolean, rsv: number, masked: boolean): number {
  return writeFrameHeaderAt(target, 0, (fin ? 0x80 : 0) | rsv | opcode, payloadLength, masked);
}

/**
 * The header of a frame alone (2 to 14 bytes), so that a driver can write header and payload as
 * two chunks instead of copying the payload behind the header. With a mask key the caller masks
 * the payload itself (maskInto). Throws InvalidArgumentError for an opcode outside 0-15, RSV bits
 * outside 0x70, a key that is not 4 bytes, or a control frame over 125 bytes or with fin false.
 */
export function encodeFrameHeader(opcode: number, payloadLength: number, options: FrameHeaderOptions = {}): Uint8Array {
  const fin = options.fin ?? true;
  const rsv = options.rsv ?? 0;
  const maskKey = options.maskKey ?? null;
  checkHeader(opcode, payloadLength, fin, rsv);
  if (maskKey !== null) checkKey(maskKey);
  const header = new Uint8Array(frameHeaderSize(payloadLength, maskKey !== null));
  const at = writeBase(header, opcode, payloadLength, fin, rsv, maskKey !== null);
  if (maskKey !== null) {
    header[at] = maskKey[0]!;
    header[at + 1] = maskKey[1]!;
    header[at + 2] = maskKey[2]!;
    header[at + 3] = maskKey[3]!;
  }
  return header;
}

/**
 * One whole frame in one buffer: header followed by the payload (a masked copy when masking; the
 * caller's payload is never modified). Uses the shortest length form, as section 5.2 requires.
 * Throws InvalidArgumentError on invalid options (see encodeFrameHeader).
 */
export function encodeFrame(options: EncodeFrameOptions): Uint8Array {
  const opcode = options.opcode;
  const payload = options.payload ?? EMPTY;
  const fin = options.fin ?? true;
  const rsv = (options.rsv1 === true ? 0x40 : 0) | (options.rsv2 === true ? 0x20 : 0) | (options.rsv3 === true ? 0x10 : 0);
  const mask = options.mask ?? false;
  const length = payload.length;
  checkHeader(opcode, length, fin, rsv);
  if (mask === false) {
    const out = new Uint8Array(frameHeaderSize(length, false) + length);
    const at = writeBase(out, opcode, length, fin, rsv, false);
    out.set(payload, at);
    return out;
  }
  if (mask !== true) checkKey(mask);
  const out = new Uint8Array(frameHeaderSize(length, true) + length);
  const at = writeBase(out, opcode, length, fin, rsv, true);
  if (mask === true) writeMaskKey(out, at);
  else out.set(mask, at);
  // The key is read back into a scratch array so that no view object is made per frame.
  scratchKey[0] = out[at]!;
  scratchKey[1] = out[at + 1]!;
  scratchKey[2] = out[at + 2]!;
  scratchKey[3] = out[at + 3]!;
  maskInto(payload, scratchKey, out, at + 4);
  return out;
}
