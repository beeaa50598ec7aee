/**
 * The send queue of a ReconnectingWebSocket: messages given to send() while no connection is
 * open wait here, bounded in messages and in bytes, and are flushed in order once the next
 * connection is open (after the onReconnect hook). What happens when it is full is the policy's
 * call; a message older than its time to live is dropped instead of sent late.
 */
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../../core/errors.js';
import { SendQueueFullError } from '../errors.js';
import { checkOptionNames, count, duration, optionsObject } from '../options.js';

/** When the queue is full: refuse the new message with SendQueueFullError, drop the oldest, or drop the new one. */
export type QueuePolicy = 'reject' | 'drop-oldest' | 'drop-newest';

/** Why a queued message was dropped: evicted by a newer one, past its time to live, or still queued when reconnecting ended. */
export type DropReason = 'overflow' | 'expired' | 'closed';

/** `queue` of ReconnectingWebSocket. */
export interface QueueOptions {
  /** Messages the queue holds at most; default 1000. */
  maxMessages?: number;
  /** Bytes (UTF-8 for text) the queue holds at most; default 1 MiB. */
  maxBytes?: number;
  /** What a full queue does; default 'reject', the one policy that never loses a message it accepted. */
  policy?: QueuePolicy;
  /** Ms a queued message stays worth sending; default 0, no limit. An expired message is dropped, not sent. */
  ttl?: number;
}

/** Default `queue.maxMessages`. */
export const DEFAULT_QUEUE_MESSAGES = 1000;
/** Default `queue.maxBytes`: 1 MiB, as the default maxMessageSize. */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;

const QUEUE_NAMES: ReadonlySet<string> = new Set(['maxMessages', 'maxBytes', 'policy', 'ttl']);
const POLICIES: ReadonlySet<string> = new Set(['reject', 'drop-oldest', 'drop-newest']);

/** A message as it waits: its bytes (copied, so the caller may reuse its buffer) and its deadline. */
export interface QueuedSend {
  data: string | Buffer;
  size: number;
  expires: number;
}

/** The result of offering a message to the queue. */
type Offer = { queued: true; evicted: QueuedSend[] } | { queued: false; evicted: [] };

/** A bounded FIFO of messages waiting for a connection. */
export class SendQueue {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly policy: QueuePolicy;
  readonly ttl: number;
  #items: QueuedSend[] = [];
  #bytes = 0;

  /** `false` makes a queue that holds nothing (every send while disconnected is dropped). */
  constructor(given: QueueOptions | false | undefined) {
    if (given === false) {
      this.maxMessages = 0;
      this.maxBytes = 0;
      this.policy = 'drop-newest';
      this.ttl = 0;
      return;
    }
    const options = optionsObject('queue', given);
    checkOptionNames('queue', options, QUEUE_NAMES);
    this.maxMessages = count('queue.maxMessages', options.maxMessages, DEFAULT_QUEUE_MESSAGES, 0, true);
    this.maxBytes = count('queue.maxBytes', options.maxBytes, DEFAULT_QUEUE_BYTES, 0, true);
    const policy = options.policy ?? 'reject';
    if (!POLICIES.has(policy)) throw new InvalidArgumentError(`queue.policy must be 'reject', 'drop-oldest' or 'drop-newest', got ${String(policy)}`);
    this.policy = policy;
    this.ttl = duration('queue.ttl', options.ttl, 0);
  }

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Copies and sizes a message for the queue. */
  static entry(data: string | Uint8Array | ArrayBuffer | ArrayBufferView, expires: number): QueuedSend {
    if (typeof data === 'string') return { data, size: Buffer.byteLength(data), expires };
    const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const copy = Buffer.from(view);
    return { data: copy, size: copy.length, expires };
  }

  /**
   * Offers a message: queued (with the older messages the policy evicted for it), or not queued
   * ('drop-newest', or a message larger than the whole queue). Throws SendQueueFullError under
   * 'reject' when it does not fit; nothing changes then.
   */
  offer(item: QueuedSend): Offer {
    const fits = (): boolean => this.#items.length + 1 <= this.maxMessages && this.#bytes + item.size <= this.maxBytes;
    if (fits()) return this.#push(item, []);
    if (this.policy === 'reject') {
      throw new SendQueueFullError(this.#items.length + 1 > this.maxMessages ? 'messages' : 'bytes', this.#items.length + 1 > this.maxMessages ? this.maxMessages : this.maxBytes);
    }
    // A message that could never fit is not worth emptying the queue for.
    if (this.policy === 'drop-newest' || item.size > this.maxBytes || this.maxMessages === 0) return { queued: false, evicted: [] };
    const evicted: QueuedSend[] = [];
    while (!fits()) evicted.push(this.shift()!);
    return this.#push(item, evicted);
  }

  #push(item: QueuedSend, evicted: QueuedSend[]): Offer {
    this.#items.push(item);
    this.#bytes += item.size;
    return { queued: true, evicted };
  }

  /** Puts messages whose send failed back at the front, in their order (they were accepted: they are not dropped for room). */
  requeue(items: readonly QueuedSend[]): void {
    this.#items.unshift(...items);
    for (const item of items) this.#bytes += item.size;
  }

  shift(): QueuedSend | undefined {
    const item = this.#items.shift();
    if (item !== undefined) this.#bytes -= item.size;
    return item;
  }

  /** Removes and returns every message whose time to live has passed at `now`. */
  expire(now: number): QueuedSend[] {
    if (this.ttl === 0 || this.#items.length === 0) return [];
    const expired = this.#items.filter((item) => item.expires <= now);
    if (expired.length > 0) {
      this.#items = this.#items.filter((item) => item.expires > now);
      for (const item of expired) this.#bytes -= item.size;
    }
    return expired;
  }

  /** Empties the queue, returning what it held. */
  clear(): QueuedSend[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return items;
  }
}
