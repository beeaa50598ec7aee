/**
 * MD5 (RFC 1321) over bytes. The core needs it only for the hybi-00 (draft-hixie-76) opening
 * handshake, whose server proves it read the request by answering with the MD5 of the two key
 * numbers and the eight key3 bytes. It is a fingerprint there, not a security measure (MD5 has
 * long been broken for that); it is written here, as sha1.ts is, because the core may not import
 * node:crypto and Web Crypto has no MD5.
 */

/** Per-round left-rotation amounts (RFC 1321 section 3.4), four per round. */
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** T[i] = floor(2^32 * abs(sin(i + 1))), computed once (RFC 1321 section 3.4). */
const T = new Int32Array(64);
for (let i = 0; i < 64; i++) T[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) | 0;

/** The block being compressed, as sixteen little-endian words. */
const X = new Int32Array(16);

/** The 16-byte MD5 digest of `data`. */
export function md5(data: Uint8Array): Uint8Array {
  const state = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476];
  const length = data.length;
  let offset = 0;
  for (; offset + 64 <= length; offset += 64) compress(state, data, offset);
  // Padding (section 3.1-3.2): a 1 bit, zeros, then the bit length as 64 bits little-endian.
  const rest = length - offset;
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(data.subarray(offset));
  tail[rest] = 0x80;
  const bits = length * 8;
  writeUint32LE(tail, tail.length - 8, bits >>> 0);
  writeUint32LE(tail, tail.length - 4, Math.floor(bits / 0x100000000));
  compress(state, tail, 0);
  if (tail.length === 128) compress(state, tail, 64);
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) writeUint32LE(out, i * 4, state[i]!);
  return out;
}

function writeUint32LE(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = (value >>> 24) & 0xff;
}

/** One 64-byte block into the state (RFC 1321 section 3.4): four rounds of sixteen steps. */
function compress(state: number[], bytes: Uint8Array, offset: number): void {
  for (let i = 0; i < 16; i++) {
    const at = offset + i * 4;
    X[i] = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  for (let i = 0; i < 64; i++) {
    const round = i >> 4;
    let f: number;
    let k: number;
    if (round === 0) {
      f = (b & c) | (~b & d);
      k = i;
    } else if (round === 1) {
      f = (b & d) | (c & ~d);
      k = (5 * i + 1) & 15;
    } else if (round === 2) {
      f = b ^ c ^ d;
      k = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      k = (7 * i) & 15;
    }
    const sum = (a + f + T[i]! + X[k]!) | 0;
    const s = SHIFTS[round * 4 + (i & 3)]!;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}
