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
 * broker works with workers forked by any code, not only by startCluster(). This file is the
 * worker's side; the primary's is cluster-primary.ts, the messages between them cluster-wire.ts.
 */
import { Buffer } from 'node:buffer';
import { InvalidArgumentError } from '../../core/errors.js';
import { BrokerError } from '../errors.js';
import { fromWire, isOurs, nodeCluster, TAG, type ToPrimary, type ToWorker } from './cluster-wire.js';
import { integer } from './topic-options.js';
import type { Broker, BrokerSink, HistoryResult, TopicPosition } from './types.js';

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
  if (!nodeCluster().isWorker || typeof process.send !== 'function') {
    throw new InvalidArgumentError('clusterBroker() runs in a worker of node:cluster (start the workers with startCluster())');
  }
  return new ClusterBroker(integer('timeout', options.timeout, 5000, 1), integer('maxPendingPublishes', options.maxPendingPublishes, 1000, 1));
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
    if (nodeCluster().worker?.exitedAfterDisconnect === true) return;
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
