/**
 * The connection objects of the api layer: the native `WebSocket`, the browser-compatible
 * `BrowserWebSocket`, and the connection options with their defaults. Internal helpers
 * (`connectionInternals`, `ConnectionInit`, `wrapOpenWebSocket`) are deliberately not re-exported.
 */
export { WebSocket } from './websocket.js';
export type {
  CloseInfo,
  Message,
  MessageCodec,
  MessageListenerArgs,
  MessageReadable,
  PingData,
  PingOptions,
  SendCallback,
  SendData,
  SendOptions,
  WebSocketEvents,
  WebSocketInit,
  WebSocketReadyState,
} from './websocket.js';
// The fragment-level API (beginMessage, receiveFragments, fragmentSize as a function, receive({ as }), close({ timeout })).
export { MessageWriter } from './message-writer.js';
export type { BeginMessageOptions, MessagePart } from './message-writer.js';
export { FragmentReader } from './fragment-reader.js';
export type { Fragment } from './fragment-reader.js';
export type { FragmentSizer } from './fragment-size.js';
export type { CloseOptions, ReceiveOptions } from './websocket.js';
export { BrowserWebSocket, CloseEvent, ErrorEvent } from './browser-websocket.js';
export type * from './browser-types.js';
export {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_FRAGMENT_SIZE,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_PING_INTERVAL,
  DEFAULT_PONG_TIMEOUT,
  DEFAULT_RECEIVE_HIGH_WATER_MARK,
  DEFAULT_RECEIVE_HIGH_WATER_MESSAGES,
} from './options.js';
export type { WebSocketOptions } from './options.js';
// http2 (issue 19): the options of server.attach(h2server, options) and connect()'s transports.
export type { Http2AttachOptions } from './http2-upgrade.js';
export type { ConnectTransport } from './connect.js';
