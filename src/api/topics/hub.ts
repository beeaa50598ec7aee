/**
 * One server's topics (issue 20): who subscribed to what, the fan-out of a published message to
 * this server's subscribers, and the queue of each subscriber whose socket is slower than the
 * publishes. A message is framed once per server (compressed once per group of connections that
 * can share the compressed bytes) and the same frame is handed to every subscriber through the
 * core's checks (`connectionInternals.sendPrepared`, Connection.sendPrepared).
 *
 * Slow subscribers: a socket buffering more than `writeBuffer` bytes takes no more frames; the
 * messages wait in the subscriber's queue (bounded in messages and bytes; slow-subscribers.ts) and
 * move to the socket as it drains. Only data waits there: pongs and the close frame go straight to
 * the socket, behind at most `writeBuffer` bytes of data, and are never dropped.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { parseExtensions } from '../../core/header-tokens.js';
import { parseDeflateParams } from '../../core/permessage-deflate.js';
import { prepareFrame, type PreparedFrame } from '../../core/prepared-frame.js';
import { deflateMessage } from '../../node/publish.js';
import { connectionInternals } from '../connection-internals.js';
import { WebSocket } from '../websocket.js';
import { checkNames, policy, type ResolvedSlow } from './topic-options.js';
import { SlowSubscribers, type Subscriber } from './slow-subscribers.js';
import { sendLegacyText } from '../legacy.js';
import type {
  Broker,
  HistoryResult,
  PublishOptions,
  PublishResult,
  SubscribeOptions,
  TopicDrop,
  TopicMessage,
  TopicMetrics,
  TopicPosition,
} from './types.js';

const PUBLISH_NAMES: ReadonlySet<string> = new Set(['except', 'binary', 'compress', 'key', 'id']);
/** Longest topic name, in UTF-16 units: topics become broker keys and appear in close reasons. */
const MAX_TOPIC_LENGTH = 1024;
/** Publishes of this server whose `except` waits for the broker's delivery; bounded, oldest forgotten. */
const MAX_PENDING_EXCEPT = 10_000;

/** The server's compression settings that publish needs (null: the server does not compress). */
export interface PublishDeflate {
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
}

/**
 * A prepared frame's array (see prepareFrame): a Buffer, which a socket writes as it is (a plain
 * Uint8Array would be wrapped in a new Buffer by every write), from Node's pool when small.
 */
const allocateFrame = (size: number): Uint8Array => Buffer.allocUnsafe(size);

/** Which hub each server-side connection belongs to (set when the server accepts it). */
const hubs = new WeakMap<WebSocket, TopicHub>();

/** Throws InvalidArgumentError unless `topic` is a usable topic name. */
export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new InvalidArgumentError(`a topic is a string of 1 to ${MAX_TOPIC_LENGTH} characters, got ${typeof topic === 'string' ? `${topic.length} characters` : String(topic)}`);
  }
}

/**
 * The window bits a connection's permessage-deflate lets us share compressed bytes with: only
 * with server_no_context_takeover (its every message starts from an empty window, so a message
 * compressed elsewhere decodes the same), and not with an 8-bit window (zlib compresses with 9).
 */
function shareBitsOf(ws: WebSocket): number {
  if (ws.extensions === '') return 0;
  const offers = parseExtensions(ws.extensions);
  const deflate = offers?.find((o) => o.name === 'permessage-deflate');
  if (deflate === undefined) return 0;
  const params = parseDeflateParams(deflate);
  if ('error' in params || !params.serverNoContextTakeover) return 0;
  const bits = typeof params.serverMaxWindowBits === 'number' ? params.serverMaxWindowBits : 15;
  return bits >= 9 ? bits : 0;
}

function skipper(except: PublishOptions['except']): ((ws: WebSocket) => boolean) | null {
  if (except === undefined) return null;
  if (typeof except === 'function') return except;
  if (except instanceof WebSocket) return (ws) => ws === except;
  const set = new Set(except);
  return (ws) => set.has(ws);
}

/** What the hub tells its server. */
export interface HubEvents {
  drop(drop: TopicDrop): void;
  error(error: Error): void;
}

/** One server's topics: subscriptions, fan-out and slow-subscriber queues. */
export class TopicHub {
  readonly #broker: Broker;
  readonly #slow: ResolvedSlow;
  readonly #deflate: PublishDeflate | null;
  readonly #events: HubEvents;
  readonly #topics = new Map<string, Set<Subscriber>>();
  readonly #subscribers = new WeakMap<WebSocket, Subscriber>();
  /** `except` of this server's publishes, by publish id, until the broker delivers them. */
  readonly #except = new Map<string, (ws: WebSocket) => boolean>();
  readonly #node = Math.floor(Math.random() * 0x100000000).toString(36);
  #ids = 0;
  #opened: Promise<void> | null = null;
  // Counters of topicMetrics().
  #messages = 0;
  #deliveries = 0;
  /** The queues of subscribers whose sockets are behind, with their counters. */
  readonly #queues: SlowSubscribers;

  constructor(broker: Broker, slow: ResolvedSlow, deflate: PublishDeflate | null, events: HubEvents) {
    this.#broker = broker;
    this.#slow = slow;
    this.#deflate = deflate;
    this.#events = events;
    this.#queues = new SlowSubscribers(slow, (drop) => this.#events.drop(drop), (subscriber, frame) => this.#send(subscriber, frame));
  }

  /** Opens the broker once (lazily: a server that never uses topics never touches its broker). */
  #open(): Promise<void> {
    this.#opened ??= Promise.resolve(
      this.#broker.open({
        deliver: (message) => this.#deliver(message),
        error: (error) => this.#events.error(error),
        count: (topic) => this.#topics.get(topic)?.size ?? 0,
      }),
    );
    return this.#opened;
  }

  /** Lets `ws` subscribe to this hub's topics (a server calls it for each connection it accepts). */
  attach(ws: WebSocket): void {
    hubs.set(ws, this);
  }

  /** See WebSocket.subscribe. */
  subscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): void {
    checkTopic(topic);
    if (options !== undefined) checkNames('subscribe()', options, new Set(['policy']));
    const own = options?.policy === undefined ? undefined : policy('policy', options.policy, 'close');
    if (ws.readyState !== 'open') return;
    let subscriber = this.#subscribers.get(ws);
    if (subscriber === undefined) {
      subscriber = { ws, topics: new Map(), shareBits: shareBitsOf(ws), queue: [], queuedBytes: 0, waiting: false, lastWrite: null };
      this.#subscribers.set(ws, subscriber);
      const s = subscriber;
      ws.once('close', () => this.#leave(s));
    }
    subscriber.topics.set(topic, own);
    let set = this.#topics.get(topic);
    if (set === undefined) {
      this.#topics.set(topic, (set = new Set()));
      void this.#open()
        .then(() => this.#broker.subscribe(topic))
        .catch((error: unknown) => this.#events.error(error as Error));
    }
    const before = set.size;
    set.add(subscriber);
    if (set.size !== before) this.#changed(topic);
  }

  /** Tells the broker that this server's count of `topic`'s subscribers changed. */
  #changed(topic: string): void {
    if (this.#broker.subscribersChanged === undefined) return;
    try {
      this.#broker.subscribersChanged(topic);
    } catch (error) {
      this.#events.error(error as Error);
    }
  }

  /** See WebSocket.unsubscribe. */
  unsubscribe(ws: WebSocket, topic: string): boolean {
    const subscriber = this.#subscribers.get(ws);
    if (subscriber === undefined || !subscriber.topics.delete(topic)) return false;
    this.#removeFrom(subscriber, topic);
    // What was queued for the topic is not wanted any more.
    if (subscriber.queue.some((q) => q.topic === topic)) this.#queues.setQueue(subscriber, subscriber.queue.filter((q) => q.topic !== topic));
    return true;
  }

  /** See WebSocket.topics. */
  topicsOf(ws: WebSocket): ReadonlySet<string> {
    return new Set(this.#subscribers.get(ws)?.topics.keys());
  }

  #removeFrom(subscriber: Subscriber, topic: string): void {
    const set = this.#topics.get(topic);
    if (set === undefined || !set.delete(subscriber)) return;
    this.#changed(topic);
    if (set.size === 0) {
      this.#topics.delete(topic);
      void Promise.resolve(this.#opened)
        .then(() => this.#broker.unsubscribe(topic))
        .catch((error: unknown) => this.#events.error(error as Error));
    }
  }

  #leave(subscriber: Subscriber): void {
    for (const topic of subscriber.topics.keys()) this.#removeFrom(subscriber, topic);
    subscriber.topics.clear();
    this.#queues.setQueue(subscriber, []);
    this.#subscribers.delete(subscriber.ws);
  }

  subscriberCount(topic: string): number {
    checkTopic(topic);
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** Subscribers of `topic` on every server of the broker; this server's alone when the broker cannot tell. */
  async totalSubscriberCount(topic: string): Promise<number> {
    checkTopic(topic);
    if (this.#broker.subscriberCount === undefined) return this.subscriberCount(topic);
    await this.#open();
    return await this.#broker.subscriberCount(topic);
  }

  /** Publishes through the broker; this server's subscribers get it when the broker delivers it. */
  async publish(topic: string, data: string | Uint8Array | ArrayBuffer, options: PublishOptions = {}): Promise<PublishResult> {
    checkTopic(topic);
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('publish() options must be an object');
    checkNames('publish()', options, PUBLISH_NAMES);
    if (options.key !== undefined && typeof options.key !== 'string') throw new InvalidArgumentError('publish() key must be a string');
    if (options.id !== undefined && (typeof options.id !== 'string' || options.id.length === 0 || options.id.length > 200)) {
      throw new InvalidArgumentError('publish() id must be a string of 1 to 200 characters');
    }
    const isText = typeof data === 'string' && options.binary !== true;
    // Copied once: the history keeps the bytes, and the caller may reuse its buffer.
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data instanceof ArrayBuffer ? new Uint8Array(data.slice(0)) : ArrayBuffer.isView(data) ? new Uint8Array(data) : null;
    if (bytes === null) throw new InvalidArgumentError('publish() takes a string or bytes');
    const id = options.id ?? `${this.#node}.${++this.#ids}`;
    const skip = skipper(options.except);
    if (skip !== null) {
      if (this.#except.size >= MAX_PENDING_EXCEPT) this.#except.delete(this.#except.keys().next().value!);
      this.#except.set(id, skip);
    }
    this.#compressFlags.set(id, options.compress !== false);
    if (this.#compressFlags.size > MAX_PENDING_EXCEPT) this.#compressFlags.delete(this.#compressFlags.keys().next().value!);
    await this.#open();
    try {
      const position = await this.#broker.publish(topic, bytes, isText, id, options.key);
      return { topic, epoch: position.epoch, offset: position.offset };
    } catch (error) {
      this.#except.delete(id);
      this.#compressFlags.delete(id);
      throw error;
    }
  }

  /** Publishes of this server with `compress: false`, until delivered (default: compress). */
  readonly #compressFlags = new Map<string, boolean>();

  async history(topic: string, since: TopicPosition | undefined): Promise<HistoryResult> {
    checkTopic(topic);
    if (since !== undefined && (since === null || typeof since !== 'object' || typeof since.epoch !== 'string' || !Number.isSafeInteger(since.offset) || since.offset < 0)) {
      throw new InvalidArgumentError('history() since must be { epoch: string, offset: non-negative integer }');
    }
    await this.#open();
    return await this.#broker.history(topic, since);
  }

  /** A message from the broker for a topic this server subscribed to: to every local subscriber. */
  #deliver(message: TopicMessage): void {
    const set = this.#topics.get(message.topic);
    const skip = this.#except.get(message.id) ?? null;
    this.#except.delete(message.id);
    const compress = this.#compressFlags.get(message.id) ?? true;
    this.#compressFlags.delete(message.id);
    if (set === undefined || set.size === 0) return;
    this.#messages++;
    this.#fanOut(set, message.data, message.isText, compress, skip, message.topic, message.offset, message.key);
  }

  /**
   * server.broadcast(): publishing to everyone connected to this server, now, without a broker
   * or history (a local fan-out with the same framing and slow-subscriber policy). Returns how
   * many clients it was handed to.
   */
  broadcast(clients: Iterable<WebSocket>, data: string | Uint8Array | ArrayBuffer, binary: boolean, except: PublishOptions['except']): number {
    const isText = typeof data === 'string' && !binary;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    // Uncompressed, as broadcast always sent (RFC 7692 lets any message go without RSV1).
    const frame = prepareFrame(bytes, isText, 0, allocateFrame);
    const skip = skipper(except);
    let sent = 0;
    for (const ws of clients) {
      if (ws.readyState !== 'open' || (skip !== null && skip(ws))) continue;
      // legacy (issue 22): hybi-00 clients get text in their own framing, and no binary.
      if (ws.version === 'hybi-00') {
        if (isText && sendLegacyText(ws, bytes)) sent++;
        continue;
      }
      const subscriber = this.#subscribers.get(ws);
      if (subscriber !== undefined) this.#offer(subscriber, frame, '', 0, undefined);
      else {
        void connectionInternals.sendPrepared(ws, frame);
        this.#deliveries++;
      }
      sent++;
    }
    return sent;
  }

  #fanOut(set: Set<Subscriber>, data: Uint8Array, isText: boolean, compress: boolean, skip: ((ws: WebSocket) => boolean) | null, topic: string, offset: number, key: string | undefined): void {
    const plain = prepareFrame(data, isText, 0, allocateFrame);
    const deflate = compress ? this.#deflate : null;
    // Compressed once per window size, on first need.
    let compressed: Map<number, PreparedFrame> | null = null;
    for (const subscriber of set) {
      if (skip !== null && skip(subscriber.ws)) continue;
      let frame = plain;
      if (deflate !== null && subscriber.shareBits !== 0 && data.length >= deflate.threshold) {
        compressed ??= new Map();
        let shared = compressed.get(subscriber.shareBits);
        if (shared === undefined) {
          // RSV1 marks a compressed message (RFC 7692 section 6).
          shared = prepareFrame(deflateMessage(data, subscriber.shareBits, deflate.level, deflate.memLevel), isText, 0x40, allocateFrame);
          compressed.set(subscriber.shareBits, shared);
        }
        frame = shared;
      }
      this.#offer(subscriber, frame, topic, offset, key);
    }
  }

  /**
   * Hands `frame` to the subscriber's socket, or queues it when the socket is behind. The queue
   * entry and the subscription's policy are only needed then: the common case (a socket keeping
   * up) allocates nothing per subscriber. `topic` '' is a broadcast (the server's policy).
   */
  #offer(subscriber: Subscriber, frame: PreparedFrame, topic: string, offset: number, key: string | undefined): void {
    const ws = subscriber.ws;
    if (ws.readyState !== 'open') return;
    if (subscriber.queue.length === 0 && ws.bufferedAmount <= this.#slow.writeBuffer) {
      this.#send(subscriber, frame);
      return;
    }
    this.#queues.hold(subscriber, { topic, offset, key, frame });
  }

  #send(subscriber: Subscriber, frame: PreparedFrame): void {
    subscriber.lastWrite = connectionInternals.sendPrepared(subscriber.ws, frame) ?? null;
    this.#deliveries++;
  }

  metrics(): TopicMetrics {
    return {
      messages: this.#messages,
      deliveries: this.#deliveries,
      dropped: { ...this.#queues.dropped },
      closedSlow: this.#queues.closedSlow,
      queuedMessages: this.#queues.queuedMessages,
      queuedBytes: this.#queues.queuedBytes,
    };
  }

  /** Closes the broker (the server is shutting down). */
  async close(): Promise<void> {
    if (this.#opened === null) return;
    await this.#opened.catch(() => {});
    await this.#broker.close();
  }
}

/** The hub of a server-side connection, or an error saying why it has none. */
export function hubOf(ws: WebSocket): TopicHub {
  const hub = hubs.get(ws);
  if (hub === undefined) throw new InvalidArgumentError('subscribe() is for connections a WebSocketServer accepted');
  return hub;
}

/** The topics of a connection; empty for one no server accepted. */
export function topicsOf(ws: WebSocket): ReadonlySet<string> {
  return hubs.get(ws)?.topicsOf(ws) ?? new Set();
}
