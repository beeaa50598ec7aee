/**
 * hybi: the public API. `hybi/core` holds the low-level layer; everything a user needs is here.
 */
export * from './core/errors.js';
export { connect, DEFAULT_HANDSHAKE_TIMEOUT } from './api/connect.js';
export type { ClientDeflateOptions, ConnectOptions, RetryOptions, TlsDialOptions } from './api/connect.js';
export { WebSocketServer } from './api/server.js';
export type {
  AcceptHook,
  AcceptRefusal,
  AcceptResult,
  AcceptWithData,
  BroadcastOptions,
  ConnectionHandler,
  HeadersOption,
  HeadersWithData,
  ListenOptions,
  MessageHandler,
  ResponseHeaders,
  RouteMatch,
  RouteOptions,
  RouteParamNames,
  RouteParams,
  RoutePattern,
  ServerDeflateOptions,
  UpgradeInfo,
  WebSocketServerEvents,
  WebSocketServerOptions,
} from './api/server.js';
export type { HttpRefusal } from './core/handshake.js';
export { zlibLimiter, ZlibLimiter, DEFAULT_ZLIB_CONCURRENCY } from './node/zlib-limiter.js';
export * from './api/index.js';
export { PING_RTT_BUCKETS } from './api/metrics.js';
export type { CloseOutcomes, DeflateFigures, MetricsSnapshot } from './api/metrics.js';
export type { ClosedBy, ConnectContext, PeerAddress } from './node/diagnostics.js';
// Topics (issue 20): memoryBroker and the shapes of publish, history and brokers.
export { memoryBroker } from './api/topics/index.js';
export type {
  Broker,
  BrokerSink,
  HistoryOptions,
  HistoryResult,
  MemoryBrokerOptions,
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
} from './api/topics/index.js';
