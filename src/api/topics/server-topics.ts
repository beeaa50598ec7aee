/**
 * What WebSocketServer needs to offer topics, kept apart from server.ts: the option names, and
 * the hub made from the server's options, its events routed to the server's.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { validateDeflateCodecOptions, type DeflateCodecOptions } from '../../node/deflate-codec.js';
import { resolveSlowSubscriber, TopicHub } from './hub.js';
import { memoryBroker } from './memory-broker.js';
import type { Broker, TopicDrop, TopicServerOptions } from './types.js';

/** The names of TopicServerOptions, for the server's check of its option names. */
export const TOPIC_SERVER_NAMES: readonly string[] = ['broker', 'slowSubscriber'];

interface TopicEmitter {
  emit(event: 'topicDrop', drop: TopicDrop): boolean;
  emit(event: 'error', error: Error): boolean;
  listenerCount(event: 'error' | 'topicDrop'): number;
}

function isBroker(value: unknown): value is Broker {
  if (value === null || typeof value !== 'object') return false;
  const b = value as Record<string, unknown>;
  return ['open', 'subscribe', 'unsubscribe', 'publish', 'history', 'close'].every((name) => typeof b[name] === 'function');
}

/** The hub of a server, from its options (checked here, before any socket). */
export function serverTopics(server: TopicEmitter, options: TopicServerOptions, deflate: DeflateCodecOptions | null): TopicHub {
  const broker = options.broker ?? memoryBroker();
  if (!isBroker(broker)) throw new InvalidArgumentError('broker must be a Broker (memoryBroker(), redisBroker(), ...)');
  const slow = resolveSlowSubscriber(options.slowSubscriber);
  const tuning = deflate === null ? null : validateDeflateCodecOptions(deflate);
  return new TopicHub(broker, slow, tuning, {
    drop: (drop) => {
      if (server.listenerCount('topicDrop') > 0) server.emit('topicDrop', drop);
    },
    // A broker's trouble that no call waits for (a lost link): the server's 'error' when someone
    // listens, else a process warning rather than a crash.
    error: (error) => {
      if (server.listenerCount('error') > 0) server.emit('error', error);
      else process.emitWarning(error);
    },
  });
}
