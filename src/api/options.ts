/**
 * The options of a connection, a server, a route, `listen()` and a proxy, with every default in
 * one place, and the rules every front-end applies to options before any network: `connect()`,
 * `WebSocketServer`, `BrowserWebSocket` and a directly built `WebSocket` each run `resolveOptions`
 * once and hand the resolved object down (the server also `resolveServerOptions`,
 * `resolveRouteOptions` and `checkListenOptions`), so a bad option is an InvalidArgumentError at
 * the call, never a failure after a 101.
 *
 * One file per resolver, beside the checkers they share:
 *   options/checks.ts      duration, count, flag, option names, subprotocols: one rule per kind of value
 *   options/connection.ts  WebSocketOptions, their defaults, resolveOptions
 *   options/server.ts      WebSocketServerOptions' own defaults, resolveServerOptions
 *   options/route.ts       resolveRouteOptions
 *   options/listen.ts      checkListenOptions
 *   options/proxy.ts       connect()'s proxy options, resolveProxyOptions
 *   options/deflate.ts     the permessage-deflate option names, shared by client and server
 * This module re-exports them all, so importers need not know the split.
 */
export { checkOptionNames, count, duration, flag, MAX_DURATION, optionalFunction, optionsObject } from './options/checks.js';
export * from './options/connection.js';
export * from './options/deflate.js';
export * from './options/listen.js';
export * from './options/proxy.js';
export * from './options/route.js';
export * from './options/server.js';
