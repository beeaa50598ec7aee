/**
 * `fragmentSize` as a number or as a function of the data and an offset (as Sagittarius's
 * `split` may be a procedure): how a message or a streamed chunk is cut into frames.
 */
import { InvalidArgumentError } from '../core/errors.js';

/**
 * Chooses the size of the frame that starts at `offset` of `data` (the bytes being framed: a
 * message's UTF-8 or binary payload, or one chunk of a streamed message). Must return a positive
 * integer; a size past the end of `data` means "the rest".
 */
export type FragmentSizer = (data: Uint8Array, offset: number) => number;

/** Throws InvalidArgumentError unless `value` is a positive integer or a function. */
export function checkFragmentSize(value: unknown): void {
  if (typeof value === 'function') return;
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new InvalidArgumentError(`fragmentSize must be a positive integer or a function, got ${String(value)}`);
  }
}

/**
 * Where the frames of `data` end, in order (the last is `data.length`), asking `size` for each
 * frame. Computed in full before a frame is sent, so that a bad answer fails the send before any
 * of the message is on the wire. At most `data.length` frames, so the list is bounded by the data.
 */
export function fragmentEnds(data: Uint8Array, size: number | FragmentSizer): number[] {
  const total = data.length;
  const ends: number[] = [];
  if (total === 0) return [0];
  for (let offset = 0; offset < total; ) {
    const n = typeof size === 'number' ? size : size(data, offset);
    if (!Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(`fragmentSize(data, ${offset}) must return a positive integer, got ${String(n)}`);
    }
    offset = Math.min(total, offset + n);
    ends.push(offset);
  }
  return ends;
}
