/**
 * hybi's typed errors. Every error a user can see is a `WebSocketError` with a stable string
 * `code` (the table in docs/errors.md) and the fields a caller needs to act on it. They live in
 * the core because they are plain JavaScript and every layer raises them.
 */

/** Stable string codes, one per error class (ProtocolError also names the kind of violation). */
export const ErrorCode = {
  Handshake: 'ERR_HANDSHAKE',
  InvalidURL: 'ERR_INVALID_URL',
  Connect: 'ERR_CONNECT',
  ConnectionClosed: 'ERR_CONNECTION_CLOSED',
  ConnectionNotOpen: 'ERR_CONNECTION_NOT_OPEN',
  Protocol: 'ERR_PROTOCOL',
  InvalidUTF8: 'ERR_INVALID_UTF8',
  MessageTooLarge: 'ERR_MESSAGE_TOO_LARGE',
  PongMismatch: 'ERR_PONG_MISMATCH',
  PingTimeout: 'ERR_PING_TIMEOUT',
  CloseTimeout: 'ERR_CLOSE_TIMEOUT',
  IdleTimeout: 'ERR_IDLE_TIMEOUT',
  MessageTimeout: 'ERR_MESSAGE_TIMEOUT',
  SendBufferFull: 'ERR_SEND_BUFFER_FULL',
  InvalidArgument: 'ERR_INVALID_ARGUMENT',
  NotUtf8: 'ERR_NOT_UTF8',
  NotSupportedByVersion: 'ERR_NOT_SUPPORTED_BY_VERSION',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The codes a ConnectionClosedError (or its subclass ConnectionNotOpenError) carries. */
export type ConnectionClosedCode = typeof ErrorCode.ConnectionClosed | typeof ErrorCode.ConnectionNotOpen;

/** The codes a ProtocolError (or one of its subclasses) carries. */
export type ProtocolErrorCode =
  | typeof ErrorCode.Protocol
  | typeof ErrorCode.InvalidUTF8
  | typeof ErrorCode.MessageTooLarge
  | typeof ErrorCode.MessageTimeout
  | typeof ErrorCode.SendBufferFull;

/**
 * The base of every error hybi raises. `C` is the literal type of `code`: each subclass fixes
 * it, so that `HybiError`, the union of the classes, narrows on `code` in a `switch`.
 */
export class WebSocketError<C extends string = string> extends Error {
  /** A stable identifier to branch on; messages may change, codes do not. */
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

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

/** A URL that cannot name a WebSocket endpoint (wrong scheme, a fragment, unparsable). */
export class InvalidURLError extends WebSocketError<typeof ErrorCode.InvalidURL> {
  readonly url: string;
  /** The scheme found, without the colon ('' if none could be read). */
  readonly scheme: string;

  constructor(message: string, url: string, scheme: string) {
    super(ErrorCode.InvalidURL, message);
    this.url = url;
    this.scheme = scheme;
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
 * The connection closed while an operation was waiting on it (a `receive()`, a `ping()`, a send
 * still queued): the peer closed, the network failed, or the connection was failed.
 */
export class ConnectionClosedError<C extends ConnectionClosedCode = ConnectionClosedCode> extends WebSocketError<C> {
  /** The close code received (1005 if the close frame had none, 1006 if there was no close frame). */
  readonly closeCode: number;
  readonly reason: string;
  /** True when both close frames were exchanged (RFC 6455 section 7.1.5). */
  readonly wasClean: boolean;

  constructor(closeCode: number, reason: string, wasClean: boolean, message?: string, code: C = ErrorCode.ConnectionClosed as C) {
    super(code, message ?? `connection closed (${closeCode}${reason ? ` ${reason}` : ''})`);
    this.closeCode = closeCode;
    this.reason = reason;
    this.wasClean = wasClean;
  }
}

/**
 * The caller used a connection that is already closing or closed (send, ping, receiveStream).
 * A subclass of ConnectionClosedError so one `instanceof` catches both, with its own `code`
 * to tell "the peer closed" from "you used a closed connection".
 */
export class ConnectionNotOpenError extends ConnectionClosedError<typeof ErrorCode.ConnectionNotOpen> {
  constructor(state: string, closeCode = 1006, reason = '', wasClean = false) {
    super(closeCode, reason, wasClean, `the connection is ${state}`, ErrorCode.ConnectionNotOpen);
  }
}

/** The peer broke RFC 6455 (or an extension's rules); the connection was failed with `closeCode`. */
export class ProtocolError<C extends ProtocolErrorCode = ProtocolErrorCode> extends WebSocketError<C> {
  /** The close code sent to the peer: 1002, 1003, 1007, 1008, 1009, 1010 or 1011. */
  readonly closeCode: number;

  constructor(message: string, closeCode = 1002, code: C = ErrorCode.Protocol as C) {
    super(code, message);
    this.closeCode = closeCode;
  }
}

/** A frame or message exceeded `maxFrameSize`, `maxMessageSize` or the fragment bound (1009). */
export class MessageTooLargeError extends ProtocolError<typeof ErrorCode.MessageTooLarge> {
  /** The limit that was exceeded, in bytes (or fragments). */
  readonly limit: number;

  constructor(message: string, limit: number) {
    super(message, 1009, ErrorCode.MessageTooLarge);
    this.limit = limit;
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

/**
 * A ping's timeout passed without the pong carrying its payload, while pongs with other data
 * arrived (the Sagittarius seed's pong check): `expected` is the ping's payload, `received` the
 * last of those other pongs.
 */
export class PongMismatchError extends WebSocketError<typeof ErrorCode.PongMismatch> {
  readonly expected: Uint8Array;
  readonly received: Uint8Array;

  constructor(expected: Uint8Array, received: Uint8Array) {
    super(ErrorCode.PongMismatch, 'no pong with the ping\'s payload before its timeout; pongs with other data arrived');
    this.expected = expected;
    this.received = received;
  }
}

/** No pong arrived for a ping within its timeout. */
export class PingTimeoutError extends WebSocketError<typeof ErrorCode.PingTimeout> {
  readonly timeout: number;

  constructor(timeout: number) {
    super(ErrorCode.PingTimeout, `no pong within ${timeout} ms`);
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

/** Nothing arrived from the peer for `idleTimeout` ms; the connection was closed. */
export class IdleTimeoutError extends WebSocketError<typeof ErrorCode.IdleTimeout> {
  readonly timeout: number;

  constructor(timeout: number) {
    super(ErrorCode.IdleTimeout, `nothing received for ${timeout} ms`);
    this.timeout = timeout;
  }
}

/** A call with an argument hybi cannot use (a close code not allowed on the wire, a reason too long). */
export class InvalidArgumentError extends WebSocketError<typeof ErrorCode.InvalidArgument> {
  constructor(message: string) {
    super(ErrorCode.InvalidArgument, message);
  }
}

/**
 * A message asked for as text (`receive({ as: 'text' })`) arrived as binary and is not valid
 * UTF-8. Only that call fails: the connection stays open (the peer broke no rule, a binary message
 * may hold any bytes), and the message's bytes are in `data`, so nothing is lost.
 */
export class NotUtf8Error extends WebSocketError<typeof ErrorCode.NotUtf8> {
  /** The received message's bytes. */
  readonly data: Uint8Array;

  constructor(data: Uint8Array) {
    super(ErrorCode.NotUtf8, `a binary message of ${data.length} bytes asked for as text is not valid UTF-8`);
    this.data = data;
  }
}

/**
 * An operation the connection's protocol version cannot carry: a binary message, a ping or pong,
 * or a message sent in fragments on a hybi-00 (draft-hixie-76) connection, whose wire format has
 * only text frames and a bare closing handshake. The connection is unaffected. Check
 * `ws.supportsPayloadType()`, `ws.supportsFragmentation` and `ws.signalsStatusOnClose` first.
 */
export class NotSupportedByVersionError extends WebSocketError<typeof ErrorCode.NotSupportedByVersion> {
  /** The version spoken, e.g. 'hybi-00'. */
  readonly version: string;
  /** What was asked for: 'binary', 'ping', 'pong', 'fragments'. */
  readonly feature: string;

  constructor(version: string, feature: string, message: string) {
    super(ErrorCode.NotSupportedByVersion, message);
    this.version = version;
    this.feature = feature;
  }
}

/**
 * Every error class hybi raises, as a union that narrows on `code`:
 *
 * ```ts
 * if (isHybiError(err)) switch (err.code) {
 *   case 'ERR_CONNECT': console.log(err.host, err.port); break;
 *   case 'ERR_HANDSHAKE': console.log(err.status); break;
 * }
 * ```
 *
 * A parent class appears with only its own codes (a ProtocolError whose code is
 * 'ERR_MESSAGE_TOO_LARGE' is always a MessageTooLargeError), so each case sees one class and a
 * misspelt code does not compile.
 */
export type HybiError =
  | HandshakeError
  | InvalidURLError
  | ConnectError
  | ConnectionClosedError<typeof ErrorCode.ConnectionClosed>
  | ConnectionNotOpenError
  | ProtocolError<typeof ErrorCode.Protocol | typeof ErrorCode.InvalidUTF8>
  | MessageTooLargeError
  | MessageTimeoutError
  | SendBufferFullError
  | PongMismatchError
  | PingTimeoutError
  | CloseTimeoutError
  | IdleTimeoutError
  | InvalidArgumentError
  | NotUtf8Error
  | NotSupportedByVersionError;

/**
 * True for an error hybi raised (any WebSocketError): a `catch` clause's `unknown` becomes the
 * HybiError union, ready for a `switch` on `code`. (A subclass of WebSocketError written outside
 * hybi passes too; its code is then not one of the union's.)
 */
export function isHybiError(error: unknown): error is HybiError {
  return error instanceof WebSocketError;
}
