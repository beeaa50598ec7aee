/**
 * connect()'s `transport: 'auto'`: HTTP/2 (RFC 8441) when the server offers it, an HTTP/1.1
 * upgrade otherwise, the way Chromium chooses. An origin whose HTTP/2 session is already open
 * gets a stream on it. For wss: the TLS handshake offers ALPN `h2` and `http/1.1`: when the server
 * picks h2 and its SETTINGS advertise ENABLE_CONNECT_PROTOCOL, that connection becomes the
 * origin's shared session; when it picks HTTP/1.1, the upgrade goes over that same connection;
 * when it speaks h2 without the setting, the upgrade goes over a new connection (an HTTP/2
 * connection cannot turn into HTTP/1.1). ws: without a session is HTTP/1.1: offering h2c by
 * prior knowledge to an unknown server would break every HTTP/1.1-only one, and h2c's Upgrade
 * dance is gone from RFC 9113. Through a proxy or an agent it is HTTP/1.1, as those carry only it.
 */
import type { TLSSocket } from 'node:tls';
import { dial } from '../node/dial.js';
import { HandshakeError } from '../node/errors.js';
import { adoptSession, hasSession, SessionError, type SessionTarget } from '../node/http2-sessions.js';
import { proxyFor } from '../node/proxy/route.js';
import type { ConnectPlan } from './connect.js';
import { connectHttp1 } from './http1-connect.js';
import { connectHttp2 } from './http2-connect.js';
import type { Redirect } from './redirect.js';
import type { WebSocketURL } from './url.js';
import type { WebSocket } from './websocket.js';

/** One hop of the handshake over HTTP/2 when the server allows it, else over HTTP/1.1. */
export async function connectAuto(
  url: WebSocketURL,
  settings: ConnectPlan,
  headers: Record<string, string | readonly string[]>,
  signal: AbortSignal,
  deadline: number,
): Promise<WebSocket | Redirect> {
  const { route, agent } = settings.proxy;
  const direct = agent === undefined && (route === undefined || proxyFor(route, url) === undefined);
  if (!direct) return connectHttp1(url, settings, headers, signal, deadline);
  const target: SessionTarget = { secure: url.secure, hostname: url.hostname, port: url.port, tls: settings.tls };
  if (!hasSession(target)) {
    if (!url.secure) return connectHttp1(url, settings, headers, signal, deadline);
    const socket = await dial({ host: url.hostname, port: url.port, tls: settings.tls, signal, alpn: ['h2', 'http/1.1'] });
    // No ALPN answer (false) is HTTP/1.1 too: the server knows nothing of h2.
    if ((socket as TLSSocket).alpnProtocol !== 'h2') return connectHttp1(url, settings, headers, signal, deadline, socket);
    adoptSession(target, socket);
  }
  try {
    return await connectHttp2(url, settings, headers, signal);
  } catch (error) {
    // The server speaks HTTP/2 but cannot carry WebSockets on it: HTTP/1.1 on a new connection.
    if (error instanceof HandshakeError && error.cause instanceof SessionError && !error.cause.connect) {
      return connectHttp1(url, settings, headers, signal, deadline);
    }
    throw error;
  }
}
