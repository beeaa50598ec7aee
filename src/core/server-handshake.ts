/**
 * The server's half of the upgrade handshake (RFC 6455 section 4.2): its checks of the client's
 * request, the `101 Switching Protocols` head it answers with, and the HTTP response for a
 * refusal. Heads are ASCII only, a refusal's body UTF-8 (see handshake.ts for why).
 */
import { InvalidArgumentError } from './errors.js';
import { computeAcceptKey, isValidKey, WEBSOCKET_VERSION } from './handshake-key.js';
import { appendUserHeaders, checkValue, type HeaderMap, joined, SERVER_RESERVED, single } from './handshake-fields.js';
import { isToken, listHasToken, parseExtensions, parseTokenList, type ExtensionOffer } from './header-tokens.js';
import { isValidHost } from './host.js';
import { encodeUtf8 } from './utf8.js';

/** An upgrade request as read off the wire (Node's IncomingMessage has these fields). */
export interface UpgradeRequest {
  method: string;
  /** '1.1', '1.0', '2.0' ... */
  httpVersion: string;
  headers: HeaderMap;
  /** Alternating names and values in arrival order, for duplicate detection (Node's req.rawHeaders). */
  rawHeaders?: readonly string[];
  /**
   * The request-target as sent (Node's req.url). When given in absolute-form, its authority must
   * agree with Host (checked only when given).
   */
  target?: string;
}

/** A refusal: the HTTP answer to send instead of 101. */
export interface HttpRefusal {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The outcome of checking a client's upgrade request (section 4.2.1). */
export type RequestCheck =
  | {
      ok: true;
      /** The Sec-WebSocket-Key, to compute the accept value from. */
      key: string;
      /** Subprotocols requested, in the client's order of preference (possibly empty). */
      protocols: string[];
      /** Extensions offered, in the client's order of preference (possibly empty). */
      extensions: ExtensionOffer[];
      origin: string | undefined;
      host: string;
    }
  | ({ ok: false } & HttpRefusal);

/** Headers that must not be repeated, with the lower-case name checked in rawHeaders. */
const SINGLE_HEADERS = ['host', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'origin'] as const;
type SingleHeader = (typeof SINGLE_HEADERS)[number];

/** True when `name` is `lower` in any case (`lower` is lower-case ASCII letters and '-'); allocates nothing. */
function isNamed(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  // OR-ing 0x20 lower-cases a letter and leaves '-' alone; no other token character becomes one of them.
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * Which single-valued headers arrive more than once in rawHeaders (one pass): a bit per name of
 * SINGLE_HEADERS, set on its second arrival.
 */
function repeatedSingles(rawHeaders: readonly string[] | undefined): number {
  if (rawHeaders === undefined) return 0;
  let seen = 0;
  let repeated = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    for (let index = 0; index < SINGLE_HEADERS.length; index++) {
      if (!isNamed(name, SINGLE_HEADERS[index]!)) continue;
      const bit = 1 << index;
      repeated |= seen & bit;
      seen |= bit;
      break;
    }
  }
  return repeated;
}

/** Whether repeatedSingles' answer has `name`'s bit. */
function isRepeated(repeatedNames: number, name: SingleHeader): boolean {
  return (repeatedNames & (1 << SINGLE_HEADERS.indexOf(name))) !== 0;
}

function refuse(status: number, body: string, headers: Record<string, string> = {}): RequestCheck {
  return { ok: false, status, headers, body };
}

/** The version nearly every upgrade request has, without parsing it. */
const HTTP_1_1: readonly [number, number] = [1, 1];

/** Parses an httpVersion like '1.1' into major and minor; null if it is not digits.digits. */
function parseHttpVersion(version: string): [number, number] | null {
  const dot = version.indexOf('.');
  const major = dot < 0 ? version : version.slice(0, dot);
  const minor = dot < 0 ? '0' : version.slice(dot + 1);
  if (!isDigits(major) || !isDigits(minor)) return null;
  return [Number(major), Number(minor)];
}

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 3) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** Default ports of the schemes an absolute-form WebSocket target may use. */
const DEFAULT_PORTS: Readonly<Record<string, string>> = { http: '80', ws: '80', https: '443', wss: '443' };

/**
 * True unless `target` is in absolute-form ('scheme://authority/...') with an authority that is
 * not `host` (compared case-insensitively, a scheme's default port equal to none). One pass, no
 * URL parser: only the authority is needed.
 */
function sameAuthority(target: string, host: string): boolean {
  if (target.length === 0 || target.charCodeAt(0) === 0x2f) return true; // origin-form
  const colon = target.indexOf('://');
  if (colon <= 0) return true; // not absolute-form: the router decides what it is
  const scheme = target.slice(0, colon).toLowerCase();
  let end = colon + 3;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 0x2f || c === 0x3f || c === 0x23) break; // '/', '?', '#'
    end++;
  }
  const normalize = (authority: string): string => {
    const lower = authority.trim().toLowerCase();
    const port = DEFAULT_PORTS[scheme];
    return port !== undefined && lower.endsWith(':' + port) && !lower.endsWith(']') ? lower.slice(0, lower.length - port.length - 1) : lower;
  };
  return normalize(target.slice(colon + 3, end)) === normalize(host);
}

/**
 * Checks method GET (405 otherwise), HTTP/1.1 or later, Host present, single and valid
 * (`host [":" port]`, see parseHost), Upgrade and
 * Connection tokens (case-insensitive comma lists), a single valid key, version 13 (else 426 with
 * `Sec-WebSocket-Version: 13`), single Origin, parsable Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions (400 otherwise), and refuses (400) what would contradict the upgrade:
 * `Connection: close`, a request body (Content-Length other than 0, Transfer-Encoding), an
 * absolute-form `target` naming another authority than Host. Linear time on any input.
 *
 * The version is checked before the key so that a client speaking another version (which may
 * send other key headers) learns which version to retry with (section 4.4). Duplicates of Host,
 * Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version and Origin are found in `rawHeaders` when
 * given, because Node keeps only the first Host and joins the others with ", ".
 */
export function checkUpgradeRequest(req: UpgradeRequest): RequestCheck {
  const { headers } = req;

  // Section 4.2.1 item 1: the method MUST be GET.
  if (req.method !== 'GET') return refuse(405, 'A WebSocket upgrade must use the GET method.', { Allow: 'GET' });

  // Section 4.2.1 item 1: HTTP/1.1 or higher.
  const version = req.httpVersion === '1.1' ? HTTP_1_1 : parseHttpVersion(req.httpVersion);
  if (version === null || version[0] < 1 || (version[0] === 1 && version[1] < 1)) {
    return refuse(400, 'A WebSocket upgrade requires HTTP/1.1 or later.');
  }

  const repeatedNames = repeatedSingles(req.rawHeaders);

  // Section 4.2.1 item 2: a Host header with the server's authority; exactly one (RFC 7230 section 5.4).
  const host = single(headers, 'host');
  if (host === null || isRepeated(repeatedNames, 'host')) return refuse(400, 'The request has more than one Host header.');
  const hostValue = host?.trim();
  if (hostValue === undefined || hostValue === '') return refuse(400, 'The request has no Host header.');
  // RFC 9112 section 3.2: a server MUST answer 400 to a Host header field with an invalid value;
  // RFC 9110 section 7.2 makes that value `host [":" port]`. `a b`, `evil@host` and `host/path`
  // would otherwise reach hooks and same-origin checks that trust it to name one host.
  if (!isValidHost(hostValue)) return refuse(400, 'The Host header is not a valid host with an optional port.');

  // Section 4.2.1 item 3: Upgrade containing "websocket", case-insensitively.
  const upgrade = single(headers, 'upgrade');
  if (upgrade === null || isRepeated(repeatedNames, 'upgrade')) return refuse(400, 'The request has more than one Upgrade header.');
  if (upgrade === undefined || listHasToken(upgrade, 'websocket') !== true) {
    return refuse(400, 'The Upgrade header must include "websocket".');
  }

  // Section 4.2.1 item 4: Connection containing "Upgrade", case-insensitively; it is a list
  // header, so repeated lines are one list (RFC 7230 section 3.2.2).
  const connection = joined(headers, 'connection');
  if (connection === undefined || listHasToken(connection, 'upgrade') !== true) {
    return refuse(400, 'The Connection header must include "Upgrade".');
  }
  // RFC 7230 section 6.1: "close" says the connection ends after this response, which contradicts
  // switching it to WebSocket; no client sends both, so the request is refused, not guessed at.
  if (listHasToken(connection, 'close') === true) return refuse(400, 'The Connection header asks both to close and to upgrade.');

  // A body on the upgrade request: intermediaries would read the bytes after the head as the body,
  // this server as WebSocket frames. Refusing leaves no room for that disagreement (smuggling).
  const contentLength = single(headers, 'content-length');
  if (
    contentLength === null ||
    (contentLength !== undefined && contentLength.trim() !== '0') ||
    headers['transfer-encoding'] !== undefined
  ) {
    return refuse(400, 'A WebSocket upgrade request cannot have a body.');
  }

  // RFC 7230 section 5.4: with an absolute-form target the Host header must name the same
  // authority; two different answers to "which host?" are refused rather than one picked.
  if (req.target !== undefined && !sameAuthority(req.target, hostValue)) {
    return refuse(400, 'The request target names another host than the Host header.');
  }

  // Section 4.2.1 item 6 / section 4.4: version 13, or 426 with the versions we speak.
  const versionHeader = single(headers, 'sec-websocket-version');
  if (versionHeader === null || isRepeated(repeatedNames, 'sec-websocket-version')) {
    return refuse(400, 'The request has more than one Sec-WebSocket-Version header.');
  }
  if (versionHeader === undefined || versionHeader.trim() !== WEBSOCKET_VERSION) {
    return refuse(426, 'This server supports WebSocket version 13 only.', { 'Sec-WebSocket-Version': WEBSOCKET_VERSION });
  }

  // Section 4.2.1 item 5: a Sec-WebSocket-Key that is base64 of 16 bytes.
  const key = single(headers, 'sec-websocket-key');
  if (key === null || isRepeated(repeatedNames, 'sec-websocket-key')) return refuse(400, 'The request has more than one Sec-WebSocket-Key header.');
  if (key === undefined) return refuse(400, 'The request has no Sec-WebSocket-Key header.');
  const keyValue = key.trim();
  if (!isValidKey(keyValue)) return refuse(400, 'The Sec-WebSocket-Key header must be base64 of 16 bytes.');

  // Section 4.2.1 item 7: at most one Origin. A serialized origin never holds a comma
  // (RFC 6454 section 6.2), so a comma means Node joined two headers.
  const origin = single(headers, 'origin');
  if (origin === null || isRepeated(repeatedNames, 'origin') || (origin !== undefined && origin.includes(','))) {
    return refuse(400, 'The request has more than one Origin header.');
  }

  const offers = readOffers(headers);
  if ('body' in offers) return { ok: false, ...offers };
  return { ok: true, key: keyValue, protocols: offers.protocols, extensions: offers.extensions, origin, host: hostValue };
}

/**
 * The subprotocols (section 4.2.1 item 8: a token list, section 4.1) and extensions (item 9, the
 * section 9.1 grammar) a request offers, or the 400 for a malformed one. The same over HTTP/1.1
 * and HTTP/2 (RFC 8441 section 5 keeps both headers' meaning).
 */
export function readOffers(headers: HeaderMap): { protocols: string[]; extensions: ExtensionOffer[] } | HttpRefusal {
  let protocols: string[] = [];
  const protocolHeader = joined(headers, 'sec-websocket-protocol');
  if (protocolHeader !== undefined) {
    const parsed = parseTokenList(protocolHeader);
    if (parsed === null) return { status: 400, headers: {}, body: 'The Sec-WebSocket-Protocol header is not a list of tokens.' };
    protocols = parsed;
  }
  let extensions: ExtensionOffer[] = [];
  const extensionsHeader = joined(headers, 'sec-websocket-extensions');
  if (extensionsHeader !== undefined) {
    const parsed = parseExtensions(extensionsHeader);
    if (parsed === null) return { status: 400, headers: {}, body: 'The Sec-WebSocket-Extensions header is malformed.' };
    extensions = parsed;
  }
  return { protocols, extensions };
}

/**
 * The negotiated fields of an accepting answer, checked (section 4.2.2: one subprotocol, a
 * token; extensions in the section 9.1 grammar) as [name, value] pairs, none for an empty value.
 * The 101 writes them as lines, the HTTP/2 answer (handshake-h2.ts) as lower-case fields. Throws
 * InvalidArgumentError for a bad value.
 */
export function negotiatedFields(protocol: string | undefined, extensions: string | undefined): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (protocol !== undefined && protocol !== '') {
    if (!isToken(protocol)) throw new InvalidArgumentError(`subprotocol ${JSON.stringify(protocol)} is not a token`);
    fields.push(['Sec-WebSocket-Protocol', protocol]);
  }
  if (extensions !== undefined && extensions !== '') {
    checkValue('Sec-WebSocket-Extensions', extensions);
    if (parseExtensions(extensions) === null) throw new InvalidArgumentError(`Sec-WebSocket-Extensions value ${JSON.stringify(extensions)} is malformed`);
    fields.push(['Sec-WebSocket-Extensions', extensions]);
  }
  return fields;
}

/** What the server answers with when it accepts. */
export interface UpgradeResponseInit {
  key: string;
  /**
   * The Sec-WebSocket-Accept value for `key`, when the caller has computed it already (the node
   * layer hashes with node:crypto, about twice as fast as the core's SHA-1 in JavaScript);
   * absent, it is computed here. The caller answers for it being the right value.
   */
  accept?: string;
  protocol?: string;
  /** Sec-WebSocket-Extensions response value, already formatted. */
  extensions?: string;
  /** Extra headers; handshake headers, Content-Length and Transfer-Encoding are rejected. */
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/** The lines of every 101 up to the Sec-WebSocket-Accept value. */
const UPGRADE_HEAD = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ';

/**
 * The full `101 Switching Protocols` head, ending in CRLF CRLF (ASCII only). Throws
 * InvalidArgumentError for an invalid key, a protocol that is not a token, an extensions value
 * that does not parse, and header injection or reserved names in `headers`.
 */
export function buildUpgradeResponse(init: UpgradeResponseInit): string {
  if (!isValidKey(init.key)) throw new InvalidArgumentError('Sec-WebSocket-Key must be base64 of 16 bytes');
  const accept = init.accept ?? computeAcceptKey(init.key);
  // Nearly every answer has no subprotocol, extension or extra header: one string, without the
  // arrays the general case below builds (a server writes one per connection).
  if (!init.protocol && !init.extensions && init.headers === undefined) return `${UPGRADE_HEAD}${accept}\r\n\r\n`;
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${accept}`,
  ];
  for (const [name, value] of negotiatedFields(init.protocol, init.extensions)) lines.push(`${name}: ${value}`);
  appendUserHeaders(lines, init.headers, SERVER_RESERVED);
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Reason phrases (RFC 9110 section 15) for the statuses a refusal commonly uses. */
const REASONS: Readonly<Record<number, string>> = {
  200: 'OK',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  413: 'Content Too Large',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The reason phrase for `status`, or a generic one for its class when it has no usual phrase. */
export function reasonPhrase(status: number): string {
  const known = REASONS[status];
  if (known !== undefined) return known;
  if (status >= 500) return 'Server Error';
  if (status >= 400) return 'Client Error';
  if (status >= 300) return 'Redirection';
  return 'Success';
}

/** Headers buildRefusalResponse computes itself; the caller's versions are ignored. */
const REFUSAL_OWN = new Set(['content-length', 'transfer-encoding', 'connection']);

/**
 * A complete HTTP/1.1 response for a refusal, with Connection: close and Content-Length (the
 * body's UTF-8 length), and `Content-Type: text/plain; charset=utf-8` unless the refusal names
 * a Content-Type. Content-Length, Transfer-Encoding and Connection given in `refusal.headers`
 * are replaced, since the framing must match the body written here. Write the result as UTF-8.
 * Throws InvalidArgumentError for a status outside 200-599 or header injection.
 */
export function buildRefusalResponse(refusal: HttpRefusal): string {
  const { status } = refusal;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new InvalidArgumentError(`refusal status ${status} must be an integer from 200 to 599`);
  }
  const lines = [`HTTP/1.1 ${status} ${reasonPhrase(status)}`];
  let hasContentType = false;
  const own: Record<string, string> = {};
  for (const name of Object.keys(refusal.headers)) {
    const lower = name.toLowerCase();
    if (REFUSAL_OWN.has(lower)) continue;
    if (lower === 'content-type') hasContentType = true;
    own[name] = refusal.headers[name]!;
  }
  appendUserHeaders(lines, own, new Set());
  if (!hasContentType) lines.push('Content-Type: text/plain; charset=utf-8');
  const body = encodeUtf8(refusal.body);
  lines.push(`Content-Length: ${body.length}`, 'Connection: close');
  return lines.join('\r\n') + '\r\n\r\n' + refusal.body;
}
