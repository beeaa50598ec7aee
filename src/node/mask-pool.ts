/**
 * Memory for masked output over a socket or an HTTP/2 stream: a pool of blocks in the memory of a
 * masking module of its own (core/mask.ts's SIMD kernel). Masking into an ordinary array costs a
 * copy into the module's memory, the XOR, and a copy back out (besides allocating, and first
 * touching, a fresh array); a frame masked straight into the module's memory costs one copy and
 * the XOR, in memory that is used again and again. A sender asks for a block (reserveMaskMemory),
 * masks into it (maskIntoPool), hands it to its transport, and gives it back once the transport no
 * longer reads it (releaseMaskMemory). The driver gives the core these as its allocator and output
 * masker (ConnectionOptions.allocate, maskOutput): the core itself holds no pool.
 *
 * The memory grows once, on first use, before any block is handed out, and never again: growing
 * would detach the buffer that handed-out blocks are views of.
 */
import { loadSimd, maskWordInto, SIMD_THRESHOLD, type SimdKernel } from '../core/mask.js';

/** Bytes per pool block; a reservation takes whole, consecutive blocks. */
const POOL_BLOCK = 64 * 1024;
/** Blocks in the pool: 16 MiB, reserved (not touched) on first use. */
const POOL_BLOCKS = 256;
/** The pool follows the module's scratch block (its first page). */
const POOL_BASE = 65536;

/** The pool's own module instance: null where the runtime has no WebAssembly SIMD (then there is no pool). */
const kernel: SimdKernel | null = loadSimd();
/** 1 for a block handed out, 0 for a free one (a second release of a block is ignored); null until the pool exists. */
let blockInUse: Uint8Array | null = null;
/**
 * The memory the pool's blocks are views of, once the pool exists (it never changes after: the
 * memory grows only then). Kept here so that isMaskMemory, asked for every chunk a socket writes,
 * costs one comparison, and nothing at all in a process that never masked output (a server).
 */
let poolBuffer: ArrayBufferLike | null = null;

function createPool(k: SimdKernel): void {
  try {
    const pages = (POOL_BASE + POOL_BLOCK * POOL_BLOCKS - k.wasmMemory.buffer.byteLength) / 65536;
    if (pages > 0) k.wasmMemory.grow(pages);
  } catch {
    // The runtime refused the memory: masked output goes to ordinary arrays.
    blockInUse = new Uint8Array(0);
    return;
  }
  // The old buffer is detached by the growth: view the new one.
  k.memory = new Uint8Array(k.wasmMemory.buffer, 0, POOL_BASE);
  poolBuffer = k.memory.buffer;
  blockInUse = new Uint8Array(POOL_BLOCKS);
}

/**
 * Memory of the masking module for a masked frame (or part of one) to be written into with
 * maskIntoPool (one copy instead of three): `size` bytes, one contiguous range, so that a frame
 * leaves in one write; or, when the pool has no free run that long, the longest free run (whole
 * blocks of 64 KiB); null when there is no SIMD module or no free block. The lowest free run that
 * fits is taken, so the same (cache-warm) memory serves frame after frame. The caller owns it
 * until it gives it back with releaseMaskMemory, which it must do only once its transport will
 * never read the bytes again (a socket's write callback).
 */
export function reserveMaskMemory(size: number): Uint8Array | null {
  const k = kernel;
  if (k === null || !(size > 0)) return null;
  if (blockInUse === null) createPool(k);
  const used = blockInUse!;
  const need = Math.ceil(size / POOL_BLOCK);
  // First fit; else the longest run.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < used.length; ) {
    if (used[i] === 1) {
      i++;
      continue;
    }
    let j = i;
    while (j < used.length && used[j] === 0 && j - i < need) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
      if (bestLength === need) break;
    }
    while (j < used.length && used[j] === 0) j++;
    i = j;
  }
  if (bestLength === 0) return null;
  used.fill(1, bestStart, bestStart + bestLength);
  const bytes = bestLength * POOL_BLOCK;
  return new Uint8Array(k.wasmMemory.buffer, POOL_BASE + bestStart * POOL_BLOCK, size < bytes ? size : bytes);
}

/** Whether `view` lies in the pool's module memory, i.e. is (part of) memory from reserveMaskMemory. */
export function isMaskMemory(view: Uint8Array): boolean {
  return poolBuffer !== null && view.buffer === poolBuffer;
}

/**
 * Gives back the blocks that `view` covers: memory from reserveMaskMemory, or several such
 * ranges joined into one view. Anything else, and blocks already given back, are ignored.
 */
export function releaseMaskMemory(view: Uint8Array): void {
  const used = blockInUse;
  if (used === null || view.byteLength === 0 || !isMaskMemory(view)) return;
  const first = Math.max(0, Math.floor((view.byteOffset - POOL_BASE) / POOL_BLOCK));
  const last = Math.min(used.length - 1, Math.floor((view.byteOffset + view.byteLength - 1 - POOL_BASE) / POOL_BLOCK));
  if (last >= first) used.fill(0, first, last + 1);
}

/**
 * The core's output masker for pool memory (ConnectionOptions.maskOutput): writes `source` XOR
 * the key word into `target` at `targetOffset`. When `target` is pool memory, one copy and then
 * the module's XOR in place there; anything else goes to the core's maskWordInto.
 */
export function maskIntoPool(source: Uint8Array, word: number, target: Uint8Array, targetOffset: number): void {
  const k = kernel;
  const n = source.length;
  if (k === null || n < SIMD_THRESHOLD || target.buffer !== k.memory.buffer) return maskWordInto(source, word, target, targetOffset);
  target.set(source, targetOffset);
  // Whole groups of 64 bytes through the module leave the key's phase where it was for the rest.
  const done = n & ~63;
  k.xor(target.byteOffset + targetOffset, done, word | 0);
  if (done < n) {
    const tail = target.subarray(targetOffset + done, targetOffset + n);
    maskWordInto(tail, word, tail, 0);
  }
}
