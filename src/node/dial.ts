/**
 * The client's transport: dialing TCP or TLS, and reading the server's answer to the upgrade
 * request straight off the socket with the core's HTTP head parser (not node:http, whose client
 * would own the socket and hide the bytes that follow the 101).
 *
 * Every function here leaves nothing behind: on any failure the socket is destroyed and every
 * listener and timer it added is removed; on success only the socket remains, with no listener
 * of ours attached, ready for the WebSocket to take over.
 */
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type SecureContextOptions } from 'node:tls';
import { ConnectError, HandshakeError } from './errors.js';
import { HttpHeadParser, type HttpHead, type HttpHeadLimits } from '../core/http-head.js';
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

/** Largest body kept from a refusal (a 401 or 403 page): enough for any error page, bounded against a hostile one. */
const DEFAULT_MAX_BODY_SIZE = 64 * 1024;

/** Longest wait for a refusal's body once its head arrived: the error should not wait on a slow page. */
export const DEFAULT_BODY_TIMEOUT = 2000;

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
function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  }
  return String(err);
}

/** A no-op 'error' listener left on sockets we destroyed, so a late error cannot crash the process. */
function ignore(): void {}

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
      socket.on('error', ignore);
      socket.destroy();
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

/** The server's answer head and whatever bytes followed it in the same reads. */
export interface ResponseHead {
  head: HttpHead;
  /** HTTP status code from the status line. */
  status: number;
  /** Bytes after the blank line: the first WebSocket frames after a 101, the body start otherwise. */
  rest: Uint8Array;
}

/** How to read a response head. */
interface ReadHeadOptions {
  /** For error messages and ConnectError fields. */
  host: string;
  port: number;
  signal?: AbortSignal;
  limits?: HttpHeadLimits;
}

/**
 * Reads the response head off a freshly written-to socket. Reads in paused mode (`read()`), so
 * nothing after the head is consumed from the socket: the bytes that came in the same reads are
 * returned in `rest`, the rest stays buffered in the socket for whoever reads it next.
 *
 * Rejects with a HandshakeError (status 0) when the head is malformed, too large, or the server
 * closes before finishing it; with a ConnectError on a socket error or an abort. On rejection the
 * socket is destroyed.
 */
export function readResponseHead(socket: Socket, options: ReadHeadOptions): Promise<ResponseHead> {
  const { host, port, signal } = options;
  return new Promise<ResponseHead>((resolve, reject) => {
    const parser = new HttpHeadParser('response', options.limits);
    let settled = false;

    const cleanup = (): void => {
      settled = true;
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      cleanup();
      socket.on('error', ignore);
      socket.destroy();
      reject(error);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = socket.read() as Buffer | null) !== null) {
        const result = parser.push(chunk);
        if (result.state === 'complete') {
          const status = Number(result.head.startLine[1]);
          cleanup();
          resolve({ head: result.head, status, rest: result.rest });
          return;
        }
        if (result.state === 'error') {
          fail(new HandshakeError(`invalid HTTP response from ${hostPort(host, port)}: ${result.reason}`, 0));
          return;
        }
      }
    };
    const onEnd = (): void => {
      fail(new HandshakeError(`${hostPort(host, port)} closed the connection before completing its HTTP response`, 0));
    };
    const onError = (err: Error): void => {
      fail(new ConnectError(`connection to ${hostPort(host, port)} failed during the handshake: ${describe(err)}`, host, port, { cause: err }));
    };
    const onAbort = (): void => {
      fail(abortedError(host, port, signal!));
    };

    if (signal?.aborted) {
      fail(abortedError(host, port, signal));
      return;
    }
    if (socket.destroyed) {
      fail(new HandshakeError(`${hostPort(host, port)} closed the connection before answering`, 0));
      return;
    }
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    signal?.addEventListener('abort', onAbort, { once: true });
    // Adding the listener emits 'readable' again if data is already buffered.
    socket.on('readable', onReadable);
  });
}

/** Bounds on reading a refusal's body. */
interface ReadBodyOptions {
  /** Most bytes kept; default DEFAULT_MAX_BODY_SIZE. Reading stops there. */
  maxBytes?: number;
  /** Most milliseconds spent waiting; default DEFAULT_BODY_TIMEOUT. */
  timeout?: number;
  signal?: AbortSignal;
}

/** Statuses that never have a body (RFC 9112 section 6.3). */
function hasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}

function headerValue(head: HttpHead, name: string): string | undefined {
  const value = head.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * Reads the body of a response that refused the upgrade, so a caller can show a 401 or 403 page,
 * then destroys the socket. Uses Content-Length when given, decodes chunked transfer coding, and
 * otherwise reads until the server closes; in every case stops at `maxBytes` or after `timeout`
 * ms, returning what it has. Never rejects: a broken body is still a handshake failure to report.
 */
export function readResponseBody(socket: Socket, response: ResponseHead, options: ReadBodyOptions = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BODY_SIZE;
  const timeout = options.timeout ?? DEFAULT_BODY_TIMEOUT;
  const { signal } = options;
  const { head, status } = response;

  const transferEncoding = headerValue(head, 'transfer-encoding');
  const chunked = transferEncoding !== undefined && lastToken(transferEncoding) === 'chunked';
  const lengthHeader = headerValue(head, 'content-length');
  // RFC 9112 section 6.3: Transfer-Encoding overrides Content-Length. A malformed or repeated
  // length is treated as absent: read to close, still bounded.
  const declared = !chunked && lengthHeader !== undefined && isDigits(lengthHeader) ? Number(lengthHeader) : undefined;
  const wanted = hasNoBody(status) ? 0 : Math.min(declared ?? maxBytes, maxBytes);

  return new Promise<Uint8Array>((resolve) => {
    const parts: Uint8Array[] = [];
    let size = 0;
    let timer: WheelTimer | undefined;
    const decoder = chunked ? new ChunkedDecoder() : undefined;
    let done = false;

    const finish = (): void => {
      if (done) return;
      done = true;
      socket.off('readable', onReadable);
      socket.off('end', finish);
      socket.off('close', finish);
      socket.off('error', finish);
      signal?.removeEventListener('abort', finish);
      timer?.cancel();
      socket.on('error', ignore);
      socket.destroy();
      resolve(concat(parts, size));
    };
    const take = (bytes: Uint8Array): void => {
      const body = decoder ? decoder.push(bytes) : bytes;
      const room = wanted - size;
      if (body.length > 0 && room > 0) {
        const piece = body.length > room ? body.subarray(0, room) : body;
        parts.push(piece);
        size += piece.length;
      }
      if (size >= wanted || decoder?.done === true) finish();
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!done && (chunk = socket.read() as Buffer | null) !== null) take(chunk);
    };

    if (wanted === 0 || signal?.aborted) {
      finish();
      return;
    }
    take(response.rest);
    if (done) return;
    if (socket.destroyed) {
      finish();
      return;
    }
    timer = new WheelTimer(finish, { ref: true });
    timer.schedule(timeout);
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    signal?.addEventListener('abort', finish, { once: true });
    socket.on('readable', onReadable);
  });
}

function isDigits(value: string): boolean {
  if (value.length === 0 || value.length > 15) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** The last element of a comma list, trimmed and lower-cased (the coding applied last). */
function lastToken(value: string): string {
  const comma = value.lastIndexOf(',');
  return value.slice(comma + 1).trim().toLowerCase();
}

function concat(parts: readonly Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const enum ChunkState {
  Size,
  Extension,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  Trailer,
  Done,
}

/** Longest chunk-size line we accept in hex digits: 13 digits exceed any length we would keep. */
const MAX_SIZE_DIGITS = 13;

/**
 * Decodes HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1) incrementally, one byte state
 * at a time, so chunk boundaries may fall anywhere. Extensions and trailers are skipped; a
 * malformed stream simply ends the body (`done`), since the body is only shown to a user.
 */
export class ChunkedDecoder {
  private state = ChunkState.Size;
  private remaining = 0;
  private digits = 0;
  /** Characters of the current trailer line, to find the empty line that ends the message. */
  private lineLength = 0;

  /** True once the last chunk (and its trailers) was read, or the coding was malformed. */
  get done(): boolean {
    return this.state === ChunkState.Done;
  }

  /** Feeds encoded bytes; returns the body bytes they carried (views into `input` where possible). */
  push(input: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    let total = 0;
    let i = 0;
    while (i < input.length && this.state !== ChunkState.Done) {
      if (this.state === ChunkState.Data) {
        const n = Math.min(this.remaining, input.length - i);
        out.push(input.subarray(i, i + n));
        total += n;
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = ChunkState.DataCR;
        continue;
      }
      const c = input[i++]!;
      switch (this.state) {
        case ChunkState.Size: {
          const v = hexValue(c);
          if (v >= 0 && this.digits < MAX_SIZE_DIGITS) {
            this.remaining = this.remaining * 16 + v;
            this.digits++;
          } else if (this.digits > 0 && (c === 0x3b /* ; */ || c === 0x20 || c === 0x09)) {
            this.state = ChunkState.Extension;
          } else if (this.digits > 0 && c === 0x0d) {
            this.state = ChunkState.SizeLF;
          } else if (this.digits > 0 && c === 0x0a) {
            this.endSizeLine();
          } else {
            this.state = ChunkState.Done;
          }
          break;
        }
        case ChunkState.Extension:
          if (c === 0x0a) this.endSizeLine();
          break;
        case ChunkState.SizeLF:
          if (c === 0x0a) this.endSizeLine();
          else this.state = ChunkState.Done;
          break;
        case ChunkState.DataCR:
          if (c === 0x0d) this.state = ChunkState.DataLF;
          else if (c === 0x0a) this.state = ChunkState.Size;
          else this.state = ChunkState.Done;
          break;
        case ChunkState.DataLF:
          this.state = c === 0x0a ? ChunkState.Size : ChunkState.Done;
          break;
        case ChunkState.Trailer:
          // Trailer fields until an empty line; only line lengths matter.
          if (c === 0x0a) {
            if (this.lineLength === 0) this.state = ChunkState.Done;
            this.lineLength = 0;
          } else if (c !== 0x0d) {
            this.lineLength++;
          }
          break;
      }
    }
    if (out.length === 1) return out[0]!;
    return concat(out, total);
  }

  private endSizeLine(): void {
    this.digits = 0;
    if (this.remaining === 0) {
      this.state = ChunkState.Trailer;
      this.lineLength = 0;
    } else {
      this.state = ChunkState.Data;
    }
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
