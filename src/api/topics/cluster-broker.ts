/**
 * Topics across the workers of `node:cluster` on one machine (issue 20): `startCluster()` in the
 * primary forks N workers that listen on one port (the cluster shares it), and
 * `clusterBroker()` in each worker carries its server's publishes to the others.
 *
 * The primary is the one sequencer: it gives each topic its offsets and epoch, keeps the bounded
 * history, and passes each message to the workers subscribed to the topic. Node's cluster has no
 * channel between two workers (each IPC channel ends at the primary), and offsets that every worker
 * agrees on need one place that orders the publishes, so a publish takes one trip to the primary
 * and one back: no second hop, no copy to a worker without subscribers. Each IPC channel keeps its
 * order, so a worker receives one topic's messages in offset order, and its own publish is
 * delivered to it before its publish() resolves.
 *
 * Payloads travel as base64 inside the JSON messages of Node's default IPC serialization, so the
 * broker works with workers forked by any code, not only by startCluster().
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../../core/errors.js';
import { BrokerError } from '../errors.js';
import { newEpoch, TopicHistory, type HistoryBounds } from './history.js';
import type { Broker, BrokerSink, HistoryResult, TopicMessage, TopicPosition } from './types.js';

/** Marks hybi's IPC messages, so that an application's own messages on the same channel are left alone. */
const TAG = 'hybi.topics';

/** A message as it crosses the IPC channel: the payload in base64. */
interface WireMessage {
  topic: string;
  epoch: string;
  offset: number;
  data: string;
  isText: boolean;
  key: string | null;
  id: string;
}

type ToPrimary =
  | { tag: typeof TAG; op: 'sub' | 'unsub'; topic: string }
  | { tag: typeof TAG; op: 'pub'; req: number; topic: string; data: string; isText: boolean; id: string; key: string | null }
  | { tag: typeof TAG; op: 'hist'; req: number; topic: string; since: TopicPosition | null }
  // The worker's subscriber counts that changed: [topic, count now] pairs (0: none left).
  | { tag: typeof TAG; op: 'counts'; counts: [string, number][] }
  | { tag: typeof TAG; op: 'total'; req: number; topic: string };

type ToWorker =
  | { tag: typeof TAG; op: 'deliver'; message: WireMessage }
  | { tag: typeof TAG; op: 'reply'; req: number; position?: TopicPosition; count?: number; history?: { epoch: string; offset: number; complete: boolean; messages: WireMessage[] }; error?: string };

function isOurs(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as { tag?: unknown }).tag === TAG;
}

function toWire(message: TopicMessage): WireMessage {
  return {
    topic: message.topic,
    epoch: message.epoch,
    offset: message.offset,
    data: Buffer.from(message.data.buffer, message.data.byteOffset, message.data.length).toString('base64'),
    isText: message.isText,
    key: message.key ?? null,
    id: message.id,
  };
}

function fromWire(wire: WireMessage): TopicMessage {
  return { topic: wire.topic, epoch: wire.epoch, offset: wire.offset, data: Buffer.from(wire.data, 'base64'), isText: wire.isText, key: wire.key ?? undefined, id: wire.id };
}

function bound(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new InvalidArgumentError(`${name} must be an integer of at least ${min}, got ${String(value)}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// The worker's side.

/** Options of `clusterBroker()`. */
export interface ClusterBrokerOptions {
  /**
   * Milliseconds a publish or history read waits for the primary before it fails with a
   * BrokerError ('timeout'); default 5,000. The primary answers at once unless it is stuck, so a
   * timeout means it is; a timed-out publish may still be applied: retry it with the same `id`.
   */
  timeout?: number;
  /**
   * Publishes and history reads waiting for the primary at once; beyond this, publish() fails at
   * once with a BrokerError ('overloaded'); default 1,000. Bounds the memory of a worker whose
   * primary stopped reading.
   */
  maxPendingPublishes?: number;
}

interface Pending {
  resolve(value: ToWorker & { op: 'reply' }): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A Broker for a server in a worker of `node:cluster` (started by `startCluster()`, or forked by
 * any code whose primary called `clusterPrimary()`): publishes reach the subscribers of every
 * worker, with offsets and history kept by the primary. Throws InvalidArgumentError outside a
 * worker.
 */
export function clusterBroker(options: ClusterBrokerOptions = {}): Broker {
  if (!cluster.isWorker || typeof process.send !== 'function') {
    throw new InvalidArgumentError('clusterBroker() runs in a worker of node:cluster (start the workers with startCluster())');
  }
  return new ClusterBroker(bound('timeout', options.timeout, 5000, 1), bound('maxPendingPublishes', options.maxPendingPublishes, 1000, 1));
}

class ClusterBroker implements Broker {
  readonly #timeout: number;
  readonly #maxPending: number;
  readonly #pending = new Map<number, Pending>();
  #requests = 0;
  #sink: BrokerSink | null = null;
  /** Topics whose subscriber count changed since the last 'counts' message to the primary. */
  readonly #changedCounts = new Set<string>();
  readonly #onMessage = (value: unknown): void => {
    if (!isOurs(value)) return;
    const message = value as ToWorker;
    if (message.op === 'deliver') {
      this.#sink?.deliver(fromWire(message.message));
      return;
    }
    const pending = this.#pending.get(message.req);
    if (pending === undefined) return; // it timed out meanwhile
    this.#pending.delete(message.req);
    clearTimeout(pending.timer);
    if (message.error !== undefined) pending.reject(new BrokerError('failed', `the cluster primary refused: ${message.error}`));
    else pending.resolve(message);
  };
  // The channel to the primary closed: every waiting call fails now rather than at its timeout,
  // and, unless the primary asked the worker to stop (then its server is closing), the server
  // reports that its topics no longer reach the other workers.
  readonly #onDisconnect = (): void => {
    this.#failAll(new BrokerError('closed', 'the IPC channel to the cluster primary closed'));
    if (cluster.worker?.exitedAfterDisconnect === true) return;
    this.#sink?.error(new BrokerError('closed', 'the IPC channel to the cluster primary closed; topics reach this worker only'));
  };

  constructor(timeout: number, maxPending: number) {
    this.#timeout = timeout;
    this.#maxPending = maxPending;
  }

  open(sink: BrokerSink): void {
    if (this.#sink !== null) throw new InvalidArgumentError('a cluster broker serves one server; make one per server');
    this.#sink = sink;
    process.on('message', this.#onMessage);
    process.on('disconnect', this.#onDisconnect);
  }

  #send(message: ToPrimary): boolean {
    if (!process.connected || process.send === undefined) return false;
    process.send(message);
    return true;
  }

  subscribe(topic: string): void {
    if (!this.#send({ tag: TAG, op: 'sub', topic })) throw new BrokerError('closed', 'the IPC channel to the cluster primary is closed');
  }

  unsubscribe(topic: string): void {
    this.#send({ tag: TAG, op: 'unsub', topic });
  }

  // The primary keeps every worker's counts, pushed on change, so that a count across workers is
  // one round trip to the primary (no question to every worker, no waiting for the slowest).
  // Changes within one turn of the event loop (a burst of connections) go in one message.
  subscribersChanged(topic: string): void {
    if (this.#changedCounts.size === 0) queueMicrotask(() => this.#sendCounts());
    this.#changedCounts.add(topic);
  }

  #sendCounts(): void {
    if (this.#changedCounts.size === 0 || this.#sink === null) return;
    const sink = this.#sink;
    const counts = [...this.#changedCounts].map((topic): [string, number] => [topic, sink.count(topic)]);
    this.#changedCounts.clear();
    this.#send({ tag: TAG, op: 'counts', counts });
  }

  async subscriberCount(topic: string): Promise<number> {
    // This worker's own changes go first on the channel, so the answer includes them.
    this.#sendCounts();
    const reply = await this.#request((req) => ({ tag: TAG, op: 'total', req, topic }));
    return reply.count!;
  }

  #request(build: (req: number) => ToPrimary): Promise<ToWorker & { op: 'reply' }> {
    if (this.#sink === null) return Promise.reject(new BrokerError('closed', 'the cluster broker is not open'));
    if (this.#pending.size >= this.#maxPending) {
      return Promise.reject(new BrokerError('overloaded', `${this.#pending.size} requests already wait for the cluster primary (maxPendingPublishes)`));
    }
    const req = ++this.#requests;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(req);
        reject(new BrokerError('timeout', `the cluster primary did not answer within ${this.#timeout} ms`));
      }, this.#timeout);
      this.#pending.set(req, { resolve, reject, timer });
      if (!this.#send(build(req))) {
        this.#pending.delete(req);
        clearTimeout(timer);
        reject(new BrokerError('closed', 'the IPC channel to the cluster primary is closed'));
      }
    });
  }

  async publish(topic: string, data: Uint8Array, isText: boolean, id: string, key: string | undefined): Promise<TopicPosition> {
    const payload = Buffer.from(data.buffer, data.byteOffset, data.length).toString('base64');
    const reply = await this.#request((req) => ({ tag: TAG, op: 'pub', req, topic, data: payload, isText, id, key: key ?? null }));
    return reply.position!;
  }

  async history(topic: string, since: TopicPosition | undefined): Promise<HistoryResult> {
    const reply = await this.#request((req) => ({ tag: TAG, op: 'hist', req, topic, since: since ?? null }));
    const h = reply.history!;
    return { epoch: h.epoch, offset: h.offset, complete: h.complete, messages: h.messages.map(fromWire) };
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.#pending.clear();
  }

  close(): void {
    process.off('message', this.#onMessage);
    process.off('disconnect', this.#onDisconnect);
    this.#failAll(new BrokerError('closed', 'the cluster broker was closed'));
    this.#sink = null;
  }
}

// ---------------------------------------------------------------------------------------------
// The primary's side.

/** Options of `clusterPrimary()`. */
export interface ClusterPrimaryOptions {
  /** Messages kept per topic for history(); default 100, as memoryBroker's. 0 keeps none. */
  historySize?: number;
  /** Bytes of payload kept per topic; default 1 MiB (at least the newest message is kept). */
  historyBytes?: number;
}

/** The sequencer in the primary: offsets, history, and which worker subscribed to what. */
export interface ClusterPrimary {
  /** Workers subscribed to `topic` now (for tests and metrics). */
  subscribedWorkers(topic: string): number;
  /** Connections subscribed to `topic` on all workers, as the workers last told (a change reaches the primary within one IPC hop). */
  subscriberCount(topic: string): number;
  /** Stops serving the workers' brokers (their calls then time out); the history is dropped. */
  close(): void;
}

/**
 * Serves the `clusterBroker()` of every worker of this primary: call it once in the primary,
 * before or after forking (startCluster() does it). Throws InvalidArgumentError in a worker.
 */
export function clusterPrimary(options: ClusterPrimaryOptions = {}): ClusterPrimary {
  if (!cluster.isPrimary) throw new InvalidArgumentError('clusterPrimary() runs in the primary of node:cluster');
  return new Sequencer({ maxMessages: bound('historySize', options.historySize, 100, 0), maxBytes: bound('historyBytes', options.historyBytes, 1 << 20, 0) });
}

class Sequencer implements ClusterPrimary {
  readonly #bounds: HistoryBounds;
  readonly #topics = new Map<string, TopicHistory>();
  readonly #subscribers = new Map<string, Set<Worker>>();
  /** Topic -> each worker's count of subscribed connections, as the workers last said. */
  readonly #counts = new Map<string, Map<Worker, number>>();
  readonly #onMessage = (worker: Worker, value: unknown): void => {
    if (!isOurs(value)) return;
    try {
      this.#handle(worker, value as ToPrimary);
    } catch (error) {
      // A malformed request answers with an error rather than taking the primary down.
      const req = (value as { req?: unknown }).req;
      if (typeof req === 'number') this.#reply(worker, { tag: TAG, op: 'reply', req, error: error instanceof Error ? error.message : String(error) });
    }
  };
  // A dead worker's subscriptions go with it: nothing is sent to a channel that is gone.
  readonly #onExit = (worker: Worker): void => {
    for (const [topic, set] of this.#subscribers) {
      set.delete(worker);
      if (set.size === 0) this.#subscribers.delete(topic);
    }
    for (const [topic, counts] of this.#counts) {
      counts.delete(worker);
      if (counts.size === 0) this.#counts.delete(topic);
    }
  };

  constructor(bounds: HistoryBounds) {
    this.#bounds = bounds;
    cluster.on('message', this.#onMessage);
    cluster.on('exit', this.#onExit);
  }

  #topic(topic: string): TopicHistory {
    let history = this.#topics.get(topic);
    if (history === undefined) this.#topics.set(topic, (history = new TopicHistory(newEpoch(), this.#bounds)));
    return history;
  }

  #reply(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message);
  }

  #handle(worker: Worker, message: ToPrimary): void {
    if (message.op === 'counts') {
      if (!Array.isArray(message.counts)) throw new InvalidArgumentError('counts is an array');
      for (const entry of message.counts) {
        if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Number.isSafeInteger(entry[1]) || entry[1] < 0) continue;
        const [topic, n] = entry;
        let counts = this.#counts.get(topic);
        if (n > 0) {
          if (counts === undefined) this.#counts.set(topic, (counts = new Map()));
          counts.set(worker, n);
        } else if (counts !== undefined) {
          counts.delete(worker);
          if (counts.size === 0) this.#counts.delete(topic);
        }
      }
      return;
    }
    if (typeof message.topic !== 'string') throw new InvalidArgumentError('a topic is a string');
    if (message.op === 'sub') {
      let set = this.#subscribers.get(message.topic);
      if (set === undefined) this.#subscribers.set(message.topic, (set = new Set()));
      set.add(worker);
      return;
    }
    if (message.op === 'unsub') {
      const set = this.#subscribers.get(message.topic);
      set?.delete(worker);
      if (set?.size === 0) this.#subscribers.delete(message.topic);
      return;
    }
    if (message.op === 'total') {
      this.#reply(worker, { tag: TAG, op: 'reply', req: message.req, count: this.subscriberCount(message.topic) });
      return;
    }
    if (message.op === 'hist') {
      const result = this.#topic(message.topic).since(message.since ?? undefined);
      this.#reply(worker, {
        tag: TAG,
        op: 'reply',
        req: message.req,
        history: { epoch: result.epoch, offset: result.offset, complete: result.complete, messages: result.messages.map(toWire) },
      });
      return;
    }
    if (message.op === 'pub') {
      const history = this.#topic(message.topic);
      const earlier = history.find(message.id);
      if (earlier === undefined) {
        const stored: TopicMessage = {
          topic: message.topic,
          epoch: history.epoch,
          offset: history.offset + 1,
          data: Buffer.from(message.data, 'base64'),
          isText: message.isText === true,
          key: message.key ?? undefined,
          id: message.id,
        };
        history.append(stored);
        // The base64 text arrived with the request: it is forwarded as it is, not encoded again.
        const wire: WireMessage = { topic: stored.topic, epoch: stored.epoch, offset: stored.offset, data: message.data, isText: stored.isText, key: message.key ?? null, id: message.id };
        for (const subscriber of this.#subscribers.get(message.topic) ?? []) this.#reply(subscriber, { tag: TAG, op: 'deliver', message: wire });
        this.#reply(worker, { tag: TAG, op: 'reply', req: message.req, position: { epoch: stored.epoch, offset: stored.offset } });
      } else {
        this.#reply(worker, { tag: TAG, op: 'reply', req: message.req, position: { epoch: earlier.epoch, offset: earlier.offset } });
      }
      return;
    }
    throw new InvalidArgumentError('unknown request');
  }

  subscribedWorkers(topic: string): number {
    return this.#subscribers.get(topic)?.size ?? 0;
  }

  subscriberCount(topic: string): number {
    let total = 0;
    for (const n of this.#counts.get(topic)?.values() ?? []) total += n;
    return total;
  }

  close(): void {
    cluster.off('message', this.#onMessage);
    cluster.off('exit', this.#onExit);
    this.#topics.clear();
    this.#subscribers.clear();
    this.#counts.clear();
  }
}

/** Milliseconds close() lets a disconnected worker finish its connections before killing it. */
const CLOSE_GRACE = 10_000;

/** Options of `startCluster()`. */
export interface StartClusterOptions extends ClusterPrimaryOptions {
  /** How many workers; default `os.availableParallelism()` (one per core). */
  workers?: number;
  /** The worker's script; default the primary's own (process.argv[1]), which then checks `cluster.isWorker`. */
  exec?: string;
  /** Arguments of the workers' script; default none. */
  args?: readonly string[];
  /**
   * Fork a new worker when one exits without being asked to (a crash, a kill); default true, so
   * the port keeps its N workers and clients that reconnect land on a live one.
   */
  restart?: boolean;
}

/** The workers `startCluster()` runs. */
export interface ClusterHandle {
  /** The primary's sequencer (see clusterPrimary). */
  readonly primary: ClusterPrimary;
  /** The live workers, now. */
  workers(): Worker[];
  /** Resolves when `count` workers (default all) listen; with the address the first one reported. */
  listening(count?: number): Promise<{ address: string; port: number }>;
  /**
   * Stops restarting, disconnects every worker (Node closes its listening servers; the worker
   * should close its WebSocketServer on 'disconnect') and waits for them to exit, killing any still
   * running after 10 s.
   */
  close(): Promise<void>;
}

/**
 * In the primary of `node:cluster`: starts the sequencer and forks N workers, each running the
 * worker script, where `new WebSocketServer({ broker: clusterBroker() })` and `listen({ port })`
 * share one port (the cluster hands connections to the workers in turn). Throws
 * InvalidArgumentError in a worker.
 */
export function startCluster(options: StartClusterOptions = {}): ClusterHandle {
  if (!cluster.isPrimary) throw new InvalidArgumentError('startCluster() runs in the primary of node:cluster');
  const count = bound('workers', options.workers, availableParallelism(), 1);
  const restart = options.restart ?? true;
  if (typeof restart !== 'boolean') throw new InvalidArgumentError('restart must be a boolean');
  const primary = clusterPrimary(options);
  cluster.setupPrimary({ exec: options.exec ?? process.argv[1], args: [...(options.args ?? [])] });
  const live = new Set<Worker>();
  const listened = new Set<Worker>();
  let first: { address: string; port: number } | null = null;
  let closing = false;
  const waiters: { count: number; resolve(address: { address: string; port: number }): void }[] = [];
  const check = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (listened.size >= waiters[i]!.count && first !== null) waiters.splice(i, 1)[0]!.resolve(first);
    }
  };
  const fork = (): void => {
    const worker = cluster.fork();
    live.add(worker);
    worker.on('listening', (address) => {
      listened.add(worker);
      first ??= { address: address.address ?? '', port: address.port ?? 0 };
      check();
    });
    worker.on('exit', () => {
      live.delete(worker);
      listened.delete(worker);
      if (!closing && restart && !worker.exitedAfterDisconnect) fork();
    });
  };
  for (let i = 0; i < count; i++) fork();
  return {
    primary,
    workers: () => [...live],
    listening: (n = count) => new Promise((resolve) => {
      waiters.push({ count: n, resolve });
      check();
    }),
    close: async () => {
      closing = true;
      const exits = [...live].map((worker) => new Promise<void>((resolve) => {
        if (worker.isDead()) return resolve();
        // A worker whose connections do not end within CLOSE_GRACE is killed: close() is bounded.
        const timer = setTimeout(() => worker.kill('SIGKILL'), CLOSE_GRACE);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        worker.disconnect();
      }));
      await Promise.all(exits);
      primary.close();
    },
  };
}
