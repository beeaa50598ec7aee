/**
 * An HTTP CONNECT tunnel (RFC 9110 section 9.3.6) through an http: or https: proxy: one request,
 * one answer head read with the core's bounded parser, and any bytes that followed the head put
 * back on the socket for whoever reads it next (the TLS handshake or the WebSocket upgrade).
 */
import { Buffer } from 'node:buffer';
import { isIP, type Socket } from 'node:net';
import { HandshakeError, ProxyAuthError, ProxyError } from '../errors.js';
import type { HttpHeadLimits } from '../../core/http-head.js';
import { readResponseHead } from '../response-head.js';
import type { ProxyURL } from './proxy-url.js';

/**
 * Bound on the proxy's answer head: 8 KiB. A CONNECT answer is a status line and a few headers
 * (a 407's challenge included); a proxy that sends more is not one to wait on.
 */
export const MAX_PROXY_HEAD_SIZE = 8 * 1024;

/** Bound on the answer's header fields, for the same reason. */
const MAX_PROXY_HEADER_COUNT = 64;

const LIMITS: HttpHeadLimits = { maxHeadSize: MAX_PROXY_HEAD_SIZE, maxHeaderCount: MAX_PROXY_HEADER_COUNT };

/** What to ask the proxy for. */
interface ConnectTunnelOptions {
  proxy: ProxyURL;
  /** The server's host (a name or an IP literal, IPv6 without brackets) and port. */
  host: string;
  port: number;
  /** Extra request headers (`proxyHeaders`); a Proxy-Authorization here wins over the URL's credentials. */
  headers: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

/** The CONNECT request's bytes. Header names and values were checked when the options were resolved. */
export function connectRequest(options: ConnectTunnelOptions): string {
  const authority = `${isIP(options.host) === 6 ? `[${options.host}]` : options.host}:${options.port}`;
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  const own = Object.keys(options.headers).some((name) => name.toLowerCase() === 'proxy-authorization');
  const { username, password } = options.proxy;
  if (!own && (username !== '' || password !== '')) {
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`);
  }
  for (const [name, value] of Object.entries(options.headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * Asks the proxy on `socket` for a tunnel and resolves once it answered 2xx; the socket is then a
 * byte pipe to the server. Rejects with ProxyAuthError on a 407, ProxyError on any other status
 * or a malformed or oversized answer, and the dial layer's ConnectError on a socket error or an
 * abort (the handshake timeout). On rejection the socket is destroyed.
 */
export async function connectTunnel(socket: Socket, options: ConnectTunnelOptions): Promise<void> {
  const { proxy, signal } = options;
  const request = connectRequest(options);
  socket.write(request);
  let answer;
  try {
    answer = await readResponseHead(socket, { host: proxy.hostname, port: proxy.port, signal, limits: LIMITS });
  } catch (error) {
    // The dial layer reports a bad head as a HandshakeError; here it is the proxy's fault.
    if (error instanceof HandshakeError) {
      throw new ProxyError(`proxy ${proxy.href} gave no usable answer to CONNECT: ${error.message}`, proxy.href, 0, 0, { cause: error });
    }
    throw error;
  }
  const { status, head, rest } = answer;
  if (status >= 200 && status < 300) {
    // Bytes after the head are the server's: back onto the socket, to be read first.
    if (rest.length > 0) socket.unshift(Buffer.from(rest.buffer, rest.byteOffset, rest.length));
    return;
  }
  socket.destroy();
  const reason = head.startLine[2];
  const statusText = `${status}${reason ? ` ${reason}` : ''}`;
  // 407 is the proxy's challenge. A 401 to CONNECT can only be the proxy's too (the server is not
  // reached yet): tinyproxy, for one, answers refused credentials with 401 and WWW-Authenticate.
  if (status === 407 || status === 401) {
    const challenge = head.headers['proxy-authenticate'] ?? head.headers['www-authenticate'];
    const sent = /\r\nProxy-Authorization:/i.test(request);
    throw new ProxyAuthError(
      `proxy ${proxy.href} wants authentication: ${statusText}${sent ? ' (the credentials were refused)' : ' (no credentials were given)'}`,
      proxy.href,
      status,
      Array.isArray(challenge) ? challenge.join(', ') : (challenge ?? ''),
    );
  }
  throw new ProxyError(`proxy ${proxy.href} refused CONNECT to ${options.host}:${options.port}: ${statusText}`, proxy.href, status);
}
