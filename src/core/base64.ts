/**
 * Base64 (RFC 4648 section 4, the standard alphabet with padding) over bytes, for the handshake
 * keys of RFC 6455 section 4. The core may not use Buffer, and `btoa`/`atob` work on binary
 * strings and are not in every runtime's type library.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Each ASCII code's 6-bit value, or 255 for a character outside the alphabet. */
const VALUES = new Uint8Array(128).fill(255);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** True for a character of the base64 alphabet (not the padding '='). */
export function isBase64Char(code: number): boolean {
  return code < 128 && VALUES[code] !== 255;
}

/** Encodes bytes as padded standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[v >>> 18]! + ALPHABET[(v >>> 12) & 63]! + ALPHABET[(v >>> 6) & 63]! + ALPHABET[v & 63]!;
  }
  if (i + 1 === n) {
    const v = bytes[i]! << 16;
    out += ALPHABET[v >>> 18]! + ALPHABET[(v >>> 12) & 63]! + '==';
  } else if (i + 2 === n) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[v >>> 18]! + ALPHABET[(v >>> 12) & 63]! + ALPHABET[(v >>> 6) & 63]! + '=';
  }
  return out;
}

/**
 * Decodes padded standard base64; null for anything else (wrong length, a character outside
 * the alphabet, whitespace, padding in the middle). Bits left over in the last character are
 * ignored, as most decoders do, so a key a peer encoded sloppily still decodes.
 */
export function decodeBase64(text: string): Uint8Array | null {
  const n = text.length;
  if (n % 4 !== 0) return null;
  let padding = 0;
  if (n > 0 && text.charCodeAt(n - 1) === 0x3d) padding = text.charCodeAt(n - 2) === 0x3d ? 2 : 1;
  const out = new Uint8Array((n / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < n; i += 4) {
    let v = 0;
    const last = i + 4 === n;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      if (last && j >= 4 - padding) {
        v <<= 6; // '=' (already checked to be the padding)
        continue;
      }
      const d = c < 128 ? VALUES[c]! : 255;
      if (d === 255) return null;
      v = (v << 6) | d;
    }
    out[o++] = v >>> 16;
    if (o < out.length) out[o++] = (v >>> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}
