/**
 * What both sides of the upgrade handshake (RFC 6455 section 4) share: the version, the
 * Sec-WebSocket-Key and the Sec-WebSocket-Accept value computed from it.
 */
import { encodeBase64, isBase64Char } from './base64.js';
import { sha1 } from './sha1.js';
import { encodeUtf8 } from './utf8.js';

/** The GUID RFC 6455 section 1.3 appends to the key before hashing. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The only protocol version RFC 6455 defines (section 4.1). */
export const WEBSOCKET_VERSION = '13';

interface RandomSource {
  getRandomValues<T extends Uint8Array>(array: T): T;
}

// The core has no Node types; Web Crypto is reached through a typed view of globalThis, as in mask.ts.
const randomSource: RandomSource = (globalThis as unknown as { crypto: RandomSource }).crypto;

/** base64(SHA-1(key + GUID)): the value of Sec-WebSocket-Accept (section 4.2.2). */
export function computeAcceptKey(key: string): string {
  return encodeBase64(sha1(acceptInput(key)));
}

/**
 * Key + GUID as bytes. A valid key (24 ASCII characters) is written into a scratch array whose
 * tail already holds the GUID: the server does this once per connection, and the string
 * concatenation and fresh array it replaces cost about as much as the hashing.
 */
const ACCEPT_INPUT = new Uint8Array(24 + WEBSOCKET_GUID.length);
for (let i = 0; i < WEBSOCKET_GUID.length; i++) ACCEPT_INPUT[24 + i] = WEBSOCKET_GUID.charCodeAt(i);

function acceptInput(key: string): Uint8Array {
  if (key.length === 24) {
    let ascii = true;
    for (let i = 0; i < 24; i++) {
      const code = key.charCodeAt(i);
      if (code > 0x7f) {
        ascii = false;
        break;
      }
      ACCEPT_INPUT[i] = code;
    }
    if (ascii) return ACCEPT_INPUT;
  }
  return asciiOrUtf8(key + WEBSOCKET_GUID);
}

/** The UTF-8 bytes of `text`, written directly when it is ASCII (keys other than 24 ASCII characters are rare). */
function asciiOrUtf8(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return encodeUtf8(text);
    bytes[i] = code;
  }
  return bytes;
}

/** A fresh Sec-WebSocket-Key: base64 of 16 cryptographically random bytes (section 4.1). */
export function generateKey(): string {
  // Section 4.1: the nonce MUST be selected randomly for each connection.
  return encodeBase64(randomSource.getRandomValues(new Uint8Array(16)));
}

/**
 * True when `key` is base64 that decodes to exactly 16 bytes (section 4.2.1, item 5): 22
 * characters of the base64 alphabet then "==". Unused bits in the last character are not
 * checked, as in other servers, because they change nothing in the accept value.
 */
export function isValidKey(key: string): boolean {
  // What decodeBase64(key)?.length === 16 accepts, without building the 16 bytes.
  if (key.length !== 24 || key.charCodeAt(22) !== 0x3d || key.charCodeAt(23) !== 0x3d) return false;
  for (let i = 0; i < 22; i++) if (!isBase64Char(key.charCodeAt(i))) return false;
  return true;
}
