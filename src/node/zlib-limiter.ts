/**
 * A process-wide bound on concurrent zlib work.
 *
 * Every permessage-deflate operation (inflating one received message, deflating one sent message)
 * runs on libuv's thread pool and holds its input and its growing output in memory until it ends.
 * Thousands of connections compressing at once would otherwise start thousands of operations,
 * queue them all on the pool (4 threads by default) and hold all their buffers at the same time.
 * The limiter lets a fixed number run and queues the rest in arrival order, so memory in flight is
 * bounded by `concurrency` operations however many connections there are.
 *
 * Order per connection is the codec's business (it chains its own operations and submits the next
 * one only after the previous settled); the limiter only has to be fair, which FIFO is.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { Fifo } from './fifo.js';

/**
 * Default number of zlib operations that may run at once in a process: 10. Above the thread pool
 * size (4) so the pool never idles while work is queued, yet small enough that the memory held by
 * operations in flight stays a few multiples of one message. The `ws` package uses the same figure.
 */
export const DEFAULT_ZLIB_CONCURRENCY = 10;

/** A FIFO counting semaphore for asynchronous tasks. */
export class ZlibLimiter {
  #concurrency: number;
  #active = 0;
  /** Waiting tasks' start functions, oldest first. */
  readonly #queue = new Fifo<() => void>();

  /** @param concurrency most tasks running at once (a positive integer); default 10. */
  constructor(concurrency: number = DEFAULT_ZLIB_CONCURRENCY) {
    this.#concurrency = checkConcurrency(concurrency);
  }

  /** Most tasks running at once. Raising it starts queued tasks at once; lowering it lets running ones finish. */
  get concurrency(): number {
    return this.#concurrency;
  }

  set concurrency(value: number) {
    this.#concurrency = checkConcurrency(value);
    this.#drain();
  }

  /** Tasks running now. */
  get active(): number {
    return this.#active;
  }

  /** Tasks waiting for a slot. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Run `task` once a slot is free (immediately if one is), and settle as it settles. The slot is
   * released when the task's promise settles, also when it rejects or `task` throws.
   */
  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.schedule(() => {
        let result: Promise<T>;
        try {
          result = task();
        } catch (error) {
          result = Promise.reject(error);
        }
        result.then(
          (value) => {
            this.release();
            resolve(value);
          },
          (error: unknown) => {
            this.release();
            reject(error);
          },
        );
      });
    });
  }

  /**
   * @internal The callback form of `run`, for the deflate codec (no promise per operation): calls
   * `start` once a slot is free, in submission order; whoever `start` was for must call
   * `release()` exactly once afterwards.
   */
  schedule(start: () => void): void {
    if (this.#active < this.#concurrency && this.pending === 0) {
      this.#active++;
      start();
    } else {
      this.#queue.push(start);
    }
  }

  /** @internal Frees the slot a `schedule`d start was given; the next waiting task starts. */
  release(): void {
    this.#active--;
    this.#drain();
  }

  #drain(): void {
    while (this.#active < this.#concurrency && this.#queue.length > 0) {
      this.#active++;
      this.#queue.shift()!();
    }
  }
}

function checkConcurrency(value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new InvalidArgumentError(`zlib concurrency must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * The limiter every deflate codec uses unless given its own. Set `zlibLimiter.concurrency` once at
 * start-up to change the process-wide bound.
 */
export const zlibLimiter = new ZlibLimiter();
