/**
 * The messages between the cluster broker in each worker (cluster-broker.ts) and the sequencer in
 * the primary (cluster-primary.ts) over Node's IPC channel: JSON with the payload in base64, so
 * that it works with workers forked by any code, not only by startCluster().
 */
import { Buffer } from 'node:buffer';
import type { Cluster } from 'node:cluster';
import type { TopicMessage, TopicPosition } from './types.js';

/**
 * Node's cluster module, loaded when a cluster function is first called rather than when hybi is
 * imported: with child_process and dgram, which it brings, it held 134 KB of heap in every
 * process that imported hybi (issue 24). A worker has it loaded already.
 */
export function nodeCluster(): Cluster {
  // Typed as the module's namespace; at run time it is the module's exports: the cluster itself.
  return process.getBuiltinModule('node:cluster') as unknown as Cluster;
}

/** Marks hybi's IPC messages, so that an application's own messages on the same channel are left alone. */
export const TAG = 'hybi.topics';

/** A message as it crosses the IPC channel: the payload in base64. */
export interface WireMessage {
  topic: string;
  epoch: string;
  offset: number;
  data: string;
  isText: boolean;
  key: string | null;
  id: string;
}

/** What a worker sends the primary. */
export type ToPrimary =
  | { tag: typeof TAG; op: 'sub' | 'unsub'; topic: string }
  | { tag: typeof TAG; op: 'pub'; req: number; topic: string; data: string; isText: boolean; id: string; key: string | null }
  | { tag: typeof TAG; op: 'hist'; req: number; topic: string; since: TopicPosition | null }
  // The worker's subscriber counts that changed: [topic, count now] pairs (0: none left).
  | { tag: typeof TAG; op: 'counts'; counts: [string, number][] }
  | { tag: typeof TAG; op: 'total'; req: number; topic: string };

/** What the primary sends a worker. */
export type ToWorker =
  | { tag: typeof TAG; op: 'deliver'; message: WireMessage }
  | { tag: typeof TAG; op: 'reply'; req: number; position?: TopicPosition; count?: number; history?: { epoch: string; offset: number; complete: boolean; messages: WireMessage[] }; error?: string };

/** True for hybi's IPC messages. */
export function isOurs(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (value as { tag?: unknown }).tag === TAG;
}

/** A message for the IPC channel. */
export function toWire(message: TopicMessage): WireMessage {
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

/** A message off the IPC channel. */
export function fromWire(wire: WireMessage): TopicMessage {
  return { topic: wire.topic, epoch: wire.epoch, offset: wire.offset, data: Buffer.from(wire.data, 'base64'), isText: wire.isText, key: wire.key ?? undefined, id: wire.id };
}
