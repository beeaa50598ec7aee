/**
 * Reading the server's answer head to an upgrade request (or a proxy's to CONNECT) straight off
 * the socket with the core's HTTP head parser, not node:http, whose client would own the socket
 * and hide the bytes that follow the 101.
 */
import type { Socket } from 'node:net';
import { HttpHeadParser, type HttpHead, type HttpHeadLimits } from '../core/http-head.js';
import { abortedError, describe, hostPort } from './dial.js';
import { ConnectError, HandshakeError } from './errors.js';
import { readPaused } from './paused-read.js';

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
  const { host, port } = options;
  const parser = new HttpHeadParser('response', options.limits);
  return readPaused<ResponseHead>(socket, {
    signal: options.signal,
    take(chunk) {
      const result = parser.push(chunk);
      if (result.state === 'complete') return { head: result.head, status: Number(result.head.startLine[1]), rest: result.rest };
      if (result.state === 'error') throw new HandshakeError(`invalid HTTP response from ${hostPort(host, port)}: ${result.reason}`, 0);
      return undefined;
    },
    ended: () => new HandshakeError(`${hostPort(host, port)} closed the connection before completing its HTTP response`, 0),
    errored: (err) =>
      new ConnectError(`connection to ${hostPort(host, port)} failed during the handshake: ${describe(err)}`, host, port, { cause: err }),
    aborted: (signal) => abortedError(host, port, signal),
    destroyed: () => new HandshakeError(`${hostPort(host, port)} closed the connection before answering`, 0),
  });
}
