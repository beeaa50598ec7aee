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
 * Every kind of failure, by name. Each receive-side violation has its own code; a code may still
 * stand for several kinds where the close code differs (ERR_PROTOCOL: 1002 or 1011).
 */
export const Failures = {
  // The peer broke RFC 6455 (section 7.4.1: 1002 for a protocol error, 1007 for data that is not
  // what its type says). One kind per rule, so that a log, a metric or a test can tell which rule
  // was broken, and the peer's developer reads which in our close frame's reason.
  protocol: { code: 'ERR_PROTOCOL', closeCode: CloseCode.ProtocolError, reason: 'protocol error' },
  invalidOpcode: { code: 'ERR_INVALID_OPCODE', closeCode: CloseCode.ProtocolError, reason: 'reserved opcode' },
  unexpectedRsv: { code: 'ERR_UNEXPECTED_RSV', closeCode: CloseCode.ProtocolError, reason: 'RSV bits not allowed on this frame' },
  invalidControlPayloadLength: { code: 'ERR_INVALID_CONTROL_PAYLOAD_LENGTH', closeCode: CloseCode.ProtocolError, reason: 'control frame payload over 125 bytes' },
  fragmentedControlFrame: { code: 'ERR_FRAGMENTED_CONTROL_FRAME', closeCode: CloseCode.ProtocolError, reason: 'fragmented control frame' },
  expectedMask: { code: 'ERR_EXPECTED_MASK', closeCode: CloseCode.ProtocolError, reason: 'client frame not masked' },
  unexpectedMask: { code: 'ERR_UNEXPECTED_MASK', closeCode: CloseCode.ProtocolError, reason: 'server frame masked' },
  invalidPayloadLength: { code: 'ERR_INVALID_PAYLOAD_LENGTH', closeCode: CloseCode.ProtocolError, reason: '64-bit payload length with its top bit set' },
  unexpectedContinuation: { code: 'ERR_UNEXPECTED_CONTINUATION', closeCode: CloseCode.ProtocolError, reason: 'continuation frame without a message' },
  expectedContinuation: { code: 'ERR_EXPECTED_CONTINUATION', closeCode: CloseCode.ProtocolError, reason: 'new message inside a fragmented one' },
  invalidClosePayload: { code: 'ERR_INVALID_CLOSE_PAYLOAD', closeCode: CloseCode.ProtocolError, reason: 'close frame payload of 1 byte' },
  invalidCloseCode: { code: 'ERR_INVALID_CLOSE_CODE', closeCode: CloseCode.ProtocolError, reason: 'invalid close code' },
  invalidUtf8: { code: 'ERR_INVALID_UTF8', closeCode: CloseCode.InvalidPayload, reason: 'invalid UTF-8' },
  invalidCompressedData: { code: 'ERR_INVALID_COMPRESSED_DATA', closeCode: CloseCode.InvalidPayload, reason: 'invalid compressed data' },
  // Something failed on our side while handling the peer's input (a listener threw, an extension
  // failed): 1011, "an unexpected condition". No reason: the details are ours, not the peer's.
  internal: { code: 'ERR_PROTOCOL', closeCode: CloseCode.InternalError, reason: '' },
  // Our own bounds, which the peer made us reach (LimitError, not ProtocolError).
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
  serverState: { code: 'ERR_SERVER_STATE', closeCode: null, reason: '' },
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
