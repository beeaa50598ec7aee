/**
 * The primary's side of topics across `node:cluster` workers (issue 20; the workers' side and the
 * design are in cluster-broker.ts): the one sequencer, which gives each topic its offsets and
 * epoch, keeps the bounded history and passes each message to the workers subscribed to the
 * topic; and startCluster(), which forks the workers and runs the sequencer.
 */
import type { Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from '../../core/errors.js';
import { isOurs, nodeCluster, TAG, toWire, type ToPrimary, type ToWorker, type WireMessage } from './cluster-wire.js';
import { newEpoch, TopicHistory, type HistoryBounds } from './history.js';
import { integer } from './topic-options.js';
import type { TopicMessage } from './types.js';

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
  if (!nodeCluster().isPrimary) throw new InvalidArgumentError('clusterPrimary() runs in the primary of node:cluster');
  return new Sequencer({ maxMessages: integer('historySize', options.historySize, 100, 0), maxBytes: integer('historyBytes', options.historyBytes, 1 << 20, 0) });
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
    const cluster = nodeCluster();
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
    const cluster = nodeCluster();
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
  const cluster = nodeCluster();
  if (!cluster.isPrimary) throw new InvalidArgumentError('startCluster() runs in the primary of node:cluster');
  const count = integer('workers', options.workers, availableParallelism(), 1);
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
