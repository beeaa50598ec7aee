/**
 * The default broker: topics within one process. Offsets and a bounded history per topic live in
 * this process's memory; a publish is delivered synchronously, before publish() returns.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { newEpoch, TopicHistory, type HistoryBounds } from './history.js';
import type { Broker, BrokerSink, HistoryResult, TopicMessage, TopicPosition } from './types.js';

/** Options of `memoryBroker()`. */
export interface MemoryBrokerOptions {
  /**
   * Messages kept per topic for history(); default 100: enough for a client that reconnects after
   * a short break to fill the gap, small enough that many topics stay cheap. 0 keeps none.
   */
  historySize?: number;
  /** Bytes of payload kept per topic; default 1 MiB (at least the newest message is kept). */
  historyBytes?: number;
}

function bound(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}

/** A broker for one process (the default of `new WebSocketServer()`). */
export function memoryBroker(options: MemoryBrokerOptions = {}): Broker {
  const bounds: HistoryBounds = {
    maxMessages: bound('historySize', options.historySize, 100),
    maxBytes: bound('historyBytes', options.historyBytes, 1 << 20),
  };
  return new MemoryBroker(bounds);
}

class MemoryBroker implements Broker {
  readonly #bounds: HistoryBounds;
  readonly #topics = new Map<string, TopicHistory>();
  #sink: BrokerSink | null = null;

  constructor(bounds: HistoryBounds) {
    this.#bounds = bounds;
  }

  open(sink: BrokerSink): void {
    if (this.#sink !== null) throw new InvalidArgumentError('a memory broker serves one server; make one per server');
    this.#sink = sink;
  }

  // Every local publish reaches the one server that opened the broker, which filters by its own
  // subscriptions: nothing to register.
  subscribe(): void {}
  unsubscribe(): void {}

  #topic(topic: string): TopicHistory {
    let history = this.#topics.get(topic);
    if (history === undefined) this.#topics.set(topic, (history = new TopicHistory(newEpoch(), this.#bounds)));
    return history;
  }

  publish(topic: string, data: Uint8Array, isText: boolean, id: string, key: string | undefined): TopicPosition {
    const history = this.#topic(topic);
    const earlier = history.find(id);
    if (earlier !== undefined) return { epoch: earlier.epoch, offset: earlier.offset };
    const message: TopicMessage = { topic, epoch: history.epoch, offset: history.offset + 1, data, isText, key, id };
    history.append(message);
    this.#sink?.deliver(message);
    return { epoch: message.epoch, offset: message.offset };
  }

  history(topic: string, since: TopicPosition | undefined): HistoryResult {
    return this.#topic(topic).since(since);
  }

  close(): void {
    this.#sink = null;
  }
}
