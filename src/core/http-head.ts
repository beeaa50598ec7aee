/**
 * An incremental, bounded parser for an HTTP/1.1 message head (RFC 7230 section 3): the client
 * reads the server's 101 with it; a raw-socket server may read requests with it.
 *
 * Bytes may arrive in any split, down to one at a time. Each byte is looked at once: the parser
 * keeps only the line in progress (never more than `maxHeadSize` bytes) and finishes each line
 * as its CRLF arrives, so the cost is linear in the head however it is split, and a peer that
 * never ends its head is stopped by the size limit rather than buffered forever.
 *
 * Strictness, chosen to leave no room for request smuggling or header confusion: lines MUST end
 * in CRLF (a bare LF, or a CR not followed by LF, is a 400 here, although RFC 7230 section 3.5
 * would allow accepting a bare LF); obs-fold continuation lines are a 400 (section 3.2.4 allows
 * rejecting them); whitespace between a field name and its colon is a 400 (section 3.2.4 MUST).
 * Empty lines before a request line are skipped (section 3.5 SHOULD); not before a status line.
 * Bytes are decoded as latin1, as Node does, so obs-text in values survives unchanged.
 */
import { InvalidArgumentError } from './errors.js';

/** Default bound on the bytes of a head: 16 KiB, as Node's --max-http-header-size. */
export const DEFAULT_MAX_HEAD_SIZE = 16 * 1024;

/** Default bound on the number of header fields in a head. */
export const DEFAULT_MAX_HEADER_COUNT = 100;

/** Limits that keep a hostile peer from making the parser hold unbounded memory. */
export interface HttpHeadLimits {
  /** Bytes in the whole head, request/status line and final CRLF included; default 16 KiB (Node's default). */
  maxHeadSize?: number;
  /** Header fields; default 100. */
  maxHeaderCount?: number;
}

/** A parsed head. `rawHeaders` alternates names (as sent) and values; `headers` lower-cases names and joins repeats with ', ' (arrays for set-cookie). */
export interface HttpHead {
  /** For a response: ['HTTP/1.1', '101', 'Switching Protocols']; for a request: [method, target, 'HTTP/1.1']. */
  startLine: [string, string, string];
  /** A null-prototype object, so that a header named `__proto__` is just a header. */
  headers: Record<string, string | string[]>;
  rawHeaders: string[];
}

/** The outcome of feeding bytes: more needed, a complete head (with the bytes after it), or an error with the HTTP status that fits (400 or 431). */
export type HttpHeadResult =
  | { state: 'incomplete' }
  | { state: 'complete'; head: HttpHead; rest: Uint8Array }
  | { state: 'error'; status: 400 | 431; reason: string };

const CR = 0x0d;
const LF = 0x0a;

// tchar (RFC 7230 section 3.2.6), for header names and methods.
const TCHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[ch.charCodeAt(0)] = 1;

// field-vchar / SP / HTAB (RFC 7230 section 3.2): visible ASCII, obs-text 0x80-0xFF, space, tab.
const FIELD = new Uint8Array(256);
for (let c = 0x20; c <= 0x7e; c++) FIELD[c] = 1;
for (let c = 0x80; c <= 0xff; c++) FIELD[c] = 1;
FIELD[0x09] = 1;

const INCOMPLETE: HttpHeadResult = { state: 'incomplete' };

/**
 * Header names that WebSocket handshakes (and browsers' requests) nearly always carry, with the
 * capitalisation usually sent. A name that matches one is not decoded and lower-cased: its
 * strings are these constants, which a server reading one head per connection notices.
 */
const KNOWN_NAMES = [
  'Host',
  'Upgrade',
  'Connection',
  'Sec-WebSocket-Key',
  'Sec-WebSocket-Version',
  'Sec-WebSocket-Extensions',
  'Sec-WebSocket-Protocol',
  'Sec-WebSocket-Accept',
  'Origin',
  'User-Agent',
  'Pragma',
  'Cache-Control',
  'Accept-Encoding',
  'Accept-Language',
  'Cookie',
  'Authorization',
  'Date',
  'Server',
] as const;

interface KnownName {
  /** As usually sent, and its bytes. */
  readonly usual: string;
  readonly usualBytes: Uint8Array;
  /** Lower case, and its bytes. */
  readonly lower: string;
  readonly lowerBytes: Uint8Array;
}

/** KNOWN_NAMES grouped by length: a name is compared only with the known names as long as it. */
const KNOWN_BY_LENGTH: KnownName[][] = [];
for (const usual of KNOWN_NAMES) {
  const lower = usual.toLowerCase();
  const bytes = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
  (KNOWN_BY_LENGTH[usual.length] ??= []).push({ usual, usualBytes: bytes(usual), lower, lowerBytes: bytes(lower) });
}

/**
 * The known name that bytes[start, end) spell in any case, or null. Known names hold only
 * letters and '-', so OR-ing 0x20 into a byte lower-cases a letter and leaves '-' alone, and no
 * other token character becomes a letter or '-' by it.
 */
function knownName(bytes: Uint8Array, start: number, end: number): KnownName | null {
  const candidates = KNOWN_BY_LENGTH[end - start];
  if (candidates === undefined) return null;
  next: for (const known of candidates) {
    const lower = known.lowerBytes;
    for (let i = 0; i < lower.length; i++) if ((bytes[start + i]! | 0x20) !== lower[i]) continue next;
    return known;
  }
  return null;
}

/** True when bytes[start, start + expected.length) are exactly `expected`. */
function sameBytes(bytes: Uint8Array, start: number, expected: Uint8Array): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[start + i] !== expected[i]) return false;
  return true;
}

/** The line buffer before any line spans chunks, and after the head (shared: it is never written). */
const NO_BYTES = new Uint8Array(0);

/** Strings up to this long are decoded through CODE_ARRAYS; longer ones through views. */
const SHORT_STRING = 64;

/**
 * CODE_ARRAYS[n]: an array of n character codes, made on first use and reused for every string of
 * that length. `fromCharCode.apply` on a plain array of small integers passes its elements without
 * copying them, so a short string costs only itself; a view per string (`subarray`), or pieces
 * joined with `+` (pieces, then a rope, then its flattening), cost two to four times that in
 * garbage, which a server making thousands of handshakes a second pays in collections.
 */
const CODE_ARRAYS: number[][] = [];

/** Decodes bytes as latin1 (each byte one UTF-16 code unit). */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  const length = end - start;
  if (length <= SHORT_STRING) {
    const codes = (CODE_ARRAYS[length] ??= new Array<number>(length).fill(0));
    for (let i = 0; i < length; i++) codes[i] = bytes[start + i]!;
    return String.fromCharCode.apply(null, codes);
  }
  // Long values in slices that bound apply's argument count.
  let out = '';
  let i = start;
  for (; i + 4096 <= end; i += 4096) out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  return i < end ? out + String.fromCharCode.apply(null, bytes.subarray(i, end) as unknown as number[]) : out;
}

/**
 * The objects that hold a head's fields while it is parsed, as long as every name is a known
 * one (see HttpHeadParser.#toHashTable). Their prototype is empty and has no prototype itself, so
 * a name (`__proto__`, `constructor`, `toString`) finds a field or nothing. Unlike
 * Object.create(null), which V8 makes a hash table, they keep fast properties: one allocation
 * per head, with hidden classes shared by heads that send the same fields (measured: 65 bytes for
 * five fields against 441). The finished head's object gets a null prototype.
 */
// Known names never collide with Object.prototype's members; the empty prototype keeps that
// true whatever the list holds, for two lines run once.
class HeadFields {
  static {
    Object.setPrototypeOf(HeadFields.prototype, null);
    delete (HeadFields.prototype as { constructor?: unknown }).constructor;
  }
}

function isVersion(bytes: Uint8Array, start: number, end: number): boolean {
  // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 7230 section 2.6)
  if (end - start !== 8) return false;
  return (
    bytes[start] === 0x48 &&
    bytes[start + 1] === 0x54 &&
    bytes[start + 2] === 0x54 &&
    bytes[start + 3] === 0x50 &&
    bytes[start + 4] === 0x2f &&
    isDigit(bytes[start + 5]!) &&
    bytes[start + 6] === 0x2e &&
    isDigit(bytes[start + 7]!)
  );
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function positiveInteger(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(`${name} must be an integer of at least ${min}, not ${value}`);
  return value;
}

/** Feed chunks until the empty line; bytes after it are returned untouched in `rest`. */
export class HttpHeadParser {
  readonly #kind: 'request' | 'response';
  readonly #maxHeadSize: number;
  readonly #maxHeaderCount: number;
  /**
   * The start of a line that did not end in the chunk it began in, without its CR: a line is
   * copied here only when it spans chunks (lines that arrive whole are read where they lie).
   * Grows by doubling, never past maxHeadSize.
   */
  #line: Uint8Array = NO_BYTES;
  #lineLength = 0;
  /** The last byte seen was a CR; the next must be LF. */
  #sawCR = false;
  /** Bytes of the head consumed so far. */
  #size = 0;
  #startLine: [string, string, string] | null = null;
  readonly #rawHeaders: string[] = [];
  /**
   * Lower-case names to values, filled as header lines end. No prototype chain: `__proto__` is
   * just a header. A HeadFields object until a name that is not a known one arrives.
   */
  #headers = new HeadFields() as Record<string, string | string[]>;
  #fastFields = true;
  #head: HttpHead | null = null;
  #error: HttpHeadResult | null = null;

  /** Throws InvalidArgumentError for limits that are not positive integers (maxHeaderCount may be 0). */
  constructor(kind: 'request' | 'response', limits?: HttpHeadLimits) {
    this.#kind = kind;
    this.#maxHeadSize = positiveInteger('maxHeadSize', limits?.maxHeadSize, DEFAULT_MAX_HEAD_SIZE, 1);
    this.#maxHeaderCount = positiveInteger('maxHeaderCount', limits?.maxHeaderCount, DEFAULT_MAX_HEADER_COUNT, 0);
  }

  /**
   * Feeds the next bytes. Returns 'incomplete' until the empty line that ends the head, then
   * 'complete' with `rest`, a view of `chunk` holding the bytes after the head (they belong to
   * whatever follows: WebSocket frames, a body). Once complete, further calls return the same
   * head with the new chunk as `rest`; once failed, the same error. Never throws.
   */
  push(chunk: Uint8Array): HttpHeadResult {
    if (this.#error !== null) return this.#error;
    if (this.#head !== null) return { state: 'complete', head: this.#head, rest: chunk };
    const n = chunk.length;
    const max = this.#maxHeadSize;
    let i = 0;
    while (i < n) {
      let outcome: HttpHeadResult | null;
      if (this.#sawCR) {
        // The previous chunk ended in the CR of a line now held in #line.
        if (++this.#size > max) return this.#tooLarge();
        if (chunk[i] !== LF) return this.#fail(400, 'a CR not followed by LF in the head');
        this.#sawCR = false;
        i++;
        outcome = this.#endLine(this.#line, 0, this.#lineLength);
        this.#lineLength = 0;
      } else {
        // The run of bytes up to the next CR or LF.
        let j = i;
        while (j < n) {
          const b = chunk[j]!;
          if (b === CR || b === LF) break;
          j++;
        }
        if (this.#size + (j - i) > max) return this.#tooLarge();
        this.#size += j - i;
        if (j === n) {
          this.#append(chunk, i, j);
          return INCOMPLETE;
        }
        if (++this.#size > max) return this.#tooLarge();
        if (chunk[j] === LF) return this.#fail(400, 'a line of the head ends in a bare LF instead of CRLF');
        if (j + 1 === n) {
          this.#append(chunk, i, j);
          this.#sawCR = true;
          return INCOMPLETE;
        }
        if (++this.#size > max) return this.#tooLarge();
        if (chunk[j + 1] !== LF) return this.#fail(400, 'a CR not followed by LF in the head');
        if (this.#lineLength === 0) {
          outcome = this.#endLine(chunk, i, j);
        } else {
          this.#append(chunk, i, j);
          outcome = this.#endLine(this.#line, 0, this.#lineLength);
          this.#lineLength = 0;
        }
        i = j + 2;
      }
      if (outcome !== null) return outcome;
      if (this.#head !== null) return { state: 'complete', head: this.#head, rest: chunk.subarray(i) };
    }
    return INCOMPLETE;
  }

  #append(chunk: Uint8Array, start: number, end: number): void {
    const needed = this.#lineLength + (end - start);
    if (needed > this.#line.length) {
      // Bounded by maxHeadSize: the caller checked the running size before appending.
      let size = Math.max(this.#line.length * 2, 256);
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, Math.max(needed, this.#maxHeadSize)));
      grown.set(this.#line.subarray(0, this.#lineLength));
      this.#line = grown;
    }
    this.#line.set(chunk.subarray(start, end), this.#lineLength);
    this.#lineLength = needed;
  }

  /** Finishes the line bytes[start, end). Returns an error result, or null to go on (#head set when done). */
  #endLine(bytes: Uint8Array, start: number, end: number): HttpHeadResult | null {
    if (this.#startLine === null) {
      if (start === end && this.#kind === 'request') return null; // RFC 7230 section 3.5: skip empty lines before a request line
      return this.#kind === 'request' ? this.#requestLine(bytes, start, end) : this.#statusLine(bytes, start, end);
    }
    if (start === end) {
      this.#head = this.#finish();
      return null;
    }
    return this.#headerLine(bytes, start, end);
  }

  #requestLine(line: Uint8Array, start: number, end: number): HttpHeadResult | null {
    // request-line = method SP request-target SP HTTP-version (RFC 7230 section 3.1.1)
    let i = start;
    while (i < end && TCHAR[line[i]!]) i++;
    const methodEnd = i;
    if (methodEnd === start || line[i] !== 0x20) return this.#fail(400, 'malformed request line');
    const targetStart = ++i;
    while (i < end && line[i]! > 0x20 && line[i]! < 0x7f) i++;
    const targetEnd = i;
    if (targetEnd === targetStart || i >= end || line[i] !== 0x20) return this.#fail(400, 'malformed request line');
    if (!isVersion(line, i + 1, end)) return this.#fail(400, 'malformed HTTP version in the request line');
    this.#startLine = [latin1(line, start, methodEnd), latin1(line, targetStart, targetEnd), latin1(line, i + 1, end)];
    return null;
  }

  #statusLine(line: Uint8Array, start: number, end: number): HttpHeadResult | null {
    // status-line = HTTP-version SP status-code SP reason-phrase (RFC 7230 section 3.1.2); a
    // missing SP after the code, when there is no reason, is accepted as many servers send it.
    const length = end - start;
    if (length < 12 || !isVersion(line, start, start + 8) || line[start + 8] !== 0x20) return this.#fail(400, 'malformed status line');
    if (!isDigit(line[start + 9]!) || !isDigit(line[start + 10]!) || !isDigit(line[start + 11]!)) {
      return this.#fail(400, 'the status code is not three digits');
    }
    if (length > 12 && line[start + 12] !== 0x20) return this.#fail(400, 'the status code is not three digits');
    for (let i = start + 13; i < end; i++) {
      if (!FIELD[line[i]!]) return this.#fail(400, 'a control character in the reason phrase');
    }
    this.#startLine = [latin1(line, start, start + 8), latin1(line, start + 9, start + 12), length > 13 ? latin1(line, start + 13, end) : ''];
    return null;
  }

  #headerLine(line: Uint8Array, start: number, end: number): HttpHeadResult | null {
    const first = line[start]!;
    // RFC 7230 section 3.2.4: obs-fold is deprecated; a server MUST reject it or unfold it.
    if (first === 0x20 || first === 0x09) return this.#fail(400, 'a folded header line (obs-fold)');
    let i = start;
    while (i < end && TCHAR[line[i]!]) i++;
    const nameEnd = i;
    if (i >= end || line[i] !== 0x3a) {
      if (i < end && (line[i] === 0x20 || line[i] === 0x09)) {
        // RFC 7230 section 3.2.4: whitespace between name and colon MUST be rejected with 400.
        return this.#fail(400, 'whitespace between a header name and its colon');
      }
      return this.#fail(400, i >= end ? 'a header line without a colon' : 'a header name that is not a token');
    }
    if (nameEnd === start) return this.#fail(400, 'a header line with an empty name');
    if (this.#rawHeaders.length / 2 >= this.#maxHeaderCount) return this.#fail(431, `more than ${this.#maxHeaderCount} header fields`);
    // field-value, with OWS trimmed on both sides (section 3.2.4).
    let valueStart = nameEnd + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && (line[valueStart] === 0x20 || line[valueStart] === 0x09)) valueStart++;
    while (valueEnd > valueStart && (line[valueEnd - 1] === 0x20 || line[valueEnd - 1] === 0x09)) valueEnd--;
    for (let k = valueStart; k < valueEnd; k++) {
      if (!FIELD[line[k]!]) return this.#fail(400, 'a control character in a header value');
    }
    const value = latin1(line, valueStart, valueEnd);
    const known = knownName(line, start, nameEnd);
    let rawName: string;
    let name: string;
    if (known !== null) {
      name = known.lower;
      rawName = sameBytes(line, start, known.usualBytes) ? known.usual : sameBytes(line, start, known.lowerBytes) ? name : latin1(line, start, nameEnd);
    } else {
      rawName = latin1(line, start, nameEnd);
      name = rawName.toLowerCase();
      if (this.#fastFields) this.#toHashTable();
    }
    this.#rawHeaders.push(rawName, value);
    const headers = this.#headers;
    const previous = headers[name];
    if (name === 'set-cookie') {
      // Cookies may hold commas, so they are kept apart, as Node does.
      if (previous === undefined) headers[name] = [value];
      else (previous as string[]).push(value);
    } else {
      headers[name] = previous === undefined ? value : `${previous as string}, ${value}`;
    }
    return null;
  }

  /**
   * Moves the fields into an Object.create(null) hash table, at the first name that is not a
   * known one. V8 makes a hidden class for every new sequence of names a fast-property object is
   * given, and keeps it until a full collection: heads of made-up names would cost up to twice the
   * parse time and leave a trail of them (measured, per head of 100 made-up names: 27-37 us
   * against 48-76, and 25 MiB more RSS after 10,000 such heads and a full collection). With known
   * names only, a head makes at most as many as the known names it sends.
   */
  #toHashTable(): void {
    const fields = this.#headers;
    const table = Object.create(null) as Record<string, string | string[]>;
    for (const name of Object.keys(fields)) table[name] = fields[name]!;
    this.#headers = table;
    this.#fastFields = false;
  }

  #finish(): HttpHead {
    // The line buffer is no longer needed; let it go.
    this.#line = NO_BYTES;
    // A hash table from #toHashTable has no prototype already.
    if (this.#fastFields) Object.setPrototypeOf(this.#headers, null);
    return { startLine: this.#startLine!, headers: this.#headers, rawHeaders: this.#rawHeaders };
  }

  #tooLarge(): HttpHeadResult {
    return this.#fail(431, `the head is larger than ${this.#maxHeadSize} bytes`);
  }

  #fail(status: 400 | 431, reason: string): HttpHeadResult {
    this.#error = { state: 'error', status, reason };
    this.#line = NO_BYTES;
    return this.#error;
  }
}
