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

/** Decodes bytes as latin1 (each byte one UTF-16 code unit), in slices to bound argument counts. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  }
  return out;
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
  /** The line in progress, without its CR. Grows by doubling, never past maxHeadSize. */
  #line = new Uint8Array(256);
  #lineLength = 0;
  /** The last byte seen was a CR; the next must be LF. */
  #sawCR = false;
  /** Bytes of the head consumed so far. */
  #size = 0;
  #startLine: [string, string, string] | null = null;
  readonly #rawHeaders: string[] = [];
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
    let i = 0;
    while (i < n) {
      if (this.#sawCR) {
        if (++this.#size > this.#maxHeadSize) return this.#tooLarge();
        if (chunk[i] !== LF) return this.#fail(400, 'a CR not followed by LF in the head');
        this.#sawCR = false;
        i++;
        const outcome = this.#endLine();
        if (outcome !== null) return outcome;
        if (this.#head !== null) return { state: 'complete', head: this.#head, rest: chunk.subarray(i) };
        continue;
      }
      // Copy the run of bytes up to the next CR or LF in one step.
      let j = i;
      while (j < n) {
        const b = chunk[j]!;
        if (b === CR || b === LF) break;
        j++;
      }
      if (j > i) {
        if (this.#size + (j - i) > this.#maxHeadSize) return this.#tooLarge();
        this.#size += j - i;
        this.#append(chunk, i, j);
        i = j;
      }
      if (i < n) {
        if (++this.#size > this.#maxHeadSize) return this.#tooLarge();
        if (chunk[i] === LF) return this.#fail(400, 'a line of the head ends in a bare LF instead of CRLF');
        this.#sawCR = true;
        i++;
      }
    }
    return INCOMPLETE;
  }

  #append(chunk: Uint8Array, start: number, end: number): void {
    const needed = this.#lineLength + (end - start);
    if (needed > this.#line.length) {
      // Bounded by maxHeadSize: the caller checked the running size before appending.
      let size = this.#line.length * 2;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, Math.max(needed, this.#maxHeadSize)));
      grown.set(this.#line.subarray(0, this.#lineLength));
      this.#line = grown;
    }
    this.#line.set(chunk.subarray(start, end), this.#lineLength);
    this.#lineLength = needed;
  }

  /** Finishes the line in #line. Returns an error result, or null to go on (#head set when done). */
  #endLine(): HttpHeadResult | null {
    const line = this.#line;
    const length = this.#lineLength;
    this.#lineLength = 0;
    if (this.#startLine === null) {
      if (length === 0 && this.#kind === 'request') return null; // RFC 7230 section 3.5: skip empty lines before a request line
      return this.#kind === 'request' ? this.#requestLine(line, length) : this.#statusLine(line, length);
    }
    if (length === 0) {
      this.#head = this.#finish();
      return null;
    }
    return this.#headerLine(line, length);
  }

  #requestLine(line: Uint8Array, length: number): HttpHeadResult | null {
    // request-line = method SP request-target SP HTTP-version (RFC 7230 section 3.1.1)
    let i = 0;
    while (i < length && TCHAR[line[i]!]) i++;
    const methodEnd = i;
    if (methodEnd === 0 || line[i] !== 0x20) return this.#fail(400, 'malformed request line');
    const targetStart = ++i;
    while (i < length && line[i]! > 0x20 && line[i]! < 0x7f) i++;
    const targetEnd = i;
    if (targetEnd === targetStart || i >= length || line[i] !== 0x20) return this.#fail(400, 'malformed request line');
    if (!isVersion(line, i + 1, length)) return this.#fail(400, 'malformed HTTP version in the request line');
    this.#startLine = [latin1(line, 0, methodEnd), latin1(line, targetStart, targetEnd), latin1(line, i + 1, length)];
    return null;
  }

  #statusLine(line: Uint8Array, length: number): HttpHeadResult | null {
    // status-line = HTTP-version SP status-code SP reason-phrase (RFC 7230 section 3.1.2); a
    // missing SP after the code, when there is no reason, is accepted as many servers send it.
    if (length < 12 || !isVersion(line, 0, 8) || line[8] !== 0x20) return this.#fail(400, 'malformed status line');
    if (!isDigit(line[9]!) || !isDigit(line[10]!) || !isDigit(line[11]!)) return this.#fail(400, 'the status code is not three digits');
    if (length > 12 && line[12] !== 0x20) return this.#fail(400, 'the status code is not three digits');
    for (let i = 13; i < length; i++) {
      if (!FIELD[line[i]!]) return this.#fail(400, 'a control character in the reason phrase');
    }
    this.#startLine = [latin1(line, 0, 8), latin1(line, 9, 12), length > 13 ? latin1(line, 13, length) : ''];
    return null;
  }

  #headerLine(line: Uint8Array, length: number): HttpHeadResult | null {
    const first = line[0]!;
    // RFC 7230 section 3.2.4: obs-fold is deprecated; a server MUST reject it or unfold it.
    if (first === 0x20 || first === 0x09) return this.#fail(400, 'a folded header line (obs-fold)');
    let i = 0;
    while (i < length && TCHAR[line[i]!]) i++;
    const nameEnd = i;
    if (i >= length || line[i] !== 0x3a) {
      if (i < length && (line[i] === 0x20 || line[i] === 0x09)) {
        // RFC 7230 section 3.2.4: whitespace between name and colon MUST be rejected with 400.
        return this.#fail(400, 'whitespace between a header name and its colon');
      }
      return this.#fail(400, i >= length ? 'a header line without a colon' : 'a header name that is not a token');
    }
    if (nameEnd === 0) return this.#fail(400, 'a header line with an empty name');
    if (this.#rawHeaders.length / 2 >= this.#maxHeaderCount) return this.#fail(431, `more than ${this.#maxHeaderCount} header fields`);
    // field-value, with OWS trimmed on both sides (section 3.2.4).
    let start = nameEnd + 1;
    let end = length;
    while (start < end && (line[start] === 0x20 || line[start] === 0x09)) start++;
    while (end > start && (line[end - 1] === 0x20 || line[end - 1] === 0x09)) end--;
    for (let k = start; k < end; k++) {
      if (!FIELD[line[k]!]) return this.#fail(400, 'a control character in a header value');
    }
    this.#rawHeaders.push(latin1(line, 0, nameEnd), latin1(line, start, end));
    return null;
  }

  #finish(): HttpHead {
    const headers = Object.create(null) as Record<string, string | string[]>;
    const raw = this.#rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      const value = raw[i + 1]!;
      const previous = headers[name];
      if (name === 'set-cookie') {
        // Cookies may hold commas, so they are kept apart, as Node does.
        if (previous === undefined) headers[name] = [value];
        else (previous as string[]).push(value);
      } else {
        headers[name] = previous === undefined ? value : `${previous as string}, ${value}`;
      }
    }
    // The line buffer is no longer needed; let it go.
    this.#line = new Uint8Array(0);
    return { startLine: this.#startLine!, headers, rawHeaders: raw };
  }

  #tooLarge(): HttpHeadResult {
    return this.#fail(431, `the head is larger than ${this.#maxHeadSize} bytes`);
  }

  #fail(status: 400 | 431, reason: string): HttpHeadResult {
    this.#error = { state: 'error', status, reason };
    this.#line = new Uint8Array(0);
    return this.#error;
  }
}
