/**
 * Reading RFC 6455 frames (section 5.2) off a byte stream.
 *
 * `FrameParser` is the receive path: bytes arrive in chunks of any size, and the parser reports
 * each frame as a header followed by one or more payload pieces. A payload that lies within one
 * chunk is handed over as a view of that chunk (unmasked in place: received buffers belong to the
 * receiver), and a payload spread over several chunks is handed over piece by piece as it arrives,
 * so that a consumer that streams never makes the parser buffer a large frame. Only control frames
 * (at most 125 bytes) are ever assembled by the parser, so that their consumer sees them whole.
 *
 * Every rule that can be checked from a header alone is checked here, before any payload byte is
 * accepted; rules about sequences of frames (fragmentation, message size) belong to the
 * connection. The parser never throws on input: a violation is reported once as a ProtocolError
 * value whose code names the rule (a frame over maxFrameSize as a MessageTooLargeError), and all
 * later input is ignored.
 *
 * The rules of a single header are in frame-header.ts; `decodeFrame` (frame-decode.ts) is the
 * one-shot form for the low-level API: one whole frame out of a buffer.
 */
import type { ConnectionFailure } from './errors.js';
import { checkFirstBytes, checkLength, headerSize, readLength, resolveLimit } from './frame-header.js';
import { DEFAULT_MAX_FRAME_SIZE } from './limits.js';
import { applyMask, maskWord, unmaskSmall } from './mask.js';

// The one-shot decoder lives in its own file; importers of the parser's module keep finding it here.
export { decodeFrame, type DecodeFrameOptions } from './frame-decode.js';

/**
 * Which end of the connection the parser reads for: a server reads masked client frames, a client
 * unmasked server frames (RFC 6455 section 5.1).
 */
export type FrameParserRole = 'client' | 'server';

/** Options of `FrameParser` and `decodeFrame`. */
export interface FrameParserOptions {
  /**
   * The role of the endpoint that receives. 'server' fails unmasked frames, 'client' fails masked
   * ones (section 5.1). Omitted: both are accepted (tools, proxies, tests).
   */
  role?: FrameParserRole;
  /**
   * Largest payload accepted, in bytes; a larger length fails with MessageTooLargeError (1009)
   * as soon as the header announces it. Default DEFAULT_MAX_FRAME_SIZE (1 MiB) for FrameParser:
   * the receive path must not let a peer decide how much is buffered.
   */
  maxFrameSize?: number;
  /**
   * RSV bits claimed by negotiated extensions, in first-byte position (0x40 RSV1, 0x20 RSV2, 0x10
   * RSV3). Unclaimed bits fail with 1002 (section 5.2). Claimed bits are still refused on control
   * frames and continuation frames, where RFC 7692 section 6 forbids them. Default 0.
   */
  rsvBits?: number;
  /**
   * Makes the views of received chunks that the parser hands out (payload pieces): `length` bytes
   * of `buffer` from `byteOffset`. Absent: `chunk.subarray`, a view of the chunk's own class. A
   * driver whose chunks are Node Buffers passes a maker of Buffer views (node/core-memory.ts):
   * Buffer#subarray asks its chunk for its ArrayBuffer, a call into the runtime, per piece.
   */
  view?: ViewMaker;
}

/** See FrameParserOptions.view. */
export type ViewMaker = (buffer: ArrayBufferLike, byteOffset: number, length: number) => Uint8Array;

/**
 * What the parser reports to. Calls happen synchronously inside `push` and always in this order
 * per frame: `onHeader`, then `onPayload` one or more times, the last call with `end` true (a
 * frame with an empty payload gets one call with an empty array). `onError` ends everything.
 */
export interface FrameParserListener {
  /**
   * A frame header passed every header check. `rsv` is the RSV bits in first-byte position.
   * `length` is the payload length announced (never above maxFrameSize).
   */
  onHeader(fin: boolean, rsv: number, opcode: number, length: number): void;
  /**
   * The next piece of the current frame's payload, already unmasked. `data` is a view of a
   * received chunk whenever the piece lies within one chunk; the listener may keep it (the parser
   * never writes to bytes it has handed out). Control frames arrive in exactly one piece.
   *
   * `mask` is 0 unless the listener asked for this frame's pieces masked (`FrameParser.keepMasked`)
   * and this piece is only part of its frame: then `data` is still masked, and `mask` is the key
   * word (see `maskWord`) that unmasks it from its first byte, e.g. with `maskWordInto`.
   */
  onPayload(data: Uint8Array, end: boolean, mask: number): void;
  /** The input broke a rule; the error carries the close code. No call follows. */
  onError(error: ConnectionFailure): void;
  /**
   * Optional, asked only if `onWholeFrame` exists too: whether a short data frame that is a
   * message by itself (FIN, no RSV bits, text or binary, at most 125 bytes) and lies whole in the
   * chunk being parsed goes to `onWholeFrame` instead of `onHeader` and `onPayload`. Say yes only
   * when those two would do nothing more (issue 24: most frames of small messages are such).
   */
  takesWholeFrame?(length: number): boolean;
  /** A frame `takesWholeFrame` took: its opcode and whole payload, unmasked, a view as for onPayload. */
  onWholeFrame?(opcode: number, payload: Uint8Array): void;
}

const EMPTY = new Uint8Array(0);
/** The queue of every parser with nothing queued: never written to (push and unshift replace it first). */
const NO_INPUT: Uint8Array[] = [];
/** The key of the unmask in progress (applyMask reads it synchronously and keeps nothing). */
const scratchKey = new Uint8Array(4);

// What the parser expects next.
const HEADER = 0;
const PAYLOAD = 1;

// Why the loop stops early: a listener paused the parser, or parsing ended for good.
const RUNNING = 0;
const PAUSED = 1;
const STOPPED = 2;

/** Payloads up to this many bytes are unmasked by the parse loop itself (see parse). */
const SMALL_UNMASK = 64;

/** Where closeQueued gathers a header (one array for every parser: the walk never re-enters). */
const scratchHeader = new Uint8Array(14);

/**
 * Incremental frame parser. Feed it chunks with `push`; it reports to its listener. Any split of
 * the same input (down to single bytes) produces the same headers, the same concatenated payload
 * per frame and the same error: only the number of payload pieces differs.
 *
 * The parser unmasks received bytes in place: chunks given to `push` must belong to the caller
 * and must not be reused for anything else.
 */
export class FrameParser {
  private readonly listener: FrameParserListener;
  private readonly maxFrameSize: number;
  private readonly rsvBits: number;
  /** 1 masked frames expected, 0 unmasked, -1 either. */
  private readonly expectMask: number;
  private readonly view: ViewMaker | null;

  private phase = HEADER;
  private halt = RUNNING;
  /** True while `push` or `resume` is running the loop (a listener may call back into the parser). */
  private busy = false;

  // A header spread over several chunks is gathered here (at most 14 bytes); made on first use,
  // as most connections never see a split header and an idle connection should hold little.
  private headerBuffer: Uint8Array | null = null;
  private headerHave = 0;

  // The frame being read.
  private controlFrame = false;
  private frameMasked = false;
  // The masking key as four numbers rather than a 4-byte array: an array costs about 180 bytes
  // of heap per connection; `unmask` copies them into a shared scratch array for each call.
  private key0 = 0;
  private key1 = 0;
  private key2 = 0;
  private key3 = 0;
  /** Payload bytes still to come. */
  private remaining = 0;
  /** Payload bytes already handed out: the position in the mask cycle of the next byte. */
  private done = 0;
  /** A control frame spread over chunks is assembled here (never more than 125 bytes). */
  private controlBuffer: Uint8Array = EMPTY;
  /** The current frame's pieces that are only part of it are handed over masked (keepMasked). */
  private keepMaskedFrame = false;

  /** Input not parsed yet: received while paused, or pushed from inside a listener call. */
  /** Input waiting while parsing is paused or busy; the shared empty NO_INPUT until something waits (most parsers never queue). */
  private queue: Uint8Array[] = NO_INPUT;

  constructor(listener: FrameParserListener, options: FrameParserOptions = {}) {
    this.listener = listener;
    this.maxFrameSize = resolveLimit(options.maxFrameSize, DEFAULT_MAX_FRAME_SIZE);
    this.rsvBits = (options.rsvBits ?? 0) & 0x70;
    this.expectMask = options.role === 'server' ? 1 : options.role === 'client' ? 0 : -1;
    this.view = options.view ?? null;
  }

  /** True once an error was reported or `stop` was called: all input is ignored from then on. */
  get stopped(): boolean {
    return this.halt === STOPPED;
  }

  /**
   * True between the first byte of a frame and its last: part of a header or of a payload has
   * been read. A driver bounds how long a frame may take to arrive with it.
   */
  get midFrame(): boolean {
    return this.headerHave !== 0 || this.phase === PAYLOAD;
  }

  /**
   * Payload bytes of the current data frame still to come: nonzero only between a data frame's
   * header and its last byte, with no input waiting to be parsed before them. Bytes pushed next
   * (up to this many) are then all payload, which lets a reader put them straight where the
   * payload is going (Connection.receiveTarget).
   */
  get payloadRemaining(): number {
    if (this.phase !== PAYLOAD || this.controlFrame || this.halt !== RUNNING || this.busy || this.queue.length !== 0) return 0;
    return this.remaining;
  }

  /**
   * True between frames with nothing kept: not paused, stopped or parsing, no part of a header
   * read, no input waiting. A parser at rest can be dropped and a new one made for the next bytes
   * (issue 24, idle memory: a quiet connection holds none).
   */
  get atRest(): boolean {
    return this.halt === RUNNING && !this.busy && this.phase === HEADER && this.headerHave === 0 && this.queue.length === 0;
  }

  /** True while paused by `pause`. */
  get paused(): boolean {
    return this.halt === PAUSED;
  }

  /** Whether the frame being read was masked (valid between its `onHeader` and its last `onPayload`). */
  get masked(): boolean {
    return this.frameMasked;
  }

  /**
   * For the data frame whose header was just reported (call it from `onHeader`): those of its
   * payload pieces that are only part of the frame are handed to `onPayload` still masked, with
   * the key word that unmasks them. For a consumer that copies such pieces anyway (to assemble a
   * message), unmasking while copying is one pass over the bytes instead of two. A payload that
   * arrives whole within one chunk is still unmasked in place, as are control frames.
   */
  keepMasked(): void {
    if (!this.controlFrame) this.keepMaskedFrame = this.frameMasked;
  }

  /** Bytes received but not parsed yet (while paused). */
  get bufferedAmount(): number {
    let n = 0;
    for (const chunk of this.queue) n += chunk.length;
    return n;
  }

  /**
   * True when the input queued while paused holds the header of a close frame: the queue is
   * walked frame by frame from where parsing stopped (headers read, payloads skipped), nothing is
   * parsed or reported. For a driver that holds parsing for long (a consumer that does not read)
   * and must still notice that the peer is closing. The walk gives up at a header it cannot read
   * whole yet, or at a length no frame may have (parsing will fail there).
   */
  get closeQueued(): boolean {
    if (this.halt !== PAUSED) return false;
    const header = scratchHeader;
    let have = 0;
    let skip = 0;
    if (this.phase === PAYLOAD) {
      if (this.controlFrame) return false;
      skip = this.remaining;
    } else if (this.headerHave !== 0) {
      header.set(this.headerBuffer!.subarray(0, this.headerHave));
      have = this.headerHave;
    }
    for (const chunk of this.queue) {
      let pos = 0;
      const n = chunk.length;
      while (pos < n) {
        if (skip > 0) {
          const take = Math.min(skip, n - pos);
          pos += take;
          skip -= take;
          continue;
        }
        header[have++] = chunk[pos++]!;
        if (have < 2) continue;
        if ((header[0]! & 0x0f) === 0x8) return true;
        if (have < headerSize(header[1]!)) continue;
        const length = readLength(header, 0);
        if (length < 0) return false;
        skip = length;
        have = 0;
      }
    }
    return false;
  }

  /** Parse the next chunk of the stream. Never throws because of the input. */
  push(chunk: Uint8Array): void {
    if (this.halt === STOPPED || chunk.length === 0) return;
    if (this.busy || this.halt === PAUSED || this.queue.length !== 0) {
      if (this.queue === NO_INPUT) this.queue = [];
      this.queue.push(chunk);
      if (!this.busy && this.halt === RUNNING) this.drain();
      return;
    }
    // try/finally: a listener that throws must not leave the parser believing it is still busy.
    this.busy = true;
    try {
      this.parse(chunk);
    } finally {
      this.busy = false;
    }
    if (this.queue.length !== 0 && this.halt === RUNNING) this.drain();
  }

  /**
   * Stop parsing after the current listener call returns; later input is queued (by reference,
   * not copied) until `resume`. Meant for a consumer that must finish asynchronous work on a frame
   * before the next one is read.
   */
  pause(): void {
    if (this.halt === RUNNING) this.halt = PAUSED;
  }

  /** Continue after `pause`, parsing the queued input now (or, inside a listener call, right after it). */
  resume(): void {
    if (this.halt !== PAUSED) return;
    this.halt = RUNNING;
    if (!this.busy) this.drain();
  }

  /** Ignore all further input, for good (the connection failed or the peer closed). */
  stop(): void {
    this.halt = STOPPED;
    this.queue = NO_INPUT;
  }

  private drain(): void {
    this.busy = true;
    try {
      // A pause right after the header of an empty frame: its (empty) payload is still owed.
      if (this.phase === PAYLOAD && this.remaining === 0) this.parse(EMPTY);
      while (this.halt === RUNNING && this.queue.length !== 0) {
        this.parse(this.queue.shift()!);
      }
    } finally {
      this.busy = false;
    }
  }

  private fail(error: ConnectionFailure): void {
    this.stop();
    this.listener.onError(error);
  }

  /**
   * The loop. After every listener call it checks `halt`: when paused, the unread rest of the
   * chunk goes to the front of the queue.
   */
  private parse(chunk: Uint8Array): void {
    const n = chunk.length;
    const listener = this.listener;
    // Views of the chunk are made from its ArrayBuffer, asked for once per chunk (see options.view).
    const view = this.view;
    const chunkBuffer = view === null ? null : chunk.buffer;
    const chunkOffset = chunk.byteOffset;
    let pos = 0;
    // Payload phase with nothing remaining only happens for an empty payload not yet reported.
    while (pos < n || (this.phase === PAYLOAD && this.remaining === 0)) {
      if (this.phase === HEADER) {
        let buf: Uint8Array;
        let off: number;
        // The header's size from its second byte, written out rather than called (headerSize):
        // parse is large enough that V8 stops inlining small helpers into it, and this runs once
        // per frame (measured: bench/README.md, "Where the time goes").
        const len7 = n - pos >= 2 ? chunk[pos + 1]! & 0x7f : 0;
        const size = n - pos < 2 ? 0 : (len7 === 126 ? 4 : len7 === 127 ? 10 : 2) + ((chunk[pos + 1]! & 0x80) !== 0 ? 4 : 0);
        if (this.headerHave === 0 && size !== 0 && n - pos >= size) {
          // The usual case: the whole header is in this chunk.
          buf = chunk;
          off = pos;
          const error = checkFirstBytes(chunk[pos]!, chunk[pos + 1]!, this.rsvBits, this.expectMask);
          if (error !== null) return this.fail(error);
          pos += size;
        } else {
          // Gather the header: the first two bytes (checked at once, so that a bad frame fails
          // before its peer sends more), then exactly as many more as they announce.
          const hb = (this.headerBuffer ??= new Uint8Array(14));
          let have = this.headerHave;
          if (have < 2) {
            hb[have++] = chunk[pos++]!;
            if (have < 2 && pos < n) hb[have++] = chunk[pos++]!;
            this.headerHave = have;
            if (have < 2) continue;
            const error = checkFirstBytes(hb[0]!, hb[1]!, this.rsvBits, this.expectMask);
            if (error !== null) return this.fail(error);
          }
          const need = headerSize(hb[1]!);
          while (have < need && pos < n) hb[have++] = chunk[pos++]!;
          this.headerHave = have;
          if (have < need) continue;
          this.headerHave = 0;
          buf = hb;
          off = 0;
        }
        const b0 = buf[off]!;
        const b1 = buf[off + 1]!;
        const short = b1 & 0x7f;
        // Lengths under 126 (every small frame) need neither readLength nor its checks.
        const length = short < 126 ? short : readLength(buf, off);
        if (short >= 126 || length > this.maxFrameSize) {
          const error = checkLength(length, this.maxFrameSize);
          if (error !== null) return this.fail(error);
        }
        const masked = (b1 & 0x80) !== 0;
        if (masked) {
          const k = off + (short < 126 ? 2 : short === 126 ? 4 : 10);
          this.key0 = buf[k]!;
          this.key1 = buf[k + 1]!;
          this.key2 = buf[k + 2]!;
          this.key3 = buf[k + 3]!;
        }
        const opcode = b0 & 0x0f;
        // FIN set, no RSV bits, text or binary (checkFirstBytes refused the reserved opcodes), and
        // the payload within this chunk: a message by itself, if the listener takes it so.
        if ((b0 & 0xf0) === 0x80 && opcode !== 0 && opcode < 0x8 && short < 126 && n - pos >= length && listener.onWholeFrame !== undefined && listener.takesWholeFrame?.(length) === true) {
          if (masked) unmaskSmall(chunk, pos, pos + length, this.key0, this.key1, this.key2, this.key3);
          const payload = chunkBuffer === null ? chunk.subarray(pos, pos + length) : view!(chunkBuffer, chunkOffset + pos, length);
          pos += length;
          listener.onWholeFrame(opcode, payload);
          if (this.halt !== RUNNING) return this.suspend(chunk, pos);
          continue;
        }
        this.frameMasked = masked;
        this.keepMaskedFrame = false;
        this.controlFrame = opcode >= 0x8;
        this.remaining = length;
        this.done = 0;
        this.phase = PAYLOAD;
        listener.onHeader((b0 & 0x80) !== 0, b0 & 0x70, opcode, length);
        if (this.halt !== RUNNING) return this.suspend(chunk, pos);
        // An empty payload is reported at once (below), even at the very end of the chunk.
        continue;
      }

      // PAYLOAD
      const avail = n - pos;
      const remaining = this.remaining;
      if (this.controlFrame && (this.done !== 0 || avail < remaining)) {
        // A control frame across chunks: assemble it (at most 125 bytes) so it is seen whole.
        if (this.done === 0) this.controlBuffer = new Uint8Array(remaining);
        const take = avail < remaining ? avail : remaining;
        this.controlBuffer.set(chunk.subarray(pos, pos + take), this.done);
        pos += take;
        this.done += take;
        this.remaining = remaining - take;
        if (this.remaining !== 0) continue;
        const payload = this.controlBuffer;
        this.controlBuffer = EMPTY;
        if (this.frameMasked) this.unmask(payload, 0);
        this.phase = HEADER;
        listener.onPayload(payload, true, 0);
        if (this.halt !== RUNNING) return this.suspend(chunk, pos);
        continue;
      }
      const take = avail < remaining ? avail : remaining;
      const piece = chunkBuffer === null ? chunk.subarray(pos, pos + take) : view!(chunkBuffer, chunkOffset + pos, take);
      let mask = 0;
      if (this.frameMasked) {
        // Section 5.3: unmask with the key; the offset keeps the key cycle going across pieces.
        // Part of a frame whose listener copies it anyway: it unmasks while copying (keepMasked).
        if (this.keepMaskedFrame && (this.done !== 0 || take !== remaining)) mask = this.keyWord(this.done);
        else if (take <= SMALL_UNMASK && this.done === 0) {
          // A small payload from its first byte: XORed here, without the two calls (and the
          // key's copy) that applyMask costs per frame.
          unmaskSmall(chunk, pos, pos + take, this.key0, this.key1, this.key2, this.key3);
        } else this.unmask(piece, this.done);
      }
      pos += take;
      this.done += take;
      this.remaining = remaining - take;
      const end = take === remaining;
      if (end) this.phase = HEADER;
      listener.onPayload(piece, end, mask);
      if (this.halt !== RUNNING) return this.suspend(chunk, pos);
    }
  }

  /** Unmasks `data` in place with the current frame's key; `offset` is its position in the payload. */
  private unmask(data: Uint8Array, offset: number): void {
    const key = scratchKey;
    key[0] = this.key0;
    key[1] = this.key1;
    key[2] = this.key2;
    key[3] = this.key3;
    applyMask(data, key, offset);
  }

  /** The current frame's key as a little-endian word for the payload byte at `offset` (see maskWord). */
  private keyWord(offset: number): number {
    const key = scratchKey;
    key[0] = this.key0;
    key[1] = this.key1;
    key[2] = this.key2;
    key[3] = this.key3;
    return maskWord(key, offset);
  }

  /** After a listener paused the parser: keep the unread rest of the chunk, ahead of the queue. */
  private suspend(chunk: Uint8Array, pos: number): void {
    if (this.halt === PAUSED && pos < chunk.length) {
      if (this.queue === NO_INPUT) this.queue = [];
      this.queue.unshift(chunk.subarray(pos));
    }
  }
}
