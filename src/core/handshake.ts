/**
 * CONTRACT (to be implemented): the HTTP/1.1 upgrade logic of RFC 6455 section 4, as pure code
 * shared by the client and the server. Names and shapes here are what src/node and src/api are
 * written against; implementations may add, not change.
 */
import type { ExtensionOffer } from './header-tokens.js';

/** The GUID RFC 6455 section 1.3 appends to the key before hashing. */
export declare const WEBSOCKET_GUID: string;

/** Header values as Node's parser gives them: lower-case names, repeated headers as arrays. */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** base64(SHA-1(key + GUID)): the value of Sec-WebSocket-Accept (section 4.2.2). */
export declare function computeAcceptKey(key: string): string;
/** A fresh Sec-WebSocket-Key: base64 of 16 cryptographically random bytes (section 4.1). */
export declare function generateKey(): string;
/** True when `key` is base64 that decodes to exactly 16 bytes (section 4.2.1, item 5). */
export declare function isValidKey(key: string): boolean;

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
  /** Extra headers; names that would break the handshake (Upgrade, Sec-WebSocket-Key, ...) are rejected. */
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/** The full request head, ending in CRLF CRLF. Throws InvalidArgumentError on header injection (CR/LF in values) or invalid tokens. */
export declare function buildClientRequest(init: ClientRequestInit): string;

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
  | { ok: true; protocol: string; extensions: ExtensionOffer[]; extensionsHeader: string }
  | { ok: false; reason: string };

/** Checks status 101, Upgrade, Connection, Sec-WebSocket-Accept, subprotocol and extensions (section 4.2.2 / 4.1). */
export declare function checkServerResponse(status: number, headers: HeaderMap, expected: ResponseExpectation): ResponseCheck;

/** An upgrade request as read off the wire (Node's IncomingMessage has these fields). */
export interface UpgradeRequest {
  method: string;
  /** '1.1', '1.0', '2.0' ... */
  httpVersion: string;
  headers: HeaderMap;
  /** Alternating names and values in arrival order, for duplicate detection (Node's req.rawHeaders). */
  rawHeaders?: readonly string[];
}

/** A refusal: the HTTP answer to send instead of 101. */
export interface HttpRefusal {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The outcome of checking a client's upgrade request (section 4.2.1). */
export type RequestCheck =
  | { ok: true; key: string; protocols: string[]; extensions: ExtensionOffer[]; origin: string | undefined; host: string }
  | ({ ok: false } & HttpRefusal);

/**
 * Checks method GET (405 otherwise), HTTP/1.1 or later, Host present and single, Upgrade and
 * Connection tokens (case-insensitive comma lists), a single valid key, version 13 (else 426 with
 * `Sec-WebSocket-Version: 13`), single Origin, parsable Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions (400 otherwise). Linear time on any input.
 */
export declare function checkUpgradeRequest(req: UpgradeRequest): RequestCheck;

/** What the server answers with when it accepts. */
export interface UpgradeResponseInit {
  key: string;
  protocol?: string;
  /** Sec-WebSocket-Extensions response value, already formatted. */
  extensions?: string;
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/** The full `101 Switching Protocols` head, ending in CRLF CRLF. */
export declare function buildUpgradeResponse(init: UpgradeResponseInit): string;

/** A complete HTTP/1.1 response for a refusal, with Connection: close and Content-Length. */
export declare function buildRefusalResponse(refusal: HttpRefusal): string;
