/**
 * CONTRACT (to be implemented): the sans-I/O RFC 6455 connection state machine.
 *
 * Bytes in (`receive`), events out (the `ConnectionHandler` callbacks, called synchronously from
 * inside `receive` and the send methods), calls in (`sendMessage`, `sendFrame`, `ping`, `close`),
 * bytes out (`handler.output`). No timers, no I/O, no promises: the Node driver owns those.
 *
 * Callbacks instead of an event list: the receive path then allocates nothing per event, and the
 * driver still sees every output produced by one `receive` before it returns, so it can coalesce
 * them into one socket write.
 */
import type { ProtocolError } from './errors.js';

/** Which end of the connection this is; it decides masking (RFC 6455 section 5.3). */
export type Role = 'client' | 'server';

/** The connection's state as RFC 6455 and the browser name it. */
export type ReadyState = 'connecting' | 'open' | 'closing' | 'closed';

/**
 * What a negotiated extension (permessage-deflate, RFC 7692) tells the core: which RSV bits it
 * claims on data frames. Messages whose first frame carries them are handed to
 * `handler.transformMessage` instead of being delivered, and the core waits for the result.
 */
export interface ExtensionHook {
  /** Extension name as negotiated, e.g. 'permessage-deflate'. */
  readonly name: string;
  /** Bitmask of the RSV bits it claims, in first-byte position: 0x40 RSV1, 0x20 RSV2, 0x10 RSV3. */
  readonly rsvBits: number;
}

/** Options of the core connection; every field's default is in `limits.ts`. */
export interface ConnectionOptions {
  role: Role;
  /** Largest frame payload accepted; default DEFAULT_MAX_FRAME_SIZE. Closes with 1009 from the header alone. */
  maxFrameSize?: number;
  /** Largest message accepted (sum of fragments, after any transform); default DEFAULT_MAX_MESSAGE_SIZE. 1009. */
  maxMessageSize?: number;
  /** Most fragments per message; default DEFAULT_MAX_FRAGMENTS. 1009. */
  maxFragments?: number;
  /** Answer pings with pongs automatically (RFC 6455 section 5.5.2 asks for it); default true. */
  autoPong?: boolean;
  /** Extensions negotiated during the handshake, in the order of the response header. */
  extensions?: readonly ExtensionHook[];
  /**
   * Optional whole-buffer UTF-8 validator (Node's `buffer.isUtf8`) used for long unfragmented
   * text, where native code beats the incremental validator. The incremental one is always used
   * across fragments so that invalid text fails at the byte where it becomes invalid.
   */
  isUtf8?: (bytes: Uint8Array) => boolean;
  /** Frames are masked by the client; supply a mask-key source for tests (default: generateMaskKey). */
  maskKey?: () => Uint8Array;
}

/** The callbacks through which the core reports what happened. All are called synchronously. */
export interface ConnectionHandler {
  /**
   * Bytes to write to the transport, in order. The arrays are owned by the receiver from now on
   * (the core never writes to them again); a frame header and its payload may arrive as two chunks
   * so that payloads are never copied to be framed.
   */
  output(chunks: Uint8Array[]): void;
  /** A complete message (in message mode). Text has been validated as UTF-8; `data` may be a view into received chunks. */
  message(data: Uint8Array, isText: boolean): void;
  /**
   * One fragment of a message (in streaming mode, see `setStreaming`). `first` is true on the
   * message's first fragment, `fin` on its last. Text fragments are validated incrementally: a
   * fragment that ends inside a code point is fine, the message as a whole must be valid.
   */
  fragment?(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void;
  /** A ping arrived (already answered when autoPong is on). */
  ping(payload: Uint8Array): void;
  /** A pong arrived. */
  pong(payload: Uint8Array): void;
  /**
   * The peer's close frame arrived. If we had not sent a close yet, the core has already answered
   * it (echoing the code, as section 5.5.1 asks) and the state is 'closed': the driver should end
   * the transport (the server closes TCP first, section 7.1.1). `code` is 1005 when the frame had
   * no status code.
   */
  close(code: number, reason: string): void;
  /**
   * The peer broke the protocol or a limit. The core has already queued a close frame with
   * `error.closeCode`, moved to 'closing', and will ignore all further input. Messages that were
   * complete before the bad byte have been delivered first.
   */
  protocolError(error: ProtocolError): void;
  /**
   * A message whose first frame carried an extension's RSV bits is complete (or, for streaming
   * extensions, a fragment of it). The core pauses: it buffers further input and emits nothing
   * until `finishTransform` or `failTransform` is called. `compressedSize` is the wire size.
   */
  transformMessage?(data: Uint8Array, isText: boolean, rsv: number): void;
}

/**
 * The RFC 6455 state machine for one connection. Create it once the handshake is done (state
 * 'open'); feed it every byte the transport reads.
 */
export declare class Connection {
  constructor(options: ConnectionOptions, handler: ConnectionHandler);

  readonly role: Role;
  readonly readyState: ReadyState;
  /** True once the core will produce no more output and the transport may be ended. */
  readonly closed: boolean;
  /** True while a transform is outstanding: the driver may stop reading the socket meanwhile. */
  readonly awaitingTransform: boolean;

  /** Feed bytes read from the transport. Never throws: bad input becomes `handler.protocolError`. */
  receive(chunk: Uint8Array): void;

  /** Deliver subsequent messages as `fragment` events (true) or whole `message` events (false). Takes effect at the next message start. */
  setStreaming(enabled: boolean): void;

  /** Hand back the result of `transformMessage`; validates (UTF-8, size) and delivers it, then resumes parsing. */
  finishTransform(data: Uint8Array): void;
  /** The transform failed (e.g. inflation exceeded maxMessageSize): fail the connection with this error. */
  failTransform(error: ProtocolError): void;

  /**
   * Frame and output one whole message (text must be UTF-8 bytes). `rsv` lets an extension set its
   * bits on the first frame (the payload is then already transformed). With `fragmentSize`, the
   * message is split into frames of at most that many bytes.
   */
  sendMessage(data: Uint8Array, isText: boolean, options?: { rsv?: number; fragmentSize?: number }): void;
  /**
   * Output one frame of a message sent piece by piece: `first` opens a message (text or binary
   * opcode, with `rsv`), later calls are continuations, `fin` ends it. Callers must not interleave
   * two such messages (the api layer queues); control frames may go between fragments.
   */
  sendFrame(data: Uint8Array, isText: boolean, first: boolean, fin: boolean, rsv?: number): void;
  /** Output a ping (payload at most 125 bytes, else InvalidArgumentError is thrown). */
  ping(payload?: Uint8Array): void;
  /** Output a pong (payload at most 125 bytes). */
  pong(payload?: Uint8Array): void;
  /**
   * Start the closing handshake: output a close frame (validated code and reason; no code means
   * an empty payload) and move to 'closing'; nothing but control frames may be sent after it.
   * Throws InvalidArgumentError for codes not allowed on the wire or a reason over 123 bytes.
   */
  close(code?: number, reason?: string): void;
  /** The transport ended or failed without a close frame: move to 'closed' (code 1006). */
  transportClosed(): void;
}
