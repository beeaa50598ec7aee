/**
 * The client's half of the upgrade handshake (RFC 6455 section 4.1): the request head it sends
 * and its checks of the server's answer. Heads are ASCII only (see handshake.ts for why).
 */
import { InvalidArgumentError } from './errors.js';
import { computeAcceptKey, isValidKey, WEBSOCKET_VERSION } from './handshake-key.js';
import { appendUserHeaders, checkValue, CLIENT_RESERVED, hasToken, type HeaderMap, joined, single } from './handshake-fields.js';
import { isToken, parseExtensions, parseTokenList, type ExtensionOffer } from './header-tokens.js';

/** What the client puts in its upgrade request. */
export interface ClientRequestInit {
  /** Host header value: hostname (IPv6 in brackets) plus ':port' when not the scheme's default. */
  host: string;
  /** Request target: path and query, starting with '/'. */
  path: string;
  key: string;
  protocols?: readonly string[];
  /** Sec-WebSocket-Extensions offer, already formatted (e.g. by the permessage-deflate module). */
  extensions?: string;
  origin?: string;
  /**
   * Extra headers; names that would break the handshake (Upgrade, Connection, Host,
   * Sec-WebSocket-*, Content-Length, Transfer-Encoding) are rejected, and so is Origin when
   * `origin` is given.
   */
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/**
 * The full request head, ending in CRLF CRLF (ASCII only). Throws InvalidArgumentError on header
 * injection (CR/LF/NUL or other controls, non-ASCII), invalid tokens, an invalid key, a path
 * not starting with '/' or holding spaces, and duplicate or non-token subprotocols (section 4.1:
 * the elements MUST be tokens and MUST be unique).
 */
export function buildClientRequest(init: ClientRequestInit): string {
  const { host, path, key } = init;
  checkRequestPath(path);
  if (host.length === 0) throw new InvalidArgumentError('the Host header value is empty');
  checkValue('the Host header', host);
  if (!isValidKey(key)) throw new InvalidArgumentError('Sec-WebSocket-Key must be base64 of 16 bytes');

  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Version: ${WEBSOCKET_VERSION}`,
  ];
  const protocols = init.protocols ?? [];
  if (protocols.length > 0) {
    checkOfferedProtocols(protocols);
    lines.push(`Sec-WebSocket-Protocol: ${protocols.join(', ')}`);
  }
  if (init.extensions !== undefined && init.extensions !== '') {
    checkValue('Sec-WebSocket-Extensions', init.extensions);
    lines.push(`Sec-WebSocket-Extensions: ${init.extensions}`);
  }
  let reserved = CLIENT_RESERVED;
  if (init.origin !== undefined) {
    checkValue('the Origin header', init.origin);
    lines.push(`Origin: ${init.origin}`);
    reserved = new Set([...CLIENT_RESERVED, 'origin']);
  }
  appendUserHeaders(lines, init.headers, reserved);
  return lines.join('\r\n') + '\r\n\r\n';
}

/**
 * Throws InvalidArgumentError unless `path` can be the request's target: it starts with '/' and
 * is one run of visible ASCII (RFC 7230 section 3.1.1), as the HTTP/1.1 request line and HTTP/2's
 * `:path` both need.
 */
export function checkRequestPath(path: string): void {
  if (path.length === 0 || path.charCodeAt(0) !== 0x2f) throw new InvalidArgumentError(`request path ${JSON.stringify(path)} must start with '/'`);
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw new InvalidArgumentError(`request path ${JSON.stringify(path)} must be percent-encoded visible ASCII`);
  }
}

/** Throws InvalidArgumentError unless the subprotocols offered are tokens, each named once (section 4.1 MUSTs). */
export function checkOfferedProtocols(protocols: readonly string[]): void {
  const seen = new Set<string>();
  for (const p of protocols) {
    if (!isToken(p)) throw new InvalidArgumentError(`subprotocol ${JSON.stringify(p)} is not a token`);
    if (seen.has(p)) throw new InvalidArgumentError(`subprotocol ${JSON.stringify(p)} is listed twice`);
    seen.add(p);
  }
}

/** What the client expects of the server's answer. */
export interface ResponseExpectation {
  key: string;
  /** Subprotocols offered; the server may pick one of them or none. */
  protocols: readonly string[];
  /** Extension names offered; the server may accept only those. */
  extensionNames: readonly string[];
}

/** The outcome of checking a server's response: what was agreed, or why it is refused. */
export type ResponseCheck =
  | {
      ok: true;
      /** The subprotocol the server chose, '' for none. */
      protocol: string;
      /** Extensions the server accepted, in its order; their parameters are for each extension to check. */
      extensions: ExtensionOffer[];
      /** The Sec-WebSocket-Extensions value as received ('' when absent). */
      extensionsHeader: string;
    }
  | { ok: false; reason: string };

/**
 * Checks status 101, Upgrade, Connection, Sec-WebSocket-Accept, subprotocol and extensions
 * (section 4.1, the client's checks of the server's handshake). Extension parameters are not
 * judged here: each accepted extension's own negotiation (e.g. `checkDeflateResponse`) does that.
 * `reason` is a sentence meant for a HandshakeError message.
 */
export function checkServerResponse(status: number, headers: HeaderMap, expected: ResponseExpectation): ResponseCheck {
  // Section 4.1: any status other than 101 means the handshake did not complete.
  if (status !== 101) return { ok: false, reason: `the server answered with status ${status} instead of 101 Switching Protocols` };

  // Section 4.1: Upgrade MUST be "websocket", case-insensitively, or the client MUST fail.
  const upgrade = joined(headers, 'upgrade');
  if (upgrade === undefined) return { ok: false, reason: 'the server response has no Upgrade header' };
  const upgradeTokens = parseTokenList(upgrade);
  if (upgradeTokens === null || upgradeTokens.length !== 1 || upgradeTokens[0]!.toLowerCase() !== 'websocket') {
    return { ok: false, reason: `the server response has Upgrade: ${upgrade} instead of websocket` };
  }

  // Section 4.1: Connection MUST contain "Upgrade", case-insensitively.
  const connection = joined(headers, 'connection');
  const connectionTokens = connection === undefined ? null : parseTokenList(connection);
  if (connectionTokens === null || !hasToken(connectionTokens, 'upgrade')) {
    return { ok: false, reason: connection === undefined ? 'the server response has no Connection header' : `the server response has Connection: ${connection} without "upgrade"` };
  }

  // Section 4.1: Sec-WebSocket-Accept MUST be base64(SHA-1(key + GUID)), compared exactly.
  const accept = single(headers, 'sec-websocket-accept');
  if (accept === null) return { ok: false, reason: 'the server response has more than one Sec-WebSocket-Accept header' };
  if (accept === undefined) return { ok: false, reason: 'the server response has no Sec-WebSocket-Accept header' };
  if (accept.trim() !== computeAcceptKey(expected.key)) {
    return { ok: false, reason: 'the server response has a Sec-WebSocket-Accept value that does not match the key sent' };
  }

  return checkAgreement(headers, expected.protocols, expected.extensionNames);
}

/**
 * What the server's answer agreed to, judged as section 4.1 asks of every WebSocket handshake,
 * over HTTP/1.1 or HTTP/2 (RFC 8441 keeps these fields' meaning): the subprotocol and the
 * extensions. `reason` is a sentence for a HandshakeError message.
 */
export function checkAgreement(headers: HeaderMap, protocolsOffered: readonly string[], extensionNames: readonly string[]): ResponseCheck {
  // Section 4.1: a Sec-WebSocket-Protocol the client did not offer MUST fail the connection,
  // and the server picks one protocol, so a list is as wrong as an unknown name.
  let protocol = '';
  const protocolHeader = joined(headers, 'sec-websocket-protocol');
  if (protocolHeader !== undefined && protocolHeader.trim() !== '') {
    const chosen = parseTokenList(protocolHeader);
    if (chosen === null || chosen.length !== 1) {
      return { ok: false, reason: `the server response has Sec-WebSocket-Protocol: ${protocolHeader}, which is not a single subprotocol` };
    }
    protocol = chosen[0]!;
    if (!protocolsOffered.includes(protocol)) {
      return {
        ok: false,
        reason:
          protocolsOffered.length === 0
            ? `the server chose subprotocol ${protocol} but none was requested`
            : `the server chose subprotocol ${protocol}, which is not one of those requested (${protocolsOffered.join(', ')})`,
      };
    }
  }

  // Section 4.1: an extension the client did not offer MUST fail the connection; an extension
  // used twice would claim the same RSV bits twice (section 9).
  const extensionsHeader = joined(headers, 'sec-websocket-extensions') ?? '';
  const extensions = parseExtensions(extensionsHeader);
  if (extensions === null) return { ok: false, reason: `the server response has a malformed Sec-WebSocket-Extensions header: ${extensionsHeader}` };
  const seen = new Set<string>();
  for (const e of extensions) {
    if (!extensionNames.includes(e.name)) return { ok: false, reason: `the server accepted extension ${e.name}, which was not offered` };
    if (seen.has(e.name)) return { ok: false, reason: `the server accepted extension ${e.name} more than once` };
    seen.add(e.name);
  }
  return { ok: true, protocol, extensions, extensionsHeader };
}
