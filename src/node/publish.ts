/**
 * Compression for a message published to many connections (issue 20). permessage-deflate
 * (RFC 7692) keeps a compressor per connection; a message can be compressed once and the same
 * bytes sent to several connections only where the receiver's decompression does not depend on
 * what this server sent before: connections that agreed `server_no_context_takeover`, whose every
 * message is compressed from an empty window. The api layer groups those by window size and calls
 * this once per group.
 */
import { constants, deflateRawSync } from 'node:zlib';

/** Trailer of a sync flush, removed before sending (RFC 7692 section 7.2.1). */
const TAIL_LENGTH = 4;

/**
 * Compresses one whole message as RFC 7692 section 7.2.1 says: raw DEFLATE, ended with a sync
 * flush whose 0x00 0x00 0xff 0xff tail is removed. `windowBits` is 9..15 (the group's
 * `server_max_window_bits`; a receiver's window at least that large decodes it).
 */
export function deflateMessage(payload: Uint8Array, windowBits: number, level: number, memLevel: number): Uint8Array {
  const out = deflateRawSync(payload, { windowBits, level, memLevel, finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - TAIL_LENGTH);
}
