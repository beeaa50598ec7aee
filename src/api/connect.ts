/**
 * `connect(url, options)`: from a URL to an open WebSocket. The upgrade request and the checks
 * on the answer are the core's (src/core/handshake.ts); dialing and reading the answer off the
 * socket are src/node/dial.ts; this file decides: timeouts, aborts, redirects, retries, and the
 * hand-over of the socket (and any bytes that followed the 101) to the WebSocket.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { InvalidArgumentError } from '../core/errors.js';
import { ConnectError, HandshakeError } from '../node/errors.js';
import { InvalidURLError } from './errors.js';
import { buildClientRequest, checkServerResponse, generateKey, type HeaderMap } from '../core/handshake.js';
import { formatExtensions, type ExtensionOffer } from '../core/header-tokens.js';
import type { HttpHead } from '../core/http-head.js';
import { checkDeflateResponse, formatDeflateOffer, PERMESSAGE_DEFLATE, type DeflateOptions } from '../core/permessage-deflate.js';
import { DeflateCodec, validateDeflateCodecOptions, type DeflateCodecOptions } from '../node/deflate-codec.js';
import { connectTracing, publishRetry } from '../node/diagnostics.js';
import { systemTimers, WheelTimer } from '../node/timer-wheel.js';
import {
  abortedError,
  DEFAULT_BODY_TIMEOUT,
  readResponseBody,
  readResponseHead,
  type ResponseHead,
  type TlsDialOptions,
} from '../node/dial.js';
import {
  checkOptionNames,
  CONNECTION_OPTION_NAMES,
  count,
  DEFLATE_HINTS,
  DEFLATE_NAMES,
  duration,
  optionalFunction,
  optionsObject,
  resolveOptions,
  type ResolvedOptions,
} from './options.js';
import { requestThroughAgent } from '../node/proxy/agent.js';
import { dialRoute } from '../node/proxy/route.js';
import { PROXY_OPTION_NAMES, resolveProxyOptions, type ProxyOptions, type ResolvedProxy } from './options.js';
import { parseWebSocketURL, type WebSocketURL } from './url.js';
import { connectHttp2 } from './http2-connect.js'; // http2 hook
import type { ConnectionInit } from './connection-init.js';
import { WebSocket, type MessageCodec, type WebSocketOptions } from './websocket.js';
import { resolveVersion, type ProtocolVersion } from './legacy.js'; // legacy (issue 22)
import { connectHybi00 } from './legacy-connect.js'; // legacy (issue 22)

export type { TlsDialOptions } from '../node/dial.js';

/** Default `handshakeTimeout`: 10 s, long enough for a slow TLS handshake across the world, short enough to notice a dead host. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/** Default `retry.attempts` when `retry` is given: the first try and four more. */
export const DEFAULT_RETRY_ATTEMPTS = 5;
/** Default `retry.minDelay`, in ms: the shortest wait before a retry. */
export const DEFAULT_RETRY_MIN_DELAY = 100;
/** Default `retry.maxDelay`, in ms: the longest wait before a retry, however many failed. */
export const DEFAULT_RETRY_MAX_DELAY = 10_000;

/** permessage-deflate as the client asks for it: the negotiated parameters plus the codec's tuning. */
export interface ClientDeflateOptions extends DeflateOptions, DeflateCodecOptions {}

/** Retrying failed connects, with exponential backoff and jitter. */
export interface RetryOptions {
  /** Total tries, the first included; default DEFAULT_RETRY_ATTEMPTS. 1 means no retry. */
  attempts?: number;
  /** Shortest wait before a retry, in ms; default DEFAULT_RETRY_MIN_DELAY. */
  minDelay?: number;
  /** Longest wait before a retry, in ms; default DEFAULT_RETRY_MAX_DELAY. */
  maxDelay?: number;
  /** Called before each wait with the error that failed the try, the try's number (1-based) and the wait in ms. */
  onRetry?: (error: Error, attempt: number, delayMs: number) => void;
}

/** Options of `connect()`: the handshake's, plus every connection option of `WebSocketOptions`. */
export interface ConnectOptions extends WebSocketOptions, ProxyOptions {
  /** Subprotocols to offer (Sec-WebSocket-Protocol), most preferred first; the server picks one or none. Default none. */
  protocols?: string | readonly string[];
  /**
   * Extra request headers (cookies, authorization). Headers the handshake owns (Upgrade,
   * Connection, Sec-WebSocket-*, Host) are refused with an InvalidArgumentError. Default none.
   */
  headers?: Readonly<Record<string, string | readonly string[]>>;
  /** Origin header, for servers that check it (browsers always send one). Default none. */
  origin?: string;
  /** TLS settings for wss: (ca, cert, key, rejectUnauthorized, servername). Default: Node's CAs, verified, SNI from the URL. */
  tls?: TlsDialOptions;
  /**
   * Milliseconds for the whole handshake (DNS, TCP, TLS, request, response, redirects) of one
   * try; default DEFAULT_HANDSHAKE_TIMEOUT. 0 disables the bound. A timeout is a ConnectError
   * with `timedOut: true`.
   */
  handshakeTimeout?: number;
  /** Aborts connecting (not the connection once open); the promise rejects with a ConnectError whose `cause` is the reason. */
  signal?: AbortSignal;
  /**
   * Redirects (301, 302, 303, 307, 308) to follow to ws:, wss:, http: or https: URLs; default 0,
   * as browsers never follow them for WebSockets. Authorization, Proxy-Authorization and Cookie
   * are dropped on a redirect to another origin (scheme, host or port); other headers go on.
   */
  maxRedirects?: number;
  /**
   * How to carry the handshake: 'http1' (the default), an Upgrade on a TCP connection of its own;
   * 'http2', an extended CONNECT (RFC 8441) on a stream of one HTTP/2 session per origin shared by
   * every WebSocket to it (TLS with ALPN h2 for wss:, prior-knowledge h2c for ws:). The server must
   * advertise SETTINGS_ENABLE_CONNECT_PROTOCOL; redirects are not followed. See docs/http2.md.
   */
  transport?: 'http1' | 'http2';
  /** Retry failed connects; default none (one try). Never retries a 4xx refusal, a bad URL or option, or an abort. */
  retry?: RetryOptions;
  /**
   * Offer permessage-deflate (RFC 7692): true for the defaults, or an object with the negotiated
   * parameters (window bits, context takeover) and the codec's tuning (threshold, level, ...).
   * Default off. A server that declines leaves the connection uncompressed; one that answers
   * with parameters that were not offered fails the handshake.
   */
  compress?: boolean | ClientDeflateOptions;
  /**
   * legacy (issue 22): the protocol to speak, 'hybi-13' (RFC 6455, the default) or 'hybi-00'
   * (draft-hixie-76) for old servers that speak nothing else; see docs/legacy.md.
   */
  version?: ProtocolVersion;
}

/** HTTP statuses that redirect, when `maxRedirects` allows it. */
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/**
 * Headers dropped when a redirect leads to another origin: they carry credentials for the first
 * (Proxy-Authorization too: undici CVE-2024-24758 and follow-redirects CVE-2024-28849 sent it on).
 */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** The names connect() takes: its own and every connection option. */
const CONNECT_NAMES: ReadonlySet<string> = new Set([
  'protocols',
  'headers',
  'origin',
  'tls',
  'handshakeTimeout',
  'signal',
  'maxRedirects',
  'transport',
  'retry',
  'compress',
  'version', // legacy (issue 22)
  ...CONNECTION_OPTION_NAMES,
  ...PROXY_OPTION_NAMES,
]);

/** The names of TlsDialOptions: what `tls` passes to Node's TLS dial. */
const TLS_NAMES: ReadonlySet<string> = new Set(['ca', 'cert', 'key', 'passphrase', 'rejectUnauthorized', 'servername']);

const RETRY_NAMES: ReadonlySet<string> = new Set(['attempts', 'minDelay', 'maxDelay', 'onRetry']);

/**
 * Names other clients use (ws's above all, undici's too) and what connect() calls them. The TLS
 * settings go in `tls`, so that they are never mistaken for connection options.
 */
const CONNECT_HINTS: Readonly<Record<string, string>> = {
  maxPayload: 'hybi calls it maxMessageSize',
  perMessageDeflate: 'hybi calls it compress',
  followRedirects: 'set maxRedirects, default 0',
  protocolVersion: "hybi speaks version 13 (RFC 6455), or hybi-00 with version: 'hybi-00'",
  protocol: 'the option is protocols',
  subprotocols: 'the option is protocols',
  timeout: 'the handshake bound is handshakeTimeout',
  skipUTF8Validation: 'text is always validated (RFC 6455 section 8.1)',
  dispatcher: "undici's option; hybi dials itself, see tls and headers",
};
for (const name of TLS_NAMES) (CONNECT_HINTS as Record<string, string>)[name] = `put it in tls: { ${name} }`;

/**
 * An extension the client offers, and how it turns the server's acceptance into a codec. Adding
 * permessage-deflate is one entry in `clientExtensions`.
 */
interface ClientExtension {
  readonly name: string;
  /** The offer as it goes into Sec-WebSocket-Extensions. */
  readonly offer: string;
  /** The codec for the parameters the server accepted, or the reason they are unacceptable. */
  accept(response: ExtensionOffer): MessageCodec | string;
}

/** The extensions to offer for these options, in order of preference. */
function clientExtensions(options: ConnectOptions): ClientExtension[] {
  const { compress } = options;
  if (compress === undefined || compress === false) return [];
  if (compress !== true && (compress === null || typeof compress !== 'object')) {
    throw new InvalidArgumentError(`compress must be a boolean or an object, got ${String(compress)}`);
  }
  const deflate: ClientDeflateOptions = compress === true ? {} : compress;
  checkOptionNames('compress', deflate, DEFLATE_NAMES, DEFLATE_HINTS);
  // Formatting validates the negotiated options, so a bad window size fails before dialing; the
  // codec's tuning (level, memLevel, threshold) is checked here too.
  const offer = formatDeflateOffer(deflate);
  validateDeflateCodecOptions(deflate);
  return [
    {
      name: PERMESSAGE_DEFLATE,
      offer,
      accept(response) {
        // RFC 7692 section 5: the client fails the connection if the response's parameters are
        // not ones it offered or cannot honour.
        const params = checkDeflateResponse(response, deflate);
        if ('error' in params) return params.error;
        return new DeflateCodec('client', params, formatExtensions([response]), deflate);
      },
    },
  ];
}

/**
 * connect()'s options after validation, with defaults applied: what `resolveConnectOptions`
 * returns and `connectResolved` dials with.
 */
export interface ConnectPlan {
  protocols: string[];
  headers: Record<string, string | readonly string[]>;
  origin: string | undefined;
  tls: TlsDialOptions;
  handshakeTimeout: number;
  signal: AbortSignal | undefined;
  maxRedirects: number;
  attempts: number;
  minDelay: number;
  maxDelay: number;
  onRetry: RetryOptions['onRetry'];
  extensions: ClientExtension[];
  connection: ResolvedOptions;
  /** Proxy or agent (src/node/proxy/); both undefined for a direct connection. */
  proxy: ResolvedProxy;
  /** legacy (issue 22): the protocol to speak. */
  version: ProtocolVersion;
  /** http2 hook: 'http2' opens the WebSocket as an RFC 8441 stream (http2-connect.ts). */
  transport?: 'http1' | 'http2';
}

/**
 * Checks connect()'s options, all of them, before anything is dialed, and resolves the
 * connection options once (they are handed to the WebSocket as they are). `where` names the
 * caller in error messages. Throws InvalidArgumentError naming the first bad option, or every
 * unknown option name.
 */
export function resolveConnectOptions(given: ConnectOptions | undefined, where = 'connect()'): ConnectPlan {
  const options = optionsObject(where, given) as ConnectOptions;
  checkOptionNames(where, options, CONNECT_NAMES, CONNECT_HINTS);
  const {
    protocols,
    headers,
    origin,
    tls,
    handshakeTimeout,
    signal,
    maxRedirects,
    transport,
    retry,
    compress: _compress,
    version,
    ...connection
  } = options;

  if (transport !== undefined && transport !== 'http1' && transport !== 'http2') {
    throw new InvalidArgumentError(`unknown transport ${JSON.stringify(transport)}: 'http1' or 'http2'`);
  }
  const offered = typeof protocols === 'string' ? [protocols] : [...(protocols ?? [])];
  // Tokens and uniqueness (section 4.1) are checked by buildClientRequest, before any dial.
  for (const protocol of offered) {
    if (typeof protocol !== 'string') throw new InvalidArgumentError(`a subprotocol is a string, got ${typeof protocol}`);
  }
  // The values are checked by buildClientRequest, before any dial; the container here.
  if (headers !== undefined && (headers === null || typeof headers !== 'object' || Array.isArray(headers))) {
    throw new InvalidArgumentError('headers must be an object of header names to values');
  }
  const timeout = duration('handshakeTimeout', handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT);
  const redirects = count('maxRedirects', maxRedirects, 0, 0, false);
  const retrying = retry === undefined ? {} : optionsObject('retry', retry);
  checkOptionNames('retry', retrying, RETRY_NAMES);
  const attempts = retry === undefined ? 1 : count('retry.attempts', retrying.attempts, DEFAULT_RETRY_ATTEMPTS, 1, false);
  const minDelay = duration('retry.minDelay', retrying.minDelay, DEFAULT_RETRY_MIN_DELAY);
  const maxDelay = duration('retry.maxDelay', retrying.maxDelay, Math.max(DEFAULT_RETRY_MAX_DELAY, minDelay));
  if (maxDelay < minDelay) {
    throw new InvalidArgumentError(`retry delays must be numbers of ms with 0 <= minDelay <= maxDelay, got ${String(minDelay)} and ${String(maxDelay)}`);
  }
  optionalFunction('retry.onRetry', retrying.onRetry);
  if (origin !== undefined && typeof origin !== 'string') throw new InvalidArgumentError('origin must be a string');
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError('signal must be an AbortSignal');
  if (tls !== undefined) checkOptionNames('tls', optionsObject('tls', tls), TLS_NAMES);

  return {
    protocols: offered,
    headers: { ...(headers ?? {}) },
    origin,
    tls: tls ?? {},
    handshakeTimeout: timeout,
    signal,
    maxRedirects: redirects,
    attempts,
    minDelay,
    maxDelay,
    onRetry: retrying.onRetry,
    extensions: clientExtensions(options),
    connection: resolveOptions(connection),
    proxy: resolveProxyOptions(options),
    version: resolveVersion(version, options.agent), // legacy (issue 22)
    transport, // http2 hook
  };
}

/**
 * The wait before retry number `retry` (1 for the first retry): exponential backoff with full
 * jitter above a floor, uniform between `minDelay` and min(maxDelay, minDelay * 2^retry). The
 * jitter keeps many clients that lost the same server from coming back in lockstep; the floor keeps
 * a retry from hammering a server that just refused.
 */
export function retryDelay(retry: number, minDelay: number, maxDelay: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelay, minDelay * 2 ** Math.min(retry, 52));
  return minDelay + random() * (ceiling - minDelay);
}

/**
 * Whether a failed try is worth another: network failures and timeouts, a server that answered
 * nothing usable or 5xx. Never a 4xx (the server refused this request and would again), a 3xx
 * (redirects are settled by maxRedirects), a 101 that failed its checks, a bad URL or option,
 * or the caller's abort.
 */
function isRetryable(error: unknown, signal: AbortSignal | undefined): boolean {
  if (signal?.aborted) return false;
  if (error instanceof ConnectError) return true;
  if (error instanceof HandshakeError) return error.status === 0 || error.status >= 500;
  return false;
}

/** Waits `ms`, or rejects as soon as `signal` aborts; leaves no timer or listener behind either way. */
function sleep(ms: number, signal: AbortSignal | undefined, target: WebSocketURL): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(target.hostname, target.port, signal));
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(abortedError(target.hostname, target.port, signal!));
    };
    // Ref'd, as a setTimeout: the caller awaits it.
    const timer = new WheelTimer(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      { ref: true },
    );
    timer.schedule(ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Opens a WebSocket to `url` (ws:, wss:, or http:/https: mapped to them) and resolves once the
 * server accepted the upgrade: the WebSocket is open, and any bytes the server sent right after
 * its 101 are its first input.
 *
 * Rejects with: InvalidURLError (bad URL), InvalidArgumentError (bad option, header injection,
 * HTTP/2), ConnectError (DNS, TCP, TLS, timeout with `timedOut`, abort), HandshakeError (any
 * answer other than a valid 101: status, headers and the start of the body are on the error).
 * No failure leaves a socket, a timer or a listener behind.
 */
export function connect(url: string | URL, options?: ConnectOptions): Promise<WebSocket> {
  // The tracing channel's context object is made only when someone listens.
  if (connectTracing.hasSubscribers) return connectTracing.tracePromise(connectAttempts, { url, options }, undefined, url, options);
  return connectAttempts(url, options);
}

/** connect() itself: the tries, with a wait before each retry. */
async function connectAttempts(url: string | URL, options: ConnectOptions | undefined): Promise<WebSocket> {
  const target = parseWebSocketURL(url);
  return connectResolved(target, resolveConnectOptions(options));
}

/**
 * connect() with options already resolved by `resolveConnectOptions` (BrowserWebSocket checks
 * them in its constructor, so that a bad option throws there): the tries, with retries.
 */
export async function connectResolved(target: WebSocketURL, settings: ConnectPlan): Promise<WebSocket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce(target, settings);
    } catch (error) {
      if (attempt >= settings.attempts || !isRetryable(error, settings.signal)) throw error;
      const wait = retryDelay(attempt, settings.minDelay, settings.maxDelay);
      settings.onRetry?.(error as Error, attempt, wait);
      publishRetry(target.href, attempt, wait, error);
      await sleep(wait, settings.signal, target);
    }
  }
}

/** One try: a bounded handshake, following redirects as allowed. */
async function attemptOnce(target: WebSocketURL, settings: ConnectPlan): Promise<WebSocket> {
  // One signal for the whole try: it fires on the caller's abort or when the time is up. The
  // timeout's reason is a TimeoutError, which is how the dial layer tells the two apart.
  const controller = new AbortController();
  const user = settings.signal;
  const onUserAbort = (): void => controller.abort(user!.reason);
  let timer: WheelTimer | undefined;
  if (user?.aborted) controller.abort(user.reason);
  else user?.addEventListener('abort', onUserAbort, { once: true });
  if (settings.handshakeTimeout > 0) {
    const ms = settings.handshakeTimeout;
    timer = new WheelTimer(() => controller.abort(new DOMException(`no WebSocket handshake within ${ms} ms`, 'TimeoutError')), { ref: true });
    timer.schedule(ms);
  }
  const deadline = settings.handshakeTimeout > 0 ? systemTimers.now() + settings.handshakeTimeout : Infinity;
  try {
    return await handshake(target, settings, controller.signal, deadline);
  } finally {
    timer?.cancel();
    user?.removeEventListener('abort', onUserAbort);
  }
}

async function handshake(first: WebSocketURL, settings: ConnectPlan, signal: AbortSignal, deadline: number): Promise<WebSocket> {
  if (settings.version === 'hybi-00') return connectHybi00(first, { ...settings, headers: withAuth(settings.headers, first), dialSocket: (o) => dialRoute(settings.proxy.route, o) }, signal); // legacy (issue 22)
  let current = first;
  let headers = withAuth(settings.headers, first);
  if (settings.transport === 'http2') return connectHttp2(first, settings, headers, signal); // http2 hook
  for (let redirects = 0; ; redirects++) {
    const key = generateKey();
    // Built before dialing: a header the handshake owns, or CR/LF in a value, fails here and
    // never reaches the network.
    const request = buildClientRequest({
      host: current.host,
      path: current.path,
      key,
      protocols: settings.protocols,
      extensions: settings.extensions.length > 0 ? settings.extensions.map((e) => e.offer).join(', ') : undefined,
      origin: settings.origin,
      headers,
    });
    const dialOptions = { host: current.hostname, port: current.port, tls: current.secure ? settings.tls : false, signal } as const;
    // An agent carries the request itself; otherwise dial, directly or through a proxy (src/node/proxy/).
    const { socket, response } = settings.proxy.agent !== undefined
      ? await requestThroughAgent({ ...dialOptions, agent: settings.proxy.agent, secure: current.secure, tls: settings.tls, request })
      : await exchange(await dialRoute(settings.proxy.route, dialOptions), request, current, signal);

    if (response.status === 101) return open(socket, response, current, key, settings);

    if (REDIRECTS.has(response.status) && settings.maxRedirects > 0) {
      socket.destroy();
      const next = redirectTarget(response, current);
      if (redirects + 1 > settings.maxRedirects) {
        throw new HandshakeError(
          `too many redirects: more than ${settings.maxRedirects} (last to ${next.href})`,
          response.status,
          flatHeaders(response.head),
        );
      }
      // Another origin (RFC 6454: scheme, host and port; ws: and http: are one scheme here) gets
      // none of the credentials meant for this one, in either direction between ws: and wss:.
      if (next.secure !== current.secure || next.hostname !== current.hostname || next.port !== current.port) {
        headers = stripCredentials(headers);
      }
      headers = next.auth !== '' ? withAuth(stripCredentials(headers), next) : headers;
      current = next;
      continue;
    }

    // A refusal: read (a bounded piece of) its body so a 401 or 403 page can be shown.
    const remaining = deadline - systemTimers.now();
    const body = await readResponseBody(socket, response, {
      timeout: Math.max(0, Math.min(DEFAULT_BODY_TIMEOUT, remaining)),
      signal,
    });
    const reason = response.head.startLine[2];
    throw new HandshakeError(
      `${current.href} refused the WebSocket upgrade: ${response.status}${reason ? ` ${reason}` : ''}`,
      response.status,
      flatHeaders(response.head),
      new TextDecoder().decode(body),
    );
  }
}

/** Writes the upgrade request and reads the answer's head off the socket. */
async function exchange(socket: Socket, request: string, current: WebSocketURL, signal: AbortSignal): Promise<{ socket: Socket; response: ResponseHead }> {
  socket.write(request);
  // Listeners are attached in this same tick, so no error from the write can go unheard.
  return { socket, response: await readResponseHead(socket, { host: current.hostname, port: current.port, signal }) };
}

/** Checks a 101 and hands the socket to a new WebSocket; any failure destroys the socket. */
function open(socket: Socket, response: ResponseHead, url: WebSocketURL, key: string, settings: ConnectPlan): WebSocket {
  try {
    const check = checkServerResponse(101, response.head.headers as HeaderMap, {
      key,
      protocols: settings.protocols,
      extensionNames: settings.extensions.map((e) => e.name),
    });
    if (!check.ok) {
      throw new HandshakeError(`invalid handshake response from ${url.href}: ${check.reason}`, 101, flatHeaders(response.head));
    }
    const codecs: MessageCodec[] = [];
    for (const accepted of check.extensions) {
      const extension = settings.extensions.find((e) => e.name === accepted.name);
      const codec = extension?.accept(accepted) ?? `extension ${accepted.name} was not offered`;
      if (typeof codec === 'string') {
        for (const c of codecs) c.close();
        throw new HandshakeError(`invalid handshake response from ${url.href}: ${codec}`, 101, flatHeaders(response.head));
      }
      codecs.push(codec);
    }
    const init: ConnectionInit = {
      // Resolved before dialing; the WebSocket uses them as they are.
      options: settings.connection,
      role: 'client',
      url: url.href,
      protocol: check.protocol,
      // The bytes that came with the 101 are the first frames: the WebSocket reads them first.
      head: response.rest,
      codecs,
    };
    return new WebSocket(socket, init);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Where a redirect leads; a HandshakeError when it has no Location or leaves HTTP and WebSocket URLs. */
function redirectTarget(response: ResponseHead, current: WebSocketURL): WebSocketURL {
  const raw = response.head.headers['location'];
  const location = Array.isArray(raw) ? raw[0] : raw;
  if (location === undefined || location.trim() === '') {
    throw new HandshakeError(`redirect ${response.status} without a Location header`, response.status, flatHeaders(response.head));
  }
  // A fragment is the client's business, not the server's (and meaningless for a WebSocket).
  const hash = location.indexOf('#');
  const trimmed = (hash >= 0 ? location.slice(0, hash) : location).trim();
  try {
    // A relative Location is resolved against the URL that was redirected (RFC 9110 section 10.2.2).
    return parseWebSocketURL(trimmed, current.href);
  } catch (error) {
    if (!(error instanceof InvalidURLError)) throw error;
    throw new HandshakeError(
      `redirect ${response.status} to ${JSON.stringify(trimmed.slice(0, 200))}, which is not a ws:, wss:, http: or https: URL`,
      response.status,
      flatHeaders(response.head),
      '',
      { cause: error },
    );
  }
}

function hasHeader(headers: Readonly<Record<string, unknown>>, name: string): boolean {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}

/** Adds Basic credentials from the URL unless the caller set Authorization themselves. */
function withAuth(headers: Record<string, string | readonly string[]>, url: WebSocketURL): Record<string, string | readonly string[]> {
  if (url.auth === '' || hasHeader(headers, 'authorization')) return headers;
  return { ...headers, Authorization: `Basic ${Buffer.from(url.auth, 'utf8').toString('base64')}` };
}

function stripCredentials(headers: Record<string, string | readonly string[]>): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!CREDENTIAL_HEADERS.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

/** Response headers as HandshakeError carries them: lower-case names, repeats joined with ', '. */
function flatHeaders(head: HttpHead): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(head.headers)) {
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
