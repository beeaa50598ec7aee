import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { maskInto, maskWord, maskWordInto } from '../../src/core/mask.js';
import { isMaskMemory, maskIntoPool, releaseMaskMemory, reserveMaskMemory } from '../../src/node/mask-pool.js';
import { key4, placed, placedLong, referenceMask } from '../helpers/mask.js';

describe('masking memory: blocks of the SIMD module\'s memory for masked output', () => {
  /** Reserves blocks until none is left (or `limit`), for the tests below to give back. */
  function reserveAll(size: number, limit = 1000): Uint8Array[] {
    const blocks: Uint8Array[] = [];
    for (let b = reserveMaskMemory(size); b !== null && blocks.length < limit; b = blocks.length < limit ? reserveMaskMemory(size) : null) blocks.push(b);
    return blocks;
  }

  it('hands out separate contiguous ranges, takes them back, and hands them out again', (t) => {
    const first = reserveMaskMemory(100);
    if (first === null) return t.skip('no WebAssembly SIMD in this runtime');
    assert.equal(first.length, 100);
    assert.ok(isMaskMemory(first));
    assert.equal(isMaskMemory(new Uint8Array(100)), false);
    releaseMaskMemory(first);
    const MiB = 1 << 20;
    const ranges = reserveAll(MiB);
    assert.ok(ranges.length >= 4, 'a pool of several MiB');
    for (const r of ranges) assert.equal(r.length, MiB, 'as much as asked, in one range');
    assert.equal(reserveMaskMemory(10), null, 'none left: the caller allocates');
    // No two ranges overlap.
    const sorted = [...ranges].sort((x, y) => x.byteOffset - y.byteOffset);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i]!.byteOffset - sorted[i - 1]!.byteOffset >= MiB);
    // Giving one back twice frees it once; the lowest free memory is handed out first.
    releaseMaskMemory(sorted[3]!);
    releaseMaskMemory(sorted[3]!);
    const small = reserveMaskMemory(5000)!;
    assert.equal(small.byteOffset, sorted[3]!.byteOffset);
    // No free run as long as asked: the longest there is.
    const rest = reserveMaskMemory(2 * MiB)!;
    assert.ok(rest.length < MiB && rest.length > 0, `${rest.length} bytes`);
    assert.equal(rest.byteOffset, small.byteOffset + 64 * 1024);
    assert.equal(reserveMaskMemory(1), null);
    // A view spanning consecutive ranges gives all of them back.
    releaseMaskMemory(new Uint8Array(sorted[0]!.buffer, sorted[0]!.byteOffset, 2 * MiB));
    const two = reserveMaskMemory(2 * MiB)!;
    assert.equal(two.length, 2 * MiB);
    assert.equal(two.byteOffset, sorted[0]!.byteOffset);
    for (const r of [two, small, rest, ...sorted.slice(2)]) releaseMaskMemory(r);
    assert.equal(reserveAll(MiB).length, ranges.length, 'all of it is free again');
    for (const r of sorted) releaseMaskMemory(r);
  });

  it('maskInto, maskWordInto and maskIntoPool into a block equal the definition, at any length, offset and phase', (t) => {
    const block = reserveMaskMemory(1 << 20);
    if (block === null) return t.skip('no WebAssembly SIMD in this runtime');
    try {
      fc.assert(
        fc.property(fc.oneof(placed, placedLong), key4, fc.nat(11), fc.integer({ min: 0, max: 40 }), ({ view }, key, phase, targetOffset) => {
          const source = view.slice();
          block.fill(0xaa, 0, targetOffset + view.length + 8);
          maskInto(view, key, block, targetOffset);
          assert.deepEqual(block.subarray(targetOffset, targetOffset + view.length), referenceMask(source, key));
          maskWordInto(view, maskWord(key, phase), block, targetOffset);
          assert.deepEqual(block.subarray(targetOffset, targetOffset + view.length), referenceMask(source, key, phase));
          block.fill(0xaa, targetOffset, targetOffset + view.length);
          maskIntoPool(view, maskWord(key, phase), block, targetOffset);
          assert.deepEqual(block.subarray(targetOffset, targetOffset + view.length), referenceMask(source, key, phase), 'maskIntoPool');
          assert.deepEqual(view, source, 'source unchanged');
          assert.ok(block.subarray(0, targetOffset).every((b) => b === 0xaa), 'bytes before untouched');
          assert.ok(block.subarray(targetOffset + view.length, targetOffset + view.length + 8).every((b) => b === 0xaa), 'bytes after untouched');
        }),
        { numRuns: 200 },
      );
    } finally {
      releaseMaskMemory(block);
    }
  });
});
