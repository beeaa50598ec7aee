import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeBase64, encodeBase64 } from '../../src/core/base64.js';

describe('RFC 4648 section 4: base64', () => {
  it('matches the published test vectors', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'Zg=='],
      ['fo', 'Zm8='],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg=='],
      ['fooba', 'Zm9vYmE='],
      ['foobar', 'Zm9vYmFy'],
    ];
    for (const [plain, coded] of vectors) {
      const bytes = new TextEncoder().encode(plain);
      assert.equal(encodeBase64(bytes), coded);
      assert.deepEqual(decodeBase64(coded), bytes);
    }
  });

  it('encodes as Buffer does and decodes back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        const text = encodeBase64(data);
        assert.equal(text, Buffer.from(data).toString('base64'));
        assert.deepEqual(decodeBase64(text), data);
      }),
    );
  });

  it('refuses what is not padded standard base64', () => {
    for (const bad of ['Zg', 'Zg=', 'Z===', '====', 'Zm9v====', 'Zg==Zm9v', 'Zm9v\n', ' Zm9v', 'Zm-_', 'Zm9é', 'Z=g=']) {
      assert.equal(decodeBase64(bad), null, JSON.stringify(bad));
    }
  });

  it('ignores leftover bits in the last character, as Buffer does', () => {
    assert.deepEqual(decodeBase64('Zh=='), new Uint8Array([0x66]));
    assert.deepEqual(decodeBase64('Zh==')!, new Uint8Array(Buffer.from('Zh==', 'base64')));
  });

  it('never throws on random text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        const r = decodeBase64(s);
        if (r !== null) assert.equal(encodeBase64(r).length, s.length);
      }),
    );
  });
});
