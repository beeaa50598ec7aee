/**
 * The client's HTTP/2 sessions for WebSocket over HTTP/2 (RFC 8441): one session per origin,
 * shared by every WebSocket to it (each WebSocket is one stream), opened on first use (TLS with
 * ALPN h2 for wss:, prior-knowledge h2c for ws:), ready once the server's SETTINGS arrived with
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, and closed a short while after its last stream ends. A
 * session that received GOAWAY (or failed) is forgotten at once, so new WebSockets get a new one
 * while the old session's streams finish.
 */
import type * as http2 from 'node:http2';
import { isIP, type Socket } from 'node:net';
import type { TlsDialOptions } from './dial.js';
import { WEBSOCKET_WINDOWS, widenReceiveWindows } from './http2-windows.js';

/**
 * How long an idle session (no stream left) stays open for the next WebSocket to the same
 * origin: 1 s, long enough for a reconnect or a page's next socket, short enough not to hold a
 * server's slot. Its socket does not keep the process alive meanwhile.
 */
const SESSION_LINGER = 1_000;

/** Where to open a session. */
export interface SessionTarget {
  readonly secure: boolean;
  readonly hostname: string;
  readonly port: number;
  readonly tls: TlsDialOptions;
}

/** Why a session cannot carry WebSockets; `connect` is true for failures before any HTTP/2 was spoken. */
export class SessionError extends Error {
  constructor(
    message: string,
    readonly connect: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Entry {
  readonly session: http2.ClientHttp2Session;
  readonly ready: Promise<void>;
  streams: number;
  linger: NodeJS.Timeout | null;
}

const pool = new Map<string, Entry>();

function keyOf(target: SessionTarget): string {
  // TLS settings are part of the key: a session verified with other CAs is not shared.
  return `${target.secure ? 'https' : 'http'}://${target.hostname}:${target.port}#${target.secure ? JSON.stringify(target.tls) : ''}`;
}

function openSession(key: string, target: SessionTarget, socket?: Socket): Entry {
  const host = target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname;
  const authority = `${target.secure ? 'https' : 'http'}://${host}:${target.port}`;
  const options: http2.SecureClientSessionOptions =
    socket !== undefined
      ? { createConnection: () => socket }
      : target.secure
        ? { ...target.tls, ALPNProtocols: ['h2'], servername: target.tls.servername ?? (isIP(target.hostname) ? '' : target.hostname) }
        : {};
  // Loaded on first use only (see http2-streams.ts).
  const session = process.getBuiltinModule('node:http2').connect(authority, options);
  // Every stream of this session is a WebSocket of ours.
  widenReceiveWindows(session, WEBSOCKET_WINDOWS);
  const forget = (): void => {
    if (pool.get(key) === entry) pool.delete(key);
  };
  let settled = false;
  const ready = new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', (settings) => {
      settled = true;
      if (settings.enableConnectProtocol === true) return resolve();
      forget();
      session.close();
      reject(new SessionError(`${authority} speaks HTTP/2 but does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): it cannot carry WebSockets over HTTP/2`, false));
    });
    session.once('error', (error) => {
      forget();
      if (!settled) reject(new SessionError(`cannot open an HTTP/2 session to ${authority}: ${error.message}`, true, { cause: error }));
    });
    session.once('close', () => {
      forget();
      if (!settled) reject(new SessionError(`the HTTP/2 session to ${authority} closed before its SETTINGS arrived`, true));
    });
  });
  // Errors after the session was ready reach its streams (and so each WebSocket); this keeps
  // one from being an uncaught 'error'.
  session.on('error', () => {});
  session.on('goaway', forget);
  const entry: Entry = { session, ready, streams: 0, linger: null };
  return entry;
}

/**
 * True when the origin has a session that may carry new WebSockets (open, no GOAWAY received):
 * `transport: 'auto'` then uses it rather than a connection of its own, as Chromium does.
 */
export function hasSession(target: SessionTarget): boolean {
  const entry = pool.get(keyOf(target));
  return entry !== undefined && !entry.session.closed && !entry.session.destroyed;
}

/**
 * Makes `socket`, a TLS connection to the target on which ALPN chose h2, the origin's session,
 * so that the next openConnectStream uses it. When a session appeared meanwhile (another connect
 * was quicker), that one is kept and the socket is closed.
 */
export function adoptSession(target: SessionTarget, socket: Socket): void {
  const key = keyOf(target);
  if (hasSession(target)) {
    socket.destroy();
    return;
  }
  pool.set(key, openSession(key, target, socket));
}

/**
 * Opens an extended CONNECT stream with `headers` on the origin's shared session (opening the
 * session first when there is none), once the server has advertised the setting. Rejects with a
 * SessionError when the session cannot be opened or cannot carry WebSockets, with the signal's
 * reason when it aborts first.
 */
export async function openConnectStream(target: SessionTarget, headers: http2.OutgoingHttpHeaders, signal: AbortSignal): Promise<http2.ClientHttp2Stream> {
  const key = keyOf(target);
  let entry = pool.get(key);
  if (entry === undefined || entry.session.closed || entry.session.destroyed) {
    entry = openSession(key, target);
    pool.set(key, entry);
  }
  const current = entry;
  // Counted while waiting too, so the session does not linger away under a pending request.
  hold(current);
  let stream: http2.ClientHttp2Stream;
  try {
    await abortable(current.ready, signal);
    stream = current.session.request(headers, { endStream: false });
  } catch (error) {
    release(current);
    throw error;
  }
  stream.once('close', () => release(current));
  return stream;
}

function hold(entry: Entry): void {
  entry.streams++;
  if (entry.linger !== null) {
    clearTimeout(entry.linger);
    entry.linger = null;
  }
  entry.session.ref();
}

function release(entry: Entry): void {
  if (--entry.streams > 0) return;
  const { session } = entry;
  if (session.closed || session.destroyed) return;
  // An idle session must not keep the process alive; it closes after the linger.
  session.unref();
  entry.linger = setTimeout(() => {
    entry.linger = null;
    if (entry.streams === 0) {
      for (const [key, value] of pool) if (value === entry) pool.delete(key);
      session.close();
    }
  }, SESSION_LINGER);
  entry.linger.unref();
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
