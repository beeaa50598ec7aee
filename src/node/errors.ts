/**
 * The errors the Node layer raises (dialing, the handshake it reads, the driver's bounds); see
 * core/errors.ts for the codes and the base class.
 */
import { ErrorCode, ProtocolError, WebSocketError } from '../core/errors.js';

/** The server answered the upgrade request with something other than a valid `101`. */
export class HandshakeError extends WebSocketError<typeof ErrorCode.Handshake> {
  /** HTTP status the peer sent (0 if it sent no parsable status line). */
  readonly status: number;
  /** Response headers, names lower-cased; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The response body, as far as it was read (bounded), decoded as UTF-8. */
  readonly body: string;

  constructor(message: string, status = 0, headers: Record<string, string> = {}, body = '', options?: { cause?: unknown }) {
    super(ErrorCode.Handshake, message, options);
    this.status = status;
    this.headers = headers;
    this.body = body;
  }
}

/** The transport could not be established: DNS, TCP, TLS, a handshake timeout, an abort. */
export class ConnectError extends WebSocketError<typeof ErrorCode.Connect> {
  readonly host: string;
  readonly port: number;
  /** True when the failure was a timeout (`handshakeTimeout`) rather than a refusal. */
  readonly timedOut: boolean;

  constructor(message: string, host: string, port: number, options?: { cause?: unknown; timedOut?: boolean }) {
    super(ErrorCode.Connect, message, options);
    this.host = host;
    this.port = port;
    this.timedOut = options?.timedOut ?? false;
  }
}

/**
 * The peer began a message (or a frame) and did not finish it within `messageTimeout`: a peer
 * dribbling a message a byte at a time would otherwise hold the connection, and the memory of the
 * partial message, forever. The connection was failed with 1008 (policy violation).
 */
export class MessageTimeoutError extends ProtocolError<typeof ErrorCode.MessageTimeout> {
  /** The bound, in ms. */
  readonly timeout: number;

  constructor(timeout: number) {
    super(`a message was not completed within ${timeout} ms`, 1008, ErrorCode.MessageTimeout);
    this.timeout = timeout;
  }
}

/**
 * More than `maxBufferedAmount` bytes were waiting to be written, and then `stallTimeout` ms
 * passed without the peer taking any of them: the connection was failed with 1008 (policy
 * violation) and the socket destroyed, rather than let a peer that reads nothing make us buffer
 * without bound. A peer that reads, however slowly, never causes it.
 */
export class SendBufferFullError extends ProtocolError<typeof ErrorCode.SendBufferFull> {
  /** The bound, in bytes, past which the peer was watched. */
  readonly limit: number;
  /** How long the bytes waited without any being written, in ms. */
  readonly timeout: number;

  constructor(limit: number, timeout: number) {
    super(`more than ${limit} bytes waited ${timeout} ms and none were read: the peer does not read`, 1008, ErrorCode.SendBufferFull);
    this.limit = limit;
    this.timeout = timeout;
  }
}

/** The peer did not complete the closing handshake within `closeTimeout`; the socket was destroyed. */
export class CloseTimeoutError extends WebSocketError<typeof ErrorCode.CloseTimeout> {
  readonly timeout: number;

  constructor(timeout: number) {
    super(ErrorCode.CloseTimeout, `closing handshake not completed within ${timeout} ms`);
    this.timeout = timeout;
  }
}
