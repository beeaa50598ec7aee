/**
 * The options of `new WebSocketServer()` (WebSocketServerOptions), the server's own defaults with their reasons, and
 * `resolveServerOptions`, run once at construction, which also resolves the connection options
 * every connection of the server shares.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { validateDeflateOptions, type DeflateOptions } from '../../core/permessage-deflate.js';
import { validateDeflateCodecOptions, type DeflateCodecOptions } from '../../node/deflate-codec.js';
import { DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_COUNT } from '../../node/upgrade.js';
import type { TopicServerOptions } from '../topics/types.js'; // topics hook (issue 20)
import type { LegacyOptions } from '../legacy.js'; // legacy (issue 22)
import type { AcceptHook, HeadersOption } from '../upgrade-pipeline.js';
import { resolveTopicOptions, TOPIC_SERVER_NAMES, type ResolvedTopicOptions } from '../topics/topic-options.js'; // topics hook (issue 20)
import { checkOptionNames, count, duration, flag, hook, optionsObject, subprotocols } from './checks.js';
import { CONNECTION_OPTION_NAMES, resolveOptions, type ResolvedOptions, type WebSocketOptions } from './connection.js';
import { DEFLATE_HINTS, DEFLATE_NAMES } from './deflate.js';

/**
 * Default `maxConnections`: 10,000. A public endpoint must refuse somewhere before file
 * descriptors or memory run out (an idle connection costs the server about 8 KiB of heap and
 * buffers and 17 KiB of resident memory, see docs/hardening.md); 10,000 is far above what one
 * process usually serves and well below what it takes to exhaust a machine. Raise it (or pass
 * Infinity) for a dedicated server with a raised `ulimit -n`.
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/**
 * Default `concurrency` of a MessageHandler: 1, each message handled after the previous one
 * settled, in the order they arrived; a handler whose calls may overlap says so.
 */
export const DEFAULT_CONCURRENCY = 1;

/** Options of a WebSocketServer. The connection options (maxMessageSize, pingInterval, ...) apply to every connection. */
export interface WebSocketServerOptions<Data = unknown> extends WebSocketOptions, TopicServerOptions {
  /** Subprotocols, most preferred first, for the paths that set none; default: none. */
  protocols?: readonly string[];
  /** Refuse clients that offer none of the route's protocols (400); default false. */
  requireProtocol?: boolean;
  /**
   * Asked before every upgrade; default: accept all (but see `allowedOrigins`). Given (here or on
   * the route) without `allowedOrigins`, it replaces the default Origin check: the hook decides,
   * with `info.origin` and `info.crossOrigin` to decide on.
   */
  accept?: AcceptHook<Data>;
  /**
   * Origins (scheme://host[:port], compared case-insensitively) whose pages may connect; a request
   * whose Origin is not listed is refused with 403, before any accept hook. `'*'` lets every
   * Origin in. Requests without an Origin header (non-browser clients) are let through either
   * way: the check protects browser users from other sites' pages.
   *
   * Default: same host only. A request whose Origin names another host or port than its Host is
   * refused with 403 (cross-site WebSocket hijacking: a foreign page would connect with the
   * user's cookies), unless an `accept` hook is given, which then decides. Schemes are not
   * compared, so pages served over https through a TLS-terminating proxy still get in.
   */
  allowedOrigins?: readonly string[] | '*';
  /** Headers added to every 101 response; default none. */
  headers?: HeadersOption<Data>;
  /**
   * permessage-deflate (RFC 7692): true accepts clients' offers with the defaults, an object sets
   * the negotiated limits (window bits, context takeover) and the codec's tuning (threshold,
   * level, memLevel). Default false: offers are declined and the 101 names no extension, which
   * every client accepts. Compression costs CPU and about 300 KiB of zlib state per connection
   * with context takeover; turn it on where bandwidth matters more.
   */
  compress?: boolean | ServerDeflateOptions;
  /** For MessageHandler routes: messages handled at once per connection; default 1, in order (DEFAULT_CONCURRENCY). */
  concurrency?: number;
  /** Bound on a handshake, in ms; 0 disables; default DEFAULT_HANDSHAKE_TIMEOUT (10 s). */
  handshakeTimeout?: number;
  /** Largest request head, in bytes; default DEFAULT_MAX_HEAD_SIZE (16 KiB). Answered with 431. */
  maxHeadSize?: number;
  /** Most request header fields; default DEFAULT_MAX_HEADER_COUNT (100). Answered with 431. */
  maxHeaderCount?: number;
  /**
   * Most connections: open ones plus handshakes in progress (on a server from `listen`, every
   * accepted socket counts from its first byte). Answered with 503 and `Retry-After`; default
   * DEFAULT_MAX_CONNECTIONS (10,000). Infinity removes the bound.
   */
  maxConnections?: number;
  /**
   * legacy (issue 22): pre-RFC 6455 protocols to accept too: `{ hybi00: true }` serves hybi-00
   * (draft-hixie-76) clients through the same routes, hooks and origin checks. Default: none
   * (such requests get 426), because hybi-00 frames are not masked; see docs/legacy.md.
   */
  legacy?: LegacyOptions;
}

/** permessage-deflate as the server accepts it: the negotiation limits plus the codec's tuning. */
export interface ServerDeflateOptions extends DeflateOptions, DeflateCodecOptions {}

/** WebSocketServerOptions checked, with every default applied. Made only by `resolveServerOptions`. */
export interface ResolvedServerOptions {
  /** The connection options, resolved once and shared by every connection (an idle one holds no copy). */
  readonly connection: ResolvedOptions;
  readonly protocols: readonly string[] | undefined;
  readonly requireProtocol: boolean;
  readonly accept: AcceptHook | undefined;
  /** The listed origins (lower case), '*' for any, or null for the default same-host check. */
  readonly allowedOrigins: ReadonlySet<string> | '*' | null;
  readonly headers: HeadersOption | undefined;
  /** permessage-deflate as accepted, or null when offers are declined. */
  readonly deflate: ServerDeflateOptions | null;
  readonly concurrency: number;
  readonly handshakeTimeout: number;
  readonly maxHeadSize: number;
  readonly maxHeaderCount: number;
  readonly maxConnections: number;
  /** Topics hook (issue 20): the broker and the slow-subscriber bounds (topics/topic-options.ts). */
  readonly topics: ResolvedTopicOptions;
  /** legacy (issue 22): also serve hybi-00 (draft-hixie-76) handshakes; false unless `legacy: { hybi00: true }`. */
  readonly hybi00: boolean;
}

/** The names `new WebSocketServer()` takes: its own and every connection option. */
const SERVER_NAMES: ReadonlySet<string> = new Set([
  'protocols',
  'requireProtocol',
  'accept',
  'allowedOrigins',
  'headers',
  'compress',
  'concurrency',
  'handshakeTimeout',
  'maxHeadSize',
  'maxHeaderCount',
  'maxConnections',
  ...TOPIC_SERVER_NAMES, // topics hook (issue 20)
  'legacy', // legacy (issue 22)
  ...CONNECTION_OPTION_NAMES,
]);

/** ws's server option names (and a few near misses) and what hybi offers instead. */
const SERVER_HINTS: Readonly<Record<string, string>> = {
  server: 'use server.attach(httpServer)',
  port: 'use await server.listen({ port })',
  host: 'use await server.listen({ host })',
  noServer: "no option needed: call server.handleUpgrade() from your own 'upgrade' listener",
  maxPayload: 'hybi calls it maxMessageSize',
  perMessageDeflate: 'hybi calls it compress',
  verifyClient: 'use accept(req, info)',
  handleProtocols: 'list protocols in order of preference',
  path: 'use server.route(path, handler)',
  clientTracking: 'server.clients is always kept',
  skipUTF8Validation: 'text is always validated (RFC 6455 section 8.1)',
};

/** The headers option's shape; the names and values are the core's to check when it writes the 101. */
function headersOption(value: unknown): HeadersOption | undefined {
  if (value !== undefined && typeof value !== 'function' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidArgumentError('headers must be an object of header names to values, or a function of the request returning one');
  }
  return value as HeadersOption | undefined;
}

/** The listed origins, lower case for comparison; '*' for any; null for the default same-host check. */
function origins(value: unknown): ReadonlySet<string> | '*' | null {
  if (value === undefined) return null;
  if (value === '*') return value;
  if (!Array.isArray(value) || value.some((o) => typeof o !== 'string')) {
    throw new InvalidArgumentError(`allowedOrigins must be an array of origins (strings such as https://example.com) or '*', got ${JSON.stringify(value)}`);
  }
  return new Set((value as string[]).map((o) => o.toLowerCase()));
}

/** The compress option: null (declined), or the deflate options, checked now rather than on the first client that offers compression. */
function compression(value: unknown): ServerDeflateOptions | null {
  if (value !== undefined && typeof value !== 'boolean' && (value === null || typeof value !== 'object')) {
    throw new InvalidArgumentError(`compress must be a boolean or an object, got ${String(value)}`);
  }
  const deflate = value === undefined || value === false ? null : value === true ? {} : (value as ServerDeflateOptions);
  if (deflate !== null) {
    checkOptionNames('compress', deflate, DEFLATE_NAMES, DEFLATE_HINTS);
    validateDeflateOptions(deflate, 'server');
    validateDeflateCodecOptions(deflate);
  }
  return deflate;
}

/**
 * Checks every option of `new WebSocketServer()` and applies the defaults, before any socket: a
 * bad one never shows up after a 101. The result is the server's own frozen copy, so a later
 * change to the caller's object cannot slip an unchecked value in.
 */
export function resolveServerOptions(options: WebSocketServerOptions | undefined): ResolvedServerOptions {
  const given = optionsObject('new WebSocketServer()', options);
  checkOptionNames('new WebSocketServer()', given, SERVER_NAMES, SERVER_HINTS);
  const {
    protocols,
    requireProtocol,
    accept,
    allowedOrigins,
    headers,
    compress,
    concurrency,
    handshakeTimeout,
    maxHeadSize,
    maxHeaderCount,
    maxConnections,
    broker, // topics hook (issue 20)
    slowSubscriber, // topics hook (issue 20)
    legacy,
    ...connectionOptions
  } = given;
  const connection = resolveOptions(connectionOptions);
  return Object.freeze({
    connection,
    handshakeTimeout: duration('handshakeTimeout', handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT),
    maxConnections: count('maxConnections', maxConnections, DEFAULT_MAX_CONNECTIONS, 1, true),
    concurrency: count('concurrency', concurrency, DEFAULT_CONCURRENCY, 1, true),
    protocols: subprotocols('protocols', protocols),
    requireProtocol: flag('requireProtocol', requireProtocol, false),
    accept: hook('accept', accept),
    headers: headersOption(headers),
    maxHeadSize: count('maxHeadSize', maxHeadSize, DEFAULT_MAX_HEAD_SIZE, 1, false),
    maxHeaderCount: count('maxHeaderCount', maxHeaderCount, DEFAULT_MAX_HEADER_COUNT, 1, false),
    allowedOrigins: origins(allowedOrigins),
    deflate: compression(compress),
    topics: resolveTopicOptions({ broker, slowSubscriber }), // topics hook (issue 20)
    hybi00: legacyHybi00(legacy), // legacy (issue 22)
  });
}

const LEGACY_NAMES: ReadonlySet<string> = new Set(['hybi00']);

/** legacy (issue 22): checks the server's `legacy` option; true when hybi-00 is to be accepted. */
function legacyHybi00(value: LegacyOptions | undefined): boolean {
  if (value === undefined) return false;
  const given = optionsObject('legacy', value);
  checkOptionNames('legacy', given, LEGACY_NAMES);
  return flag('legacy.hybi00', given.hybi00, false);
}
