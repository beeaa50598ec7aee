/**
 * The type names of the browser-compatible WebSocket, listed once for the two entries that export
 * them: `hybi` (beside `BrowserWebSocket`) and `hybi/browser` (beside it as `WebSocket`).
 */
export type {
  BinaryType,
  BrowserEventInit,
  BrowserEventListener,
  BrowserListenerOptions,
  BrowserSendData,
  BrowserWebSocketEventMap,
  BrowserWebSocketInit,
  CloseEventInit,
  ErrorEventInit,
} from './browser-websocket.js';
