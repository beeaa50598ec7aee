/**
 * The sans-I/O RFC 6455 connection state machine.
 *
 * Bytes in (`receive`), events out (the `ConnectionHandler` callbacks, called synchronously from
 * inside `receive` and the send methods), calls in (`sendMessage`, `sendFrame`, `ping`, `close`),
 * bytes out (`handler.output`). No timers, no I/O, no promises: the Node driver owns those.
 *
 * Callbacks instead of an event list: the receive path then allocates nothing per event, and the
 * driver still sees every output produced by one `receive` before it returns, so it can coalesce
 * them into one socket write.
 *
 * Frames are read by `FrameParser`, which checks everything a header alone can tell (opcodes, RSV
 * bits, masking, control frame rules, maxFrameSize). This file owns the rules about sequences of
 * frames: fragmentation, message size and fragment count, UTF-8 across fragments, the closing
 * handshake, pings, and the pause around an extension's transform.
 */
import { checkClosePayload, encodeClosePayload, isValidCloseCode } from './close.js';
import { ConnectionNotOpenError, ErrorCode, InvalidArgumentError, MessageTooLargeError, ProtocolError } from './errors.js';
import { frameHeaderSize, writeFrameHeaderAt } from './frame.js';
import { FrameParser, type FrameParserListener } from './frame-parser.js';
import { checkPreparedFrame, type PreparedFrame } from './prepared-frame.js';
import { MAX_CLOSE_REASON, MAX_CONTROL_PAYLOAD, resolveCoreLimits } from './limits.js';
import { maskInto, maskWord, maskWordInto, writeMaskKey } from './mask.js';
import { Opcode } from './opcode.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

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
}

/** The least an output allocation may return (see ConnectionOptions.allocate): room for any header and then some. */
export const MIN_OUTPUT_CHUNK = 1024;

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
   * The peer broke the protocol or a limit. The core has already queued a close frame with
   * `error.closeCode` (unless it had sent one before), moved to 'closing', and will ignore all
   * further input; `closed` is now true, so the driver may end the transport. Messages that were
   * complete before the bad byte have been delivered first. Called at most once.
   */
  protocolError(error: ProtocolError): void;
  /**
   * A message whose first frame carried an extension's RSV bits is complete; `data` is its payload
   * as received (e.g. compressed, at most maxMessageSize bytes) and `rsv` the first frame's RSV
   * bits. The core pauses: it buffers further input and emits nothing until `finishTransform` or
   * `failTransform` is called (either may be called from inside this callback).
   */
  transformMessage?(data: Uint8Array, isText: boolean, rsv: number): void;
}

const EMPTY = new Uint8Array(0);

/**
 * Bytes of pong frames one `receive` call (a read) may write one ping at a time; pings past it in
 * the same read are answered by one pong for the latest, at the end of the read (RFC 6455 section
 * 5.5.3 allows answering only the most recent ping). 1 KiB answers a burst of pings one by one, as
 * peers and conformance suites expect (Autobahn case 2.10 sends ten pings in one write and wants
 * ten pongs), while a read full of a flood's pings (64 KiB: some 500 pings of 125 bytes) still
 * costs at most 1 KiB of pongs plus one (nine pongs there), so the write buffer of a peer that
 * pings without reading grows at most about 1/50 as fast as it sends.
 */
export const AUTO_PONG_BUDGET = 1024;

// How the message being received is handled.
const NO_MESSAGE = 0;
/** Gathered, then delivered whole with `message`. */
const BUFFER = 1;
/** Reported piece by piece with `fragment`. */
const STREAM = 2;
/** Gathered, then handed to `transformMessage`. */
const TRANSFORM = 3;

/**
 * Below this many bytes the JavaScript validator is faster than a call into native code; above,
 * `options.isUtf8` (when given) checks unfragmented text.
 */
const NATIVE_UTF8_THRESHOLD = 256;
/** A gathered message starts with at least this much room; it then doubles. */
const MIN_MESSAGE_CAPACITY = 1024;
/**
 * Pieces of a gathered message at least this long are kept as received (views) rather than
 * copied into the growing buffer; see append. 8 KiB: well under a socket read (64 KiB), so the
 * pieces of a large message qualify, and large enough that the list stays short.
 */
const LARGE_PIECE = 8 * 1024;
/**
 * A gathered message's buffer may hold at most this much more than the bytes received so far
 * (besides doubling): room for the rest of a frame read in pieces, without letting a header
 * alone decide how much is allocated. 64 KiB: one socket read.
 */
const GROW_AHEAD = 64 * 1024;
/**
 * Unmasked payloads up to this size are copied behind their header into the slab, giving one
 * chunk: a small copy costs less than a second chunk through the transport's write path.
 */
const MERGE_THRESHOLD = 256;
/**
 * Masked payloads need a copy anyway; up to this size it goes into the slab, which is cheaper
 * than allocating (and zero-filling) an array per frame.
 */
const MERGE_MASKED_THRESHOLD = 4096;
/** Below this many bytes a loop copies faster than TypedArray.prototype.set. */
const SET_THRESHOLD = 32;

/**
 * Sizes of the per-connection slab that frame headers and small frames are cut from: the first
 * is small so that a mostly idle connection holds little, each next one doubles up to the largest.
 */
const SLAB_FIRST = 1024;
const SLAB_LARGEST = 16384;

function frameTooLarge(maxFrameSize: number): MessageTooLargeError {
  return new MessageTooLargeError(`frame of more than ${maxFrameSize} bytes (maxFrameSize)`, maxFrameSize);
}

/** A close reason from an error message (ASCII): cut to the 123 bytes a close frame allows (section 5.5.1). */
function closeReason(message: string): string {
  return message.length <= MAX_CLOSE_REASON ? message : message.slice(0, MAX_CLOSE_REASON);
}

function checkRsv(rsv: number): void {
  if (!Number.isInteger(rsv) || (rsv & ~0x70) !== 0) throw new InvalidArgumentError(`rsv ${String(rsv)} has bits outside 0x70`);
}

function invalidUtf8(what: string): ProtocolError {
  // Section 8.1: text that is not valid UTF-8 MUST fail the connection; section 7.4.1: 1007.
  return new ProtocolError(`${what} is not valid UTF-8`, 1007, ErrorCode.InvalidUTF8);
}

/**
 * The RFC 6455 state machine for one connection. Create it once the handshake is done (state
 * 'open'); feed it every byte the transport reads.
 */
export class Connection {
  readonly role: Role;

  private readonly handler: ConnectionHandler;
  private readonly parser: FrameParser;
  private readonly maxFrameSize: number;
  private readonly maxMessageSize: number;
  private readonly maxFragments: number;
  private readonly autoPong: boolean;
  private readonly isUtf8: ((bytes: Uint8Array) => boolean) | undefined;
  private readonly maskKeySource: (() => Uint8Array) | undefined;
  private readonly allocate: (size: number, output: boolean) => Uint8Array;
  private readonly masking: boolean;
  /**
   * The key of the frame being masked (one array, reused: no allocation per frame). Made on the
   * first masked frame: a server never masks, and an idle connection should hold little.
   */
  private key: Uint8Array | null = null;
  /** Output slab and the start of its unused part (see reserve). */
  private slab: Uint8Array = EMPTY;
  private slabOffset = 0;

  private state: ReadyState = 'open';
  private closeSent = false;
  /** The answer to the peer's close frame, while it is held (see ConnectionHandler.holdCloseReply). */
  private closeReply: Uint8Array | null = null;
  private failed = false;
  private transforming = false;
  /** Parsing held by `holdInput` (independent of a transform's pause). */
  private inputHeld = false;
  /** Mode for the next message to start (setStreaming). */
  private streaming = false;
  /** A message sent piece by piece with sendFrame is open. */
  private sendingFragmented = false;
  /** Topics hook (issue 20): the RSV bits the extensions claim, for sendPrepared. */
  private readonly rsvBits: number;

  // The frame being received.
  private frameOpcode = 0;
  private frameFin = false;

  // The message being received.
  private msgMode = NO_MESSAGE;
  private msgText = false;
  private msgRsv = 0;
  /** Bytes announced so far: all earlier fragments plus the whole current frame. */
  private msgSize = 0;
  private msgFragments = 0;
  /** Streaming mode: whether the first piece has been reported. */
  private msgStarted = false;
  /** TRANSFORM mode: whether the transformed message is to be reported as one `fragment`. */
  private msgStreamed = false;
  /**
   * Gathered bytes of a message (BUFFER and TRANSFORM modes), in order: `pieces` (null until a
   * large piece arrives), then the small pieces copied into `buffer` since, doubling as it grows.
   */
  private buffer: Uint8Array | null = null;
  private bufferLength = 0;
  /**
   * `buffer` is the whole message, allocated by receiveTarget: every piece is copied (or was
   * read) into its place there, and nothing goes to `pieces`.
   */
  private inPlace = false;
  private pieces: Uint8Array[] | null = null;
  /** For each of `pieces`, the key word that unmasks it (0: not masked); see FrameParser.keepMasked. */
  private pieceMasks: number[] | null = null;
  /** Bytes gathered so far, in pieces and buffer. */
  private gathered = 0;
  private validator: Utf8Validator | null = null;
  private transformText = false;

  // Pong coalescing (section 5.5.3). A turn is one `receive` (or `finishTransform`) call.
  /** Nesting depth of turns: `finishTransform` may be called from inside `receive`. */
  private turnDepth = 0;
  /** Bytes of pongs written one by one during the current turn (at most AUTO_PONG_BUDGET). */
  private pongBytes = 0;
  /** The latest ping of the current turn that is still unanswered. */
  private pendingPong: Uint8Array | null = null;

  constructor(options: ConnectionOptions, handler: ConnectionHandler) {
    if (options.role !== 'client' && options.role !== 'server') {
      throw new InvalidArgumentError(`role must be 'client' or 'server', got ${String(options.role)}`);
    }
    this.role = options.role;
    this.handler = handler;
    // The core is public: it checks its own limits, by the same rules the api layer applies first.
    const limits = resolveCoreLimits(options);
    this.maxFrameSize = limits.maxFrameSize;
    this.maxMessageSize = limits.maxMessageSize;
    this.maxFragments = limits.maxFragments;
    this.autoPong = limits.autoPong;
    this.isUtf8 = options.isUtf8;
    this.maskKeySource = options.maskKey;
    this.allocate = options.allocate ?? allocateZeroed;
    // Section 5.3: a client MUST mask every frame it sends; a server MUST NOT mask any.
    this.masking = options.role === 'client';
    let rsvBits = 0;
    for (const extension of options.extensions ?? []) {
      const bits = extension.rsvBits;
      if (!Number.isInteger(bits) || (bits & ~0x70) !== 0 || (bits & rsvBits) !== 0) {
        throw new InvalidArgumentError(`extension ${extension.name} claims invalid or already claimed RSV bits ${String(bits)}`);
      }
      rsvBits |= bits;
    }
    this.rsvBits = rsvBits;
    if (rsvBits !== 0 && typeof handler.transformMessage !== 'function') {
      throw new InvalidArgumentError('extensions claim RSV bits but the handler has no transformMessage');
    }
    // The frame limit depends on how the frame's message is received (see onHeader), which the
    // parser does not know: it checks only the lengths no frame may have.
    this.parser = new FrameParser(new ParserListener(this), { role: options.role === 'client' ? 'client' : 'server', maxFrameSize: Infinity, rsvBits });
  }

  /** 'open' from creation; 'closing' once a close frame was sent (or the peer failed, or the peer's close awaits our held answer); 'closed' once both sides closed or the transport ended. */
  get readyState(): ReadyState {
    return this.state;
  }

  /**
   * True once the core will produce no more output of its own and the transport may be ended:
   * the state is 'closed', or the connection was failed (section 7.1.7: after failing, the
   * endpoint closes the transport rather than waiting for the peer).
   */
  get closed(): boolean {
    return this.state === 'closed' || this.failed;
  }

  /**
   * True while the peer's close frame has arrived and our answer is held (holdCloseReply): data
   * may still be sent until `replyToClose` or `close` sends it.
   */
  get closeReplyPending(): boolean {
    return this.closeReply !== null;
  }

  /** True while data frames may be sent: the state is 'open', or the answer to the peer's close is held. */
  get canSendData(): boolean {
    return !this.closeSent && !this.failed && this.state !== 'closed';
  }

  /** True while a transform is outstanding: the driver may stop reading the socket meanwhile. */
  get awaitingTransform(): boolean {
    return this.transforming;
  }

  /** Whether messages starting from now are reported as `fragment` pieces (see setStreaming). */
  get streamingEnabled(): boolean {
    return this.streaming;
  }

  /** Bytes received but not parsed yet because a transform is outstanding or input is held. */
  get bufferedInput(): number {
    return this.parser.bufferedAmount;
  }

  /**
   * True while parsing is held (holdInput, or a transform) and the input kept meanwhile holds a
   * close frame from the peer (not parsed yet: nothing before it has been processed). A driver that
   * holds input for a consumer that may never come back bounds the wait with it.
   */
  get closeHeld(): boolean {
    return !this.failed && this.state !== 'closed' && this.parser.closeQueued;
  }

  /**
   * Stop parsing input after the current callback returns, until `releaseInput`: later input is
   * kept (by reference) and nothing is emitted from it. For a driver whose owner must finish
   * something a delivered message started before the next frame is read, e.g. a reply still being
   * compressed: were the next frame a protocol error or a close, the core would answer it (close
   * frame, state 'closing') before that reply could be sent. Independent of the pause around a
   * transform: parsing resumes only when neither is outstanding. May be called from inside a
   * handler callback. Never throws.
   */
  holdInput(): void {
    if (this.inputHeld) return;
    this.inputHeld = true;
    this.parser.pause();
  }

  /**
   * Lift `holdInput` and parse the input kept meanwhile, now (a turn of its own, as a `receive`
   * call; or right after the current callback, when called from inside one). Never throws: bad
   * input becomes `handler.protocolError`.
   */
  releaseInput(): void {
    if (!this.inputHeld) return;
    this.inputHeld = false;
    if (this.transforming) return;
    this.turnDepth++;
    try {
      this.parser.resume();
    } catch (cause) {
      this.internalFailure(cause);
    }
    if (--this.turnDepth === 0) this.endTurn();
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
    const mode = this.msgMode;
    if ((mode !== BUFFER && mode !== TRANSFORM) || !this.frameFin || this.failed || this.turnDepth !== 0) return null;
    const remaining = this.parser.payloadRemaining;
    if (remaining < minimum || remaining === 0) return null;
    if (!this.inPlace) this.gatherInPlace();
    const buffer = this.buffer!;
    // On the final frame the message's size is known: what is gathered plus what is to come.
    if (this.bufferLength + remaining !== buffer.length) return null;
    return buffer.subarray(this.bufferLength);
  }

  /** Joins the pieces gathered so far into memory for the whole message, for receiveTarget. */
  private gatherInPlace(): void {
    const target = this.allocate(this.msgSize, false);
    this.joinInto(target);
    this.pieces = null;
    this.pieceMasks = null;
    this.buffer = target;
    this.bufferLength = this.gathered;
    this.inPlace = true;
  }

  /**
   * True while the peer is in the middle of something the core holds memory for: a message
   * gathered whole (message or transform mode) has started and not ended, or a frame is partly
   * read (outside a streamed message, whose memory its consumer bounds). A driver bounds how
   * long this may last (a peer that dribbles a message a byte at a time).
   */
  get receiving(): boolean {
    if (this.failed || this.state === 'closed') return false;
    const mode = this.msgMode;
    if (mode === BUFFER || mode === TRANSFORM) return true;
    return mode === NO_MESSAGE && this.parser.midFrame;
  }

  /**
   * Fail the connection (section 7.1.7) for a reason found outside the core: a bound of the
   * driver's that the peer made it reach (a message that took too long, a peer that does not
   * read what we send). Exactly as for a protocol error: a close frame with `error.closeCode`
   * (unless one was sent), input ignored from now on, memory of a partial message freed, and
   * `handler.protocolError(error)`. Does nothing once failed or closed. Never throws.
   */
  failConnection(error: ProtocolError): void {
    try {
      this.fail(error);
    } catch (cause) {
      this.internalFailure(cause);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Feed bytes read from the transport. The chunk becomes the connection's: it is unmasked in
   * place and parts of it may be delivered as views. Never throws: bad input becomes
   * `handler.protocolError`, and so, as a last resort, does an exception thrown by a handler
   * callback (close code 1011, the exception as `cause`).
   */
  receive(chunk: Uint8Array): void {
    this.turnDepth++;
    try {
      this.parser.push(chunk);
    } catch (cause) {
      this.internalFailure(cause);
    }
    if (--this.turnDepth === 0) this.endTurn();
  }

  /**
   * The end of a turn: answer the latest ping still unanswered (see onControl). Never throws,
   * like the receive path it ends.
   */
  private endTurn(): void {
    this.pongBytes = 0;
    const pending = this.pendingPong;
    if (pending === null) return;
    this.pendingPong = null;
    // Pings read before a close whose answer is held are still answered (only our close ends that duty).
    if (this.closeSent || this.failed || this.state === 'closed') return;
    try {
      this.writeControl(Opcode.Pong, pending);
    } catch (cause) {
      this.internalFailure(cause);
    }
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

  private onHeader(fin: boolean, rsv: number, opcode: number, length: number): void {
    this.frameOpcode = opcode;
    // Control frames may come between the fragments of a message (section 5.4); the parser has
    // already checked their length, FIN and RSV bits.
    if (opcode >= 0x8) {
      if (length > this.maxFrameSize) this.fail(frameTooLarge(this.maxFrameSize));
      return;
    }
    this.frameFin = fin;
    let mode = this.msgMode;
    if (opcode === Opcode.Continuation) {
      // Section 5.4: a continuation frame only continues a fragmented message; without one to
      // continue the endpoint MUST fail the connection (1002, section 7.4.1).
      if (mode === NO_MESSAGE) return this.fail(new ProtocolError('continuation frame without a message to continue', 1002));
      if (++this.msgFragments > this.maxFragments && mode !== STREAM) {
        return this.fail(new MessageTooLargeError(`message of more than ${this.maxFragments} fragments (maxFragments)`, this.maxFragments));
      }
    } else {
      // Section 5.4: the fragments of one message MUST NOT be interleaved with another message's,
      // so a text or binary frame inside a fragmented message fails the connection (1002).
      if (mode !== NO_MESSAGE) return this.fail(new ProtocolError('new data frame inside a fragmented message', 1002));
      mode = rsv !== 0 ? TRANSFORM : this.streaming ? STREAM : BUFFER;
      this.msgMode = mode;
      this.msgText = opcode === Opcode.Text;
      this.msgRsv = rsv;
      this.msgSize = 0;
      this.msgFragments = 1;
      this.msgStarted = false;
      this.msgStreamed = this.streaming;
      if (this.msgText && mode !== TRANSFORM) {
        if (this.validator === null) this.validator = new Utf8Validator();
        else this.validator.reset();
      }
    }
    // Section 10.4: an endpoint may refuse frames and messages too large for it; 1009 says so
    // (section 7.4.1). Checked on the header, before any of the payload is buffered. A streamed
    // message's pieces go to its consumer as they arrive, so neither bound applies to it.
    if (length > this.maxFrameSize && mode !== STREAM) return this.fail(frameTooLarge(this.maxFrameSize));
    const size = this.msgSize + length;
    if (size > this.maxMessageSize && mode !== STREAM) {
      return this.fail(new MessageTooLargeError(`message of more than ${this.maxMessageSize} bytes (maxMessageSize)`, this.maxMessageSize));
    }
    this.msgSize = size;
    // A frame of a binary or compressed message that spans reads is copied into the message at
    // its end anyway: its pieces stay masked until then and are unmasked while copied (one pass
    // over the bytes, not two). Text is validated as it arrives, so it is unmasked at once.
    if (mode === TRANSFORM || (mode === BUFFER && !this.msgText)) this.parser.keepMasked();
  }

  private onPayload(data: Uint8Array, end: boolean, mask: number): void {
    const opcode = this.frameOpcode;
    if (opcode >= 0x8) return this.onControl(opcode, data);
    const mode = this.msgMode;
    const last = end && this.frameFin;
    if (mode === STREAM) {
      if (this.msgText && (!this.feedText(data) || (last && !this.validator!.end()))) return this.fail(invalidUtf8('text message'));
      const first = !this.msgStarted;
      this.msgStarted = true;
      if (last) this.msgMode = NO_MESSAGE;
      this.handler.fragment!(data, this.msgText, first, last);
      return;
    }
    if (last && this.gathered === 0 && data.length === this.msgSize && mask === 0 && !this.inPlace) {
      // The whole message arrived as one piece (the common case): hand over the view, no copy.
      // (Not when it was read into memory from receiveTarget: append and takeGathered take it
      // there, and let go of that memory, which the next message must not be gathered into.)
      this.msgMode = NO_MESSAGE;
      if (mode === TRANSFORM) return this.startTransform(data);
      if (this.msgText && !this.validText(data)) return this.fail(invalidUtf8('text message'));
      this.handler.message(data, this.msgText);
      return;
    }
    // Section 5.6 / 8.1: text is checked piece by piece as it arrives, so that invalid UTF-8 fails
    // the connection at the first bad fragment rather than at the end of the message.
    if (this.msgText && mode === BUFFER && !this.feedText(data)) return this.fail(invalidUtf8('text message'));
    this.append(data, mask, last);
    if (!last) return;
    const message = this.takeGathered();
    this.msgMode = NO_MESSAGE;
    if (mode === TRANSFORM) return this.startTransform(message);
    if (this.msgText && !this.validator!.end()) return this.fail(invalidUtf8('text message'));
    this.handler.message(message, this.msgText);
  }

  /**
   * Adds a piece to the message being gathered. A large piece is kept as it is (a view of a
   * received chunk: the parser hands out views and never writes to them again), so that a large
   * message arriving in socket-sized pieces is copied once, when it completes, instead of into a
   * buffer that doubles (twice the bytes copied, and as many zero-filled). Small pieces are
   * copied into `buffer`, so that many small fragments do not become as many objects: the list
   * holds at most two entries per LARGE_PIECE bytes.
   */
  private append(data: Uint8Array, mask: number, last: boolean): void {
    if (this.inPlace) return this.putInPlace(data, mask);
    this.gathered += data.length;
    // A view keeps its whole received chunk alive: kept only when it is most of that chunk, else
    // a peer could interleave control frames so that each small piece pins a full read, and hold
    // several times maxMessageSize (the rest of the chunk was pings, already handled). The
    // message's last piece pins nothing (the message is joined right after), so when there are
    // pieces to join anyway it joins them as it is rather than through the buffer.
    if ((data.length >= LARGE_PIECE && data.length * 2 >= data.buffer.byteLength) || (last && this.pieces !== null)) {
      const pieces = (this.pieces ??= []);
      const masks = (this.pieceMasks ??= []);
      if (this.bufferLength !== 0) {
        pieces.push(this.buffer!.subarray(0, this.bufferLength));
        masks.push(0);
      }
      this.buffer = null;
      this.bufferLength = 0;
      pieces.push(data);
      masks.push(mask);
      return;
    }
    this.copyIn(data, mask);
  }

  /**
   * The gathered message as one array: the buffer or the single piece itself, else one copy of
   * all pieces (unmasked on the way where they are still masked) into an array from `allocate`,
   * which they fill exactly: `gathered` is the sum of their lengths.
   */
  private takeGathered(): Uint8Array {
    const pieces = this.pieces;
    let message: Uint8Array;
    if (pieces === null) {
      message = this.buffer === null ? EMPTY : this.buffer.subarray(0, this.bufferLength);
    } else {
      if (pieces.length === 1 && this.bufferLength === 0) {
        message = pieces[0]!;
        maskWordInto(message, this.pieceMasks![0]!, message, 0);
      } else {
        message = this.allocate(this.gathered, false);
        this.joinInto(message);
      }
    }
    this.buffer = null;
    this.bufferLength = 0;
    this.inPlace = false;
    this.pieces = null;
    this.pieceMasks = null;
    this.gathered = 0;
    return message;
  }

  /**
   * Writes the bytes gathered so far (`pieces`, unmasked on the way where they are still masked,
   * then `buffer`) into `target` from its start: `gathered` bytes.
   */
  private joinInto(target: Uint8Array): void {
    let at = 0;
    const pieces = this.pieces;
    if (pieces !== null) {
      const masks = this.pieceMasks!;
      for (let i = 0; i < pieces.length; i++) {
        maskWordInto(pieces[i]!, masks[i]!, target, at);
        at += pieces[i]!.length;
      }
    }
    if (this.bufferLength !== 0) target.set(this.buffer!.subarray(0, this.bufferLength), at);
  }

  /**
   * Adds a piece to a message whose whole memory is `buffer` (receiveTarget). A piece the
   * transport read straight into its place is already there (still to be unmasked, if masked).
   */
  private putInPlace(data: Uint8Array, mask: number): void {
    const buffer = this.buffer!;
    const at = this.bufferLength;
    const there = data.buffer === buffer.buffer && data.byteOffset === buffer.byteOffset + at;
    if (!there || mask !== 0) maskWordInto(data, mask, buffer, at);
    this.bufferLength = at + data.length;
    this.gathered += data.length;
  }

  /** Copies a small piece into the message buffer, growing it by doubling (never past the known size or the limit). */
  private copyIn(data: Uint8Array, mask: number): void {
    const length = this.bufferLength;
    const need = length + data.length;
    let buffer = this.buffer;
    if (buffer === null || buffer.length < need) {
      // Memory follows the bytes received, never the bytes announced: a header may announce up
      // to the limit (or, with the limits relaxed, 2^63) and then send one byte. Doubling keeps
      // 65,536 small fragments at about 17 copies of the data instead of one per fragment; room
      // for the rest of the current frame is reserved only up to GROW_AHEAD bytes past what
      // arrived. msgSize counts the whole current frame, so on the final frame it is the
      // message's exact size, which the buffer never exceeds.
      // The bytes gathered before the buffer's are in `pieces`: it never needs room for them.
      const before = this.gathered - need;
      let capacity = buffer === null ? MIN_MESSAGE_CAPACITY : buffer.length * 2;
      const ahead = Math.min(this.msgSize - before, need + GROW_AHEAD);
      if (capacity < ahead) capacity = ahead;
      capacity = Math.min(capacity, (this.frameFin ? this.msgSize : this.maxMessageSize) - before);
      if (capacity < need) capacity = need;
      const grown = new Uint8Array(capacity);
      if (buffer !== null && length !== 0) grown.set(buffer.subarray(0, length));
      this.buffer = buffer = grown;
    }
    maskWordInto(data, mask, buffer, length);
    this.bufferLength = need;
  }

  /**
   * Feeds one piece of text to the incremental validator; false once the text so far cannot be
   * valid. With `options.isUtf8`, a long piece is checked natively between code point boundaries
   * and only its ragged ends (at most 3 bytes each) go through the JavaScript automaton, so that
   * failing fast per piece does not cost native speed.
   */
  private feedText(data: Uint8Array): boolean {
    const validator = this.validator!;
    const native = this.isUtf8;
    const n = data.length;
    if (native === undefined || n < NATIVE_UTF8_THRESHOLD) return validator.feed(data);
    // Finish a code point begun in an earlier piece: it needs at most 3 more bytes, after which
    // the validator is either between code points or has failed.
    let start = 0;
    while (!validator.end()) {
      if (!validator.feed(data.subarray(start, start + 1))) return false;
      start++;
    }
    // Leave a code point that this piece only begins to the automaton: find the last byte that
    // is not a continuation byte (within the last 4) and see whether its sequence is complete.
    let stop = n;
    for (let i = n - 1; i >= n - 4; i--) {
      const b = data[i]!;
      if ((b & 0xc0) !== 0x80) {
        const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
        if (i + length > n) stop = i;
        break;
      }
    }
    if (!native(data.subarray(start, stop))) return false;
    return stop === n || validator.feed(data.subarray(stop));
  }

  private validText(data: Uint8Array): boolean {
    const native = this.isUtf8;
    return native !== undefined && data.length >= NATIVE_UTF8_THRESHOLD ? native(data) : isValidUtf8(data);
  }

  private onControl(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.Ping) {
      // Section 5.5.2: on a ping an endpoint MUST send a pong with the same application data
      // (section 5.5.3), unless it already sent a close; the option lets an application decline.
      // Section 5.5.3: an endpoint that has not yet answered earlier pings MAY answer only the
      // most recent one. Pings are answered at once while the turn's pongs fit AUTO_PONG_BUDGET;
      // past it, the rest of the turn's pings get one pong, for the latest, at the end of the
      // turn (a later ping never overtakes a pending one, so pongs stay in order). A flood costs
      // a bounded number of pongs per read however many pings the read held.
      if (this.autoPong && this.state === 'open') {
        const size = frameHeaderSize(payload.length, this.masking) + payload.length;
        if (this.turnDepth === 0 || (this.pendingPong === null && this.pongBytes + size <= AUTO_PONG_BUDGET)) {
          if (this.turnDepth !== 0) this.pongBytes += size;
          this.writeControl(Opcode.Pong, payload);
        } else {
          this.pendingPong = payload;
        }
      }
      this.handler.ping(payload);
      return;
    }
    if (opcode === Opcode.Pong) {
      this.handler.pong(payload);
      return;
    }
    // Close. Section 5.5.1 / 7.1.5: an optional 2-byte code then UTF-8; a 1-byte body or a code
    // that may not be sent fails with 1002, a reason that is not UTF-8 with 1007.
    const result = checkClosePayload(payload);
    if (result instanceof ProtocolError) return this.fail(result);
    // Section 5.5.1: the peer sends nothing after its close; whatever follows is ignored.
    this.parser.stop();
    this.dropMessage();
    if (!this.closeSent) {
      // Section 5.5.1: an endpoint that receives a close and has not sent one MUST send one in
      // response, typically echoing the status code received (none if there was none). It may
      // first finish sending its data ("after sending all its data"): the owner says whether to.
      const reply = result.code === 1005 ? EMPTY : payload.slice(0, 2);
      if (this.handler.holdCloseReply?.() === true) {
        this.closeReply = reply;
        this.state = 'closing';
        this.handler.close(result.code, result.reason);
        return;
      }
      this.closeSent = true;
      this.state = 'closed';
      this.writeControl(Opcode.Close, reply);
    } else {
      this.state = 'closed';
    }
    this.handler.close(result.code, result.reason);
  }

  private startTransform(data: Uint8Array): void {
    this.transforming = true;
    this.transformText = this.msgText;
    // Stop reading frames until the result is back, so that event order is kept.
    this.parser.pause();
    this.handler.transformMessage!(data, this.msgText, this.msgRsv);
  }

  /**
   * Hand back the result of `transformMessage`; validates (size: 1009, UTF-8: 1007) and delivers
   * it (as `message`, or as one `fragment` with first and fin true if the message started in
   * streaming mode), then resumes parsing the input received meanwhile. Ignored once the
   * connection failed or closed; InvalidArgumentError if no transform is outstanding.
   */
  finishTransform(data: Uint8Array): void {
    if (!this.transforming) {
      if (this.failed || this.state === 'closed') return;
      throw new InvalidArgumentError('finishTransform without an outstanding transform');
    }
    this.transforming = false;
    // Resuming parses the input queued meanwhile: a turn of its own, for pong coalescing.
    this.turnDepth++;
    try {
      this.deliverTransformed(data);
    } finally {
      if (--this.turnDepth === 0) this.endTurn();
    }
  }

  private deliverTransformed(data: Uint8Array): void {
    try {
      // The limit applies to the transformed message: a small compressed message must not
      // become a large one in memory (section 10.4; RFC 7692 section 8.1 makes the same point).
      if (data.length > this.maxMessageSize) {
        return this.fail(new MessageTooLargeError(`message of more than ${this.maxMessageSize} bytes (maxMessageSize)`, this.maxMessageSize));
      }
      const isText = this.transformText;
      if (isText && !this.validText(data)) return this.fail(invalidUtf8('text message'));
      if (this.msgStreamed) this.handler.fragment!(data, isText, true, true);
      else this.handler.message(data, isText);
      // Unless the driver held input meanwhile (holdInput, e.g. from the message's listener).
      if (!this.inputHeld) this.parser.resume();
    } catch (cause) {
      this.internalFailure(cause);
    }
  }

  /** The transform failed (e.g. inflation exceeded maxMessageSize): fail the connection with this error. */
  failTransform(error: ProtocolError): void {
    if (!this.transforming) {
      if (this.failed || this.state === 'closed') return;
      throw new InvalidArgumentError('failTransform without an outstanding transform');
    }
    this.transforming = false;
    try {
      this.fail(error);
    } catch (cause) {
      this.internalFailure(cause);
    }
  }

  private dropMessage(): void {
    this.msgMode = NO_MESSAGE;
    this.buffer = null;
    this.bufferLength = 0;
    this.inPlace = false;
    this.pieces = null;
    this.pieceMasks = null;
    this.gathered = 0;
    this.transforming = false;
  }

  /**
   * Fail the WebSocket connection (section 7.1.7): send a close with the error's code unless one
   * was sent, stop reading, report once. Codes that may not go on the wire become 1011.
   */
  private fail(error: ProtocolError): void {
    if (this.failed || this.state === 'closed') return;
    this.failed = true;
    this.parser.stop();
    this.dropMessage();
    this.state = 'closing';
    // A held answer to the peer's close is replaced by the close frame of the failure.
    this.closeReply = null;
    try {
      if (!this.closeSent) {
        this.closeSent = true;
        const code = isValidCloseCode(error.closeCode) ? error.closeCode : 1011;
        // A peer told only 1009 cannot tell which limit it met: the reason names it and its value.
        const reason = error instanceof MessageTooLargeError && code === 1009 ? closeReason(error.message) : '';
        this.writeControl(Opcode.Close, encodeClosePayload(code, reason));
      }
    } finally {
      // Reported even if the output callback threw: the error is what the driver must act on.
      this.handler.protocolError(error);
    }
  }

  private internalFailure(cause: unknown): void {
    const error = new ProtocolError(`internal error: ${cause instanceof Error ? cause.message : String(cause)}`, 1011);
    (error as { cause?: unknown }).cause = cause;
    try {
      this.fail(error);
    } catch {
      // The handler itself keeps throwing: at least make sure no more input is processed.
      this.failed = true;
      this.parser.stop();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sending

  private checkOpen(): void {
    // Section 5.5.1: after sending a close frame the endpoint MUST NOT send any more data frames
    // (until then it may, also while the answer to the peer's close is held).
    if (!this.canSendData) throw new ConnectionNotOpenError(this.state);
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
    checkRsv(rsv);
    const opcode = isText ? Opcode.Text : Opcode.Binary;
    const fragmentSize = options?.fragmentSize;
    const chunks: Uint8Array[] = [];
    if (fragmentSize === undefined || data.length <= fragmentSize) {
      this.frame(chunks, opcode, data, true, rsv);
    } else {
      if (!Number.isInteger(fragmentSize) || fragmentSize < 1) {
        throw new InvalidArgumentError(`fragmentSize must be a positive integer, got ${String(fragmentSize)}`);
      }
      const total = data.length;
      for (let start = 0; start < total; start += fragmentSize) {
        const stop = Math.min(start + fragmentSize, total);
        // Section 5.4: the first frame carries the opcode (and extension bits), the rest are
        // continuations, the last one has FIN.
        this.frame(chunks, start === 0 ? opcode : Opcode.Continuation, data.subarray(start, stop), stop === total, start === 0 ? rsv : 0);
      }
    }
    this.handler.output(chunks);
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
    this.frame(chunks, first ? (isText ? Opcode.Text : Opcode.Binary) : Opcode.Continuation, data, fin, first ? rsv : 0);
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
    if (this.state === 'closed' || this.failed) throw new ConnectionNotOpenError(this.state);
    // Section 5.5: all control frames MUST have a payload length of 125 bytes or less.
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new InvalidArgumentError(`control frame payload of ${payload.length} bytes; at most ${MAX_CONTROL_PAYLOAD} allowed`);
    }
  }

  /**
   * Start the closing handshake: output a close frame (validated code and reason; no code means
   * an empty payload) and move to 'closing'; nothing but control frames may be sent after it.
   * Throws InvalidArgumentError for codes not allowed on the wire (1005, 1006 and 1015 included)
   * or a reason over 123 bytes. Does nothing once a close was sent or the connection closed.
   */
  close(code?: number, reason?: string): void {
    const payload = encodeClosePayload(code, reason);
    if (this.closeSent || this.state === 'closed') return;
    this.closeSent = true;
    // While the answer to the peer's close is held, this close is that answer: the handshake is done.
    this.state = this.closeReply !== null ? 'closed' : 'closing';
    this.closeReply = null;
    this.writeControl(Opcode.Close, payload);
  }

  /**
   * Send the answer to the peer's close frame held by `holdCloseReply` (echoing its code) and move
   * to 'closed'. Does nothing unless an answer is held.
   */
  replyToClose(): void {
    const reply = this.closeReply;
    if (reply === null || this.closeSent) return;
    this.closeReply = null;
    this.closeSent = true;
    this.state = 'closed';
    this.writeControl(Opcode.Close, reply);
  }

  /** The transport ended or failed without a close frame: move to 'closed' (code 1006, the driver reports it). */
  transportClosed(): void {
    this.state = 'closed';
    this.closeReply = null;
    this.pendingPong = null;
    this.parser.stop();
    this.dropMessage();
  }

  private writeControl(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.Close && this.pendingPong !== null) {
      // Every ping received before our close is answered before it.
      const pending = this.pendingPong;
      this.pendingPong = null;
      this.writeControl(Opcode.Pong, pending);
    }
    const chunks: Uint8Array[] = [];
    this.frame(chunks, opcode, payload, true, 0);
    this.handler.output(chunks);
  }

  /**
   * Reserves `size` bytes of the output slab and returns their offset. Headers and small frames
   * are cut from one per-connection slab rather than allocated one by one: a fresh off-heap array
   * per frame (or the on-heap one V8 makes for tiny arrays, which the transport then has to move
   * off-heap) costs more than the frame. A reserved region is never written again once handed out.
   */
  private reserve(size: number): number {
    let at = this.slabOffset;
    const slab = this.slab;
    if (at + size > slab.length) {
      const next = slab.length === 0 ? SLAB_FIRST : Math.min(slab.length * 2, SLAB_LARGEST);
      this.slab = new Uint8Array(next < size ? size : next);
      at = 0;
    }
    this.slabOffset = at + size;
    return at;
  }

  /** An output array from `allocate`, checked: at least min(size, MIN_OUTPUT_CHUNK) bytes, at most size. */
  private outputChunk(size: number): Uint8Array {
    const out = this.allocate(size, true);
    if (!(out instanceof Uint8Array) || out.length > size || out.length < Math.min(size, MIN_OUTPUT_CHUNK)) {
      throw new InvalidArgumentError(`allocate(${size}, true) returned ${out instanceof Uint8Array ? `${out.length} bytes` : 'no Uint8Array'}`);
    }
    return out;
  }

  /** The masking key for the next frame, in `this.key` (RFC 6455 section 5.3: fresh and unpredictable per frame). */
  private nextKey(): Uint8Array {
    const key = (this.key ??= new Uint8Array(4));
    const source = this.maskKeySource;
    if (source === undefined) {
      writeMaskKey(key, 0);
    } else {
      const given = source();
      if (!(given instanceof Uint8Array) || given.length !== 4) throw new InvalidArgumentError('maskKey() must return 4 bytes');
      key.set(given);
    }
    return key;
  }

  /**
   * Appends one frame to `chunks`: one chunk when masked (the payload is masked into a copy, so the
   * caller's buffer is never altered) or small; else a header chunk and the caller's payload itself.
   */
  private frame(chunks: Uint8Array[], opcode: number, payload: Uint8Array, fin: boolean, rsv: number): void {
    const length = payload.length;
    // Section 5.3: a client MUST mask every frame it sends; a server MUST NOT mask.
    const masked = this.masking;
    const headerSize = frameHeaderSize(length, masked);
    const first = (fin ? 0x80 : 0) | rsv | opcode;
    if (length <= (masked ? MERGE_MASKED_THRESHOLD : MERGE_THRESHOLD)) {
      const total = headerSize + length;
      const at = this.reserve(total);
      const slab = this.slab;
      writeFrameHeaderAt(slab, at, first, length, masked);
      if (masked) {
        const key = this.nextKey();
        const k = at + headerSize - 4;
        slab[k] = key[0]!;
        slab[k + 1] = key[1]!;
        slab[k + 2] = key[2]!;
        slab[k + 3] = key[3]!;
        maskInto(payload, key, slab, at + headerSize);
      } else if (length < SET_THRESHOLD) {
        for (let i = 0, o = at + headerSize; i < length; i++) slab[o + i] = payload[i]!;
      } else {
        slab.set(payload, at + headerSize);
      }
      // The constructor, not subarray: it skips the species lookup and measured twice as fast.
      chunks.push(new Uint8Array(slab.buffer, at, total));
    } else if (masked) {
      // Every byte of every chunk is written below: header, key, masked payload.
      let out = this.outputChunk(headerSize + length);
      writeFrameHeaderAt(out, 0, first, length, true);
      const key = this.nextKey();
      out.set(key, headerSize - 4);
      let done = out.length - headerSize;
      maskInto(payload.subarray(0, done), key, out, headerSize);
      chunks.push(out);
      // The rest, when the allocator gave less than the whole frame.
      while (done < length) {
        out = this.outputChunk(length - done);
        maskWordInto(payload.subarray(done, done + out.length), maskWord(key, done), out, 0);
        done += out.length;
        chunks.push(out);
      }
    } else {
      const at = this.reserve(headerSize);
      writeFrameHeaderAt(this.slab, at, first, length, false);
      chunks.push(new Uint8Array(this.slab.buffer, at, headerSize), payload);
    }
  }
}

/**
 * Forwards the parser's reports to the connection's private handlers: one small object per
 * connection, where an object literal of three arrow functions cost four objects and a context
 * (about 250 bytes of heap per connection, idle or not).
 */
class ParserListener implements FrameParserListener {
  private readonly connection: Connection;

  constructor(connection: Connection) {
    this.connection = connection;
  }

  onHeader(fin: boolean, rsv: number, opcode: number, length: number): void {
    this.connection['onHeader'](fin, rsv, opcode, length);
  }

  onPayload(data: Uint8Array, end: boolean, mask: number): void {
    this.connection['onPayload'](data, end, mask);
  }

  onError(error: ProtocolError): void {
    this.connection['fail'](error);
  }
}
