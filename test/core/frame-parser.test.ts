import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameParser, decodeFrame, type FrameParserListener, type FrameParserOptions } from '../../src/core/frame-parser.js';
import { encodeFrame, encodeFrameHeader } from '../../src/core/frame.js';
import { type ConnectionFailure, InvalidArgumentError, MessageTooLargeError, ProtocolError } from '../../src/core/errors.js';
import { applyMask, maskWordInto } from '../../src/core/mask.js';

/** What a listener saw, with each frame's payload pieces joined. */
interface Seen {
  frames: { fin: boolean; rsv: number; opcode: number; length: number; payload: number[] }[];
  error: ConnectionFailure | null;
  /** Calls after the error (must stay 0). */
  late: number;
}

function collector(): { listener: FrameParserListener; seen: Seen } {
  const seen: Seen = { frames: [], error: null, late: 0 };
  const listener: FrameParserListener = {
    onHeader(fin, rsv, opcode, length) {
      if (seen.error !== null) seen.late++;
      seen.frames.push({ fin, rsv, opcode, length, payload: [] });
    },
    onPayload(data) {
      if (seen.error !== null) seen.late++;
      seen.frames[seen.frames.length - 1]!.payload.push(...data);
    },
    onError(error) {
      if (seen.error !== null) seen.late++;
      seen.error = error;
    },
  };
  return { listener, seen };
}

/** Feeds copies of `input` cut at `cuts` (sorted offsets); copies because the parser unmasks in place. */
function feed(input: Uint8Array, cuts: number[], options: FrameParserOptions = {}): Seen {
  const { listener, seen } = collector();
  const parser = new FrameParser(listener, options);
  let start = 0;
  for (const cut of [...cuts, input.length]) {
    parser.push(input.slice(start, cut));
    start = cut;
  }
  return seen;
}

function summary(seen: Seen): unknown {
  return {
    frames: seen.frames,
    error: seen.error === null ? null : { name: seen.error.name, closeCode: seen.error.closeCode, message: seen.error.message },
    late: seen.late,
  };
}

/**
 * Parses `input` whole, byte by byte, and cut at every single position, asserts that every way
 * gives the same result, and returns it.
 */
function parseEverySplit(input: Uint8Array, options: FrameParserOptions = {}): Seen {
  const whole = feed(input, [], options);
  const expected = summary(whole);
  const bytes = Array.from({ length: Math.max(0, input.length - 1) }, (_, i) => i + 1);
  assert.deepEqual(summary(feed(input, bytes, options)), expected, 'byte by byte');
  for (let cut = 1; cut < input.length; cut++) {
    assert.deepEqual(summary(feed(input, [cut], options)), expected, `cut at ${cut}`);
  }
  return whole;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

describe('FrameParser: RFC 6455 section 5.2 base framing', () => {
  it('reads FIN, RSV, opcode and the payload, the same for every split of the input', () => {
    const input = concat(
      encodeFrame({ opcode: 0x1, payload: text('Hello'), fin: false }),
      encodeFrame({ opcode: 0x9, payload: text('ping') }),
      encodeFrame({ opcode: 0x0, payload: text(' world') }),
      encodeFrame({ opcode: 0x2, payload: new Uint8Array(0) }),
    );
    const seen = parseEverySplit(input);
    assert.equal(seen.error, null);
    assert.deepEqual(
      seen.frames.map((f) => [f.fin, f.opcode, f.length, Buffer.from(f.payload).toString()]),
      [
        [false, 1, 5, 'Hello'],
        [true, 9, 4, 'ping'],
        [true, 0, 6, ' world'],
        [true, 2, 0, ''],
      ],
    );
  });

  it('reads the 7-bit, 16-bit and 64-bit length forms at their boundaries', () => {
    for (const length of [0, 125, 126, 65535, 65536, 70000]) {
      const payload = new Uint8Array(length).map((_, i) => i * 7);
      const seen = feed(encodeFrame({ opcode: 0x2, payload }), [], { maxFrameSize: 1 << 20 });
      assert.equal(seen.error, null);
      assert.equal(seen.frames[0]!.length, length);
      assert.deepEqual(seen.frames[0]!.payload, Array.from(payload));
    }
  });

  it('accepts a non-minimal length encoding (the minimal-form MUST binds the sender)', () => {
    const input = Uint8Array.of(0x82, 127, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3);
    const seen = parseEverySplit(input);
    assert.equal(seen.error, null);
    assert.deepEqual(seen.frames[0]!.payload, [1, 2, 3]);
  });

  it('reports an empty payload once, with end set, even when the header ends the chunk', () => {
    const ends: boolean[] = [];
    const parser = new FrameParser({ onHeader() {}, onPayload: (d, end) => ends.push(end && d.length === 0), onError() {} });
    parser.push(Uint8Array.of(0x8a, 0x00));
    assert.deepEqual(ends, [true]);
  });

  it('property: encodeFrame output parses back to the same frames for any chunking', () => {
    const frameArb = fc.record({
      opcode: fc.constantFrom(0x0, 0x1, 0x2, 0x8, 0x9, 0xa),
      fin: fc.boolean(),
      rsv1: fc.boolean(),
      masked: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 300 }),
      key: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (specs, rawCuts, server) => {
        const frames = specs.map((s) => {
          const control = s.opcode >= 0x8;
          return {
            opcode: s.opcode,
            fin: control ? true : s.fin,
            rsv1: s.rsv1 && (s.opcode === 0x1 || s.opcode === 0x2),
            payload: control ? s.payload.subarray(0, 125) : s.payload,
          };
        });
        const input = concat(...frames.map((f) => encodeFrame({ ...f, mask: server ? specs[0]!.key : false })));
        const cuts = [...new Set(rawCuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const seen = feed(input, cuts, { role: server ? 'server' : 'client', rsvBits: 0x40 });
        assert.equal(seen.error, null);
        assert.deepEqual(
          seen.frames.map((f) => ({ opcode: f.opcode, fin: f.fin, rsv1: f.rsv === 0x40, payload: f.payload })),
          frames.map((f) => ({ opcode: f.opcode, fin: f.fin, rsv1: f.rsv1, payload: Array.from(f.payload) })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('property: arbitrary bytes in arbitrary chunks never throw, and every chunking agrees', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 10 }), fc.constantFrom('client', 'server', undefined), (input, rawCuts, role) => {
        const options: FrameParserOptions = { role, maxFrameSize: 100 };
        const cuts = [...new Set(rawCuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
        const whole = feed(input, [], options);
        assert.deepEqual(summary(feed(input, cuts, options)), summary(whole));
        assert.equal(whole.late, 0);
      }),
      { numRuns: 500 },
    );
  });
});

describe('FrameParser: delivery without copies', () => {
  it('hands a payload that lies within one chunk over as a view of that chunk', () => {
    const chunk = concat(encodeFrame({ opcode: 0x2, payload: text('abc') }), encodeFrame({ opcode: 0x1, payload: text('defg') }));
    const views: Uint8Array[] = [];
    new FrameParser({ onHeader() {}, onPayload: (d) => views.push(d), onError: assert.fail }).push(chunk);
    assert.equal(views.length, 2);
    for (const v of views) assert.equal(v.buffer, chunk.buffer);
    assert.deepEqual([views[0]!.byteOffset, views[1]!.byteOffset], [2, 7]);
  });

  it('streams a frame spread over chunks as pieces, each a view of its chunk, without buffering it', () => {
    // A 1 GiB frame: only its header and three 64 KiB pieces are ever sent.
    const header = encodeFrameHeader(0x2, 2 ** 30);
    const pieces: { data: Uint8Array; end: boolean }[] = [];
    const parser = new FrameParser({ onHeader() {}, onPayload: (data, end) => pieces.push({ data, end }), onError: assert.fail }, { maxFrameSize: 2 ** 31 });
    parser.push(header);
    const chunks = [0, 1, 2].map((i) => new Uint8Array(65536).fill(i));
    for (const c of chunks) parser.push(c);
    assert.equal(pieces.length, 3);
    pieces.forEach((p, i) => {
      assert.equal(p.data.buffer, chunks[i]!.buffer);
      assert.equal(p.data.length, 65536);
      assert.equal(p.end, false);
    });
  });

  it('RFC 6455 5.3: unmasks in place, with the key cycle continuing across pieces', () => {
    const payload = new Uint8Array(41).map((_, i) => i);
    const input = encodeFrame({ opcode: 0x2, payload, mask: KEY });
    // Pieces of 1, 2, 3... bytes so the cycle restarts at every phase.
    const cuts: number[] = [];
    for (let at = 6 + 1, step = 1; at < input.length; step++, at += step) cuts.push(at);
    const seen = feed(input, cuts, { role: 'server' });
    assert.equal(seen.error, null);
    assert.deepEqual(seen.frames[0]!.payload, Array.from(payload));
    const chunk = input.slice();
    new FrameParser({ onHeader() {}, onPayload() {}, onError: assert.fail }, { role: 'server' }).push(chunk);
    assert.deepEqual(Array.from(chunk.subarray(6)), Array.from(payload), 'the received chunk itself was unmasked');
  });

  it('RFC 6455 5.3: unmasks frames of every length from 0 to 130 back to back in one chunk, each at its own offset', () => {
    // Small payloads are unmasked by the parse loop itself, larger ones by applyMask: every
    // length around the boundary and every ragged tail (1-3 bytes past whole words) is covered,
    // at every alignment of the payload within the chunk.
    const payloads = Array.from({ length: 131 }, (_, n) => new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff));
    const input = concat(...payloads.map((payload) => encodeFrame({ opcode: 0x2, payload, mask: KEY })));
    const seen = feed(input, [], { role: 'server' });
    assert.equal(seen.error, null);
    assert.deepEqual(
      seen.frames.map((frame) => frame.payload),
      payloads.map((payload) => Array.from(payload)),
    );
  });

  it('RFC 6455 5.5: hands a control frame that spans chunks over whole, in one piece', () => {
    const input = encodeFrame({ opcode: 0x9, payload: text('0123456789'), mask: KEY });
    const calls: string[] = [];
    const parser = new FrameParser(
      { onHeader() {}, onPayload: (d, end) => calls.push(`${Buffer.from(d).toString()}:${end}`), onError: assert.fail },
      { role: 'server' },
    );
    for (let i = 0; i < input.length; i++) parser.push(input.slice(i, i + 1));
    assert.deepEqual(calls, ['0123456789:true']);
  });
});

describe('FrameParser: keepMasked (unmasking left to a consumer that copies)', () => {
  /** Parses `input` cut at `cuts`, asking for masked pieces on data frames; returns what arrived. */
  function parseKeepingMasked(input: Uint8Array, cuts: number[]): { pieces: { data: Uint8Array; mask: number; opcode: number }[]; payloads: number[][] } {
    const pieces: { data: Uint8Array; mask: number; opcode: number }[] = [];
    const payloads: number[][] = [];
    let opcode = 0;
    const parser: FrameParser = new FrameParser(
      {
        onHeader(_fin, _rsv, op) {
          opcode = op;
          payloads.push([]);
          parser.keepMasked();
        },
        onPayload(data, _end, mask) {
          pieces.push({ data: data.slice(), mask, opcode });
          const plain = new Uint8Array(data.length);
          maskWordInto(data, mask, plain, 0);
          payloads[payloads.length - 1]!.push(...plain);
        },
        onError: assert.fail,
      },
      { role: 'server' },
    );
    let start = 0;
    for (const cut of [...cuts, input.length]) {
      parser.push(input.slice(start, cut));
      start = cut;
    }
    return { pieces, payloads };
  }

  it('hands the pieces of a frame that spans chunks over masked, each with the word that unmasks it', () => {
    const payload = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);
    const input = concat(encodeFrame({ opcode: 0x2, payload, mask: KEY }), encodeFrame({ opcode: 0x9, payload: text('ping'), mask: KEY }));
    // Pieces at every phase of the key cycle, and one long enough for the SIMD path.
    for (const cuts of [[15, 16, 18, 21, 2000], [9], [1500, 3005, 3010]]) {
      const { pieces, payloads } = parseKeepingMasked(input, cuts);
      assert.deepEqual(payloads, [Array.from(payload), Array.from(text('ping'))], `cut at ${cuts.join(',')}`);
      const data = pieces.filter((p) => p.opcode === 0x2);
      assert.ok(data.length > 1);
      assert.ok(data.every((p) => p.mask !== 0), 'every piece of the split data frame is still masked');
      const control = pieces.filter((p) => p.opcode === 0x9);
      assert.deepEqual(control.map((p) => p.mask), [0], 'a control frame arrives unmasked');
    }
  });

  it('still unmasks in place a frame that arrives whole in one chunk (mask 0)', () => {
    const payload = text('whole frame');
    const { pieces, payloads } = parseKeepingMasked(encodeFrame({ opcode: 0x2, payload, mask: KEY }), []);
    assert.deepEqual(pieces.map((p) => [p.mask, Buffer.from(p.data).toString()]), [[0, 'whole frame']]);
    assert.deepEqual(payloads, [Array.from(payload)]);
  });

  it('applies to one frame only: the next frame is unmasked again unless asked', () => {
    const payload = new Uint8Array(100).fill(0x41);
    const input = concat(encodeFrame({ opcode: 0x2, payload, mask: KEY, fin: false }), encodeFrame({ opcode: 0x0, payload, mask: KEY }));
    const masks: number[] = [];
    const parser: FrameParser = new FrameParser(
      {
        onHeader(_fin, _rsv, opcode) {
          if (opcode === 0x2) parser.keepMasked();
        },
        onPayload(data, _end, mask) {
          masks.push(mask);
          if (mask === 0) assert.ok(data.every((b) => b === 0x41));
        },
        onError: assert.fail,
      },
      { role: 'server' },
    );
    parser.push(input.slice(0, 50));
    parser.push(input.slice(50, 150));
    parser.push(input.slice(150));
    assert.equal(masks.length, 4);
    assert.ok(masks[0] !== 0 && masks[1] !== 0, 'the first frame, split, came masked');
    assert.deepEqual(masks.slice(2), [0, 0], 'the second frame came unmasked');
  });
});

describe('FrameParser: header rules (RFC 6455 5.1, 5.2, 5.5; RFC 7692 6)', () => {
  const expectError = (input: Uint8Array, closeCode: number, options: FrameParserOptions = {}, pattern?: RegExp): void => {
    const seen = parseEverySplit(input, options);
    // Our own bound (1009) is a LimitError, not a ProtocolError (issue 16, point 2).
    if (closeCode === 1009) assert.ok(seen.error instanceof MessageTooLargeError, 'a MessageTooLargeError is reported');
    else assert.ok(seen.error instanceof ProtocolError, 'a ProtocolError is reported');
    assert.equal(seen.error.closeCode, closeCode);
    if (pattern) assert.match(seen.error.message, pattern);
    assert.equal(seen.frames.length, 0, 'the bad frame is not reported');
  };

  it('fails reserved opcodes 0x3-0x7 and 0xB-0xF with 1002', () => {
    for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      expectError(Uint8Array.of(0x80 | opcode, 0x00), 1002, {}, /reserved opcode/);
    }
  });

  it('fails RSV bits no extension claims with 1002', () => {
    for (const rsv of [0x40, 0x20, 0x10, 0x70]) expectError(Uint8Array.of(0x81 | rsv, 0x00), 1002, {}, /RSV/);
    expectError(Uint8Array.of(0x81 | 0x20, 0x00), 1002, { rsvBits: 0x40 }, /RSV/);
  });

  it('accepts claimed RSV bits on the first frame of a data message only', () => {
    const ok = parseEverySplit(Uint8Array.of(0x41, 0x01, 0x61), { rsvBits: 0x40 });
    assert.equal(ok.error, null);
    assert.equal(ok.frames[0]!.rsv, 0x40);
    expectError(Uint8Array.of(0xc0, 0x00), 1002, { rsvBits: 0x40 }, /continuation/);
    expectError(Uint8Array.of(0xc9, 0x00), 1002, { rsvBits: 0x40 }, /control/);
  });

  it('fails control frames over 125 bytes or without FIN with 1002', () => {
    expectError(Uint8Array.of(0x89, 126, 0, 126), 1002, {}, /125/);
    expectError(concat(Uint8Array.of(0x8a, 126, 0, 126), new Uint8Array(126)), 1002, {}, /125/);
    expectError(Uint8Array.of(0x09, 0x00), 1002, {}, /fragmented control/);
    expectError(Uint8Array.of(0x08, 0x00), 1002, {}, /fragmented control/);
  });

  it('fails masking that is wrong for the role with 1002 (section 5.1)', () => {
    expectError(encodeFrame({ opcode: 0x1, payload: text('x') }), 1002, { role: 'server' }, /unmasked/);
    expectError(encodeFrame({ opcode: 0x1, payload: text('x'), mask: KEY }), 1002, { role: 'client' }, /masked frame from the server/);
    assert.equal(parseEverySplit(encodeFrame({ opcode: 0x1, payload: text('x'), mask: KEY })).error, null, 'no role: either');
  });

  it('fails a 64-bit length with its most significant bit set with 1002, before the size limit', () => {
    expectError(Uint8Array.of(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1), 1002, {}, /most significant bit/);
  });

  it('fails a length over maxFrameSize with 1009 from the header alone', () => {
    let error: ConnectionFailure | null = null;
    const parser = new FrameParser({ onHeader: () => assert.fail(), onPayload: () => assert.fail(), onError: (e) => (error = e) }, { maxFrameSize: 1000 });
    parser.push(encodeFrameHeader(0x2, 1001));
    assert.ok(error !== null && (error as ConnectionFailure) instanceof MessageTooLargeError);
    assert.equal((error as MessageTooLargeError).closeCode, 1009);
    assert.equal((error as MessageTooLargeError).limit, 1000);
    // Lengths up to 2^63 - 1 that do not fit a double exactly are still refused, not wrapped.
    expectError(Uint8Array.of(0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 1009);
    // Exactly the limit is fine.
    assert.equal(feed(encodeFrame({ opcode: 2, payload: new Uint8Array(1000) }), [], { maxFrameSize: 1000 }).error, null);
  });

  it('fails at the first two bytes, before the rest of the header arrives', () => {
    const seen = feed(Uint8Array.of(0x83, 0xfe), [1]);
    assert.equal(seen.error?.closeCode, 1002);
  });

  it('reports earlier frames, then the error once, then ignores all input', () => {
    const { listener, seen } = collector();
    const parser = new FrameParser(listener);
    parser.push(concat(encodeFrame({ opcode: 0x1, payload: text('ok') }), Uint8Array.of(0x83, 0x00), encodeFrame({ opcode: 0x1, payload: text('no') })));
    parser.push(encodeFrame({ opcode: 0x1, payload: text('later') }));
    assert.equal(seen.frames.length, 1);
    assert.equal(seen.error?.closeCode, 1002);
    assert.equal(seen.late, 0);
    assert.equal(parser.stopped, true);
  });
});

describe('FrameParser: whole frames (takesWholeFrame, onWholeFrame)', () => {
  /** A collector that also takes whole frames when `takes` says so, recording them as frames too, and what it was asked. */
  function wholeCollector(takes: (length: number) => boolean): { listener: FrameParserListener; seen: Seen; asked: number[]; whole: number } {
    const { listener, seen } = collector();
    const state = { listener, seen, asked: [] as number[], whole: 0 };
    listener.takesWholeFrame = (length) => {
      state.asked.push(length);
      return takes(length);
    };
    listener.onWholeFrame = (opcode, payload) => {
      state.whole++;
      seen.frames.push({ fin: true, rsv: 0, opcode, length: payload.length, payload: [...payload] });
    };
    return state;
  }

  const masked = (opcode: number, payload: Uint8Array, fin = true, rsv1 = false): Uint8Array =>
    encodeFrame({ opcode, payload, fin, rsv1, mask: Uint8Array.of(0x11, 0x22, 0x33, 0x44) });
  // Frames of every kind next to each other: only the first two and the empty one are short
  // whole data frames; the others are a fragment and its continuation, a ping, a 200-byte frame
  // and a frame with RSV1 set.
  const input = concat(
    masked(0x1, text('héllo, world')),
    masked(0x2, Uint8Array.of(1, 2, 3, 4, 5, 6, 7)),
    masked(0x1, text('frag'), false),
    masked(0x9, text('ping')),
    masked(0x0, text('ment')),
    masked(0x2, new Uint8Array(200).fill(9)),
    masked(0x2, new Uint8Array(0)),
    masked(0x2, Uint8Array.of(8), true, true),
  );
  const options: FrameParserOptions = { role: 'server', rsvBits: 0x40 };

  function parse(takes: (length: number) => boolean, cuts: number[]): ReturnType<typeof wholeCollector> {
    const state = wholeCollector(takes);
    const parser = new FrameParser(state.listener, options);
    let start = 0;
    for (const cut of [...cuts, input.length]) {
      parser.push(input.slice(start, cut));
      start = cut;
    }
    return state;
  }

  it('reports a short whole data frame within one chunk in one call, unmasked, and asks only for those', () => {
    const taken = parse(() => true, []);
    assert.equal(taken.whole, 3);
    assert.deepEqual(taken.asked, [13, 7, 0]);
    // The same frames, payloads and order as a listener without the two methods sees.
    assert.deepEqual(summary(taken.seen), summary(feed(input, [], options)));
    assert.deepEqual(taken.seen.frames[0]!.payload, [...text('héllo, world')]);
  });

  it('reports a frame it declines, or one split across chunks, through onHeader and onPayload as before', () => {
    const declined = parse(() => false, []);
    assert.equal(declined.whole, 0);
    assert.deepEqual(declined.asked, [13, 7, 0]);
    assert.deepEqual(summary(declined.seen), summary(feed(input, [], options)));
    // Byte by byte, no data frame's payload lies within one chunk with its header: none is asked for
    // but the empty one.
    const bytes = Array.from({ length: input.length - 1 }, (_, i) => i + 1);
    const split = parse(() => true, bytes);
    assert.deepEqual(split.asked, [0]);
    assert.deepEqual(summary(split.seen), summary(feed(input, bytes, options)));
  });

  it('never asks a listener that has takesWholeFrame but no onWholeFrame', () => {
    const { listener, seen } = collector();
    listener.takesWholeFrame = () => assert.fail('asked without onWholeFrame');
    const parser = new FrameParser(listener, options);
    parser.push(input.slice());
    assert.deepEqual(summary(seen), summary(feed(input, [], options)));
  });

  it('agrees with the usual path for every single cut of the input', () => {
    for (let cut = 1; cut < input.length; cut++) {
      assert.deepEqual(summary(parse(() => true, [cut]).seen), summary(feed(input, [cut], options)), `cut at ${cut}`);
    }
  });

  it('keeps the rest of the chunk when onWholeFrame pauses the parser', () => {
    const frames = ['one', 'two', 'three'].map((s) => encodeFrame({ opcode: 0x1, payload: text(s) }));
    const got: string[] = [];
    let parser!: FrameParser;
    parser = new FrameParser({
      onHeader: () => assert.fail('a whole frame was reported by onHeader'),
      onPayload: () => assert.fail('a whole frame was reported by onPayload'),
      onError: assert.fail,
      takesWholeFrame: () => true,
      onWholeFrame(_opcode, payload) {
        got.push(Buffer.from(payload).toString());
        if (got.length === 1) parser.pause();
      },
    });
    parser.push(concat(...frames));
    assert.deepEqual(got, ['one']);
    assert.equal(parser.bufferedAmount, frames[1]!.length + frames[2]!.length);
    parser.resume();
    assert.deepEqual(got, ['one', 'two', 'three']);
  });
});

describe('FrameParser: pause and resume', () => {
  it('keeps the rest of the chunk and later chunks, by reference, until resumed', () => {
    const frames = [text('one'), text('two'), text('three')].map((p) => encodeFrame({ opcode: 0x1, payload: p }));
    const got: string[] = [];
    let parser!: FrameParser;
    parser = new FrameParser({
      onHeader() {},
      onPayload(d) {
        got.push(Buffer.from(d).toString());
        if (got.length === 1) parser.pause();
      },
      onError: assert.fail,
    });
    parser.push(concat(frames[0]!, frames[1]!));
    const later = frames[2]!;
    parser.push(later);
    assert.deepEqual(got, ['one']);
    assert.equal(parser.paused, true);
    assert.equal(parser.bufferedAmount, frames[1]!.length + later.length);
    parser.resume();
    assert.deepEqual(got, ['one', 'two', 'three']);
    assert.equal(parser.bufferedAmount, 0);
  });

  it('keeps the order of the input when paused again while draining queued chunks', () => {
    const frame = (s: string): Uint8Array => encodeFrame({ opcode: 0x1, payload: text(s) });
    const got: string[] = [];
    let parser!: FrameParser;
    parser = new FrameParser({
      onHeader() {},
      onPayload(d) {
        got.push(Buffer.from(d).toString());
        parser.pause();
      },
      onError: assert.fail,
    });
    parser.push(concat(frame('A'), frame('B')));
    parser.push(concat(frame('C'), frame('D')));
    parser.push(frame('E'));
    while (parser.paused) parser.resume();
    assert.deepEqual(got, ['A', 'B', 'C', 'D', 'E']);
  });

  it('keeps working for later input after a listener threw', () => {
    const got: string[] = [];
    const parser = new FrameParser({
      onHeader() {},
      onPayload(d) {
        got.push(Buffer.from(d).toString());
        if (got.length === 1) throw new Error('listener bug');
      },
      onError: assert.fail,
    });
    assert.throws(() => parser.push(encodeFrame({ opcode: 0x1, payload: text('a') })), /listener bug/);
    parser.push(encodeFrame({ opcode: 0x1, payload: text('b') }));
    assert.deepEqual(got, ['a', 'b']);
    assert.equal(parser.bufferedAmount, 0);
  });

  it('continues at once when resumed from inside the listener call that paused it', () => {
    const got: string[] = [];
    let parser!: FrameParser;
    parser = new FrameParser({
      onHeader() {},
      onPayload(d) {
        got.push(Buffer.from(d).toString());
        parser.pause();
        parser.resume();
      },
      onError: assert.fail,
    });
    parser.push(concat(encodeFrame({ opcode: 0x1, payload: text('a') }), encodeFrame({ opcode: 0x1, payload: text('b') })));
    assert.deepEqual(got, ['a', 'b']);
  });

  it('queues input pushed from inside a listener call after the current chunk', () => {
    const got: string[] = [];
    let parser!: FrameParser;
    parser = new FrameParser({
      onHeader() {},
      onPayload(d) {
        got.push(Buffer.from(d).toString());
        if (got.length === 1) parser.push(encodeFrame({ opcode: 0x1, payload: text('c') }));
      },
      onError: assert.fail,
    });
    parser.push(concat(encodeFrame({ opcode: 0x1, payload: text('a') }), encodeFrame({ opcode: 0x1, payload: text('b') })));
    assert.deepEqual(got, ['a', 'b', 'c']);
  });
});

describe('decodeFrame: the one-shot decoder of the low-level API', () => {
  it('returns the frame and the bytes it took, and null for every incomplete prefix', () => {
    const first = encodeFrame({ opcode: 0x1, payload: text('héllo'), fin: false, rsv1: true });
    const bytes = concat(first, encodeFrame({ opcode: 0x0, payload: text('!') }));
    for (let n = 0; n < first.length; n++) assert.equal(decodeFrame(bytes.subarray(0, n)), null, `prefix of ${n}`);
    const result = decodeFrame(bytes);
    assert.ok(result !== null);
    assert.equal(result.bytesConsumed, first.length);
    assert.deepEqual({ ...result.frame, payload: Buffer.from(result.frame.payload).toString() }, {
      fin: false,
      rsv1: true,
      rsv2: false,
      rsv3: false,
      opcode: 1,
      masked: false,
      maskKey: null,
      payload: 'héllo',
    });
  });

  it('unmasks into a copy and leaves the input as it was', () => {
    const payload = new Uint8Array(100).map((_, i) => i);
    const bytes = encodeFrame({ opcode: 0x2, payload, mask: KEY });
    const before = bytes.slice();
    const result = decodeFrame(bytes, { role: 'server' });
    assert.deepEqual(result?.frame.payload, payload);
    assert.deepEqual(result?.frame.maskKey, KEY);
    assert.equal(result?.frame.masked, true);
    assert.deepEqual(bytes, before);
    assert.deepEqual(applyMask(bytes.slice(6), KEY), payload);
  });

  it('leaves a Node Buffer input as it was too (Buffer#slice would be a view)', () => {
    const payload = new Uint8Array(100).map((_, i) => i);
    const bytes = Buffer.from(encodeFrame({ opcode: 0x2, payload, mask: KEY }));
    const before = Buffer.from(bytes);
    const result = decodeFrame(bytes, { role: 'server' });
    assert.deepEqual(result?.frame.payload, payload);
    assert.ok(bytes.equals(before), 'the masked input bytes must be untouched');
  });

  it('reports RSV bits on any frame when no rsvBits are named (e.g. per-frame extensions)', () => {
    const result = decodeFrame(Uint8Array.of(0x80 | 0x40 | 0x0, 0x00));
    assert.equal(result?.frame.rsv1, true);
    assert.equal(result?.frame.opcode, 0);
    assert.equal(decodeFrame(Uint8Array.of(0x80 | 0x10 | 0x9, 0x00))?.frame.rsv3, true);
  });

  it('refuses options that are not limits', () => {
    assert.throws(() => decodeFrame(Uint8Array.of(0x82, 0), { maxFrameSize: -1 }), InvalidArgumentError);
    assert.throws(() => new FrameParser(collector().listener, { maxFrameSize: Number.NaN }), InvalidArgumentError);
  });

  it('throws ProtocolError for malformed headers and MessageTooLargeError over maxFrameSize', () => {
    assert.throws(() => decodeFrame(Uint8Array.of(0x85, 0x00)), (e: unknown) => e instanceof ProtocolError && e.closeCode === 1002);
    assert.throws(() => decodeFrame(Uint8Array.of(0x09, 0x00)), (e: unknown) => e instanceof ProtocolError && e.closeCode === 1002);
    assert.throws(() => decodeFrame(encodeFrame({ opcode: 1 }), { role: 'server' }), ProtocolError);
    assert.throws(() => decodeFrame(encodeFrame({ opcode: 1, rsv1: true }), { rsvBits: 0 }), ProtocolError);
    assert.throws(() => decodeFrame(encodeFrame({ opcode: 0, rsv1: true }), { rsvBits: 0x40 }), ProtocolError);
    assert.throws(() => decodeFrame(encodeFrameHeader(2, 5000), { maxFrameSize: 4096 }), MessageTooLargeError);
    // A too-large header fails even before its payload is there (no waiting for bytes never used).
    assert.throws(() => decodeFrame(Uint8Array.of(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0)), ProtocolError);
  });
});
