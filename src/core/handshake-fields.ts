/**
 * The header fields of the upgrade handshake (RFC 6455 section 4), as both sides read and write
 * them: reading a field that may appear once or a list field from a parsed head, and writing the
 * caller's extra fields into a head without letting them change its framing or contradict the
 * handshake.
 */
import { InvalidArgumentError } from './errors.js';
import { isToken } from './header-tokens.js';

/**
 * The header fields of a parsed head: lower-case names, a repeated field as an array of its
 * values. The shape the core's HttpHeadParser produces (and Node's HTTP parser too).
 */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/**
 * The value of a header that may appear only once: undefined when it is absent, null when it came
 * more than once (as an array of several values). No object per call: a server reads six of these
 * for every handshake.
 */
export function single(headers: HeaderMap, name: string): string | null | undefined {
  const v = headers[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : v.length === 0 ? undefined : null;
  return v as string | undefined;
}

/** The value of a list header, repeated lines joined as RFC 7230 section 3.2.2 allows. */
export function joined(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.join(', ');
  return v as string | undefined;
}

/** True when the token list has `token`, compared ASCII case-insensitively. */
export function hasToken(list: readonly string[], token: string): boolean {
  for (const t of list) if (t.length === token.length && t.toLowerCase() === token) return true;
  return false;
}

/**
 * Checks that `value` can be written in a head without changing its framing: printable ASCII
 * and HTAB only. CR, LF and NUL would inject lines (RFC 7230 section 3.2.4); other controls and
 * non-ASCII are refused so the head is the same bytes whatever encoding writes it.
 */
export function checkValue(what: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) {
      throw new InvalidArgumentError(
        `${what} contains ${c === 0x0d || c === 0x0a ? 'a line break' : c === 0 ? 'a NUL' : c > 0x7e ? 'a non-ASCII character' : 'a control character'} (code ${c}), which a header cannot carry`,
      );
    }
  }
}

type UserHeaders = Readonly<Record<string, string | readonly string[]>>;

/**
 * Appends the caller's extra headers, one line per value. Names must be tokens; names in
 * `reserved` (lower case) belong to the handshake and are refused so that user headers can
 * never contradict it. `undefined` values are skipped and numbers written as decimals, as
 * JavaScript callers tend to pass them.
 */
export function appendUserHeaders(lines: string[], headers: UserHeaders | undefined, reserved: ReadonlySet<string>): void {
  for (const [name, values] of userHeaderValues(headers, reserved, 'cannot be given as an extra header')) {
    for (const value of values) lines.push(`${name}: ${value}`);
  }
}

/**
 * The caller's extra headers checked as appendUserHeaders checks them (token names, none in
 * `reserved`, printable values), as [name as given, trimmed values] pairs: the one check both
 * the HTTP/1.1 head writers and the HTTP/2 header blocks (handshake-h2.ts) use. `refusal` ends
 * the message for a reserved name.
 */
export function userHeaderValues(headers: UserHeaders | undefined, reserved: ReadonlySet<string>, refusal: string): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  if (headers === undefined) return out;
  for (const name of Object.keys(headers)) {
    const raw = headers[name] as unknown;
    if (raw === undefined) continue;
    if (!isToken(name)) throw new InvalidArgumentError(`header name ${JSON.stringify(name)} is not a token`);
    if (reserved.has(name.toLowerCase())) throw new InvalidArgumentError(`header ${name} is set by the WebSocket handshake and ${refusal}`);
    const values = (Array.isArray(raw) ? (raw as unknown[]) : [raw]).map((v) => {
      const value = typeof v === 'number' ? String(v) : v;
      if (typeof value !== 'string') throw new InvalidArgumentError(`header ${name} must have string values`);
      checkValue(`header ${name}`, value);
      return trimOws(value);
    });
    out.push([name, values]);
  }
  return out;
}

/** Removes leading and trailing SP/HTAB (RFC 7230 section 3.2.4: OWS around a field value). */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 0x20 || value.charCodeAt(start) === 0x09)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return value.slice(start, end);
}

/** Headers the handshake itself sets; user headers may not override them (either side). */
const HANDSHAKE_HEADERS = [
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-accept',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  // The bytes after the head belong to the WebSocket; a body length would make peers and
  // proxies read them as HTTP (RFC 7230 section 3.3; a 1xx response MUST NOT have Content-Length).
  'content-length',
  'transfer-encoding',
];
/** Names a client's extra headers may not use: the handshake's, and Host. */
export const CLIENT_RESERVED: ReadonlySet<string> = new Set([...HANDSHAKE_HEADERS, 'host']);
/** Names a server's extra headers may not use: the handshake's. */
export const SERVER_RESERVED: ReadonlySet<string> = new Set(HANDSHAKE_HEADERS);
