/**
 * What WebSocketServer needs to offer topics, kept apart from server.ts: the hub made from the
 * server's resolved options (topic-options.ts), its events routed to the server's.
 */
import { validateDeflateCodecOptions, type DeflateCodecOptions } from '../../node/deflate-codec.js';
import { TopicHub } from './hub.js';
import type { ResolvedTopicOptions } from './topic-options.js';
import type { TopicDrop } from './types.js';

interface TopicEmitter {
  emit(event: 'topicDrop', drop: TopicDrop): boolean;
  emit(event: 'error', error: Error): boolean;
  listenerCount(event: 'error' | 'topicDrop'): number;
}

/** The hub of a server, from its resolved options. */
export function serverTopics(server: TopicEmitter, options: ResolvedTopicOptions, deflate: DeflateCodecOptions | null): TopicHub {
  const tuning = deflate === null ? null : validateDeflateCodecOptions(deflate);
  return new TopicHub(options.broker, options.slowSubscriber, tuning, {
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
