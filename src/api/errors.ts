/**
 * The errors the api layer raises (URLs, pings, idle connections, text asked of binary), and
 * `HybiError`, the union of every error class hybi raises; see core/errors.ts for the codes and
 * the base class.
 */
import { ConnectionClosedError, ConnectionNotOpenError, ErrorCode, InvalidArgumentError, MessageTooLargeError, NotSupportedByVersionError, ProtocolError, WebSocketError } from '../core/errors.js';
import { CloseTimeoutError, ConnectError, HandshakeError, KeepaliveTimeoutError, MessageTimeoutError, ProxyAuthError, ProxyError, SendBufferFullError } from '../node/errors.js';

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

/**
 * A ping's timeout passed without the pong carrying its payload, while pongs with other data
 * arrived: `expected` is the ping's payload, `received` the last of those other pongs.
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

/** Nothing arrived from the peer for `idleTimeout` ms; the connection was closed. */
export class IdleTimeoutError extends WebSocketError<typeof ErrorCode.IdleTimeout> {
  readonly timeout: number;

  constructor(timeout: number) {
    super(ErrorCode.IdleTimeout, `nothing received for ${timeout} ms`);
    this.timeout = timeout;
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
 * A ReconnectingWebSocket with the queue policy 'reject' was asked to queue a message while
 * disconnected and its queue was full (docs/client.md "Reconnection"); nothing was queued or dropped.
 */
export class SendQueueFullError extends WebSocketError<typeof ErrorCode.SendQueueFull> {
  /** The bound that was reached: 'messages' or 'bytes'. */
  readonly limit: 'messages' | 'bytes';

  constructor(limit: 'messages' | 'bytes', max: number) {
    super(ErrorCode.SendQueueFull, `the send queue is full (${max} ${limit}) while reconnecting; the message was not queued`);
    this.limit = limit;
  }
}

/**
 * A WebSocketServer was asked to do what its state does not allow: `listen()` on a server that
 * already listens, or `listen()` / `attach()` after `close()` (a closed server stays closed; make
 * a new one). Nothing was started.
 */
export class ServerStateError extends WebSocketError<typeof ErrorCode.ServerState> {
  /** What the server already is: 'listening' or 'closed'. */
  readonly state: 'listening' | 'closed';

  constructor(state: 'listening' | 'closed', message: string) {
    super(ErrorCode.ServerState, message);
    this.state = state;
  }
}

/**
 * Topics hook (issue 20): a broker could not do what was asked (store a publish, read history):
 * its link is down, it did not answer within the timeout, or too many publishes wait for it.
 * Nothing was lost silently: the call that got this error is the one whose work was not done
 * (a timed-out publish may still be applied later; retry it with the same `id`).
 */
export class BrokerError extends WebSocketError<typeof ErrorCode.Broker> {
  /** What went wrong: 'timeout', 'overloaded', 'closed' or 'failed' (the broker's own error is the `cause`). */
  readonly reason: 'timeout' | 'overloaded' | 'closed' | 'failed';

  constructor(reason: BrokerError['reason'], message: string, cause?: unknown) {
    super(ErrorCode.Broker, message, cause === undefined ? undefined : { cause });
    this.reason = reason;
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
 * A parent class appears with only its own codes (a ConnectionClosedError whose code is
 * 'ERR_CONNECTION_NOT_OPEN' is always a ConnectionNotOpenError; ProtocolError carries one code per
 * violation, LimitError is abstract and appears as its subclasses), so each case sees one class
 * and a misspelt code does not compile.
 */
export type HybiError =
  | HandshakeError
  | InvalidURLError
  | ConnectError
  | ConnectionClosedError<typeof ErrorCode.ConnectionClosed>
  | ConnectionNotOpenError
  | ProtocolError
  | MessageTooLargeError
  | MessageTimeoutError
  | SendBufferFullError
  | PongMismatchError
  | PingTimeoutError
  | CloseTimeoutError
  | IdleTimeoutError
  | InvalidArgumentError
  | NotUtf8Error
  | ProxyError
  | ProxyAuthError
  | SendQueueFullError
  | KeepaliveTimeoutError
  | BrokerError
  | NotSupportedByVersionError
  | ServerStateError;

/**
 * True for an error hybi raised (any WebSocketError): a `catch` clause's `unknown` becomes the
 * HybiError union, ready for a `switch` on `code`. (A subclass of WebSocketError written outside
 * hybi passes too; its code is then not one of the union's.)
 */
export function isHybiError(error: unknown): error is HybiError {
  return error instanceof WebSocketError;
}
