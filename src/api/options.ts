/**
 * The options of one connection and of a server, with every default in one place, and the rules
 * every front-end applies to options before any network: `connect()`, `WebSocketServer`,
 * `BrowserWebSocket` and a directly built `WebSocket` each run `resolveOptions` once and hand the
 * resolved object down (the server also `resolveServerOptions`, `resolveRouteOptions` and
 * `checkListenOptions`), so a bad option is an InvalidArgumentError at the call, never a failure
 * after a 101.
 */
import { Agent } from 'node:http';
import { InvalidArgumentError } from '../core/errors.js';
import { isToken } from '../core/header-tokens.js';
import { resolveCoreLimits, type CoreLimits } from '../core/limits.js';
import { validateDeflateOptions } from '../core/permessage-deflate.js';
import { validateDeflateCodecOptions } from '../node/deflate-codec.js';
import { DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_HEAD_SIZE, DEFAULT_MAX_HEADER_COUNT } from '../node/upgrade.js';
import type { RouteOptions } from './route.js';
import type { ListenOptions, ServerDeflateOptions, WebSocketServerOptions } from './server.js';
import type { LegacyOptions } from './legacy.js'; // legacy (issue 22)
import type { AcceptHook, HeadersOption } from './upgrade-pipeline.js';
import { resolveTopicOptions, TOPIC_SERVER_NAMES, type ResolvedTopicOptions } from './topics/topic-options.js'; // topics hook (issue 20)
import type { TlsDialOptions } from '../node/dial.js';
import { snapshotProxyEnv } from '../node/proxy/env.js';
import { parseProxyURL } from '../node/proxy/proxy-url.js';
import type { ProxyRoute } from '../node/proxy/route.js';

/**
 * Default `pingInterval`: 30 s. Proxies and NAT tables commonly drop flows silent for 60 s; a
 * ping after 30 s of silence keeps them open at the cost of a few bytes per idle minute.
 */
export const DEFAULT_PING_INTERVAL = 30_000;

/**
 * Default `pongTimeout`: 20 s, as Python websockets' `ping_timeout`. RFC 6455 section 5.5.2 says a
 * peer MUST answer a ping "as soon as is practical", so a live one answers within a round trip;
 * 20 s leaves room for a congested path and still finds a dead peer at 50 s of silence (a ping at
 * 30 s, then 20 s), before `idleTimeout`'s 60 s, with a close code (1011) and an error
 * (KeepaliveTimeoutError) that name the cause.
 */
export const DEFAULT_PONG_TIMEOUT = 20_000;

/**
 * Default `idleTimeout`: 60 s, twice the ping interval. A live peer answers the keep-alive ping
 * (RFC 6455 section 5.5.2 says it MUST), so only a dead or wedged peer stays silent that long.
 */
export const DEFAULT_IDLE_TIMEOUT = 60_000;

/** Default `closeTimeout`: 5 s; a live peer answers a close in milliseconds. */
export const DEFAULT_CLOSE_TIMEOUT = 5_000;

/**
 * Default `receiveHighWaterMark`: 4 MiB of unread data (queued messages, or a message stream's
 * buffered fragments) before reading the socket pauses. Four messages of the default maximum size.
 */
export const DEFAULT_RECEIVE_HIGH_WATER_MARK = 4 * 1024 * 1024;

/**
 * Default `receiveHighWaterMessages`: 1024 unread messages before reading the socket pauses, so
 * that a flood of tiny messages is bounded by count as well as by bytes.
 */
export const DEFAULT_RECEIVE_HIGH_WATER_MESSAGES = 1024;

/**
 * Default `messageTimeout`: 60 s from the first byte of a frame or message to its last. A peer
 * dribbling a message a byte at a time holds the connection and the partial message; at the
 * default 1 MiB message size this still admits links of about 17 KiB/s.
 */
export const DEFAULT_MESSAGE_TIMEOUT = 60_000;

/**
 * Default `maxBufferedAmount`: 4 MiB waiting to be written, past which the connection watches for
 * a peer that reads nothing (see `stallTimeout`). Producers that await send() never get there.
 */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 4 * 1024 * 1024;

/**
 * Default `stallTimeout`: 30 s with more than maxBufferedAmount waiting and not a byte of it
 * written. As long as pingInterval: a peer that takes nothing off its socket for that long while
 * megabytes wait for it is not reading, and a slow but reading peer makes progress much sooner.
 */
export const DEFAULT_STALL_TIMEOUT = 30_000;

/** Default `fragmentSize` of a streamed send: 64 KiB per frame, as Node's stream chunks. */
export const DEFAULT_FRAGMENT_SIZE = 64 * 1024;

/** Options of a connection, shared by connect() and the server. Each default is documented on its field. */
export interface WebSocketOptions {
  /**
   * Largest frame payload accepted in a message received whole, in bytes (1009 beyond it);
   * default 1 MiB (DEFAULT_MAX_FRAME_SIZE). Not applied to messages read with `receiveStream()`,
   * whose frames go to the stream's consumer as they arrive (a peer may send a large message as
   * one frame).
   */
  maxFrameSize?: number;
  /**
   * Largest message accepted, in bytes, after decompression (1009 beyond it); default 1 MiB, as
   * Python `websockets`. Messages read with `receiveStream()` are bounded by
   * the stream's consumer instead (unless compressed: those are inflated whole, and bounded).
   */
  maxMessageSize?: number;
  /** Most fragments in one message (1009 beyond it); default 262,144 (DEFAULT_MAX_FRAGMENTS). */
  maxFragments?: number;
  /** Answer pings with pongs automatically, as RFC 6455 section 5.5.2 requires; default true. */
  autoPong?: boolean;
  /**
   * Send a keep-alive ping after this many ms in which nothing arrived (and again every as many
   * ms while the silence lasts); 0 disables. Default 30 s (DEFAULT_PING_INTERVAL).
   */
  pingInterval?: number;
  /**
   * Fail the connection (1011, KeepaliveTimeoutError) when a keep-alive ping of `pingInterval`
   * has had no pong for this many ms; any pong counts, since a peer may answer only the latest of
   * several pings. 0 disables (then only `idleTimeout` notices a dead peer). Time during which we
   * ourselves stopped reading does not count. Default 20 s (DEFAULT_PONG_TIMEOUT).
   */
  pongTimeout?: number;
  /**
   * Close the connection (1001, "idle timeout") when nothing at all, not even a pong, arrived for
   * this many ms; 0 disables. Time during which we ourselves stopped reading (backpressure) does
   * not count. Default 60 s (DEFAULT_IDLE_TIMEOUT).
   */
  idleTimeout?: number;
  /**
   * Bound on the closing handshake, in ms: when the peer has not answered our close frame (or
   * closed TCP after the handshake) by then, the socket is destroyed; 0 waits forever. Default 5 s
   * (DEFAULT_CLOSE_TIMEOUT).
   */
  closeTimeout?: number;
  /**
   * Emit 'error' for expected endings too (the peer vanished without a close frame, a network
   * error, a close or idle timeout), and make `for await` throw when the connection did not
   * close normally. Default false.
   */
  propagateErrors?: boolean;
  /**
   * Bytes of unread received data (queued messages not yet taken by `receive()`) above which
   * parsing and reading the socket pause, so TCP pushes back on the peer and input already read
   * is not inflated past it; they resume when the queue is down to half. A `receiveStream()`
   * Readable buffers a quarter of it. Default 4 MiB.
   */
  receiveHighWaterMark?: number;
  /** Unread messages above which reading the socket pauses, as `receiveHighWaterMark`. Default 1024. */
  receiveHighWaterMessages?: number;
  /**
   * Fail the connection (1008, MessageTimeoutError) when a frame or a message has started
   * arriving and is not complete after this many ms, however steadily its bytes come; 0
   * disables. Time during which we ourselves stopped reading does not count, and a message read
   * with `receiveStream()` is bounded by its consumer instead. Default 60 s (DEFAULT_MESSAGE_TIMEOUT).
   */
  messageTimeout?: number;
  /**
   * When a send() finds more than this many bytes already waiting to be written
   * (`bufferedAmount`), the connection starts watching the peer: if then `stallTimeout` ms pass
   * in which bytes wait and not one of them is written, the connection fails (1008,
   * SendBufferFullError) and the socket is destroyed. A peer that reads, however slowly, is never
   * cut off: a burst of sends is not a dead peer. Infinity disables. Default 4 MiB
   * (DEFAULT_MAX_BUFFERED_AMOUNT).
   */
  maxBufferedAmount?: number;
  /**
   * How long bytes may wait with no progress at all, once more than `maxBufferedAmount` were
   * waiting, before the peer counts as not reading (1008); 0 disables. Default 30 s
   * (DEFAULT_STALL_TIMEOUT).
   */
  stallTimeout?: number;
}

/**
 * The largest duration a timer option may have: 2^31 - 1 ms (about 24.8 days). Node's timers
 * cannot hold more; a longer `setTimeout` fires after 1 ms instead, which would turn a generous
 * timeout into an instant one. Use 0 to disable a timer.
 */
export const MAX_DURATION = 2 ** 31 - 1;

/** WebSocketOptions with every default applied, as the WebSocket uses them. Made only by `resolveOptions`. */
export interface ResolvedOptions extends CoreLimits {
  pingInterval: number;
  pongTimeout: number;
  idleTimeout: number;
  closeTimeout: number;
  propagateErrors: boolean;
  receiveHighWaterMark: number;
  receiveHighWaterMessages: number;
  messageTimeout: number;
  maxBufferedAmount: number;
  stallTimeout: number;
}

/** The names of every WebSocketOptions field, for the front-ends' checks of unknown option names. */
export const CONNECTION_OPTION_NAMES: readonly (keyof WebSocketOptions)[] = [
  'maxFrameSize',
  'maxMessageSize',
  'maxFragments',
  'autoPong',
  'pingInterval',
  'pongTimeout',
  'idleTimeout',
  'closeTimeout',
  'propagateErrors',
  'receiveHighWaterMark',
  'receiveHighWaterMessages',
  'messageTimeout',
  'maxBufferedAmount',
  'stallTimeout',
];

/** The names of ClientDeflateOptions (and ServerDeflateOptions): the negotiated parameters and the codec's tuning. */
export const DEFLATE_NAMES: ReadonlySet<string> = new Set([
  'serverNoContextTakeover',
  'clientNoContextTakeover',
  'serverMaxWindowBits',
  'clientMaxWindowBits',
  'threshold',
  'level',
  'memLevel',
  'chunkSize',
  'limiter',
]);

/** What ws's perMessageDeflate names (and other libraries' near misses) are called here. */
export const DEFLATE_HINTS: Readonly<Record<string, string>> = {
  zlibDeflateOptions: 'set level, memLevel and chunkSize directly',
  zlibInflateOptions: 'set chunkSize directly',
  concurrencyLimit: 'pass limiter: new ZlibLimiter(n)',
};

/** A value as an error message shows it: strings quoted, so that '5' and 5 read differently. */
function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A duration option: a finite number of ms from 0 (disabled) to MAX_DURATION; fractions are fine. */
export function duration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= MAX_DURATION)) {
    throw new InvalidArgumentError(`${name} must be a number of ms from 0 to ${MAX_DURATION}, got ${shown(value)}`);
  }
  return value;
}

/** A count or byte bound: an integer of at least `min`, or Infinity where `infinite` allows no bound. */
export function count(name: string, value: unknown, fallback: number, min: number, infinite: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= min) || (value === Infinity ? !infinite : !Number.isInteger(value))) {
    throw new InvalidArgumentError(`${name} must be an integer of at least ${min}${infinite ? ' (or Infinity)' : ''}, got ${shown(value)}`);
  }
  return value;
}

/** A boolean option; anything else (1, 'yes') is refused rather than read as truthy. */
export function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`${name} must be a boolean, got ${shown(value)}`);
  return value;
}

/** An optional function option (a hook, a callback). */
export function optionalFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') throw new InvalidArgumentError(`${name} must be a function, got ${shown(value)}`);
}

/** The options argument itself: absent, or a plain object (not a string of protocols, not null). */
export function optionsObject<T extends object>(where: string, value: T | undefined): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidArgumentError(`the options of ${where} must be an object, got ${Array.isArray(value) ? 'an array' : shown(value)}`);
  }
  return value;
}

/**
 * Refuses option names `where` does not know, naming every one, so that a misspelt or foreign
 * option (JavaScript callers have no type checker to tell them) fails loudly instead of being
 * ignored. `hints` maps names other libraries use (ws's above all) to what hybi offers instead.
 */
export function checkOptionNames(where: string, options: object, known: ReadonlySet<string>, hints: Readonly<Record<string, string>> = {}): void {
  let unknown: string[] | null = null;
  // for-in rather than Object.keys: no array per call (send() options pass through here).
  for (const name in options) {
    if (!known.has(name) && Object.hasOwn(options, name)) (unknown ??= []).push(name);
  }
  if (unknown === null) return;
  const named = unknown.map((name) => (Object.hasOwn(hints, name) ? `'${name}' (${hints[name]})` : `'${name}'`));
  throw new InvalidArgumentError(`unknown option${unknown.length > 1 ? 's' : ''} for ${where}: ${named.join(', ')}`);
}

/** Resolved option objects: a WebSocket trusts these without checking them again. */
const resolved = new WeakSet<object>();

/** Whether `options` came from `resolveOptions` (and so needs no further check). */
export function isResolvedOptions(options: unknown): options is ResolvedOptions {
  return typeof options === 'object' && options !== null && resolved.has(options);
}

/**
 * Applies the defaults and validates, once per front-end call: `connect()` before dialing, a
 * `WebSocketServer` at construction, a `WebSocket` built directly from its init. The size limits
 * and `autoPong` follow the core's own rules (resolveCoreLimits), so that nothing accepted here
 * can fail later inside the core, after a 101 was sent. Throws InvalidArgumentError naming the
 * first bad option; names other than WebSocketOptions' are the caller's business.
 */
export function resolveOptions(options: WebSocketOptions = {}): ResolvedOptions {
  const result: ResolvedOptions = {
    ...resolveCoreLimits(options),
    pingInterval: duration('pingInterval', options.pingInterval, DEFAULT_PING_INTERVAL),
    pongTimeout: duration('pongTimeout', options.pongTimeout, DEFAULT_PONG_TIMEOUT),
    idleTimeout: duration('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT),
    closeTimeout: duration('closeTimeout', options.closeTimeout, DEFAULT_CLOSE_TIMEOUT),
    propagateErrors: flag('propagateErrors', options.propagateErrors, false),
    receiveHighWaterMark: count('receiveHighWaterMark', options.receiveHighWaterMark, DEFAULT_RECEIVE_HIGH_WATER_MARK, 0, true),
    receiveHighWaterMessages: count('receiveHighWaterMessages', options.receiveHighWaterMessages, DEFAULT_RECEIVE_HIGH_WATER_MESSAGES, 0, true),
    messageTimeout: duration('messageTimeout', options.messageTimeout, DEFAULT_MESSAGE_TIMEOUT),
    maxBufferedAmount: count('maxBufferedAmount', options.maxBufferedAmount, DEFAULT_MAX_BUFFERED_AMOUNT, 0, true),
    stallTimeout: duration('stallTimeout', options.stallTimeout, DEFAULT_STALL_TIMEOUT),
  };
  resolved.add(result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// The server's options

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

/** RouteOptions checked and copied; what a route leaves out stays undefined (the server's applies). */
export interface ResolvedRouteOptions {
  readonly protocols: readonly string[] | undefined;
  readonly requireProtocol: boolean | undefined;
  readonly accept: AcceptHook | undefined;
  readonly concurrency: number | undefined;
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

const ROUTE_NAMES: ReadonlySet<string> = new Set(['protocols', 'requireProtocol', 'accept', 'concurrency']);

const LISTEN_NAMES: ReadonlySet<string> = new Set(['port', 'host', 'onRequest', 'http2']); // http2 hook: http2
/** http2 hook: `tls` is taken only with `http2: true`; plain listen() stays plain HTTP. */
const LISTEN_NAMES_H2: ReadonlySet<string> = new Set([...LISTEN_NAMES, 'tls']);

const LISTEN_HINTS: Readonly<Record<string, string>> = {
  tls: 'listen() serves plain HTTP unless http2: true; for TLS, attach() an https server',
  key: 'listen() serves plain HTTP; for TLS, attach() an https server',
  cert: 'listen() serves plain HTTP; for TLS, attach() an https server',
  path: 'use server.route(path, handler)',
};

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

/** Checks a route's options (an object from `optionsObject`) and copies them, once: upgrades read them as they are. */
export function resolveRouteOptions(given: RouteOptions): ResolvedRouteOptions {
  checkOptionNames('route()', given, ROUTE_NAMES);
  return Object.freeze({
    protocols: subprotocols('protocols', given.protocols),
    requireProtocol: given.requireProtocol === undefined ? undefined : flag('requireProtocol', given.requireProtocol, false),
    accept: hook('accept', given.accept),
    concurrency: given.concurrency === undefined ? undefined : count('concurrency', given.concurrency, DEFAULT_CONCURRENCY, 1, true),
  });
}

/** Checks the options of `listen()`; throws InvalidArgumentError naming the first bad one. */
export function checkListenOptions(options: ListenOptions): void {
  const names = (options as { http2?: unknown } | undefined)?.http2 === true ? LISTEN_NAMES_H2 : LISTEN_NAMES; // http2 hook
  checkOptionNames('listen()', optionsObject('listen()', options), names, LISTEN_HINTS);
  if (options.port !== undefined) count('port', options.port, 0, 0, false);
  if (options.port !== undefined && options.port > 65535) throw new InvalidArgumentError(`port must be from 0 to 65535, got ${options.port}`);
  if (options.host !== undefined && typeof options.host !== 'string') throw new InvalidArgumentError('host must be a string');
  optionalFunction('onRequest', options.onRequest);
  // http2 hook: HTTP/2 needs TLS here (browsers speak h2 only over TLS).
  const h2 = options as { http2?: unknown; tls?: unknown };
  if (h2.http2 !== undefined && typeof h2.http2 !== 'boolean') throw new InvalidArgumentError('http2 must be a boolean');
  if (h2.http2 === true && (typeof h2.tls !== 'object' || h2.tls === null)) throw new InvalidArgumentError('listen({ http2: true }) needs tls: { key, cert } (browsers speak HTTP/2 only over TLS)');
}

// ---------------------------------------------------------------------------------------------
// Proxies (connect()'s proxy, proxyHeaders, proxyTls and agent): checked here with the rest, so
// that a bad proxy URL fails at the call, before any network.

/** How connect() reaches a server through a proxy. Every field defaults to off: a direct connection. */
export interface ProxyOptions {
  /**
   * A proxy to tunnel through: `http://` or `https://` (CONNECT; TLS to the proxy for https:),
   * `socks5://` (the name resolved here), `socks5h://` (resolved by the proxy), `socks4://` or
   * `socks4a://`, with `user:password@` for Basic or RFC 1929 credentials (percent-decoded).
   * `'env'` takes it from wss_proxy/ws_proxy, https_proxy/http_proxy, all_proxy and no_proxy.
   * Default none: the environment is read only when asked, so nothing changes silently.
   */
  proxy?: string | URL | 'env';
  /** Extra headers of the CONNECT request (a Proxy-Authorization here wins over the URL's credentials). Default none. */
  proxyHeaders?: Readonly<Record<string, string>>;
  /** TLS settings for an https: proxy itself (its CA, for one). Default: Node's CAs, verified, SNI the proxy's name. */
  proxyTls?: TlsDialOptions;
  /**
   * An `http.Agent` that carries the upgrade request instead (https-proxy-agent and the like, as
   * ws takes them); not with `proxy`. Default none.
   */
  agent?: Agent;
}

/** The names ProxyOptions adds to connect()'s. */
export const PROXY_OPTION_NAMES: readonly (keyof ProxyOptions)[] = ['proxy', 'proxyHeaders', 'proxyTls', 'agent'];

/** The names of TlsDialOptions, for `proxyTls`. */
const PROXY_TLS_NAMES: ReadonlySet<string> = new Set(['ca', 'cert', 'key', 'passphrase', 'rejectUnauthorized', 'servername']);

/** An HTTP field name (RFC 9110 section 5.6.2 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** ProxyOptions resolved: the route the dialer takes, or the agent; both undefined for a direct connection. */
export interface ResolvedProxy {
  route: ProxyRoute | undefined;
  agent: Agent | undefined;
}

/**
 * Checks the proxy options and resolves them: the proxy URL is parsed (credentials decoded), the
 * CONNECT headers checked against injection, and for `'env'` the environment's variables are
 * read now, once, so one connect() sees one environment. Throws InvalidArgumentError.
 */
export function resolveProxyOptions(options: ProxyOptions, env: NodeJS.ProcessEnv = process.env): ResolvedProxy {
  const { proxy, proxyHeaders, proxyTls, agent } = options;
  if (agent !== undefined && !(agent instanceof Agent)) throw new InvalidArgumentError(`agent must be an http.Agent, got ${shown(agent)}`);
  if (agent !== undefined && proxy !== undefined) throw new InvalidArgumentError('give either proxy or agent, not both: the agent decides the way to the server');
  if (proxyTls !== undefined) checkOptionNames('proxyTls', optionsObject('proxyTls', proxyTls), PROXY_TLS_NAMES);
  const headers: Record<string, string> = {};
  if (proxyHeaders !== undefined) {
    for (const [name, value] of Object.entries(optionsObject('proxyHeaders', proxyHeaders))) {
      if (!TOKEN.test(name)) throw new InvalidArgumentError(`proxyHeaders: ${JSON.stringify(name)} is not a header name`);
      if (typeof value !== 'string' || /[\r\n\0]/.test(value)) {
        throw new InvalidArgumentError(`proxyHeaders: the value of ${name} must be a string without CR, LF or NUL`);
      }
      headers[name] = value;
    }
  }
  if (proxy === undefined) return { route: undefined, agent };
  if (typeof proxy !== 'string' && !(proxy instanceof URL)) {
    throw new InvalidArgumentError(`proxy must be a URL string, a URL or 'env', got ${shown(proxy)}`);
  }
  const target = proxy === 'env' ? { env: snapshotProxyEnv(env) } : parseProxyURL(proxy, 'proxy');
  return { route: { proxy: target, headers, tls: proxyTls ?? {} }, agent };
}
