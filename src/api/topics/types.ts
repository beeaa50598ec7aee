/**
 * The shapes of topics (issue 20): what publish() takes and returns, what history() answers, the
 * slow-subscriber policies, and the Broker interface that carries publishes between processes.
 * Nothing here reaches the wire: hybi adds no protocol of its own, applications put offsets into
 * their own messages when their clients should resume.
 */
import type { WebSocket } from '../websocket.js';

/**
 * Where a topic's stream of messages stands: `offset` counts publishes (1 for the first), `epoch`
 * names the history they belong to and changes when that history is lost (a broker restarted
 * empty), so an offset is only comparable with offsets of the same epoch.
 */
export interface TopicPosition {
  readonly epoch: string;
  readonly offset: number;
}

/** What `server.publish()` returns: the message's place in its topic. */
export interface PublishResult extends TopicPosition {
  readonly topic: string;
}

/** One published message as brokers carry it and history replays it. */
export interface TopicMessage extends TopicPosition {
  readonly topic: string;
  /** The payload as published (UTF-8 bytes for text). */
  readonly data: Uint8Array;
  readonly isText: boolean;
  /** The conflation key given to publish(), if any. */
  readonly key?: string | undefined;
  /** The publish's idempotency key: the same id published twice is stored and delivered once. */
  readonly id: string;
}

/** What `server.history()` answers. */
export interface HistoryResult extends TopicPosition {
  /** The messages after `since` that the history still holds, oldest first. */
  readonly messages: readonly TopicMessage[];
  /**
   * True when `messages` is every message after `since`: same epoch, nothing trimmed in between.
   * False means a gap the history cannot fill; the client must start over (fetch state anew).
   */
  readonly complete: boolean;
}

/** Options of `server.history()`. */
export interface HistoryOptions {
  /** The last position the caller has; default: from the oldest message held. */
  since?: TopicPosition;
}

/**
 * What happens to a subscriber whose socket does not take messages as fast as they are
 * published, once its queue is full (see SlowSubscriberOptions):
 * - 'close': close it with 1008 (policy violation) and a reason saying why; default, so that
 *   nobody misses messages without being told;
 * - 'drop-oldest': drop the oldest queued message of the same topic (live data: the newest matters);
 * - 'drop-newest': drop the message being published (the queue keeps what it had);
 * - 'conflate': keep only the latest message per `key` (publish's `key` option) of a topic; a
 *   message without a key, or one whose key is not queued, drops the oldest of its topic.
 * Every drop is counted (`server.topicMetrics()`) and emitted ('topicDrop').
 */
export type SlowSubscriberPolicy = 'close' | 'drop-oldest' | 'drop-newest' | 'conflate';

/** The bounds of one subscriber's queue and the policy applied when they are reached. */
export interface SlowSubscriberOptions {
  /** Default 'close' (see SlowSubscriberPolicy). */
  policy?: SlowSubscriberPolicy;
  /**
   * Published messages held for one connection beyond what its socket buffers; default 1,000.
   * Together with maxQueuedBytes it bounds what a reader that stopped can cost.
   */
  maxQueuedMessages?: number;
  /** Bytes of frames held for one connection; default 1 MiB (see maxQueuedMessages). */
  maxQueuedBytes?: number;
  /**
   * Bytes the socket may buffer before messages are held in the queue instead; default 64 KiB.
   * Kept small so that a pong or a close frame waits behind at most this much data.
   */
  writeBuffer?: number;
}

/** Options of `ws.subscribe()`: a policy of its own for this topic, else the server's. */
export interface SubscribeOptions {
  policy?: SlowSubscriberPolicy;
}

/** Options of `server.publish()`. */
export interface PublishOptions {
  /** A client (or clients) of this server not to send to, or a predicate that returns true to skip. */
  except?: WebSocket | Iterable<WebSocket> | ((ws: WebSocket) => boolean);
  /** Send a string as a binary message (bytes are always binary); default false. */
  binary?: boolean;
  /**
   * Compress for the subscribers that can share compressed bytes (permessage-deflate with
   * server_no_context_takeover); default true when the server has `compress` on. Messages under
   * the server's compress threshold, and other subscribers, get the message uncompressed.
   */
  compress?: boolean;
  /** The conflation key ('conflate' policy): a queued message with the same key is replaced. */
  key?: string;
  /**
   * Idempotency key: a publish retried with the same id (after a timeout, say) is stored and
   * delivered once. Default: a fresh id per call.
   */
  id?: string;
}

/** A drop of a message for a slow subscriber, as the 'topicDrop' event tells it. */
export interface TopicDrop {
  readonly ws: WebSocket;
  readonly topic: string;
  /** The policy that dropped it. */
  readonly policy: Exclude<SlowSubscriberPolicy, 'close'>;
  /** The dropped message's offset in its topic. */
  readonly offset: number;
}

/** Counters of `server.topicMetrics()`. */
export interface TopicMetrics {
  /** Publishes delivered to this server's subscribers (one per message, not per subscriber). */
  readonly messages: number;
  /** Frames handed to subscribers' sockets. */
  readonly deliveries: number;
  /** Messages dropped for slow subscribers, by policy. */
  readonly dropped: { readonly 'drop-oldest': number; readonly 'drop-newest': number; readonly conflate: number };
  /** Subscribers closed with 1008 for being too slow. */
  readonly closedSlow: number;
  /** Messages and bytes held in subscribers' queues now. */
  readonly queuedMessages: number;
  readonly queuedBytes: number;
}

/** How a broker hands messages to the server that uses it. */
export interface BrokerSink {
  /** A message for a topic this server subscribed to, in the topic's offset order. */
  deliver(message: TopicMessage): void;
  /** Something went wrong that no call is waiting for (a lost link); the server emits 'error'. */
  error(error: Error): void;
  /** How many connections of this server are subscribed to `topic` now (for subscriberCount across servers). */
  count(topic: string): number;
}

/**
 * Carries publishes between the servers of one application and keeps each topic's offset, epoch
 * and bounded history. `memoryBroker()` (one process, the default), `clusterBroker()` (the workers
 * of node:cluster), `redisBroker()` from 'hybi/redis' (processes and machines). A server calls `open` once, then `subscribe` when its
 * first local subscriber of a topic comes and `unsubscribe` when the last one leaves.
 */
export interface Broker {
  open(sink: BrokerSink): void | Promise<void>;
  subscribe(topic: string): void | Promise<void>;
  unsubscribe(topic: string): void | Promise<void>;
  /**
   * Stores the message in the topic's history, gives it the next offset and delivers it to every
   * server subscribed to the topic (this one included, through its sink). Resolves with its
   * position; rejects (BrokerError) when it could not be stored, and then it was not delivered
   * either, unless a retry with the same id finds it stored.
   */
  publish(topic: string, data: Uint8Array, isText: boolean, id: string, key: string | undefined): TopicPosition | Promise<TopicPosition>;
  history(topic: string, since: TopicPosition | undefined): HistoryResult | Promise<HistoryResult>;
  /**
   * Optional: the server's count of subscribers to `topic` changed (the server calls it on every
   * subscribe and unsubscribe, synchronously, possibly before an asynchronous `open()` resolved;
   * read the count with `sink.count(topic)`). A broker that answers `subscriberCount` across
   * servers keeps the others informed from here.
   */
  subscribersChanged?(topic: string): void;
  /**
   * Optional: how many connections are subscribed to `topic` on every server that shares this
   * broker, this one included. Without it, `server.totalSubscriberCount()` counts this server's.
   */
  subscriberCount?(topic: string): number | Promise<number>;
  close(): void | Promise<void>;
}

/** The topic options of `new WebSocketServer()`. */
export interface TopicServerOptions {
  /**
   * Carries publishes to the servers of other processes and keeps offsets and history; default
   * `memoryBroker()`: this process only.
   */
  broker?: Broker;
  /** Bounds and policy for subscribers slower than the publishes (see SlowSubscriberOptions). */
  slowSubscriber?: SlowSubscriberOptions;
}
