import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeCloseFrame, encodeTextFrame, Hybi00Parser } from '../../../src/core/hybi00/framing.js';
import type { ProtocolError } from '../../../src/core/errors.js';

type Event = ['text', string] | ['close'] | ['error', string, number];

/** Parses `input` cut at `cuts`, joining each message's pieces. */
function parse(input: Uint8Array, cuts: number[] = [], maxMessageSize = 1 << 20): Event[] {
  const events: Event[] = [];
  let pieces: Uint8Array[] = [];
  const parser = new Hybi00Parser(
    {
      onText(data, first, fin) {
        if (first) pieces = [];
        pieces.push(data.slice());
        if (fin) events.push(['text', Buffer.concat(pieces).toString('utf8')]);
      },
      onClose: () => events.push(['close']),
      onError: (e: ProtocolError) => events.push(['error', e.code, e.closeCode]),
    },
    { maxMessageSize },
  );
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < input.length)].sort((a, b) => a - b)) {
    parser.push(input.subarray(at, cut));
    at = cut;
  }
  parser.push(input.subarray(at));
  return events;
}

const bytes = (...parts: (number[] | string)[]): Uint8Array =>
  Uint8Array.from(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))));

describe('hybi-00 section 4.2/5.3: frames', () => {
  it('encodes text as 0x00, UTF-8, 0xFF and the close as 0xFF 0x00', () => {
    assert.deepEqual([...encodeTextFrame(bytes('hé'))], [0x00, 0x68, 0xc3, 0xa9, 0xff]);
    assert.deepEqual([...encodeCloseFrame()], [0xff, 0x00]);
  });

  it('reads text frames, an empty one, and the closing frame; nothing after it', () => {
    assert.deepEqual(parse(bytes([0], 'one', [0xff, 0, 0xff, 0], 'two€', [0xff, 0xff, 0, 0], 'late', [0xff])), [
      ['text', 'one'],
      ['text', ''],
      ['text', 'two€'],
      ['close'],
    ]);
  });

  it('discards a length-prefixed frame (7-bit groups, high bit = more) and other sentinel frame types', () => {
    // 0x80 type, length 0x81 0x00 = 128 bytes; then a 0x05-type sentinel frame; then text.
    const skipped = new Uint8Array(128).fill(0xff);
    assert.deepEqual(parse(bytes([0x80, 0x81, 0x00], [...skipped], [0x05], 'junk', [0xff, 0x00], 'ok', [0xff])), [['text', 'ok']]);
  });

  it('gives the same events whatever the chunk boundaries', () => {
    const input = bytes([0], 'héllo wörld', [0xff, 0x80, 0x03, 1, 2, 3, 0], '', [0xff, 0], '✓', [0xff, 0xff, 0]);
    const whole = parse(input);
    assert.deepEqual(whole, [['text', 'héllo wörld'], ['text', ''], ['text', '✓'], ['close']]);
    fc.assert(fc.property(fc.array(fc.nat(input.length), { maxLength: 12 }), (cuts) => assert.deepEqual(parse(input, cuts), whole)));
  });

  it('fails invalid UTF-8 with 1007, also when a code point is cut by the 0xFF', () => {
    assert.deepEqual(parse(bytes([0, 0xc3, 0x28, 0xff])), [['error', 'ERR_INVALID_UTF8', 1007]]);
    assert.deepEqual(parse(bytes([0, 0xe2, 0x82, 0xff])), [['error', 'ERR_INVALID_UTF8', 1007]]);
  });

  it('fails a text frame longer than maxMessageSize before its 0xFF arrives', () => {
    assert.deepEqual(parse(bytes([0], 'x'.repeat(11)), [], 10), [['error', 'ERR_MESSAGE_TOO_LARGE', 1009]]);
    assert.deepEqual(parse(bytes([0], 'x'.repeat(10), [0xff]), [], 10), [['text', 'x'.repeat(10)]]);
  });

  it('fails a length-prefixed frame claiming 2^60 bytes at once, holding nothing', () => {
    // 2^60 in 7-bit groups: 0x90 then eight 0x80 groups, ending 0x00.
    const claim = bytes([0x80, 0x90, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    assert.deepEqual(parse(claim), [['error', 'ERR_MESSAGE_TOO_LARGE', 1009]]);
    // An endless run of length groups fails as soon as the number passes the bound.
    assert.deepEqual(parse(bytes([0x80], [...new Uint8Array(1000).fill(0xff)])), [['error', 'ERR_MESSAGE_TOO_LARGE', 1009]]);
  });
});
