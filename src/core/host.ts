/**
 * The Host header and the Origin header as the server judges them: is a Host value a valid
 * `host [":" port]` (RFC 9110 section 7.2, RFC 9112 section 3.2, with the host grammar of RFC 3986
 * section 3.2.2), and does an Origin name the same host and port as the Host the request was sent
 * to (the default defence against cross-site WebSocket hijacking, RFC 6455 section 10.2).
 *
 * Table-driven, one forward pass, bounded loops: no regular expression runs on these values, so no
 * input makes them backtrack.
 */

/** A Host value split into its parts. */
export interface HostAndPort {
  /** The host as sent: a reg-name, an IPv4 address, or an IP literal with its brackets. */
  readonly hostname: string;
  /** The port, or null when there is none (or, as RFC 3986 section 3.2.3 allows, an empty one). */
  readonly port: number | null;
}

/** Character classes of RFC 3986 section 2, for ASCII. */
const REG_NAME = 1; // unreserved / sub-delims: what a reg-name holds besides pct-encoded
const HEX = 2;
const DIGIT = 4;
const CLASSES = new Uint8Array(128);
function mark(chars: string, cls: number): void {
  for (let i = 0; i < chars.length; i++) CLASSES[chars.charCodeAt(i)] = CLASSES[chars.charCodeAt(i)]! | cls;
}
mark('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~' + "!$&'()*+,;=", REG_NAME);
mark('0123456789abcdefABCDEF', HEX);
mark('0123456789', DIGIT);

function is(code: number, cls: number): boolean {
  return code < 128 && (CLASSES[code]! & cls) !== 0;
}

/**
 * Splits a Host header value into host and port, or returns null when it is not
 * `host [":" port]`: a reg-name (letters, digits, `-._~`, sub-delims, %XX; not empty, since RFC
 * 9110 section 4.2.1 forbids an empty host for http), a bracketed IPv6 address or IPvFuture, and a
 * port of at most 5 digits up to 65535. `a b`, `user@host`, `host/path`, `host:80:80`, `[::1`,
 * controls and non-ASCII are all null. Surrounding spaces are not allowed either (Node trims them).
 */
export function parseHost(value: string): HostAndPort | null {
  const n = value.length;
  let i = 0;
  if (n === 0) return null;
  if (value.charCodeAt(0) === 0x5b) {
    // IP-literal = "[" ( IPv6address / IPvFuture ) "]"
    const close = value.indexOf(']');
    if (close < 0) return null;
    const inner = value.slice(1, close);
    if (!isIPv6(inner) && !isIPvFuture(inner)) return null;
    i = close + 1;
  } else {
    while (i < n) {
      const c = value.charCodeAt(i);
      if (is(c, REG_NAME)) i++;
      else if (c === 0x25 && i + 2 < n && is(value.charCodeAt(i + 1), HEX) && is(value.charCodeAt(i + 2), HEX)) i += 3;
      else break;
    }
    if (i === 0) return null;
  }
  const hostname = value.slice(0, i);
  if (i === n) return { hostname, port: null };
  if (value.charCodeAt(i) !== 0x3a) return null;
  const digits = n - i - 1;
  if (digits === 0) return { hostname, port: null };
  if (digits > 5) return null;
  let port = 0;
  for (let j = i + 1; j < n; j++) {
    const c = value.charCodeAt(j);
    if (!is(c, DIGIT)) return null;
    port = port * 10 + (c - 0x30);
  }
  return port > 65535 ? null : { hostname, port };
}

/** True when `value` is a valid Host header value (see parseHost). */
export function isValidHost(value: string): boolean {
  return parseHost(value) !== null;
}

/** IPv4address of RFC 3986: four dec-octets 0-255 without leading zeros. */
export function isIPv4(s: string): boolean {
  let parts = 0;
  let i = 0;
  const n = s.length;
  while (parts < 4) {
    const start = i;
    let value = 0;
    while (i < n && i - start < 3 && is(s.charCodeAt(i), DIGIT)) {
      value = value * 10 + (s.charCodeAt(i) - 0x30);
      i++;
    }
    const len = i - start;
    if (len === 0 || value > 255 || (len > 1 && s.charCodeAt(start) === 0x30)) return false;
    parts++;
    if (parts === 4) break;
    if (i >= n || s.charCodeAt(i) !== 0x2e) return false;
    i++;
  }
  return i === n;
}

/**
 * IPv6address of RFC 3986 section 3.2.2: eight groups of 1-4 hex digits, at most one `::` standing
 * for one or more zero groups, and an IPv4 address in place of the last two groups. No zone id
 * (RFC 6874 is not part of the Host grammar).
 */
function isIPv6(s: string): boolean {
  const n = s.length;
  let i = 0;
  let groups = 0;
  let elided = false;
  if (n < 2) return false;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    elided = true;
    i = 2;
    if (i === n) return true;
  }
  while (groups < 8) {
    const start = i;
    while (i < n && i - start < 5 && is(s.charCodeAt(i), HEX)) i++;
    if (i < n && s.charCodeAt(i) === 0x2e) {
      // The IPv4 tail: the last 32 bits.
      if (!isIPv4(s.slice(start))) return false;
      groups += 2;
      i = n;
      break;
    }
    const len = i - start;
    if (len === 0 || len > 4) return false;
    groups++;
    if (i === n) break;
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 0x3a) {
      if (elided) return false;
      elided = true;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return false; // a single trailing colon
    }
  }
  if (i !== n) return false;
  return elided ? groups <= 7 : groups === 8;
}

/** IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
function isIPvFuture(s: string): boolean {
  const n = s.length;
  if (n < 4 || (s.charCodeAt(0) | 0x20) !== 0x76) return false;
  let i = 1;
  while (i < n && is(s.charCodeAt(i), HEX)) i++;
  if (i === 1 || i >= n || s.charCodeAt(i) !== 0x2e) return false;
  i++;
  if (i === n) return false;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!is(c, REG_NAME) && c !== 0x3a) return false;
  }
  return true;
}

/** Default ports of the schemes an Origin may have, for comparing a port left out with one given. */
const DEFAULT_PORTS: Readonly<Record<string, number>> = { http: 80, ws: 80, https: 443, wss: 443 };

/**
 * True when `origin` (a serialized origin, `scheme://host[:port]`, RFC 6454 section 6.2) names
 * the same host and port as the `host` header value: hosts compared case-insensitively (both are
 * ASCII once parsed), a port equal to the origin scheme's default the same as none. The scheme itself is not compared
 * (as gorilla/websocket does): a server behind a TLS-terminating proxy sees `https://` pages
 * arrive over plain HTTP, and the host and port are what a foreign page cannot fake. `null`, an
 * origin with a path, or an invalid host on either side is never a match.
 */
export function originMatchesHost(origin: string, host: string): boolean {
  const sep = origin.indexOf('://');
  if (sep <= 0) return false;
  const fromOrigin = parseHost(origin.slice(sep + 3));
  const fromHost = parseHost(host);
  if (fromOrigin === null || fromHost === null) return false;
  const defaultPort = DEFAULT_PORTS[origin.slice(0, sep).toLowerCase()];
  const port = (p: number | null): number | null => (p === defaultPort ? null : p);
  return port(fromOrigin.port) === port(fromHost.port) && fromOrigin.hostname.toLowerCase() === fromHost.hostname.toLowerCase();
}
