/**
 * Property-based fuzzing of the sans-I/O core: `Connection` (and the `FrameParser` under it) fed
 * random and mutated frame streams, in random chunkings, in both roles, with random limits.
 *
 * The oracle is a small reference model written here from RFC 6455 alone (its own header
 * decoder, unmasking, and the WHATWG UTF-8 decoder for fail-fast text checks), run on the whole
 * stream at once. The real connection, fed the same bytes in any split, must produce exactly the
 * model's events and output: so it never throws, never emits after a protocol error or a close,
 * answers only with pongs and close frames with valid codes, fails with the right code for every
 * violation, and never holds more than its limits allow.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { Connection, type ConnectionHandler, type Role } from '../../src/core/connection.js';
import { AUTO_PONG_BUDGET } from '../../src/core/frame-sequence.js';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { fuzzParameters } from './fuzz-runs.js';

// ------------------------------------------------------------------------------------------------
// Frames, written by hand so that headers may be anything (non-minimal lengths, 2^63 lengths).

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface RawFrame {
  /** The whole first byte: FIN, RSV, opcode. */
  b0: number;
  payload: Uint8Array;
  /** Mask key, or null for an unmasked frame. */
  key: Uint8Array | null;
  /** 0: shortest length form; 1: 16-bit form; 2: 64-bit form (non-minimal unless needed). */
  form: 0 | 1 | 2;
  /** When set, the announced length (the payload bytes that follow may be fewer: a lie). */
  announce?: bigint;
}

function encodeRaw(f: RawFrame): Uint8Array {
  const length = f.announce ?? BigInt(f.payload.length);
  const head: number[] = [f.b0];
  const maskBit = f.key === null ? 0 : 0x80;
  let form = f.form;
  if (length > 0xffffn) form = 2;
  else if (length > 125n && form === 0) form = 1;
  if (form === 0) head.push(maskBit | Number(length));
  else if (form === 1) head.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((length >> shift) & 0xffn));
  }
  const payload = f.payload.slice();
  if (f.key !== null) {
    head.push(...f.key);
    for (let i = 0; i < payload.length; i++) payload[i] ^= f.key[i & 3]!;
  }
  return concat([Uint8Array.from(head), payload]);
}

// ------------------------------------------------------------------------------------------------
// The reference model.

interface Model {
  role: Role;
  maxFrameSize: number;
  maxMessageSize: number;
  maxFragments: number;
  autoPong: boolean;
  streaming: boolean;
  /** permessage-deflate-like extension on RSV1; its transform doubles the message. */
  extension: boolean;
}

/** The transform both sides agree on: the message followed by itself (so it can exceed the limit). */
function transform(data: Uint8Array): Uint8Array {
  return concat([data, data]);
}

function validUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

type Event = readonly unknown[];

/**
 * What RFC 6455 says must happen for `stream` received whole: events and output frames in one
 * sequence (output as ['out', ...]), in the order the core reports them.
 */
function reference(stream: Uint8Array, m: Model): Event[] {
  const events: Event[] = [];
  const n = stream.length;
  let pos = 0;
  let message: { mode: 'buffer' | 'stream' | 'transform'; text: boolean; size: number; fragments: number; parts: Uint8Array[]; decoder: TextDecoder | null } | null = null;
  const fail = (code: number): Event[] => {
    events.push(['out', 'close', code], ['error', code]);
    return events;
  };
  const checkText = (bytes: Uint8Array, final: boolean): boolean => {
    try {
      message!.decoder!.decode(bytes, { stream: !final });
      return true;
    } catch {
      return false;
    }
  };
  for (;;) {
    if (n - pos < 2) return events;
    const b0 = stream[pos]!;
    const b1 = stream[pos + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv = b0 & 0x70;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const control = opcode >= 8;
    // Section 5.2: reserved opcodes; RSV bits no extension claims; (RFC 7692 section 6) claimed
    // bits on control or continuation frames.
    if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10))) return fail(1002);
    if (rsv !== 0 && ((rsv & ~(m.extension ? 0x40 : 0)) !== 0 || opcode === 0 || control)) return fail(1002);
    // Section 5.5: control frames are at most 125 bytes and never fragmented.
    if (control && (len7 > 125 || !fin)) return fail(1002);
    // Section 5.1: clients mask, servers do not.
    if (masked !== (m.role === 'server')) return fail(1002);
    const headerSize = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (n - pos < headerSize) return events;
    let big = BigInt(len7);
    if (len7 === 126) big = (BigInt(stream[pos + 2]!) << 8n) | BigInt(stream[pos + 3]!);
    if (len7 === 127) {
      big = 0n;
      for (let i = 0; i < 8; i++) big = (big << 8n) | BigInt(stream[pos + 2 + i]!);
      if (big >= 1n << 63n) return fail(1002); // section 5.2: the top bit MUST be 0
    }
    const length = Number(big);
    // maxFrameSize bounds control frames and the frames of messages gathered whole, not those of a streamed message.
    if (control && length > m.maxFrameSize) return fail(1009);
    if (!control) {
      if (opcode === 0) {
        // Section 5.4: a continuation needs a message to continue.
        if (message === null) return fail(1002);
        message.fragments++;
        if (message.fragments > m.maxFragments && message.mode !== 'stream') return fail(1009);
      } else {
        // Section 5.4: no new message inside a fragmented one.
        if (message !== null) return fail(1002);
        const mode = rsv !== 0 ? 'transform' : m.streaming ? 'stream' : 'buffer';
        const text = opcode === 1;
        message = { mode, text, size: 0, fragments: 1, parts: [], decoder: text && mode !== 'transform' ? new TextDecoder('utf-8', { fatal: true }) : null };
      }
      if (length > m.maxFrameSize && message.mode !== 'stream') return fail(1009);
      if (message.size + length > m.maxMessageSize && message.mode !== 'stream') return fail(1009);
      message.size += length;
    }
    const start = pos + headerSize;
    const available = Math.min(length, n - start);
    const payload = stream.slice(start, start + available);
    if (masked) {
      const key = stream.subarray(pos + headerSize - 4, pos + headerSize);
      for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3]!;
    }
    if (control) {
      if (available < length) return events;
      if (opcode === 9) {
        if (m.autoPong) events.push(['out', 'pong', hex(payload)]);
        events.push(['ping', hex(payload)]);
      } else if (opcode === 10) {
        events.push(['pong', hex(payload)]);
      } else {
        // Section 5.5.1 / 7.4: a 1-byte body or an invalid code is 1002, a bad reason 1007.
        if (payload.length === 1) return fail(1002);
        if (payload.length === 0) {
          events.push(['out', 'close', null], ['close', 1005, '']);
          return events;
        }
        const code = (payload[0]! << 8) | payload[1]!;
        if (!validCloseCode(code)) return fail(1002);
        const reason = payload.subarray(2);
        if (!validUtf8(reason)) return fail(1007);
        events.push(['out', 'close', code], ['close', code, new TextDecoder().decode(reason)]);
        return events;
      }
    } else {
      const msg = message!;
      const last = fin && available === length;
      // Sections 5.6 / 8.1: text fails at the first fragment that cannot be valid UTF-8.
      if (msg.decoder !== null && !checkText(payload, last)) return fail(1007);
      msg.parts.push(payload);
      if (available < length) return events;
      if (fin) {
        let data = concat(msg.parts);
        if (msg.mode === 'transform') {
          data = transform(data);
          if (data.length > m.maxMessageSize) return fail(1009);
          if (msg.text && !validUtf8(data)) return fail(1007);
        }
        events.push(['message', msg.text, hex(data)]);
        message = null;
      }
    }
    pos = start + length;
  }
}

// ------------------------------------------------------------------------------------------------
// The real connection, observed.

interface Run {
  events: Event[];
  /** Turns: receive calls plus transforms finished outside one (each may end with a coalesced pong). */
  turns: number;
  /** Bytes of pong frames output during each turn, by turn number. */
  pongBytes: number[];
  /** Most memory a partial message held after any receive: its buffer plus the chunks its kept pieces pin. */
  maxBuffered: number;
  threw: unknown[];
}

interface Setup extends Model {
  /** Hand the core Node's native isUtf8 (the long-text path). */
  native: boolean;
  /** Finish transforms at the next receive instead of inside the callback (like async zlib). */
  deferTransform: boolean;
  /** Explicit options (undefined: the core's defaults must equal the model's values). */
  passLimits: boolean;
}

function runConnection(chunks: readonly Uint8Array[], s: Setup): Run {
  const events: Event[] = [];
  const threw: unknown[] = [];
  const pongBytes: number[] = [];
  let ended = false;
  let streamed: { text: boolean; parts: Uint8Array[] } | null = null;
  let pendingTransform: Uint8Array | null = null;
  const after = (what: string): void => {
    if (ended) events.push(['AFTER-END', what]);
  };
  // The peer decodes our output: a server's frames are unmasked, a client's masked (section 5.1).
  const peerRole = s.role === 'server' ? 'client' : 'server';
  const handler: ConnectionHandler = {
    output(out) {
      let bytes = concat(out);
      while (bytes.length > 0) {
        const decoded = decodeFrame(bytes, { role: peerRole, rsvBits: 0 });
        assert.ok(decoded !== null, 'output holds whole frames only');
        const { frame } = decoded;
        if (frame.opcode === 0xa) {
          events.push(['out', 'pong', hex(frame.payload)]);
          pongBytes[turns] = (pongBytes[turns] ?? 0) + decoded.bytesConsumed;
        }
        else if (frame.opcode === 0x8) {
          const p = frame.payload;
          if (p.length === 0) events.push(['out', 'close', null]);
          else {
            const code = (p[0]! << 8) | p[1]!;
            assert.ok(validCloseCode(code), `close code ${code} may be sent`);
            events.push(['out', 'close', code]);
          }
        } else events.push(['out', 'unexpected frame', frame.opcode]);
        bytes = bytes.subarray(decoded.bytesConsumed);
      }
    },
    message(data, isText) {
      after('message');
      events.push(['message', isText, hex(data)]);
    },
    fragment(data, isText, first, fin) {
      after('fragment');
      assert.equal(first, streamed === null, 'first is set on the first piece of a message only');
      streamed ??= { text: isText, parts: [] };
      assert.equal(isText, streamed.text, 'every piece of a message has its type');
      streamed.parts.push(data.slice());
      if (fin) {
        events.push(['message', isText, hex(concat(streamed.parts))]);
        streamed = null;
      }
    },
    ping(payload) {
      after('ping');
      events.push(['ping', hex(payload)]);
    },
    pong(payload) {
      after('pong');
      events.push(['pong', hex(payload)]);
    },
    close(code, reason) {
      after('close');
      ended = true;
      events.push(['close', code, reason]);
    },
    protocolError(error) {
      after('protocolError');
      ended = true;
      events.push(['error', error.closeCode]);
    },
    transformMessage(data) {
      after('transformMessage');
      if (s.deferTransform) pendingTransform = data.slice();
      else connection.finishTransform(transform(data));
    },
  };
  const connection = new Connection(
    {
      role: s.role,
      maxFrameSize: s.passLimits ? s.maxFrameSize : undefined,
      maxMessageSize: s.passLimits ? s.maxMessageSize : undefined,
      maxFragments: s.passLimits ? s.maxFragments : undefined,
      autoPong: s.autoPong,
      extensions: s.extension ? [{ name: 'x-double', rsvBits: 0x40 }] : [],
      isUtf8: s.native ? isUtf8 : undefined,
    },
    handler,
  );
  connection.setStreaming(s.streaming);
  let maxBuffered = 0;
  // White-box: what the core (its message assembler) holds for a message being gathered.
  const internals = (connection as unknown as { assembler: { buffer: Uint8Array | null; pieces: Uint8Array[] | null } }).assembler;
  const held = (): number => {
    let n = internals.buffer?.length ?? 0;
    const pinned = new Set<ArrayBufferLike>();
    for (const piece of internals.pieces ?? []) pinned.add(piece.buffer);
    for (const b of pinned) n += b.byteLength;
    return n;
  };
  let turns = 0;
  const finishPending = (): void => {
    // Finishing one transform may start the next (input queued meanwhile): finish all, in order.
    while (pendingTransform !== null) {
      turns++;
      const data = pendingTransform;
      pendingTransform = null;
      connection.finishTransform(transform(data));
    }
  };
  for (const chunk of chunks) {
    try {
      // An asynchronous transform finishes some time later: here, before the next read.
      finishPending();
      turns++;
      connection.receive(chunk);
    } catch (error) {
      threw.push(error);
    }
    maxBuffered = Math.max(maxBuffered, held());
  }
  try {
    finishPending();
  } catch (error) {
    threw.push(error);
  }
  return { events, turns, pongBytes, maxBuffered, threw };
}

// ------------------------------------------------------------------------------------------------
// Generators: mostly valid traffic, a little noise, then byte-level mutations and a chunking.

const DEFAULTS = { maxFrameSize: 1024 * 1024, maxMessageSize: 1024 * 1024, maxFragments: 262_144 };

const setupArb: fc.Arbitrary<Setup> = fc
  .record({
    role: fc.constantFrom<Role>('server', 'client'),
    passLimits: fc.boolean(),
    maxFrameSize: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 5000 }), fc.constant(Infinity)),
    maxMessageSize: fc.oneof(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 8000 }), fc.constant(Infinity)),
    maxFragments: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 1000 })),
    autoPong: fc.boolean(),
    streaming: fc.boolean(),
    extension: fc.boolean(),
    native: fc.boolean(),
    deferTransform: fc.boolean(),
  })
  .map((s) => (s.passLimits ? s : { ...s, ...DEFAULTS }));

type Item =
  | { kind: 'message'; text: boolean; bytes: Uint8Array; cuts: number[]; rsv1: boolean; between: Array<{ opcode: number; payload: Uint8Array }> }
  | { kind: 'control'; opcode: number; payload: Uint8Array }
  | { kind: 'close'; payload: Uint8Array }
  | { kind: 'raw'; b0: number; payload: Uint8Array; announce: bigint | undefined; maskFlip: boolean };

const encoder = new TextEncoder();
const controlArb = fc.record({ opcode: fc.constantFrom(9, 10), payload: fc.uint8Array({ maxLength: 125 }) });
const itemArb: fc.Arbitrary<Item> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({
        text: fc.boolean(),
        content: fc.oneof(
          { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => encoder.encode(s)) },
          { weight: 2, arbitrary: fc.uint8Array({ maxLength: 1500 }) },
          { weight: 1, arbitrary: fc.integer({ min: 0, max: 9000 }).map((n) => new Uint8Array(n).fill(0x61)) },
        ),
        cuts: fc.array(fc.nat(), { maxLength: 5 }),
        rsv1: fc.boolean(),
        between: fc.array(controlArb, { maxLength: 2 }),
      })
      .map(({ text, content, cuts, rsv1, between }) => ({ kind: 'message' as const, text, bytes: content, cuts, rsv1, between })),
  },
  { weight: 3, arbitrary: controlArb.map((c) => ({ kind: 'control' as const, ...c })) },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.constant(new Uint8Array(0)),
      fc
        .record({ code: fc.oneof(fc.constantFrom(1000, 1001, 1003, 1008, 3000, 4999), fc.integer({ min: 0, max: 65535 })), reason: fc.string({ maxLength: 40 }) })
        .map(({ code, reason }) => concat([Uint8Array.of(code >> 8, code & 0xff), encoder.encode(reason).subarray(0, 123)])),
      fc.uint8Array({ maxLength: 125 }),
    ).map((payload) => ({ kind: 'close' as const, payload })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({
        b0: fc.integer({ min: 0, max: 255 }),
        payload: fc.uint8Array({ maxLength: 300 }),
        announce: fc.option(fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.constant(1n << 40n), fc.constant((1n << 63n) - 1n)), { nil: undefined }),
        maskFlip: fc.boolean(),
      })
      .map((r) => ({ kind: 'raw' as const, ...r })),
  },
);

type Mutation = { kind: 'flip' | 'set' | 'delete' | 'insert' | 'duplicate' | 'truncate'; at: number; size: number; value: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'set', 'delete', 'insert', 'duplicate', 'truncate'),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  size: fc.integer({ min: 1, max: 16 }),
  value: fc.integer({ min: 0, max: 255 }),
});

function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = bytes;
  for (const mu of mutations) {
    if (out.length === 0) break;
    const at = Math.min(out.length - 1, Math.floor(mu.at * out.length));
    const end = Math.min(out.length, at + mu.size);
    switch (mu.kind) {
      case 'flip':
        out = out.slice();
        out[at] ^= 1 << (mu.value & 7);
        break;
      case 'set':
        out = out.slice();
        out[at] = mu.value;
        break;
      case 'delete':
        out = concat([out.subarray(0, at), out.subarray(end)]);
        break;
      case 'insert':
        out = concat([out.subarray(0, at), new Uint8Array(mu.size).fill(mu.value), out.subarray(at)]);
        break;
      case 'duplicate':
        out = concat([out.subarray(0, end), out.subarray(at, end), out.subarray(end)]);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
    }
  }
  return out;
}

function encodeItems(items: readonly Item[], setup: Setup, keys: () => Uint8Array, longForms: () => 0 | 1 | 2): Uint8Array {
  // The peer of a server is a client, which masks (section 5.3).
  const peerMasks = setup.role === 'server';
  const key = (): Uint8Array | null => (peerMasks ? keys() : null);
  const frames: Uint8Array[] = [];
  for (const item of items) {
    if (item.kind === 'message') {
      const cuts = [...new Set(item.cuts.map((c) => c % (item.bytes.length + 1)))].sort((a, b) => a - b);
      const bounds = [0, ...cuts, item.bytes.length];
      const count = bounds.length - 1;
      for (let i = 0; i < count; i++) {
        const fin = i === count - 1;
        const opcode = i === 0 ? (item.text ? 1 : 2) : 0;
        const rsv = i === 0 && item.rsv1 ? 0x40 : 0;
        frames.push(encodeRaw({ b0: (fin ? 0x80 : 0) | rsv | opcode, payload: item.bytes.subarray(bounds[i]!, bounds[i + 1]!), key: key(), form: longForms() }));
        if (i === 0 && !fin) for (const c of item.between) frames.push(encodeRaw({ b0: 0x80 | c.opcode, payload: c.payload, key: key(), form: 0 }));
      }
    } else if (item.kind === 'control') {
      frames.push(encodeRaw({ b0: 0x80 | item.opcode, payload: item.payload, key: key(), form: 0 }));
    } else if (item.kind === 'close') {
      frames.push(encodeRaw({ b0: 0x88, payload: item.payload, key: key(), form: 0 }));
    } else {
      const masked = peerMasks !== item.maskFlip;
      frames.push(encodeRaw({ b0: item.b0, payload: item.payload, key: masked ? keys() : null, form: longForms(), announce: item.announce }));
    }
  }
  return concat(frames);
}

function chunk(bytes: Uint8Array, cuts: readonly number[], byteByByte: boolean): Uint8Array[] {
  // Each chunk is a fresh copy: the connection unmasks received chunks in place.
  if (byteByByte) return Array.from(bytes, (b) => Uint8Array.of(b));
  const points = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.slice(start, p));
    start = p;
  }
  return out;
}

const caseArb = fc.record({
  setup: setupArb,
  items: fc.array(itemArb, { maxLength: 8 }),
  keySeed: fc.integer({ min: 0, max: 0x7fffffff }),
  longForms: fc.boolean(),
  mutations: fc.oneof({ weight: 2, arbitrary: fc.constant([] as Mutation[]) }, { weight: 3, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
  byteByByte: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function build(c: Case): Uint8Array {
  let seed = c.keySeed;
  const next = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  const keys = (): Uint8Array => {
    const v = next();
    return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  };
  const forms = (): 0 | 1 | 2 => (c.longForms ? ((next() % 3) as 0 | 1 | 2) : 0);
  return mutate(encodeItems(c.items, c.setup, keys, forms), c.mutations);
}

/**
 * Section 5.5.2/5.5.3: every pong answers a ping received, in order, with its payload; pings may
 * be answered only through a pong to a later ping; every ping is answered (when autoPong is on)
 * before our close frame; per turn, at most AUTO_PONG_BUDGET bytes of pongs answered one by one,
 * then one more for the latest, whatever the flood.
 */
function checkPongs(run: Run, expected: readonly Event[], setup: Model): void {
  const pings = expected.filter((e) => e[0] === 'ping').map((e) => e[1]);
  const pongs: unknown[] = [];
  let closed = false;
  for (const e of run.events) {
    if (e[0] !== 'out') continue;
    if (e[1] === 'close') closed = true;
    else if (e[1] === 'pong') {
      assert.ok(!closed, 'no pong after our close frame');
      pongs.push(e[2]);
    }
  }
  if (!setup.autoPong) {
    assert.deepEqual(pongs, [], 'no automatic pong when autoPong is off');
    return;
  }
  let next = 0;
  for (const payload of pongs) {
    while (next < pings.length && pings[next] !== payload) next++;
    assert.ok(next < pings.length, `pong ${String(payload)} answers a ping, in order`);
    next++;
  }
  if (pings.length > 0) assert.equal(pongs[pongs.length - 1], pings[pings.length - 1], 'the latest ping is answered');
  // A pong frame is at most 131 bytes (a masked 125-byte payload): the one for the latest ping.
  run.pongBytes.forEach((bytes, turn) => assert.ok(bytes <= AUTO_PONG_BUDGET + 131, `${bytes} bytes of pongs in turn ${turn}`));
}

function check(c: Case): Run {
  const stream = build(c);
  const chunks = chunk(stream, c.cuts, c.byteByByte);
  const expected = reference(stream, c.setup);
  const run = runConnection(chunks, c.setup);
  assert.deepEqual(run.threw, [], 'receive never throws');
  // Pongs depend on the chunking (section 5.5.3 coalescing), so they are checked on their own.
  const isPong = (e: Event): boolean => e[0] === 'out' && e[1] === 'pong';
  assert.deepEqual(run.events.filter((e) => !isPong(e)), expected.filter((e) => !isPong(e)), 'events and output are what RFC 6455 says, in order');
  checkPongs(run, expected, c.setup);
  const errors = run.events.filter((e) => e[0] === 'error');
  assert.ok(errors.length <= 1, 'protocolError at most once');
  for (const e of errors) assert.ok([1002, 1007, 1009].includes(e[1] as number), `error close code ${String(e[1])}`);
  if (Number.isFinite(c.setup.maxMessageSize)) {
    // The buffer stays within the limit; kept pieces pin at most twice their own size.
    assert.ok(run.maxBuffered <= 3 * c.setup.maxMessageSize, `held ${run.maxBuffered} bytes with maxMessageSize ${c.setup.maxMessageSize}`);
  }
  return run;
}

// ------------------------------------------------------------------------------------------------

describe('Fuzz: Connection against a reference model of RFC 6455 (sections 5, 7, 8)', () => {
  it('valid and mutated frame streams in random chunkings give the reference events, output and close codes', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        check(c);
      }),
      fuzzParameters(),
    );
  });

  it('unmutated traffic within the limits is delivered exactly as sent', () => {
    const roomy = setupArb.map((s) => ({ ...s, ...DEFAULTS, passLimits: false }));
    const clean = fc.record({
      setup: roomy,
      items: fc.array(
        itemArb.filter((i) => i.kind === 'message' || i.kind === 'control'),
        { maxLength: 8 },
      ),
      keySeed: fc.integer({ min: 0, max: 0x7fffffff }),
      longForms: fc.boolean(),
      mutations: fc.constant([] as Mutation[]),
      cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
      byteByByte: fc.constant(false),
    });
    fc.assert(
      fc.property(clean, (c) => {
        const run = check(c);
        // Beyond agreeing with the model: a valid stream never fails, and every message arrives.
        const valid = c.items.every((i) => i.kind !== 'message' || ((!i.text || validUtf8(i.bytes)) && (!i.rsv1 || c.setup.extension)));
        if (valid) {
          assert.equal(run.events.filter((e) => e[0] === 'error').length, 0, 'no error on valid traffic');
          assert.equal(run.events.filter((e) => e[0] === 'message').length, c.items.filter((i) => i.kind === 'message').length, 'every message delivered');
        }
      }),
      fuzzParameters(2),
    );
  });

  it('the model agrees with the known close codes of hand-picked violations', () => {
    // Guards the oracle itself: if the model drifted, the properties above would prove nothing.
    const server: Model = { role: 'server', ...DEFAULTS, autoPong: true, streaming: false, extension: false };
    const key = Uint8Array.of(1, 2, 3, 4);
    const frame = (b0: number, payload: Uint8Array, announce?: bigint): Uint8Array => encodeRaw({ b0, payload, key, form: 0, announce });
    const last = (events: Event[]): Event => events[events.length - 1]!;
    assert.deepEqual(last(reference(frame(0x83, new Uint8Array(0)), server)), ['error', 1002], 'reserved opcode');
    assert.deepEqual(last(reference(frame(0xc1, new Uint8Array(0)), server)), ['error', 1002], 'RSV1 without an extension');
    assert.deepEqual(last(reference(frame(0x09, new Uint8Array(0)), server)), ['error', 1002], 'fragmented ping');
    assert.deepEqual(last(reference(frame(0x80, new Uint8Array(0)), server)), ['error', 1002], 'continuation without a message');
    assert.deepEqual(last(reference(frame(0x82, new Uint8Array(0), 1n << 40n), server)), ['error', 1009], '2^40-byte frame');
    assert.deepEqual(last(reference(frame(0x81, Uint8Array.of(0xff)), server)), ['error', 1007], 'invalid UTF-8');
    assert.deepEqual(last(reference(frame(0x88, Uint8Array.of(3, 0xe8 + 5)), server)), ['error', 1002], 'close code 1005 on the wire');
    assert.deepEqual(reference(frame(0x89, Uint8Array.of(7)), server), [['out', 'pong', '07'], ['ping', '07']], 'ping answered');
    const c = runConnection([frame(0x82, new Uint8Array(0), 1n << 40n)], { ...server, native: false, deferTransform: false, passLimits: false });
    assert.deepEqual(c.events, [['out', 'close', 1009], ['error', 1009]]);
  });
});
