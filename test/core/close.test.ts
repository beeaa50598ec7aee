import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CloseCode, checkClosePayload, encodeClosePayload, isValidCloseCode, parseClosePayload } from '../../src/core/close.js';
import { ErrorCode, InvalidArgumentError, ProtocolError } from '../../src/core/errors.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('RFC 6455 7.4 close status codes', () => {
  it('names the codes of section 7.4.1 and the IANA registry', () => {
    assert.equal(CloseCode.NormalClosure, 1000);
    assert.equal(CloseCode.NoStatusReceived, 1005);
    assert.equal(CloseCode.AbnormalClosure, 1006);
    assert.equal(CloseCode.InvalidPayload, 1007);
    assert.equal(CloseCode.MessageTooBig, 1009);
    assert.equal(CloseCode.TryAgainLater, 1013);
    assert.equal(CloseCode.TLSHandshake, 1015);
  });

  it('allows on the wire exactly 1000-1003, 1007-1014 and 3000-4999', () => {
    for (let code = 0; code < 6000; code++) {
      const expected = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
      assert.equal(isValidCloseCode(code), expected, `code ${code}`);
    }
    for (const odd of [1000.5, NaN, Infinity, -1000, 65535, 65536 + 1000]) assert.equal(isValidCloseCode(odd), false, `code ${odd}`);
  });
});

describe('RFC 6455 5.5.1 close payload: encoding', () => {
  it('is empty without a code', () => {
    assert.deepEqual(encodeClosePayload(), bytes());
  });

  it('puts the code first, big-endian, then the UTF-8 reason', () => {
    assert.deepEqual(encodeClosePayload(1000), bytes(0x03, 0xe8));
    assert.deepEqual(encodeClosePayload(4999, 'é!'), bytes(0x13, 0x87, 0xc3, 0xa9, 0x21));
  });

  it('refuses a reason without a code', () => {
    assert.throws(() => encodeClosePayload(undefined, 'why'), InvalidArgumentError);
  });

  it('refuses codes that must not be sent (1004, 1005, 1006, 1015, unassigned, out of range)', () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 1000.5]) {
      assert.throws(() => encodeClosePayload(code), (e: unknown) => e instanceof InvalidArgumentError && e.code === ErrorCode.InvalidArgument, `code ${code}`);
    }
  });

  it('counts the 123-byte reason limit in UTF-8 bytes, not characters', () => {
    assert.equal(encodeClosePayload(1000, 'a'.repeat(123)).length, 125);
    assert.throws(() => encodeClosePayload(1000, 'a'.repeat(124)), InvalidArgumentError);
    assert.equal(encodeClosePayload(1000, '€'.repeat(41)).length, 125); // 41 x 3 bytes = 123
    assert.throws(() => encodeClosePayload(1000, '€'.repeat(42)), InvalidArgumentError); // 126 bytes, 42 characters
  });
});

describe('RFC 6455 5.5.1 close payload: parsing', () => {
  it('reports 1005 and no reason for an empty payload (section 7.1.5)', () => {
    assert.deepEqual(parseClosePayload(bytes()), { code: 1005, reason: '' });
  });

  it('reads code and reason', () => {
    assert.deepEqual(parseClosePayload(bytes(0x03, 0xe9)), { code: 1001, reason: '' });
    assert.deepEqual(parseClosePayload(bytes(0x0f, 0xa0, ...utf8('bye ☃'))), { code: 4000, reason: 'bye ☃' });
  });

  const failures: Array<[string, Uint8Array, number, string]> = [
    ['a 1-byte payload', bytes(0x03), 1002, ErrorCode.InvalidClosePayload],
    ['code 1005', bytes(0x03, 0xed), 1002, ErrorCode.InvalidCloseCode],
    ['code 1006', bytes(0x03, 0xee), 1002, ErrorCode.InvalidCloseCode],
    ['code 999', bytes(0x03, 0xe7), 1002, ErrorCode.InvalidCloseCode],
    ['code 5000', bytes(0x13, 0x88), 1002, ErrorCode.InvalidCloseCode],
    ['a 124-byte reason (payload over 125 bytes)', new Uint8Array(126).fill(0x61).fill(0x03, 0, 1).fill(0xe8, 1, 2), 1002, ErrorCode.InvalidControlPayloadLength],
    ['a reason that is not UTF-8', bytes(0x03, 0xe8, 0xce, 0xba, 0xed, 0xa0, 0x80), 1007, ErrorCode.InvalidUTF8],
    ['a reason cut inside a code point', bytes(0x03, 0xe8, 0x61, 0xe2, 0x82), 1007, ErrorCode.InvalidUTF8],
  ];
  for (const [name, payload, closeCode, code] of failures) {
    it(`fails the connection with ${closeCode} for ${name}`, () => {
      const checked = checkClosePayload(payload);
      assert.ok(checked instanceof ProtocolError, 'checkClosePayload returns the error');
      assert.equal(checked.closeCode, closeCode);
      assert.equal(checked.code, code);
      assert.throws(() => parseClosePayload(payload), (e: unknown) => e instanceof ProtocolError && e.closeCode === closeCode);
    });
  }

  it('round-trips every valid code with any reason that fits', () => {
    const validCode = fc.oneof(fc.integer({ min: 1000, max: 1003 }), fc.integer({ min: 1007, max: 1014 }), fc.integer({ min: 3000, max: 4999 }));
    const reason = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => utf8(s).length <= 123);
    fc.assert(
      fc.property(validCode, reason, (code, text) => {
        assert.deepEqual(parseClosePayload(encodeClosePayload(code, text)), { code, reason: text });
      }),
    );
  });

  it('never throws from checkClosePayload, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 130 }), (payload) => {
        const result = checkClosePayload(payload);
        if (result instanceof ProtocolError) assert.ok(result.closeCode === 1002 || result.closeCode === 1007);
        else assert.ok(result.code === 1005 || isValidCloseCode(result.code));
      }),
    );
  });
});
