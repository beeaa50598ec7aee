import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyMask, generateMaskKey, maskInto, maskWord, maskWordInto, writeMaskKey } from '../../src/core/mask.js';
import { key4, placed, placedLong, referenceMask } from '../helpers/mask.js';

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
