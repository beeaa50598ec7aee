/**
 * The client's transport: dialing TCP or TLS, and the ConnectError of a dial that failed. The
 * answer to the upgrade request is read by response-head.ts and, for a refusal, response-body.ts.
 *
 * Every function of the client's transport leaves nothing behind: on any failure the socket is
 * destroyed and every listener and timer it added is removed; on success only the socket remains,
 * with no listener of ours attached, ready for the WebSocket to take over.
 */
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type SecureContextOptions } from 'node:tls';
import { ConnectError } from './errors.js';
import { destroyQuietly } from './paused-read.js';
import { connectBurstReads } from './read-buffers.js';
import { WheelTimer } from './timer-wheel.js';

/** TLS settings for `wss:` URLs; each one is passed to `tls.connect`. */
export interface TlsDialOptions {
  /** Trusted CA certificates (PEM) instead of Node's bundled roots; how a self-signed server is trusted. */
  ca?: SecureContextOptions['ca'];
  /** Client certificate chain (PEM), for servers that ask for one. */
  cert?: SecureContextOptions['cert'];
  /** Private key (PEM) of `cert`. */
  key?: SecureContextOptions['key'];
  /** Passphrase of `key`. */
  passphrase?: string;
  /**
   * Verify the server's certificate against the CAs and the host name; default true. Turning it
   * off makes the connection readable by anyone on the path, so it is for tests only.
   */
  rejectUnauthorized?: boolean;
  /**
   * Server name sent in SNI and checked against the certificate; default the URL's host name,
   * and none for an IP literal (RFC 6066 section 3 does not allow literal addresses in SNI).
   */
  servername?: string;
}

/** Where and how to dial. */
export interface DialOptions {
  /** A DNS name or an IP literal (IPv6 without brackets). */
  host: string;
  port: number;
  /** Present for TLS (`wss:`); absent or false for plain TCP. */
  tls?: TlsDialOptions | false;
  /** Aborts the dial; the socket is destroyed and the promise rejects with a ConnectError. */
  signal?: AbortSignal;
  /** Milliseconds until the dial (including the TLS handshake) gives up; 0 or absent: no bound of its own. */
  timeout?: number;
  /**
   * With `tls`: run the TLS handshake over this already open stream (a proxy's tunnel, see
   * node/proxy/route.ts) instead of dialing host:port; `host` still names the server for SNI and
   * the certificate check.
   */
  socket?: Socket;
  /**
   * With `tls`: the ALPN protocols to offer, most preferred first; default `['http/1.1']`.
   * connect()'s `transport: 'auto'` offers `['h2', 'http/1.1']` and reads `alpnProtocol` after.
   */
  alpn?: readonly string[];
}

/**
 * True when an abort reason means "time is up" rather than "the caller gave up": a DOMException
 * or Error named 'TimeoutError', as `AbortSignal.timeout()` produces and as connect() uses for
 * its handshake timeout.
 */
function isTimeoutReason(reason: unknown): boolean {
  return typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
}

/** The ConnectError for an aborted signal: a timeout when its reason says so, the reason as cause. */
export function abortedError(host: string, port: number, signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  const timedOut = isTimeoutReason(reason);
  const detail = reason instanceof Error && reason.message !== '' ? reason.message : timedOut ? 'timed out' : 'aborted';
  return new ConnectError(
    `${timedOut ? 'timed out' : 'aborted'} connecting to ${hostPort(host, port)}: ${detail}`,
    host,
    port,
    { cause: reason, timedOut },
  );
}

/** host:port with IPv6 in brackets, for messages. */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A Node error for a message: its message, led by its code (ECONNREFUSED, ...) unless the message names it. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

/**
 * Opens a TCP connection, or a TLS one when `options.tls` is set, and resolves once it is ready
 * (after the TLS handshake and certificate check). DNS, TCP and TLS failures reject with a
 * ConnectError whose `cause` is Node's error; an abort or the timeout rejects with a ConnectError
 * too (`timedOut` true for the timeout).
 */
export function dial(options: DialOptions): Promise<Socket> {
  const { host, port, signal } = options;
  return new Promise<Socket>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(host, port, signal));
      return;
    }
    let socket: Socket;
    const tls = options.tls;
    try {
      socket = tls
        ? tlsConnect({
            host,
            port,
            socket: options.socket,
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
            passphrase: tls.passphrase,
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
            // RFC 6066 section 3: "Literal IPv4 and IPv6 addresses are not permitted in HostName".
            servername: tls.servername ?? (isIP(host) === 0 ? host : undefined),
            // An HTTP/1.1 upgrade: say so, so that a server that also speaks h2 does not pick it.
            ALPNProtocols: options.alpn !== undefined ? [...options.alpn] : ['http/1.1'],
          })
        : // Plain TCP reads bursts into larger buffers (see read-buffers.ts). TLS sockets keep
          // Node's reads: their data arrives decrypted, a record (16 KiB at most) at a time.
          connectBurstReads(host, port);
    } catch (err) {
      // Synchronous throws are bad arguments (an invalid port, a malformed key).
      reject(new ConnectError(`cannot connect to ${hostPort(host, port)}: ${describe(err)}`, host, port, { cause: err }));
      return;
    }
    const readyEvent = tls ? 'secureConnect' : 'connect';
    let timer: WheelTimer | undefined;

    const cleanup = (): void => {
      socket.off(readyEvent, onReady);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
      timer?.cancel();
    };
    const fail = (error: ConnectError): void => {
      cleanup();
      destroyQuietly(socket);
      reject(error);
    };
    const onReady = (): void => {
      cleanup();
      // Handshake and frames are written whole; Nagle would only delay them.
      socket.setNoDelay(true);
      resolve(socket);
    };
    const onError = (err: Error): void => {
      fail(new ConnectError(`cannot connect to ${hostPort(host, port)}: ${describe(err)}`, host, port, { cause: err }));
    };
    const onAbort = (): void => {
      fail(abortedError(host, port, signal!));
    };

    socket.once(readyEvent, onReady);
    socket.on('error', onError);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (options.timeout !== undefined && options.timeout > 0) {
      const ms = options.timeout;
      // Ref'd, as a setTimeout: the caller awaits the dial.
      timer = new WheelTimer(
        () => fail(new ConnectError(`timed out connecting to ${hostPort(host, port)} after ${ms} ms`, host, port, { timedOut: true })),
        { ref: true },
      );
      timer.schedule(ms);
    }
  });
}
