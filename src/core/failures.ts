/**
 * The failure table: every kind of failure hybi reports, with its stable error code, the close
 * code it ends the connection with (by its `CloseCode` name) and the reason our close frame
 * carries, in one place. The error classes take their close codes from here, the core's
 * `fail` takes the close frame's reason from here, and docs/errors.md is checked against it by a
 * test (test/core/failures.test.ts), so the three cannot drift apart.
 *
 * No imports but the close codes and a type: errors.ts reads this table while it is evaluated.
 */
import { CloseCode } from './close-code.js';
import type { ErrorCode } from './errors.js';

/** One kind of failure. */
export interface FailureKind {
  /** The error's stable `code`. */
  readonly code: ErrorCode;
  /**
   * The close code the connection ends with (sent to the peer when we fail the connection, or the
   * one reported for a connection that ended: 1006 for a close timeout); null when the failure
   * does not end the connection, or reports the close code the peer sent.
   */
  readonly closeCode: CloseCode | null;
  /**
   * The reason our close frame carries: a fixed text, or `message` for the error's own message
   * (cut to the 123 bytes a close frame allows) when the peer needs its figures to know what it
   * broke. '' sends no reason: the close code says it all.
   */
  readonly reason: string;
}

/** Sentinel reason: the close frame carries the error's message. */
export const REASON_MESSAGE = 'message';

/**
 * Every kind of failure, by name. Several kinds may share an error code (a ProtocolError is the
 * class of many violations); each kind has one close code.
 */
export const Failures = {
  // The peer broke RFC 6455 (section 7.4.1: 1002 for a protocol error, 1007 for data that is not
  // what its type says).
  protocol: { code: 'ERR_PROTOCOL', closeCode: CloseCode.ProtocolError, reason: '' },
  invalidUtf8: { code: 'ERR_INVALID_UTF8', closeCode: CloseCode.InvalidPayload, reason: '' },
  invalidCompressedData: { code: 'ERR_PROTOCOL', closeCode: CloseCode.InvalidPayload, reason: '' },
  // Something failed on our side while handling the peer's input (a listener threw, an extension
  // failed): 1011, "an unexpected condition".
  internal: { code: 'ERR_PROTOCOL', closeCode: CloseCode.InternalError, reason: '' },
  // Our own bounds, which the peer made us reach.
  messageTooLarge: { code: 'ERR_MESSAGE_TOO_LARGE', closeCode: CloseCode.MessageTooBig, reason: REASON_MESSAGE },
  messageTimeout: { code: 'ERR_MESSAGE_TIMEOUT', closeCode: CloseCode.PolicyViolation, reason: '' },
  sendBufferFull: { code: 'ERR_SEND_BUFFER_FULL', closeCode: CloseCode.PolicyViolation, reason: '' },
  keepaliveTimeout: { code: 'ERR_KEEPALIVE_TIMEOUT', closeCode: CloseCode.InternalError, reason: 'keepalive ping timeout' },
  closeTimeout: { code: 'ERR_CLOSE_TIMEOUT', closeCode: CloseCode.AbnormalClosure, reason: '' },
  // Failures that do not choose a close code of their own.
  connectionClosed: { code: 'ERR_CONNECTION_CLOSED', closeCode: null, reason: '' },
  connectionNotOpen: { code: 'ERR_CONNECTION_NOT_OPEN', closeCode: null, reason: '' },
  handshake: { code: 'ERR_HANDSHAKE', closeCode: null, reason: '' },
  invalidUrl: { code: 'ERR_INVALID_URL', closeCode: null, reason: '' },
  connect: { code: 'ERR_CONNECT', closeCode: null, reason: '' },
  pongMismatch: { code: 'ERR_PONG_MISMATCH', closeCode: null, reason: '' },
  pingTimeout: { code: 'ERR_PING_TIMEOUT', closeCode: null, reason: '' },
  idleTimeout: { code: 'ERR_IDLE_TIMEOUT', closeCode: null, reason: '' },
  invalidArgument: { code: 'ERR_INVALID_ARGUMENT', closeCode: null, reason: '' },
  notUtf8: { code: 'ERR_NOT_UTF8', closeCode: null, reason: '' },
  proxy: { code: 'ERR_PROXY', closeCode: null, reason: '' },
  proxyAuth: { code: 'ERR_PROXY_AUTH', closeCode: null, reason: '' },
  sendQueueFull: { code: 'ERR_SEND_QUEUE_FULL', closeCode: null, reason: '' },
  broker: { code: 'ERR_BROKER', closeCode: null, reason: '' },
  notSupportedByVersion: { code: 'ERR_NOT_SUPPORTED_BY_VERSION', closeCode: null, reason: '' },
} as const satisfies Record<string, FailureKind>;

/**
 * The reason our close frame carries when we fail the connection with an error of code `code`
 * and message `message`: the table's, for the first kind with that code and close code.
 */
export function failureReason(code: string, closeCode: number, message: string): string {
  for (const name in Failures) {
    const kind: FailureKind = Failures[name as keyof typeof Failures];
    if (kind.code !== code || kind.closeCode !== closeCode) continue;
    return kind.reason === REASON_MESSAGE ? message : kind.reason;
  }
  return '';
}
