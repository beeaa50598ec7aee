/**
 * Reading the body of a response that refused the upgrade (a 401 or 403 page), bounded in size
 * and time, so that a client can show it in its error.
 */
import type { Socket } from 'node:net';
import type { HttpHead } from '../core/http-head.js';
import { concatBytes } from './concat-bytes.js';
import { ChunkedDecoder } from './chunked-decoder.js';
import { destroyQuietly } from './paused-read.js';
import type { ResponseHead } from './response-head.js';
import { WheelTimer } from './timer-wheel.js';

/** Largest body kept from a refusal (a 401 or 403 page): enough for any error page, bounded against a hostile one. */
const DEFAULT_MAX_BODY_SIZE = 64 * 1024;

/** Longest wait for a refusal's body once its head arrived: the error should not wait on a slow page. */
export const DEFAULT_BODY_TIMEOUT = 2000;

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
      destroyQuietly(socket);
      resolve(concatBytes(parts, size));
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

