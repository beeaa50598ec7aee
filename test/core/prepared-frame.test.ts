/**
 * Frames prepared once for many connections (core/prepared-frame.ts): the bytes each connection
 * writes, and how many pieces they come in.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { Opcode } from '../../src/core/opcode.js';
import { PREPARED_COPY_BYTES, prepareFrame } from '../../src/core/prepared-frame.js';

function wire(chunks: readonly Uint8Array[]): Buffer {
  return Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
}

describe('prepareFrame', () => {
  test('a small payload is one chunk, header then a copy of the payload, made by the given allocator', () => {
    // One chunk is what a connection that keeps up writes as it is (issue 24): no joining of a
    // header and a payload per connection.
    const payload = Buffer.from('to everyone');
    const sizes: number[] = [];
    const frame = prepareFrame(payload, true, 0, (size) => {
      sizes.push(size);
      return Buffer.allocUnsafe(size);
    });
    assert.equal(frame.chunks.length, 1);
    assert.ok(Buffer.isBuffer(frame.chunks[0]), 'the allocator made it');
    assert.deepEqual(sizes, [2 + payload.length]);
    assert.equal(frame.size, 2 + payload.length);
    payload.fill(0); // copied: the caller may reuse its buffer
    const decoded = decodeFrame(wire(frame.chunks))!;
    assert.equal(decoded.bytesConsumed, frame.size);
    assert.equal(decoded.frame.opcode, Opcode.Text);
    assert.equal(Buffer.from(decoded.frame.payload).toString(), 'to everyone');
    // Without an allocator: a plain array.
    const plain = prepareFrame(Buffer.from('x'), false, 0x40);
    assert.equal(plain.chunks.length, 1);
    assert.deepEqual([...plain.chunks[0]!], [0xc2, 1, 0x78]);
  });

  test('a payload above PREPARED_COPY_BYTES is referenced behind its header, not copied; an empty one is the header alone', () => {
    const payload = Buffer.alloc(PREPARED_COPY_BYTES + 1, 5);
    const frame = prepareFrame(payload, false);
    assert.equal(frame.chunks.length, 2);
    assert.equal(frame.chunks[1], payload);
    assert.equal(frame.size, 4 + payload.length);
    const decoded = decodeFrame(wire(frame.chunks))!;
    assert.equal(decoded.frame.payload.length, payload.length);
    assert.deepEqual(prepareFrame(new Uint8Array(0), true).chunks.map((c) => [...c]), [[0x81, 0]]);
  });
});
