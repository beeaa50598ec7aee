/**
 * Views of what a user sends or receives as bytes, shared by the send and receive queues: never
 * a copy unless the name says so.
 */
/** The empty payload (a ping without data, the final frame of a streamed message). */
export const EMPTY = new Uint8Array(0);

// One owner for Buffer views of bytes (the node layer's); re-exported for the queues here.
export { asBuffer } from '../node/core-memory.js';

export function isByteSource(data: unknown): data is Uint8Array | ArrayBuffer | ArrayBufferView {
  // Views first: a Buffer or Uint8Array (nearly every send) is one check, where `instanceof
  // ArrayBuffer` would walk its whole prototype chain to say no (issue 24, small messages).
  return ArrayBuffer.isView(data) || data instanceof ArrayBuffer || data instanceof SharedArrayBuffer;
}

/** Bytes of a byte source, as a view (never a copy). */
export function byteView(data: Uint8Array | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

export function isAsyncIterable(data: unknown): data is AsyncIterable<unknown> {
  return typeof data === 'object' && data !== null && typeof (data as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

/**
 * A view that may be held long (queued, or pushed into a reader's buffer): copied when it is a
 * small piece of a larger read, which it would otherwise keep alive while the bounds count only
 * the piece (a peer could pin a whole read per byte).
 */
export function detached(data: Uint8Array): Uint8Array {
  return data.byteLength * 2 < data.buffer.byteLength ? Uint8Array.prototype.slice.call(data) : data;
}
