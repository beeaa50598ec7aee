/**
 * The hybi-00 opening handshake (draft-ietf-hybi-thewebsocketprotocol-00, which is
 * draft-hixie-thewebsocketprotocol-76): the request's two Sec-WebSocket-Key headers and the eight
 * key3 bytes after its head, the server's MD5 answer after its own head, and the checks each side
 * makes. Pure, like the RFC 6455 handshake in ../handshake.ts, whose request checks (method,
 * HTTP version, Host, Upgrade, Connection, Origin, no body) it shares.
 *
 * Section numbers below are the draft's.
 */
import { InvalidArgumentError } from '../errors.js';
import { checkUpgradeRequest, type HeaderMap, type HttpRefusal, type UpgradeRequest } from '../handshake.js';
import { isToken } from '../header-tokens.js';
import { md5 } from '../md5.js';

/** The name `ws.version` gives a hybi-00 connection (websocket-driver calls it 'hixie-76'). */
export const HYBI00_VERSION = 'hybi-00';

/** Bytes of key3, which follow the client's request head (section 4.1, step 36). */
export const KEY3_SIZE = 8;

/** Bytes of the server's answer, which follow the response head (section 5.2). */
export const ANSWER_SIZE = 16;

/** Longest key value read: a legitimate key is at most 10 digits, 12 spaces and 12 noise characters. */
const MAX_KEY_LENGTH = 256;

/** The value of a header that must appear once, or null when absent or repeated. */
function once(headers: HeaderMap, name: string): string | null {
  const v = headers[name];
  if (Array.isArray(v)) return v.length === 1 ? (v[0] as string) : null;
  return typeof v === 'string' ? v : null;
}

/**
 * True when the request is a hybi-00 handshake: both Sec-WebSocket-Key1 and Key2, and no
 * Sec-WebSocket-Version (every later draft and RFC 6455 send one).
 */
export function isHybi00Request(headers: HeaderMap): boolean {
  return headers['sec-websocket-key1'] !== undefined && headers['sec-websocket-key2'] !== undefined && headers['sec-websocket-version'] === undefined;
}

/**
 * The number a key stands for (section 5.2, steps 4-6 of the server's handshake): its digits
 * read as one decimal number, divided by its count of U+0020 spaces. The draft requires a
 * server to abort when there are no spaces or the division is not exact; the number must also fit
 * in 32 bits, as the client made it (section 4.1 step 17) and as it is sent (big-endian, 32
 * bits). A string saying why otherwise.
 */
export function parseKey(value: string): number | string {
  if (value.length > MAX_KEY_LENGTH) return `is longer than ${MAX_KEY_LENGTH} characters`;
  let digits = 0;
  let spaces = 0;
  let number = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      number = number * 10 + (c - 0x30);
      digits++;
      // Stops growing past 2^53 long before precision matters: anything over 2^32-1 fails below.
      if (number > 0xffffffff) return 'holds a number larger than 32 bits';
    } else if (c === 0x20) {
      spaces++;
    }
  }
  if (digits === 0) return 'has no digits';
  if (spaces === 0) return 'has no spaces';
  if (number % spaces !== 0) return 'holds a number that is not a multiple of its count of spaces';
  return number / spaces;
}

/**
 * The server's 16-byte answer (section 5.2, steps 7-9): the MD5 of key1's number and key2's
 * number as 32-bit big-endian integers, then key3.
 */
export function challengeAnswer(number1: number, number2: number, key3: Uint8Array): Uint8Array {
  if (key3.length !== KEY3_SIZE) throw new InvalidArgumentError(`key3 must be ${KEY3_SIZE} bytes, got ${key3.length}`);
  const challenge = new Uint8Array(16);
  const view = new DataView(challenge.buffer);
  view.setUint32(0, number1);
  view.setUint32(4, number2);
  challenge.set(key3, 8);
  return md5(challenge);
}

/** A hybi-00 request as the server checked it. */
export type Hybi00RequestCheck =
  | {
      ok: true;
      /** Key1's and key2's numbers (parseKey), for challengeAnswer once key3 is read. */
      number1: number;
      number2: number;
      /** The requested subprotocols (the draft has one value; a comma list is read as RFC 6455's). */
      protocols: string[];
      /** No extensions exist in hybi-00; always empty, for the same decision code as RFC 6455's. */
      extensions: [];
      origin: string | undefined;
      host: string;
      /** Unused (hybi-00 has no Sec-WebSocket-Key); '' so that the shape is RFC 6455's check. */
      key: '';
      /** Marks the check as hybi-00's. */
      hybi00: true;
    }
  | ({ ok: false } & HttpRefusal);

function refuse(body: string): Hybi00RequestCheck {
  return { ok: false, status: 400, headers: {}, body };
}

/**
 * Checks a hybi-00 request: what every upgrade needs (GET, HTTP/1.1, one valid Host, Upgrade
 * naming WebSocket, Connection naming Upgrade, at most one Origin, no body, a protocol header of
 * tokens), then both keys by parseKey. Every violation is a 400 saying which rule it broke.
 */
export function checkHybi00Request(req: UpgradeRequest): Hybi00RequestCheck {
  const headers = req.headers;
  const key1 = once(headers, 'sec-websocket-key1');
  const key2 = once(headers, 'sec-websocket-key2');
  if (key1 === null || key2 === null) return refuse('The request must have exactly one Sec-WebSocket-Key1 and one Sec-WebSocket-Key2 header.');
  const contentLength = once(headers, 'content-length')?.trim();
  // The rules both drafts share are RFC 6455's checks; it is asked with the RFC 6455 headers its
  // version and key checks look for (a valid placeholder), and with no extensions (hybi-00 has none).
  const shared = checkUpgradeRequest({
    ...req,
    headers: {
      ...headers,
      'sec-websocket-version': '13',
      'sec-websocket-key': 'AAAAAAAAAAAAAAAAAAAAAA==',
      'sec-websocket-extensions': undefined,
      // Some draft-76 clients (Perl's Protocol::WebSocket) announce key3 as an 8-byte body.
      'content-length': contentLength === String(KEY3_SIZE) ? undefined : headers['content-length'],
    },
    rawHeaders: req.rawHeaders?.filter((_, i, raw) => {
      const name = raw[i - (i % 2)]!.toLowerCase();
      return name !== 'sec-websocket-version' && name !== 'sec-websocket-key' && name !== 'sec-websocket-extensions' && name !== 'content-length';
    }),
  });
  if (!shared.ok) return { ok: false, status: shared.status, headers: shared.headers, body: shared.body };
  const number1 = parseKey(key1);
  if (typeof number1 === 'string') return refuse(`Sec-WebSocket-Key1 ${number1}.`);
  const number2 = parseKey(key2);
  if (typeof number2 === 'string') return refuse(`Sec-WebSocket-Key2 ${number2}.`);
  return { ok: true, number1, number2, protocols: shared.protocols, extensions: [], origin: shared.origin, host: shared.host, key: '', hybi00: true };
}

/** What the server answers a hybi-00 request with. */
export interface Hybi00ResponseInit {
  /** Sec-WebSocket-Origin: the request's Origin ('null' when it had none). */
  origin: string;
  /** Sec-WebSocket-Location: the URL the client asked for, ws://host/path or wss://host/path. */
  location: string;
  protocol?: string;
  /** Extra headers; the handshake's own names are refused. */
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/** Headers the hybi-00 handshake sets; extra headers may not contradict them. */
const RESERVED: ReadonlySet<string> = new Set([
  'upgrade',
  'connection',
  'sec-websocket-origin',
  'sec-websocket-location',
  'sec-websocket-protocol',
  'sec-websocket-key1',
  'sec-websocket-key2',
  'content-length',
  'transfer-encoding',
  'host',
  'origin',
]);

/** Throws unless `value` is printable ASCII (or HTAB): a header line cannot carry anything else safely. */
function checkValue(what: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c > 0x7e) throw new InvalidArgumentError(`${what} contains character code ${c}, which a header cannot carry`);
  }
}

function appendHeaders(lines: string[], headers: Hybi00ResponseInit['headers']): void {
  if (headers === undefined) return;
  for (const name of Object.keys(headers)) {
    const raw = headers[name] as unknown;
    if (raw === undefined) continue;
    if (!isToken(name)) throw new InvalidArgumentError(`header name ${JSON.stringify(name)} is not a token`);
    if (RESERVED.has(name.toLowerCase())) throw new InvalidArgumentError(`header ${name} is set by the WebSocket handshake and cannot be given as an extra header`);
    for (const v of Array.isArray(raw) ? (raw as unknown[]) : [raw]) {
      const value = typeof v === 'number' ? String(v) : v;
      if (typeof value !== 'string') throw new InvalidArgumentError(`header ${name} must have string values`);
      checkValue(`header ${name}`, value);
      lines.push(`${name}: ${value.trim()}`);
    }
  }
}

/**
 * The server's response head (section 5.2), ending in CRLF CRLF; the 16-byte answer is written
 * right after it. Throws InvalidArgumentError for values a header cannot carry.
 */
export function buildHybi00Response(init: Hybi00ResponseInit): string {
  checkValue('Sec-WebSocket-Origin', init.origin);
  checkValue('Sec-WebSocket-Location', init.location);
  const lines = [
    'HTTP/1.1 101 WebSocket Protocol Handshake',
    'Upgrade: WebSocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Origin: ${init.origin}`,
    `Sec-WebSocket-Location: ${init.location}`,
  ];
  if (init.protocol !== undefined && init.protocol !== '') {
    checkValue('Sec-WebSocket-Protocol', init.protocol);
    lines.push(`Sec-WebSocket-Protocol: ${init.protocol}`);
  }
  appendHeaders(lines, init.headers);
  return lines.join('\r\n') + '\r\n\r\n';
}

// ---------------------------------------------------------------------------------------------
// Client side

/** The client's secret parts of one handshake, and the answer it expects. */
export interface Hybi00Keys {
  key1: string;
  key2: string;
  key3: Uint8Array;
  expected: Uint8Array;
}

/** Characters the client scatters through a key (section 4.1 step 19): U+0021-U+002F, U+003A-U+007E. */
function noiseChar(r: number): string {
  const n = r % 84; // 15 + 69 characters
  return String.fromCharCode(n < 15 ? 0x21 + n : 0x3a + (n - 15));
}

/** One key (section 4.1 steps 16-22) from `random`, which returns a cryptographically random 32-bit integer. */
function makeKey(random: () => number): { key: string; number: number } {
  const spaces = 1 + (random() % 12);
  const max = Math.floor(0xffffffff / spaces);
  const number = random() % (max + 1);
  const chars = String(number * spaces).split('');
  const noise = 1 + (random() % 12);
  for (let i = 0; i < noise; i++) chars.splice(random() % (chars.length + 1), 0, noiseChar(random()));
  // Spaces never go first or last (step 21), so that no one trims them away.
  for (let i = 0; i < spaces; i++) chars.splice(1 + (random() % (chars.length - 1)), 0, ' ');
  return { key: chars.join(''), number };
}

/**
 * `byte`, or `byte` with its top bit set when it is NUL or ASCII whitespace. Some deployed
 * draft-76 servers read key3 as text and trim it (Ruby's websocket gem does), so a key3 that
 * starts or ends with such a byte gets a wrong answer from them, about one handshake in twenty.
 * Flipping the top bit keeps the byte random in its other seven bits and out of that set.
 */
function untrimmable(byte: number): number {
  return byte === 0x00 || byte === 0x20 || (byte >= 0x09 && byte <= 0x0d) ? byte | 0x80 : byte;
}

/**
 * Fresh keys for one handshake and the answer the server must send back. `random` fills an
 * array with cryptographically random bytes (the Web Crypto getRandomValues contract).
 */
export function generateHybi00Keys(random: (bytes: Uint8Array) => Uint8Array): Hybi00Keys {
  const word = (): number => new DataView(random(new Uint8Array(4)).buffer).getUint32(0);
  const k1 = makeKey(word);
  const k2 = makeKey(word);
  const key3 = random(new Uint8Array(KEY3_SIZE));
  key3[0] = untrimmable(key3[0]);
  key3[KEY3_SIZE - 1] = untrimmable(key3[KEY3_SIZE - 1]);
  return { key1: k1.key, key2: k2.key, key3, expected: challengeAnswer(k1.number, k2.number, key3) };
}

/** What a hybi-00 client puts in its request. */
export interface Hybi00ClientRequestInit {
  host: string;
  path: string;
  /** Origin header; the draft's clients always send one. */
  origin: string;
  protocol?: string;
  key1: string;
  key2: string;
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

/** The request head (section 4.1), ending in CRLF CRLF; key3 is written right after it. */
export function buildHybi00ClientRequest(init: Hybi00ClientRequestInit): string {
  checkValue('the request path', init.path);
  if (init.path.charCodeAt(0) !== 0x2f || init.path.includes(' ')) throw new InvalidArgumentError(`request path ${JSON.stringify(init.path)} must start with '/' and hold no spaces`);
  checkValue('the Host header', init.host);
  checkValue('the Origin header', init.origin);
  const lines = [`GET ${init.path} HTTP/1.1`, 'Upgrade: WebSocket', 'Connection: Upgrade', `Host: ${init.host}`, `Origin: ${init.origin}`];
  if (init.protocol !== undefined && init.protocol !== '') {
    checkValue('Sec-WebSocket-Protocol', init.protocol);
    lines.push(`Sec-WebSocket-Protocol: ${init.protocol}`);
  }
  lines.push(`Sec-WebSocket-Key1: ${init.key1}`, `Sec-WebSocket-Key2: ${init.key2}`);
  appendHeaders(lines, init.headers);
  return lines.join('\r\n') + '\r\n\r\n';
}

/** What the client checks the server's answer against. */
export interface Hybi00Expectation {
  origin: string;
  location: string;
  protocol?: string;
  expected: Uint8Array;
}

/**
 * Checks the response head (section 4.2: Upgrade and Connection, Sec-WebSocket-Origin equal to
 * our Origin, Sec-WebSocket-Location equal to the URL, the protocol we asked for) and the 16
 * bytes after it. Null when all is well, else the reason.
 */
export function checkHybi00Response(status: number, headers: HeaderMap, answer: Uint8Array, expect: Hybi00Expectation): string | null {
  if (status !== 101) return `status ${status}, not 101`;
  const upgrade = once(headers, 'upgrade');
  if (upgrade === null || upgrade.toLowerCase() !== 'websocket') return 'the Upgrade header is not WebSocket';
  const connection = once(headers, 'connection');
  if (connection === null || connection.toLowerCase() !== 'upgrade') return 'the Connection header is not Upgrade';
  if (once(headers, 'sec-websocket-origin') !== expect.origin) return 'Sec-WebSocket-Origin does not match the Origin sent';
  if (once(headers, 'sec-websocket-location') !== expect.location) return 'Sec-WebSocket-Location does not match the URL';
  const protocol = headers['sec-websocket-protocol'];
  if ((expect.protocol ?? '') !== '' || protocol !== undefined) {
    if (once(headers, 'sec-websocket-protocol') !== expect.protocol) return 'Sec-WebSocket-Protocol does not match the one asked for';
  }
  if (answer.length !== ANSWER_SIZE) return `the answer is ${answer.length} bytes, not ${ANSWER_SIZE}`;
  for (let i = 0; i < ANSWER_SIZE; i++) if (answer[i] !== expect.expected[i]) return 'the challenge answer is wrong';
  return null;
}
