/**
 * `ws.receiveFragments()`: one received message as its pieces, as they arrive, each with the
 * message's type and whether it is the last (as Sagittarius's `websocket-receive-fragments`
 * gives them). It is fed by the same streaming path as `receiveStream()`, and
 * holds the socket the same way: while more than its mark is buffered, the socket is not read.
 */
import type { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../core/errors.js';

/** One piece of a received message (see `WebSocket.receiveFragments`). */
export interface Fragment {
  /**
   * The bytes of this piece: a frame's payload, or the part of a frame read so far when a frame
   * spans several reads. Text arrives as UTF-8 bytes, validated as a whole message, but a piece
   * may end inside a code point (decode with a `TextDecoder` in stream mode, or join the pieces).
   */
  data: Buffer;
  /** True on the message's last piece (which may be empty). */
  fin: boolean;
  /** The message's type. */
  type: 'text' | 'binary';
}

/**
 * The iterator `receiveFragments()` returns. Breaking out of the loop (or calling `return()`)
 * discards the rest of the message; the next message goes to the next consumer as usual.
 */
export class FragmentReader implements AsyncIterableIterator<Fragment> {
  readonly #highWaterMark: number;
  readonly #onPull: () => void;
  readonly #onGone: () => void;
  #buffered: Fragment[] = [];
  #bytes = 0;
  #waiting: { resolve(result: IteratorResult<Fragment>): void; reject(error: unknown): void } | null = null;
  /** The last piece was pushed (or the reader was given up): nothing more comes in. */
  #ended = false;
  /** The consumer stopped (return()) or took the last piece. */
  #done = false;
  #error: unknown = null;

  /**
   * @internal made by WebSocket.receiveFragments. `onPull`: the consumer took pieces and the
   * buffer is below the mark again (read the socket). `onGone`: the consumer stopped early.
   */
  constructor(highWaterMark: number, onPull: () => void, onGone: () => void) {
    this.#highWaterMark = highWaterMark;
    this.#onPull = onPull;
    this.#onGone = onGone;
  }

  /** @internal True once the consumer does not want more pieces of this message. */
  get cancelled(): boolean {
    return this.#done;
  }

  /**
   * @internal Adds a piece; false when the buffer is at its mark (stop reading until onPull).
   * Empty pieces are dropped unless they end the message.
   */
  push(data: Buffer, isText: boolean, fin: boolean): boolean {
    if (this.#ended) return true;
    if (fin) this.#ended = true;
    if (data.length === 0 && !fin) return true;
    const fragment: Fragment = { data, fin, type: isText ? 'text' : 'binary' };
    const waiting = this.#waiting;
    if (waiting !== null) {
      this.#waiting = null;
      if (fin) this.#done = true;
      waiting.resolve({ done: false, value: fragment });
      return true;
    }
    this.#buffered.push(fragment);
    this.#bytes += data.length;
    return this.#bytes < this.#highWaterMark;
  }

  /** @internal The message will not be completed (the connection closed): pieces buffered come first, then `error`. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    const waiting = this.#waiting;
    if (waiting !== null) {
      this.#waiting = null;
      this.#done = true;
      waiting.reject(error);
    }
  }

  next(): Promise<IteratorResult<Fragment>> {
    if (this.#done) return Promise.resolve({ done: true, value: undefined });
    const fragment = this.#buffered.shift();
    if (fragment !== undefined) {
      const wasFull = this.#bytes >= this.#highWaterMark;
      this.#bytes -= fragment.data.length;
      if (fragment.fin) this.#done = true;
      else if (wasFull && this.#bytes < this.#highWaterMark) this.#onPull();
      return Promise.resolve({ done: false, value: fragment });
    }
    if (this.#ended) {
      this.#done = true;
      return this.#error === null ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(this.#error);
    }
    if (this.#waiting !== null) return Promise.reject(new InvalidArgumentError('receiveFragments(): next() called before the previous one settled'));
    return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<Fragment>> {
    if (!this.#done) {
      this.#done = true;
      this.#buffered = [];
      this.#bytes = 0;
      const waiting = this.#waiting;
      this.#waiting = null;
      waiting?.resolve({ done: true, value: undefined });
      if (!this.#ended) this.#onGone();
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Fragment> {
    return this;
  }
}
