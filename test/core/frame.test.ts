import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { encodeFrame, encodeFrameHeader, frameHeaderSize } from '../../src/core/frame.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { Opcode } from '../../src/core/opcode.js';

const require = createRequire(import.meta.url);
// ws's frame builder is an independent encoder to compare with.
const { Sender } = require('ws') as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } };

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const hello = new TextEncoder().encode('Hello');
const key = bytes(0x37, 0xfa, 0x21, 0x3d);

/** A minimal reading of section 5.2, independent of the encoder, for round trips. */
function readFrame(frame: Uint8Array) {
  const b0 = frame[0]!;
  const b1 = frame[1]!;
  let length = b1 & 0x7f;
  let at = 2;
  if (length === 126) {
    length = (frame[2]! << 8) | frame[3]!;
    at = 4;
  } else if (length === 127) {
    length = Number(new DataView(frame.buffer, frame.byteOffset + 2, 8).getBigUint64(0));
    at = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  const maskKey = masked ? frame.slice(at, at + 4) : null;
  if (masked) at += 4;
  const payload = frame.slice(at, at + length);
  if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] ^= maskKey[i & 3]!;
  return { fin: (b0 & 0x80) !== 0, rsv: b0 & 0x70, opcode: b0 & 0x0f, masked, maskKey, payload, total: at + length };
}

describe('RFC 6455 5.7 examples', () => {
  it('a single-frame unmasked text message', () => {
    assert.equal(hex(encodeFrame({ opcode: Opcode.Text, payload: hello })), '810548656c6c6f');
  });

  it('a single-frame masked text message', () => {
    const frame = encodeFrame({ opcode: Opcode.Text, payload: hello, mask: key });
    assert.deepEqual(frame, bytes(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58));
    assert.equal(new TextDecoder().decode(hello), 'Hello', 'the caller payload is not masked in place');
  });

  it('a fragmented unmasked text message', () => {
    assert.equal(hex(encodeFrame({ opcode: Opcode.Text, payload: hello.subarray(0, 3), fin: false })), '010348656c');
    assert.equal(hex(encodeFrame({ opcode: Opcode.Continuation, payload: hello.subarray(3) })), '80026c6f');
  });

  it('an unmasked ping and a masked pong', () => {
    assert.equal(hex(encodeFrame({ opcode: Opcode.Ping, payload: hello })), '890548656c6c6f');
    assert.equal(hex(encodeFrame({ opcode: Opcode.Pong, payload: hello, mask: key })), '8a8537fa213d7f9f4d5158');
  });

  it('256 bytes of binary data in one unmasked frame (16-bit length)', () => {
    const frame = encodeFrame({ opcode: Opcode.Binary, payload: new Uint8Array(256).fill(9) });
    assert.equal(hex(frame.subarray(0, 4)), '827e0100');
    assert.equal(frame.length, 4 + 256);
    assert.ok(frame.subarray(4).every((b) => b === 9));
  });

  it('64 KiB of binary data in one unmasked frame (64-bit length)', () => {
    const frame = encodeFrame({ opcode: Opcode.Binary, payload: new Uint8Array(65536).fill(3) });
    assert.equal(hex(frame.subarray(0, 10)), '827f0000000000010000');
    assert.equal(frame.length, 10 + 65536);
  });
});

describe('RFC 6455 5.2 base framing: payload length forms', () => {
  const cases: Array<[number, string]> = [
    [0, '8200'],
    [125, '827d'],
    [126, '827e007e'],
    [65535, '827effff'],
    [65536, '827f0000000000010000'],
    [0xffffffff, '827f00000000ffffffff'],
    [0x100000000, '827f0000000100000000'],
    [Number.MAX_SAFE_INTEGER, '827f001fffffffffffff'],
  ];
  for (const [length, expected] of cases) {
    it(`uses the minimal form for ${length} bytes`, () => {
      const header = encodeFrameHeader(Opcode.Binary, length, { fin: true, rsv: 0, maskKey: null });
      assert.equal(hex(header), expected);
      assert.equal(header.length, frameHeaderSize(length, false));
    });
  }

  it('adds the mask bit and key after the length', () => {
    const header = encodeFrameHeader(Opcode.Text, 300, { fin: false, rsv: 0x40, maskKey: key });
    assert.equal(hex(header), '41fe012c37fa213d');
    assert.equal(frameHeaderSize(300, true), 8);
  });

  it('gives header sizes 2, 4, 10 (+4 masked)', () => {
    assert.deepEqual([0, 125, 126, 65535, 65536].map((n) => frameHeaderSize(n, false)), [2, 2, 4, 4, 10]);
    assert.deepEqual([0, 125, 126, 65535, 65536].map((n) => frameHeaderSize(n, true)), [6, 6, 8, 8, 14]);
  });

  it('defaults to fin, no rsv, no mask', () => {
    assert.equal(hex(encodeFrameHeader(Opcode.Close, 2)), '8802');
  });
});

describe('RFC 6455 5.2 / 5.3 encoding round trip', () => {
  const opcode = fc.constantFrom(0x0, 0x1, 0x2, 0x3, 0x7);
  it('reads back what it wrote, for every length form, rsv and mask choice', () => {
    fc.assert(
      fc.property(
        opcode,
        fc.oneof(fc.uint8Array({ maxLength: 130 }), fc.uint8Array({ minLength: 65530, maxLength: 65540 })),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.oneof(fc.constant(false), fc.constant(true), fc.uint8Array({ minLength: 4, maxLength: 4 })),
        (op, payload, fin, rsv1, rsv2, rsv3, mask) => {
          const original = payload.slice();
          const frame = encodeFrame({ opcode: op, payload, fin, rsv1, rsv2, rsv3, mask });
          const read = readFrame(frame);
          assert.equal(read.total, frame.length);
          assert.equal(read.fin, fin);
          assert.equal(read.rsv, (rsv1 ? 0x40 : 0) | (rsv2 ? 0x20 : 0) | (rsv3 ? 0x10 : 0));
          assert.equal(read.opcode, op);
          assert.equal(read.masked, mask !== false);
          if (mask instanceof Uint8Array) assert.deepEqual(read.maskKey, mask);
          assert.deepEqual(read.payload, original);
          assert.deepEqual(payload, original, 'the payload is not modified');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('produces the same bytes as ws for the same key', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0x1, 0x2, 0x9),
        fc.uint8Array({ maxLength: 125 }),
        fc.uint8Array({ maxLength: 70000 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.boolean(),
        (op, control, data, maskKey, masked) => {
          const payload = op === 0x9 ? control : data;
          const ours = encodeFrame({ opcode: op, payload, mask: masked ? maskKey : false });
          const theirs = Sender.frame(Buffer.from(payload), {
            fin: true,
            opcode: op,
            rsv1: false,
            mask: masked,
            readOnly: false,
            generateMask: (m: Buffer) => m.set(maskKey),
          });
          assert.equal(hex(ours), hex(Buffer.concat(theirs)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('masks with a fresh key for mask: true', () => {
    const a = readFrame(encodeFrame({ opcode: Opcode.Binary, payload: hello, mask: true }));
    const b = readFrame(encodeFrame({ opcode: Opcode.Binary, payload: hello, mask: true }));
    assert.ok(a.masked && b.masked);
    assert.notDeepEqual(a.maskKey, b.maskKey);
    assert.deepEqual(a.payload, hello);
  });
});

describe('RFC 6455 5.5 control frames and invalid encoder input', () => {
  const invalid: Array<[string, () => unknown]> = [
    ['a 126-byte ping', () => encodeFrame({ opcode: Opcode.Ping, payload: new Uint8Array(126) })],
    ['a 126-byte close header', () => encodeFrameHeader(Opcode.Close, 126)],
    ['a fragmented pong', () => encodeFrame({ opcode: Opcode.Pong, fin: false })],
    ['a fragmented reserved control opcode', () => encodeFrameHeader(0xb, 0, { fin: false })],
    ['opcode 16', () => encodeFrame({ opcode: 16 })],
    ['opcode -1', () => encodeFrameHeader(-1, 0)],
    ['opcode 1.5', () => encodeFrame({ opcode: 1.5 })],
    ['a 3-byte mask key', () => encodeFrame({ opcode: 1, mask: bytes(1, 2, 3) })],
    ['a 5-byte mask key in a header', () => encodeFrameHeader(1, 0, { maskKey: bytes(1, 2, 3, 4, 5) })],
    ['rsv bits outside 0x70', () => encodeFrameHeader(1, 0, { rsv: 0x80 })],
    ['a negative length', () => encodeFrameHeader(2, -1)],
    ['a length beyond 2^53', () => encodeFrameHeader(2, 2 ** 53)],
    ['a fractional length', () => encodeFrameHeader(2, 1.5)],
  ];
  for (const [name, call] of invalid) {
    it(`refuses ${name}`, () => {
      assert.throws(call, InvalidArgumentError);
    });
  }

  it('accepts a 125-byte control frame', () => {
    const frame = encodeFrame({ opcode: Opcode.Close, payload: new Uint8Array(125) });
    assert.equal(hex(frame.subarray(0, 2)), '887d');
  });
});
