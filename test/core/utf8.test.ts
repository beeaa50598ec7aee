import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { Utf8Validator, decodeUtf8, encodeUtf8, isValidUtf8 } from '../../src/core/utf8.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

/**
 * The oracle for "fails at the exact offending byte": Node's fatal TextDecoder in streaming mode,
 * fed one byte at a time, throws at the first byte that no continuation could make valid. Returns
 * that index, bytes.length when the input is only truncated, or -1 when it is valid.
 */
function nodeFirstInvalid(input: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < input.length; i++) {
    try {
      decoder.decode(input.subarray(i, i + 1), { stream: true });
    } catch {
      return i;
    }
  }
  try {
    decoder.decode();
  } catch {
    return input.length;
  }
  return -1;
}

/** Our answer in the same form as nodeFirstInvalid. */
function ourFirstInvalid(input: Uint8Array): number {
  const v = new Utf8Validator();
  if (!v.feed(input)) return v.errorOffset;
  return v.end() ? -1 : input.length;
}

// Byte strings that are likely to sit near the edges of validity: valid encodings of code points
// around every boundary, mixed with the bytes the rules single out.
const edgeCodePoints = [0, 0x7f, 0x80, 0x7ff, 0x800, 0xfff, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x3ffff, 0x10ffff];
const edgeBytes = [0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
const nearlyUtf8 = fc
  .array(
    fc.oneof(
      fc.constantFrom(...edgeCodePoints).map((cp) => [...encodeUtf8(String.fromCodePoint(cp))]),
      fc.constantFrom(...edgeBytes).map((b) => [b]),
      fc.string({ unit: 'binary', maxLength: 4 }).map((s) => [...encodeUtf8(s)]),
    ),
    { maxLength: 24 },
  )
  .map((parts) => new Uint8Array(parts.flat()));

describe('RFC 3629 / RFC 6455 8.1 UTF-8 validity', () => {
  const valid: Array<[string, Uint8Array]> = [
    ['empty', bytes()],
    ['ASCII', encodeUtf8('Hello, world')],
    ['U+0080 and U+07FF (2-byte bounds)', bytes(0xc2, 0x80, 0xdf, 0xbf)],
    ['U+0800 and U+FFFF (3-byte bounds)', bytes(0xe0, 0xa0, 0x80, 0xef, 0xbf, 0xbf)],
    ['U+D7FF and U+E000 (around the surrogates)', bytes(0xed, 0x9f, 0xbf, 0xee, 0x80, 0x80)],
    ['U+10000 and U+10FFFF (4-byte bounds)', bytes(0xf0, 0x90, 0x80, 0x80, 0xf4, 0x8f, 0xbf, 0xbf)],
    ['a BOM and U+FFFD', bytes(0xef, 0xbb, 0xbf, 0xef, 0xbf, 0xbd)],
    ['Autobahn 6.2: "κόσμε"', encodeUtf8('κόσμε')],
  ];
  for (const [name, input] of valid) {
    it(`accepts ${name}`, () => {
      assert.equal(isValidUtf8(input), true);
      const v = new Utf8Validator();
      assert.equal(v.feed(input), true);
      assert.equal(v.end(), true);
    });
  }

  // [name, input, index of the first byte that makes it invalid]
  const invalid: Array<[string, Uint8Array, number]> = [
    ['a lone continuation byte', bytes(0x41, 0x80), 1],
    ['C0 (overlong 2-byte)', bytes(0xc0, 0xaf), 0],
    ['C1 (overlong 2-byte)', bytes(0xc1, 0xbf), 0],
    ['E0 80 (overlong 3-byte)', bytes(0xe0, 0x80, 0xaf), 1],
    ['E0 9F (overlong 3-byte)', bytes(0xe0, 0x9f, 0xbf), 1],
    ['ED A0 80 (U+D800, a high surrogate)', bytes(0xed, 0xa0, 0x80), 1],
    ['ED BF BF (U+DFFF, a low surrogate)', bytes(0xed, 0xbf, 0xbf), 1],
    ['F0 8F (overlong 4-byte)', bytes(0xf0, 0x8f, 0xbf, 0xbf), 1],
    ['F4 90 (above U+10FFFF)', bytes(0xf4, 0x90, 0x80, 0x80), 1],
    ['F5 (no such lead byte)', bytes(0x61, 0xf5, 0x80, 0x80, 0x80), 1],
    ['FE and FF', bytes(0xfe), 0],
    ['a lead byte followed by ASCII', bytes(0xe2, 0x82, 0x41), 2],
    ['a 2-byte lead followed by a lead', bytes(0xc3, 0xc3, 0xa9), 1],
    ['Autobahn 6.4: fails inside the message, not at its end', bytes(0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90, 0x80, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64), 12],
  ];
  for (const [name, input, at] of invalid) {
    it(`rejects ${name} at byte ${at}`, () => {
      assert.equal(isValidUtf8(input), false);
      const v = new Utf8Validator();
      assert.equal(v.feed(input), false);
      assert.equal(v.errorOffset, at);
      // Everything before the offending byte is still a valid prefix.
      const prefix = new Utf8Validator();
      assert.equal(prefix.feed(input.subarray(0, at)), true);
      assert.equal(nodeFirstInvalid(input), at, 'Node agrees on the offset');
    });
  }

  it('treats an incomplete final code point as a valid prefix but not a valid whole', () => {
    for (const input of [bytes(0xc3), bytes(0xe2, 0x82), bytes(0xf0, 0x9f, 0x98), bytes(0x41, 0xf4)]) {
      const v = new Utf8Validator();
      assert.equal(v.feed(input), true);
      assert.equal(v.end(), false);
      assert.equal(isValidUtf8(input), false);
    }
  });

  it('agrees with buffer.isUtf8 on random byte strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), nearlyUtf8), (input) => {
        assert.equal(isValidUtf8(input), isUtf8(input));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with buffer.isUtf8 on long mostly-ASCII input with one damaged byte', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 400 }), fc.nat(), fc.nat(255), (s, where, value) => {
        const input = encodeUtf8(s);
        input[where % input.length] = value;
        assert.equal(isValidUtf8(input), isUtf8(input));
      }),
      { numRuns: 1000 },
    );
  });

  it('finds the failing byte of long input at any alignment (the word-at-a-time scan)', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary-ascii', minLength: 256, maxLength: 1200 }),
      fc.string({ unit: 'binary', minLength: 100, maxLength: 600 }),
    );
    fc.assert(
      fc.property(text, fc.nat(3), fc.nat(), fc.constantFrom(...edgeBytes, 0x00), fc.boolean(), (s, lead, where, value, damage) => {
        const encoded = encodeUtf8(s);
        const backing = new Uint8Array(lead + encoded.length);
        backing.set(encoded, lead);
        const input = backing.subarray(lead);
        if (damage) input[where % input.length] = value;
        assert.equal(isValidUtf8(input), isUtf8(input));
        assert.equal(ourFirstInvalid(input), nodeFirstInvalid(input));
      }),
      { numRuns: 300 },
    );
  });

  it('fails at the same byte as a fatal streaming TextDecoder', () => {
    fc.assert(
      fc.property(nearlyUtf8, (input) => {
        assert.equal(ourFirstInvalid(input), nodeFirstInvalid(input));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('RFC 6455 5.6 text split across fragments', () => {
  it('accepts any valid text split at every position', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const input = encodeUtf8(s);
        const v = new Utf8Validator();
        for (let cut = 0; cut <= input.length; cut++) {
          v.reset();
          assert.equal(v.feed(input.subarray(0, cut)), true);
          assert.equal(v.feed(input.subarray(cut)), true);
          assert.equal(v.end(), true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives the same verdict and failing byte whatever the fragmentation', () => {
    fc.assert(
      fc.property(nearlyUtf8, fc.array(fc.nat(), { maxLength: 8 }), (input, cutsRaw) => {
        const cuts = [...new Set(cutsRaw.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const v = new Utf8Validator();
        let start = 0;
        let failedAt = -1;
        for (const end of [...cuts, input.length]) {
          if (!v.feed(input.subarray(start, end))) {
            failedAt = start + v.errorOffset;
            break;
          }
          start = end;
        }
        const expected = nodeFirstInvalid(input);
        if (failedAt !== -1) assert.equal(failedAt, expected);
        else assert.equal(v.end() ? -1 : input.length, expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('stays failed until reset, and reset clears a pending code point', () => {
    const v = new Utf8Validator();
    assert.equal(v.feed(bytes(0xff)), false);
    assert.equal(v.feed(encodeUtf8('fine')), false, 'a later valid chunk does not revive it');
    assert.equal(v.end(), false);
    v.reset();
    assert.equal(v.errorOffset, -1);
    assert.equal(v.feed(bytes(0xe2, 0x82)), true);
    v.reset();
    assert.equal(v.feed(encodeUtf8('abc')), true);
    assert.equal(v.end(), true);
  });
});

describe('UTF-8 conversion for the core', () => {
  it('round-trips any string of scalar values', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        assert.equal(decodeUtf8(encodeUtf8(s)), s);
      }),
    );
  });

  it('keeps a leading byte order mark as text', () => {
    assert.equal(decodeUtf8(bytes(0xef, 0xbb, 0xbf, 0x61)), '\ufeffa');
  });

  it('encodes a lone surrogate as U+FFFD', () => {
    assert.deepEqual([...encodeUtf8('\ud800')], [0xef, 0xbf, 0xbd]);
  });
});
