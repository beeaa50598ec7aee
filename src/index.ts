/**
 * hybi: the public API. `hybi/core` holds the low-level layer; everything a user needs is here.
 */
export * from './core/errors.js';
export { connect, DEFAULT_HANDSHAKE_TIMEOUT } from './api/connect.js';
export type { ClientDeflateOptions, ConnectOptions, RetryOptions, TlsDialOptions } from './api/connect.js';
