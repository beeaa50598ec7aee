/**
 * A message framed once for many connections (a server's publish or broadcast, issue 20). A
 * server's frames are unmasked (RFC 6455 section 5.3), so one header and one payload serve every
 * client: the same chunks are handed to each connection, never copied per client. Each connection
 * still decides whether it may send them (`checkPreparedFrame`, called by
 * `Connection.sendPrepared`): preparing a frame is no back door around the core's rules.
 */
import { InvalidArgumentError } from './errors.js';
import { encodeFrameHeader } from './frame.js';
import { Opcode } from './opcode.js';

/** One whole, unmasked data frame (a message in one frame), ready to be written as it is. */
export interface PreparedFrame {
  /**
   * The frame's bytes. A payload of up to PREPARED_COPY_BYTES is copied behind the header into one
   * array (one chunk: a connection that is not behind writes it as it is, nothing per connection);
   * a larger one is the header, then the payload (the caller's bytes, not copied). Never modified
   * once made.
   */
  readonly chunks: readonly Uint8Array[];
  /** Bytes of the whole frame, header included. */
  readonly size: number;
  /** A text message (opcode 0x1) or binary (0x2). */
  readonly isText: boolean;
  /** The RSV bits set (0x40 for a message compressed with permessage-deflate), else 0. */
  readonly rsv: number;
  /** Bytes of the payload as sent (compressed, when rsv says so). */
  readonly payloadLength: number;
}

/**
 * Payloads up to this size are copied once into the frame's own array, header first (issue 24):
 * one copy per message buys a single chunk per connection, which an idle socket writes as it is
 * (no joining per connection). Larger payloads are referenced, where a copy would cost memory.
 */
export const PREPARED_COPY_BYTES = 16 * 1024;

/**
 * Frames one message once: `payload` (already transformed by an extension when `rsv` is not 0;
 * text must be UTF-8, which the caller checked) as one final frame without a mask. A payload of
 * up to PREPARED_COPY_BYTES is copied into one array with the header, made by `allocate` (default
 * a plain Uint8Array; a Node caller passes its runtime's buffer allocator, which its streams take
 * without wrapping); a larger one is referenced, not copied: it must not change while
 * connections may still write it.
 */
export function prepareFrame(payload: Uint8Array, isText: boolean, rsv = 0, allocate?: (size: number) => Uint8Array): PreparedFrame {
  if (!Number.isInteger(rsv) || (rsv & ~0x70) !== 0) throw new InvalidArgumentError(`rsv ${String(rsv)} has bits outside 0x70`);
  const header = encodeFrameHeader(isText ? Opcode.Text : Opcode.Binary, payload.length, { rsv });
  let chunks: Uint8Array[];
  if (payload.length === 0) chunks = [header];
  else if (payload.length <= PREPARED_COPY_BYTES) {
    const whole = allocate === undefined ? new Uint8Array(header.length + payload.length) : allocate(header.length + payload.length);
    whole.set(header, 0);
    whole.set(payload, header.length);
    chunks = [whole];
  } else chunks = [header, payload];
  return Object.freeze({
    chunks: Object.freeze(chunks),
    size: header.length + payload.length,
    isText,
    rsv,
    payloadLength: payload.length,
  });
}

/**
 * Throws InvalidArgumentError when `frame` may not be sent on a connection of `role` whose
 * extensions claim `rsvBits`, with `sendingFragmented` telling whether a message sent piece by
 * piece is open (the caller checks the ready state first, as for any send): a client connection
 * (section 5.3: a client masks each frame with a fresh key), RSV bits no negotiated extension
 * claims (section 5.2), or in the middle of a fragmented message (section 5.4: data frames of two
 * messages must not interleave).
 */
export function checkPreparedFrame(frame: PreparedFrame, role: 'client' | 'server', rsvBits: number, sendingFragmented: boolean): void {
  if (role !== 'server') throw new InvalidArgumentError('prepared frames are unmasked: only a server may send them');
  if ((frame.rsv & ~rsvBits) !== 0) {
    throw new InvalidArgumentError(`the prepared frame sets RSV bits 0x${frame.rsv.toString(16)} that no extension of this connection claims`);
  }
  if (sendingFragmented) throw new InvalidArgumentError('a message sent with sendFrame is still open');
}
