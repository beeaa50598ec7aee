/**
 * The HTTP/2 transport of the upgrade pipeline (see upgrade-pipeline.ts): an extended CONNECT with
 * `:protocol websocket` (RFC 8441) on a stream of an `http2.createServer()` or
 * `http2.createSecureServer()` becomes an UpgradeInput, runs the very checks an HTTP/1.1 upgrade
 * runs (routes, origins, subprotocols, accept hooks, headers, permessage-deflate, maxConnections),
 * and is answered on its stream: `:status 200`, or the refusal with the same status as over
 * HTTP/1.1. The stream, a Duplex, then carries the WebSocket's frames; each WebSocket is one stream,
 * so maxConnections counts WebSockets, not TCP connections.
 *
 * Streams are taken from the server's 'stream' event, not from the compatibility layer's
 * 'request'/'connect' events: with a 'request' listener and no 'connect' listener that layer
 * answers every CONNECT with 405 (nodejs/node#36977). A 'connect' listener of ours keeps it from
 * doing so for extended CONNECT, and answers a plain CONNECT with that same 405 when nobody else
 * listens, so the user's server behaves as before for everything else.
 */
import { acceptedWebSocket } from './accepted-websocket.js';
import type * as http2 from 'node:http2';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpRefusal } from '../core/handshake.js';
import { buildH2Response, checkH2ConnectRequest, type H2RequestFacts } from '../core/handshake-h2.js';
import { cancelStream, enableConnectProtocol, respondAccepted, respondRefusal, type Http2AnyServer } from '../node/http2-streams.js';
import { MAX_WINDOW, MIN_WINDOW, WEBSOCKET_WINDOWS, widenReceiveWindows, type WindowSizes } from '../node/http2-windows.js';
import { InvalidArgumentError } from '../core/errors.js';
import { count as countOption, shown } from './options/checks.js';
import { internalErrorRefusal, timeoutRefusal } from '../node/upgrade.js';
import type { Http1Host } from './http1-upgrade.js';
import {
  ABANDONED,
  acceptUpgrade,
  askAcceptHooks,
  isRefusal,
  shuttingDown,
  type UpgradeDecision,
  type UpgradeInput,
} from './upgrade-pipeline.js';
import { decideOrRefuse, PendingUpgrade } from './upgrade-transport.js';
import { WebSocket } from './websocket.js';

/** What the HTTP/2 transport needs of the server: the HTTP/1.1 transport's host, without its socket-level guard. */
type Http2Host = Omit<Http1Host, 'takeGuard'>;

/** Options of attaching to an HTTP/2 server (`server.attach(h2server, options)`). */
export interface Http2AttachOptions {
  /**
   * Answer a Sec-WebSocket-Key that a client sent on an extended CONNECT with the matching
   * Sec-WebSocket-Accept. RFC 8441 has neither header, but undici's client sends the key and fails
   * without the accept; a strict client ignores it. Default true, so that undici connects; false
   * answers exactly as RFC 8441 says.
   */
  secWebSocketAccept?: boolean;
  /**
   * The HTTP/2 receive windows of a session once it carries a WebSocket, in bytes: `stream` per
   * stream (SETTINGS_INITIAL_WINDOW_SIZE, which applies to the session's other streams too),
   * `session` for the whole connection. Node opens sessions with 65,535 bytes for each, which
   * holds a WebSocket to 64 KiB per round trip. Default `{ stream: 1048576, session: 16777216 }`;
   * a window the server already has wider stays as it is. From 65,535 to 2^31 - 1. `false` leaves
   * the sessions' windows as they are. See docs/http2.md, "Flow control".
   */
  windows?: { stream?: number; session?: number } | false;
}

/** What one attach decided for every stream it serves. */
interface AttachSettings {
  readonly answerKey: boolean;
  /** null: leave the sessions' windows alone. */
  readonly windows: WindowSizes | null;
}

/** Checks `windows` of the attach options; throws InvalidArgumentError naming what is wrong. */
function attachWindows(value: Http2AttachOptions['windows']): WindowSizes | null {
  if (value === false) return null;
  if (value === undefined) return WEBSOCKET_WINDOWS;
  if (value === null || typeof value !== 'object') throw new InvalidArgumentError(`windows must be an object or false, got ${shown(value)}`);
  const windows = {
    stream: countOption('windows.stream', value.stream, WEBSOCKET_WINDOWS.stream, MIN_WINDOW, false),
    session: countOption('windows.session', value.session, WEBSOCKET_WINDOWS.session, MIN_WINDOW, false),
  };
  for (const [name, size] of Object.entries(windows)) {
    if (size > MAX_WINDOW) throw new InvalidArgumentError(`windows.${name} must be at most ${MAX_WINDOW} (HTTP/2's largest window), got ${size}`);
  }
  return windows;
}

/** The facts of an RFC 8441 request, as the pipeline hands them on. */
type H2Facts = H2RequestFacts;

/**
 * Serves extended CONNECT on `server`: turns on SETTINGS_ENABLE_CONNECT_PROTOCOL and listens for
 * streams. Returns the function that detaches again (the server keeps running).
 */
export function attachHttp2(host: Http2Host, server: Http2AnyServer, options: Http2AttachOptions = {}): () => void {
  const settings: AttachSettings = { answerKey: options.secWebSocketAccept !== false, windows: attachWindows(options.windows) };
  enableConnectProtocol(server, []);
  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders?: string[]): void => {
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] === undefined) return;
    void upgradeHttp2(host, stream, headers, rawHeaders ?? flatten(headers), settings);
  };
  const onConnect = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
    // Extended CONNECT is ours, handled from 'stream'; a plain CONNECT gets what Node would
    // have answered had we not listened, unless the application listens too.
    if (req.headers[':protocol'] !== undefined) return;
    if (server.listenerCount('connect') === 1) {
      res.statusCode = 405;
      res.end();
    }
  };
  server.on('stream', onStream);
  server.on('connect', onConnect);
  return () => {
    server.off('stream', onStream);
    server.off('connect', onConnect);
  };
}

/** Header pairs for the head-size and field-count limits when Node did not hand the raw list. */
function flatten(headers: http2.IncomingHttpHeaders): string[] {
  const raw: string[] = [];
  for (const name of Object.keys(headers)) {
    const v = headers[name];
    for (const value of Array.isArray(v) ? v : [v]) raw.push(name, String(value));
  }
  return raw;
}

/**
 * Runs the upgrade pipeline on one extended CONNECT and answers it. Resolves with the connection,
 * or null when it was refused or the stream went away meanwhile. Never rejects.
 */
async function upgradeHttp2(
  host: Http2Host,
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  rawHeaders: readonly string[],
  settings: AttachSettings,
): Promise<WebSocket | null> {
  // A peer reset during the handshake must not crash the process; the WebSocket's driver adds
  // its own listener once it owns the stream.
  stream.on('error', noop);
  // Handed to hooks and handlers as `req`, as the compatibility layer would make it: headers,
  // url (:path), method, httpVersion '2.0', socket.
  // node:http2 is loaded only by programs that use it (see node/http2-streams.ts); here it is.
  const { Http2ServerRequest } = process.getBuiltinModule('node:http2');
  const req = new Http2ServerRequest(stream, headers, {}, rawHeaders as string[]) as unknown as IncomingMessage;
  const input: UpgradeInput<H2Facts> = {
    req,
    method: String(headers[':method'] ?? ''),
    url: String(headers[':path'] ?? ''),
    httpVersion: '2.0',
    headers: headers as UpgradeInput['headers'],
    rawHeaders,
    handshake: (i) => checkH2ConnectRequest(i.headers),
  };
  host.begin();
  const count = new PendingUpgrade(host, req);
  const refuse = (answer: HttpRefusal): null => {
    count.end();
    host.refused(req, answer);
    respondRefusal(stream, answer);
    return null;
  };
  const decision = decideOrRefuse(input, host);
  if (isRefusal(decision)) return refuse(decision);
  let data: { value: unknown } | undefined;
  if (decision.info !== null) {
    // Accept hooks may be async: the handshake timeout bounds them, close() refuses at once.
    let expired = false;
    let settled = false;
    const timeout = host.options.handshakeTimeout;
    const timer =
      timeout > 0 && Number.isFinite(timeout)
        ? setTimeout(() => {
            expired = true;
            if (!settled) refuse(timeoutRefusal());
          }, timeout)
        : undefined;
    host.inflight.set(stream, () => {
      if (settled || expired) return;
      settled = true;
      refuse(shuttingDown());
    });
    try {
      const outcome = await askAcceptHooks(input, decision, host, {
        get abandoned(): boolean {
          return expired || settled || stream.destroyed || stream.closed;
        },
      });
      if (expired || settled) return null;
      settled = true;
      if (outcome === ABANDONED) {
        count.end();
        return null;
      }
      if (isRefusal(outcome)) return refuse(outcome);
      data = outcome.data;
    } catch (error) {
      settled = true;
      host.reportError(error, req);
      return refuse(internalErrorRefusal());
    } finally {
      clearTimeout(timer);
      host.inflight.delete(stream);
    }
  }
  return open(host, input, stream, decision, settings, data, count, refuse);
}

/** Answers 200 and wraps the stream in a WebSocket; the upgrade is still counted, and this ends that on every way out. */
function open(
  host: Http2Host,
  input: UpgradeInput<H2Facts>,
  stream: http2.ServerHttp2Stream,
  decision: UpgradeDecision<H2Facts>,
  settings: AttachSettings,
  data: { value: unknown } | undefined,
  count: PendingUpgrade,
  refuse: (answer: HttpRefusal) => null,
): WebSocket | null {
  const req = input.req;
  let written = false;
  try {
    const accepted = acceptUpgrade(input, decision, host, data);
    // Throws for extra headers HTTP/2 cannot carry or that name the handshake's own.
    const block = buildH2Response({
      protocol: accepted.protocol,
      extensions: accepted.extensions,
      headers: accepted.headers,
      key: settings.answerKey ? decision.facts.key : undefined,
    });
    written = respondAccepted(stream, block);
    if (!written) {
      // The client reset the stream while an accept hook ran.
      count.end();
      return null;
    }
    // Widened once the session carries an accepted WebSocket, not for refused requests.
    if (settings.windows !== null && stream.session !== undefined) widenReceiveWindows(stream.session, settings.windows);
    const ws = acceptedWebSocket(host, stream as Duplex, req, accepted, { transport: 'http2' });
    stream.off('error', noop);
    // host.opened moves it from pending to open itself (as for HTTP/1.1).
    count.handedOver();
    host.opened(ws, req, accepted);
    return ws;
  } catch (error) {
    host.reportError(error, req);
    if (!written) return refuse(internalErrorRefusal());
    count.end();
    // Past the point where an HTTP answer is possible: the 200 is on the wire.
    cancelStream(stream);
    stream.destroy();
    return null;
  }
}

function noop(): void {}
