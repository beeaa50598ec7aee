/**
 * The queues of a hub's slow subscribers (issue 20): a subscriber whose socket buffers more than
 * `writeBuffer` bytes takes no more frames; its messages wait here, bounded in messages and bytes
 * under the subscription's policy (close, drop-oldest, drop-newest, conflate), and move to the
 * socket as it drains. The hub (hub.ts) decides when a delivery must wait and hands it over
 * with `hold`; frames go out again through the hub's own send, which counts deliveries.
 */
import { CloseCode } from '../../core/close-code.js';
import type { PreparedFrame } from '../../core/prepared-frame.js';
import { connectionInternals } from '../connection-internals.js';
import type { WebSocket } from '../websocket.js';
import type { ResolvedSlow } from './topic-options.js';
import type { SlowSubscriberPolicy, TopicDrop } from './types.js';

/** Close reasons are at most 123 bytes (RFC 6455 section 5.5): topic names are cut to this. */
const REASON_TOPIC_LENGTH = 40;

/** A message waiting in a subscriber's queue. */
export interface Queued {
  readonly topic: string;
  readonly offset: number;
  readonly key: string | undefined;
  readonly frame: PreparedFrame;
}

/** One connection's subscriptions and queue. */
export interface Subscriber {
  readonly ws: WebSocket;
  /** Topic -> the subscription's own policy (undefined: the server's). */
  readonly topics: Map<string, SlowSubscriberPolicy | undefined>;
  /** Window bits of a connection that can share compressed bytes; 0 when it cannot. */
  readonly shareBits: number;
  queue: Queued[];
  queuedBytes: number;
  /** A wait for the socket is pending (see SlowSubscribers.wait). */
  waiting: boolean;
  /**
   * The promise of the last send when it was queued behind the connection's own sends; null when
   * it went straight to the driver, whose pending output `wait` then waits for.
   */
  lastWrite: Promise<void> | null;
}

/** How long a queue waits before looking again at a socket it has no send of its own to wait on. */
const RECHECK_MS = 20;

function recheckLater(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, RECHECK_MS).unref());
}

/** The slow-subscriber queues of one hub, and their counters (the hub's topicMetrics()). */
export class SlowSubscribers {
  readonly dropped = { 'drop-oldest': 0, 'drop-newest': 0, conflate: 0 };
  closedSlow = 0;
  queuedMessages = 0;
  queuedBytes = 0;

  constructor(
    private readonly slow: ResolvedSlow,
    /** Reports a message dropped by a policy (the hub's 'drop' event). */
    private readonly onDrop: (drop: TopicDrop) => void,
    /** Hands a frame to the subscriber's socket (the hub's send, which counts the delivery). */
    private readonly send: (subscriber: Subscriber, frame: PreparedFrame) => void,
  ) {}

  /** The subscriber's socket is behind: `item` waits in its queue, under the subscription's policy (`topic` '' is a broadcast: the server's). */
  hold(subscriber: Subscriber, item: Queued): void {
    const policy = (item.topic === '' ? undefined : subscriber.topics.get(item.topic)) ?? this.slow.policy;
    if (!this.enqueue(subscriber, item, policy)) return;
    this.wait(subscriber);
  }

  /** Queues `item` under the subscriber's policy; false when the subscriber was closed instead. */
  private enqueue(subscriber: Subscriber, item: Queued, policy: SlowSubscriberPolicy): boolean {
    const slow = this.slow;
    const queue = subscriber.queue;
    if (policy === 'conflate' && item.key !== undefined) {
      const at = queue.findIndex((q) => q.topic === item.topic && q.key === item.key);
      if (at !== -1) this.dropAt(subscriber, at, 'conflate');
    }
    const full = (): boolean => queue.length + 1 > slow.maxQueuedMessages || subscriber.queuedBytes + item.frame.size > slow.maxQueuedBytes;
    while (full()) {
      if (policy === 'close') {
        this.closeSlow(subscriber, item.topic);
        return false;
      }
      const oldest = policy === 'drop-newest' ? -1 : queue.findIndex((q) => q.topic === item.topic);
      if (oldest === -1) {
        this.countDrop(subscriber, item, policy);
        return false;
      }
      this.dropAt(subscriber, oldest, policy === 'conflate' ? 'conflate' : 'drop-oldest');
    }
    queue.push(item);
    subscriber.queuedBytes += item.frame.size;
    this.queuedMessages++;
    this.queuedBytes += item.frame.size;
    return true;
  }

  private dropAt(subscriber: Subscriber, at: number, policy: TopicDrop['policy']): void {
    const [item] = subscriber.queue.splice(at, 1);
    subscriber.queuedBytes -= item!.frame.size;
    this.queuedMessages--;
    this.queuedBytes -= item!.frame.size;
    this.countDrop(subscriber, item!, policy);
  }

  private countDrop(subscriber: Subscriber, item: Queued, policy: TopicDrop['policy']): void {
    this.dropped[policy]++;
    this.onDrop({ ws: subscriber.ws, topic: item.topic, policy, offset: item.offset });
  }

  private closeSlow(subscriber: Subscriber, topic: string): void {
    const queued = subscriber.queue.length;
    const bytes = subscriber.queuedBytes;
    this.setQueue(subscriber, []);
    this.closedSlow++;
    const name = topic === '' ? 'broadcast' : `topic ${JSON.stringify(topic.length > REASON_TOPIC_LENGTH ? topic.slice(0, REASON_TOPIC_LENGTH) + '...' : topic)}`;
    // RFC 6455 section 7.4.1: 1008, a message that violates the endpoint's policy (here: reading
    // too slowly to keep up). The reason says what filled up. The close frame is not queued
    // behind the dropped data: it goes to the socket now.
    void subscriber.ws.close(CloseCode.PolicyViolation, `too slow: ${queued} messages (${bytes} bytes) waiting, ${name}`).catch(() => {});
  }

  /** Moves queued messages to the socket each time it has drained enough. */
  private wait(subscriber: Subscriber): void {
    if (subscriber.waiting) return;
    subscriber.waiting = true;
    // The socket is behind: wait until it has written what it holds (asked for only now, so a
    // delivery to a socket that keeps up makes no promise), or for our last send when it was
    // queued behind the connection's own. With nothing pending in either (the bytes are the
    // application's own queued sends, or the last flush could send nothing), look again a little
    // later: waiting on a settled promise would spin without letting the socket drain.
    const written = subscriber.lastWrite ?? connectionInternals.pendingWrite(subscriber.ws) ?? recheckLater();
    subscriber.lastWrite = null;
    written.then(
      () => {
        subscriber.waiting = false;
        this.flush(subscriber);
      },
      () => {
        // The connection ended: what waited for it will never leave.
        subscriber.waiting = false;
        this.setQueue(subscriber, []);
      },
    );
  }

  private flush(subscriber: Subscriber): void {
    const ws = subscriber.ws;
    if (ws.readyState !== 'open') return this.setQueue(subscriber, []);
    const queue = subscriber.queue;
    let taken = 0;
    while (taken < queue.length && ws.bufferedAmount <= this.slow.writeBuffer) {
      const item = queue[taken++]!;
      subscriber.queuedBytes -= item.frame.size;
      this.queuedMessages--;
      this.queuedBytes -= item.frame.size;
      this.send(subscriber, item.frame);
    }
    if (taken > 0) queue.splice(0, taken);
    if (queue.length > 0) this.wait(subscriber);
  }

  /** Replaces the subscriber's queue (emptied when it leaves or its connection ends), keeping the counters true. */
  setQueue(subscriber: Subscriber, queue: Queued[]): void {
    this.queuedMessages -= subscriber.queue.length - queue.length;
    let bytes = 0;
    for (const item of queue) bytes += item.frame.size;
    this.queuedBytes -= subscriber.queuedBytes - bytes;
    subscriber.queue = queue;
    subscriber.queuedBytes = bytes;
  }
}
