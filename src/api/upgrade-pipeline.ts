/**
 * The upgrade pipeline: whether a request may become a WebSocket, and on what terms. It knows
 * nothing of sockets or of how the request arrived; each transport (HTTP/1.1 `Upgrade`, HTTP/2
 * extended CONNECT of RFC 8441, the hybi-00 handshake of old peers) describes its request as an
 * UpgradeInput, runs the same checks, and only differs in how it writes the answer and wraps the
 * stream.
 *
 * The checks, in order, each a function that answers "go on" or a refusal with its HTTP status:
 *   checkCapacity          503  server closing, or maxConnections reached
 *   checkHeadLimits        431  head size, header count
 *   input.handshake        the wire protocol's own headers, chosen by the transport:
 *                               checkRfc6455Request (RFC 6455 section 4.2.1) answers 405 for the
 *                               method, 426 for the version, 400 for the rest
 *   Router.find            400  request target unusable; 404 no route for the path
 *   checkOrigin            403  not in allowedOrigins; by default (no allowedOrigins, no accept
 *                               hook) an Origin naming another host than Host
 *   chooseProtocol         400  no acceptable subprotocol (only for routes that require one)
 *   askAcceptHooks         403 for false, or the hook's own answer; 500 if it throws
 * The handshake timeout (408) is the transport's: only it knows when its stream started.
 *
 * The seam for a transport:
 *   1. `decideUpgrade(input, server)` runs every check up to the accept hooks, synchronously: an
 *      HttpRefusal, or an UpgradeDecision (route, match, chosen subprotocol, the facts of the
 *      handshake check, and `info` when an accept hook is to be asked).
 *   2. When `decision.info` is not null: `await askAcceptHooks(input, decision, server, watch)`,
 *      an HttpRefusal, ABANDONED (the client left or the transport timed out meanwhile), or the
 *      hooks' yes with the data they handed over.
 *   3. `acceptUpgrade(input, decision, server, data)`: the UpgradeAcceptance (subprotocol,
 *      Sec-WebSocket-Extensions value and deflate parameters, extra response headers, route,
 *      match, data). It may throw (a `headers` function's bug): answer 500 then.
 *   The transport writes the acceptance in its own form (101 with Sec-WebSocket-Accept, HTTP/2
 *   200, the hybi-00 challenge answer) or the refusal (status, headers, body), then hands its
 *   stream to a WebSocket and the route's handler (see handler-lifecycle.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { ExtensionOffer } from '../core/header-tokens.js';
import { checkUpgradeRequest, type HeaderMap, type HttpRefusal, type RequestCheck } from '../core/handshake.js';
import { originMatchesHost } from '../core/host.js';
import { acceptDeflateOffer, type DeflateParams } from '../core/permessage-deflate.js';
import { checkRequestLimits, refusal } from '../node/upgrade.js';
import { isThenable } from './handler-lifecycle.js';
import type { ResolvedServerOptions } from './options.js';
import { selectProtocol, type Route, type RouteMatch, type Router } from './route.js';

/**
 * What an accept hook answers: `true` to accept, `false` to refuse with 403 and a short body, or a
 * complete refusal of your own (401 with WWW-Authenticate, a redirect for a browser, ...).
 * `status` must be 300-599; anything else is answered with 500.
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
 * may also return `{ headers, data }`: `headers` are sent and the connection starts with
 * `ws.data` set to `data` (replacing what an accept hook handed over). It is told apart from a
 * header named "headers" by its value, an object that is not an array.
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
 * An upgrade request as a transport describes it: the fields of Node's IncomingMessage (and of
 * Http2ServerRequest) that the checks read, the request object the hooks and handlers are given,
 * and the check of the wire protocol's own handshake headers.
 */
export interface UpgradeInput<Facts extends HandshakeFacts = HandshakeFacts> {
  /** Handed as is to accept hooks, `headers` functions, 'connection' listeners and handlers. */
  readonly req: IncomingMessage;
  readonly method: string;
  /** The request target as sent: origin-form ('/a?b') or absolute-form. */
  readonly url: string;
  /** '1.1', '2.0', ... */
  readonly httpVersion: string;
  /** Lower-case names; a repeated field as an array, or joined as Node does. */
  readonly headers: HeaderMap;
  /** Names and values alternating, in arrival order: for the header count and repeated fields. */
  readonly rawHeaders: readonly string[];
  /** Checks the handshake headers of the transport's protocol (checkRfc6455Request for HTTP/1.1). */
  handshake(input: UpgradeInput<Facts>): Facts | HttpRefusal;
}

/** What every handshake check hands on: the offers to choose from and the facts the origin check needs. */
export interface HandshakeFacts {
  /** Subprotocols offered, in the client's order. */
  readonly protocols: readonly string[];
  /** Extensions offered, in the client's order. */
  readonly extensions: readonly ExtensionOffer[];
  readonly origin: string | undefined;
  /** The authority the request was sent to (Host, or HTTP/2's :authority). */
  readonly host: string;
}

/** The RFC 6455 handshake's facts: the common ones plus the key to answer with Sec-WebSocket-Accept. */
export type Rfc6455Facts = Extract<RequestCheck, { ok: true }>;

/** The server's settings and state that the checks read; the WebSocketServer facade provides it. */
export interface UpgradeServer {
  readonly options: ResolvedServerOptions;
  readonly router: Router;
  /** True once close() was called. */
  readonly closing: boolean;
  /** Open connections plus handshakes in progress, this one included. */
  readonly connectionCount: number;
  /** Reports a hook's or a `headers` function's error ('handlerError', or a process warning). */
  reportError(error: unknown, req: IncomingMessage): void;
}

/** What an upgrade goes on with once the checks before the accept hooks have passed. */
export interface UpgradeDecision<Facts extends HandshakeFacts = HandshakeFacts> {
  readonly facts: Facts;
  readonly route: Route | undefined;
  readonly match: RouteMatch;
  readonly protocol: string | undefined;
  /** What the accept hooks are shown; null when there is no hook to ask. */
  readonly info: UpgradeInfo | null;
}

/** A yes: everything a transport needs to write its answer and open the connection. */
export interface UpgradeAcceptance {
  /** The subprotocol to answer with; undefined for none. */
  readonly protocol: string | undefined;
  /** The Sec-WebSocket-Extensions value to answer with; undefined for none. */
  readonly extensions: string | undefined;
  /** The permessage-deflate parameters agreed, for the codec; null when it was not agreed. */
  readonly deflate: DeflateParams | null;
  /** Extra response headers (the `headers` option); undefined for none. */
  readonly headers: ResponseHeaders | undefined;
  readonly route: Route | undefined;
  readonly match: RouteMatch;
  /** The connection's `ws.data`, when a hook or the `headers` function handed one over. */
  readonly data: { value: unknown } | undefined;
}

/** askAcceptHooks' answer when the client left or the transport's timer fired while a hook ran. */
export const ABANDONED = Symbol('abandoned');

/** What the transport tells askAcceptHooks about its stream while hooks run. */
interface HandshakeWatch {
  /** True once the answer is no longer wanted (the client is gone, or the handshake timed out). */
  readonly abandoned: boolean;
}

/** Whether a step's answer is a refusal rather than what the upgrade goes on with. */
export function isRefusal(value: object): value is HttpRefusal {
  return typeof (value as { status?: unknown }).status === 'number';
}

/** Step 1: a closing server or a full one refuses with 503 and asks the client to retry later. */
function checkCapacity(server: UpgradeServer): HttpRefusal | null {
  if (server.closing) return shuttingDown();
  if (server.connectionCount > server.options.maxConnections) return tooManyConnections();
  return null;
}

/** Step 2: the request head's size and field count (431), which Node does not bound as we need. */
export function checkHeadLimits(input: UpgradeInput, options: ResolvedServerOptions): HttpRefusal | null {
  return checkRequestLimits(input, options);
}

/** Step 3 for HTTP/1.1: RFC 6455 section 4.2.1 as the core checks it (405, 426 or 400). */
export function checkRfc6455Request(input: UpgradeInput<Rfc6455Facts>): Rfc6455Facts | HttpRefusal {
  return checkUpgradeRequest({
    method: input.method,
    httpVersion: input.httpVersion,
    headers: input.headers,
    rawHeaders: input.rawHeaders,
    target: input.url,
  });
}

/** True when the request's Origin names another host or port than the one it was sent to. */
function isCrossOrigin(facts: HandshakeFacts): boolean {
  return facts.origin !== undefined && !originMatchesHost(facts.origin, facts.host);
}

/**
 * Step 5: cross-site WebSocket hijacking. A page on another site can open a WebSocket to us with
 * the user's cookies; the Origin header the browser adds is how we tell (RFC 6455 section 10.2).
 * A listed origin is enforced before any hook; without a list, a hook decides, and without
 * either only pages of the host the request was sent to get in (as gorilla/websocket does).
 */
function checkOrigin(facts: HandshakeFacts, crossOrigin: boolean, hooked: boolean, options: ResolvedServerOptions): HttpRefusal | null {
  const allowed = options.allowedOrigins;
  if (facts.origin === undefined || allowed === '*') return null;
  if (allowed === null ? crossOrigin && !hooked : !allowed.has(facts.origin.toLowerCase())) {
    return refusal(403, 'Origin not allowed.\n');
  }
  return null;
}

/**
 * Step 6: the subprotocol, by the route's (else the server's) preference; undefined for none,
 * which is a refusal (400) only where the route requires one.
 */
function chooseProtocol(facts: HandshakeFacts, route: Route | undefined, options: ResolvedServerOptions): string | undefined | HttpRefusal {
  const preference = route?.options.protocols ?? options.protocols ?? [];
  const protocol = selectProtocol(preference, facts.protocols);
  if (protocol === undefined && (route?.options.requireProtocol ?? options.requireProtocol)) {
    return refusal(400, `Unsupported subprotocol; this endpoint speaks: ${preference.join(', ') || '(none)'}.\n`);
  }
  return protocol;
}

/** Steps 1 to 6, in order: a refusal, or what the upgrade goes on with. Synchronous, so an upgrade without hooks costs no promise. */
export function decideUpgrade<Facts extends HandshakeFacts>(input: UpgradeInput<Facts>, server: UpgradeServer): UpgradeDecision<Facts> | HttpRefusal {
  const options = server.options;
  const busy = checkCapacity(server) ?? checkHeadLimits(input, options);
  if (busy !== null) return busy;
  const facts = input.handshake(input);
  if (isRefusal(facts)) return facts;
  const found = server.router.find(input.url);
  if (isRefusal(found)) return found;
  const { route, match } = found;
  const hooked = options.accept !== undefined || route?.options.accept !== undefined;
  const crossOrigin = isCrossOrigin(facts);
  const foreign = checkOrigin(facts, crossOrigin, hooked, options);
  if (foreign !== null) return foreign;
  const protocol = chooseProtocol(facts, route, options);
  if (typeof protocol === 'object') return protocol;
  // The match's fields are written out: a spread followed by properties is slow in V8 (see node/upgrade.ts).
  const info: UpgradeInfo | null = hooked
    ? { path: match.path, query: match.query, params: match.params, origin: facts.origin, crossOrigin, protocols: facts.protocols, protocol: protocol ?? '', extensions: facts.extensions }
    : null;
  return { facts, route, match, protocol, info };
}

/**
 * Step 7: the server's accept hook, then the route's, each awaited when it returns a promise. A
 * refusal (the first hook's no wins), ABANDONED when the watch says the answer is no longer
 * wanted, or the yes with the data the hooks handed over (a later hook's wins). Never rejects: a
 * hook that throws is reported and answered with 500.
 */
export async function askAcceptHooks(
  input: UpgradeInput,
  decision: UpgradeDecision,
  server: UpgradeServer,
  watch: HandshakeWatch,
): Promise<HttpRefusal | typeof ABANDONED | { data: { value: unknown } | undefined }> {
  const info = decision.info!;
  let data: { value: unknown } | undefined;
  for (const hook of [server.options.accept, decision.route?.options.accept]) {
    if (hook === undefined) continue;
    let verdict: AcceptResult;
    try {
      const result = hook(input.req, info);
      verdict = isThenable(result) ? await result : result;
    } catch (error) {
      server.reportError(error, input.req);
      verdict = { status: 500, body: 'Internal server error.\n' };
    }
    if (watch.abandoned) return ABANDONED;
    if (server.closing) return shuttingDown();
    const answer = verdictRefusal(verdict);
    if (answer !== null) return answer;
    if (typeof verdict === 'object') data = { value: (verdict as AcceptWithData).data };
  }
  return { data };
}

/**
 * The terms of an accepted upgrade: the extra headers (a `headers` function's `{ data }` replaces
 * the hooks') and the extensions. Only permessage-deflate is known; every other offer is declined
 * by leaving it out of the answer, which RFC 6455 section 9.1 allows. Throws what a `headers`
 * function throws.
 */
export function acceptUpgrade(input: UpgradeInput, decision: UpgradeDecision, server: UpgradeServer, data: { value: unknown } | undefined): UpgradeAcceptance {
  const options = server.options;
  const h = options.headers;
  let headers = typeof h === 'function' ? h(input.req) : h;
  if (isHeadersWithData(headers)) {
    data = { value: headers.data };
    headers = headers.headers;
  }
  const offers = decision.facts.extensions;
  const deflate = options.deflate === null || offers.length === 0 ? null : acceptDeflateOffer(offers, options.deflate);
  return {
    protocol: decision.protocol,
    extensions: deflate?.response,
    deflate: deflate?.params ?? null,
    headers,
    route: decision.route,
    match: decision.match,
    data,
  };
}

/** The answer to an upgrade that arrives while the server is full. */
export function tooManyConnections(): HttpRefusal {
  return refusal(503, 'Too many connections.\n', { 'Retry-After': '5' });
}

/** The answer to an upgrade that arrives (or is still deciding) while the server shuts down. */
export function shuttingDown(): HttpRefusal {
  return refusal(503, 'The server is shutting down.\n', { 'Retry-After': '5' });
}

/** A `headers` function's `{ headers, data }` (HeadersWithData), told apart from a plain header record. */
function isHeadersWithData(value: ResponseHeaders | HeadersWithData | undefined): value is HeadersWithData {
  if (value === undefined || value === null || !Object.hasOwn(value, 'data')) return false;
  const headers = (value as { headers?: unknown }).headers;
  return typeof headers === 'object' && headers !== null && !Array.isArray(headers);
}

/** Turns an accept hook's verdict into a refusal, or null to accept. */
function verdictRefusal(verdict: AcceptResult): HttpRefusal | null {
  if (verdict === true) return null;
  // An accept with per-connection data (AcceptWithData): no status, a `data` member.
  if (verdict !== null && typeof verdict === 'object' && verdict.status === undefined && Object.hasOwn(verdict, 'data')) return null;
  if (verdict === false) return refusal(403, 'Access denied.\n');
  if (verdict === null || typeof verdict !== 'object') return refusal(500, 'Internal server error.\n');
  const answer = verdict as AcceptRefusal;
  if (!Number.isInteger(answer.status) || answer.status < 300 || answer.status > 599) return refusal(500, 'Internal server error.\n');
  const headers: Record<string, string> = { ...(answer.headers ?? {}) };
  const hasType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
  if (!hasType) headers['Content-Type'] = 'text/plain; charset=utf-8';
  return { status: answer.status, headers, body: answer.body ?? '' };
}
