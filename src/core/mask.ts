/**
 * Masking (RFC 6455 section 5.3): every frame a client sends is XORed with a fresh 32-bit key, so
 * that a hostile page cannot choose the bytes an intermediary sees. The same XOR unmasks.
 *
 * The core has no Node types, so the Web Crypto object is reached through a small typed view of
 * globalThis; Node 20 and every browser-like runtime provide it.
 */

interface RandomSource {
  getRandomValues<T extends Uint8Array>(array: T): T;
}

const randomSource: RandomSource = (globalThis as unknown as { crypto: RandomSource }).crypto;

/**
 * Keys are cut from a pool of random bytes so that a key costs a copy, not a call into the
 * operating system's generator. Each refill takes a fresh buffer region and every key is copied
 * out, so no two keys ever share or reuse a random byte.
 */
const POOL_SIZE = 4096;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

function refillPool(): void {
  randomSource.getRandomValues(pool);
  poolOffset = 0;
}

/**
 * A fresh masking key: 4 bytes from a cryptographically strong source. RFC 6455 section 5.3: the
 * key MUST be freshly and unpredictably chosen for each frame.
 */
export function generateMaskKey(): Uint8Array {
  if (poolOffset === POOL_SIZE) refillPool();
  const o = poolOffset;
  poolOffset = o + 4;
  const key = new Uint8Array(4);
  key[0] = pool[o]!;
  key[1] = pool[o + 1]!;
  key[2] = pool[o + 2]!;
  key[3] = pool[o + 3]!;
  return key;
}

/**
 * Writes a fresh masking key straight into `target` at `offset` (4 bytes), for encoders that put
 * the key into a frame header and need no separate key object. Same source and guarantees as
 * generateMaskKey.
 */
export function writeMaskKey(target: Uint8Array, offset: number): void {
  if (poolOffset === POOL_SIZE) refillPool();
  const o = poolOffset;
  poolOffset = o + 4;
  target[offset] = pool[o]!;
  target[offset + 1] = pool[o + 1]!;
  target[offset + 2] = pool[o + 2]!;
  target[offset + 3] = pool[o + 3]!;
}

// A 4-byte scratch area read back as one native-endian 32-bit word: writing the (rotated) key
// bytes here and reading the word gives the XOR operand for Uint32Array views without caring
// about the platform's byte order.
const keyBytes = new Uint8Array(4);
const keyWord = new Uint32Array(keyBytes.buffer);

/** Below this many bytes a view costs more than it saves, so the byte loop is used. */
const WORD_THRESHOLD = 32;

/**
 * XORs data[start, end) in place; byte i uses key[(phase + i - start) & 3]. Word-at-a-time on the
 * 4-aligned middle of the range, bytes at the ragged edges.
 */
function xorRange(data: Uint8Array, start: number, end: number, key: Uint8Array, phase: number): void {
  let i = start;
  let p = phase & 3;
  if (end - start >= WORD_THRESHOLD) {
    // Bytes until the absolute position in the ArrayBuffer is 4-aligned.
    const lead = (4 - ((data.byteOffset + i) & 3)) & 3;
    for (const stop = i + lead; i < stop; i++, p = (p + 1) & 3) data[i] = data[i]! ^ key[p]!;
    keyBytes[0] = key[p]!;
    keyBytes[1] = key[(p + 1) & 3]!;
    keyBytes[2] = key[(p + 2) & 3]!;
    keyBytes[3] = key[(p + 3) & 3]!;
    const word = keyWord[0]!;
    const words = (end - i) >>> 2;
    const view = new Uint32Array(data.buffer, data.byteOffset + i, words);
    let w = 0;
    // Unrolled by four: the loop overhead is then small next to the XORs.
    for (const stop4 = words & ~3; w < stop4; w += 4) {
      view[w] = view[w]! ^ word;
      view[w + 1] = view[w + 1]! ^ word;
      view[w + 2] = view[w + 2]! ^ word;
      view[w + 3] = view[w + 3]! ^ word;
    }
    for (; w < words; w++) view[w] = view[w]! ^ word;
    i += words << 2;
    // A whole number of words leaves the phase unchanged.
  }
  for (; i < end; i++, p = (p + 1) & 3) data[i] = data[i]! ^ key[p]!;
}

/**
 * Masks or unmasks `data` in place with the 4-byte `key` and returns it. `offset` is the position
 * in the mask cycle of data[0]: a payload unmasked in pieces passes the number of payload bytes
 * already processed, so byte j of the payload always uses key[j & 3] (RFC 6455 section 5.3).
 */
export function applyMask(data: Uint8Array, key: Uint8Array, offset = 0): Uint8Array {
  xorRange(data, 0, data.length, key, offset);
  return data;
}

/**
 * Writes `source` XOR `key` into `target` starting at `targetOffset`, leaving `source` untouched
 * (the client send path must not alter the caller's buffer). `target` must have room for
 * `source.length` bytes there.
 */
export function maskInto(source: Uint8Array, key: Uint8Array, target: Uint8Array, targetOffset: number): void {
  const n = source.length;
  if (n < WORD_THRESHOLD) {
    for (let i = 0; i < n; i++) target[targetOffset + i] = source[i]! ^ key[i & 3]!;
    return;
  }
  // A native copy then an aligned in-place XOR beats a byte-by-byte masked copy, and it does not
  // depend on source and target sharing an alignment.
  target.set(source, targetOffset);
  xorRange(target, targetOffset, targetOffset + n, key, 0);
}
