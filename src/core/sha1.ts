/**
 * SHA-1 (FIPS 180-4) over bytes. The core needs it only for Sec-WebSocket-Accept (RFC 6455
 * section 4.2.2), where SHA-1 serves as a fingerprint of the key, not as a security measure; it
 * is written here because the core may not import node:crypto, and Web Crypto's digest is
 * asynchronous.
 */

// Scratch space reused by every call (hashing is synchronous, one digest at a time): the
// handshake hashes once per connection, and allocating a padded copy, a message schedule and
// DataViews each time cost about as much as the hashing itself.
/** The chaining value h0..h4. */
const H = new Int32Array(5);
/** The message schedule of the block being compressed. */
const W = new Int32Array(80);
/** The last one or two blocks: the data's tail, the 0x80 byte, zeros and the length. */
const TAIL = new Uint8Array(128);

/** The 20-byte SHA-1 digest of `data`. */
export function sha1(data: Uint8Array): Uint8Array {
  H[0] = 0x67452301;
  H[1] = 0xefcdab89;
  H[2] = 0x98badcfe;
  H[3] = 0x10325476;
  H[4] = 0xc3d2e1f0;

  // Whole blocks straight from the data.
  const length = data.length;
  let offset = 0;
  for (; offset + 64 <= length; offset += 64) compress(data, offset);

  // Padding: a 1 bit, zeros, then the message length in bits as a 64-bit big-endian number,
  // so that the total is a multiple of 64 bytes (one more block when the tail leaves no room).
  const rest = length - offset;
  const tailSize = rest < 56 ? 64 : 128;
  TAIL.fill(0, 0, tailSize);
  TAIL.set(data.subarray(offset), 0);
  TAIL[rest] = 0x80;
  const bits = length * 8;
  writeUint32(TAIL, tailSize - 8, Math.floor(bits / 0x100000000));
  writeUint32(TAIL, tailSize - 4, bits >>> 0);
  compress(TAIL, 0);
  if (tailSize === 128) compress(TAIL, 64);

  const out = new Uint8Array(20);
  for (let i = 0; i < 5; i++) writeUint32(out, i * 4, H[i]!);
  return out;
}

/** One 64-byte block of `bytes` at `offset` into the chaining value H (FIPS 180-4 section 6.1.2). */
function compress(bytes: Uint8Array, offset: number): void {
  for (let t = 0; t < 16; t++) {
    const i = offset + t * 4;
    W[t] = (bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!;
  }
  for (let t = 16; t < 80; t++) {
    const x = W[t - 3]! ^ W[t - 8]! ^ W[t - 14]! ^ W[t - 16]!;
    W[t] = (x << 1) | (x >>> 31);
  }
  let a = H[0]!;
  let b = H[1]!;
  let c = H[2]!;
  let d = H[3]!;
  let e = H[4]!;
  // The four rounds of 20 steps, each with its own function and constant (one loop each: no
  // branch per step).
  let t = 0;
  for (; t < 20; t++) {
    const temp = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 40; t++) {
    const temp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 60; t++) {
    const temp = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + 0x8f1bbcdc + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  for (; t < 80; t++) {
    const temp = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0xca62c1d6 + W[t]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = temp;
  }
  H[0] = H[0]! + a;
  H[1] = H[1]! + b;
  H[2] = H[2]! + c;
  H[3] = H[3]! + d;
  H[4] = H[4]! + e;
}

function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}
