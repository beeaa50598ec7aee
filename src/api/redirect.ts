/**
 * Redirects of connect()'s handshake, whatever carried it (an HTTP/1.1 upgrade or an HTTP/2
 * extended CONNECT): which statuses redirect, where a Location leads, and which request headers
 * go on to the next origin. connect.ts runs the loop; the transports report a redirect.
 */
import { Buffer } from 'node:buffer';
import { HandshakeError } from '../node/errors.js';
import { InvalidURLError } from './errors.js';
import { parseWebSocketURL, type WebSocketURL } from './url.js';

/** HTTP statuses that redirect, when `maxRedirects` allows it. */
export const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/**
 * Headers dropped when a redirect leads to another origin: they carry credentials for the first
 * (Proxy-Authorization too: undici CVE-2024-24758 and follow-redirects CVE-2024-28849 sent it on).
 */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** A handshake answered with a redirect that connect() may follow: the status, Location and headers. */
export interface Redirect {
  readonly redirect: true;
  readonly status: number;
  readonly location: string | undefined;
  /** Response headers as HandshakeError carries them (lower-case names, repeats joined). */
  readonly headers: Record<string, string>;
}

/** Where a redirect leads; a HandshakeError when it has no Location or leaves HTTP and WebSocket URLs. */
export function redirectTarget(answer: Redirect, current: WebSocketURL): WebSocketURL {
  const location = answer.location;
  if (location === undefined || location.trim() === '') {
    throw new HandshakeError(`redirect ${answer.status} without a Location header`, answer.status, answer.headers);
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
      `redirect ${answer.status} to ${JSON.stringify(trimmed.slice(0, 200))}, which is not a ws:, wss:, http: or https: URL`,
      answer.status,
      answer.headers,
      '',
      { cause: error },
    );
  }
}

/**
 * The request headers for the next hop: another origin (RFC 6454: scheme, host and port; ws: and
 * http: are one scheme here) gets none of the credentials meant for this one, in either direction
 * between ws: and wss:; credentials in the new URL replace the old ones.
 */
export function redirectHeaders(
  headers: Record<string, string | readonly string[]>,
  current: WebSocketURL,
  next: WebSocketURL,
): Record<string, string | readonly string[]> {
  let out = headers;
  if (next.secure !== current.secure || next.hostname !== current.hostname || next.port !== current.port) out = stripCredentials(out);
  return next.auth !== '' ? withAuth(stripCredentials(out), next) : out;
}

function hasHeader(headers: Readonly<Record<string, unknown>>, name: string): boolean {
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) return true;
  return false;
}

/** Adds Basic credentials from the URL unless the caller set Authorization themselves. */
export function withAuth(headers: Record<string, string | readonly string[]>, url: WebSocketURL): Record<string, string | readonly string[]> {
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
