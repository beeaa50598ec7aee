/**
 * hybi/browser: the browser-compatible WebSocket under the name browser code uses, so code
 * written for the browser's global `WebSocket` runs unchanged after
 * `import { WebSocket } from 'hybi/browser'`.
 */
export { BrowserWebSocket as WebSocket, CloseEvent, ErrorEvent } from './api/browser-websocket.js';
export type * from './api/browser-types.js';
// The browser's streams API for WebSockets under its browser name (issue 21).
export { WebSocketStream } from './api/websocket-stream.js';
export type { WebSocketCloseInfo, WebSocketOpenInfo, WebSocketStreamOptions } from './api/websocket-stream.js';
// A WebSocket that survives drops, with this class's interface (issue 21; docs/client.md "Reconnection").
export { BrowserReconnectingWebSocket as ReconnectingWebSocket } from './api/browser-reconnecting-websocket.js';
export type { BrowserReconnectingInit } from './api/browser-reconnecting-websocket.js';
export type { ReconnectingWebSocketOptions, SendResult } from './api/reconnecting-websocket.js';
