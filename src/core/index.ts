/**
 * hybi/core: the sans-I/O RFC 6455 protocol layer. Pure and synchronous, it works on Uint8Array
 * and imports nothing, so it runs on any transport and any JavaScript runtime.
 */
export * from './opcode.js';
export * from './errors.js';
export * from './limits.js';
export * from './mask.js';
export * from './utf8.js';
export * from './close.js';
export * from './frame.js';
export * from './prepared-frame.js';
export * from './frame-parser.js';
export * from './connection.js';
export * from './header-tokens.js';
export * from './handshake.js';
export * from './host.js';
export * from './http-head.js';
export * from './permessage-deflate.js';
