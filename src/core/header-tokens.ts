/**
 * Linear-time parsing of the HTTP header values a WebSocket handshake carries: RFC 7230 token
 * lists (Connection, Upgrade, Sec-WebSocket-Protocol) and RFC 6455 section 9.1 extension lists
 * (Sec-WebSocket-Extensions).
 *
 * Every parser here is one forward pass over the string with a character-class table: no
 * regular expression ever runs on peer input, so no input can make parsing backtrack. Nothing is
 * bounded by size here; the HTTP layer bounds the size of the whole head.
 */
import { InvalidArgumentError } from './errors.js';

/** One extension in a Sec-WebSocket-Extensions header: its name and parameters in order. */
export interface ExtensionOffer {
  name: string;
  /** Parameters in order; a parameter without a value is `true`. Quoted values are unquoted. */
  params: Array<[name: string, value: string | true]>;
}

// Character classes of the ASCII range, one bit each. Code units >= 128 belong to no class
// except obs-text, which is checked by range where it is allowed.
const TCHAR = 1; // RFC 7230 section 3.2.6: tchar
const OWS = 2; // RFC 7230 section 3.2.3: SP / HTAB
const QDTEXT = 4; // RFC 7230 section 3.2.6: qdtext (ASCII part)
const QPAIR = 8; // RFC 7230 section 3.2.6: what may follow a backslash in quoted-pair (ASCII part)

const CLASS = new Uint8Array(128);
for (let c = 0x21; c <= 0x7e; c++) CLASS[c] |= QDTEXT | QPAIR; // VCHAR
CLASS[0x22] &= ~QDTEXT; // '"' ends a quoted-string
CLASS[0x5c] &= ~QDTEXT; // '\' starts a quoted-pair
CLASS[0x20] |= OWS | QDTEXT | QPAIR;
CLASS[0x09] |= OWS | QDTEXT | QPAIR;
for (const ch of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  CLASS[ch.charCodeAt(0)] |= TCHAR;
}

function isTchar(code: number): boolean {
  return code < 128 && (CLASS[code]! & TCHAR) !== 0;
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** obs-text (RFC 7230 section 3.2.6): header bytes 0x80-0xFF, as a latin1-decoded string holds them. */
function isObsText(code: number): boolean {
  return code >= 0x80 && code <= 0xff;
}

/** True when `value` is an RFC 7230 token (tchar+). */
export function isToken(value: string): boolean {
  const n = value.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    if (!isTchar(value.charCodeAt(i))) return false;
  }
  return true;
}

/** Where the element of a token list read by readElement lies: its token, and where the next element starts. */
interface ListElement {
  start: number;
  end: number;
  next: number;
}

/** Reused by every read (they are synchronous): list parsing allocates nothing per element. */
const ELEMENT: ListElement = { start: 0, end: 0, next: 0 };

/**
 * Reads the list element starting at `i` into ELEMENT: optional whitespace, a token (possibly
 * empty), optional whitespace, then a comma or the end. False when something else follows the
 * token, i.e. the element is not a token.
 */
function readElement(value: string, i: number): boolean {
  const n = value.length;
  while (i < n && isOws(value.charCodeAt(i))) i++;
  ELEMENT.start = i;
  while (i < n && isTchar(value.charCodeAt(i))) i++;
  ELEMENT.end = i;
  while (i < n && isOws(value.charCodeAt(i))) i++;
  ELEMENT.next = i + 1; // past the comma
  return i >= n || value.charCodeAt(i) === 0x2c;
}

/**
 * Splits a comma-separated token list (Connection, Upgrade, Sec-WebSocket-Protocol); null if any
 * element is not a token. RFC 7230 section 7 (`#rule`): a recipient MUST accept empty list
 * elements and optional whitespace around commas, so `", a ,, b"` is `['a', 'b']` and an empty
 * or all-comma value is `[]`. Tokens keep their case; callers compare case-insensitively where
 * the header's definition says so.
 */
export function parseTokenList(value: string): string[] | null {
  const out: string[] = [];
  for (let i = 0; i < value.length; i = ELEMENT.next) {
    if (!readElement(value, i)) return null;
    if (ELEMENT.end > ELEMENT.start) out.push(value.slice(ELEMENT.start, ELEMENT.end));
  }
  return out;
}

/**
 * Whether the token list `value` holds `token` (given in lower case), compared ASCII
 * case-insensitively; null when `value` is not a token list. The answer of parseTokenList and a
 * search, without building the list: a server asks this of Upgrade and Connection on every
 * handshake.
 */
export function listHasToken(value: string, token: string): boolean | null {
  let found = false;
  for (let i = 0; i < value.length; i = ELEMENT.next) {
    if (!readElement(value, i)) return null;
    if (!found && ELEMENT.end - ELEMENT.start === token.length) found = sameIgnoringCase(value, ELEMENT.start, token);
  }
  return found;
}

/** True when value[start, start + lower.length) is `lower` with ASCII letters in either case. */
function sameIgnoringCase(value: string, start: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    let c = value.charCodeAt(start + k);
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * Parses Sec-WebSocket-Extensions (section 9.1 grammar); null when malformed.
 *
 * Grammar: `extension *( "," extension )`, `extension = token *( ";" param )`,
 * `param = token [ "=" ( token / quoted-string ) ]`, with optional whitespace around the
 * separators. Section 9.1: a quoted value MUST still be a token once unquoted, so `a="b c"` is
 * malformed. As in RFC 7230 section 7, empty list elements are skipped, and a value with no
 * elements at all gives `[]`. Names keep their case.
 */
export function parseExtensions(value: string): ExtensionOffer[] | null {
  const out: ExtensionOffer[] = [];
  const n = value.length;
  let i = 0;
  while (i < n) {
    i = skipOws(value, i);
    if (i >= n) break;
    if (value.charCodeAt(i) === 0x2c) {
      i++; // an empty list element
      continue;
    }
    let end = skipToken(value, i);
    if (end === i) return null;
    const name = value.slice(i, end);
    const params: Array<[string, string | true]> = [];
    i = skipOws(value, end);
    while (i < n && value.charCodeAt(i) === 0x3b) {
      i = skipOws(value, i + 1);
      end = skipToken(value, i);
      if (end === i) return null;
      const param = value.slice(i, end);
      i = skipOws(value, end);
      let paramValue: string | true = true;
      if (i < n && value.charCodeAt(i) === 0x3d) {
        i = skipOws(value, i + 1);
        if (i < n && value.charCodeAt(i) === 0x22) {
          const unquoted = readQuoted(value, i);
          // RFC 6455 section 9.1: a quoted-string value MUST conform to the token ABNF once unquoted.
          if (unquoted === null || !isToken(unquoted)) return null;
          paramValue = unquoted;
          i = quotedEnd;
        } else {
          end = skipToken(value, i);
          if (end === i) return null;
          paramValue = value.slice(i, end);
          i = end;
        }
        i = skipOws(value, i);
      }
      params.push([param, paramValue]);
    }
    if (i < n && value.charCodeAt(i) !== 0x2c) return null;
    i++; // past the comma (or the end)
    out.push({ name, params });
  }
  return out;
}

function skipOws(value: string, i: number): number {
  const n = value.length;
  while (i < n && isOws(value.charCodeAt(i))) i++;
  return i;
}

function skipToken(value: string, i: number): number {
  const n = value.length;
  while (i < n && isTchar(value.charCodeAt(i))) i++;
  return i;
}

/** Where the last successful `readQuoted` stopped (just past the closing quote). */
let quotedEnd = 0;

/**
 * Reads the quoted-string (RFC 7230 section 3.2.6) whose opening quote is at `start` and returns
 * its unescaped content, or null if it is unterminated or holds a character it may not.
 */
function readQuoted(value: string, start: number): string | null {
  const n = value.length;
  let result = '';
  let i = start + 1;
  let segment = i;
  while (i < n) {
    const c = value.charCodeAt(i);
    if (c === 0x22) {
      quotedEnd = i + 1;
      return result + value.slice(segment, i);
    }
    if (c === 0x5c) {
      if (i + 1 >= n) return null;
      const e = value.charCodeAt(i + 1);
      if (!(e < 128 ? (CLASS[e]! & QPAIR) !== 0 : isObsText(e))) return null;
      result += value.slice(segment, i) + value[i + 1];
      i += 2;
      segment = i;
      continue;
    }
    if (!(c < 128 ? (CLASS[c]! & QDTEXT) !== 0 : isObsText(c))) return null;
    i++;
  }
  return null;
}

/** Quotes `value` as an RFC 7230 quoted-string, or throws when no quoted-string can carry it. */
function quote(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += '\\' + value[i];
    else if (c < 128 ? (CLASS[c]! & QDTEXT) !== 0 : isObsText(c)) out += value[i];
    else throw new InvalidArgumentError(`extension parameter value ${JSON.stringify(value)} contains a character a header cannot carry`);
  }
  return out + '"';
}

/**
 * Formats extensions back into a header value: `name; param; param=value` joined with ", ".
 * Values that are not tokens are quoted (note that section 9.1 then makes the result malformed
 * for `parseExtensions`, so callers should keep values tokens). Throws InvalidArgumentError
 * when a name is not a token or a value holds a character no header can carry (CR, LF, NUL,
 * other controls), so a formatted value can never inject a header line.
 */
export function formatExtensions(offers: readonly ExtensionOffer[]): string {
  const parts: string[] = [];
  for (const offer of offers) {
    if (!isToken(offer.name)) throw new InvalidArgumentError(`extension name ${JSON.stringify(offer.name)} is not a token`);
    let part = offer.name;
    for (const [name, value] of offer.params) {
      if (!isToken(name)) throw new InvalidArgumentError(`extension parameter name ${JSON.stringify(name)} is not a token`);
      part += '; ' + name;
      if (value !== true) part += '=' + (isToken(value) ? value : quote(value));
    }
    parts.push(part);
  }
  return parts.join(', ');
}
