/**
 * How the hybi command shows things: colours (only for a terminal, never in a pipe), binary
 * payloads as text, close codes with their names, and terminal-safe text.
 */

/** How binary messages are written: hex digits, base64, or the bytes themselves (for pipes). */
export type BinaryFormat = 'hex' | 'base64' | 'raw';

export const BINARY_FORMATS: readonly BinaryFormat[] = ['hex', 'base64', 'raw'];

/** Encodes a binary payload for one output line. */
export function formatBinary(data: Uint8Array, format: Exclude<BinaryFormat, 'raw'>): string {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return format === 'hex' ? buf.toString('hex') : buf.toString('base64');
}

/**
 * Decodes the argument of the interactive /hex command. Spaces are allowed between bytes so that
 * output from `xxd` or from hybi itself can be pasted back.
 */
export function parseHex(text: string): Uint8Array | null {
  let digits = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === ' ' || c === ':') continue;
    const code = c.charCodeAt(0);
    const hex = (code >= 0x30 && code <= 0x39) || ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x66);
    if (!hex) return null;
    digits += c;
  }
  if (digits.length % 2 !== 0) return null;
  return Uint8Array.from(Buffer.from(digits, 'hex'));
}

/** Names of the close codes RFC 6455 (section 7.4.1) and the IANA registry define. */
const CLOSE_NAMES: Readonly<Record<number, string>> = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code',
  1006: 'abnormal closure, no close frame',
  1007: 'invalid payload data',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension',
  1011: 'internal error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failure',
};

/** "1000 (normal closure)", "4001 (application)", with the reason quoted when there is one. */
export function describeClose(code: number, reason: string): string {
  const name = CLOSE_NAMES[code] ?? (code >= 4000 && code <= 4999 ? 'application' : code >= 3000 && code <= 3999 ? 'registered' : 'unknown');
  return `${code} (${name})${reason ? ` ${JSON.stringify(reason)}` : ''}`;
}

/**
 * Close codes that end a session as intended: normal, going away, and a close frame without a
 * code. Anything else (1006 above all, but also 1002, 1011 and friends) makes `hybi connect`
 * exit non-zero, so scripts notice.
 */
export function isCleanClose(code: number): boolean {
  return code === 1000 || code === 1001 || code === 1005;
}

/** The SGR colours the CLI uses; each is the identity when colours are off. */
export interface Palette {
  dim(s: string): string;
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
}

function sgr(open: number, close: number): (s: string) => string {
  return (s) => `\x1b[${open}m${s}\x1b[${close}m`;
}

const identity = (s: string): string => s;

/**
 * Colours for a stream: on only when it is a terminal and NO_COLOR (https://no-color.org) is unset
 * or empty, and not turned off by `--no-color`; FORCE_COLOR turns them on anyway.
 */
export function paletteFor(stream: { isTTY?: boolean }, noColor = false, env: NodeJS.ProcessEnv = process.env): Palette {
  const forced = env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0' && env['FORCE_COLOR'] !== '';
  const on = !noColor && (forced || (stream.isTTY === true && !env['NO_COLOR']));
  if (!on) {
    return { dim: identity, bold: identity, red: identity, green: identity, yellow: identity, cyan: identity, magenta: identity };
  }
  return {
    dim: sgr(2, 22),
    bold: sgr(1, 22),
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    magenta: sgr(35, 39),
  };
}

/**
 * Makes peer-controlled text safe to show on a terminal: C0 controls other than tab and newline,
 * DEL and C1 controls are shown as \\xNN, so a message cannot move the cursor, change colours or
 * set the window title of the person reading it. Used only for terminals; pipes get the bytes.
 */
export function sanitizeForTerminal(text: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f)) {
      out += text.slice(start, i) + `\\x${c.toString(16).padStart(2, '0')}`;
      start = i + 1;
    }
  }
  return start === 0 ? text : out + text.slice(start);
}

/**
 * A received message as text or bytes, whatever shape the 'message' event hands it in (a string,
 * a Buffer, an ArrayBuffer or a list of chunks), so the CLI does not depend on that detail.
 */
export function payloadOf(data: unknown, isBinary: boolean): { text?: string; bytes?: Uint8Array } {
  if (typeof data === 'string') return isBinary ? { bytes: Buffer.from(data) } : { text: data };
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) bytes = data;
  else if (data instanceof ArrayBuffer) bytes = new Uint8Array(data);
  else if (Array.isArray(data)) bytes = Buffer.concat(data as Uint8Array[]);
  else bytes = Buffer.from(String(data));
  if (isBinary) return { bytes };
  return { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') };
}
