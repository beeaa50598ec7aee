import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Connection, type ConnectionHandler, type Role } from '../../src/core/connection.js';
import { encodeFrame } from '../../src/core/frame.js';

const KiB = 1024;

interface Received {
  data: Uint8Array;
  isText: boolean;
}

function open(role: Role, options: { maxMessageSize?: number; streaming?: boolean } = {}): { conn: Connection; messages: Received[]; errors: number[]; transformed: Uint8Array[] } {
  const messages: Received[] = [];
  const errors: number[] = [];
  const transformed: Uint8Array[] = [];
  const handler: ConnectionHandler = {
    output() {},
    message: (data, isText) => messages.push({ data, isText }),
    fragment: (data, isText) => messages.push({ data: data.slice(), isText }),
    ping() {},
    pong() {},
    close() {},
    protocolError: (error) => errors.push(error.closeCode),
    transformMessage: (data) => transformed.push(data),
  };
  const conn = new Connection(
    {
      role,
      maxMessageSize: options.maxMessageSize ?? 64 * 1024 * KiB,
      maxFrameSize: 64 * 1024 * KiB,
      extensions: [{ name: 'permessage-deflate', rsvBits: 0x40 }],
    },
    handler,
  );
  if (options.streaming === true) conn.setStreaming(true);
  return { conn, messages, errors, transformed };
}

function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

/** Frames as the peer of `role` sends them: masked towards a server, unmasked towards a client. */
function frame(role: Role, opcode: number, payload: Uint8Array, fin = true, rsv1 = false): Uint8Array {
  return encodeFrame({ opcode, payload, fin, rsv1, mask: role === 'server' });
}

/** Reads `source` into the target the way a socket would: copy, then receive a view of the target. */
function readInto(conn: Connection, target: Uint8Array, source: Uint8Array): void {
  target.set(source);
  conn.receive(target.subarray(0, source.length));
}

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

  it('hands a message read partly in place and partly in ordinary chunks over intact (any reads, both roles)', () => {
    const message = fc.record({
      size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 60 * KiB, max: 300 * KiB })),
      text: fc.boolean(),
      fragments: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer({ min: 0, max: 255 }),
    });
    const step = fc.record({ direct: fc.boolean(), fraction: fc.double({ min: 0, max: 1, noNaN: true }), minimum: fc.constantFrom(1, 4 * KiB, 64 * KiB) });
    fc.assert(
      fc.property(fc.constantFrom<Role>('client', 'server'), fc.array(message, { minLength: 1, maxLength: 5 }), fc.array(step, { minLength: 1, maxLength: 30 }), (role, specs, steps) => {
        const { conn, messages, errors } = open(role);
        const sent: Received[] = [];
        const parts: Uint8Array[] = [];
        for (const spec of specs) {
          // Text of ASCII only, so that any split between fragments stays valid UTF-8.
          const payload = spec.text ? bytes(spec.size, spec.seed).map((b) => 0x20 + (b % 90)) : bytes(spec.size, spec.seed);
          sent.push({ data: payload, isText: spec.text });
          const cut = [0];
          for (let f = 1; f < spec.fragments; f++) cut.push(Math.floor((payload.length * f) / spec.fragments));
          cut.push(payload.length);
          for (let f = 0; f < spec.fragments; f++) {
            parts.push(frame(role, f === 0 ? (spec.text ? 0x1 : 0x2) : 0x0, payload.subarray(cut[f]!, cut[f + 1]!), f === spec.fragments - 1));
          }
        }
        const wire = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          wire.set(p, at);
          at += p.length;
        }
        let pos = 0;
        for (let i = 0; pos < wire.length; i++) {
          const s = steps[i % steps.length]!;
          const target = conn.receiveTarget(s.minimum);
          if (target !== null) assert.ok(target.length >= s.minimum);
          if (s.direct && target !== null) {
            const n = Math.max(1, Math.min(target.length, wire.length - pos, Math.ceil(target.length * s.fraction)));
            readInto(conn, target, wire.subarray(pos, pos + n));
            pos += n;
          } else {
            const n = Math.max(1, Math.ceil((wire.length - pos) * s.fraction * 0.5));
            conn.receive(wire.slice(pos, pos + n));
            pos += n;
          }
        }
        assert.deepEqual(errors, []);
        assert.equal(messages.length, sent.length);
        for (let m = 0; m < sent.length; m++) {
          assert.equal(messages[m]!.isText, sent[m]!.isText);
          assert.deepEqual(new Uint8Array(messages[m]!.data), sent[m]!.data);
        }
      }),
      { numRuns: 150 },
    );
  });
});
