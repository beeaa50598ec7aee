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
 * operating system's generator. Keys are copied out of the pool, and the pool is refilled only
 * once every byte of it has been used, so no two keys share or reuse a random byte.
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
// bytes here and reading the word gives the XOR operand for word views without caring about the
// platform's byte order. Int32 rather than Uint32: V8 keeps int32 values unboxed, while Uint32
// elements at or above 2^31 would turn into doubles.
const keyBytes = new Uint8Array(4);
const keyWord = new Int32Array(keyBytes.buffer);
/** The bytes of a key word (maskWord), for the byte loops that finish a range. */
const scratchWordKey = new Uint8Array(4);

/**
 * Below this many bytes, creating a word view costs more than it saves and the unrolled byte loop
 * wins (measured on Node 20: the two meet between 128 and 192 bytes).
 */
const WORD_THRESHOLD = 128;

/** XORs every element of `words` with `word`; unrolled by 16, which measured about 30% faster than by 4. */
function xorWords(words: Int32Array, word: number): void {
  const n = words.length;
  let w = 0;
  for (const stop = n & ~15; w < stop; w += 16) {
    words[w] = words[w]! ^ word;
    words[w + 1] = words[w + 1]! ^ word;
    words[w + 2] = words[w + 2]! ^ word;
    words[w + 3] = words[w + 3]! ^ word;
    words[w + 4] = words[w + 4]! ^ word;
    words[w + 5] = words[w + 5]! ^ word;
    words[w + 6] = words[w + 6]! ^ word;
    words[w + 7] = words[w + 7]! ^ word;
    words[w + 8] = words[w + 8]! ^ word;
    words[w + 9] = words[w + 9]! ^ word;
    words[w + 10] = words[w + 10]! ^ word;
    words[w + 11] = words[w + 11]! ^ word;
    words[w + 12] = words[w + 12]! ^ word;
    words[w + 13] = words[w + 13]! ^ word;
    words[w + 14] = words[w + 14]! ^ word;
    words[w + 15] = words[w + 15]! ^ word;
  }
  for (; w < n; w++) words[w] = words[w]! ^ word;
}

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD, where the runtime has it: XOR 16 bytes per instruction, about 2.5 times the
// word-at-a-time loop from 1 KiB up (17 vs 6 GB/s at 1 MiB, bench/micro.mjs). A module works on
// its own memory, so long ranges go through it in blocks of one page: copy in, XOR, copy out
// (native copies, cache-hot). Runtimes without WebAssembly or SIMD get the JavaScript loop.
//
// The module, hand-assembled (140 bytes), in the text format:
//   (module
//     (memory (export "memory") 1)
//     (func (export "xor") (param $p i32) (param $n i32) (param $k i32)
//       (local $v v128) (local $end i32)
//       (local.set $v (i32x4.splat (local.get $k)))          ;; the key in every 32-bit lane
//       (local.set $end (i32.add (local.get $p) (local.get $n)))
//       (block (loop
//         (br_if 1 (i32.ge_u (local.get $p) (local.get $end)))
//         ;; 64 bytes per turn: four v128 loads, XORs and stores at offsets 0, 16, 32, 48
//         (v128.store offset=0 (local.get $p) (v128.xor (v128.load offset=0 (local.get $p)) (local.get $v)))
//         ...
//         (local.set $p (i32.add (local.get $p) (i32.const 64)))
//         (br 0)))))
// $n must be a multiple of 64; the caller does the ragged end.
const SIMD_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f,
  0x00, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x10, 0x02, 0x06, 0x6d, 0x65,
  0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x03, 0x78, 0x6f, 0x72, 0x00, 0x00, 0x0a, 0x6c, 0x01, 0x6a,
  0x02, 0x01, 0x7b, 0x01, 0x7f, 0x20, 0x02, 0xfd, 0x11, 0x21, 0x03, 0x20, 0x00, 0x20, 0x01, 0x6a,
  0x21, 0x04, 0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x20, 0x04, 0x4f, 0x0d, 0x01, 0x20, 0x00, 0x20,
  0x00, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x00, 0x20, 0x00, 0x20,
  0x00, 0xfd, 0x00, 0x04, 0x10, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x10, 0x20, 0x00, 0x20,
  0x00, 0xfd, 0x00, 0x04, 0x20, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x20, 0x20, 0x00, 0x20,
  0x00, 0xfd, 0x00, 0x04, 0x30, 0x20, 0x03, 0xfd, 0x51, 0xfd, 0x0b, 0x04, 0x30, 0x20, 0x00, 0x41,
  0xc0, 0x00, 0x6a, 0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b, 0x0b,
]);

/** Bytes per block through the module's memory: its one page. */
const SIMD_BLOCK = 65536;
/** Below this many bytes the copies in and out cost more than SIMD saves. */
export const SIMD_THRESHOLD = 1024;

/** What the core needs of the WebAssembly API (it has no DOM or Node types to describe it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** One instance of the masking module: its XOR and its memory. */
export interface SimdKernel {
  /** XORs memory[p, p + n) in place with the 32-bit little-endian key `k` repeated; n a multiple of 64. */
  xor(p: number, n: number, k: number): void;
  /** The first SIMD_BLOCK bytes of the module's memory: the block that ranges pass through. */
  memory: Uint8Array;
  /** The module's WebAssembly.Memory, which an owner may grow for memory of its own (node/mask-pool.ts does). */
  wasmMemory: { buffer: ArrayBuffer; grow(pages: number): number };
}

/**
 * A new instance of the masking module, checked against a known answer; null where the runtime
 * has no WebAssembly SIMD. The core masks through one of its own; a layer that wants masked
 * output to land straight in module memory (the Node driver's pool) makes another.
 */
export function loadSimd(): SimdKernel | null {
  const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    // Synchronous compilation is fine for a module this small (browsers allow it up to 4 KB).
    const { exports } = new wasm.Instance(new wasm.Module(SIMD_MODULE), {});
    const xor = exports['xor'] as SimdKernel['xor'];
    const wasmMemory = exports['memory'] as SimdKernel['wasmMemory'];
    const memory = new Uint8Array(wasmMemory.buffer, 0, SIMD_BLOCK);
    // Trust it only once it computed a known answer (128 bytes of 0x00 XOR 01 02 03 04).
    memory.fill(0, 0, 128);
    xor(0, 128, 0x04030201);
    for (let i = 0; i < 128; i++) if (memory[i] !== (i & 3) + 1) return null;
    return { xor, memory, wasmMemory };
  } catch {
    // No SIMD support (a CompileError), or no synchronous compilation allowed: use JavaScript.
    return null;
  }
}

const simd = loadSimd();

/**
 * XORs target[start, end) with the key word, from key byte 0: the ragged end after whole
 * 64-byte groups, which leave the phase at 0.
 */
function xorTailWithWord(target: Uint8Array, start: number, end: number, word: number): void {
  const key = scratchWordKey;
  key[0] = word & 0xff;
  key[1] = (word >>> 8) & 0xff;
  key[2] = (word >>> 16) & 0xff;
  key[3] = (word >>> 24) & 0xff;
  xorRange(target, start, end, key, 0);
}

/**
 * XORs whole 64-byte groups of `source`[start, start + length) into `target` from `targetOffset`
 * (the two may be the same array at the same place) through the SIMD module; `k` is the key
 * word for the first byte. Returns how many bytes were done (length rounded down to 64).
 */
function simdXor(kernel: SimdKernel, source: Uint8Array, start: number, length: number, k: number, target: Uint8Array, targetOffset: number): number {
  const done = length & ~63;
  const memory = kernel.memory;
  for (let at = 0; at < done; at += SIMD_BLOCK) {
    const n = done - at < SIMD_BLOCK ? done - at : SIMD_BLOCK;
    memory.set(source.subarray(start + at, start + at + n));
    kernel.xor(0, n, k);
    target.set(n === SIMD_BLOCK ? memory : memory.subarray(0, n), targetOffset + at);
  }
  return done;
}

/** The key word (the module is little-endian whatever the platform) for a range starting at key phase p. */
function keyWordLE(key: Uint8Array, p: number): number {
  return key[p]! | (key[(p + 1) & 3]! << 8) | (key[(p + 2) & 3]! << 16) | (key[(p + 3) & 3]! << 24);
}

/**
 * XORs data[start, end) in place; byte i uses key[(phase + i - start) & 3]. SIMD on long ranges
 * where available, else word-at-a-time on the 4-aligned middle of a long range; bytes (key in
 * locals, unrolled by 8) for what is left.
 */
function xorRange(data: Uint8Array, start: number, end: number, key: Uint8Array, phase: number): void {
  let i = start;
  let p = phase & 3;
  if (simd !== null && end - start >= SIMD_THRESHOLD) {
    // Whole groups of 64 bytes leave the phase where it was.
    i += simdXor(simd, data, start, end - start, keyWordLE(key, p), data, start);
  } else if (end - start >= WORD_THRESHOLD) {
    // Bytes until the absolute position in the ArrayBuffer is 4-aligned, as word views require.
    for (const stop = i + ((4 - ((data.byteOffset + i) & 3)) & 3); i < stop; i++, p = (p + 1) & 3) {
      data[i] = data[i]! ^ key[p]!;
    }
    keyBytes[0] = key[p]!;
    keyBytes[1] = key[(p + 1) & 3]!;
    keyBytes[2] = key[(p + 2) & 3]!;
    keyBytes[3] = key[(p + 3) & 3]!;
    const count = (end - i) >>> 2;
    xorWords(new Int32Array(data.buffer, data.byteOffset + i, count), keyWord[0]!);
    // A whole number of words leaves the phase where it was.
    i += count << 2;
  }
  const k0 = key[p]!;
  const k1 = key[(p + 1) & 3]!;
  const k2 = key[(p + 2) & 3]!;
  const k3 = key[(p + 3) & 3]!;
  for (const stop = i + ((end - i) & ~7); i < stop; i += 8) {
    data[i] = data[i]! ^ k0;
    data[i + 1] = data[i + 1]! ^ k1;
    data[i + 2] = data[i + 2]! ^ k2;
    data[i + 3] = data[i + 3]! ^ k3;
    data[i + 4] = data[i + 4]! ^ k0;
    data[i + 5] = data[i + 5]! ^ k1;
    data[i + 6] = data[i + 6]! ^ k2;
    data[i + 7] = data[i + 7]! ^ k3;
  }
  // At most 7 bytes are left, starting again at k0 (8 is a multiple of the cycle).
  const rest = end - i;
  if (rest > 0) data[i] = data[i]! ^ k0;
  if (rest > 1) data[i + 1] = data[i + 1]! ^ k1;
  if (rest > 2) data[i + 2] = data[i + 2]! ^ k2;
  if (rest > 3) data[i + 3] = data[i + 3]! ^ k3;
  if (rest > 4) data[i + 4] = data[i + 4]! ^ k0;
  if (rest > 5) data[i + 5] = data[i + 5]! ^ k1;
  if (rest > 6) data[i + 6] = data[i + 6]! ^ k2;
}

/**
 * Unmasks bytes [start, stop) of `bytes` in place with the key bytes k0..k3, from the key's first
 * byte: for a short payload (the frame parser's), where this loop costs less than applyMask's
 * calls and the key's copy into an array.
 */
export function unmaskSmall(bytes: Uint8Array, start: number, stop: number, k0: number, k1: number, k2: number, k3: number): void {
  let i = start;
  for (; i + 3 < stop; i += 4) {
    bytes[i] = bytes[i]! ^ k0;
    bytes[i + 1] = bytes[i + 1]! ^ k1;
    bytes[i + 2] = bytes[i + 2]! ^ k2;
    bytes[i + 3] = bytes[i + 3]! ^ k3;
  }
  if (i < stop) bytes[i] = bytes[i]! ^ k0;
  if (i + 1 < stop) bytes[i + 1] = bytes[i + 1]! ^ k1;
  if (i + 2 < stop) bytes[i + 2] = bytes[i + 2]! ^ k2;
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
 * The masking key as one 32-bit number, little-endian, starting at key byte `phase & 3`: the form
 * `maskWordInto` takes. A masked payload handed over in pieces can be described piece by piece by
 * the word for the piece's first byte, so no key array has to be kept per piece.
 */
export function maskWord(key: Uint8Array, phase = 0): number {
  return keyWordLE(key, phase & 3);
}

/**
 * Writes `source` XOR the key word `word` (see `maskWord`: byte i of `source` is XORed with byte
 * i & 3 of the word, least significant first) into `target` from `targetOffset`, leaving
 * `source` untouched; `target` may also be `source` itself at offset 0 (in place). One pass for
 * unmasking while copying: the receive path assembles a message from masked pieces with it,
 * instead of unmasking each piece in place and then copying it. A word of 0 is a plain copy.
 */
export function maskWordInto(source: Uint8Array, word: number, target: Uint8Array, targetOffset: number): void {
  const n = source.length;
  let done = 0;
  if (word === 0) {
    if (source !== target || targetOffset !== 0) target.set(source, targetOffset);
    return;
  }
  if (simd !== null && n >= SIMD_THRESHOLD) done = simdXor(simd, source, 0, n, word | 0, target, targetOffset);
  if (done === n) return;
  if (source !== target || targetOffset !== 0) target.set(done === 0 ? source : source.subarray(done), targetOffset + done);
  xorTailWithWord(target, targetOffset + done, targetOffset + n, word);
}

/**
 * Writes `source` XOR `key` into `target` starting at `targetOffset`, leaving `source` untouched
 * (the client send path must not alter the caller's buffer). `target` must have room for
 * `source.length` bytes there.
 */
export function maskInto(source: Uint8Array, key: Uint8Array, target: Uint8Array, targetOffset: number): void {
  const n = source.length;
  if (n < WORD_THRESHOLD) {
    const k0 = key[0]!;
    const k1 = key[1]!;
    const k2 = key[2]!;
    const k3 = key[3]!;
    let i = 0;
    let t = targetOffset;
    for (const stop = n & ~3; i < stop; i += 4, t += 4) {
      target[t] = source[i]! ^ k0;
      target[t + 1] = source[i + 1]! ^ k1;
      target[t + 2] = source[i + 2]! ^ k2;
      target[t + 3] = source[i + 3]! ^ k3;
    }
    for (; i < n; i++, t++) target[t] = source[i]! ^ key[i & 3]!;
    return;
  }
  if (simd !== null && n >= SIMD_THRESHOLD) {
    // Through the module: source in, XOR, out into target; the ragged end as below.
    const done = simdXor(simd, source, 0, n, keyWordLE(key, 0), target, targetOffset);
    if (done === n) return;
    target.set(source.subarray(done), targetOffset + done);
    xorRange(target, targetOffset + done, targetOffset + n, key, 0);
    return;
  }
  // A native copy then an aligned in-place XOR measured faster than a fused masked copy through
  // two word views (about 20% at 64 KiB), and it does not need source and target to share an
  // alignment.
  target.set(source, targetOffset);
  xorRange(target, targetOffset, targetOffset + n, key, 0);
}
