/**
 * hybi's typed errors: the codes of all of them (the table in docs/errors.md), their base class,
 * and the classes the core raises itself. Every error a user can see is a `WebSocketError` with a
 * stable string `code` and the fields a caller needs to act on it. The classes only the layers
 * above raise live there (node/errors.ts, api/errors.ts); `hybi` and `hybi/core` export them all.
 */
import { Failures } from './failures.js';

/**
 * Stable string codes: one per error class, and for ProtocolError one per kind of violation the
 * peer committed (each with its close code and reason in the failure table, core/failures.ts).
 */
export const ErrorCode = {
  Handshake: 'ERR_HANDSHAKE',
  InvalidURL: 'ERR_INVALID_URL',
  Connect: 'ERR_CONNECT',
  ConnectionClosed: 'ERR_CONNECTION_CLOSED',
  ConnectionNotOpen: 'ERR_CONNECTION_NOT_OPEN',
  Protocol: 'ERR_PROTOCOL',
  // The receive-side violations (ProtocolError), one code per rule the peer broke.
  InvalidOpcode: 'ERR_INVALID_OPCODE',
  UnexpectedRsv: 'ERR_UNEXPECTED_RSV',
  InvalidControlPayloadLength: 'ERR_INVALID_CONTROL_PAYLOAD_LENGTH',
  FragmentedControlFrame: 'ERR_FRAGMENTED_CONTROL_FRAME',
  ExpectedMask: 'ERR_EXPECTED_MASK',
  UnexpectedMask: 'ERR_UNEXPECTED_MASK',
  InvalidPayloadLength: 'ERR_INVALID_PAYLOAD_LENGTH',
  UnexpectedContinuation: 'ERR_UNEXPECTED_CONTINUATION',
  ExpectedContinuation: 'ERR_EXPECTED_CONTINUATION',
  InvalidClosePayload: 'ERR_INVALID_CLOSE_PAYLOAD',
  InvalidCloseCode: 'ERR_INVALID_CLOSE_CODE',
  InvalidUTF8: 'ERR_INVALID_UTF8',
  InvalidCompressedData: 'ERR_INVALID_COMPRESSED_DATA',
  MessageTooLarge: 'ERR_MESSAGE_TOO_LARGE',
  PongMismatch: 'ERR_PONG_MISMATCH',
  PingTimeout: 'ERR_PING_TIMEOUT',
  CloseTimeout: 'ERR_CLOSE_TIMEOUT',
  IdleTimeout: 'ERR_IDLE_TIMEOUT',
  MessageTimeout: 'ERR_MESSAGE_TIMEOUT',
  KeepaliveTimeout: 'ERR_KEEPALIVE_TIMEOUT',
  SendBufferFull: 'ERR_SEND_BUFFER_FULL',
  InvalidArgument: 'ERR_INVALID_ARGUMENT',
  NotUtf8: 'ERR_NOT_UTF8',
  Proxy: 'ERR_PROXY',
  ProxyAuth: 'ERR_PROXY_AUTH',
  SendQueueFull: 'ERR_SEND_QUEUE_FULL',
  Broker: 'ERR_BROKER', // topics hook (issue 20): raised by the brokers (api/errors.ts)
  NotSupportedByVersion: 'ERR_NOT_SUPPORTED_BY_VERSION',
  ServerState: 'ERR_SERVER_STATE',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The codes a ConnectionClosedError (or its subclass ConnectionNotOpenError) carries. */
export type ConnectionClosedCode = typeof ErrorCode.ConnectionClosed | typeof ErrorCode.ConnectionNotOpen;

/**
 * The codes a ProtocolError carries: one per kind of violation, and ERR_PROTOCOL for a failure
 * while handling the peer's input that no rule names (a listener or an extension failed: 1011).
 */
export type ProtocolErrorCode =
  | typeof ErrorCode.Protocol
  | typeof ErrorCode.InvalidOpcode
  | typeof ErrorCode.UnexpectedRsv
  | typeof ErrorCode.InvalidControlPayloadLength
  | typeof ErrorCode.FragmentedControlFrame
  | typeof ErrorCode.ExpectedMask
  | typeof ErrorCode.UnexpectedMask
  | typeof ErrorCode.InvalidPayloadLength
  | typeof ErrorCode.UnexpectedContinuation
  | typeof ErrorCode.ExpectedContinuation
  | typeof ErrorCode.InvalidClosePayload
  | typeof ErrorCode.InvalidCloseCode
  | typeof ErrorCode.InvalidUTF8
  | typeof ErrorCode.InvalidCompressedData;

/** The codes a LimitError (one of its subclasses) carries. */
export type LimitErrorCode =
  | typeof ErrorCode.MessageTooLarge
  | typeof ErrorCode.MessageTimeout
  | typeof ErrorCode.KeepaliveTimeout
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

/**
 * The peer broke RFC 6455 (or an extension's rules); the connection was failed with `closeCode`.
 * `code` names the rule (ERR_INVALID_OPCODE, ERR_EXPECTED_MASK, ...: docs/errors.md).
 */
export class ProtocolError<C extends ProtocolErrorCode = ProtocolErrorCode> extends WebSocketError<C> {
  /** The close code sent to the peer: 1002, 1007 or 1011 (see the failure table). */
  readonly closeCode: number;

  constructor(message: string, closeCode: number = Failures.protocol.closeCode, code: C = ErrorCode.Protocol as C) {
    super(code, message);
    this.closeCode = closeCode;
  }
}

/**
 * The peer made us reach a bound of our own (a size, a time, a buffer), and the connection was
 * failed with `closeCode`. Not a ProtocolError: the peer may have broken no rule of RFC 6455,
 * it only asked more than this endpoint was configured to give. Each subclass lives in the layer
 * that raises it (MessageTooLargeError here, the timeouts and the send buffer in node/errors.ts).
 */
export abstract class LimitError<C extends LimitErrorCode = LimitErrorCode> extends WebSocketError<C> {
  /** The close code sent to the peer: 1008, 1009 or 1011 (see the failure table). */
  readonly closeCode: number;

  constructor(code: C, message: string, closeCode: number) {
    super(code, message);
    this.closeCode = closeCode;
  }
}

/**
 * What a connection is failed with (RFC 6455 section 7.1.7): the peer broke a rule, or made us
 * reach a bound of our own. Either carries the close code sent.
 */
export type ConnectionFailure = ProtocolError | LimitError;

/** A frame or message exceeded `maxFrameSize`, `maxMessageSize` or the fragment bound (1009). */
export class MessageTooLargeError extends LimitError<typeof ErrorCode.MessageTooLarge> {
  /** The limit that was exceeded, in bytes (or fragments). */
  readonly limit: number;

  constructor(message: string, limit: number) {
    super(ErrorCode.MessageTooLarge, message, Failures.messageTooLarge.closeCode);
    this.limit = limit;
  }
}

/** A call with an argument hybi cannot use (a close code not allowed on the wire, a reason too long). */
export class InvalidArgumentError extends WebSocketError<typeof ErrorCode.InvalidArgument> {
  constructor(message: string) {
    super(ErrorCode.InvalidArgument, message);
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
