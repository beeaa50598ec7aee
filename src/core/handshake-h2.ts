/**
 * The WebSocket handshake over HTTP/2 (RFC 8441, "Bootstrapping WebSockets with HTTP/2"): an
 * extended CONNECT request (`:method CONNECT`, `:protocol websocket`) on a stream of a connection
 * whose server advertised SETTINGS_ENABLE_CONNECT_PROTOCOL, answered with a 2xx; the stream then
 * carries WebSocket frames. The HTTP/1.1 handshake's Upgrade, Connection, Sec-WebSocket-Key and
 * Sec-WebSocket-Accept have no place in it (RFC 8441 section 5); subprotocols, extensions, Origin
 * and Sec-WebSocket-Version keep their RFC 6455 meaning. Pure functions on header maps, beside the
 * HTTP/1.1 ones in handshake.ts; the stream plumbing is in node/ and api/.
 */
import { computeAcceptKey, isValidKey, WEBSOCKET_VERSION, type HeaderMap, type HttpRefusal } from './handshake.js';
import { checkAgreement, checkOfferedProtocols, checkRequestPath, type ResponseCheck } from './client-handshake.js';
import { checkValue, single, userHeaderValues } from './handshake-fields.js';
import type { ExtensionOffer } from './header-tokens.js';
import { isValidHost } from './host.js';
import { negotiatedFields, readOffers } from './server-handshake.js';

/** The `:protocol` value that asks for a WebSocket (RFC 8441 section 4). */
export const H2_WEBSOCKET_PROTOCOL = 'websocket';

/** What an RFC 8441 request hands on when it may become a WebSocket. */
export interface H2RequestFacts {
  readonly protocols: string[];
  readonly extensions: ExtensionOffer[];
  readonly origin: string | undefined;
  /** The `:authority` (or, lacking it, the Host header). */
  readonly host: string;
  /**
   * A valid Sec-WebSocket-Key the client sent although RFC 8441 has none (undici and HAProxy send
   * one), or undefined. Never required; a server may answer it with Sec-WebSocket-Accept.
   */
  readonly key: string | undefined;
}

function refuse(status: number, body: string, headers: Record<string, string> = {}): HttpRefusal {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, body: body + '\n' };
}


/**
 * Checks an extended CONNECT request as RFC 8441 section 4 and 5 ask, with the HTTP status each
 * failure deserves (the same ones as the HTTP/1.1 check where the rule is the same):
 *   405  a method other than CONNECT (only extended CONNECT can carry a WebSocket on HTTP/2)
 *   501  a `:protocol` other than websocket: a protocol this server does not implement
 *   400  no `:protocol`, no `:scheme` or `:path` (RFC 8441 section 4: both MUST be present),
 *        no or an invalid `:authority`, a repeated Origin or Sec-WebSocket-Version, malformed
 *        Sec-WebSocket-Protocol or Sec-WebSocket-Extensions
 *   426  Sec-WebSocket-Version missing or not 13, with `sec-websocket-version: 13` to retry with
 * A Sec-WebSocket-Key is not required and not an error (RFC 8441 has none; some clients send one
 * anyway); a valid one is handed on as `key`. Linear time on any input.
 */
export function checkH2ConnectRequest(headers: HeaderMap): H2RequestFacts | HttpRefusal {
  const method = single(headers, ':method');
  if (method !== 'CONNECT') return refuse(405, 'A WebSocket over HTTP/2 is opened with an extended CONNECT request (RFC 8441).', { Allow: 'CONNECT' });
  const protocol = single(headers, ':protocol');
  if (protocol === undefined || protocol === null) return refuse(400, 'The CONNECT request has no :protocol pseudo-header.');
  if (protocol.toLowerCase() !== H2_WEBSOCKET_PROTOCOL) return refuse(501, `This server does not implement the :protocol ${JSON.stringify(protocol)} over CONNECT.`);
  const scheme = single(headers, ':scheme');
  const path = single(headers, ':path');
  if (scheme === undefined || scheme === null || scheme === '' || path === undefined || path === null || path === '') {
    return refuse(400, 'An extended CONNECT request must carry :scheme and :path (RFC 8441 section 4).');
  }
  const authority = single(headers, ':authority') ?? single(headers, 'host');
  if (authority === undefined || authority === null || !isValidHost(authority.trim())) return refuse(400, 'The request has no valid :authority.');

  const version = single(headers, 'sec-websocket-version');
  if (version === null) return refuse(400, 'The request has more than one Sec-WebSocket-Version header.');
  if (version === undefined || version.trim() !== WEBSOCKET_VERSION) {
    return refuse(426, 'This server supports WebSocket version 13 only.', { 'sec-websocket-version': WEBSOCKET_VERSION });
  }

  const origin = single(headers, 'origin');
  if (origin === null || (origin !== undefined && origin.includes(','))) return refuse(400, 'The request has more than one Origin header.');

  const offers = readOffers(headers);
  if ('body' in offers) return refuse(offers.status, offers.body);
  const key = single(headers, 'sec-websocket-key')?.trim();
  // Written out: a spread followed by properties is slow in V8 (about half a microsecond each).
  return { protocols: offers.protocols, extensions: offers.extensions, origin, host: authority.trim(), key: key !== undefined && isValidKey(key) ? key : undefined };
}

/**
 * Header fields HTTP/2 forbids (RFC 9113 section 8.2.2, connection-specific), which Node's
 * http2 refuses to send: dropped from refusals written for HTTP/1.1 (426's Upgrade).
 */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'upgrade', 'keep-alive', 'proxy-connection', 'transfer-encoding']);

/** Headers the handshake sets itself; extra headers may not name them. */
const H2_RESERVED: ReadonlySet<string> = new Set([
  ...CONNECTION_SPECIFIC,
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-version',
  'content-length',
]);

/** Names a client's extra headers may not use on an extended CONNECT (Origin too when the option sets it). */
const H2_REQUEST_RESERVED: ReadonlySet<string> = new Set([...H2_RESERVED, 'sec-websocket-key', 'host']);
const H2_REQUEST_RESERVED_WITH_ORIGIN: ReadonlySet<string> = new Set([...H2_REQUEST_RESERVED, 'origin']);

/** An HTTP/2 header block: lower-case names (pseudo-headers first), values as given. */
export type H2Headers = Record<string, string | number | string[]>;

/** What the server answers an accepted extended CONNECT with. */
export interface H2ResponseInit {
  protocol?: string;
  /** Sec-WebSocket-Extensions response value, already formatted. */
  extensions?: string;
  /** Extra headers; connection-specific ones and the handshake's own are refused. */
  headers?: Readonly<Record<string, string | readonly string[]>>;
  /**
   * The Sec-WebSocket-Key the client sent, to be answered with Sec-WebSocket-Accept (for clients
   * that wrongly require it); undefined to send none, as RFC 8441 has it.
   */
  key?: string;
}

/** Lower-cased extra headers into an HTTP/2 block, one value as a string, repeats as an array. */
function addUserHeaders(out: H2Headers, headers: H2ResponseInit['headers'], reserved: ReadonlySet<string>): void {
  for (const [name, values] of userHeaderValues(headers, reserved, 'not allowed in HTTP/2')) {
    out[name.toLowerCase()] = values.length === 1 ? values[0]! : values;
  }
}

/**
 * The header block of an accepted extended CONNECT: `:status 200` (RFC 8441 section 5: a 2xx),
 * the chosen subprotocol and extensions, extra headers lower-cased. Throws InvalidArgumentError
 * for a protocol that is not a token, a malformed extensions value, and extra headers that are
 * not tokens, carry controls, or name connection-specific or handshake fields.
 */
export function buildH2Response(init: H2ResponseInit): H2Headers {
  const out: H2Headers = { ':status': 200 };
  for (const [name, value] of negotiatedFields(init.protocol, init.extensions)) out[name.toLowerCase()] = value;
  if (init.key !== undefined && isValidKey(init.key)) out['sec-websocket-accept'] = computeAcceptKey(init.key);
  addUserHeaders(out, init.headers, H2_RESERVED);
  return out;
}

/**
 * A refusal as an HTTP/2 header block and body: the same status and body as over HTTP/1.1, names
 * lower-cased, connection-specific fields (426's Upgrade) dropped as RFC 9113 section 8.2.2 asks.
 */
export function buildH2Refusal(answer: HttpRefusal): { headers: H2Headers; body: string } {
  const headers: H2Headers = { ':status': answer.status };
  for (const name of Object.keys(answer.headers)) {
    const lower = name.toLowerCase();
    if (CONNECTION_SPECIFIC.has(lower) || lower === 'content-length') continue;
    headers[lower] = answer.headers[name]!;
  }
  return { headers, body: answer.body };
}

/** What the client puts in its extended CONNECT. */
export interface H2RequestInit {
  /** `:scheme`: 'https' for wss:, 'http' for ws: (RFC 8441 section 4). */
  scheme: 'http' | 'https';
  /** `:authority`: host, with ':port' when not the scheme's default. */
  authority: string;
  /** `:path`: path and query, starting with '/'. */
  path: string;
  protocols?: readonly string[];
  extensions?: string;
  origin?: string;
  /** Extra headers; the handshake's own names, Host and connection-specific ones are refused. */
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/**
 * The header block of the client's extended CONNECT: RFC-strict, so no Sec-WebSocket-Key (RFC
 * 8441 section 5 removes it). Throws InvalidArgumentError like buildClientRequest does for a bad
 * path, non-token or repeated subprotocols and header injection.
 */
export function buildH2ConnectRequest(init: H2RequestInit): H2Headers {
  const { path } = init;
  checkRequestPath(path);
  checkValue('the authority', init.authority);
  const out: H2Headers = {
    ':method': 'CONNECT',
    ':protocol': H2_WEBSOCKET_PROTOCOL,
    ':scheme': init.scheme,
    ':authority': init.authority,
    ':path': path,
    'sec-websocket-version': WEBSOCKET_VERSION,
  };
  const protocols = init.protocols ?? [];
  if (protocols.length > 0) {
    checkOfferedProtocols(protocols);
    out['sec-websocket-protocol'] = protocols.join(', ');
  }
  if (init.extensions !== undefined && init.extensions !== '') {
    checkValue('Sec-WebSocket-Extensions', init.extensions);
    out['sec-websocket-extensions'] = init.extensions;
  }
  if (init.origin !== undefined) {
    checkValue('the Origin header', init.origin);
    out['origin'] = init.origin;
  }
  addUserHeaders(out, init.headers, init.origin !== undefined ? H2_REQUEST_RESERVED_WITH_ORIGIN : H2_REQUEST_RESERVED);
  return out;
}

/** The outcome of checking the server's answer to an extended CONNECT: the same shape as over HTTP/1.1. */
export type H2ResponseCheck = ResponseCheck;

/**
 * Checks the answer to an extended CONNECT: a 2xx (RFC 8441 section 5), then the subprotocol and
 * extensions as RFC 6455 section 4.1 asks. No Sec-WebSocket-Accept is required (or judged).
 * `reason` is a sentence for a HandshakeError message.
 */
export function checkH2ConnectResponse(status: number, headers: HeaderMap, protocolsOffered: readonly string[], extensionNames: readonly string[]): H2ResponseCheck {
  if (status < 200 || status > 299) return { ok: false, reason: `the server answered the extended CONNECT with status ${status}` };
  return checkAgreement(headers, protocolsOffered, extensionNames);
}
