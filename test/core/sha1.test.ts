import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { sha1 } from '../../src/core/sha1.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nodeSha1 = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');

describe('FIPS 180-4: SHA-1', () => {
  it('matches the published test vectors', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
    assert.equal(hex(sha1(enc(''))), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
    assert.equal(hex(sha1(enc('abc'))), 'a9993e364706816aba3e25717850c26c9cd0d89d');
    assert.equal(
      hex(sha1(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
      '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
    );
  });

  it('agrees with node:crypto at every length around the 64-byte block and padding boundaries', () => {
    for (let n = 0; n <= 200; n++) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
      assert.equal(hex(sha1(data)), nodeSha1(data), `length ${n}`);
    }
  });

  it('agrees with node:crypto on random input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), (data) => {
        assert.equal(hex(sha1(data)), nodeSha1(data));
      }),
    );
  });

  it('hashes a view without reading outside it', () => {
    const backing = new Uint8Array(100).fill(7);
    const view = backing.subarray(10, 30);
    assert.equal(hex(sha1(view)), nodeSha1(Buffer.from(view)));
  });
});
