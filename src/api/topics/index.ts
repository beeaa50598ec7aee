/** Topics (issue 20): the public names, for the package index and for brokers written elsewhere. */
export { memoryBroker } from './memory-broker.js';
export type { MemoryBrokerOptions } from './memory-broker.js';
export { newEpoch, TopicHistory } from './history.js';
export type { HistoryBounds } from './history.js';
export type {
  Broker,
  BrokerSink,
  HistoryOptions,
  HistoryResult,
  PublishOptions,
  PublishResult,
  SlowSubscriberOptions,
  SlowSubscriberPolicy,
  SubscribeOptions,
  TopicDrop,
  TopicMessage,
  TopicMetrics,
  TopicPosition,
  TopicServerOptions,
} from './types.js';
