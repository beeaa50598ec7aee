/**
 * Dialing through a proxy: picks the proxy for a target (a fixed one, or the environment's with
 * its no_proxy exceptions), dials it (TLS for an https: proxy), opens the tunnel (CONNECT or
 * SOCKS), then runs the server's TLS handshake inside the tunnel for wss:. The result is a socket
 * to the server, as `dial()` gives for a direct connection; every step is bounded by the same
 * signal (connect()'s handshake timeout), and any failure leaves no socket behind.
 */
import type { Socket } from 'node:net';
import { ConnectError } from '../errors.js';
import { dial, type DialOptions, type TlsDialOptions } from '../dial.js';
import { proxyFromEnv, type ProxyEnv } from './env.js';
import { connectTunnel } from './http-connect.js';
import { parseProxyURL, type ProxyURL } from './proxy-url.js';
import { socks4Tunnel, socks5Tunnel } from './socks.js';

/** How connect() reaches servers through proxies; made by the options resolver. */
export interface ProxyRoute {
  /** A fixed proxy, or the environment's (a snapshot of its variables, taken when connect() was called). */
  proxy: ProxyURL | { env: ProxyEnv };
  /** Extra headers of the CONNECT request (http: and https: proxies). */
  headers: Readonly<Record<string, string>>;
  /** TLS settings for the connection to an https: proxy (its CA, for one). */
  tls: TlsDialOptions;
}

/** The proxy for a target, or undefined to go direct (no_proxy, or no variable set). */
function proxyFor(route: ProxyRoute, target: { secure: boolean; hostname: string; port: number }): ProxyURL | undefined {
  if (!('env' in route.proxy)) return route.proxy;
  const chosen = proxyFromEnv(target, route.proxy.env);
  return chosen === undefined ? undefined : parseProxyURL(chosen.url, chosen.variable);
}

/**
 * `dial()`, through the route's proxy when there is one for this target: resolves with a socket
 * to the server (TLS inside the tunnel for wss:), ready for the upgrade request. Failures reaching
 * the proxy are ConnectErrors naming it; the proxy's refusals are ProxyError or ProxyAuthError.
 */
export async function dialRoute(route: ProxyRoute | undefined, options: DialOptions): Promise<Socket> {
  const proxy = route === undefined ? undefined : proxyFor(route, { secure: options.tls !== undefined && options.tls !== false, hostname: options.host, port: options.port });
  if (route === undefined || proxy === undefined) return dial(options);
  const { signal } = options;
  let socket: Socket;
  try {
    socket = await dial({
      host: proxy.hostname,
      port: proxy.port,
      tls: proxy.protocol === 'https' ? route.tls : false,
      signal,
    });
  } catch (error) {
    if (!(error instanceof ConnectError)) throw error;
    throw new ConnectError(`proxy ${proxy.href}: ${error.message}`, error.host, error.port, { cause: error.cause ?? error, timedOut: error.timedOut });
  }
  const tunnel = { proxy, host: options.host, port: options.port, signal };
  try {
    if (proxy.protocol === 'http' || proxy.protocol === 'https') await connectTunnel(socket, { ...tunnel, headers: route.headers });
    else if (proxy.protocol === 'socks5' || proxy.protocol === 'socks5h') await socks5Tunnel(socket, tunnel);
    else await socks4Tunnel(socket, tunnel);
  } catch (error) {
    // The tunnels destroy the socket on the failures they detect; this covers the rest (a local
    // DNS failure for socks5:, a name too long for SOCKS5).
    socket.destroy();
    throw error;
  }
  if (!options.tls) return socket;
  try {
    // The server's TLS inside the tunnel: certificate and SNI are the server's, not the proxy's.
    return await dial({ ...options, socket });
  } catch (error) {
    socket.destroy();
    throw error;
  }
}
