/**
 * The sans-I/O RFC 6455 connection: the unit an owner (the Node driver, or any transport) drives.
 *
 * Bytes in (`receive`), events out (the `ConnectionHandler` callbacks, called synchronously from
 * inside `receive` and the send methods), calls in (`sendMessage`, `sendFrame`, `ping`, `close`),
 * bytes out (`handler.output`). No timers, no I/O, no promises: the Node driver owns those.
 *
 * Callbacks instead of an event list: the receive path then allocates nothing per event, and the
 * driver still sees every output produced by one `receive` before it returns, so it can coalesce
 * them into one socket write.
 *
 * It wires four parts, each in a file of its own: `FrameParser` reads frames and checks what a
 * header alone can tell; `FrameSequence` (which this class extends) holds the rules on sequences
 * of frames and the close state; `MessageAssembler` gathers and validates the message being
 * received; `FrameWriter` builds the frames we send. This file adds the owner's calls: sending,
 * closing, streaming and receive targets.
 */
import { encodeClosePayload } from './close.js';
import { ConnectionNotOpenError, InvalidArgumentError } from './errors.js';
import { FrameParser, type ViewMaker } from './frame-parser.js';
import { FrameSequence } from './frame-sequence.js';
import { SequenceBit } from './sequence-state.js';
import { connectionParts, makeAssembler, makeWriter, type ConnectionParts } from './connection-parts.js';
import { controlFrame, type FrameWriter, type MaskInto } from './frame-writer.js';
import { MAX_CONTROL_PAYLOAD, resolveCoreLimits } from './limits.js';
import { maskWordInto } from './mask.js';
import type { MessageAssembler } from './message-assembler.js';
import { Opcode } from './opcode.js';
import { checkPreparedFrame, type PreparedFrame } from './prepared-frame.js';
import type { ConnectionFailure } from './errors.js';

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
  /**
   * Largest frame payload accepted in a message that is gathered whole (message mode, or a message
   * for an extension's transform); default DEFAULT_MAX_FRAME_SIZE. Closes with 1009 from the header
   * alone. Not applied to the data frames of a message received in streaming mode: their payload
   * is reported piece by piece as it arrives, so its memory is bounded by the consumer, not by the
   * frame, and a peer that sends a large message as one frame (as most do) must still reach a
   * streaming reader. In message mode maxMessageSize bounds every frame anyway, because a frame's
   * announced length counts towards its message before any of it is buffered.
   */
  maxFrameSize?: number;
  /**
   * Largest message accepted (sum of fragments, after any transform); default
   * DEFAULT_MAX_MESSAGE_SIZE. 1009. Not applied to messages received in streaming mode, whose
   * memory the consumer holds (except compressed ones, which the core buffers whole).
   */
  maxMessageSize?: number;
  /** Most fragments per message; default DEFAULT_MAX_FRAGMENTS. 1009. Like maxMessageSize, not applied in streaming mode. */
  maxFragments?: number;
  /** Answer pings with pongs automatically (RFC 6455 section 5.5.2 asks for it); default true. */
  autoPong?: boolean;
  /**
   * Extensions negotiated during the handshake, in the order of the response header. When any is
   * given, the handler must implement `transformMessage`.
   */
  extensions?: readonly ExtensionHook[];
  /**
   * Optional whole-buffer UTF-8 validator (Node's `buffer.isUtf8`) used for long unfragmented
   * text, where native code beats the incremental validator. The incremental one is always used
   * across fragments so that invalid text fails at the byte where it becomes invalid.
   */
  isUtf8?: (bytes: Uint8Array) => boolean;
  /** Frames are masked by the client; supply a mask-key source for tests (default: a pooled generateMaskKey). */
  maskKey?: () => Uint8Array;
  /**
   * Allocates an array that the core overwrites entirely before anyone else sees it: a message
   * assembled from several pieces (`output` false: exactly `size` bytes, handed to
   * `handler.message` or `transformMessage`, with its whole buffer), or a masked frame too large
   * for the output slab (`output` true: handed to `handler.output`). Its contents may be anything,
   * so a driver can skip zero-filling (Node's `Buffer.allocUnsafeSlow`: its own ArrayBuffer, no
   * slice of a shared pool). For output it may return a shorter array, of at least
   * min(size, MIN_OUTPUT_CHUNK) bytes (a block of a pool the driver recycles once the transport
   * has written it): the core fills it and asks again for the rest of the frame. Default:
   * `new Uint8Array(size)`.
   */
  allocate?: (size: number, output: boolean) => Uint8Array;
  /**
   * Masks a payload piece into an output array from `allocate` (`source` XOR the key word `word`,
   * see `maskWord`, written from `targetOffset`), for an allocator whose memory has a faster way
   * in than a copy (the Node driver's masking pool). Default: `maskWordInto`.
   */
  maskOutput?: MaskInto;
  /**
   * Makes the views of received chunks handed out as payloads and messages (see
   * FrameParserOptions.view). Default: `chunk.subarray`, a view of the chunk's own class.
   */
  view?: ViewMaker;
}

function allocateZeroed(size: number): Uint8Array {
  return new Uint8Array(size);
}

/** The callbacks through which the core reports what happened. All are called synchronously. */
export interface ConnectionHandler {
  /**
   * Bytes to write to the transport, in order. The arrays are owned by the receiver from now on
   * (the core never writes to them again); a frame header and its payload may arrive as two chunks
   * so that payloads are never copied to be framed (a server sends the caller's payload itself).
   */
  output(chunks: Uint8Array[]): void;
  /**
   * Optional: bytes [start, end) of `buffer` to write to the transport, in order with `output`;
   * the core never writes them again. A small whole message (most replies) comes this way when
   * the handler has it, so that no view and no array is made per message (issue 24); without it,
   * the same bytes come to `output` as one view.
   */
  outputRange?(buffer: ArrayBufferLike, start: number, end: number): void;
  /** A complete message (in message mode). Text has been validated as UTF-8; `data` may be a view into received chunks. */
  message(data: Uint8Array, isText: boolean): void;
  /**
   * A piece of a message (in streaming mode, see `setStreaming`), reported as soon as it arrives:
   * a piece is a whole frame's payload or, when a frame spans several reads, the part of it read
   * so far, so frame boundaries are not visible. `first` is true on the message's first piece,
   * `fin` on its last (which may be empty); every message yields at least one piece. Text is
   * validated incrementally: a piece that ends inside a code point is fine, and invalid text fails
   * with 1007 before the piece holding the bad byte is reported. Pieces may be views of received
   * chunks and may be kept.
   */
  fragment?(data: Uint8Array, isText: boolean, first: boolean, fin: boolean): void;
  /**
   * A ping arrived. With autoPong on and the connection open it is answered: at once while the
   * pongs written during the same `receive` call stay within AUTO_PONG_BUDGET bytes, else by one
   * pong for the latest of the remaining pings at the end of that call (RFC 6455 section 5.5.3).
   */
  ping(payload: Uint8Array): void;
  /** A pong arrived. */
  pong(payload: Uint8Array): void;
  /**
   * The peer's close frame arrived. If we had not sent a close yet, the core has already answered
   * it (echoing the code, as section 5.5.1 asks) and the state is 'closed': the driver should end
   * the transport (the server closes TCP first, section 7.1.1). `code` is 1005 when the frame had
   * no status code. When `holdCloseReply` returned true, the answer is not sent yet (state
   * 'closing', `closeReplyPending` true) and the driver must not end the transport until
   * `replyToClose` (or `close`) has sent it.
   */
  close(code: number, reason: string): void;
  /**
   * Asked when the peer's close frame arrives and we have not sent one: true to answer it later,
   * with `replyToClose`. RFC 6455 section 5.5.1 lets an endpoint finish sending its data before it
   * answers a close: an owner whose consumer has not yet taken the messages read before the close
   * holds the answer, so the replies it sends meanwhile still go out. Absent: answer at once.
   */
  holdCloseReply?(): boolean;
  /**
   * The peer broke the protocol (a ProtocolError) or made us reach a limit (a LimitError). The
   * core has already queued a close frame with `error.closeCode` (unless it had sent one before),
   * moved to 'closing', and will ignore all further input; `closed` is now true, so the driver may end the transport. Messages that were
   * complete before the bad byte have been delivered first. Called at most once.
   */
  protocolError(error: ConnectionFailure): void;
  /**
   * A message whose first frame carried an extension's RSV bits is complete; `data` is its payload
   * as received (e.g. compressed, at most maxMessageSize bytes) and `rsv` the first frame's RSV
   * bits. The core pauses: it buffers further input and emits nothing until `finishTransform` or
   * `failTransform` is called (either may be called from inside this callback).
   */
  transformMessage?(data: Uint8Array, isText: boolean, rsv: number): void;
}

const EMPTY = new Uint8Array(0);

function checkRsv(rsv: number): void {
  if (!Number.isInteger(rsv) || (rsv & ~0x70) !== 0) throw new InvalidArgumentError(`rsv ${String(rsv)} has bits outside 0x70`);
}

/**
 * The RFC 6455 state machine for one connection. Create it once the handshake is done (state
 * 'open'); feed it every byte the transport reads.
 */
export class Connection extends FrameSequence {
  /** A message sent piece by piece with sendFrame is open (a bit of `bits`, idle memory). */
  private get sendingFragmented(): boolean {
    return (this.bits & SequenceBit.SendingFragmented) !== 0;
  }

  private set sendingFragmented(on: boolean) {
    this.bits = on ? this.bits | SequenceBit.SendingFragmented : this.bits & ~SequenceBit.SendingFragmented;
  }
  /**
   * The connection's settings, shared with the other connections of its server (perf-mem, issue
   * 24: see connection-parts.ts): the role, the extensions' RSV bits, and what the assembler and
   * the writer are made from when first needed.
   */
  private readonly parts: ConnectionParts;

  constructor(options: ConnectionOptions, handler: ConnectionHandler) {
    if (options.role !== 'client' && options.role !== 'server') {
      throw new InvalidArgumentError(`role must be 'client' or 'server', got ${String(options.role)}`);
    }
    // The core is public: it checks its own limits, by the same rules the api layer applies first.
    const limits = resolveCoreLimits(options);
    const allocate = options.allocate ?? allocateZeroed;
    let rsvBits = 0;
    for (const extension of options.extensions ?? []) {
      const bits = extension.rsvBits;
      if (!Number.isInteger(bits) || (bits & ~0x70) !== 0 || (bits & rsvBits) !== 0) {
        throw new InvalidArgumentError(`extension ${extension.name} claims invalid or already claimed RSV bits ${String(bits)}`);
      }
      rsvBits |= bits;
    }
    if (rsvBits !== 0 && typeof handler.transformMessage !== 'function') {
      throw new InvalidArgumentError('extensions claim RSV bits but the handler has no transformMessage');
    }
    // Section 5.3: a client MUST mask every frame it sends; a server MUST NOT mask any.
    const client = options.role === 'client';
    super(handler);
    this.parts = connectionParts(limits, allocate, options.isUtf8, client, options.maskOutput ?? maskWordInto, options.maskKey, rsvBits, options.view);
  }

  /** Which end of the connection this is. */
  get role(): Role {
    return this.parts.client ? 'client' : 'server';
  }

  /** Topics hook (issue 20): the RSV bits the extensions claim, for sendPrepared. */
  private get rsvBits(): number {
    return this.parts.rsvBits;
  }

  protected get autoPong(): boolean {
    return this.parts.limits.autoPong;
  }

  protected makeParser(): FrameParser {
    const parts = this.parts;
    return new FrameParser(this, { role: parts.client ? 'client' : 'server', maxFrameSize: Infinity, rsvBits: parts.rsvBits, view: parts.view });
  }

  protected makeAssembler(): MessageAssembler {
    return makeAssembler(this.parts);
  }

  protected makeWriter(): FrameWriter {
    return makeWriter(this.parts);
  }

  protected makeControlFrame(opcode: number, payload: Uint8Array): Uint8Array {
    return controlFrame(opcode, payload, this.parts.client, this.parts.maskKey);
  }

  /**
   * Memory for the transport to read the next bytes straight into, when they can only be the rest
   * of a large frame: the final frame of a message gathered whole (message or transform mode),
   * with at least `minimum` payload bytes still to come and no input waiting before them. The
   * message's memory is allocated whole now (its pieces so far are copied in), and the returned
   * view is its unreceived rest. The transport reads into the view, from its start, and passes
   * what it read to `receive` as a view of that same memory (at most the view's length), which is
   * then taken where it lies instead of being copied. Input from anywhere else is handled as usual.
   *
   * Null otherwise. A driver's allocator does not zero-fill, so the part of the allocation that
   * no bytes have reached is not touched (and, when freshly mapped, not resident).
   */
  receiveTarget(minimum: number): Uint8Array | null {
    if (this.closed || this.turnDepth !== 0) return null;
    const remaining = this.parser.payloadRemaining;
    if (remaining < minimum || remaining === 0) return null;
    return this.assembler.target(remaining);
  }

  /**
   * Deliver subsequent messages as `fragment` events (true) or whole `message` events (false).
   * Takes effect at the next message start. Throws InvalidArgumentError when enabling it on a
   * handler without `fragment`.
   */
  setStreaming(enabled: boolean): void {
    if (enabled && typeof this.handler.fragment !== 'function') {
      throw new InvalidArgumentError('streaming needs a handler with a fragment callback');
    }
    this.streaming = enabled;
  }

  private checkOpen(): void {
    // Section 5.5.1: after sending a close frame the endpoint MUST NOT send any more data frames
    // (until then it may, also while the answer to the peer's close is held).
    if (!this.canSendData) throw new ConnectionNotOpenError(this.readyState);
  }

  /**
   * Frame and output one whole message (text must be UTF-8 bytes). `rsv` lets an extension set its
   * bits on the first frame (the payload is then already transformed). With `fragmentSize`, the
   * message is split into frames of at most that many bytes, all output in one `output` call.
   * Throws ConnectionNotOpenError unless the state is 'open', InvalidArgumentError while a
   * `sendFrame` message is open or for a bad option.
   */
  sendMessage(data: Uint8Array, isText: boolean, options?: { rsv?: number; fragmentSize?: number }): void {
    this.checkOpen();
    if (this.sendingFragmented) throw new InvalidArgumentError('a message sent with sendFrame is still open');
    const rsv = options?.rsv ?? 0;
    if (rsv !== 0) checkRsv(rsv);
    const opcode = isText ? Opcode.Text : Opcode.Binary;
    const fragmentSize = options?.fragmentSize;
    const writer = this.writer;
    const handler = this.handler;
    const whole = fragmentSize === undefined || data.length <= fragmentSize;
    if (whole && handler.outputRange !== undefined) {
      const at = writer.slabFrame(opcode, data, true, rsv);
      if (at !== -1) return handler.outputRange(writer.slabArrayBuffer, at, writer.slabEnd);
    }
    const chunks: Uint8Array[] = [];
    if (whole) {
      writer.frame(chunks, opcode, data, true, rsv);
    } else {
      if (!Number.isInteger(fragmentSize) || fragmentSize < 1) {
        throw new InvalidArgumentError(`fragmentSize must be a positive integer, got ${String(fragmentSize)}`);
      }
      const total = data.length;
      for (let start = 0; start < total; start += fragmentSize) {
        const stop = Math.min(start + fragmentSize, total);
        // Section 5.4: the first frame carries the opcode (and extension bits), the rest are
        // continuations, the last one has FIN.
        writer.frame(chunks, start === 0 ? opcode : Opcode.Continuation, data.subarray(start, stop), stop === total, start === 0 ? rsv : 0);
      }
    }
    handler.output(chunks);
  }

  /**
   * Output one frame of a message sent piece by piece: `first` opens a message (text or binary
   * opcode, with `rsv`), later calls are continuations, `fin` ends it. Callers must not interleave
   * two such messages (the api layer queues); control frames may go between fragments. Throws
   * ConnectionNotOpenError unless open, InvalidArgumentError when `first` does not match whether
   * a message is open.
   */
  sendFrame(data: Uint8Array, isText: boolean, first: boolean, fin: boolean, rsv = 0): void {
    this.checkOpen();
    if (first === this.sendingFragmented) {
      throw new InvalidArgumentError(first ? 'a message sent with sendFrame is still open' : 'no message is open to continue');
    }
    checkRsv(rsv);
    const chunks: Uint8Array[] = [];
    this.writer.frame(chunks, first ? (isText ? Opcode.Text : Opcode.Binary) : Opcode.Continuation, data, fin, first ? rsv : 0);
    this.sendingFragmented = !fin;
    this.handler.output(chunks);
  }

  /**
   * Topics hook (issue 20): outputs a frame prepared once for many connections (see
   * prepared-frame.ts), after the same checks as any whole message. Throws ConnectionNotOpenError
   * unless open, InvalidArgumentError when the frame may not go on this connection.
   */
  sendPrepared(frame: PreparedFrame): void {
    this.checkOpen();
    checkPreparedFrame(frame, this.role, this.rsvBits, this.sendingFragmented);
    this.handler.output(frame.chunks as Uint8Array[]);
  }

  /** Output a ping (payload at most 125 bytes, else InvalidArgumentError is thrown). Allowed while open or closing. */
  ping(payload: Uint8Array = EMPTY): void {
    this.checkControl(payload);
    this.writeControl(Opcode.Ping, payload);
  }

  /** Output an unsolicited or manual pong (payload at most 125 bytes). Allowed while open or closing. */
  pong(payload: Uint8Array = EMPTY): void {
    this.checkControl(payload);
    this.writeControl(Opcode.Pong, payload);
  }

  private checkControl(payload: Uint8Array): void {
    if (this.closed) throw new ConnectionNotOpenError(this.readyState);
    // Section 5.5: all control frames MUST have a payload length of 125 bytes or less.
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new InvalidArgumentError(`control frame payload of ${payload.length} bytes; at most ${MAX_CONTROL_PAYLOAD} allowed`);
    }
  }

  /**
   * Start the closing handshake: output a close frame (validated code and reason; no code means
   * an empty payload) and move to 'closing'; nothing but control frames may be sent after it.
   * While the answer to the peer's close is held, this close is that answer and the state becomes
   * 'closed'. Throws InvalidArgumentError for codes not allowed on the wire (1005, 1006 and 1015
   * included) or a reason over 123 bytes. Does nothing once a close was sent or the connection closed.
   */
  close(code?: number, reason?: string): void {
    this.sendClose(encodeClosePayload(code, reason));
  }
}
