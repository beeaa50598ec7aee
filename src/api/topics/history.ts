/**
 * A topic's bounded history in one process (the memory broker's): the latest messages up to a
 * count and a byte total, and what `history()` answers from them.
 */
import type { HistoryResult, TopicMessage, TopicPosition } from './types.js';

/** The bounds of one topic's history. */
export interface HistoryBounds {
  readonly maxMessages: number;
  readonly maxBytes: number;
}

/** One topic's offset, epoch and retained messages. */
export class TopicHistory {
  readonly epoch: string;
  offset = 0;
  readonly #bounds: HistoryBounds;
  readonly #messages: TopicMessage[] = [];
  #head = 0;
  #bytes = 0;

  constructor(epoch: string, bounds: HistoryBounds) {
    this.epoch = epoch;
    this.#bounds = bounds;
  }

  /** Keeps `message` (whose offset is the next one), trimming the oldest past the bounds. */
  append(message: TopicMessage): void {
    this.offset = message.offset;
    if (this.#bounds.maxMessages === 0) return;
    this.#messages.push(message);
    this.#bytes += message.data.length;
    while (this.#messages.length - this.#head > this.#bounds.maxMessages || (this.#bytes > this.#bounds.maxBytes && this.#messages.length - this.#head > 1)) {
      this.#bytes -= this.#messages[this.#head]!.data.length;
      this.#messages[this.#head++] = undefined as unknown as TopicMessage;
    }
    // Compact now and then, so the array does not grow with every message ever kept.
    if (this.#head > 1024 && this.#head * 2 > this.#messages.length) {
      this.#messages.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** The message with this id, when still held (an idempotent retry). */
  find(id: string): TopicMessage | undefined {
    for (let i = this.#messages.length - 1; i >= this.#head; i--) if (this.#messages[i]!.id === id) return this.#messages[i];
    return undefined;
  }

  /** What the history holds after `since`, and whether that is all there was. */
  since(since: TopicPosition | undefined): HistoryResult {
    const held = this.#messages.slice(this.#head);
    const oldest = held.length > 0 ? held[0]!.offset : this.offset + 1;
    if (since === undefined) return { epoch: this.epoch, offset: this.offset, messages: held, complete: oldest === 1 };
    if (since.epoch !== this.epoch) return { epoch: this.epoch, offset: this.offset, messages: held, complete: false };
    const messages = held.filter((m) => m.offset > since.offset);
    // Complete when the first message after `since` is still held (or nothing came after it).
    return { epoch: this.epoch, offset: this.offset, messages, complete: since.offset + 1 >= oldest && since.offset <= this.offset };
  }
}

/** A fresh epoch: unlikely to repeat across processes and restarts. */
export function newEpoch(): string {
  return `${Date.now().toString(36)}-${Math.floor(Math.random() * 0x100000000).toString(36)}`;
}
