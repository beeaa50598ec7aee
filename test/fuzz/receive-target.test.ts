/**
 * Property-based fuzzing of reading in place (Connection.receiveTarget): random messages, in
 * both roles, read partly into the memory the connection offers and partly in ordinary chunks,
 * at random. Every message must come out whole and in order, and still be whole once everything
 * after it has been read (a message gathered into the memory of one already delivered would
 * change it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Role } from '../../src/core/connection.js';
import { KiB, bytes, frame, open, readInto, type Received } from '../helpers/in-place.js';
import { fuzzParameters } from './fuzz-runs.js';

describe('Fuzz: reading large frames straight into their messages', () => {
  it('hands a message read partly in place and partly in ordinary chunks over intact (any reads, both roles)', () => {
    const message = fc.record({
      size: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 60 * KiB, max: 300 * KiB })),
      text: fc.boolean(),
      fragments: fc.integer({ min: 1, max: 3 }),
      seed: fc.integer({ min: 0, max: 255 }),
    });
    // A step reads into the offered memory (a fraction of it), or pushes an ordinary chunk: a
    // fraction of what is left, or, for small fractions, a few bytes (split headers).
    const step = fc.record({
      direct: fc.boolean(),
      // Often all of it: a whole payload in one read is a case of its own.
      fraction: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
      few: fc.integer({ min: 1, max: 200 }),
      // A read that ends right after a frame's header is a case of its own.
      toHeaderEnd: fc.boolean(),
      minimum: fc.constantFrom(1, 4 * KiB, 64 * KiB),
    });
    fc.assert(
      fc.property(fc.constantFrom<Role>('client', 'server'), fc.array(message, { minLength: 1, maxLength: 5 }), fc.array(step, { minLength: 1, maxLength: 30 }), (role, specs, steps) => {
        const { conn, messages, errors } = open(role);
        const sent: Received[] = [];
        const parts: Uint8Array[] = [];
        /** Where each frame's header ends in the stream. */
        const headerEnds: number[] = [];
        let offset = 0;
        for (const spec of specs) {
          // Text of ASCII only, so that any split between fragments stays valid UTF-8.
          const payload = spec.text ? bytes(spec.size, spec.seed).map((b) => 0x20 + (b % 90)) : bytes(spec.size, spec.seed);
          sent.push({ data: payload, isText: spec.text });
          const cut = [0];
          for (let f = 1; f < spec.fragments; f++) cut.push(Math.floor((payload.length * f) / spec.fragments));
          cut.push(payload.length);
          for (let f = 0; f < spec.fragments; f++) {
            const piece = payload.subarray(cut[f]!, cut[f + 1]!);
            parts.push(frame(role, f === 0 ? (spec.text ? 0x1 : 0x2) : 0x0, piece, f === spec.fragments - 1));
            headerEnds.push(offset + parts[parts.length - 1]!.length - piece.length);
            offset += parts[parts.length - 1]!.length;
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
            const headerEnd = headerEnds.find((e) => e > pos);
            const n = s.toHeaderEnd && headerEnd !== undefined ? headerEnd - pos : s.fraction < 0.05 ? s.few : Math.ceil((wire.length - pos) * s.fraction * 0.5);
            conn.receive(wire.slice(pos, pos + n));
            pos += n;
          }
        }
        assert.deepEqual(errors, []);
        assert.equal(messages.length, sent.length);
        for (let m = 0; m < sent.length; m++) {
          assert.equal(messages[m]!.isText, sent[m]!.isText);
          assert.ok(Buffer.from(messages[m]!.data).equals(sent[m]!.data), `message ${m} of ${sent[m]!.data.length} bytes`);
        }
      }),
      fuzzParameters(2),
    );
  });
});
