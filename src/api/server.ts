/**
 * WebSocketServer: turns HTTP upgrade requests into WebSocket connections, standalone
 * (`listen`), inside an application's own http/https server (`attach`), or for a framework that
 * hands over upgrades itself (`handleUpgrade`). It routes by path (the Racket seed's service
 * mapper), picks subprotocols by the server's preference, asks an accept hook before upgrading
 * (the CHICKEN seed's accept-connection and access-denied), adds response headers
 * (websocket-driver's additional-headers), and bounds everything a hostile client could hold.
 *
 * The order of the checks on an upgrade request, each with its answer:
 *   server closing / maxConnections    503
 *   head size, header count            431
 *   RFC 6455 section 4.2.1             405 (method), 426 (version), 400 (the rest): the core decides
 *   request target unusable            400
 *   no route for the path              404
 *   Origin not allowed                 403: not in allowedOrigins; by default (no allowedOrigins,
 *                                      no accept hook) an Origin naming another host than Host
 *   no acceptable subprotocol          400 (only for routes that require one)
 *   accept hook                        403 for false, or the hook's own answer; 500 if it throws
 *   handshake not done in time         408
 */
import { EventEmitter } from 'node:events';
import { createServer, IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Buffer } from 'node:buffer';
import { ConnectionClosedError, InvalidArgumentError } from '../core/errors.js';
import { encodeFrameHeader } from '../core/frame.js';
import type { HttpRefusal, RequestCheck } from '../core/handshake.js';
import { Opcode } from '../core/opcode.js';
import { isToken, listHasToken, type ExtensionOffer } from '../core/header-tokens.js';
import { HttpHeadParser, type HttpHead } from '../core/http-head.js';
import { originMatchesHost } from '../core/host.js';
import { acceptDeflateOffer, validateDeflateOptions, type DeflateOptions } from '../core/permessage-deflate.js';
import { DeflateCodec, validateDeflateCodecOptions, type DeflateCodecOptions } from '../node/deflate-codec.js';
import {
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_HEAD_SIZE,
  DEFAULT_MAX_HEADER_COUNT,
  checkUpgrade,
  clientErrorRefusal,
  guardHandshake,
  refuseUpgrade,
  refusal,
  timeoutRefusal,
  upgradeRequiredRefusal,
  writeUpgradeResponse,
  type HandshakeGuard,
} from '../node/upgrade.js';
import { publishUpgrade } from '../node/diagnostics.js';
import { checkHybi00Upgrade, hasKey3, isHybi00Check, withKey3, writeHybi00Response } from '../node/hybi00.js'; // legacy (issue 22)
import { isHybi00Request } from '../core/hybi00/handshake.js'; // legacy (issue 22)
import { resolveLegacy, sendLegacyText, type LegacyOptions } from './legacy.js'; // legacy (issue 22)
import { ServerMetrics, type MetricsSnapshot } from './metrics.js';
import { compilePattern, selectProtocol, splitTarget, type PathMatcher, type RouteMatch, type RouteParams, type RoutePattern } from './route.js';
import {
  checkOptionNames,
  CONNECTION_OPTION_NAMES,
  count,
  DEFLATE_HINTS,
  DEFLATE_NAMES,
  duration,
  flag,
  optionalFunction,
  optionsObject,
  resolveOptions,
  type ResolvedOptions,
} from './options.js';
import { kSendEncoded, WebSocket, type Message, type MessageCodec, type WebSocketOptions } from './websocket.js';

export type { RouteMatch, RouteParamNames, RouteParams, RoutePattern } from './route.js';

/**
 * What an accept hook answers: `true` to accept, `false` to refuse with 403 and a short body (the
 * CHICKEN seed's access-denied), or a complete refusal of your own (401 with WWW-Authenticate, a
 * redirect for a browser, ...). `status` must be 300-599; anything else is answered with 500.
 */
export type AcceptResult<Data = unknown> = boolean | AcceptRefusal | AcceptWithData<Data>;

/** An accept hook's own refusal: the HTTP status (300-599), headers and body to answer with. */
export interface AcceptRefusal {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * An accept hook's yes with per-connection data: the connection starts with `ws.data` set to
 * `data` (uWS's UserData). An object without `status`, so it cannot be mistaken for a refusal.
 */
export interface AcceptWithData<Data = unknown> {
  data: Data;
  status?: undefined;
}

/** What the server knows about an upgrade request when it asks the accept hook. */
export interface UpgradeInfo extends RouteMatch {
  /** The Origin header (browsers always send it; other clients usually do not). */
  readonly origin: string | undefined;
  /**
   * True when the request carries an Origin that names another host or port than its Host: a
   * page of another site, which the server refuses by default when no hook is given. A hook that
   * wants to keep that default refuses these (`accept: (req, info) => !info.crossOrigin && ...`).
   */
  readonly crossOrigin: boolean;
  /** Subprotocols the client offered, in its order. */
  readonly protocols: readonly string[];
  /** The subprotocol the server will answer with ('' for none). */
  readonly protocol: string;
  /** Extensions the client offered (parsed Sec-WebSocket-Extensions). */
  readonly extensions: readonly ExtensionOffer[];
}

/** Decides, before any upgrade, whether a request may become a WebSocket. May be async (authentication). */
export type AcceptHook<Data = unknown> = (req: IncomingMessage, info: UpgradeInfo) => AcceptResult<Data> | Promise<AcceptResult<Data>>;

/** Response header fields, by name. */
export type ResponseHeaders = Readonly<Record<string, string | readonly string[]>>;

/**
 * Extra response headers: fixed, or computed per request (cookies, a request id). The function
 * may also return `{ headers, data }` (the Racket seed's conn-headers, which returns headers and
 * state): `headers` are sent and the connection starts with `ws.data` set to `data` (replacing
 * what an accept hook handed over). It is told apart from a header named "headers" by its value,
 * an object that is not an array.
 */
export type HeadersOption<Data = unknown> =
  | ResponseHeaders
  | ((req: IncomingMessage) => ResponseHeaders | HeadersWithData<Data>);

/** What a `headers` function returns to hand data to the connection (HeadersOption). */
export interface HeadersWithData<Data = unknown> {
  headers: ResponseHeaders;
  data: Data;
}

/**
 * A connection handler: runs once per connection. If it returns a promise, that promise is the
 * connection's life: when it resolves the connection is closed with 1000, when it rejects (or the
 * function throws) with 1011, so that no error leaves a socket open. A handler that returns
 * nothing (event style, `ws.on('message', ...)`) leaves the connection open until someone closes it.
 */
export type ConnectionHandler<Params extends Readonly<Record<string, string>> = Readonly<Record<string, string>>, Data = unknown> = (
  ws: WebSocket<Data>,
  req: IncomingMessage,
  match: RouteMatch<Params>,
) => unknown;

/**
 * A message handler (the CHICKEN seed's with-websocket / with-concurrent-websocket): the server
 * reads the messages and calls `message` for each, at most `concurrency` at a time (1: strictly in
 * order, the next message is not read before the previous call settled). When the peer closes,
 * the server waits for the calls in flight; a call that throws closes the connection with 1011.
 */
export interface MessageHandler<Params extends Readonly<Record<string, string>> = Readonly<Record<string, string>>, Data = unknown> {
  /** Called once before the first message; the connection may already be used (a greeting). */
  open?(ws: WebSocket<Data>, req: IncomingMessage, match: RouteMatch<Params>): unknown;
  message(message: Message, ws: WebSocket<Data>, req: IncomingMessage, match: RouteMatch<Params>): unknown;
}

/** What a route may set; anything it leaves out comes from the server's options. */
export interface RouteOptions<Data = unknown> {
  /** Subprotocols this path speaks, most preferred first; default: the server's `protocols`. */
  protocols?: readonly string[];
  /**
   * Refuse (400) a client that offers none of `protocols`; default: the server's
   * `requireProtocol` (false: accept it without a subprotocol, as RFC 6455 section 4.2.2 allows).
   */
  requireProtocol?: boolean;
  /** A second accept hook for this path only, asked after the server's (its `{ data }` wins). */
  accept?: AcceptHook<Data>;
  /** For a MessageHandler: messages handled at once; default: the server's `concurrency`. */
  concurrency?: number;
}

/** Options of a WebSocketServer. The connection options (maxMessageSize, pingInterval, ...) apply to every connection. */
export interface WebSocketServerOptions<Data = unknown> extends WebSocketOptions {
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
  /** For MessageHandler routes: messages handled at once per connection; default 1 (in order). */
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

/**
 * Default `maxConnections`: 10,000. A public endpoint must refuse somewhere before file
 * descriptors or memory run out (an idle connection costs the server about 8 KiB of heap and
 * buffers and 17 KiB of resident memory, see docs/hardening.md); 10,000 is far above what one
 * process usually serves and well below what it takes to exhaust a machine. Raise it (or pass
 * Infinity) for a dedicated server with a raised `ulimit -n`.
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/** permessage-deflate as the server accepts it: the negotiation limits plus the codec's tuning. */
export interface ServerDeflateOptions extends DeflateOptions, DeflateCodecOptions {}

/** Options of `listen`. */
export interface ListenOptions {
  /** Default 0: a free port, read it back from the result or from `server.address()`. */
  port?: number;
  /** Default: Node's (every interface). Use '127.0.0.1' to stay on this machine. */
  host?: string;
  /** Answers plain HTTP requests (a page, a health check); default: 426 Upgrade Required. */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** Options of `broadcast`. */
export interface BroadcastOptions {
  /** A client (or clients) not to send to, typically the sender; or a predicate that returns true to skip. */
  except?: WebSocket | Iterable<WebSocket> | ((ws: WebSocket) => boolean);
  /** Send a string as a binary message (bytes are always binary); default false. */
  binary?: boolean;
}

interface Route {
  readonly pattern: RoutePattern;
  readonly matcher: PathMatcher;
  readonly options: RouteOptions;
  readonly handler: ConnectionHandler | MessageHandler;
}

/** What an upgrade goes on with once the checks before the accept hooks have passed. */
interface UpgradeDecision {
  readonly check: Extract<RequestCheck, { ok: true }>;
  readonly route: Route | undefined;
  readonly match: RouteMatch;
  readonly protocol: string | undefined;
  /** What the accept hooks are shown; null when there is no hook to ask. */
  readonly info: UpgradeInfo | null;
}

interface UpgradeSource {
  readonly server: HttpServer | HttpsServer;
  readonly listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** The server's options that are read per upgrade, checked once by the constructor. */
interface ServerSettings {
  readonly protocols: readonly string[] | undefined;
  readonly requireProtocol: boolean;
  readonly accept: AcceptHook | undefined;
  readonly headers: HeadersOption | undefined;
  readonly maxHeadSize: number;
  readonly maxHeaderCount: number;
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
  'legacy', // legacy (issue 22)
  'maxConnections',
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

const ROUTE_NAMES: ReadonlySet<string> = new Set(['protocols', 'requireProtocol', 'accept', 'concurrency']);

const LISTEN_NAMES: ReadonlySet<string> = new Set(['port', 'host', 'onRequest']);

const LISTEN_HINTS: Readonly<Record<string, string>> = {
  tls: 'listen() serves plain HTTP; for TLS, attach() an https server',
  key: 'listen() serves plain HTTP; for TLS, attach() an https server',
  cert: 'listen() serves plain HTTP; for TLS, attach() an https server',
  path: 'use server.route(path, handler)',
};

const BROADCAST_NAMES: ReadonlySet<string> = new Set(['except', 'binary']);

/** A list of subprotocols: tokens (RFC 6455 section 4.1), copied so that later changes to the caller's array do not count. */
function subprotocols(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string' || !isToken(p))) {
    throw new InvalidArgumentError(`${name} must be an array of subprotocol names (HTTP tokens), got ${String(value)}`);
  }
  return Object.freeze([...(value as string[])]);
}

function hook(name: string, value: unknown): AcceptHook | undefined {
  optionalFunction(name, value);
  return value as AcceptHook | undefined;
}

/** The headers option's shape; the names and values are the core's to check when it writes the 101. */
function headersOption(value: unknown): HeadersOption | undefined {
  if (value !== undefined && typeof value !== 'function' && (value === null || typeof value !== 'object' || Array.isArray(value))) {
    throw new InvalidArgumentError('headers must be an object of header names to values, or a function of the request returning one');
  }
  return value as HeadersOption | undefined;
}

/** The events of a WebSocketServer and their arguments. */
export interface WebSocketServerEvents<Data = unknown> {
  /** Every accepted connection, after the 101 and before its route's handler runs. */
  connection: [ws: WebSocket<Data>, req: IncomingMessage, match: RouteMatch];
  /** Every upgrade answered with an HTTP error instead (for logs and metrics). */
  refused: [req: IncomingMessage, refusal: HttpRefusal];
  /**
   * A handler, hook or 'connection' listener threw; `ws` is undefined before the upgrade.
   * Without a listener the error becomes a process warning, so that bugs are not silent.
   */
  handlerError: [error: unknown, ws: WebSocket | undefined, req: IncomingMessage];
  /** An error of the http.Server that `listen` created, after it started listening. */
  error: [error: Error];
}

/** A WebSocket server; see the module comment for the order of checks and docs/server.md for a guide. */
export class WebSocketServer<Data = unknown> extends EventEmitter<WebSocketServerEvents<Data>> {
  /** The server's own options, checked and with defaults applied (the connection options are apart). */
  readonly #options: ServerSettings;
  /** Resolved once and shared by every connection (an idle connection should not hold a copy). */
  readonly #connectionOptions: ResolvedOptions;
  readonly #routes: Route[] = [];
  readonly #clients = new Set<WebSocket>();
  readonly #sources: UpgradeSource[] = [];
  /** Sockets of our own server whose request head has not arrived: the handshake timer covers them. */
  readonly #early = new Map<Duplex, HandshakeGuard>();
  /** Handshakes past the 'upgrade' event, waiting on an accept hook: close() refuses them at once. */
  readonly #inflight = new Map<Duplex, () => void>();
  /** Sockets of our own server refused at accept (over maxConnections): their requests are ignored. */
  readonly #overCapacity = new WeakSet<Duplex>();
  readonly #handshakeTimeout: number;
  /** legacy (issue 22): accept hybi-00 handshakes. */
  readonly #hybi00: boolean;
  readonly #maxConnections: number;
  readonly #concurrency: number;
  /** The listed origins (lower case), '*' for any, or null for the default same-host check. */
  readonly #allowedOrigins: Set<string> | '*' | null;
  readonly #deflate: ServerDeflateOptions | null;
  /** How long close() waits for clients' closing handshakes (their closeTimeout; 0 = no bound). */
  readonly #closeWait: number;
  #pending = 0;
  /** The http.Server of `listen`: plain requests, and the connections it tracks for close(). */
  #own: HttpServer | null = null;
  /** The socket `listen` listens on; it reads each request head itself (see #accept). */
  #listener: NetServer | null = null;
  #closing: Promise<void> | null = null;
  /**
   * The 'close' listeners that forget a socket or a client: one function per server, called
   * with the emitter as `this`, rather than a `once` wrapper and a closure per connection (about
   * 200 bytes each, for the life of the connection).
   */
  readonly #onEarlyClose: (this: Duplex) => void;
  readonly #onClientClose: (this: WebSocket) => void;
  /** Counts refusals, accepted connections, closes and ping round trips (see metrics()). */
  readonly #metrics = new ServerMetrics();

  constructor(options: WebSocketServerOptions<Data> = {}) {
    super();
    const early = this.#early;
    const clients = this.#clients;
    const metrics = this.#metrics;
    this.#onEarlyClose = function (this: Duplex): void {
      early.delete(this);
    };
    this.#onClientClose = function (this: WebSocket): void {
      clients.delete(this);
      metrics.closed(this);
    };
    // ws's constructor takes a callback for 'listening'; here listen() returns a promise, and a
    // callback passed anyway would never be called.
    if (arguments.length > 1) throw new InvalidArgumentError('new WebSocketServer() takes no callback: await server.listen() instead');
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
      legacy,
      ...connectionOptions
    } = given;
    this.#hybi00 = resolveLegacy(legacy); // legacy (issue 22)
    // Every option is checked here, before any socket: a bad one never shows up after a 101.
    // The server keeps its own checked copy, so a later change to the caller's object cannot
    // slip an unchecked value in.
    this.#connectionOptions = resolveOptions(connectionOptions);
    this.#handshakeTimeout = duration('handshakeTimeout', handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT);
    this.#closeWait = this.#connectionOptions.closeTimeout;
    this.#maxConnections = count('maxConnections', maxConnections, DEFAULT_MAX_CONNECTIONS, 1, true);
    this.#concurrency = count('concurrency', concurrency, 1, 1, true);
    this.#options = Object.freeze({
      protocols: subprotocols('protocols', protocols),
      requireProtocol: flag('requireProtocol', requireProtocol, false),
      accept: hook('accept', accept),
      headers: headersOption(headers),
      maxHeadSize: count('maxHeadSize', maxHeadSize, DEFAULT_MAX_HEAD_SIZE, 1, false),
      maxHeaderCount: count('maxHeaderCount', maxHeaderCount, DEFAULT_MAX_HEADER_COUNT, 1, false),
    });
    if (allowedOrigins !== undefined && allowedOrigins !== '*' && (!Array.isArray(allowedOrigins) || allowedOrigins.some((o) => typeof o !== 'string'))) {
      throw new InvalidArgumentError(`allowedOrigins must be an array of origins (strings such as https://example.com) or '*', got ${JSON.stringify(allowedOrigins)}`);
    }
    this.#allowedOrigins = allowedOrigins === undefined || allowedOrigins === '*' ? (allowedOrigins ?? null) : new Set(allowedOrigins.map((o) => o.toLowerCase()));
    if (compress !== undefined && typeof compress !== 'boolean' && (compress === null || typeof compress !== 'object')) {
      throw new InvalidArgumentError(`compress must be a boolean or an object, got ${String(compress)}`);
    }
    this.#deflate = compress === undefined || compress === false ? null : compress === true ? {} : compress;
    if (this.#deflate !== null) {
      checkOptionNames('compress', this.#deflate, DEFLATE_NAMES, DEFLATE_HINTS);
      // Bad compression options fail here, not on the first client that offers compression.
      validateDeflateOptions(this.#deflate, 'server');
      validateDeflateCodecOptions(this.#deflate);
    }
  }

  /** The open connections (a live view; it shrinks as they close). */
  get clients(): ReadonlySet<WebSocket> {
    return this.#clients;
  }

  /**
   * A snapshot of the server's figures: connections open and closed (by outcome, side and close
   * code), refused handshakes by status and reason, messages and bytes both ways, bytes waiting
   * for slow peers, the ping round-trip histogram and the permessage-deflate ratio.
   * `toPrometheus()` renders it for a Prometheus scrape. See docs/observability.md.
   */
  metrics(): MetricsSnapshot {
    return this.#metrics.snapshot(this.#clients);
  }

  /** Open connections plus handshakes in progress: what `maxConnections` bounds. Refused requests never count. */
  get connectionCount(): number {
    return this.#clients.size + this.#pending;
  }

  /**
   * Adds a route, matched in the order routes were added: `pattern` is an exact path ('/chat'),
   * a path with `:name` segments ('/rooms/:id'), '*' for every path, or a RegExp tested against
   * the path. Once any route exists, a path no route matches is refused with 404 before any
   * upgrade. Without routes every path is accepted and only 'connection' listeners see it.
   */
  route<P extends RoutePattern>(pattern: P, handler: ConnectionHandler<RouteParams<P>, Data> | MessageHandler<RouteParams<P>, Data>): this;
  route<P extends RoutePattern>(
    pattern: P,
    options: RouteOptions<Data>,
    handler: ConnectionHandler<RouteParams<P>, Data> | MessageHandler<RouteParams<P>, Data>,
  ): this;
  route(pattern: RoutePattern, a: unknown, b?: unknown): this {
    // The handler types above only narrow what a caller sees (params from the pattern, ws.data
    // from the hooks); at run time every route is the untyped Route.
    const handler = (b ?? a) as ConnectionHandler | MessageHandler;
    const given = b === undefined ? {} : optionsObject('route()', a as RouteOptions);
    if (typeof handler !== 'function' && (handler === null || typeof handler !== 'object' || typeof handler.message !== 'function')) {
      throw new InvalidArgumentError('a route handler is a function (ws, req, match) or an object with a message(msg, ws, req, match) method');
    }
    checkOptionNames('route()', given, ROUTE_NAMES);
    // Checked and copied here, once: upgrades read them as they are.
    const options: RouteOptions = Object.freeze({
      protocols: subprotocols('protocols', given.protocols),
      requireProtocol: given.requireProtocol === undefined ? undefined : flag('requireProtocol', given.requireProtocol, false),
      accept: hook('accept', given.accept),
      concurrency: given.concurrency === undefined ? undefined : count('concurrency', given.concurrency, 1, 1, true),
    });
    this.#routes.push({ pattern, matcher: compilePattern(pattern), options, handler });
    return this;
  }

  /**
   * Starts an http.Server of its own that upgrades WebSocket requests and answers every other
   * request with 426 (or hands it to `onRequest`). Resolves with the address once listening.
   */
  listen(options: ListenOptions = {}): Promise<AddressInfo> {
    try {
      // A callback would never be called: the address comes back through the promise.
      if (arguments.length > 1) throw new InvalidArgumentError('listen() takes no callback: it returns a promise of the address');
      checkOptionNames('listen()', optionsObject('listen()', options), LISTEN_NAMES, LISTEN_HINTS);
      if (options.port !== undefined) count('port', options.port, 0, 0, false);
      if (options.port !== undefined && options.port > 65535) throw new InvalidArgumentError(`port must be from 0 to 65535, got ${options.port}`);
      if (options.host !== undefined && typeof options.host !== 'string') throw new InvalidArgumentError('host must be a string');
      optionalFunction('onRequest', options.onRequest);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#own !== null) return Promise.reject(new Error('this WebSocketServer is already listening'));
    if (this.#closing !== null) return Promise.reject(new Error('this WebSocketServer is closed'));
    const maxHeadSize = this.#options.maxHeadSize;
    const server = createServer({ maxHeaderSize: maxHeadSize });
    // Node drops header fields beyond maxHeadersCount without telling anyone; keep one more than
    // our bound so that checkRequestLimits sees the excess and answers 431.
    server.maxHeadersCount = this.#options.maxHeaderCount + 1;
    // The http.Server never listens itself: it gets the connections #accept hands over. This
    // starts its bookkeeping of them (closeIdleConnections, request and headers timeouts), which
    // Node otherwise starts on 'listening'.
    server.emit('listening');
    const listener = createNetServer({ noDelay: true }, (socket) => this.#accept(socket, server));
    this.#own = server;
    this.#listener = listener;
    const onRequest = options.onRequest;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#overCapacity.has(req.socket)) return;
      this.#early.get(req.socket)?.cancel();
      this.#early.delete(req.socket);
      if (onRequest !== undefined) {
        onRequest(req, res);
        return;
      }
      const answer = upgradeRequiredRefusal();
      res.writeHead(answer.status, { ...answer.headers, Connection: 'close' });
      res.end(answer.body);
    });
    server.on('clientError', (error: Error, socket: Duplex) => {
      if (this.#overCapacity.has(socket)) {
        socket.destroy();
        return;
      }
      this.#early.get(socket)?.cancel();
      this.#early.delete(socket);
      const answer = clientErrorRefusal(error);
      this.#metrics.refused(null, socket, answer);
      refuseUpgrade(socket, answer);
    });
    this.#hook(server);
    return new Promise<AddressInfo>((resolve, reject) => {
      const onError = (error: Error): void => {
        this.#own = null;
        this.#listener = null;
        this.#unhook(server);
        server.close();
        reject(error);
      };
      listener.once('error', onError);
      listener.listen(options.port ?? 0, options.host, () => {
        listener.off('error', onError);
        listener.on('error', (error) => this.emit('error', error));
        resolve(listener.address() as AddressInfo);
      });
    });
  }

  /**
   * A connection to our own server. The request head is read here with the core's parser rather
   * than by node:http: an upgrade request then goes straight to handleUpgrade, which skips
   * Node's parser, its IncomingMessage plumbing and its 'upgrade' dispatch (measured: about 1.6
   * times the new connections per second). Every other head, a plain request or one our parser
   * refuses, is handed to the http.Server with the bytes read so far, so node:http answers it
   * exactly as if it had read it itself (onRequest, 426, 400, 431).
   */
  #accept(socket: Socket, http: HttpServer): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    if (this.#clients.size + this.#pending + this.#early.size >= this.#maxConnections) {
      // Over the bound: answered before its request is even read, with no handshake timer or
      // bookkeeping of ours, so a flood of connections (slow ones included) costs nothing more.
      this.#overCapacity.add(socket);
      const answer = tooManyConnections();
      this.#metrics.refused(null, socket, answer);
      refuseUpgrade(socket, answer);
      return;
    }
    // Both let go once the head is read: the closures of this function live as long as the
    // guard's, and the parser holds the head's strings.
    let parser: HttpHeadParser | null = new HttpHeadParser('request', { maxHeadSize: this.#options.maxHeadSize, maxHeaderCount: this.#options.maxHeaderCount });
    let chunks: Buffer[] | null = null;
    const onData = (chunk: Buffer): void => {
      if (parser === null) return;
      const result = parser.push(chunk);
      if (result.state === 'incomplete') {
        (chunks ??= []).push(chunk);
        return;
      }
      socket.off('data', onData);
      socket.pause();
      parser = null;
      if (result.state === 'complete' && isUpgradeHead(result.head)) {
        chunks = null;
        void this.#upgrade(upgradeRequest(socket, result.head), socket, result.rest);
        return;
      }
      const bytes = chunks === null ? chunk : Buffer.concat([...chunks, chunk]);
      chunks = null;
      http.emit('connection', socket);
      // node:http reads the socket's handle directly from now on; what we already read goes to
      // its parser through the 'data' listener it has just added.
      socket.emit('data', bytes);
    };
    // The handshake timer starts with the connection, so a client that dribbles its request
    // head byte by byte is answered 408 and dropped.
    const guard = guardHandshake(socket, this.#handshakeTimeout, () => {
      socket.off('data', onData);
      const answer = timeoutRefusal();
      this.#metrics.refused(null, socket, answer);
      return answer;
    });
    this.#trackEarly(socket, guard);
    socket.on('data', onData);
  }

  /**
   * Lists a connection whose head has not arrived yet, until it closes or its head is read. A method of its own so
   * that the 'close' listener, which lives as long as the socket, does not keep #accept's
   * closures (and whatever they hold) alive with it.
   */
  #trackEarly(socket: Socket, guard: HandshakeGuard): void {
    this.#early.set(socket, guard);
    socket.on('close', this.#onEarlyClose);
  }

  /** The address `listen` bound, or the first attached server's; null when neither is listening. */
  address(): AddressInfo | string | null {
    if (this.#listener !== null) return this.#listener.address();
    return this.#sources[0]?.server.address() ?? null;
  }

  /**
   * Serves WebSocket upgrades on an existing http or https server (Express's, Fastify's, ...):
   * every 'upgrade' request is handled here (including 404 for unknown paths); ordinary requests
   * are left to the application. `close()` detaches again and leaves that server running.
   */
  attach(server: HttpServer | HttpsServer): this {
    if (this.#closing !== null) throw new Error('this WebSocketServer is closed');
    if (this.#sources.some((s) => s.server === server)) return this;
    this.#hook(server);
    return this;
  }

  #hook(server: HttpServer | HttpsServer): void {
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
      // Already answered 503 at accept; the request arrived while the answer lingered.
      if (this.#overCapacity.has(socket)) return;
      void this.#upgrade(req, socket, head);
    };
    server.on('upgrade', listener);
    this.#sources.push({ server, listener });
  }

  #unhook(server: HttpServer | HttpsServer): void {
    const i = this.#sources.findIndex((s) => s.server === server);
    if (i === -1) return;
    server.off('upgrade', this.#sources[i]!.listener);
    this.#sources.splice(i, 1);
  }

  /**
   * Handles one upgrade request, for frameworks that own the http server and its 'upgrade'
   * event. Resolves with the connection, or with null when the request was refused (the socket
   * has then been answered and closed). Never rejects.
   *
   * `callback`, as ws's: called with `(ws, req)` once the connection is open, after the
   * 'connection' event and the route's handler have started; not called for a refused request.
   * (Unlike with ws, do not emit 'connection' yourself: the server already did.) A callback that
   * throws is reported like a throwing 'connection' listener ('handlerError', then 1011). A
   * `callback` that is not a function throws InvalidArgumentError at once, socket untouched.
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer | Uint8Array = new Uint8Array(0),
    callback?: (ws: WebSocket, req: IncomingMessage) => void,
  ): Promise<WebSocket | null> {
    optionalFunction('the handleUpgrade() callback', callback);
    let outcome: Promise<WebSocket | null>;
    try {
      const upgraded = this.#upgrade(req, socket, head);
      outcome = upgraded instanceof Promise ? upgraded : Promise.resolve(upgraded);
    } catch (error) {
      // Only an exotic socket whose own methods throw gets here; the promise still never rejects.
      this.#reportError(error, undefined, req);
      socket.destroy();
      return Promise.resolve(null);
    }
    if (callback !== undefined) {
      void outcome.then((ws) => {
        if (ws === null) return;
        try {
          callback(ws, req);
        } catch (error) {
          this.#failed(error, ws, req);
        }
      });
    }
    return outcome;
  }

  /**
   * handleUpgrade, synchronous unless an accept hook is to be asked: listen() and attach() call
   * it directly, so that an upgrade without hooks costs no promise, no closure and no timer of
   * its own (measured on the connection-rate benchmark).
   */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Uint8Array): WebSocket | null | Promise<WebSocket | null> {
    // legacy (issue 22): a hybi-00 request's key3 follows its head; read it (bounded), then go on.
    if (this.#hybi00 && isHybi00Request(req.headers) && !hasKey3(req)) return withKey3(req, socket, head, this.#early.get(socket) ?? null, this.#handshakeTimeout, (rest) => this.#upgrade(req, socket, rest));
    publishUpgrade(req, socket);
    // On our own server the handshake timer started with the connection (#accept); it goes on
    // bounding the rest of the handshake, one timer per connection rather than two.
    const early = this.#early.get(socket) ?? null;
    if (early !== null) {
      this.#early.delete(socket);
      socket.off('close', this.#onEarlyClose);
    }
    // Counted from here until the connection is open or refused, so that slow accept hooks
    // cannot let more than maxConnections sockets in.
    this.#pending++;
    let decision: UpgradeDecision | HttpRefusal;
    try {
      decision = this.#decide(req);
    } catch (error) {
      // A bug of ours or an exotic request object: never leave the client hanging.
      this.#reportError(error, undefined, req);
      decision = refusal(500, 'Internal server error.\n');
    }
    if ('check' in decision && decision.info !== null) return this.#upgradeAfterHooks(req, socket, head, early, decision);
    // No await since the guard was found, so it cannot have fired: this call answers.
    if (early !== null && !early.cancel()) {
      this.#pending--;
      return null;
    }
    if ('check' in decision) return this.#open(req, socket, head, decision);
    this.#pending--;
    this.#answer(req, socket, decision);
    return null;
  }

  /**
   * Everything handleUpgrade decides before any hook runs: the capacity, the RFC 6455 checks,
   * the route, the origin and the subprotocol. A refusal, or what the upgrade goes on with.
   */
  #decide(req: IncomingMessage): UpgradeDecision | HttpRefusal {
    if (this.#closing !== null) return shuttingDown();
    if (this.#clients.size + this.#pending > this.#maxConnections) return tooManyConnections();
    const limits = { maxHeadSize: this.#options.maxHeadSize, maxHeaderCount: this.#options.maxHeaderCount };
    const check = this.#hybi00 && isHybi00Request(req.headers) ? checkHybi00Upgrade(req, limits) : checkUpgrade(req, limits); // legacy (issue 22)
    if (!check.ok) return check;

    const target = splitTarget(req.url ?? '');
    if (target === null) return refusal(400, 'Unusable request target.\n');
    const query = new URLSearchParams(target.query);
    let route: Route | undefined;
    let match: RouteMatch | null = null;
    if (this.#routes.length === 0) {
      match = { path: target.path, query, params: {} };
    } else {
      for (const r of this.#routes) {
        match = r.matcher(target.path, query);
        if (match !== null) {
          route = r;
          break;
        }
      }
      if (match === null) return refusal(404, 'No WebSocket endpoint at this path.\n');
    }

    const routeOptions = route?.options ?? {};
    const hooked = this.#options.accept !== undefined || routeOptions.accept !== undefined;

    // Cross-site WebSocket hijacking: a page on another site can open a WebSocket to us with the
    // user's cookies; the Origin header the browser adds is how we tell (RFC 6455 section 10.2).
    // A listed origin is enforced before any hook; without a list, a hook decides, and without
    // either only pages of the host the request was sent to get in (as gorilla/websocket does).
    const crossOrigin = check.origin !== undefined && !originMatchesHost(check.origin, check.host);
    const allowed = this.#allowedOrigins;
    if (check.origin !== undefined && allowed !== '*') {
      if (allowed === null ? crossOrigin && !hooked : !allowed.has(check.origin.toLowerCase())) {
        return refusal(403, 'Origin not allowed.\n');
      }
    }

    const preference = routeOptions.protocols ?? this.#options.protocols ?? [];
    const protocol = selectProtocol(preference, check.protocols);
    if (protocol === undefined && (routeOptions.requireProtocol ?? this.#options.requireProtocol)) {
      return refusal(400, `Unsupported subprotocol; this endpoint speaks: ${preference.join(', ') || '(none)'}.\n`);
    }

    const info: UpgradeInfo | null = hooked
      ? { ...match, origin: check.origin, crossOrigin, protocols: check.protocols, protocol: protocol ?? '', extensions: check.extensions }
      : null;
    return { check, route, match, protocol, info };
  }

  /**
   * The rest of an upgrade that has accept hooks to ask: they may be async, so the handshake
   * timer keeps bounding it, close() can refuse it while it waits, and a client that goes away
   * meanwhile is noticed before anything is written.
   */
  async #upgradeAfterHooks(req: IncomingMessage, socket: Duplex, head: Uint8Array, early: HandshakeGuard | null, decision: UpgradeDecision): Promise<WebSocket | null> {
    let counted = true;
    const uncount = (): void => {
      if (counted) {
        counted = false;
        this.#pending--;
      }
    };
    const onExpire = (): HttpRefusal => {
      uncount();
      const answer = refusal(408, 'The WebSocket handshake took too long.\n');
      this.#refused(req, answer);
      return answer;
    };
    let guard: HandshakeGuard;
    if (early !== null) {
      guard = early;
      guard.onExpire = onExpire;
    } else {
      guard = guardHandshake(socket, this.#handshakeTimeout, onExpire);
    }
    const refuse = (answer: HttpRefusal): null => {
      uncount();
      if (guard.cancel()) this.#answer(req, socket, answer);
      return null;
    };
    this.#inflight.set(socket, () => refuse(shuttingDown()));
    let data: { value: Data } | undefined;
    try {
      const info = decision.info!;
      for (const hook of [this.#options.accept, decision.route?.options.accept]) {
        if (hook === undefined) continue;
        let verdict: AcceptResult;
        try {
          const result = hook(req, info);
          verdict = isThenable(result) ? await result : result;
        } catch (error) {
          this.#reportError(error, undefined, req);
          verdict = { status: 500, body: 'Internal server error.\n' };
        }
        if (guard.expired || guard.gone) {
          uncount();
          if (!guard.expired) {
            guard.cancel();
            socket.destroy();
          }
          return null;
        }
        if (this.#closing !== null) return refuse(shuttingDown());
        const answer = verdictRefusal(verdict);
        if (answer !== null) return refuse(answer);
        // An accept with `{ data }`: the connection starts with it (a later hook's wins).
        if (typeof verdict === 'object') data = { value: (verdict as AcceptWithData<Data>).data };
      }
      if (!guard.cancel()) {
        uncount();
        return null;
      }
    } catch (error) {
      // A bug of ours: never leave the client hanging or the count wrong.
      this.#reportError(error, undefined, req);
      return refuse(refusal(500, 'Internal server error.\n'));
    } finally {
      this.#inflight.delete(socket);
    }
    // Still counted: every way out above that uncounts also returns.
    return this.#open(req, socket, head, decision, data);
  }

  /**
   * Writes the 101 and opens the connection. The handshake timer has been stopped and the
   * upgrade is still counted in #pending, which this ends on every way out.
   */
  #open(req: IncomingMessage, socket: Duplex, head: Uint8Array, decision: UpgradeDecision, data?: { value: Data }): WebSocket | null {
    let counted = true;
    let written = false;
    let codecs: readonly MessageCodec[] = [];
    try {
      const h = this.#options.headers;
      let extra = typeof h === 'function' ? h(req) : h;
      if (isHeadersWithData(extra)) {
        data = { value: extra.data as Data };
        extra = extra.headers;
      }
      const negotiated = this.#negotiateExtensions(decision.check.extensions);
      codecs = negotiated.codecs;
      // Throws for extra headers the core will not send (CR/LF, names of the handshake's own).
      const hybi00 = isHybi00Check(decision.check); // legacy (issue 22)
      written = isHybi00Check(decision.check) ? writeHybi00Response(socket, req, decision.check, decision.protocol, extra) : writeUpgradeResponse(socket, {
        key: decision.check.key,
        protocol: decision.protocol,
        extensions: negotiated.header,
        headers: extra,
      });
      if (!written) {
        // The client went away while an accept hook ran.
        for (const codec of codecs) codec.close();
        counted = false;
        this.#pending--;
        socket.destroy();
        return null;
      }

      const ws = new WebSocket<Data>(socket, {
        options: this.#connectionOptions,
        role: 'server',
        url: req.url ?? '/',
        protocol: decision.protocol ?? '',
        head: head.length > 0 ? head : undefined,
        codecs: negotiated.codecs,
        observer: this.#metrics,
        version: hybi00 ? 'hybi-00' : undefined, // legacy (issue 22)
      });
      if (data !== undefined) ws.data = data.value;
      this.#track(ws);
      counted = false;
      this.#pending--;
      const { route, match } = decision;
      try {
        this.emit('connection', ws, req, match);
      } catch (error) {
        // A 'connection' listener threw: the upgrade is done, so the answer is a close code.
        this.#failed(error, ws, req);
        return ws;
      }
      if (route !== undefined) this.#run(route, ws, req, match);
      return ws;
    } catch (error) {
      // A headers function that threw, headers that cannot be sent, a bug of ours or an exotic
      // socket: never leave the client hanging or the count wrong.
      this.#reportError(error, undefined, req);
      if (counted) this.#pending--;
      if (!written) {
        for (const codec of codecs) codec.close();
        this.#answer(req, socket, refusal(500, 'Internal server error.\n'));
      } else {
        // Past the point where an HTTP answer is possible: the 101 is on the wire.
        socket.destroy();
      }
      return null;
    }
  }

  /**
   * The extensions to answer with. Only permessage-deflate is known; every other offer is declined
   * by leaving it out of the response, which RFC 6455 section 9.1 allows (the client then proceeds
   * without it).
   */
  #negotiateExtensions(offers: readonly ExtensionOffer[]): { header: string | undefined; codecs: MessageCodec[] } {
    if (this.#deflate === null || offers.length === 0) return { header: undefined, codecs: [] };
    const accepted = acceptDeflateOffer(offers, this.#deflate);
    if (accepted === null) return { header: undefined, codecs: [] };
    return { header: accepted.response, codecs: [new DeflateCodec('server', accepted.params, accepted.response, this.#deflate)] };
  }

  /**
   * Lists an open connection until it closes. A method of its own, not an arrow inside
   * handleUpgrade: a closure there would keep handleUpgrade's whole scope alive for the life of
   * the connection (the request and its headers, the handshake guard and its timer), about 2 KiB
   * of heap per idle connection.
   */
  #track(ws: WebSocket): void {
    this.#clients.add(ws);
    ws.on('close', this.#onClientClose);
    this.#metrics.track(ws);
  }

  /** Answers a refused upgrade (and tells 'refused' listeners). */
  #answer(req: IncomingMessage, socket: Duplex, answer: HttpRefusal): void {
    this.#refused(req, answer);
    refuseUpgrade(socket, answer);
  }

  #refused(req: IncomingMessage, answer: HttpRefusal): void {
    this.#metrics.refused(req, req.socket, answer);
    if (this.listenerCount('refused') === 0) return;
    try {
      this.emit('refused', req, answer);
    } catch (error) {
      // The refusal is still written; a listener's bug is reported like a hook's.
      this.#reportError(error, undefined, req);
    }
  }

  #reportError(error: unknown, ws: WebSocket | undefined, req: IncomingMessage): void {
    if (this.listenerCount('handlerError') > 0) {
      this.emit('handlerError', error, ws, req);
    } else {
      process.emitWarning(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Runs a route's handler; its outcome decides the close code. */
  #run(route: Route, ws: WebSocket, req: IncomingMessage, match: RouteMatch): void {
    const handler = route.handler;
    let outcome: unknown;
    try {
      outcome =
        typeof handler === 'function'
          ? handler(ws, req, match)
          : this.#serveMessages(handler, route.options.concurrency ?? this.#concurrency, ws, req, match);
    } catch (error) {
      this.#failed(error, ws, req);
      return;
    }
    if (isThenable(outcome)) {
      outcome.then(
        () => closeQuietly(ws, 1000),
        (error: unknown) => this.#failed(error, ws, req),
      );
    }
  }

  #failed(error: unknown, ws: WebSocket, req: IncomingMessage): void {
    // A handler that was waiting on a connection the peer closed is not a bug worth reporting.
    const peerWentAway = error instanceof ConnectionClosedError && (ws.readyState === 'closed' || ws.readyState === 'closing');
    if (!peerWentAway) this.#reportError(error, ws, req);
    // RFC 6455 section 7.4.1: 1011, the server met a condition that prevented it from fulfilling the request.
    closeQuietly(ws, 1011);
  }

  async #serveMessages(handler: MessageHandler, concurrency: number, ws: WebSocket, req: IncomingMessage, match: RouteMatch): Promise<void> {
    if (handler.open !== undefined) await handler.open(ws, req, match);
    const running = new Set<Promise<void>>();
    let failure: { error: unknown } | null = null;
    try {
      for await (const message of ws) {
        const call: Promise<void> = (async () => {
          await handler.message(message, ws, req, match);
        })().then(
          () => {
            running.delete(call);
          },
          (error: unknown) => {
            running.delete(call);
            failure ??= { error };
          },
        );
        running.add(call);
        // Backpressure: the next message is not read while `concurrency` calls are in flight.
        if (running.size >= concurrency) await Promise.race(running);
        if (failure !== null) break;
      }
    } catch (error) {
      // The connection ended abnormally: let the calls in flight finish, then end quietly.
      if (!(error instanceof ConnectionClosedError)) failure ??= { error };
    }
    await Promise.all(running);
    if (failure !== null) throw (failure as { error: unknown }).error;
  }

  /**
   * Sends one message to every open client except `options.except`, and returns how many clients
   * it was sent to. A string is encoded to UTF-8 once and the same bytes are handed to every
   * connection; extensions are not applied (an uncompressed frame is valid on a connection that
   * negotiated permessage-deflate), so the payload is never transformed or copied per client.
   */
  broadcast(data: string | Uint8Array | ArrayBuffer, options: BroadcastOptions = {}): number {
    checkOptionNames('broadcast()', optionsObject('broadcast()', options), BROADCAST_NAMES);
    const except = options.except;
    const skip: (ws: WebSocket) => boolean =
      except === undefined
        ? () => false
        : typeof except === 'function'
          ? except
          : except instanceof WebSocket
            ? (ws) => ws === except
            : ((set) => (ws: WebSocket) => set.has(ws))(new Set(except));
    const isText = typeof data === 'string' && options.binary !== true;
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    // Server frames are unmasked, so one header and one payload serve every client: the frame is
    // built once and the same two chunks are written to each socket, never copied per client.
    // Uncompressed even where permessage-deflate was agreed (RFC 7692 lets any message go without
    // RSV1), since compressing per client would defeat framing once.
    const header = encodeFrameHeader(isText ? Opcode.Text : Opcode.Binary, bytes.length);
    const chunks = [header, bytes];
    const size = header.length + bytes.length;
    let sent = 0;
    for (const ws of this.#clients) {
      if (ws.readyState !== 'open' || skip(ws)) continue;
      // legacy (issue 22): hybi-00 clients get text through their own framing, and no binary.
      if (ws.version === 'hybi-00') {
        if (isText) sendLegacyText(ws, bytes) && sent++;
        continue;
      }
      // Never rejects unhandled; a client that closed meanwhile is removed by its 'close'.
      void ws[kSendEncoded](chunks, size);
      sent++;
    }
    return sent;
  }

  /**
   * Shuts down gracefully: stops accepting (new upgrades get 503), closes every client with 1001
   * (going away), waits for their closing handshakes up to the close timeout (then destroys what
   * is left), and stops listening. A server from `listen` is closed; attached servers are only
   * detached. Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const own = this.#own;
    const listener = this.#listener;
    for (const source of [...this.#sources]) if (source.server !== own) this.#unhook(source.server);
    const stopped =
      listener === null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            listener.close(() => resolve());
          });
    // It never listened, so this only stops its timers and closes its idle keep-alive connections.
    own?.close(() => {});
    own?.closeIdleConnections();
    for (const abort of [...this.#inflight.values()]) abort();
    for (const guard of this.#early.values()) guard.cancel();
    for (const socket of this.#early.keys()) socket.destroy();
    this.#early.clear();

    const wait = this.#closeWait;
    await Promise.all(
      [...this.#clients].map(async (ws) => {
        let timer: NodeJS.Timeout | undefined;
        // Each connection's own closeTimeout destroys it when the peer does not answer; this
        // deadline, a little later, only guards against a connection that would not.
        const deadline = new Promise<void>((resolve) => {
          if (wait === 0) return;
          timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, wait + 100);
        });
        // RFC 6455 section 7.4.1: 1001, the endpoint is going away (a server going down).
        const closed = ws.close(1001, 'server shutting down').then(
          () => undefined,
          () => undefined,
        );
        await Promise.race([closed, deadline]);
        clearTimeout(timer);
      }),
    );
    if (own !== null) {
      own.closeAllConnections();
      await stopped;
      this.#unhook(own);
    }
  }
}

/**
 * Whether node:http would have emitted 'upgrade' for this head: an Upgrade header field and the
 * `upgrade` token in Connection (RFC 7230 section 6.7), or the CONNECT method; then handleUpgrade
 * judges it (a non-WebSocket upgrade is refused there, as before).
 */
function isUpgradeHead(head: HttpHead): boolean {
  if (head.startLine[0] === 'CONNECT') return true;
  const headers = head.headers;
  if (headers['upgrade'] === undefined) return false;
  const connection = headers['connection'];
  if (connection === undefined) return false;
  return listHasToken(Array.isArray(connection) ? connection.join(', ') : connection, 'upgrade') === true;
}

/** The IncomingMessage that handleUpgrade, the hooks and the 'connection' listeners see, filled from a parsed head. */
function upgradeRequest(socket: Socket, head: HttpHead): IncomingMessage {
  const req = new IncomingMessage(socket);
  const [method, target, version] = head.startLine;
  req.method = method;
  req.url = target;
  const major = version.charCodeAt(5) - 48;
  const minor = version.charCodeAt(7) - 48;
  req.httpVersionMajor = major;
  req.httpVersionMinor = minor;
  req.httpVersion = `${major}.${minor}`;
  req.headers = head.headers as IncomingMessage['headers'];
  req.rawHeaders = head.rawHeaders;
  // Set by Node's parser on the requests it emits with 'upgrade' (not in @types/node).
  (req as IncomingMessage & { upgrade: boolean }).upgrade = true;
  req.complete = true;
  // No body is read for an upgrade request: the stream is over at once, as Node's is.
  req.push(null);
  return req;
}

function tooManyConnections(): HttpRefusal {
  return refusal(503, 'Too many connections.\n', { 'Retry-After': '5' });
}

function shuttingDown(): HttpRefusal {
  return refusal(503, 'The server is shutting down.\n', { 'Retry-After': '5' });
}

function closeQuietly(ws: WebSocket, code: number): void {
  if (ws.readyState === 'open') {
    ws.close(code).catch(() => {
      // Closing is best effort here: the connection is ending either way.
    });
  }
}

/** A `headers` function's `{ headers, data }` (HeadersWithData), told apart from a plain header record. */
function isHeadersWithData<Data>(value: ResponseHeaders | HeadersWithData<Data> | undefined): value is HeadersWithData<Data> {
  if (value === undefined || value === null || !Object.hasOwn(value, 'data')) return false;
  const headers = (value as { headers?: unknown }).headers;
  return typeof headers === 'object' && headers !== null && !Array.isArray(headers);
}

/** Turns an accept hook's verdict into a refusal, or null to accept. */
function verdictRefusal(verdict: AcceptResult): HttpRefusal | null {
  if (verdict === true) return null;
  // An accept with per-connection data (AcceptWithData): no status, a `data` member.
  if (verdict !== null && typeof verdict === 'object' && verdict.status === undefined && Object.hasOwn(verdict, 'data')) return null;
  // The CHICKEN seed's access-denied: a 403 with a short body.
  if (verdict === false) return refusal(403, 'Access denied.\n');
  if (verdict === null || typeof verdict !== 'object') return refusal(500, 'Internal server error.\n');
  const answer = verdict as AcceptRefusal;
  if (!Number.isInteger(answer.status) || answer.status < 300 || answer.status > 599) return refusal(500, 'Internal server error.\n');
  const headers: Record<string, string> = { ...(answer.headers ?? {}) };
  const hasType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  if (!hasType) headers['Content-Type'] = 'text/plain; charset=utf-8';
  return { status: answer.status, headers, body: answer.body ?? '' };
}
