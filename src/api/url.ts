/**
 * WebSocket URLs (RFC 6455 section 3) as a client dials them: parsed with the WHATWG URL class,
 * so hosts, ports, IPv6 literals and percent-encoding are read exactly as a browser reads them.
 */
import { isIP } from 'node:net';
import { InvalidURLError } from './errors.js';

/** Everything the client needs from a URL to dial and to write its request line and Host header. */
export interface WebSocketURL {
  /** The normalised URL, always `ws:` or `wss:` (http/https mapped), without credentials. */
  readonly href: string;
  /** True for `wss:` (TLS). */
  readonly secure: boolean;
  /** Host to dial: a DNS name (lower-cased, punycode) or an IP literal (IPv6 without brackets). */
  readonly hostname: string;
  /** Port to dial; 80 or 443 when the URL names none. */
  readonly port: number;
  /** Value of the Host header: IPv6 in brackets, ':port' only when not the scheme's default. */
  readonly host: string;
  /** Request target: path and query, at least '/'. */
  readonly path: string;
  /** True when `hostname` is an IP literal (no SNI then: RFC 6066 section 3 forbids it). */
  readonly isIP: boolean;
  /** `user:password` from the URL, percent-decoded, for Basic authentication; '' when absent. */
  readonly auth: string;
}

/**
 * Schemes a client accepts, mapped to the WebSocket scheme they stand for. http and https are
 * mapped as the WHATWG WebSocket constructor does, so a page's own URL can be reused.
 */
const SCHEMES: Readonly<Record<string, 'ws' | 'wss'>> = {
  'ws:': 'ws',
  'wss:': 'wss',
  'http:': 'ws',
  'https:': 'wss',
};

/** Longest scheme we bother to quote in an error; a scheme is short, input may not be. */
const MAX_SCHEME_REPORTED = 32;

/**
 * Reads the scheme of input the URL class refused, for the error message only: the characters
 * before the first ':' if they look like a scheme (RFC 3986 section 3.1), else ''. Bounded loop.
 */
function schemeOf(input: string): string {
  const limit = Math.min(input.length, MAX_SCHEME_REPORTED + 1);
  for (let i = 0; i < limit; i++) {
    const c = input.charCodeAt(i);
    if (c === 0x3a /* : */) return i > 0 ? input.slice(0, i).toLowerCase() : '';
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const other = (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
    if (!alpha && !(i > 0 && other)) return '';
  }
  return '';
}

/** Strips the brackets the URL class keeps around an IPv6 literal. */
function bareHostname(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function decodeComponent(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    // A stray '%' is kept as typed rather than failing the whole URL over a password.
    return value;
  }
}

/**
 * Parses and validates a WebSocket URL. Accepts `ws:`, `wss:`, `http:` (as ws) and `https:` (as
 * wss), either as a string or a URL object; a relative string is resolved against `base` when
 * given. Throws InvalidURLError (with the scheme it found) for anything unparsable, any other
 * scheme, a missing host, or a fragment.
 */
export function parseWebSocketURL(input: string | URL, base?: string | URL): WebSocketURL {
  const text = typeof input === 'string' ? input : input.href;
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new InvalidURLError(`invalid URL: ${JSON.stringify(text.slice(0, 200))}`, text, schemeOf(text));
  }
  const scheme = SCHEMES[url.protocol];
  const found = url.protocol.slice(0, -1);
  if (scheme === undefined) {
    throw new InvalidURLError(
      `unsupported URL scheme '${found}': a WebSocket URL is ws:, wss:, http: or https:`,
      text,
      found,
    );
  }
  // RFC 6455 section 3: "Fragment identifiers are meaningless in the context of WebSocket URIs
  // and MUST NOT be used on these URIs." An empty fragment ('#') leaves url.hash empty, so the
  // serialisation is checked too; '#' can only appear there as the fragment delimiter.
  if (url.hash !== '' || url.href.includes('#')) {
    throw new InvalidURLError('a WebSocket URL must not have a fragment', text, found);
  }
  if (url.hostname === '') {
    throw new InvalidURLError('a WebSocket URL needs a host', text, found);
  }
  // Switching between special schemes keeps host, port and path; the default port follows the
  // new scheme (http's 80 is ws's 80, https's 443 is wss's 443).
  url.protocol = `${scheme}:`;
  const secure = scheme === 'wss';
  const hostname = bareHostname(url.hostname);
  const auth = url.username !== '' || url.password !== ''
    ? `${decodeComponent(url.username)}:${decodeComponent(url.password)}`
    : '';
  url.username = '';
  url.password = '';
  return {
    href: url.href,
    secure,
    hostname,
    port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
    host: url.host,
    // The URL class already gives '/' for an empty path of a special scheme; kept explicit.
    path: (url.pathname === '' ? '/' : url.pathname) + url.search,
    isIP: isIP(hostname) !== 0,
    auth,
  };
}
