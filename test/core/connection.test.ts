import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isUtf8 as isUtf8Native } from 'node:buffer';
import { Connection, type ConnectionHandler, type ConnectionOptions, type Role } from '../../src/core/connection.js';
import { AUTO_PONG_BUDGET } from '../../src/core/frame-sequence.js';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { encodeFrame, encodeFrameHeader } from '../../src/core/frame.js';
import { type ConnectionFailure, ConnectionNotOpenError, InvalidArgumentError, MessageTooLargeError, ProtocolError } from '../../src/core/errors.js';
import { encodeClosePayload } from '../../src/core/close.js';
import { failureReason } from '../../src/core/failures.js';

// ------------------------------------------------------------------------------------------------
// Harness

const utf8 = new TextDecoder();
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Frames decoded from one `output` call, as `[opcode, fin, payload]` (close frames as `['close', code]`). */
function describeOutput(chunks: Uint8Array[], senderRole: Role): unknown[] {
  let bytes = concat(...chunks);
  const frames: unknown[] = [];
  while (bytes.length > 0) {
    // The receiving side's role: a server's output must be unmasked, a client's masked (section 5.1).
    const decoded = decodeFrame(bytes, { role: senderRole === 'server' ? 'client' : 'server', rsvBits: 0x70 });
    assert.ok(decoded !== null, 'output holds whole frames');
    const { frame } = decoded;
    if (frame.opcode === 0x8) {
      const p = frame.payload;
      frames.push(p.length === 0 ? ['close'] : ['close', (p[0]! << 8) | p[1]!, utf8.decode(p.subarray(2))]);
    } else {
      frames.push([frame.opcode, frame.fin, frame.opcode === 1 || frame.opcode === 9 || frame.opcode === 10 ? utf8.decode(frame.payload) : hex(frame.payload)]);
    }
    bytes = bytes.subarray(decoded.bytesConsumed);
  }
  return frames;
}

interface Harness {
  conn: Connection;
  events: unknown[];
  /** Raw output calls, as given. */
  outputs: Uint8Array[][];
  errors: ConnectionFailure[];
}

function harness(options: Partial<ConnectionOptions> = {}, overrides: Partial<ConnectionHandler> = {}): Harness {
  const role = options.role ?? 'server';
  const events: unknown[] = [];
  const outputs: Uint8Array[][] = [];
  const errors: ConnectionFailure[] = [];
  // Streaming pieces are joined per message, so that every chunking gives the same events.
  let stream: { isText: boolean; parts: Uint8Array[] } | null = null;
  const handler: ConnectionHandler = {
    output(chunks) {
      outputs.push(chunks);
      events.push(['out', ...describeOutput(chunks, role)]);
    },
    message(data, isText) {
      events.push(['message', isText ? utf8.decode(data) : hex(data)]);
    },
    fragment(data, isText, first, fin) {
      assert.equal(first, stream === null, 'first is set exactly on the first piece');
      if (stream === null) stream = { isText, parts: [] };
      assert.equal(isText, stream.isText);
      stream.parts.push(data.slice());
      if (fin) {
        const all = concat(...stream.parts);
        events.push(['streamed', isText ? utf8.decode(all) : hex(all)]);
        stream = null;
      }
    },
    ping(payload) {
      events.push(['ping', utf8.decode(payload)]);
    },
    pong(payload) {
      events.push(['pong', utf8.decode(payload)]);
    },
    close(code, reason) {
      events.push(['close', code, reason]);
    },
    protocolError(error) {
      errors.push(error);
      events.push(['error', error.closeCode]);
    },
    ...overrides,
  };
  const conn = new Connection({ role, ...options }, handler);
  return { conn, events, outputs, errors };
}

/** Deterministic chunkings of `length` bytes: cut points, sorted. */
function chunkings(length: number): number[][] {
  const ways: number[][] = [[], Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1)];
  if (length <= 120) {
    for (let cut = 1; cut < length; cut++) ways.push([cut]);
  }
  let seed = length * 2654435761;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let w = 0; w < 6; w++) {
    const cuts = new Set<number>();
    const count = 1 + Math.floor(random() * Math.min(20, length));
    for (let i = 0; i < count; i++) cuts.add(1 + Math.floor(random() * Math.max(1, length - 1)));
    ways.push([...cuts].filter((c) => c < length).sort((a, b) => a - b));
  }
  return ways;
}

/**
 * Feeds `input` (copied: receive unmasks in place) to a fresh connection whole, byte by byte, at
 * every single cut (short inputs) and in random chunks, asserts the events are the same every
 * time, and returns them with the harness of the whole-input run.
 */
function receiveEveryWay(input: Uint8Array, options: Partial<ConnectionOptions> = {}, setup?: (h: Harness) => void): Harness {
  let first: Harness | null = null;
  for (const cuts of chunkings(input.length)) {
    const h = harness(options);
    setup?.(h);
    let start = 0;
    for (const cut of [...cuts, input.length]) {
      h.conn.receive(input.slice(start, cut));
      start = cut;
    }
    if (first === null) first = h;
    else assert.deepEqual(h.events, first.events, `chunked at ${cuts.length > 30 ? 'every byte' : cuts.join(',')}`);
    assert.ok(h.errors.length <= 1, 'protocolError is reported at most once');
  }
  return first!;
}

/** The messages a fresh server-role connection delivers from `chunk` received in one piece, as the handler got them. */
function messagesOf(chunk: Uint8Array): Uint8Array[] {
  const seen: Uint8Array[] = [];
  harness({}, { message: (d) => seen.push(d) }).conn.receive(chunk);
  return seen;
}

/** A frame as a client sends it (masked), for a server-role connection. */
function fromClient(opcode: number, payload: Uint8Array | string = new Uint8Array(0), fin = true, rsv1 = false): Uint8Array {
  return encodeFrame({ opcode, payload: typeof payload === 'string' ? text(payload) : payload, fin, rsv1, mask: true });
}

/** A frame as a server sends it (unmasked), for a client-role connection. */
function fromServer(opcode: number, payload: Uint8Array | string = new Uint8Array(0), fin = true, rsv1 = false): Uint8Array {
  return encodeFrame({ opcode, payload: typeof payload === 'string' ? text(payload) : payload, fin, rsv1 });
}

const closeFrame = (code?: number, reason = ''): Uint8Array => fromClient(0x8, encodeClosePayload(code, reason));

function assertFailed(h: Harness, closeCode: number): void {
  assert.equal(h.errors.length, 1, 'protocolError called once');
  assert.equal(h.errors[0]!.closeCode, closeCode);
  // A 1009 names the limit and its value in the close reason (issue 15); other codes carry the
  // failure table's reason for the violation's code (issue 16: test/core/violations.test.ts).
  const error = h.errors[0]!;
  const reason = closeCode === 1009 ? error.message : failureReason(error.code, closeCode, error.message);
  assert.deepEqual(h.events.slice(-2), [['out', ['close', closeCode, reason]], ['error', closeCode]], 'close frame sent, then the error reported');
  assert.equal(h.conn.readyState, 'closing');
  assert.equal(h.conn.closed, true);
}

// ------------------------------------------------------------------------------------------------

describe('Connection: messages (RFC 6455 sections 5.4, 5.6)', () => {
  it('delivers text and binary messages, whole or fragmented, the same for every chunking', () => {
    const input = concat(
      fromClient(0x1, 'héllo'),
      fromClient(0x2, Uint8Array.of(1, 2, 3)),
      fromClient(0x1, 'frag', false),
      fromClient(0x0, 'men', false),
      fromClient(0x0, 'ted'),
      fromClient(0x2, new Uint8Array(0)),
      fromClient(0x2, new Uint8Array(0), false),
      fromClient(0x0, Uint8Array.of(9)),
    );
    const h = receiveEveryWay(input);
    assert.deepEqual(h.events, [['message', 'héllo'], ['message', '010203'], ['message', 'fragmented'], ['message', ''], ['message', '09']]);
    assert.equal(h.conn.readyState, 'open');
  });

  it('hands a message that arrived in one chunk over as a view of that chunk (no copy)', () => {
    const chunk = concat(fromClient(0x2, new Uint8Array(300).fill(7)), fromClient(0x1, 'ok'));
    const seen = messagesOf(chunk);
    assert.equal(seen.length, 2);
    for (const d of seen) assert.equal(d.buffer, chunk.buffer);
  });

  it('gathers a message from large and small pieces in order, the same for every chunking', () => {
    // Pieces of 8 KiB and more are kept as views and copied once at the end; smaller ones are
    // copied as they come: every mix of the two must give the same bytes.
    const sizes = [20_000, 10, 9_000, 1, 8_192, 8_191, 30_000];
    const payload = Uint8Array.from({ length: sizes.reduce((a, b) => a + b, 0) }, (_, i) => (i * 7 + (i >> 8)) & 0xff);
    const frames: Uint8Array[] = [];
    let at = 0;
    sizes.forEach((size, i) => {
      frames.push(fromClient(i === 0 ? 0x2 : 0x0, payload.subarray(at, at + size), i === sizes.length - 1));
      at += size;
    });
    frames.push(fromClient(0x2, payload.subarray(0, 40_000)));
    const h = receiveEveryWay(concat(...frames));
    assert.deepEqual(h.events, [
      ['message', Buffer.from(payload).toString('hex')],
      ['message', Buffer.from(payload.subarray(0, 40_000)).toString('hex')],
    ]);
  });

  it('accepts control frames between fragments, answering the ping at once', () => {
    const input = concat(fromClient(0x1, 'a', false), fromClient(0x9, 'p1'), fromClient(0x0, 'b', false), fromClient(0xa, 'p2'), fromClient(0x0, 'c'));
    const h = receiveEveryWay(input);
    assert.deepEqual(h.events, [['out', [0xa, true, 'p1']], ['ping', 'p1'], ['pong', 'p2'], ['message', 'abc']]);
  });

  it('takes 65,536 fragments of 64 bytes (4 MiB) as one message', () => {
    const fragment = fromServer(0x0, new Uint8Array(64).fill(0x61), false);
    const count = 65536;
    const input = new Uint8Array(fragment.length * count);
    for (let i = 0; i < count; i++) input.set(fragment, i * fragment.length);
    input[0] = 0x01; // the first frame opens a text message
    input[(count - 1) * fragment.length] = 0x80; // the last continuation has FIN
    let got: Uint8Array | null = null;
    const { conn, errors } = harness({ role: 'client', maxMessageSize: 4 << 20 }, { message: (d) => (got = d) });
    for (let at = 0; at < input.length; at += 65536) conn.receive(input.subarray(at, at + 65536));
    assert.deepEqual(errors, []);
    const message = got as Uint8Array | null;
    assert.equal(message?.length, 4 << 20);
    assert.ok(message!.every((b) => b === 0x61));
    assert.ok(message!.buffer.byteLength <= 8 << 20, 'the buffer at most doubles the message');
  });

  it('fails a continuation without a message to continue with 1002', () => {
    const h = receiveEveryWay(concat(fromClient(0x1, 'whole'), fromClient(0x0, 'orphan')));
    assert.deepEqual(h.events[0], ['message', 'whole']);
    assertFailed(h, 1002);
  });

  it('fails a new data message inside a fragmented one with 1002', () => {
    for (const opcode of [0x1, 0x2]) {
      const h = receiveEveryWay(concat(fromClient(0x1, 'start', false), fromClient(opcode, 'intruder')));
      assertFailed(h, 1002);
      assert.equal(h.events.length, 2);
    }
  });
});

describe('Connection: header rules (RFC 6455 sections 5.1, 5.2, 5.5)', () => {
  it('server: fails an unmasked client frame with 1002', () => {
    assertFailed(receiveEveryWay(fromServer(0x1, 'bare')), 1002);
  });

  it('client: fails a masked server frame with 1002', () => {
    assertFailed(receiveEveryWay(fromClient(0x1, 'masked'), { role: 'client' }), 1002);
  });

  it('fails reserved opcodes with 1002', () => {
    for (const opcode of [0x3, 0x7, 0xb, 0xf]) assertFailed(receiveEveryWay(fromClient(opcode, 'x')), 1002);
  });

  it('fails RSV bits no extension claims with 1002', () => {
    assertFailed(receiveEveryWay(fromClient(0x1, 'x', true, true)), 1002);
  });

  it('fails control frames over 125 bytes or fragmented with 1002', () => {
    const long = concat(Uint8Array.of(0x89, 0x80 | 126, 0, 126, 0, 0, 0, 0), new Uint8Array(126));
    assertFailed(receiveEveryWay(long), 1002);
    assertFailed(receiveEveryWay(encodeFrame({ opcode: 0x9, payload: text('x'), mask: true }).map((b, i) => (i === 0 ? 0x09 : b))), 1002);
  });
});

describe('Connection: limits (RFC 6455 section 10.4, close code 1009)', () => {
  it('fails a frame over maxFrameSize from its header alone', () => {
    const h = harness({ maxFrameSize: 1000, maxMessageSize: 1 << 20 });
    h.conn.receive(encodeFrameHeader(0x2, 1001, { maskKey: Uint8Array.of(1, 2, 3, 4) }));
    assertFailed(h, 1009);
    assert.ok(h.errors[0] instanceof MessageTooLargeError);
    assert.equal((h.errors[0] as MessageTooLargeError).limit, 1000);
  });

  it('fails when fragments so far plus the announced frame exceed maxMessageSize, before its payload', () => {
    const h = harness({ maxMessageSize: 100 });
    h.conn.receive(fromClient(0x2, new Uint8Array(60), false));
    assert.deepEqual(h.events, []);
    h.conn.receive(encodeFrameHeader(0x0, 41, { maskKey: Uint8Array.of(1, 2, 3, 4) }));
    assertFailed(h, 1009);
    // Exactly the limit is accepted.
    const ok = receiveEveryWay(concat(fromClient(0x2, new Uint8Array(60), false), fromClient(0x0, new Uint8Array(40))), { maxMessageSize: 100 });
    assert.equal(ok.events.length, 1);
  });

  it('fails a message of more than maxFragments fragments', () => {
    const parts = [fromClient(0x2, 'a', false), fromClient(0x0, 'b', false), fromClient(0x0, 'c', false), fromClient(0x0, 'd')];
    assert.deepEqual(receiveEveryWay(concat(...parts.slice(0, 2), parts[3]!), { maxFragments: 3 }).events, [['message', '616264']]);
    const h = receiveEveryWay(concat(...parts), { maxFragments: 3 });
    assertFailed(h, 1009);
    assert.equal((h.errors[0] as MessageTooLargeError).limit, 3);
  });

  it('names the limit and its value in the reason of every 1009 it sends (issue 15)', () => {
    const key = { maskKey: Uint8Array.of(1, 2, 3, 4) };
    const frame = harness({ maxFrameSize: 1000, maxMessageSize: 1 << 20 });
    frame.conn.receive(encodeFrameHeader(0x2, 1001, key));
    const message = harness({ maxMessageSize: 100 });
    message.conn.receive(encodeFrameHeader(0x2, 101, key));
    const fragments = harness({ maxFragments: 2 });
    fragments.conn.receive(concat(fromClient(0x2, 'a', false), fromClient(0x0, 'b', false), fromClient(0x0, 'c')));
    const reasons = [frame, message, fragments].map((h) => h.events.find((e) => (e as unknown[])[0] === 'out'));
    assert.deepEqual(reasons, [
      ['out', ['close', 1009, 'frame of more than 1000 bytes (maxFrameSize)']],
      ['out', ['close', 1009, 'message of more than 100 bytes (maxMessageSize)']],
      ['out', ['close', 1009, 'message of more than 2 fragments (maxFragments)']],
    ]);
  });

  it('rejects limits that are not integers', () => {
    assert.throws(() => harness({ maxMessageSize: -1 }), InvalidArgumentError);
    assert.throws(() => harness({ maxFragments: 0 }), InvalidArgumentError);
    assert.throws(() => harness({ maxFrameSize: Number.NaN }), InvalidArgumentError);
    harness({ maxMessageSize: Infinity });
  });

  it('rejects an autoPong that is not a boolean (a truthy string is not read as true)', () => {
    assert.throws(() => harness({ autoPong: 'no' as never }), InvalidArgumentError);
    harness({ autoPong: false });
  });
});

describe('Connection: short whole frames take the one-call path with every rule kept (issue 24)', () => {
  // After a first message (which makes the assembler), a short data frame that arrives whole in
  // one chunk goes to the connection in one call (FrameParserListener.onWholeFrame); cut anywhere,
  // it takes the usual path. receiveEveryWay feeds the input whole and cut, and asserts the same
  // events every time, so each case below compares the two paths.
  const first = fromClient(0x2, Uint8Array.of(1));

  it('delivers text and binary messages, each a view of the chunk it came in', () => {
    const input = concat(first, fromClient(0x1, 'héllo'), fromClient(0x2, new Uint8Array(125).fill(2)), fromClient(0x1, ''));
    assert.deepEqual(receiveEveryWay(input).events, [['message', '01'], ['message', 'héllo'], ['message', '02'.repeat(125)], ['message', '']]);
    const seen = messagesOf(input);
    assert.equal(seen.length, 4);
    for (const d of seen) assert.equal(d.buffer, input.buffer);
  });

  it('fails a short frame over maxFrameSize or maxMessageSize with 1009', () => {
    for (const limits of [{ maxFrameSize: 10 }, { maxMessageSize: 10 }, { maxFrameSize: 10, maxMessageSize: 10 }]) {
      const h = receiveEveryWay(concat(first, fromClient(0x2, new Uint8Array(10)), fromClient(0x2, new Uint8Array(11)), fromClient(0x2, Uint8Array.of(3))), limits);
      assert.deepEqual(h.events[0], ['message', '01']);
      assert.deepEqual(h.events[1], ['message', '00'.repeat(10)]);
      assertFailed(h, 1009);
      assert.equal((h.errors[0] as MessageTooLargeError).limit, 10);
    }
  });

  it('fails a short text frame that is not UTF-8 with 1007, after the messages before it', () => {
    const h = receiveEveryWay(concat(first, fromClient(0x1, 'ok'), fromClient(0x1, Uint8Array.of(0x61, 0xff)), fromClient(0x1, 'never')));
    assert.deepEqual(h.events.slice(0, 2), [['message', '01'], ['message', 'ok']]);
    assertFailed(h, 1007);
  });

  it('fails a short whole data frame inside a fragmented message with 1002', () => {
    const h = receiveEveryWay(concat(first, fromClient(0x1, 'frag', false), fromClient(0x2, Uint8Array.of(3))));
    assert.deepEqual(h.events[0], ['message', '01']);
    assertFailed(h, 1002);
  });

  it('streams a short frame once streaming is on', () => {
    const h = harness();
    h.conn.receive(first);
    h.conn.setStreaming(true);
    h.conn.receive(concat(fromClient(0x1, 'piece'), fromClient(0x2, Uint8Array.of(4))));
    assert.deepEqual(h.events, [['message', '01'], ['streamed', 'piece'], ['streamed', '04']]);
  });

  it('client role: takes the server\'s unmasked short frames the same way', () => {
    const input = concat(fromServer(0x2, Uint8Array.of(1)), fromServer(0x1, 'hi'), fromServer(0x2, Uint8Array.of(0xff)));
    assert.deepEqual(receiveEveryWay(input, { role: 'client' }).events, [['message', '01'], ['message', 'hi'], ['message', 'ff']]);
  });
});

describe('Connection: UTF-8 (RFC 6455 section 8.1, close code 1007)', () => {
  it('fails invalid UTF-8 in a text message with 1007', () => {
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x61, 0xe2, 0x82]]) {
      assertFailed(receiveEveryWay(fromClient(0x1, Uint8Array.from(bad))), 1007);
    }
  });

  it('fails fast: at the first bad fragment, before the message is complete', () => {
    const h = harness();
    h.conn.receive(fromClient(0x1, 'valid ', false));
    assert.deepEqual(h.events, []);
    h.conn.receive(fromClient(0x0, Uint8Array.of(0x61, 0xc0), false));
    assertFailed(h, 1007);
  });

  it('fails fast within one frame whose bytes arrive in several reads', () => {
    const frame = fromClient(0x1, concat(text('abc'), Uint8Array.of(0xf8), text('defghijkl')));
    const h = harness();
    h.conn.receive(frame.slice(0, 10)); // header (6) + 'abc' + the bad byte
    assertFailed(h, 1007);
  });

  it('accepts a code point split across fragments', () => {
    const euro = text('€'); // e2 82 ac
    const input = concat(fromClient(0x1, euro.subarray(0, 1), false), fromClient(0x0, euro.subarray(1, 2), false), fromClient(0x0, euro.subarray(2)));
    assert.deepEqual(receiveEveryWay(input).events, [['message', '€']]);
  });

  it('fails a message that ends inside a code point', () => {
    const h = receiveEveryWay(concat(fromClient(0x1, 'ok', false), fromClient(0x0, Uint8Array.of(0xe2, 0x82))));
    assertFailed(h, 1007);
  });

  it('never checks binary messages', () => {
    assert.deepEqual(receiveEveryWay(fromClient(0x2, Uint8Array.of(0xff, 0xfe))).events, [['message', 'fffe']]);
  });

  it('property: with options.isUtf8, fails at exactly the same read as the incremental validator alone', () => {
    const codePoint = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }),
      fc.integer({ min: 0x80, max: 0x7ff }),
      fc.integer({ min: 0x800, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff),
      fc.integer({ min: 0x10000, max: 0x10ffff }),
    );
    fc.assert(
      fc.property(
        fc.array(codePoint, { minLength: 100, maxLength: 1500 }),
        fc.option(fc.tuple(fc.nat(), fc.integer({ min: 0x80, max: 0xff })), { nil: undefined }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (points, corruption, rawCuts, streaming) => {
          let payload = text(String.fromCodePoint(...points));
          if (corruption !== undefined) {
            payload = payload.slice();
            payload[corruption[0] % payload.length] = corruption[1];
          }
          const frame = fromClient(0x1, payload);
          const cuts = [...new Set(rawCuts.map((c) => c % frame.length))].filter((c) => c > 0).sort((a, b) => a - b);
          const run = (isUtf8?: (b: Uint8Array) => boolean): unknown[] => {
            const h = harness({ isUtf8 });
            if (streaming) h.conn.setStreaming(true);
            let start = 0;
            for (const cut of [...cuts, frame.length]) {
              h.conn.receive(frame.slice(start, cut));
              h.events.push(`read up to ${cut}`);
              start = cut;
            }
            return h.events;
          };
          const events = run(isUtf8Native);
          assert.deepEqual(events, run());
          assert.equal(events.some((e) => Array.isArray(e) && e[0] === 'error'), !Buffer.from(payload).equals(Buffer.from(utf8.decode(payload))));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('uses options.isUtf8 for long text, whole messages and long pieces alike, never for short ones', () => {
    const calls: number[] = [];
    const isUtf8 = (b: Uint8Array): boolean => {
      calls.push(b.length);
      return Buffer.from(b.buffer, b.byteOffset, b.length).toString('utf8').indexOf('\ufffd') === -1;
    };
    const long = 'x'.repeat(1000);
    const h = harness({ isUtf8 });
    h.conn.receive(concat(fromClient(0x1, long), fromClient(0x1, 'short'), fromClient(0x1, long, false), fromClient(0x0, '!')));
    assert.deepEqual(calls, [1000, 1000]);
    assert.equal(h.events.length, 3);
    const bad = harness({ isUtf8 });
    bad.conn.receive(fromClient(0x1, concat(text(long), Uint8Array.of(0xff))));
    assertFailed(bad, 1007);
  });
});

describe('Connection: closing handshake (RFC 6455 sections 5.5.1, 7)', () => {
  it('peer closes first: echoes the status code (not the reason), reports it, and is closed', () => {
    const h = receiveEveryWay(concat(fromClient(0x1, 'last words'), closeFrame(1001, 'going'), fromClient(0x1, 'ignored')));
    assert.deepEqual(h.events, [['message', 'last words'], ['out', ['close', 1001, '']], ['close', 1001, 'going']]);
    assert.equal(h.conn.readyState, 'closed');
    assert.equal(h.conn.closed, true);
    assert.throws(() => h.conn.sendMessage(text('x'), true), ConnectionNotOpenError);
  });

  it('peer closes without a code: echoes an empty close and reports 1005, which never goes on the wire', () => {
    const h = receiveEveryWay(fromClient(0x8));
    assert.deepEqual(h.events, [['out', ['close']], ['close', 1005, '']]);
  });

  it('we close first: close frame out, closing, no more data; the peer answer makes it closed', () => {
    const h = harness();
    h.conn.close(1000, 'bye');
    assert.deepEqual(h.events, [['out', ['close', 1000, 'bye']]]);
    assert.equal(h.conn.readyState, 'closing');
    assert.equal(h.conn.closed, false);
    assert.throws(() => h.conn.sendMessage(text('late'), true), ConnectionNotOpenError);
    assert.throws(() => h.conn.sendFrame(text('late'), true, true, true), ConnectionNotOpenError);
    h.conn.close(1000); // a second close is a no-op
    // Messages still arriving before the peer's close are delivered; no pong once closing.
    h.conn.receive(concat(fromClient(0x1, 'in flight'), fromClient(0x9, 'p'), closeFrame(1000)));
    assert.deepEqual(h.events.slice(1), [['message', 'in flight'], ['ping', 'p'], ['close', 1000, '']]);
    assert.equal(h.conn.readyState, 'closed');
  });

  it('client role closes first with a masked close frame', () => {
    const h = harness({ role: 'client' });
    h.conn.close();
    assert.deepEqual(h.events, [['out', ['close']]]);
  });

  it('fails a 1-byte close payload or a code not allowed on the wire with 1002', () => {
    assertFailed(receiveEveryWay(fromClient(0x8, Uint8Array.of(0x03))), 1002);
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
      assertFailed(receiveEveryWay(fromClient(0x8, Uint8Array.of(code >> 8, code & 0xff))), 1002);
    }
  });

  it('fails a close reason that is not UTF-8 with 1007', () => {
    assertFailed(receiveEveryWay(fromClient(0x8, Uint8Array.of(0x03, 0xe8, 0xff))), 1007);
  });

  it('close() refuses codes not allowed on the wire and reasons over 123 bytes', () => {
    const h = harness();
    for (const code of [999, 1004, 1005, 1006, 1015, 5000]) assert.throws(() => h.conn.close(code), InvalidArgumentError);
    assert.throws(() => h.conn.close(1000, 'x'.repeat(124)), InvalidArgumentError);
    assert.throws(() => h.conn.close(undefined, 'reason without code'), InvalidArgumentError);
    assert.deepEqual(h.events, []);
    h.conn.close(4000, 'é'.repeat(61) + 'x');
    assert.equal(h.conn.readyState, 'closing');
  });

  it('transportClosed() makes it closed and later input is ignored', () => {
    const h = harness();
    h.conn.transportClosed();
    assert.equal(h.conn.readyState, 'closed');
    h.conn.receive(fromClient(0x1, 'ghost'));
    assert.deepEqual(h.events, []);
    assert.throws(() => h.conn.ping(), ConnectionNotOpenError);
  });

  it('property: no input makes 1005, 1006 or 1015 go out on the wire, and receive never throws', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(0, 1, 2, 3, 8, 9, 10), fc.uint8Array({ maxLength: 40 }), fc.boolean()), { maxLength: 8 }), (specs) => {
        const h = harness({ maxMessageSize: 64 });
        h.conn.receive(concat(...specs.map(([op, payload, fin]) => encodeFrame({ opcode: op, payload, fin: op >= 8 ? true : fin, mask: true }))));
        for (const chunks of h.outputs) {
          for (const frame of describeOutput(chunks, 'server') as unknown[][]) {
            if (frame[0] === 'close' && frame.length > 1) assert.ok(![1005, 1006, 1015].includes(frame[1] as number));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('Connection: ping and pong (RFC 6455 sections 5.5.2, 5.5.3)', () => {
  it('answers a ping with a pong carrying the same payload, then reports it', () => {
    const h = receiveEveryWay(fromClient(0x9, 'are you there'));
    assert.deepEqual(h.events, [['out', [0xa, true, 'are you there']], ['ping', 'are you there']]);
  });

  it('client role answers with a masked pong', () => {
    const h = receiveEveryWay(fromServer(0x9, 'hi'), { role: 'client' });
    assert.deepEqual(h.events, [['out', [0xa, true, 'hi']], ['ping', 'hi']]);
  });

  it('only reports the ping when autoPong is off, and reports pongs', () => {
    const h = receiveEveryWay(concat(fromClient(0x9, 'a'), fromClient(0xa, 'b')), { autoPong: false });
    assert.deepEqual(h.events, [['ping', 'a'], ['pong', 'b']]);
  });

  it('answers every ping of a burst that arrives in one read, at once and in order (Autobahn case 2.10)', () => {
    const h = harness();
    const payloads = Array.from({ length: 10 }, (_, i) => `payload-${i}`);
    h.conn.receive(concat(...payloads.map((p) => fromClient(0x9, p))));
    assert.deepEqual(
      h.events,
      payloads.flatMap((p) => [['out', [0xa, true, p]], ['ping', p]]),
    );
  });

  it(`past ${AUTO_PONG_BUDGET} bytes of pongs in one read, answers the rest by one pong for the latest, at the end of the read (section 5.5.3)`, () => {
    const h = harness();
    const payloads = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, '0')}${'p'.repeat(123)}`);
    h.conn.receive(concat(...payloads.map((p) => fromClient(0x9, p)), fromClient(0x1, 'after the flood')));
    // A pong of 125 bytes is a 127-byte frame: that many fit the budget and go out at once.
    const atOnce = Math.floor(AUTO_PONG_BUDGET / 127);
    assert.deepEqual(h.events, [
      ...payloads.flatMap((p, i) => (i < atOnce ? [['out', [0xa, true, p]], ['ping', p]] : [['ping', p]])),
      ['message', 'after the flood'],
      ['out', [0xa, true, payloads[payloads.length - 1]]],
    ]);
    // The next read has a budget of its own.
    h.events.length = 0;
    h.conn.receive(fromClient(0x9, 'next read'));
    assert.deepEqual(h.events, [['out', [0xa, true, 'next read']], ['ping', 'next read']]);
  });

  it('ping() and pong() send control frames of at most 125 bytes', () => {
    const h = harness();
    h.conn.ping(text('x'.repeat(125)));
    h.conn.pong(text('y'));
    h.conn.ping();
    assert.deepEqual(h.events, [['out', [9, true, 'x'.repeat(125)]], ['out', [10, true, 'y']], ['out', [9, true, '']]]);
    assert.throws(() => h.conn.ping(new Uint8Array(126)), InvalidArgumentError);
  });
});

describe('Connection: failing the connection (RFC 6455 section 7.1.7)', () => {
  it('delivers every message completed before the bad byte, then closes with the code, then ignores input', () => {
    const h = receiveEveryWay(concat(fromClient(0x1, 'one'), fromClient(0x2, 'two'), fromClient(0x1, Uint8Array.of(0xff)), fromClient(0x1, 'after')));
    assert.deepEqual(h.events, [['message', 'one'], ['message', '74776f'], ['out', ['close', 1007, 'invalid UTF-8']], ['error', 1007]]);
    h.conn.receive(fromClient(0x1, 'more'));
    h.conn.receive(closeFrame(1000));
    assert.equal(h.events.length, 4);
    assert.throws(() => h.conn.sendMessage(text('x'), true), ConnectionNotOpenError);
  });

  it('does not send a second close when it fails after closing', () => {
    const h = harness();
    h.conn.close(1000);
    h.conn.receive(fromServer(0x1, 'unmasked'));
    assert.deepEqual(h.events, [['out', ['close', 1000, '']], ['error', 1002]]);
  });

  it('never throws out of receive: a throwing handler becomes a 1011 failure', () => {
    const boom = new Error('handler bug');
    const h = harness({}, { message: () => {
      throw boom;
    } });
    h.conn.receive(fromClient(0x1, 'x'));
    assertFailed(h, 1011);
    assert.equal((h.errors[0] as Error & { cause?: unknown }).cause, boom);
  });
});

describe('Connection: failing when the output callback throws', () => {
  it('still reports the protocol error once and does not throw out of receive', () => {
    const errors: ConnectionFailure[] = [];
    const conn = new Connection(
      { role: 'server' },
      {
        ...harnessHandler(),
        output: () => {
          throw new Error('socket gone');
        },
        protocolError: (e) => errors.push(e),
      },
    );
    conn.receive(fromServer(0x1, 'unmasked'));
    assert.deepEqual(errors.map((e) => e.closeCode), [1002]);
    assert.equal(conn.closed, true);
  });
});

describe('Connection: sending (RFC 6455 sections 5.1, 5.3, 5.4)', () => {
  it('server sends unmasked frames; a large payload goes out as the caller\'s own array behind its header', () => {
    const h = harness();
    const big = new Uint8Array(5000).fill(3);
    h.conn.sendMessage(big, false);
    assert.equal(h.outputs[0]!.length, 2);
    assert.equal(h.outputs[0]![1], big, 'payload not copied');
    h.conn.sendMessage(text('small'), true);
    assert.equal(h.outputs[1]!.length, 1, 'small frames go out as one chunk');
    assert.deepEqual(h.events[1], ['out', [1, true, 'small']]);
  });

  it('client masks every frame with a fresh key and never alters the caller\'s data', () => {
    const keys: Uint8Array[] = [];
    let n = 0;
    const h = harness({ role: 'client', maskKey: () => {
      const key = Uint8Array.of(++n, 0xaa, 0x55, 0xff);
      keys.push(key);
      return key;
    } });
    const data = new Uint8Array(2000).map((_, i) => i);
    const copy = data.slice();
    h.conn.sendMessage(data, false, { fragmentSize: 700 });
    h.conn.ping(text('p'));
    assert.deepEqual(data, copy);
    assert.equal(keys.length, 4);
    const wire = concat(...h.outputs.flat());
    assert.deepEqual(Array.from(wire.subarray(4, 8)), Array.from(keys[0]!), 'first key in the first header');
    assert.deepEqual(h.events, [
      ['out', [2, false, hex(data.subarray(0, 700))], [0, false, hex(data.subarray(700, 1400))], [0, true, hex(data.subarray(1400))]],
      ['out', [9, true, 'p']],
    ]);
    // Without the option every key comes from the random source; two frames differ.
    const r = harness({ role: 'client' });
    r.conn.sendMessage(new Uint8Array(8), false);
    r.conn.sendMessage(new Uint8Array(8), false);
    assert.notDeepEqual(r.outputs[0]![0]!.subarray(2, 6), r.outputs[1]![0]!.subarray(2, 6));
  });

  it('frames every payload size correctly, around every length form and copy threshold', () => {
    const sizes = [0, 1, 31, 32, 125, 126, 255, 256, 257, 1024, 4095, 4096, 4097, 16384, 65535, 65536, 70000];
    for (const role of ['client', 'server'] as const) {
      const wire: Uint8Array[] = [];
      const sender = new Connection({ role }, { ...harnessHandler(), output: (chunks) => wire.push(...chunks.map((c) => c.slice())) });
      const payloads = sizes.map((n) => new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff));
      for (const p of payloads) sender.sendMessage(p, false);
      const got: Uint8Array[] = [];
      const receiver = new Connection({ role: role === 'client' ? 'server' : 'client', maxMessageSize: 1 << 20 }, { ...harnessHandler(), message: (d) => got.push(d.slice()) });
      receiver.receive(concat(...wire));
      assert.deepEqual(got, payloads, role);
    }
  });

  it('sendMessage puts extension bits on the first frame only', () => {
    const h = harness();
    h.conn.sendMessage(text('abcdef'), true, { rsv: 0x40, fragmentSize: 4 });
    const wire = concat(...h.outputs[0]!);
    assert.equal(wire[0], 0x40 | 0x01);
    assert.equal(wire[6], 0x80);
    assert.throws(() => h.conn.sendMessage(text('x'), true, { rsv: 0x80 }), InvalidArgumentError);
    assert.throws(() => h.conn.sendMessage(text('x'), true, { fragmentSize: 0.5 }), InvalidArgumentError);
  });

  it('sendFrame sends a message piece by piece, control frames allowed between', () => {
    const h = harness();
    assert.throws(() => h.conn.sendFrame(text('x'), true, false, true), InvalidArgumentError);
    h.conn.sendFrame(text('ab'), true, true, false);
    assert.throws(() => h.conn.sendFrame(text('x'), true, true, true), InvalidArgumentError);
    assert.throws(() => h.conn.sendMessage(text('x'), true), InvalidArgumentError);
    h.conn.ping();
    h.conn.sendFrame(text('cd'), true, false, true);
    h.conn.sendMessage(text('next'), true);
    assert.deepEqual(h.events, [['out', [1, false, 'ab']], ['out', [9, true, '']], ['out', [0, true, '6364']], ['out', [1, true, 'next']]]);
  });

  it('round trip: a client connection\'s output is what a server connection receives', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.string({ maxLength: 50 }), fc.integer({ min: 1, max: 20 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
        (messages, sizes) => {
          const wire: Uint8Array[] = [];
          const client = new Connection({ role: 'client' }, { ...harnessHandler(), output: (chunks) => wire.push(...chunks) });
          for (const [isText, s, fragmentSize] of messages) {
            client.sendMessage(text(s), isText, { fragmentSize });
            client.ping(text('between'));
          }
          const all = concat(...wire);
          const h = harness({ autoPong: false });
          for (let at = 0, i = 0; at < all.length; at += sizes[i++ % sizes.length]!) h.conn.receive(all.slice(at, at + sizes[i % sizes.length]!));
          const expected = messages.flatMap(([isText, s]) => [['message', isText ? s : hex(text(s))], ['ping', 'between']]);
          assert.deepEqual(h.events, expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});

function harnessHandler(): ConnectionHandler {
  return { output() {}, message() {}, ping() {}, pong() {}, close() {}, protocolError: (e) => assert.fail(e) };
}

describe('Connection: allocate (arrays the core overwrites entirely)', () => {
  /**
   * An allocator that hands out arrays full of garbage (0xee) and records them: the core may use
   * it only for arrays it then fills completely, so each must come back whole, as a delivered
   * message, a transform's input or an output chunk.
   */
  function garbageAllocator(): { allocate: (size: number) => Uint8Array; given: Uint8Array[] } {
    const given: Uint8Array[] = [];
    return {
      given,
      allocate(size) {
        const array = new Uint8Array(size).fill(0xee);
        given.push(array);
        return array;
      },
    };
  }

  /** The array `seen` is exactly `allocated`: same memory, all of it. */
  function isWhole(seen: Uint8Array, allocated: Uint8Array): boolean {
    return seen.buffer === allocated.buffer && seen.byteOffset === allocated.byteOffset && seen.length === allocated.length;
  }

  // Sizes on both sides of the 8 KiB piece threshold, split over reads of every kind.
  const sizes = [1, 700, 8191, 8192, 9000, 70_000, 200_000];
  const payloadOf = (n: number, salt: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 131 + salt + (i >> 9)) & 0xff);
  const readSizes = [1, 7, 1000, 8192, 20_000, 65536];

  for (const role of ['server', 'client'] as const) {
    it(`${role}: a message assembled from pieces has exactly the bytes sent, in an allocated array filled entirely`, () => {
      const make = role === 'server' ? fromClient : fromServer;
      let allocations = 0;
      for (const [m, size] of sizes.entries()) {
        for (const fragments of [1, 3]) {
          const payload = payloadOf(size, m);
          const frames: Uint8Array[] = [];
          const step = Math.ceil(size / fragments);
          for (let at = 0; at < size; at += step) {
            frames.push(make(at === 0 ? 0x2 : 0x0, payload.subarray(at, at + step), at + step >= size));
            // A control frame between fragments.
            if (at + step < size) frames.push(make(0x9, 'between'));
          }
          const input = concat(...frames);
          for (const read of readSizes) {
            const { allocate, given } = garbageAllocator();
            const messages: Uint8Array[] = [];
            const conn = new Connection({ role, allocate, maxMessageSize: 1 << 20 }, { ...harnessHandler(), message: (d) => messages.push(d) });
            for (let at = 0; at < input.length; at += read) conn.receive(input.slice(at, at + read));
            const label = `${size} bytes in ${fragments} fragment(s), reads of ${read}`;
            assert.equal(messages.length, 1, label);
            assert.ok(Buffer.from(messages[0]!).equals(Buffer.from(payload)), label);
            for (const array of given) assert.ok(isWhole(messages[0]!, array), `${label}: an allocated array is the whole message`);
            allocations += given.length;
          }
        }
      }
      assert.ok(allocations >= 6, `${allocations}: large messages over several reads were assembled in allocated arrays`);
    });
  }

  it('server: text and compressed messages assembled from pieces are exact too', () => {
    const payload = text('\u00e9t\u00e9 \u{1f600} '.repeat(3000));
    const input = concat(fromClient(0x1, payload.subarray(0, 10_001), false), fromClient(0x0, payload.subarray(10_001)));
    const compressed = concat(fromClient(0x2, payload.subarray(0, 20_000), false, true), fromClient(0x0, payload.subarray(20_000)));
    let allocations = 0;
    for (const read of readSizes) {
      const { allocate, given } = garbageAllocator();
      const seen: Uint8Array[] = [];
      const conn = new Connection(
        { role: 'server', allocate, extensions: [{ name: 'permessage-deflate', rsvBits: 0x40 }] },
        { ...harnessHandler(), message: (d) => seen.push(d), transformMessage: (d) => seen.push(d) },
      );
      for (let at = 0; at < input.length; at += read) conn.receive(input.slice(at, at + read));
      for (let at = 0; at < compressed.length; at += read) conn.receive(compressed.slice(at, at + read));
      assert.equal(seen.length, 2);
      for (const data of seen) assert.ok(Buffer.from(data).equals(Buffer.from(payload)), `reads of ${read}`);
      for (const array of given) assert.ok(seen.some((d) => isWhole(d, array)), `reads of ${read}: an allocated array is a whole message`);
      allocations += given.length;
    }
    assert.ok(allocations > 0);
  });

  it('client: a masked frame split over shorter output arrays is byte-exact, each array filled entirely', () => {
    const given: Uint8Array[] = [];
    const chunks: Uint8Array[] = [];
    const key = Uint8Array.of(0x9a, 0x0b, 0xfc, 0x3d);
    // An allocator that gives output in arrays of 1,000 to 70,000 bytes (a pool's blocks) and
    // messages whole.
    let turn = 0;
    const allocate = (size: number, output: boolean): Uint8Array => {
      const n = output ? Math.min(size, [1027, 70_000, 4099, 1024][turn++ % 4]!) : size;
      const array = new Uint8Array(n).fill(0xee);
      given.push(array);
      return array;
    };
    const conn = new Connection({ role: 'client', allocate, maskKey: () => key }, { ...harnessHandler(), output: (c) => chunks.push(...c) });
    const payloads = [4097, 5000, 65_536, 300_001].map((n, i) => payloadOf(n, i));
    for (const p of payloads) {
      chunks.length = 0;
      given.length = 0;
      conn.sendMessage(p, false);
      assert.ok(given.length > 1, 'the frame took several arrays');
      assert.equal(chunks.length, given.length);
      chunks.forEach((c, i) => assert.ok(isWhole(c, given[i]!), 'each chunk is an allocated array, all of it'));
      assert.ok(Buffer.concat(chunks).equals(Buffer.from(encodeFrame({ opcode: 0x2, payload: p, mask: key }))), `${p.length} bytes`);
    }
  });

  it('refuses an allocator that returns less than it may for output', () => {
    const conn = new Connection({ role: 'client', allocate: (size, output) => new Uint8Array(output ? 100 : size) }, harnessHandler());
    assert.throws(() => conn.sendMessage(new Uint8Array(10_000), false), InvalidArgumentError);
  });

  it('client: a large masked frame is written entirely into its allocated array, byte-exact on the wire', () => {
    const { allocate, given } = garbageAllocator();
    const chunks: Uint8Array[] = [];
    const key = Uint8Array.of(0x12, 0x34, 0x56, 0x78);
    const conn = new Connection({ role: 'client', allocate, maskKey: () => key }, { ...harnessHandler(), output: (c) => chunks.push(...c) });
    const payloads = [5000, 65_536, 300_001].map((n, i) => payloadOf(n, i));
    for (const p of payloads) conn.sendMessage(p, false);
    assert.equal(given.length, payloads.length);
    payloads.forEach((p, i) => {
      assert.ok(isWhole(chunks[i]!, given[i]!), 'the frame is the allocated array, all of it');
      assert.ok(Buffer.from(chunks[i]!).equals(Buffer.from(encodeFrame({ opcode: 0x2, payload: p, mask: key }))));
    });
  });
});

describe('Connection: streaming mode', () => {
  it('reports pieces as they arrive, first and fin marking the message\'s ends', () => {
    const calls: unknown[] = [];
    const h = harness({}, { fragment: (d, isText, first, fin) => calls.push([utf8.decode(d), isText, first, fin]) });
    h.conn.setStreaming(true);
    const frame = fromClient(0x1, 'abcdef', false);
    h.conn.receive(frame.slice(0, 9)); // header + 'abc'
    h.conn.receive(frame.slice(9));
    h.conn.receive(fromClient(0x9, 'ping'));
    h.conn.receive(fromClient(0x0, 'gh'));
    h.conn.receive(fromClient(0x2, ''));
    assert.deepEqual(calls, [['abc', true, true, false], ['def', true, false, false], ['gh', true, false, true], ['', false, true, true]]);
  });

  it('gives the same messages for every chunking, with text still validated', () => {
    const input = concat(fromClient(0x1, 'é', false), fromClient(0x0, 'tude'), fromClient(0x2, Uint8Array.of(1), false), fromClient(0x0, Uint8Array.of(2)));
    assert.deepEqual(receiveEveryWay(input, {}, (h) => h.conn.setStreaming(true)).events, [['streamed', 'étude'], ['streamed', '0102']]);
    const bad = receiveEveryWay(concat(fromClient(0x1, 'ok', false), fromClient(0x0, Uint8Array.of(0xc3))), {}, (h) => h.conn.setStreaming(true));
    assertFailed(bad, 1007);
  });

  it('is not bound by maxMessageSize, maxFragments or maxFrameSize (the consumer holds the memory)', () => {
    // 64 KiB in 1 KiB frames, with a 4 KiB message limit and 16 fragments at most.
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 64; i++) frames.push(fromClient(i === 0 ? 0x2 : 0x0, new Uint8Array(1024).fill(i), i === 63));
    let total = 0;
    const h = harness({ maxMessageSize: 4096, maxFragments: 16, maxFrameSize: 2048 }, { fragment: (d) => (total += d.length) });
    h.conn.setStreaming(true);
    for (const f of frames) h.conn.receive(f);
    assert.equal(total, 65536);
    assert.deepEqual(h.errors, []);
    // Issue 15: a large message sent as one frame reaches a streaming reader (it used to fail
    // with 1009 here); its pieces are reported as they arrive.
    h.conn.receive(fromClient(0x2, new Uint8Array(4096).fill(7)));
    assert.equal(total, 65536 + 4096);
    assert.deepEqual(h.errors, []);
    // Messages gathered whole keep the frame limit.
    h.conn.setStreaming(false);
    h.conn.receive(encodeFrameHeader(0x2, 4096, { maskKey: Uint8Array.of(1, 1, 1, 1) }));
    assertFailed(h, 1009);
    assert.equal((h.errors as ConnectionFailure[])[0]!.message, 'frame of more than 2048 bytes (maxFrameSize)');
  });

  it('takes effect at the next message start', () => {
    const h = harness();
    h.conn.receive(fromClient(0x1, 'a', false));
    h.conn.setStreaming(true);
    h.conn.receive(concat(fromClient(0x0, 'b'), fromClient(0x1, 'c')));
    h.conn.setStreaming(false);
    h.conn.receive(fromClient(0x1, 'd'));
    assert.deepEqual(h.events, [['message', 'ab'], ['streamed', 'c'], ['message', 'd']]);
  });

  it('needs a fragment callback', () => {
    const conn = new Connection({ role: 'server' }, harnessHandler());
    assert.throws(() => conn.setStreaming(true), InvalidArgumentError);
  });
});

describe('Connection: extension transforms (RFC 7692 sections 6, 8)', () => {
  const deflate = [{ name: 'permessage-deflate', rsvBits: 0x40 }];

  function transformHarness(options: Partial<ConnectionOptions> = {}): Harness & { pending: [string, boolean, number][] } {
    const pending: [string, boolean, number][] = [];
    const h = harness({ extensions: deflate, ...options }, { transformMessage: (data, isText, rsv) => pending.push([hex(data), isText, rsv]) });
    return { ...h, pending };
  }

  it('hands the message over, waits without parsing, then delivers the result and resumes', () => {
    const h = transformHarness();
    h.conn.receive(concat(fromClient(0x1, 'zz', false, true), fromClient(0x9, 'mid'), fromClient(0x0, 'z'), fromClient(0x1, 'after')));
    assert.deepEqual(h.pending, [[hex(text('zzz')), true, 0x40]]);
    assert.deepEqual(h.events, [['out', [10, true, 'mid']], ['ping', 'mid']]);
    assert.equal(h.conn.awaitingTransform, true);
    h.conn.receive(fromClient(0x2, 'more'));
    assert.ok(h.conn.bufferedInput > 0);
    assert.equal(h.events.length, 2, 'nothing is parsed while waiting');
    h.conn.finishTransform(text('inflated'));
    assert.equal(h.conn.awaitingTransform, false);
    assert.deepEqual(h.events.slice(2), [['message', 'inflated'], ['message', 'after'], ['message', '6d6f7265']]);
    assert.throws(() => h.conn.finishTransform(text('x')), InvalidArgumentError);
  });

  it('may be finished synchronously from inside transformMessage', () => {
    let conn!: Connection;
    const events: string[] = [];
    conn = new Connection(
      { role: 'server', extensions: deflate },
      {
        ...harnessHandler(),
        message: (d) => events.push(utf8.decode(d)),
        transformMessage: (d) => conn.finishTransform(text(utf8.decode(d).toUpperCase())),
      },
    );
    conn.receive(concat(fromClient(0x1, 'abc', true, true), fromClient(0x1, 'plain'), fromClient(0x1, 'def', true, true)));
    assert.deepEqual(events, ['ABC', 'plain', 'DEF']);
  });

  it('checks the result: 1009 over maxMessageSize, 1007 for invalid text', () => {
    const big = transformHarness({ maxMessageSize: 10 });
    big.conn.receive(fromClient(0x2, 'x', true, true));
    big.conn.finishTransform(new Uint8Array(11));
    assertFailed(big, 1009);
    const bad = transformHarness();
    bad.conn.receive(fromClient(0x1, 'x', true, true));
    bad.conn.finishTransform(Uint8Array.of(0xff));
    assertFailed(bad, 1007);
  });

  it('applies maxMessageSize to the compressed bytes too', () => {
    const h = transformHarness({ maxMessageSize: 10 });
    h.conn.receive(fromClient(0x2, new Uint8Array(11), true, true));
    assertFailed(h, 1009);
    assert.deepEqual(h.pending, []);
  });

  it('failTransform fails the connection with the given error', () => {
    const h = transformHarness();
    h.conn.receive(fromClient(0x2, 'x', true, true));
    h.conn.failTransform(new MessageTooLargeError('inflated too far', 10));
    assertFailed(h, 1009);
  });

  it('fails RSV1 on a continuation frame or a control frame with 1002', () => {
    const t = () => transformHarness();
    const cont = t();
    cont.conn.receive(concat(fromClient(0x1, 'a', false, true), fromClient(0x0, 'b', true, true)));
    assertFailed(cont, 1002);
    const control = t();
    control.conn.receive(fromClient(0x9, 'p', true, true));
    assertFailed(control, 1002);
  });

  it('delivers a transformed message as one piece in streaming mode', () => {
    const h = transformHarness();
    h.conn.setStreaming(true);
    h.conn.receive(fromClient(0x1, 'q', true, true));
    h.conn.finishTransform(text('whole'));
    assert.deepEqual(h.events, [['streamed', 'whole']]);
  });

  it('requires transformMessage when an extension claims bits', () => {
    assert.throws(() => new Connection({ role: 'server', extensions: deflate }, harnessHandler()), InvalidArgumentError);
  });
});

describe('Connection: holding input (holdInput / releaseInput)', () => {
  it('stops parsing after the message whose callback held it, keeps the rest, and parses it on release', () => {
    let conn!: Connection;
    const h = harness({}, {
      message(data) {
        h.events.push(['message', utf8.decode(data)]);
        if (utf8.decode(data) === 'one') conn.holdInput();
      },
    });
    conn = h.conn;
    // A message, then what would fail the connection (opcode 3, section 5.2): nothing of the
    // latter may happen while input is held, so a reply to the message can still be sent first.
    conn.receive(concat(fromClient(0x1, 'one'), fromClient(0x1, 'two'), fromClient(0x3, 'bad')));
    assert.deepEqual(h.events, [['message', 'one']]);
    assert.equal(conn.readyState, 'open');
    assert.ok(conn.bufferedInput > 0);
    conn.receive(fromClient(0x9, 'later'));
    assert.equal(h.events.length, 1, 'input received while held waits too');
    conn.sendMessage(text('reply'), true);
    conn.releaseInput();
    assert.deepEqual(h.events.slice(1), [['out', [1, true, 'reply']], ['message', 'two'], ['out', ['close', 1002, 'reserved opcode']], ['error', 1002]]);
    conn.releaseInput(); // a second release does nothing
  });

  it('is independent of a transform: parsing resumes only when neither is outstanding', () => {
    const deflate = [{ name: 'permessage-deflate', rsvBits: 0x40 }];
    let conn!: Connection;
    const events: string[] = [];
    conn = new Connection(
      { role: 'server', extensions: deflate },
      { ...harnessHandler(), message: (d) => events.push(utf8.decode(d)), transformMessage: () => {} },
    );
    // Held before the transform ends: finishing it delivers the message but parses nothing more.
    conn.receive(concat(fromClient(0x1, 'x', true, true), fromClient(0x1, 'after')));
    conn.holdInput();
    conn.finishTransform(text('inflated'));
    assert.deepEqual(events, ['inflated']);
    conn.releaseInput();
    assert.deepEqual(events, ['inflated', 'after']);
    // Released while a transform is outstanding: the transform's end resumes parsing.
    conn.receive(concat(fromClient(0x1, 'y', true, true), fromClient(0x1, 'last')));
    conn.holdInput();
    conn.releaseInput();
    assert.equal(conn.awaitingTransform, true);
    assert.deepEqual(events, ['inflated', 'after']);
    conn.finishTransform(text('Y'));
    assert.deepEqual(events, ['inflated', 'after', 'Y', 'last']);
  });

  it('a release after the connection failed or closed parses nothing', () => {
    const h = harness();
    h.conn.holdInput();
    h.conn.receive(fromClient(0x1, 'queued'));
    h.conn.failConnection(new ProtocolError('bound reached', 1008));
    h.conn.releaseInput();
    assert.deepEqual(h.events, [['out', ['close', 1008, '']], ['error', 1008]]);
  });
});
