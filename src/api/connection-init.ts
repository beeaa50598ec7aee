/**
 * What the front-ends (connect(), the server) hand a new WebSocket beyond its public init: the
 * options they resolved once before any network, the negotiated extension codecs, the server's
 * metrics. None of it is in the public WebSocketInit. Also the driver options made from resolved
 * options, shared by the connections of one server.
 */
import type { Role } from '../core/connection.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { DriverOptions } from '../node/driver.js';
import type { MessageCodec } from '../node/message-codec.js';
import type { TimerService } from '../node/timer-wheel.js';
import { checkOptionNames, CONNECTION_OPTION_NAMES, isResolvedOptions, optionsObject, resolveOptions, type ResolvedOptions } from './options.js';
import type { WebSocketInit } from './websocket-types.js';

/** The init of a WebSocket made by connect() or a server (or a test), with what only they know. */
export interface ConnectionInit extends WebSocketInit {
  /** Negotiated extension codecs (permessage-deflate), in response-header order. */
  codecs?: readonly MessageCodec[];
  /**
   * Options already checked by `resolveOptions`, used instead of the WebSocketOptions fields of
   * this object: a server resolves its connection options once, and its connections share them.
   * An object that did not come from `resolveOptions` is checked like the fields would be.
   */
  options?: ResolvedOptions;
  /** The server's metrics: told each round trip of a ping this connection sent. */
  observer?: { pingRoundTrip(ms: number): void };
  /** The timer service of the connection's driver timers; default the process's. Tests pass one over a fake clock. */
  timers?: TimerService;
  /** How the handshake was made: 'http1' (the default) or 'http2' (RFC 8441, the stream is an Http2Stream); `ws.transport`. */
  transport?: 'http1' | 'http2';
  /**
   * The creator hands the connection to everyone who will listen before it returns (a server:
   * its 'connection' listeners and the route's handler): reading starts and 'open' is emitted
   * once the current operation is done (process.nextTick) rather than on the next turn of the
   * event loop. That turn is a tick of Node's own bookkeeping per connection, which a server
   * accepting thousands of connections a second notices.
   */
  startThisTurn?: boolean;
}

/** What a direct construction may pass: the init's fields (public and these) and every connection option. */
const INIT_NAMES: ReadonlySet<string> = new Set(['role', 'url', 'protocol', 'head', 'codecs', 'options', 'version', 'timers', 'transport', ...CONNECTION_OPTION_NAMES]);

/**
 * The options of a WebSocket built from `init`: the front-ends (connect(), the server) resolved
 * theirs before any network and pass the result, which is used as it is; a direct construction
 * is checked here, names included, before the stream is touched.
 */
export function initOptions(init: ConnectionInit): ResolvedOptions {
  if (isResolvedOptions(init?.options)) return init.options;
  // Without an init there is no role, and the constructor could not go on.
  if (init === undefined) throw new InvalidArgumentError("new WebSocket() needs an init with a role ('client' or 'server')");
  checkOptionNames('new WebSocket()', optionsObject('new WebSocket()', init), INIT_NAMES);
  return resolveOptions(init.options !== undefined ? optionsObject('WebSocketInit.options', init.options) : init);
}

/**
 * Driver options made from resolved options, kept for connections without extension codecs: one
 * object per server (and role) rather than one per connection.
 */
const sharedDriverOptions = new WeakMap<ResolvedOptions, { client?: DriverOptions; server?: DriverOptions }>();

export function driverOptions(options: ResolvedOptions, init: ConnectionInit): DriverOptions {
  if (init.timers !== undefined) return { ...makeDriverOptions(options, init.role, init.codecs), timers: init.timers };
  if (init.codecs === undefined || init.codecs.length === 0) {
    let byRole = sharedDriverOptions.get(options);
    if (byRole === undefined) sharedDriverOptions.set(options, (byRole = {}));
    const cached = byRole[init.role];
    if (cached !== undefined) return cached;
    return (byRole[init.role] = makeDriverOptions(options, init.role));
  }
  return makeDriverOptions(options, init.role, init.codecs);
}

function makeDriverOptions(options: ResolvedOptions, role: Role, codecs?: readonly MessageCodec[]): DriverOptions {
  return {
    role,
    maxFrameSize: options.maxFrameSize,
    maxMessageSize: options.maxMessageSize,
    maxFragments: options.maxFragments,
    autoPong: options.autoPong,
    pingInterval: options.pingInterval,
    pongTimeout: options.pongTimeout,
    idleTimeout: options.idleTimeout,
    closeTimeout: options.closeTimeout,
    messageTimeout: options.messageTimeout,
    codecs,
  };
}
