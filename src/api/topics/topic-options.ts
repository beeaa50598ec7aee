/**
 * The server options of topics (issue 20), checked by `resolveServerOptions` (api/options.ts) with
 * every other server option, before any socket. Kept apart from hub.ts so that the option check
 * loads nothing of the connection class.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { memoryBroker } from './memory-broker.js';
import type { Broker, SlowSubscriberOptions, SlowSubscriberPolicy, TopicServerOptions } from './types.js';

/** The names of TopicServerOptions, for the server's check of its option names. */
export const TOPIC_SERVER_NAMES: readonly string[] = ['broker', 'slowSubscriber'];

const POLICIES: ReadonlySet<string> = new Set(['close', 'drop-oldest', 'drop-newest', 'conflate']);
const SLOW_NAMES: ReadonlySet<string> = new Set(['policy', 'maxQueuedMessages', 'maxQueuedBytes', 'writeBuffer']);

/** `slowSubscriber` checked, with its defaults applied. */
export interface ResolvedSlow {
  readonly policy: SlowSubscriberPolicy;
  readonly maxQueuedMessages: number;
  readonly maxQueuedBytes: number;
  readonly writeBuffer: number;
}

/** TopicServerOptions checked: the broker to use (a fresh memoryBroker() by default) and the slow-subscriber bounds. */
export interface ResolvedTopicOptions {
  readonly broker: Broker;
  readonly slowSubscriber: ResolvedSlow;
}

/** An integer option of at least `min`, or `fallback` when absent; InvalidArgumentError otherwise. */
export function integer(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw new InvalidArgumentError(`${name} must be an integer of at least ${min}, got ${String(value)}`);
  return value;
}

/** Throws InvalidArgumentError naming the first option of `given` that is not in `names`. */
export function checkNames(what: string, given: object, names: ReadonlySet<string>): void {
  for (const name of Object.keys(given)) if (!names.has(name)) throw new InvalidArgumentError(`${what}: unknown option '${name}'`);
}

/** A slow-subscriber policy, or `fallback` when undefined; throws InvalidArgumentError for anything else. */
export function policy(name: string, value: unknown, fallback: SlowSubscriberPolicy): SlowSubscriberPolicy {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !POLICIES.has(value)) throw new InvalidArgumentError(`${name} must be 'close', 'drop-oldest', 'drop-newest' or 'conflate', got ${String(value)}`);
  return value as SlowSubscriberPolicy;
}

/** Checks `slowSubscriber` (a server option) and applies the defaults; throws InvalidArgumentError. */
function resolveSlowSubscriber(options: SlowSubscriberOptions | undefined): ResolvedSlow {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw new InvalidArgumentError('slowSubscriber must be an object');
  const given = options ?? {};
  checkNames('slowSubscriber', given, SLOW_NAMES);
  return Object.freeze({
    policy: policy('slowSubscriber.policy', given.policy, 'close'),
    maxQueuedMessages: integer('slowSubscriber.maxQueuedMessages', given.maxQueuedMessages, 1000, 1),
    maxQueuedBytes: integer('slowSubscriber.maxQueuedBytes', given.maxQueuedBytes, 1 << 20, 1),
    writeBuffer: integer('slowSubscriber.writeBuffer', given.writeBuffer, 64 * 1024, 0),
  });
}

function isBroker(value: unknown): value is Broker {
  if (value === null || typeof value !== 'object') return false;
  const b = value as Record<string, unknown>;
  return ['open', 'subscribe', 'unsubscribe', 'publish', 'history', 'close'].every((name) => typeof b[name] === 'function');
}

/**
 * Checks a server's `broker` and `slowSubscriber`; throws InvalidArgumentError. Without a broker a
 * fresh memoryBroker() is made, one per server (topics of one process), and opened only when used.
 */
export function resolveTopicOptions(options: TopicServerOptions): ResolvedTopicOptions {
  const broker = options.broker ?? memoryBroker();
  if (!isBroker(broker)) throw new InvalidArgumentError('broker must be a Broker (memoryBroker(), clusterBroker(), redisBroker(), ...)');
  return Object.freeze({ broker, slowSubscriber: resolveSlowSubscriber(options.slowSubscriber) });
}
