/**
 * The message assembler: everything about the data message being received, between its first
 * frame and its last. It chooses how the message is handled (gathered whole, streamed piece by
 * piece, or gathered for an extension's transform), applies the size and fragment limits (RFC
 * 6455 section 10.4) from the headers alone, gathers the pieces with as few copies as the memory
 * bounds allow, validates text as UTF-8 as it arrives (sections 5.6 and 8.1), and offers memory
 * for the transport to read the rest of a large message into (receive targets). It reports
 * nothing itself: the Connection's frame-sequence rules decide what follows from what it finds.
 */
import { type ConnectionFailure, MessageTooLargeError } from './errors.js';
import type { Allocate } from './frame-writer.js';
import type { CoreLimits } from './limits.js';
import { maskWordInto } from './mask.js';
import { isValidUtf8, Utf8Validator } from './utf8.js';

// How the message being received is handled (MessageAssembler.mode).
/** No data message has started. */
export const NO_MESSAGE = 0;
/** Gathered, then delivered whole with `message`. */
export const BUFFER = 1;
/** Reported piece by piece with `fragment`. */
export const STREAM = 2;
/** Gathered, then handed to `transformMessage`. */
export const TRANSFORM = 3;

const EMPTY = new Uint8Array(0);

/**
 * Below this many bytes the JavaScript validator is faster than a call into native code; above,
 * the native validator (when given) checks unfragmented text.
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

/** The error for a frame over maxFrameSize (1009). */
export function frameTooLarge(maxFrameSize: number): MessageTooLargeError {
  return new MessageTooLargeError(`frame of more than ${maxFrameSize} bytes (maxFrameSize)`, maxFrameSize);
}

/** The error for a message over maxMessageSize (1009). */
export function messageTooLarge(maxMessageSize: number): MessageTooLargeError {
  return new MessageTooLargeError(`message of more than ${maxMessageSize} bytes (maxMessageSize)`, maxMessageSize);
}

/** The data message being received on one connection, and the memory it holds. */
export class MessageAssembler {
  readonly maxFrameSize: number;
  readonly maxMessageSize: number;
  private readonly maxFragments: number;
  private readonly isUtf8: ((bytes: Uint8Array) => boolean) | undefined;
  private readonly allocate: Allocate;

  /** How the message is handled: NO_MESSAGE, BUFFER, STREAM or TRANSFORM. */
  mode = NO_MESSAGE;
  /** The message is text. */
  text = false;
  /**
   * Whether the message's frames that span reads may arrive still masked: a frame of a binary or
   * compressed message is copied into the message at its end anyway, and is unmasked while copied
   * (one pass over the bytes, not two). Text is validated as it arrives, so it is unmasked at
   * once. Set by `begin`, a field rather than a getter: the parse loop asks it for every frame.
   */
  keepsMasked = false;
  /** The RSV bits of its first frame. */
  rsv = 0;
  /** The frame being received is its last. */
  frameFin = false;
  /** Streaming mode: whether the first piece has been reported. */
  started = false;
  /** TRANSFORM mode: whether the transformed message is to be reported as one `fragment`. */
  streamed = false;
  /** Bytes announced so far: all earlier fragments plus the whole current frame. */
  private size = 0;
  private fragments = 0;
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

  constructor(limits: CoreLimits, allocate: Allocate, isUtf8: ((bytes: Uint8Array) => boolean) | undefined) {
    this.maxFrameSize = limits.maxFrameSize;
    this.maxMessageSize = limits.maxMessageSize;
    this.maxFragments = limits.maxFragments;
    this.allocate = allocate;
    this.isUtf8 = isUtf8;
  }

  /**
   * A text or binary frame starts a message: an extension's RSV bits make it a TRANSFORM message,
   * else `streaming` (the receiver's mode for new messages) decides between STREAM and BUFFER.
   */
  begin(text: boolean, rsv: number, streaming: boolean): void {
    const mode = rsv !== 0 ? TRANSFORM : streaming ? STREAM : BUFFER;
    this.mode = mode;
    this.text = text;
    this.keepsMasked = mode === TRANSFORM || (mode === BUFFER && !text);
    this.rsv = rsv;
    this.size = 0;
    this.fragments = 0;
    this.started = false;
    this.streamed = streaming;
    if (text && mode !== TRANSFORM) {
      if (this.validator === null) this.validator = new Utf8Validator();
      else this.validator.reset();
    }
  }

  /**
   * Whether a data frame of `length` bytes with FIN set and no RSV bits, arriving whole, is a
   * complete message that breaks no bound: no message is in progress or gathered, and `length` is
   * within the size limits frameHeader would check (maxFragments is at least 1, so one frame
   * never breaks it). Such a frame needs nothing of the assembler
   * (FrameParserListener.takesWholeFrame).
   */
  takesWhole(length: number): boolean {
    return this.mode === NO_MESSAGE && this.gathered === 0 && !this.inPlace && length <= this.maxFrameSize && length <= this.maxMessageSize;
  }

  /**
   * The header of a frame of the message (its first or a continuation) announces `length` bytes:
   * the error when that breaks a limit, else null. Section 10.4: an endpoint may refuse frames
   * and messages too large for it, with 1009 (section 7.4.1); checked on the header, before any of
   * the payload is buffered. A streamed message's pieces go to its consumer as they arrive, so no
   * bound applies to it.
   */
  frameHeader(fin: boolean, length: number): ConnectionFailure | null {
    this.frameFin = fin;
    if (this.mode === STREAM) return null;
    if (++this.fragments > this.maxFragments) {
      return new MessageTooLargeError(`message of more than ${this.maxFragments} fragments (maxFragments)`, this.maxFragments);
    }
    if (length > this.maxFrameSize) return frameTooLarge(this.maxFrameSize);
    const size = this.size + length;
    if (size > this.maxMessageSize) return messageTooLarge(this.maxMessageSize);
    this.size = size;
    return null;
  }


  /**
   * True when `data`, the last piece, is the whole message (the common case): it can be handed
   * over as it is, a view, no copy. (Not when it was read into memory from receiveTarget: append
   * and take find it there, and let go of that memory, which the next message must not be
   * gathered into.)
   */
  isWhole(data: Uint8Array, mask: number): boolean {
    return this.gathered === 0 && data.length === this.size && mask === 0 && !this.inPlace;
  }

  /**
   * Adds a piece to the message being gathered. A large piece is kept as it is (a view of a
   * received chunk: the parser hands out views and never writes to them again), so that a large
   * message arriving in socket-sized pieces is copied once, when it completes, instead of into a
   * buffer that doubles (twice the bytes copied, and as many zero-filled). Small pieces are
   * copied into `buffer`, so that many small fragments do not become as many objects: the list
   * holds at most two entries per LARGE_PIECE bytes.
   */
  append(data: Uint8Array, mask: number, last: boolean): void {
    if (this.inPlace) return this.putInPlace(data, mask);
    this.gathered += data.length;
    // A piece that fits the buffer's room goes there: no allocation, and it is copied once either
    // way. For a message in two pieces whose first was small (a frame starting late in a read),
    // the buffer is already the whole message, and joining the pieces instead would allocate a
    // second message-sized array (issue 24: half of all 64 KiB messages, and their page faults).
    const buffer = this.buffer;
    if (this.pieces === null && buffer !== null && this.bufferLength + data.length <= buffer.length) return this.copyIn(data, mask);
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
   * The gathered message as one array, which the assembler lets go of: the buffer or the single
   * piece itself, else one copy of all pieces (unmasked on the way where they are still masked)
   * into an array from `allocate`, which they fill exactly: `gathered` is the sum of their lengths.
   */
  take(): Uint8Array {
    const pieces = this.pieces;
    let message: Uint8Array;
    if (pieces === null) {
      message = this.buffer === null ? EMPTY : this.buffer.subarray(0, this.bufferLength);
    } else if (pieces.length === 1 && this.bufferLength === 0) {
      message = pieces[0]!;
      maskWordInto(message, this.pieceMasks![0]!, message, 0);
    } else {
      message = this.allocate(this.gathered, false);
      this.joinInto(message);
    }
    this.release();
    return message;
  }

  /** Forgets the message (its memory included): it ended, or the connection did. */
  drop(): void {
    this.mode = NO_MESSAGE;
    this.release();
  }

  private release(): void {
    this.buffer = null;
    this.bufferLength = 0;
    this.inPlace = false;
    this.pieces = null;
    this.pieceMasks = null;
    this.gathered = 0;
  }

  /**
   * Memory for the rest of the message when the current frame is its last and `remaining` of its
   * payload bytes are still to come (see Connection.receiveTarget): the message's memory is
   * allocated whole now (its pieces so far are copied in), and the result is its unreceived rest.
   * Null when the message is not gathered whole.
   */
  target(remaining: number): Uint8Array | null {
    const mode = this.mode;
    if ((mode !== BUFFER && mode !== TRANSFORM) || !this.frameFin) return null;
    if (!this.inPlace) {
      const whole = this.allocate(this.size, false);
      this.joinInto(whole);
      this.pieces = null;
      this.pieceMasks = null;
      this.buffer = whole;
      this.bufferLength = this.gathered;
      this.inPlace = true;
    }
    const buffer = this.buffer!;
    // On the final frame the message's size is known: what is gathered plus what is to come.
    if (this.bufferLength + remaining !== buffer.length) return null;
    return buffer.subarray(this.bufferLength);
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
      // arrived. `size` counts the whole current frame, so on the final frame it is the
      // message's exact size, which the buffer never exceeds.
      // The bytes gathered before the buffer's are in `pieces`: it never needs room for them.
      const before = this.gathered - need;
      let capacity = buffer === null ? MIN_MESSAGE_CAPACITY : buffer.length * 2;
      const ahead = Math.min(this.size - before, need + GROW_AHEAD);
      if (capacity < ahead) capacity = ahead;
      capacity = Math.min(capacity, (this.frameFin ? this.size : this.maxMessageSize) - before);
      if (capacity < need) capacity = need;
      // A buffer that is exactly the whole message (its final frame, nothing in `pieces`) takes
      // every later piece (see append) and is filled before anyone sees it, so it need not be
      // zero-filled first: memory from `allocate`, as a joined message. Any other buffer may be
      // handed over with room to spare (its `.buffer` shows it): zeroed.
      const grown = before === 0 && this.frameFin && capacity === this.size ? this.allocate(capacity, false) : new Uint8Array(capacity);
      if (buffer !== null && length !== 0) grown.set(buffer.subarray(0, length));
      this.buffer = buffer = grown;
    }
    maskWordInto(data, mask, buffer, length);
    this.bufferLength = need;
  }

  /** Whether the text fed so far ends on a code point boundary: false means the message's text is cut short. */
  textComplete(): boolean {
    return this.validator!.end();
  }

  /**
   * Feeds one piece of text to the incremental validator; false once the text so far cannot be
   * valid. With a native validator, a long piece is checked natively between code point
   * boundaries and only its ragged ends (at most 3 bytes each) go through the JavaScript
   * automaton, so that failing fast per piece does not cost native speed.
   */
  feedText(data: Uint8Array): boolean {
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

  /** Whether a whole message (or a transform's result) is valid UTF-8. */
  validText(data: Uint8Array): boolean {
    const native = this.isUtf8;
    return native !== undefined && data.length >= NATIVE_UTF8_THRESHOLD ? native(data) : isValidUtf8(data);
  }
}
