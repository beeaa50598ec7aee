/**
 * hybi: the public API. `hybi/core` holds the low-level layer; everything a user needs is here.
 */
export * from './core/errors.js';
export * from './node/errors.js';
export * from './api/errors.js';
export { connect, DEFAULT_HANDSHAKE_TIMEOUT } from './api/connect.js';
export type { ClientDeflateOptions, ConnectOptions, RetryOptions, TlsDialOptions } from './api/connect.js';
export type { ProxyOptions } from './api/options.js';
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
// Reconnection (issue 21): the engine's two shapes, its policy and the send queue.
export { reconnecting } from './api/reconnect/engine.js';
export type { BackoffInfo, PerAttempt, ReconnectOptions, ReconnectURL } from './api/reconnect/engine.js';
export {
  backoffDelay,
  defaultDecision,
  parseRetryAfter,
  DEFAULT_LIVENESS_INTERVAL,
  DEFAULT_LIVENESS_TIMEOUT,
  DEFAULT_MAX_RETRY_AFTER,
  DEFAULT_MIN_UPTIME,
  DEFAULT_RECONNECT_MAX_DELAY,
  DEFAULT_RECONNECT_MIN_DELAY,
} from './api/reconnect/policy.js';
export type { BackoffOptions, LivenessOptions, ReconnectDecision, ReconnectEnding } from './api/reconnect/policy.js';
// The timer service of reconnecting()'s `timers` option, and the clock it is built over.
export { TimerService } from './node/timer-wheel.js';
export type { Clock, Ticker } from './node/clock.js';
export { DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_MESSAGES } from './api/reconnect/queue.js';
export type { DropReason, QueueOptions, QueuePolicy } from './api/reconnect/queue.js';
export { ReconnectingWebSocket } from './api/reconnecting-websocket.js';
export type {
  ReconnectingReadyState,
  ReconnectingSendData,
  ReconnectingWebSocketEvents,
  ReconnectingWebSocketOptions,
  SendResult,
} from './api/reconnecting-websocket.js';
// The same with the browser class's interface; 'hybi/browser' names it ReconnectingWebSocket.
export { BrowserReconnectingWebSocket } from './api/browser-reconnecting-websocket.js';
export type { BrowserReconnectingInit } from './api/browser-reconnecting-websocket.js';
// WebSocketStream (issue 21): WHATWG streams over a connection, with backpressure on the receive side.
export { WebSocketStream } from './api/websocket-stream.js';
export type { WebSocketCloseInfo, WebSocketOpenInfo, WebSocketStreamOptions, WebSocketStreamPair } from './api/websocket-stream.js';
// Topics (issue 20): memoryBroker and the shapes of publish, history and brokers.
export { memoryBroker } from './api/topics/index.js';
// Topics across the workers of node:cluster (issue 20).
export { clusterBroker } from './api/topics/cluster-broker.js';
export type { ClusterBrokerOptions } from './api/topics/cluster-broker.js';
export { clusterPrimary, startCluster } from './api/topics/cluster-primary.js';
export type { ClusterHandle, ClusterPrimary, ClusterPrimaryOptions, StartClusterOptions } from './api/topics/cluster-primary.js';
export type { MemoryBrokerOptions } from './api/topics/index.js';
// The shapes of publish, history and brokers: every type topics/types.ts declares is public.
export type * from './api/topics/types.js';
