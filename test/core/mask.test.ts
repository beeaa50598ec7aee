import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyMask, generateMaskKey, isMaskMemory, maskInto, maskWord, maskWordInto, releaseMaskMemory, reserveMaskMemory, writeMaskKey } from '../../src/core/mask.js';

/** The definition of section 5.3, one byte at a time: the oracle for the word-at-a-time code. */
function referenceMask(data: Uint8Array, key: Uint8Array, offset = 0): Uint8Array {
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[(offset + i) & 3]!;
  return out;
}

const key4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
// Payload sizes on both sides of the word threshold, placed at every alignment inside a larger
// buffer so that unaligned views are exercised.
const placed = fc
  .record({ data: fc.uint8Array({ maxLength: 300 }), lead: fc.integer({ min: 0, max: 7 }) })
  .map(({ data, lead }) => {
    const backing = new Uint8Array(lead + data.length + 3).fill(0xee);
    backing.set(data, lead);
    return { view: backing.subarray(lead, lead + data.length), backing, lead };
  });

describe('RFC 6455 5.3 masking: applyMask', () => {
  it('masks the section 5.7 "Hello" example to its wire bytes', () => {
    const data = new TextEncoder().encode('Hello');
    const result = applyMask(data, new Uint8Array([0x37, 0xfa, 0x21, 0x3d]));
    assert.equal(result, data, 'masks in place and returns its argument');
    assert.deepEqual([...data], [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  });

  it('equals the byte-by-byte definition at any length, alignment and mask offset', () => {
    fc.assert(
      fc.property(placed, key4, fc.integer({ min: 0, max: 11 }), ({ view, backing, lead }, key, offset) => {
        const before = backing.slice();
        const expected = referenceMask(view, key, offset);
        applyMask(view, key, offset);
        assert.deepEqual(view, expected);
        // Bytes around the view are untouched.
        assert.deepEqual(backing.subarray(0, lead), before.subarray(0, lead));
        assert.deepEqual(backing.subarray(lead + view.length), before.subarray(lead + view.length));
      }),
      { numRuns: 500 },
    );
  });

  it('is its own inverse: masking twice gives the original bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), key4, fc.nat(3), (data, key, offset) => {
        const copy = data.slice();
        applyMask(applyMask(copy, key, offset), key, offset);
        assert.deepEqual(copy, data);
      }),
    );
  });

  it('unmasking in pieces with running offsets equals unmasking the whole payload', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        key4,
        fc.array(fc.nat(600), { maxLength: 6 }),
        (data, key, cutsRaw) => {
          const cuts = [...new Set(cutsRaw.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
          const pieces = data.slice();
          let start = 0;
          for (const end of [...cuts, data.length]) {
            applyMask(pieces.subarray(start, end), key, start);
            start = end;
          }
          assert.deepEqual(pieces, applyMask(data.slice(), key));
        },
      ),
    );
  });

  it('handles 1 MiB at an odd byte offset', () => {
    const backing = new Uint8Array(1024 * 1024 + 1);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 31) & 0xff;
    const view = backing.subarray(1);
    const key = new Uint8Array([1, 2, 0x80, 0xff]);
    const expected = referenceMask(view, key, 3);
    applyMask(view, key, 3);
    assert.deepEqual(view, expected);
  });
});

describe('RFC 6455 5.3 masking: maskInto', () => {
  it('writes the masked copy at the target offset and leaves the source untouched', () => {
    fc.assert(
      fc.property(placed, key4, fc.integer({ min: 0, max: 15 }), ({ view }, key, targetOffset) => {
        const source = view.slice();
        const target = new Uint8Array(targetOffset + view.length + 5).fill(0xaa);
        maskInto(view, key, target, targetOffset);
        assert.deepEqual(view, source, 'source unchanged');
        assert.deepEqual(target.subarray(targetOffset, targetOffset + view.length), referenceMask(source, key));
        assert.ok(target.subarray(0, targetOffset).every((b) => b === 0xaa), 'bytes before untouched');
        assert.ok(target.subarray(targetOffset + view.length).every((b) => b === 0xaa), 'bytes after untouched');
      }),
      { numRuns: 500 },
    );
  });
});

// Long payloads, for the WebAssembly SIMD path (from 1 KiB, in blocks of 64 KiB, 64-byte groups
// with a ragged end): lengths around and across the block size, at every alignment.
const placedLong = fc
  .record({
    length: fc.oneof(fc.integer({ min: 1000, max: 5000 }), fc.integer({ min: 65_000, max: 140_000 })),
    lead: fc.integer({ min: 0, max: 7 }),
    seed: fc.nat(255),
  })
  .map(({ length, lead, seed }) => {
    const backing = new Uint8Array(lead + length + 3).fill(0xee);
    for (let i = 0; i < length; i++) backing[lead + i] = (i * 31 + seed) & 0xff;
    return { view: backing.subarray(lead, lead + length), backing, lead };
  });

describe('RFC 6455 5.3 masking: long payloads', () => {
  it('applyMask equals the byte-by-byte definition at any length, alignment and mask offset', () => {
    fc.assert(
      fc.property(placedLong, key4, fc.integer({ min: 0, max: 11 }), ({ view, backing, lead }, key, offset) => {
        const expected = referenceMask(view, key, offset);
        applyMask(view, key, offset);
        assert.deepEqual(view, expected);
        assert.ok(backing.subarray(0, lead).every((b) => b === 0xee), 'bytes before untouched');
        assert.ok(backing.subarray(lead + view.length).every((b) => b === 0xee), 'bytes after untouched');
      }),
      { numRuns: 60 },
    );
  });

  it('maskInto writes the masked copy at the target offset and leaves the source untouched', () => {
    fc.assert(
      fc.property(placedLong, key4, fc.integer({ min: 0, max: 15 }), ({ view }, key, targetOffset) => {
        const source = view.slice();
        const target = new Uint8Array(targetOffset + view.length + 5).fill(0xaa);
        maskInto(view, key, target, targetOffset);
        assert.deepEqual(view, source, 'source unchanged');
        assert.deepEqual(target.subarray(targetOffset, targetOffset + view.length), referenceMask(source, key));
        assert.ok(target.subarray(0, targetOffset).every((b) => b === 0xaa), 'bytes before untouched');
        assert.ok(target.subarray(targetOffset + view.length).every((b) => b === 0xaa), 'bytes after untouched');
      }),
      { numRuns: 60 },
    );
  });
});

describe('RFC 6455 5.3 masking: key words (maskWord, maskWordInto)', () => {
  it('maskWord is the key from a phase, little-endian', () => {
    const key = Uint8Array.of(0x01, 0x02, 0x03, 0xf4);
    assert.equal(maskWord(key) >>> 0, 0xf4030201);
    assert.equal(maskWord(key, 1) >>> 0, 0x01f40302);
    assert.equal(maskWord(key, 6) >>> 0, 0x0201f403, 'the phase counts modulo 4');
  });

  it('maskWordInto with the word for a payload offset equals the definition at that offset, short or long, into a copy', () => {
    fc.assert(
      fc.property(fc.oneof(placed, placedLong), key4, fc.integer({ min: 0, max: 11 }), fc.integer({ min: 0, max: 15 }), ({ view }, key, offset, targetOffset) => {
        const source = view.slice();
        const target = new Uint8Array(targetOffset + view.length + 5).fill(0xaa);
        maskWordInto(view, maskWord(key, offset), target, targetOffset);
        assert.deepEqual(view, source, 'source unchanged');
        assert.deepEqual(target.subarray(targetOffset, targetOffset + view.length), referenceMask(source, key, offset));
        assert.ok(target.subarray(0, targetOffset).every((b) => b === 0xaa), 'bytes before untouched');
        assert.ok(target.subarray(targetOffset + view.length).every((b) => b === 0xaa), 'bytes after untouched');
      }),
      { numRuns: 200 },
    );
  });

  it('maskWordInto works in place, and a word of 0 is a plain copy', () => {
    fc.assert(
      fc.property(fc.oneof(placed, placedLong), key4, fc.nat(3), ({ view, backing, lead }, key, offset) => {
        const expected = referenceMask(view, key, offset);
        const original = view.slice();
        maskWordInto(view, maskWord(key, offset), view, 0);
        assert.deepEqual(view, expected);
        assert.ok(backing.subarray(lead + view.length).every((b) => b === 0xee), 'bytes after untouched');
        const copy = new Uint8Array(view.length + 2);
        maskWordInto(original, 0, copy, 2);
        assert.deepEqual(copy.subarray(2), original);
      }),
      { numRuns: 100 },
    );
  });
});

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

  it('maskInto and maskWordInto into a block equal the definition, at any length, offset and phase', (t) => {
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

describe('RFC 6455 5.3 masking keys: fresh and unpredictable', () => {
  it('gives 4-byte keys that are separate arrays', () => {
    const a = generateMaskKey();
    const b = generateMaskKey();
    assert.equal(a.length, 4);
    assert.equal(a.byteLength, 4);
    assert.notEqual(a.buffer, b.buffer, 'keys do not share memory');
  });

  it('never changes or repeats a key already handed out, across pool refills', () => {
    const keys: Uint8Array[] = [];
    const copies: number[] = [];
    // 5000 keys is 20 KB of randomness: several refills of the pool.
    for (let i = 0; i < 5000; i++) {
      const k = generateMaskKey();
      keys.push(k);
      copies.push(((k[0]! << 24) | (k[1]! << 16) | (k[2]! << 8) | k[3]!) >>> 0);
    }
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      assert.equal(((k[0]! << 24) | (k[1]! << 16) | (k[2]! << 8) | k[3]!) >>> 0, copies[i]);
    }
    // 5000 random 32-bit values collide with probability about 0.003; a reused slice of the pool
    // would repeat every 1024 keys.
    assert.ok(new Set(copies).size >= 4995, 'keys are distinct');
  });

  it('uses every byte value (the keys are random, not a counter or a constant)', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) for (const b of generateMaskKey()) seen.add(b);
    // 8000 uniform bytes miss a given value with probability e^-31.
    assert.equal(seen.size, 256);
  });

  it('writeMaskKey writes 4 fresh bytes in place and nothing else', () => {
    const target = new Uint8Array(10).fill(7);
    const other = new Uint8Array(10).fill(7);
    writeMaskKey(target, 3);
    writeMaskKey(other, 3);
    assert.deepEqual([...target.subarray(0, 3), ...target.subarray(7)], [7, 7, 7, 7, 7, 7]);
    assert.notDeepEqual(target.subarray(3, 7), other.subarray(3, 7));
  });
});
