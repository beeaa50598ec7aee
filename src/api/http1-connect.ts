/**
 * connect()'s HTTP/1.1 transport (`transport: 'http1'`, RFC 6455 section 4.1): an Upgrade request
 * on a TCP (or TLS) connection of its own, directly, through a proxy's tunnel or an agent. The
 * request and the checks on the answer are the core's (core/handshake.ts); dialing and reading the
 * answer off the socket are node/dial.ts, node/response-head.ts and node/response-body.ts. One
 * hop: a redirect is reported, and connect.ts decides whether to follow it.
 */
import type { Socket } from 'node:net';
import { HandshakeError } from '../node/errors.js';
import { buildClientRequest, checkServerResponse, generateKey, type HeaderMap } from '../core/handshake.js';
import type { HttpHead } from '../core/http-head.js';
import { DEFAULT_BODY_TIMEOUT, readResponseBody } from '../node/response-body.js';
import { readResponseHead, type ResponseHead } from '../node/response-head.js';
import { systemTimers } from '../node/timer-wheel.js';
import { requestThroughAgent } from '../node/proxy/agent.js';
import { dialRoute } from '../node/proxy/route.js';
import type { ConnectionInit } from './connection-init.js';
import type { ConnectPlan } from './connect.js';
import { REDIRECTS, type Redirect } from './redirect.js';
import type { WebSocketURL } from './url.js';
import { WebSocket, type MessageCodec } from './websocket.js';

/**
 * One HTTP/1.1 upgrade to `current`: resolves with the open WebSocket, or with the redirect when
 * the server answered one and `maxRedirects` allows following; rejects with ConnectError or
 * HandshakeError. `socket`, when given, is a connection already dialed to `current` (the one
 * `transport: 'auto'` opened and on which ALPN chose HTTP/1.1); otherwise one is dialed.
 */
export async function connectHttp1(
  current: WebSocketURL,
  settings: ConnectPlan,
  headers: Record<string, string | readonly string[]>,
  signal: AbortSignal,
  deadline: number,
  socket?: Socket,
): Promise<WebSocket | Redirect> {
  const key = generateKey();
  // Built before dialing: a header the handshake owns, or CR/LF in a value, fails here and
  // never reaches the network.
  let request: string;
  try {
    request = buildClientRequest({
      host: current.host,
      path: current.path,
      key,
      protocols: settings.protocols,
      extensions: settings.extensions.length > 0 ? settings.extensions.map((e) => e.offer).join(', ') : undefined,
      origin: settings.origin,
      headers,
    });
  } catch (error) {
    socket?.destroy();
    throw error;
  }
  const dialOptions = { host: current.hostname, port: current.port, tls: current.secure ? settings.tls : false, signal } as const;
  // An agent carries the request itself; otherwise dial, directly or through a proxy (src/node/proxy/).
  const exchanged =
    socket !== undefined
      ? await exchange(socket, request, current, signal)
      : settings.proxy.agent !== undefined
        ? await requestThroughAgent({ ...dialOptions, agent: settings.proxy.agent, secure: current.secure, tls: settings.tls, request })
        : await exchange(await dialRoute(settings.proxy.route, dialOptions), request, current, signal);
  const { response } = exchanged;

  if (response.status === 101) return open(exchanged.socket, response, current, key, settings);

  if (REDIRECTS.has(response.status) && settings.maxRedirects > 0) {
    exchanged.socket.destroy();
    const raw = response.head.headers['location'];
    return { redirect: true, status: response.status, location: Array.isArray(raw) ? raw[0] : raw, headers: flatHeaders(response.head) };
  }

  // A refusal: read (a bounded piece of) its body so a 401 or 403 page can be shown.
  const remaining = deadline - systemTimers.now();
  const body = await readResponseBody(exchanged.socket, response, {
    timeout: Math.max(0, Math.min(DEFAULT_BODY_TIMEOUT, remaining)),
    signal,
  });
  const reason = response.head.startLine[2];
  throw new HandshakeError(
    `${current.href} refused the WebSocket upgrade: ${response.status}${reason ? ` ${reason}` : ''}`,
    response.status,
    flatHeaders(response.head),
    new TextDecoder().decode(body),
  );
}

/** Writes the upgrade request and reads the answer's head off the socket. */
async function exchange(socket: Socket, request: string, current: WebSocketURL, signal: AbortSignal): Promise<{ socket: Socket; response: ResponseHead }> {
  socket.write(request);
  // Listeners are attached in this same tick, so no error from the write can go unheard.
  return { socket, response: await readResponseHead(socket, { host: current.hostname, port: current.port, signal }) };
}

/** Checks a 101 and hands the socket to a new WebSocket; any failure destroys the socket. */
function open(socket: Socket, response: ResponseHead, url: WebSocketURL, key: string, settings: ConnectPlan): WebSocket {
  try {
    const check = checkServerResponse(101, response.head.headers as HeaderMap, {
      key,
      protocols: settings.protocols,
      extensionNames: settings.extensions.map((e) => e.name),
    });
    if (!check.ok) {
      throw new HandshakeError(`invalid handshake response from ${url.href}: ${check.reason}`, 101, flatHeaders(response.head));
    }
    const codecs: MessageCodec[] = [];
    for (const accepted of check.extensions) {
      const extension = settings.extensions.find((e) => e.name === accepted.name);
      const codec = extension?.accept(accepted) ?? `extension ${accepted.name} was not offered`;
      if (typeof codec === 'string') {
        for (const c of codecs) c.close();
        throw new HandshakeError(`invalid handshake response from ${url.href}: ${codec}`, 101, flatHeaders(response.head));
      }
      codecs.push(codec);
    }
    const init: ConnectionInit = {
      // Resolved before dialing; the WebSocket uses them as they are.
      options: settings.connection,
      role: 'client',
      url: url.href,
      protocol: check.protocol,
      // The bytes that came with the 101 are the first frames: the WebSocket reads them first.
      head: response.rest,
      codecs,
    };
    return new WebSocket(socket, init);
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

/** Response headers as HandshakeError carries them: lower-case names, repeats joined with ', '. */
function flatHeaders(head: HttpHead): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(head.headers)) {
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
