import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { md5 } from '../../src/core/md5.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nodeMd5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('RFC 1321: MD5', () => {
  it('matches the test suite of RFC 1321 appendix A.5', () => {
    assert.equal(hex(md5(enc(''))), 'd41d8cd98f00b204e9800998ecf8427e');
    assert.equal(hex(md5(enc('a'))), '0cc175b9c0f1b6a831c399e269772661');
    assert.equal(hex(md5(enc('abc'))), '900150983cd24fb0d6963f7d28e17f72');
    assert.equal(hex(md5(enc('message digest'))), 'f96b697d7cb7938d525a2f31aaf161d0');
    assert.equal(hex(md5(enc('abcdefghijklmnopqrstuvwxyz'))), 'c3fcd3d76192e4007dfb496cca67e13b');
    assert.equal(
      hex(md5(enc('12345678901234567890123456789012345678901234567890123456789012345678901234567890'))),
      '57edf4a22be3c955ac49da2e2107b67a',
    );
  });

  it('agrees with node:crypto at every length around the 64-byte block and padding boundaries', () => {
    for (let n = 0; n <= 200; n++) {
      const data = new Uint8Array(n).map((_, i) => (i * 37 + n) & 0xff);
      assert.equal(hex(md5(data)), nodeMd5(data), `length ${n}`);
    }
  });

  it('agrees with node:crypto on random input', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1000 }), (data) => assert.equal(hex(md5(data)), nodeMd5(data))));
  });

  it('hashes a view without reading outside it', () => {
    const backing = new Uint8Array(100).fill(9);
    const view = backing.subarray(5, 29);
    assert.equal(hex(md5(view)), nodeMd5(Buffer.from(view)));
  });
});
