/**
 * The first-in first-out queue: of the send and receive queues (with the shared empty one that
 * every connection holds until it first queues something; most never do), of the zlib limiter's
 * waiting tasks, and of a deflate codec's operations. Nothing in it is Node's; it sits in this
 * layer so that the api layer above can use it too.
 */

/** `queue` itself, or a new queue in place of the shared empty one: call it before pushing. */
export function own<T>(queue: Fifo<T>): Fifo<T> {
  return queue === NO_QUEUE ? new Fifo<T>() : queue;
}

/**
 * A first-in first-out queue with O(1) shift (an array's shift is O(n) once it is long). A
 * connection gets one only when it first queues something (see own); its array is kept, emptied,
 * once drained, so that queueing does not allocate per message.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    const items = this.items;
    if (this.head >= items.length) return undefined;
    const item = items[this.head];
    items[this.head++] = undefined;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** The queue of every connection with nothing queued: never pushed to (see own). */
export const NO_QUEUE: Fifo<never> = new Fifo<never>();
