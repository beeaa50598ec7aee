/**
 * The Readable of one received message (`receiveStream()`), and the buffer mark that bounds it.
 */
import { Readable } from 'node:stream';

/**
 * The buffer mark of a streamed message's Readable: a quarter of receiveHighWaterMark. A reader
 * that takes everything buffered at once (`for await`, read() without a size) then holds what it
 * took while the buffer fills again, and one read of input may be pushed past the mark: the
 * message's memory stays within receiveHighWaterMark instead of at twice it and more.
 */
export function streamHighWaterMark(receiveHighWaterMark: number): number {
  return Math.max(1, Math.floor(receiveHighWaterMark / 4));
}

/** The Readable of one received message. */
export class MessageStream extends Readable {
  readonly type: 'text' | 'binary';
  private readonly onPull: () => void;
  private readonly onGone: () => void;

  constructor(type: 'text' | 'binary', highWaterMark: number, onPull: () => void, onGone: () => void) {
    super({ highWaterMark });
    this.type = type;
    this.onPull = onPull;
    this.onGone = onGone;
  }

  override _read(): void {
    this.onPull();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onGone();
    callback(error);
  }
}
