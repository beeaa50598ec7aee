/**
 * The HTTP/1.1 upgrade handshake of RFC 6455 section 4, as pure code shared by the client and the
 * server, by one import path: the key and accept value (handshake-key.ts), the header fields
 * (handshake-fields.ts), the client's half (client-handshake.ts) and the server's
 * (server-handshake.ts).
 *
 * Heads are returned as strings of ASCII only (every builder refuses anything else in the head),
 * so writing them as 'latin1' or 'utf8' gives the same bytes; a refusal's body is UTF-8, so
 * write `buildRefusalResponse`'s result as 'utf8'. Every check is one pass over its input.
 */
export { WEBSOCKET_GUID, WEBSOCKET_VERSION, computeAcceptKey, generateKey, isValidKey } from './handshake-key.js';
export type { HeaderMap } from './handshake-fields.js';
export { type ClientRequestInit, buildClientRequest, type ResponseExpectation, type ResponseCheck, checkServerResponse } from './client-handshake.js';
export {
  type UpgradeRequest,
  type HttpRefusal,
  type RequestCheck,
  checkUpgradeRequest,
  type UpgradeResponseInit,
  buildUpgradeResponse,
  reasonPhrase,
  buildRefusalResponse,
} from './server-handshake.js';
