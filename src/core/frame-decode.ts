/**
 * `decodeFrame`: one whole RFC 6455 frame out of a buffer, for the low-level API. It applies the
 * same header rules as the incremental parser (frame-header.ts), with the defaults of a direct call.
 */
import { checkFirstBytes, checkLength, headerSize, readLength, resolveLimit, ANY_RSV } from './frame-header.js';
import type { FrameParserOptions } from './frame-parser.js';
import type { Frame } from './frame.js';
import { applyMask } from './mask.js';

/**
 * Options of `decodeFrame`: those of the parser, with other defaults for a direct call: no size
 * limit, and RSV bits reported as they are on any frame unless `rsvBits` names the claimed ones.
 */
export type DecodeFrameOptions = FrameParserOptions;

/**
 * Decodes one whole frame from the start of `bytes` (the low-level API). Returns null when
 * `bytes` holds only part of a frame, else the frame and the number of bytes it took. The input
 * is never modified: a masked payload is returned unmasked in a copy, an unmasked one as a view
 * of `bytes`. Throws ProtocolError (1002, `code` naming the rule) for a malformed header (reserved opcode, a control
 * frame over 125 bytes or fragmented, a 64-bit length with its top bit set, masking wrong for
 * `options.role`, RSV bits `options.rsvBits` does not allow) and MessageTooLargeError (1009) for a
 * length over `options.maxFrameSize` (default: no limit); rules that span several frames
 * (fragmentation order, message size) are the caller's. InvalidArgumentError for bad options.
 */
export function decodeFrame(bytes: Uint8Array, options: DecodeFrameOptions = {}): { frame: Frame; bytesConsumed: number } | null {
  if (bytes.length < 2) return null;
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  const expectMask = options.role === 'server' ? 1 : options.role === 'client' ? 0 : -1;
  // A direct call decodes what it is given: RSV bits are reported, not judged, unless the caller
  // names the claimed ones (then the parser's rules apply).
  const rsvBits = options.rsvBits === undefined ? ANY_RSV : options.rsvBits & 0x70;
  const first = checkFirstBytes(b0, b1, rsvBits, expectMask);
  if (first !== null) throw first;
  const size = headerSize(b1);
  if (bytes.length < size) return null;
  const length = readLength(bytes, 0);
  const lengthError = checkLength(length, resolveLimit(options.maxFrameSize, Number.MAX_SAFE_INTEGER));
  if (lengthError !== null) throw lengthError;
  if (bytes.length - size < length) return null;
  const masked = (b1 & 0x80) !== 0;
  let maskKey: Uint8Array | null = null;
  let payload = bytes.subarray(size, size + length);
  if (masked) {
    // `new Uint8Array(view)` copies whatever the input is; `slice()` on a Node Buffer returns a
    // view, which would unmask the caller's bytes in place.
    maskKey = new Uint8Array(bytes.subarray(size - 4, size));
    payload = applyMask(new Uint8Array(payload), maskKey, 0);
  }
  const frame: Frame = {
    fin: (b0 & 0x80) !== 0,
    rsv1: (b0 & 0x40) !== 0,
    rsv2: (b0 & 0x20) !== 0,
    rsv3: (b0 & 0x10) !== 0,
    opcode: b0 & 0x0f,
    masked,
    maskKey,
    payload,
  };
  return { frame, bytesConsumed: size + length };
}
