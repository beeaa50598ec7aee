/**
 * `connect(url, options)`: from a URL to an open WebSocket. This file checks the options and
 * decides: timeouts, aborts, retries, the redirect loop, and which transport carries each hop:
 * http1-connect.ts (an HTTP/1.1 upgrade), http2-connect.ts (an RFC 8441 stream), auto-connect.ts
 * (HTTP/2 when the server offers it, else HTTP/1.1) or legacy-connect.ts (hybi-00).
 */
import { InvalidArgumentError } from '../core/errors.js';
import { ConnectError, HandshakeError } from '../node/errors.js';
import { formatExtensions, type ExtensionOffer } from '../core/header-tokens.js';
import { checkDeflateResponse, formatDeflateOffer, PERMESSAGE_DEFLATE, type DeflateOptions } from '../core/permessage-deflate.js';
import { DeflateCodec, validateDeflateCodecOptions, type DeflateCodecOptions } from '../node/deflate-codec.js';
import { connectTracing, publishRetry } from '../node/diagnostics.js';
import { systemTimers, WheelTimer } from '../node/timer-wheel.js';
import { abortedError, type TlsDialOptions } from '../node/dial.js';
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
import { dialRoute } from '../node/proxy/route.js';
import { PROXY_OPTION_NAMES, resolveProxyOptions, type ProxyOptions, type ResolvedProxy } from './options.js';
import { parseWebSocketURL, type WebSocketURL } from './url.js';
import { connectAuto } from './auto-connect.js';
import { connectHttp1 } from './http1-connect.js';
import { connectHttp2 } from './http2-connect.js';
import { redirectHeaders, redirectTarget, withAuth, type Redirect } from './redirect.js';
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

/** How connect() carries the handshake: see `ConnectOptions.transport`. */
export type ConnectTransport = 'http1' | 'http2' | 'auto';

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
   * every WebSocket to it (TLS with ALPN h2 for wss:, prior-knowledge h2c for ws:), where the server
   * must advertise SETTINGS_ENABLE_CONNECT_PROTOCOL; 'auto', as Chromium does: HTTP/2 when the
   * origin's session already exists, or for wss: when ALPN picks h2 and the server advertises the
   * setting, otherwise an HTTP/1.1 upgrade. 'http1' stays the default because it needs nothing of
   * the server beyond RFC 6455 and keeps one WebSocket's connection loss its own. See docs/http2.md.
   */
  transport?: ConnectTransport;
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
export interface ClientExtension {
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
  /** 'http2' opens the WebSocket as an RFC 8441 stream (http2-connect.ts), 'auto' as the server allows (auto-connect.ts). */
  transport?: ConnectTransport;
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

  if (transport !== undefined && transport !== 'http1' && transport !== 'http2' && transport !== 'auto') {
    throw new InvalidArgumentError(`unknown transport ${JSON.stringify(transport)}: 'http1', 'http2' or 'auto'`);
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
    transport,
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
  for (let redirects = 0; ; redirects++) {
    const outcome = await carry(current, settings, headers, signal, deadline);
    if (outcome instanceof WebSocket) return outcome;
    const next = redirectTarget(outcome, current);
    if (redirects + 1 > settings.maxRedirects) {
      throw new HandshakeError(`too many redirects: more than ${settings.maxRedirects} (last to ${next.href})`, outcome.status, outcome.headers);
    }
    headers = redirectHeaders(headers, current, next);
    current = next;
  }
}

/** One hop of the handshake over the transport the options ask for; a redirect is followed by the caller's loop. */
function carry(url: WebSocketURL, settings: ConnectPlan, headers: Record<string, string | readonly string[]>, signal: AbortSignal, deadline: number): Promise<WebSocket | Redirect> {
  if (settings.transport === 'http2') return connectHttp2(url, settings, headers, signal);
  if (settings.transport === 'auto') return connectAuto(url, settings, headers, signal, deadline);
  return connectHttp1(url, settings, headers, signal, deadline);
}
