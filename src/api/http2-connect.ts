/**
 * connect()'s HTTP/2 transport (`transport: 'http2'`, RFC 8441): the WebSocket is one stream of
 * the origin's shared HTTP/2 session (node/http2-sessions.ts), opened with an extended CONNECT
 * that carries no Sec-WebSocket-Key, and accepted by a 2xx without Sec-WebSocket-Accept. The
 * subprotocol and extension checks are the same as over HTTP/1.1.
 */
import type * as http2 from 'node:http2';
import { ConnectError, HandshakeError } from '../node/errors.js';
import { buildH2ConnectRequest, checkH2ConnectResponse } from '../core/handshake-h2.js';
import { openConnectStream, SessionError } from '../node/http2-sessions.js';
import type { ConnectionInit } from './connection-init.js';
import type { ConnectPlan } from './connect.js';
import { REDIRECTS, type Redirect } from './redirect.js';
import type { WebSocketURL } from './url.js';
import { WebSocket, type MessageCodec } from './websocket.js';

/** Most bytes of a refusal's body kept for HandshakeError.body. */
const MAX_BODY = 16 * 1024;

/**
 * Opens a WebSocket to `url` over HTTP/2; rejects with ConnectError or HandshakeError as the
 * HTTP/1.1 path does. A 3xx is reported as a Redirect when `maxRedirects` allows following it
 * (connect() follows it over HTTP/2 again), and is a HandshakeError with its status otherwise. A
 * server whose session does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL fails with a
 * HandshakeError whose `cause` is a SessionError (`transport: 'auto'` falls back on it).
 */
export async function connectHttp2(
  url: WebSocketURL,
  settings: ConnectPlan,
  headers: Record<string, string | readonly string[]>,
  signal: AbortSignal,
): Promise<WebSocket | Redirect> {
  // Built before any network: a bad header fails here.
  const request = buildH2ConnectRequest({
    scheme: url.secure ? 'https' : 'http',
    authority: url.host,
    path: url.path,
    protocols: settings.protocols,
    extensions: settings.extensions.length > 0 ? settings.extensions.map((e) => e.offer).join(', ') : undefined,
    origin: settings.origin,
    headers,
  });
  let stream: http2.ClientHttp2Stream;
  try {
    stream = await openConnectStream({ secure: url.secure, hostname: url.hostname, port: url.port, tls: settings.tls }, request, signal);
  } catch (error) {
    throw failure(error, url);
  }
  stream.on('error', noop);
  let response: http2.IncomingHttpHeaders;
  try {
    response = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('response', (h) => {
        signal.removeEventListener('abort', onAbort);
        resolve(h);
      });
      stream.once('close', () => reject(new ConnectError(`the HTTP/2 stream to ${url.href} was reset (code ${stream.rstCode ?? 0}) before a response`, url.hostname, url.port)));
    });
  } catch (error) {
    stream.destroy();
    throw failure(error, url);
  }
  const status = Number(response[':status']);
  const flat = flatten(response);
  if (REDIRECTS.has(status) && settings.maxRedirects > 0) {
    // An HTTP/2 redirect ends the stream, not the session: the session's other WebSockets go on.
    stream.close();
    const location = response['location'];
    return { redirect: true, status, location: Array.isArray(location) ? location[0] : location, headers: flat };
  }
  if (status < 200 || status > 299) {
    const body = await readBody(stream);
    throw new HandshakeError(`${url.href} refused the WebSocket over HTTP/2: ${status}`, status, flat, body);
  }
  try {
    const check = checkH2ConnectResponse(status, response, settings.protocols, settings.extensions.map((e) => e.name));
    if (!check.ok) throw new HandshakeError(`invalid handshake response from ${url.href}: ${check.reason}`, status, flat);
    const codecs: MessageCodec[] = [];
    for (const accepted of check.extensions) {
      const codec = settings.extensions.find((e) => e.name === accepted.name)?.accept(accepted) ?? `extension ${accepted.name} was not offered`;
      if (typeof codec === 'string') {
        for (const c of codecs) c.close();
        throw new HandshakeError(`invalid handshake response from ${url.href}: ${codec}`, status, flat);
      }
      codecs.push(codec);
    }
    const init: ConnectionInit = { options: settings.connection, role: 'client', url: url.href, protocol: check.protocol, codecs, transport: 'http2' };
    const ws = new WebSocket(stream, init);
    stream.off('error', noop);
    return ws;
  } catch (error) {
    stream.destroy();
    throw error;
  }
}

/** A session failure as connect() reports it; an abort or timeout as the HTTP/1.1 path does. */
function failure(error: unknown, url: WebSocketURL): unknown {
  if (error instanceof SessionError) {
    return error.connect ? new ConnectError(error.message, url.hostname, url.port, { cause: error.cause }) : new HandshakeError(error.message, 200, {}, '', { cause: error });
  }
  if (error instanceof DOMException && error.name === 'TimeoutError') {
    return new ConnectError(`${url.href}: ${error.message}`, url.hostname, url.port, { timedOut: true, cause: error });
  }
  if (error instanceof ConnectError || error instanceof HandshakeError) return error;
  return new ConnectError(`connecting to ${url.href} over HTTP/2 failed`, url.hostname, url.port, { cause: error });
}

function flatten(headers: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(headers)) {
    if (name.startsWith(':')) continue;
    const v = headers[name];
    out[name] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

async function readBody(stream: http2.ClientHttp2Stream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_BODY) break;
    }
  } catch {
    // A reset mid-body: what was read is what we show.
  }
  stream.destroy();
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}

function noop(): void {}
