import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KiB, bytes, frame, open, readInto } from '../helpers/in-place.js';

describe('Connection.receiveTarget: reading the rest of a large frame straight into its message', () => {
  for (const role of ['client', 'server'] as const) {
    it(`${role}: offers the unreceived rest of the message, and delivers the message in that memory, uncopied`, () => {
      const { conn, messages } = open(role);
      const payload = bytes(200 * KiB, 1);
      const wire = frame(role, 0x2, payload);
      const header = wire.length - payload.length;
      conn.receive(wire.slice(0, header + 10 * KiB));
      const target = conn.receiveTarget(64 * KiB)!;
      assert.ok(target !== null);
      assert.equal(target.length, 190 * KiB);
      // Two reads: part of the rest, then the rest of the rest at its own place.
      readInto(conn, target, wire.subarray(header + 10 * KiB, header + 100 * KiB));
      const rest = conn.receiveTarget(64 * KiB)!;
      assert.equal(rest.buffer, target.buffer);
      assert.equal(rest.byteOffset, target.byteOffset + 90 * KiB);
      readInto(conn, rest, wire.subarray(header + 100 * KiB));
      assert.equal(messages.length, 1);
      assert.deepEqual(messages[0]!.data, payload);
      assert.equal(messages[0]!.data.buffer, target.buffer, 'the message is the memory read into');
      assert.equal(conn.receiveTarget(1), null, 'nothing more to offer between frames');
    });
  }

  it('lets go of the memory once its message is delivered, also when the whole payload was one read', () => {
    // The header alone, then the whole payload read in place; then a message gathered from two
    // chunks. The second must not be gathered into the first one's memory (the first's bytes
    // would change under its owner).
    const { conn, messages } = open('client');
    const first = bytes(100 * KiB, 6);
    const wire = frame('client', 0x2, first);
    conn.receive(wire.slice(0, 10));
    const target = conn.receiveTarget(64 * KiB)!;
    assert.equal(target.length, first.length);
    readInto(conn, target, wire.subarray(10));
    const second = frame('client', 0x2, new Uint8Array([0xaa, 0xbb, 0xcc]));
    conn.receive(second.slice(0, 3));
    conn.receive(second.slice(3));
    assert.equal(messages.length, 2);
    assert.deepEqual(messages[0]!.data, first);
    assert.deepEqual(messages[1]!.data, new Uint8Array([0xaa, 0xbb, 0xcc]));
    assert.notEqual(messages[1]!.data.buffer, messages[0]!.data.buffer);
  });

  it('joins the fragments received before the final frame in front of it', () => {
    const { conn, messages } = open('client');
    const a = bytes(30 * KiB, 2);
    const b = bytes(150 * KiB, 3);
    const second = frame('client', 0x0, b);
    conn.receive(frame('client', 0x2, a, false));
    assert.equal(conn.receiveTarget(1), null, 'the size of a message is known only on its final frame');
    conn.receive(second.slice(0, 100));
    const target = conn.receiveTarget(64 * KiB)!;
    assert.equal(target.length, b.length - (100 - 10));
    readInto(conn, target, second.subarray(100));
    assert.deepEqual(messages[0]!.data, new Uint8Array([...a, ...b]));
  });

  it('still validates text read in place (1007 for invalid UTF-8)', () => {
    const good = open('client');
    const textPayload = new TextEncoder().encode('é'.repeat(50 * KiB));
    const wire = frame('client', 0x1, textPayload);
    good.conn.receive(wire.slice(0, 20));
    readInto(good.conn, good.conn.receiveTarget(64 * KiB)!, wire.subarray(20));
    assert.equal(good.messages.length, 1);
    assert.equal(good.messages[0]!.isText, true);
    assert.equal(new TextDecoder().decode(good.messages[0]!.data), 'é'.repeat(50 * KiB));

    const bad = open('client');
    const broken = wire.slice();
    broken[wire.length - 1] = 0xff;
    bad.conn.receive(broken.slice(0, 20));
    readInto(bad.conn, bad.conn.receiveTarget(64 * KiB)!, broken.subarray(20));
    assert.deepEqual(bad.errors, [1007]);
    assert.equal(bad.messages.length, 0);
  });

  it('gathers a compressed message in place for its transform', () => {
    const { conn, transformed } = open('client');
    const payload = bytes(100 * KiB, 4);
    const wire = frame('client', 0x2, payload, true, true);
    conn.receive(wire.slice(0, 10));
    readInto(conn, conn.receiveTarget(64 * KiB)!, wire.subarray(10));
    assert.equal(transformed.length, 1);
    assert.deepEqual(transformed[0], payload);
  });

  it('offers nothing for a short rest, a streamed message, held input, or input waiting to be parsed', () => {
    const wire = frame('client', 0x2, bytes(100 * KiB, 5));
    const short = open('client');
    short.conn.receive(wire.slice(0, 50 * KiB));
    assert.equal(short.conn.receiveTarget(64 * KiB), null);
    assert.ok(short.conn.receiveTarget(1000) !== null, 'a lower minimum is met');

    const streamed = open('client', { streaming: true });
    streamed.conn.receive(wire.slice(0, 100));
    assert.equal(streamed.conn.receiveTarget(1), null);

    const held = open('client');
    held.conn.receive(wire.slice(0, 100));
    held.conn.holdInput();
    assert.equal(held.conn.receiveTarget(1), null);
    held.conn.receive(wire.slice(100, 200));
    held.conn.releaseInput();
    assert.ok(held.conn.receiveTarget(1) !== null, 'offered again once the kept input is parsed');
  });

});
