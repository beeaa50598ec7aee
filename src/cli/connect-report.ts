/**
 * What `hybi connect` prints about a connection: why none was made (with a hint for certificate
 * errors), the handshake for -v, ping and pong frames for -P, and received messages for a person.
 * Everything that came from the peer is escaped for the terminal.
 */
import { ConnectError, HandshakeError, ProxyAuthError, type WebSocket } from '../index.js';
import { buildClientRequest, formatDeflateOffer } from '../core/index.js';
import { type BinaryFormat, formatBinary, type Palette, payloadOf, sanitizeForTerminal } from './output.js';
import type { ConnectSettings } from './connect-args.js';

/**
 * Node's codes for a server certificate that could not be verified: unknown or self-signed
 * issuer, wrong name, expired. A TLS failure for another reason (a protocol mismatch) gets no hint.
 */
const CERTIFICATE_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The hint for a certificate error, or '' for any other failure. */
export function certificateHint(err: unknown): string {
  const cause = err instanceof ConnectError ? err.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !CERTIFICATE_ERRORS.has(code)) return '';
  return 'the server\'s certificate was not verified: trust its CA with --ca FILE, or (for tests only) skip the check with --insecure';
}

/**
 * One line for stderr that says why no connection was made. Escape sequences in it are shown as
 * \\xNN: a refusal's body and the header values quoted in error messages come from the server, and
 * must not retitle, clear or recolour the user's terminal.
 */
export function describeConnectError(err: unknown): string {
  return sanitizeForTerminal(connectErrorText(err));
}

function connectErrorText(err: unknown): string {
  if (err instanceof HandshakeError) {
    const firstLine = err.body.split('\n', 1)[0]!.trim().slice(0, 200);
    return `handshake failed: ${err.message}${err.status && !err.message.includes(String(err.status)) ? ` (HTTP ${err.status})` : ''}${firstLine ? `: ${firstLine}` : ''}`;
  }
  if (err instanceof ConnectError) {
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  if (err instanceof ProxyAuthError && err.proxyAuthenticate !== '') return `${err.message}; it asks for: ${err.proxyAuthenticate.slice(0, 200)}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * -v: the request as connect() sends it, one header a line after '> '. The same core function
 * builds it; only the Sec-WebSocket-Key differs (connect() draws a fresh one for every try, and it
 * is not kept), so that line says so instead of showing a key that was never sent.
 */
export function describeRequest(settings: ConnectSettings): string[] {
  let url: URL;
  try {
    url = new URL(settings.url);
  } catch {
    return [];
  }
  const o = settings.options;
  const headers: Record<string, string | readonly string[]> = { ...(o.headers ?? {}) };
  const placeholder = 'AAAAAAAAAAAAAAAAAAAAAA==';
  let text: string;
  try {
    text = buildClientRequest({
      host: url.host,
      path: (url.pathname || '/') + url.search,
      key: placeholder,
      protocols: typeof o.protocols === 'string' ? [o.protocols] : o.protocols,
      extensions: o.compress ? formatDeflateOffer(o.compress === true ? {} : o.compress) : undefined,
      origin: o.origin,
      headers,
    });
  } catch {
    // A header connect() refuses: it says why, with the right exit status.
    return [];
  }
  return text
    .split('\r\n')
    .filter((line) => line !== '')
    .map((line) => `> ${line === `Sec-WebSocket-Key: ${placeholder}` ? 'Sec-WebSocket-Key: (random, new for each try)' : line}`);
}

/** -v: the answer. After a 101 hybi keeps what was agreed; a refusal carries every header. */
export function describeResponse(result: WebSocket | unknown): string[] {
  if (result instanceof HandshakeError) {
    if (result.status === 0) return [];
    return [`< HTTP/1.1 ${result.status}`, ...Object.entries(result.headers).map(([name, value]) => `< ${name}: ${value}`)];
  }
  if (result instanceof Error || typeof result !== 'object' || result === null) return [];
  const ws = result as WebSocket;
  const lines = ['< HTTP/1.1 101 Switching Protocols', '< Upgrade: websocket', '< Connection: Upgrade'];
  if (ws.protocol) lines.push(`< Sec-WebSocket-Protocol: ${ws.protocol}`);
  if (ws.extensions) lines.push(`< Sec-WebSocket-Extensions: ${ws.extensions}`);
  return lines;
}

/**
 * -P: "ping" or "pong", with the payload when there is one (as text when it is printable UTF-8,
 * else hex), escaped for the terminal since the peer chose it.
 */
export function describeControl(kind: 'ping' | 'pong', payload: Uint8Array): string {
  if (payload.byteLength === 0) return kind;
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  const printable = !text.includes('\ufffd') && sanitizeForTerminal(text) === text;
  return `${kind} ${printable ? JSON.stringify(text) : `[${payload.byteLength} B] ${formatBinary(payload, 'hex')}`}`;
}

/** Writes lines for -v to stderr, escaped: header values come from the server (or a redirect). */
export function dump(lines: string[]): void {
  for (const line of lines) process.stderr.write(sanitizeForTerminal(line) + '\n');
}

/**
 * A received message as one line for a person: text escaped for the terminal after `marker`,
 * binary as "[binary N B]" and hex or base64 (raw bytes would garble the terminal).
 */
export function formatReceived(data: unknown, isBinary: boolean, showBinary: BinaryFormat, c: Palette, marker: string): string {
  const { text, bytes } = payloadOf(data, isBinary);
  if (text !== undefined) return `${c.cyan(marker)} ${sanitizeForTerminal(text)}`;
  const format = showBinary === 'raw' ? 'hex' : showBinary;
  return `${c.magenta(`${marker} [binary ${bytes!.byteLength} B]`)} ${formatBinary(bytes!, format)}`;
}
