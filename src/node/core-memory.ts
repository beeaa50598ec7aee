/**
 * The memory the Node driver gives the core (ConnectionOptions.allocate and .view), and what
 * happens to the core's output memory at the stream: blocks of the masking module's memory go
 * back to their pool once a socket has written them, or at once when they will never be written.
 *
 * Buffer views of received chunks (issue 24, small messages): the core's parser hands out every
 * message that arrived whole as a view of its read, and the API promises a Buffer.
 * `Buffer#subarray`, the parser's default, asks its chunk for the chunk's ArrayBuffer (a call into
 * the runtime) for every view; the parser asks once per read and makes each view with
 * `bufferView`.
 *
 * Tried and dropped: a subclass of Uint8Array with Buffer.prototype in its chain, a third of the
 * cost, fails `assert.deepStrictEqual(message, Buffer.from(...))` (its prototype is not
 * Buffer.prototype), which users' tests do; `Reflect.construct(Uint8Array, args, F)` with
 * F.prototype = Buffer.prototype is twenty times slower than both.
 */
import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ViewMaker } from '../core/frame-parser.js';
import { isHttp2Stream } from './http2-streams.js';
import { isMaskMemory, releaseMaskMemory, reserveMaskMemory } from './mask-pool.js';

/** A Buffer over the same memory as `data` (no copy): `data` itself when it is one already. */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** A Buffer of `length` bytes of `buffer` from `byteOffset` (ConnectionOptions.view for Node streams). */
export const bufferView: ViewMaker = (buffer, byteOffset, length) => Buffer.from(buffer, byteOffset, length);

/**
 * The core's allocator (ConnectionOptions.allocate): memory that is not zero-filled first, for
 * arrays the core overwrites entirely (an assembled message, a masked frame). Its own
 * ArrayBuffer, never a slice of Node's shared pool, whose other bytes `.buffer` would expose.
 */
export function allocateUninitialised(size: number): Uint8Array {
  return Buffer.allocUnsafeSlow(size);
}

/**
 * Whether `stream` is done with a chunk once the chunk's write callback has run, so that masking
 * memory can go back to its pool then: a net.Socket (TLS included), whose callback runs once the
 * kernel has the bytes, or an HTTP/2 stream, whose callback Node runs once the session's socket
 * has written them (or with an error when they will never be). Another Duplex (an in-memory pair)
 * may hand the very chunk on to its reader.
 */
export function releasesOnWriteCallback(stream: Duplex): boolean {
  return stream instanceof Socket || isHttp2Stream(stream);
}

/**
 * The allocator over a stream for which releasesOnWriteCallback holds: masked frames go into
 * blocks of the masking module's memory (one copy instead of three, in memory used again and
 * again), given back once the stream has written them (see writeChunk).
 *
 * Over HTTP/2 a block can be lost to the pool: Node 20 may never call back a stream's last write
 * when the peer closes the stream right after it (see isClosedHttp2Stream). It then stays taken,
 * since its memory cannot be told apart from memory the session's socket still reads. That needs
 * a large frame in the same write as the end of the stream, and costs one run of blocks; once
 * none is free, frames go to ordinary arrays as before.
 */
export function allocatePooled(size: number, output: boolean): Uint8Array {
  if (output) {
    const block = reserveMaskMemory(size);
    if (block !== null) return block;
  }
  return Buffer.allocUnsafeSlow(size);
}

/** Writes one chunk; a block of the masking module's memory goes back to its pool once written (or dropped). */
export function writeChunk(stream: Duplex, chunk: Uint8Array): void {
  if (isMaskMemory(chunk)) stream.write(chunk, () => releaseMaskMemory(chunk));
  else stream.write(chunk);
}

/** Output that will never be written (the stream is gone): its blocks of masking memory go back now. */
export function dropChunks(chunks: readonly Uint8Array[]): void {
  for (const chunk of chunks) releaseMaskMemory(chunk);
}
