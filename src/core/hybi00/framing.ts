/**
 * hybi-00 framing (draft-ietf-hybi-thewebsocketprotocol-00 section 4.2 and 5.3): a frame is a
 * type byte, then either bytes up to a 0xFF sentinel (type's high bit clear; type 0x00 is a text
 * message, the only kind a peer may send) or a length in 7-bit groups, most significant first,
 * each group but the last with its high bit set, and that many bytes (type's high bit set; 0xFF
 * with length 0 is the closing handshake, anything else is read and discarded). No masking, no
 * fragments, no control frames, no binary.
 *
 * The parser is incremental (a frame may arrive a byte at a time) and bounded: text is validated
 * as UTF-8 as it arrives, and neither a sentinel-delimited frame nor a length claimed for a
 * discarded one may exceed `maxMessageSize`, so a peer cannot make it hold or skip without end.
 */
import { type ConnectionFailure, MessageTooLargeError } from '../errors.js';
import { violation } from '../failure-errors.js';
import { Utf8Validator } from '../utf8.js';
import { Failures } from '../failures.js';

/** Type byte of a text frame. */
export const TEXT_FRAME = 0x00;
/** End of a sentinel-delimited frame, and type byte of the closing frame. */
export const SENTINEL = 0xff;

/** The closing handshake's frame: 0xFF then a zero length (section 4.2, "closing handshake"). */
export function encodeCloseFrame(): Uint8Array {
  return new Uint8Array([SENTINEL, 0x00]);
}

/**
 * A text frame: 0x00, the UTF-8 payload, 0xFF, in a new array (from `allocate`, which must return
 * at least `size` bytes). The payload may not hold 0xFF, which no UTF-8 text does.
 */
export function encodeTextFrame(payload: Uint8Array, allocate: (size: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
  const frame = allocate(payload.length + 2);
  frame[0] = TEXT_FRAME;
  frame.set(payload, 1);
  frame[payload.length + 1] = SENTINEL;
  return frame.length === payload.length + 2 ? frame : frame.subarray(0, payload.length + 2);
}

/** What the parser reports, synchronously, from `push`. */
export interface Hybi00ParserListener {
  /**
   * Part of a text message: `data` is a view into the pushed chunk (validated UTF-8 so far),
   * `first` on its first part, `fin` on its last (which may be empty).
   */
  onText(data: Uint8Array, first: boolean, fin: boolean): void;
  /** The peer's closing frame (0xFF 0x00). Nothing after it is parsed. */
  onClose(): void;
  /** Bad input: nothing more will be parsed. */
  onError(error: ConnectionFailure): void;
}

// Parser states.
const TYPE = 0;
const TEXT = 1;
const SKIP_SENTINEL = 2;
const LENGTH = 3;
const SKIP_LENGTH = 4;
const DONE = 5;

/** Reads hybi-00 frames from a byte stream, one chunk at a time. */
export class Hybi00Parser {
  private readonly listener: Hybi00ParserListener;
  private readonly maxMessageSize: number;
  private state = TYPE;
  private frameType = 0;
  /** Bytes of the current frame so far (sentinel frames), or its claimed length (length frames). */
  private size = 0;
  /** Bytes of a length-prefixed frame still to skip. */
  private remaining = 0;
  private started = false;
  private readonly validator = new Utf8Validator();

  constructor(listener: Hybi00ParserListener, options: { maxMessageSize: number }) {
    this.listener = listener;
    this.maxMessageSize = options.maxMessageSize;
  }

  /** True between a frame's type byte and its end. */
  get midFrame(): boolean {
    return this.state !== TYPE && this.state !== DONE;
  }

  /** Stop parsing: later input is ignored. */
  stop(): void {
    this.state = DONE;
  }

  /** Parses `chunk`, reporting through the listener. */
  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n && this.state !== DONE) {
      switch (this.state) {
        case TYPE: {
          const type = chunk[i++]!;
          this.frameType = type;
          this.size = 0;
          this.started = false;
          this.validator.reset();
          this.state = (type & 0x80) !== 0 ? LENGTH : type === TEXT_FRAME ? TEXT : SKIP_SENTINEL;
          break;
        }
        case TEXT:
        case SKIP_SENTINEL: {
          let end = chunk.indexOf(SENTINEL, i);
          const found = end >= 0;
          if (!found) end = n;
          // A frame with no end in sight: bounded by maxMessageSize like any message.
          if (this.size + (end - i) > this.maxMessageSize) {
            return this.fail(new MessageTooLargeError(`hybi-00 frame larger than maxMessageSize (${this.maxMessageSize} bytes)`, this.maxMessageSize));
          }
          this.size += end - i;
          if (this.state === TEXT) {
            const piece = chunk.subarray(i, end);
            if (!this.validator.feed(piece) || (found && !this.validator.end())) {
              return this.fail(violation(Failures.invalidUtf8, 'invalid UTF-8 in a hybi-00 text frame'));
            }
            if (piece.length > 0 || found) {
              const first = !this.started;
              this.started = true;
              this.listener.onText(piece, first, found);
              if ((this.state as number) === DONE) return;
            }
          }
          i = found ? end + 1 : n;
          if (found) this.state = TYPE;
          break;
        }
        case LENGTH: {
          const b = chunk[i++]!;
          this.size = this.size * 128 + (b & 0x7f);
          // Checked per group, so the number never grows past what a double holds exactly.
          if (this.size > this.maxMessageSize) {
            return this.fail(new MessageTooLargeError(`hybi-00 frame claims more than maxMessageSize (${this.maxMessageSize} bytes)`, this.maxMessageSize));
          }
          if ((b & 0x80) !== 0) break;
          if (this.frameType === SENTINEL && this.size === 0) {
            this.state = DONE;
            this.listener.onClose();
            return;
          }
          // Section 5.3: any other length-prefixed frame is read and discarded.
          this.remaining = this.size;
          this.state = this.remaining === 0 ? TYPE : SKIP_LENGTH;
          break;
        }
        case SKIP_LENGTH: {
          const take = Math.min(this.remaining, n - i);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) this.state = TYPE;
          break;
        }
      }
    }
  }

  private fail(error: ConnectionFailure): void {
    this.state = DONE;
    this.listener.onError(error);
  }
}
