/**
 * An in-memory pair of connected Duplex streams, for driving two WebSocket ends in one process
 * without sockets. What one end writes, the other reads, with real backpressure: a write's
 * callback is held until the reading end has asked for more, so a paused reader stops the writer
 * exactly as a full TCP window would.
 */
import { Duplex } from 'node:stream';

/** One end of the pair, with test-only controls. */
export interface PairEnd extends Duplex {
  /** Bytes written by this end so far (for asserting that nothing, or something, was sent). */
  readonly bytesWrittenTotal: number;
  /** Destroy both ends as a network reset would: the other end errors with ECONNRESET. */
  reset(): void;
}

export interface DuplexPairOptions {
  /**
   * As `net.Socket`'s option: false (the default, like the sockets `net.createServer` hands out)
   * ends the writable side automatically when the peer ends; true keeps it open (half-close).
   */
  allowHalfOpen?: boolean;
  /** Readable high-water mark of each end, in bytes (default 16 KiB, as a socket's). */
  highWaterMark?: number;
}

class End extends Duplex implements PairEnd {
  peer!: End;
  private pendingCallback: ((error?: Error | null) => void) | null = null;
  private written = 0;

  constructor(options: DuplexPairOptions) {
    super({ allowHalfOpen: options.allowHalfOpen ?? false, readableHighWaterMark: options.highWaterMark ?? 16 * 1024 });
  }

  get bytesWrittenTotal(): number {
    return this.written;
  }

  override _read(): void {
    // The reader wants more: release the peer's held write, if any.
    const callback = this.peer.pendingCallback;
    if (callback) {
      this.peer.pendingCallback = null;
      callback();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written += chunk.length;
    if (this.peer.destroyed) {
      callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      return;
    }
    // Copy, as a socket would: the reader must never see the writer's later changes to its buffer.
    if (this.peer.push(Buffer.from(chunk))) callback();
    else this.pendingCallback = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pending = this.pendingCallback;
    this.pendingCallback = null;
    if (pending) pending(error ?? new Error('destroyed'));
    // A peer still reading sees the end of the stream once this end is gone, as after a FIN/RST.
    if (!this.peer.destroyed && !this.peer.readableEnded) this.peer.push(null);
    callback(error);
  }

  reset(): void {
    const error = (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    this.peer.destroy(error());
    this.destroy();
  }
}

/** Two connected in-memory ends: `a` writes to `b` and `b` to `a`. */
export function duplexPair(options: DuplexPairOptions = {}): [PairEnd, PairEnd] {
  const a = new End(options);
  const b = new End(options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
