/**
 * The conformance cases, shared by both roles: what Autobahn|Testsuite checks in its categories
 * 1-7, 9, 10, 12 and 13, written anew for hybi (the numbering follows Autobahn's so that a result
 * can be compared with a real wstest report; cases Autobahn does not have continue its numbering
 * within their category and say "extra" in their title).
 *
 * Every case plays over its own connection against an endpoint that echoes every message as it
 * arrives (Autobahn's testee behaviour). Where Autobahn waits a second to see whether something
 * happens, the cases here wait for an event instead: a ping/pong round trip ('sync') proves the
 * peer processed everything sent before it and kept the connection open; 'awaitClose' requires the
 * peer to fail the connection before anything more is sent (fail fast). Only a frame delivered in
 * pieces, where no ping can go, waits a short quiet time.
 */
import { Op, utf8Status, type ConformanceCase, type DeflateVariant, type FrameSpec, type Step, type WireEvent } from './harness.js';

export interface CaseGroup {
  /** Autobahn's top-level category. */
  id: string;
  title: string;
  cases: ConformanceCase[];
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const repeat = (unit: string, length: number): Buffer => Buffer.from(unit.repeat(Math.ceil(length / unit.length)).slice(0, length), 'latin1');
const fill = (byte: number, length: number): Buffer => Buffer.alloc(length, byte);

const message = (data: Uint8Array, binary = false): WireEvent => ({ type: 'message', binary, data: Buffer.from(data) });
const pong = (data: Uint8Array): WireEvent => ({ type: 'pong', data: Buffer.from(data) });

/** The fuzzer closes with 1000 once the expected events are in; the peer answers 1000. */
const NORMAL = { by: 'fuzzer', codes: [1000] } as const;
/** The peer must fail the connection with this code. */
const fails = (code: number): ConformanceCase['close'] => ({ by: 'peer', codes: [code] });

const frame = (opcode: number, payload?: Uint8Array, more?: { fin?: boolean; rsv?: number }): FrameSpec => ({ opcode, payload, ...more });
const send = (frames: FrameSpec[], chop?: number | 'frame'): Step => ({ do: 'send', frames, chop });
const text = (s: string | Uint8Array, fin = true): FrameSpec => frame(Op.Text, typeof s === 'string' ? utf8(s) : s, { fin });
const cont = (s: string | Uint8Array, fin = true): FrameSpec => frame(Op.Continuation, typeof s === 'string' ? utf8(s) : s, { fin });

function echo(id: string, title: string, payload: Uint8Array, binary: boolean, more: Partial<Extract<Step, { do: 'message' }>> = {}, timeout?: number): ConformanceCase {
  return { id, title, steps: [{ do: 'message', binary, payload, ...more }], expect: [message(payload, binary)], close: NORMAL, timeout };
}

const HELLO = 'Hello, world!';

// ------------------------------------------------------------------------------------------------
// 1 Framing: payload lengths at the boundaries of the 7-bit, 16-bit and 64-bit length forms.

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];

const framing: CaseGroup = {
  id: '1',
  title: 'Framing: text and binary payload lengths',
  cases: [
    ...LENGTHS.map((n, i) => echo(`1.1.${i + 1}`, `text message of ${n} bytes`, repeat('*', n), false)),
    echo('1.1.8', 'text message of 65536 bytes delivered in writes of 997 bytes', repeat('*', 65536), false, { chop: 997 }),
    ...LENGTHS.map((n, i) => echo(`1.2.${i + 1}`, `binary message of ${n} bytes`, fill(0xfe, n), true)),
    echo('1.2.8', 'binary message of 65536 bytes delivered in writes of 997 bytes', fill(0xfe, 65536), true, { chop: 997 }),
  ],
};

// ------------------------------------------------------------------------------------------------
// 2 Pings and pongs (RFC 6455 sections 5.5.2, 5.5.3).

const tenPings = Array.from({ length: 10 }, (_, i) => utf8(`payload-${i}`));

const pings: CaseGroup = {
  id: '2',
  title: 'Pings and pongs',
  cases: [
    { id: '2.1', title: 'ping without payload', steps: [send([frame(Op.Ping)])], expect: [pong(new Uint8Array(0))], close: NORMAL },
    { id: '2.2', title: 'ping with a text payload', steps: [send([frame(Op.Ping, utf8(HELLO))])], expect: [pong(utf8(HELLO))], close: NORMAL },
    {
      id: '2.3',
      title: 'ping with a binary payload',
      steps: [send([frame(Op.Ping, hex('00ff fefd fcfb 00ff'))])],
      expect: [pong(hex('00ff fefd fcfb 00ff'))],
      close: NORMAL,
    },
    { id: '2.4', title: 'ping with a 125-byte payload', steps: [send([frame(Op.Ping, fill(0xfe, 125))])], expect: [pong(fill(0xfe, 125))], close: NORMAL },
    { id: '2.5', title: 'ping with a 126-byte payload: control frames carry at most 125', steps: [send([frame(Op.Ping, fill(0xfe, 126))])], expect: [], close: fails(1002) },
    {
      id: '2.6',
      title: 'ping with a 125-byte payload delivered one byte per write',
      steps: [send([frame(Op.Ping, fill(0x36, 125))], 1)],
      expect: [pong(fill(0x36, 125))],
      close: NORMAL,
    },
    { id: '2.7', title: 'unsolicited pong without payload is ignored', steps: [send([frame(Op.Pong)])], expect: [], close: NORMAL },
    { id: '2.8', title: 'unsolicited pong with payload is ignored', steps: [send([frame(Op.Pong, utf8('unsolicited pong'))])], expect: [], close: NORMAL },
    {
      id: '2.9',
      title: 'unsolicited pong, then a ping: only the ping is answered',
      steps: [send([frame(Op.Pong, utf8('unsolicited pong')), frame(Op.Ping, utf8('ping payload'))])],
      expect: [pong(utf8('ping payload'))],
      close: NORMAL,
    },
    {
      id: '2.10',
      title: 'ten pings in one write: ten pongs, in order',
      steps: [send(tenPings.map((p) => frame(Op.Ping, p)))],
      expect: tenPings.map(pong),
      close: NORMAL,
    },
    {
      id: '2.11',
      title: 'ten pings delivered one byte per write: ten pongs, in order',
      steps: [send(tenPings.map((p) => frame(Op.Ping, p)), 1)],
      expect: tenPings.map(pong),
      close: NORMAL,
    },
  ],
};

// ------------------------------------------------------------------------------------------------
// 3 Reserved bits (section 5.2: non-zero RSV without an extension fails the connection).

const rsvThenPing = (rsv: number, chop?: number | 'frame'): Step[] => [send([text(HELLO), frame(Op.Text, utf8(HELLO), { rsv }), frame(Op.Ping)], chop)];

const reservedBits: CaseGroup = {
  id: '3',
  title: 'Reserved bits',
  cases: [
    { id: '3.1', title: 'text frame with RSV3 set', steps: [send([frame(Op.Text, utf8(HELLO), { rsv: 1 })])], expect: [], close: fails(1002) },
    {
      id: '3.2',
      title: 'text, then text with RSV2, then ping: the first is echoed, then the connection fails',
      steps: rsvThenPing(2),
      expect: [message(utf8(HELLO))],
      close: fails(1002),
    },
    { id: '3.3', title: 'as 3.2 with RSV2|RSV3, one write per frame', steps: rsvThenPing(3, 'frame'), expect: [message(utf8(HELLO))], close: fails(1002) },
    { id: '3.4', title: 'as 3.2 with RSV1, one byte per write', steps: rsvThenPing(4, 1), expect: [message(utf8(HELLO))], close: fails(1002) },
    {
      id: '3.5',
      title: 'binary frame with RSV1|RSV3 set',
      steps: [send([frame(Op.Binary, Buffer.from(Array.from({ length: 256 }, (_, i) => i)), { rsv: 5 })])],
      expect: [],
      close: fails(1002),
    },
    { id: '3.6', title: 'ping with RSV1|RSV2 set', steps: [send([frame(Op.Ping, utf8(HELLO), { rsv: 6 })])], expect: [], close: fails(1002) },
    { id: '3.7', title: 'close with all RSV bits set', steps: [send([frame(Op.Close, hex('03e8'), { rsv: 7 })])], expect: [], close: fails(1002) },
  ],
};

// ------------------------------------------------------------------------------------------------
// 4 Reserved opcodes (section 5.2: an unknown opcode fails the connection).

function opcodeCases(prefix: string, opcodes: number[], kind: string): ConformanceCase[] {
  const [a, b, c, d, e] = opcodes as [number, number, number, number, number];
  const payload = utf8('reserved opcode payload');
  return [
    { id: `${prefix}.1`, title: `${kind} opcode ${a}`, steps: [send([frame(a)])], expect: [], close: fails(1002) },
    { id: `${prefix}.2`, title: `${kind} opcode ${b} with payload`, steps: [send([frame(b, payload)])], expect: [], close: fails(1002) },
    {
      id: `${prefix}.3`,
      title: `text, then opcode ${c}, then ping: the text is echoed, then the connection fails`,
      steps: [send([text(HELLO), frame(c), frame(Op.Ping)])],
      expect: [message(utf8(HELLO))],
      close: fails(1002),
    },
    {
      id: `${prefix}.4`,
      title: `text, then opcode ${d} with payload, then ping`,
      steps: [send([text(HELLO), frame(d, payload), frame(Op.Ping)])],
      expect: [message(utf8(HELLO))],
      close: fails(1002),
    },
    {
      id: `${prefix}.5`,
      title: `text, then opcode ${e} with payload, then ping, one write per frame`,
      steps: [send([text(HELLO), frame(e, payload), frame(Op.Ping)], 'frame')],
      expect: [message(utf8(HELLO))],
      close: fails(1002),
    },
  ];
}

const reservedOpcodes: CaseGroup = {
  id: '4',
  title: 'Reserved opcodes',
  cases: [...opcodeCases('4.1', [3, 4, 5, 6, 7], 'non-control'), ...opcodeCases('4.2', [11, 12, 13, 14, 15], 'control')],
};

// ------------------------------------------------------------------------------------------------
// 5 Fragmentation (section 5.4).

const twoFragments = [text('fragment1', false), cont('fragment2')];
const withPing = [text('fragment1', false), frame(Op.Ping, utf8('ping payload')), cont('fragment2')];
const fragments5 = ['fragment1', 'fragment2', 'fragment3', 'fragment4', 'fragment5'];

function fragmentedWithPings(chop?: 'frame'): Step[] {
  return [
    send([text(fragments5[0]!, false), cont(fragments5[1]!, false), frame(Op.Ping, utf8('pongme 1!'))], chop),
    // Autobahn waits a second here; the pong shows the first part was taken without failing.
    { do: 'awaitEvents', count: 1 },
    send([cont(fragments5[2]!, false), cont(fragments5[3]!, false), frame(Op.Ping, utf8('pongme 2!')), cont(fragments5[4]!)], chop),
  ];
}

// Frames of 5.23 sent in parts: the parts of one frame share its object (and so its masking key).
const SPLIT_A = frame(Op.Binary, hex('0102030405'), { fin: false });
const SPLIT_B = cont(hex('060708'));

const manyFragments = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));

const fragmentation: CaseGroup = {
  id: '5',
  title: 'Fragmentation',
  cases: [
    { id: '5.1', title: 'ping in two fragments', steps: [send([frame(Op.Ping, utf8('fragment1'), { fin: false }), cont('fragment2')])], expect: [], close: fails(1002) },
    { id: '5.2', title: 'pong in two fragments', steps: [send([frame(Op.Pong, utf8('fragment1'), { fin: false }), cont('fragment2')])], expect: [], close: fails(1002) },
    { id: '5.3', title: 'text message in two fragments', steps: [send(twoFragments)], expect: [message(utf8('fragment1fragment2'))], close: NORMAL },
    { id: '5.4', title: 'as 5.3, one byte per write', steps: [send(twoFragments, 1)], expect: [message(utf8('fragment1fragment2'))], close: NORMAL },
    { id: '5.5', title: 'as 5.3, one write per frame', steps: [send(twoFragments, 'frame')], expect: [message(utf8('fragment1fragment2'))], close: NORMAL },
    {
      id: '5.6',
      title: 'text message in two fragments with a ping between them',
      steps: [send(withPing)],
      expect: [pong(utf8('ping payload')), message(utf8('fragment1fragment2'))],
      close: NORMAL,
    },
    { id: '5.7', title: 'as 5.6, one byte per write', steps: [send(withPing, 1)], expect: [pong(utf8('ping payload')), message(utf8('fragment1fragment2'))], close: NORMAL },
    { id: '5.8', title: 'as 5.6, one write per frame', steps: [send(withPing, 'frame')], expect: [pong(utf8('ping payload')), message(utf8('fragment1fragment2'))], close: NORMAL },
    { id: '5.9', title: 'final continuation frame with nothing to continue, then text', steps: [send([cont('non-continuation payload'), text(HELLO)])], expect: [], close: fails(1002) },
    { id: '5.10', title: 'as 5.9, one write per frame', steps: [send([cont('non-continuation payload'), text(HELLO)], 'frame')], expect: [], close: fails(1002) },
    { id: '5.11', title: 'as 5.9, one byte per write', steps: [send([cont('non-continuation payload'), text(HELLO)], 1)], expect: [], close: fails(1002) },
    { id: '5.12', title: 'non-final continuation frame with nothing to continue, then text', steps: [send([cont('non-continuation payload', false), text(HELLO)])], expect: [], close: fails(1002) },
    { id: '5.13', title: 'as 5.12, one write per frame', steps: [send([cont('non-continuation payload', false), text(HELLO)], 'frame')], expect: [], close: fails(1002) },
    { id: '5.14', title: 'as 5.12, one byte per write', steps: [send([cont('non-continuation payload', false), text(HELLO)], 1)], expect: [], close: fails(1002) },
    {
      id: '5.15',
      title: 'a message in two fragments, then a continuation with nothing to continue: the message is echoed, then the connection fails',
      steps: [send([text('fragment1', false), cont('fragment2'), cont('fragment3', false), text('fragment4')])],
      expect: [message(utf8('fragment1fragment2'))],
      close: fails(1002),
    },
    {
      id: '5.16',
      title: 'twice: a non-final continuation with nothing to continue, then a message in two fragments',
      steps: [send([cont('fragment1', false), text('fragment2', false), cont('fragment3'), cont('fragment1', false), text('fragment2', false), cont('fragment3')])],
      expect: [],
      close: fails(1002),
    },
    {
      id: '5.17',
      title: 'twice: a final continuation with nothing to continue, then a message in two fragments',
      steps: [send([cont('fragment1'), text('fragment2', false), cont('fragment3'), cont('fragment1'), text('fragment2', false), cont('fragment3')])],
      expect: [],
      close: fails(1002),
    },
    { id: '5.18', title: 'a text fragment followed by another text frame instead of a continuation', steps: [send([text('fragment1', false), text('fragment2')])], expect: [], close: fails(1002) },
    {
      id: '5.19',
      title: 'a message in five fragments with two pings among them, the second half sent after the first pong',
      steps: fragmentedWithPings(),
      expect: [pong(utf8('pongme 1!')), pong(utf8('pongme 2!')), message(utf8(fragments5.join('')))],
      close: NORMAL,
    },
    {
      id: '5.20',
      title: 'as 5.19, one write per frame',
      steps: fragmentedWithPings('frame'),
      expect: [pong(utf8('pongme 1!')), pong(utf8('pongme 2!')), message(utf8(fragments5.join('')))],
      close: NORMAL,
    },
    {
      id: '5.21',
      title: 'extra: text message in 1-byte fragments delivered in 5-byte writes (frames cut across reads)',
      steps: [send([...utf8('fragmented!')].map((b, i, all) => frame(i === 0 ? Op.Text : Op.Continuation, Buffer.from([b]), { fin: i === all.length - 1 })), 5)],
      expect: [message(utf8('fragmented!'))],
      close: NORMAL,
    },
    {
      id: '5.22',
      title: 'extra: binary message in 1000 fragments, one byte each, in one write',
      steps: [{ do: 'message', binary: true, payload: manyFragments, fragmentSize: 1 }],
      expect: [message(manyFragments, true)],
      close: NORMAL,
    },
    {
      id: '5.23',
      title: 'extra: a message whose middle fragment is empty, a ping between every two fragments, each fragment delivered in two writes',
      steps: [
        { do: 'framePart', frame: SPLIT_A, from: 0, to: 2 },
        { do: 'framePart', frame: SPLIT_A, from: 2, to: 5 },
        send([frame(Op.Ping, utf8('between 1'))]),
        send([cont(new Uint8Array(0), false)]),
        send([frame(Op.Ping, utf8('between 2'))]),
        { do: 'framePart', frame: SPLIT_B, from: 0, to: 1 },
        { do: 'framePart', frame: SPLIT_B, from: 1, to: 3 },
      ],
      expect: [pong(utf8('between 1')), pong(utf8('between 2')), message(hex('0102030405060708'), true)],
      close: NORMAL,
    },
  ],
};

// ------------------------------------------------------------------------------------------------
// 6 UTF-8 (sections 5.6, 8.1: invalid text fails the connection with 1007, as early as possible).

const KOSME = hex('ceba e1bdb9 cf83 cebc ceb5'); // κόσμε, the opening of Markus Kuhn's test file
const GREETING = utf8('Hello-µ@ßöäüàá-UTF-8!!');
/** Valid text, then a UTF-16 surrogate encoded as UTF-8 (invalid at its second byte), then more text. */
const WITH_SURROGATE = Buffer.concat([KOSME, hex('eda080'), utf8('edited')]);
/** As Autobahn 6.4: valid text, then F4 90 80 80 (beyond U+10FFFF, invalid at 0x90), then more. */
const PART1 = KOSME;
const PART2 = hex('f4908080');
const PART3 = utf8('edited');
const OUT_OF_RANGE = Buffer.concat([PART1, PART2, PART3]);

function oneByteFrames(data: Uint8Array, count = data.length): FrameSpec[] {
  return [...data.subarray(0, count)].map((b, i) => frame(i === 0 ? Op.Text : Op.Continuation, Buffer.from([b]), { fin: i === data.length - 1 }));
}

const code = (cp: number): Buffer => Buffer.from(String.fromCodePoint(cp), 'utf8');
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Markus Kuhn's UTF-8 decoder capability and stress test, section by section (the byte sequences
 * are his; which are valid is decided here by the reference validator, not by a flag).
 */
const KUHN: Array<{ title: string; vectors: Buffer[] }> = [
  {
    title: 'some valid UTF-8 text',
    vectors: [utf8('hello$world'), utf8('hello¢world'), utf8('hello€world'), utf8('hello𤭢world'), KOSME],
  },
  { title: 'every prefix of κόσμε (those ending inside a code point are invalid)', vectors: range(1, KOSME.length).map((n) => KOSME.subarray(0, n)) },
  { title: 'first possible sequence of each length', vectors: [hex('00'), hex('c280'), hex('e0a080'), hex('f0908080')] },
  { title: 'first possible 5- and 6-byte sequences (not UTF-8)', vectors: [hex('f888808080'), hex('fc8480808080')] },
  { title: 'last possible sequence of each length', vectors: [hex('7f'), hex('dfbf'), hex('efbfbf'), hex('f48fbfbf')] },
  { title: 'last possible 4-, 5- and 6-byte sequences (beyond U+10FFFF)', vectors: [hex('f7bfbfbf'), hex('fbbfbfbfbf'), hex('fdbfbfbfbfbf')] },
  { title: 'other boundary conditions', vectors: [hex('ed9fbf'), hex('ee8080'), hex('efbfbd'), hex('f48fbfbf'), hex('f4908080')] },
  {
    title: 'unexpected continuation bytes',
    vectors: [hex('80'), hex('bf'), hex('80bf'), hex('80bf80'), hex('80bf80bf'), hex('80bf80bf80'), hex('80bf80bf80bf'), Buffer.from(range(0x80, 0xbf))],
  },
  {
    title: 'lonely start bytes, each followed by a space',
    vectors: [
      [0xc0, 0xdf],
      [0xe0, 0xef],
      [0xf0, 0xf7],
      [0xf8, 0xfb],
      [0xfc, 0xfd],
    ].map(([a, b]) => Buffer.from(range(a!, b!).flatMap((x) => [x, 0x20]))),
  },
  {
    title: 'sequences with the last continuation byte missing',
    vectors: ['c0', 'e080', 'f08080', 'f8808080', 'fc80808080', 'df', 'efbf', 'f7bfbf', 'fbbfbfbf', 'fdbfbfbfbf'].map(hex),
  },
  { title: 'all of the above incomplete sequences concatenated', vectors: [hex('c0 e080 f08080 f8808080 fc80808080 df efbf f7bfbf fbbfbfbf fdbfbfbfbf')] },
  { title: 'impossible bytes', vectors: [hex('fe'), hex('ff'), hex('fefeffff')] },
  { title: 'overlong encodings of "/"', vectors: ['c0af', 'e080af', 'f08080af', 'f8808080af', 'fc80808080af'].map(hex) },
  { title: 'maximally overlong sequences', vectors: ['c1bf', 'e09fbf', 'f08fbfbf', 'f887bfbfbf', 'fc83bfbfbfbf'].map(hex) },
  { title: 'overlong encodings of NUL', vectors: ['c080', 'e08080', 'f0808080', 'f880808080', 'fc8080808080'].map(hex) },
  { title: 'single UTF-16 surrogates', vectors: ['eda080', 'edadbf', 'edae80', 'edafbf', 'edb080', 'edbe80', 'edbfbf'].map(hex) },
  {
    title: 'paired UTF-16 surrogates',
    vectors: ['eda080', 'edadbf', 'edae80', 'edafbf'].flatMap((high) => ['edb080', 'edbfbf'].map((low) => hex(high + low))),
  },
  {
    title: 'noncharacters (valid UTF-8)',
    vectors: [code(0xfffe), code(0xffff), ...range(1, 16).flatMap((plane) => [code(plane * 0x10000 + 0xfffe), code(plane * 0x10000 + 0xffff)]), code(0xfdd0), code(0xfdef)],
  },
  { title: 'the Specials block, U+FFF9 to U+FFFF (valid UTF-8)', vectors: range(0xfff9, 0xffff).map(code) },
];

function vectorCase(id: string, section: string, bytes: Buffer): ConformanceCase {
  const valid = utf8Status(bytes) === 'valid';
  return valid
    ? { id, title: `${section}: valid 0x${bytes.toString('hex')} in one frame is echoed`, steps: [send([text(bytes)])], expect: [message(bytes)], close: NORMAL }
    : { id, title: `${section}: invalid 0x${bytes.toString('hex')} in one frame fails with 1007`, steps: [send([text(bytes)])], expect: [], close: fails(1007) };
}

/**
 * Extra: every vector sent as two fragments, split at every position. Valid vectors go over one
 * connection per Kuhn section, all splits in a row, each echoed. An invalid vector gets one
 * connection per split position: when the first fragment already holds the byte that makes the
 * text invalid, the peer must fail before the second fragment is sent (fail fast); otherwise the
 * second fragment follows and the peer fails on it. Positions past the first one after the bad
 * byte would only repeat that case and are left out.
 */
function splitCases(section: number, vectors: Buffer[]): ConformanceCase[] {
  const cases: ConformanceCase[] = [];
  const valid = vectors.filter((v) => utf8Status(v) === 'valid' && v.length > 1);
  if (valid.length > 0) {
    const steps: Step[] = [];
    const expect: WireEvent[] = [];
    for (const v of valid) {
      for (let p = 1; p < v.length; p++) {
        steps.push(send([text(v.subarray(0, p), false), cont(v.subarray(p))]));
        expect.push(message(v));
      }
    }
    cases.push({ id: `6.${section}.0`, title: 'extra: every valid vector of the section in two fragments, split at every position', steps, expect, close: NORMAL });
  }
  vectors.forEach((v, k) => {
    const status = utf8Status(v);
    if (status === 'valid') return;
    const last = typeof status === 'number' ? Math.min(v.length - 1, status + 1) : v.length - 1;
    for (let p = 1; p <= last; p++) {
      const early = typeof status === 'number' && status < p;
      const first = text(v.subarray(0, p), false);
      cases.push({
        id: `6.${section}.${k + 1}/${p}`,
        title: `extra: invalid text 0x${v.toString('hex')} split after byte ${p}: fail ${early ? 'on the first fragment, before the second is sent' : 'on the second fragment'}`,
        steps: early ? [send([first]), { do: 'awaitClose' }] : [send([first]), { do: 'sync' }, send([cont(v.subarray(p))])],
        expect: [],
        close: fails(1007),
      });
    }
  });
  return cases;
}

/** Every Unicode scalar value, U+0000 to U+10FFFF without the surrogates, as UTF-8 (4.3 MB). */
function everyScalarValue(): Buffer {
  const parts: string[] = [];
  for (let cp = 0; cp <= 0x10ffff; cp += 0x1000) {
    let chunk = '';
    for (let c = cp; c < cp + 0x1000; c++) if (c < 0xd800 || c > 0xdfff) chunk += String.fromCodePoint(c);
    parts.push(chunk);
  }
  return Buffer.from(parts.join(''), 'utf8');
}

const SCALARS = everyScalarValue();
const SPLIT_431 = frame(Op.Text, OUT_OF_RANGE);
const SPLIT_441 = frame(Op.Text, OUT_OF_RANGE);

const utf8Handling: CaseGroup = {
  id: '6',
  title: 'UTF-8 handling',
  cases: [
    { id: '6.1.1', title: 'empty text message', steps: [send([text('')])], expect: [message(utf8(''))], close: NORMAL },
    { id: '6.1.2', title: 'text message of three empty fragments', steps: [send([text('', false), cont('', false), cont('')])], expect: [message(utf8(''))], close: NORMAL },
    {
      id: '6.1.3',
      title: 'text message of an empty, a non-empty and an empty fragment',
      steps: [send([text('', false), cont('middle frame payload', false), cont('')])],
      expect: [message(utf8('middle frame payload'))],
      close: NORMAL,
    },
    { id: '6.2.1', title: 'valid UTF-8 in one frame', steps: [send([text(GREETING)])], expect: [message(GREETING)], close: NORMAL },
    {
      id: '6.2.2',
      title: 'valid UTF-8 in two fragments split at a code point boundary',
      steps: [send([text(GREETING.subarray(0, 8), false), cont(GREETING.subarray(8))])],
      expect: [message(GREETING)],
      close: NORMAL,
    },
    { id: '6.2.3', title: 'valid UTF-8 in 1-byte fragments (split inside code points)', steps: [send(oneByteFrames(GREETING))], expect: [message(GREETING)], close: NORMAL },
    { id: '6.2.4', title: 'κόσμε in 1-byte fragments', steps: [send(oneByteFrames(KOSME))], expect: [message(KOSME)], close: NORMAL },
    { id: '6.3.1', title: 'invalid UTF-8 (a surrogate) in one frame', steps: [send([text(WITH_SURROGATE)])], expect: [], close: fails(1007) },
    {
      id: '6.3.2',
      title: 'the same in 1-byte fragments: fails on the fragment with the bad byte, before the rest is sent',
      // The surrogate ED A0 80 starts at byte 11; A0 (byte 12) makes the text invalid.
      steps: [send(oneByteFrames(WITH_SURROGATE, 13), 'frame'), { do: 'awaitClose' }],
      expect: [],
      close: fails(1007),
    },
    {
      id: '6.4.1',
      title: 'fail fast: valid fragment, then a fragment holding a code point beyond U+10FFFF, the final fragment never sent',
      steps: [send([text(PART1, false)]), { do: 'sync' }, send([cont(PART2, false)]), { do: 'awaitClose' }],
      expect: [],
      close: fails(1007),
    },
    {
      id: '6.4.2',
      title: 'fail fast: as 6.4.1, the second fragment being only the byte that makes the text invalid',
      steps: [send([text(OUT_OF_RANGE.subarray(0, 12), false)]), { do: 'sync' }, send([cont(OUT_OF_RANGE.subarray(12, 13), false)]), { do: 'awaitClose' }],
      expect: [],
      close: fails(1007),
    },
    {
      id: '6.4.3',
      title: 'fail fast within one frame: its payload delivered in parts, the part with the bad code point fails before the frame ends',
      steps: [
        { do: 'framePart', frame: SPLIT_431, from: 0, to: 11 },
        { do: 'quiet', ms: 50 },
        { do: 'framePart', frame: SPLIT_431, from: 11, to: 15 },
        { do: 'awaitClose' },
      ],
      expect: [],
      close: fails(1007),
    },
    {
      id: '6.4.4',
      title: 'fail fast within one frame: as 6.4.3, the second part being only the bad byte',
      steps: [
        { do: 'framePart', frame: SPLIT_441, from: 0, to: 12 },
        { do: 'quiet', ms: 50 },
        { do: 'framePart', frame: SPLIT_441, from: 12, to: 13 },
        { do: 'awaitClose' },
      ],
      expect: [],
      close: fails(1007),
    },
    ...KUHN.flatMap((section, s) => section.vectors.map((v, k) => vectorCase(`6.${s + 5}.${k + 1}`, section.title, v))),
    ...KUHN.flatMap((section, s) => splitCases(s + 5, section.vectors)),
    {
      id: '6.24.1',
      title: 'extra: every Unicode scalar value (4.3 MB) in fragments of 1021 bytes, code points cut across fragments',
      steps: [{ do: 'message', binary: false, payload: SCALARS, fragmentSize: 1021 }],
      expect: [message(SCALARS)],
      close: NORMAL,
      timeout: 10_000,
    },
  ],
};

// ------------------------------------------------------------------------------------------------
// 7 Closing (sections 5.5.1, 7).

const closeCode = (c: number, reason?: Uint8Array): Step => ({ do: 'close', code: c, reason });
const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999];
const BIG = repeat('BAsd7&jh23', 256 * 1024);

const closing: CaseGroup = {
  id: '7',
  title: 'Closing handshake',
  cases: [
    { id: '7.1.1', title: 'a message, then a close: the echo comes before the close reply', steps: [send([text(HELLO)]), closeCode(1000)], expect: [message(utf8(HELLO))], close: NORMAL },
    { id: '7.1.2', title: 'two close frames: one reply', steps: [closeCode(1000), closeCode(1000)], expect: [], close: NORMAL },
    { id: '7.1.3', title: 'a ping after the close is not answered', steps: [closeCode(1000), send([frame(Op.Ping, utf8(HELLO))])], expect: [], close: NORMAL },
    { id: '7.1.4', title: 'a message after the close is not echoed', steps: [closeCode(1000), send([text(HELLO)])], expect: [], close: NORMAL },
    {
      id: '7.1.5',
      title: 'first fragment, close, last fragment: no message',
      steps: [send([text('fragment1', false)]), closeCode(1000), send([cont('fragment2')])],
      expect: [],
      close: NORMAL,
    },
    {
      id: '7.1.6',
      title: 'a 256 KiB message, a small one, a close and a ping: both echoed before the close reply, no pong',
      steps: [send([text(BIG), text(HELLO)]), closeCode(1000), send([frame(Op.Ping)])],
      expect: [message(BIG), message(utf8(HELLO))],
      close: NORMAL,
      timeout: 5000,
    },
    { id: '7.3.1', title: 'close without payload', steps: [{ do: 'close' }], expect: [], close: { by: 'fuzzer', codes: [1000, 1005] } },
    { id: '7.3.2', title: 'close with a 1-byte payload', steps: [{ do: 'close', payload: utf8('a') }], expect: [], close: { by: 'fuzzer', codes: [1002] } },
    { id: '7.3.3', title: 'close with 1000 and no reason', steps: [closeCode(1000)], expect: [], close: NORMAL },
    { id: '7.3.4', title: 'close with 1000 and a reason', steps: [closeCode(1000, utf8('Hello World!'))], expect: [], close: NORMAL },
    { id: '7.3.5', title: 'close with 1000 and a 123-byte reason', steps: [closeCode(1000, repeat('*', 123))], expect: [], close: NORMAL },
    {
      id: '7.3.6',
      title: 'close with 1000 and a 124-byte reason (a 126-byte control frame)',
      steps: [closeCode(1000, repeat('*', 124))],
      expect: [],
      close: { by: 'fuzzer', codes: [1002] },
    },
    {
      id: '7.5.1',
      title: 'close with a reason that is not UTF-8',
      steps: [closeCode(1000, WITH_SURROGATE)],
      expect: [],
      close: { by: 'fuzzer', codes: [1002, 1007] },
    },
    ...VALID_CODES.map((c, i) => ({ id: `7.7.${i + 1}`, title: `close with valid code ${c}`, steps: [closeCode(c)], expect: [], close: { by: 'fuzzer', codes: [1000, c] } }) as ConformanceCase),
    ...[1012, 1013, 1014].map(
      (c, i) => ({ id: `7.7.${VALID_CODES.length + i + 1}`, title: `extra: close with code ${c} (IANA registered)`, steps: [closeCode(c)], expect: [], close: { by: 'fuzzer', codes: [1000, c] } }) as ConformanceCase,
    ),
    ...INVALID_CODES.map((c, i) => ({ id: `7.9.${i + 1}`, title: `close with invalid code ${c}`, steps: [closeCode(c)], expect: [], close: { by: 'fuzzer', codes: [1002] } }) as ConformanceCase),
    { id: '7.9.10', title: 'extra: close with code 1015 (never sent on the wire)', steps: [closeCode(1015)], expect: [], close: { by: 'fuzzer', codes: [1002] } },
    { id: '7.13.1', title: 'close with code 5000 (outside every range)', steps: [closeCode(5000)], expect: [], close: { by: 'fuzzer', codes: [1002] } },
    { id: '7.13.2', title: 'close with code 65535', steps: [closeCode(65535)], expect: [], close: { by: 'fuzzer', codes: [1002] } },
  ],
};

// ------------------------------------------------------------------------------------------------
// 9 Limits and performance (moderate sizes: up to 4 MiB).

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [64 * KiB, 256 * KiB, MiB, 4 * MiB];
const FRAGMENT_SIZES: Array<[number, number]> = [
  [1, 64],
  [3, KiB],
  [6, 64 * KiB],
  [9, 4 * MiB],
];
const CHOPS: Array<[number, number]> = [
  [1, 64],
  [6, 2048],
];
const ROUND_TRIPS: Array<[number, number]> = [
  [1, 0],
  [6, 4096],
];
const size = (n: number): string => (n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} bytes`);
const bigText = (n: number): Buffer => repeat('BAsd7&jh23', n);
const bigBinary = (n: number): Buffer => fill(0xfe, n);

const limits: CaseGroup = {
  id: '9',
  title: 'Large messages, many fragments, many messages',
  cases: [
    ...SIZES.map((n, i) => echo(`9.1.${i + 1}`, `text message of ${size(n)}`, bigText(n), false, {}, 10_000)),
    ...SIZES.map((n, i) => echo(`9.2.${i + 1}`, `binary message of ${size(n)}`, bigBinary(n), true, {}, 10_000)),
    ...FRAGMENT_SIZES.map(([k, f]) => echo(`9.3.${k}`, `4 MiB text message in fragments of ${size(f)}`, bigText(4 * MiB), false, { fragmentSize: f }, 10_000)),
    ...FRAGMENT_SIZES.map(([k, f]) => echo(`9.4.${k}`, `4 MiB binary message in fragments of ${size(f)}`, bigBinary(4 * MiB), true, { fragmentSize: f }, 10_000)),
    ...CHOPS.map(([k, c]) => echo(`9.5.${k}`, `1 MiB text message written in chops of ${c} bytes`, bigText(MiB), false, { chop: c }, 10_000)),
    ...CHOPS.map(([k, c]) => echo(`9.6.${k}`, `1 MiB binary message written in chops of ${c} bytes`, bigBinary(MiB), true, { chop: c }, 10_000)),
    ...ROUND_TRIPS.map(
      ([k, n]) =>
        ({
          id: `9.7.${k}`,
          title: `1000 text messages of ${n} bytes, one round trip each`,
          steps: [{ do: 'echoLoop', count: 1000, binary: false, payload: () => bigText(n) }],
          expect: [],
          close: NORMAL,
          timeout: 10_000,
        }) as ConformanceCase,
    ),
    ...ROUND_TRIPS.map(
      ([k, n]) =>
        ({
          id: `9.8.${k}`,
          title: `1000 binary messages of ${n} bytes, one round trip each`,
          steps: [{ do: 'echoLoop', count: 1000, binary: true, payload: () => bigBinary(n) }],
          expect: [],
          close: NORMAL,
          timeout: 10_000,
        }) as ConformanceCase,
    ),
  ],
};

// ------------------------------------------------------------------------------------------------
// 10 Auto-fragmentation.

const autoFragmentation: CaseGroup = {
  id: '10',
  title: 'Auto-fragmentation',
  cases: [echo('10.1.1', 'text message of 65536 bytes sent in fragments of 1300 bytes', repeat('*', 65536), false, { fragmentSize: 1300 })],
};

// ------------------------------------------------------------------------------------------------
// 12, 13 permessage-deflate (RFC 7692).

/** A deterministic pseudo-random source, so that every run sends the same bytes. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

/** 256 KiB of JSON-like text: repetitive structure, varying values (compresses to about a fifth). */
function jsonData(): Buffer {
  const next = lcg(7);
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'Ünïcödé', 'κόσμε', 'data', 'value'];
  let out = '[';
  let id = 0;
  while (out.length < 256 * KiB) {
    const w = (): string => words[next() % words.length]!;
    out += `{"id":${id++},"name":"${w()} ${w()}","tags":["${w()}","${w()}"],"score":${(next() % 100000) / 1000},"active":${next() % 2 === 0}},\n`;
  }
  return utf8(out);
}

/** 256 KiB of image-like bytes: rows that mostly repeat the previous row, with noise. */
function binaryData(): Buffer {
  const next = lcg(11);
  const width = 512;
  const out = Buffer.alloc(256 * KiB);
  for (let i = 0; i < out.length; i++) {
    const above = i >= width ? out[i - width]! : next() & 0xff;
    out[i] = next() % 8 === 0 ? next() & 0xff : above;
  }
  return out;
}

const JSON_DATA = jsonData();
const BINARY_DATA = binaryData();

/** Consecutive slices of the data (wrapping around), as Autobahn takes them: messages share content, which context takeover exploits. */
function slices(data: Buffer, length: number, binary: boolean): (i: number) => Buffer {
  return (i) => {
    if (binary) {
      const from = (i * length) % data.length;
      const to = from + length;
      return to <= data.length ? data.subarray(from, to) : Buffer.concat([data.subarray(from), data.subarray(0, to - data.length)]);
    }
    // Text slices must stay UTF-8: cut the ASCII-only JSON at code point boundaries.
    let from = (i * length) % (data.length - length);
    while ((data[from]! & 0xc0) === 0x80) from++;
    let to = from + length;
    while (to < data.length && (data[to]! & 0xc0) === 0x80) to--;
    return data.subarray(from, to);
  };
}

/**
 * Autobahn's permessage-deflate setups (13.1 to 13.7: what its client offers, or the parameters
 * its server accepts with), plus two extra ones. `offer` is the fuzzing client's (server role);
 * `response` the fuzzing server's answer to hybi's client, configured by `clientOptions` to offer
 * what that answer needs (client role).
 */
const AUTOBAHN_HINTS = 'permessage-deflate; client_no_context_takeover; client_max_window_bits';
export const DEFLATE_VARIANTS: Array<{ id: string; title: string; variant: DeflateVariant }> = [
  { id: '13.1', title: 'default offer', variant: { offer: AUTOBAHN_HINTS, clientOptions: { threshold: 0 }, response: 'permessage-deflate' } },
  {
    id: '13.2',
    title: 'no context takeover',
    variant: {
      offer: `${AUTOBAHN_HINTS}; server_no_context_takeover`,
      clientOptions: { threshold: 0, clientNoContextTakeover: true },
      response: 'permessage-deflate; client_no_context_takeover',
    },
  },
  {
    id: '13.3',
    title: 'window bits 8',
    variant: { offer: `${AUTOBAHN_HINTS}; server_max_window_bits=8`, clientOptions: { threshold: 0 }, response: 'permessage-deflate; client_max_window_bits=8' },
  },
  {
    id: '13.4',
    title: 'window bits 15',
    variant: { offer: `${AUTOBAHN_HINTS}; server_max_window_bits=15`, clientOptions: { threshold: 0 }, response: 'permessage-deflate; client_max_window_bits=15' },
  },
  {
    id: '13.5',
    title: 'no context takeover, window bits 8',
    variant: {
      offer: `${AUTOBAHN_HINTS}; server_no_context_takeover; server_max_window_bits=8`,
      clientOptions: { threshold: 0, clientNoContextTakeover: true },
      response: 'permessage-deflate; client_no_context_takeover; client_max_window_bits=8',
    },
  },
  {
    id: '13.6',
    title: 'no context takeover, window bits 15',
    variant: {
      offer: `${AUTOBAHN_HINTS}; server_no_context_takeover; server_max_window_bits=15`,
      clientOptions: { threshold: 0, clientNoContextTakeover: true },
      response: 'permessage-deflate; client_no_context_takeover; client_max_window_bits=15',
    },
  },
  {
    id: '13.7',
    title: 'three offers, the first asking for window bits 8',
    variant: {
      offer: `${AUTOBAHN_HINTS}; server_no_context_takeover; server_max_window_bits=8, ${AUTOBAHN_HINTS}; server_no_context_takeover, ${AUTOBAHN_HINTS}`,
      clientOptions: { threshold: 0 },
      response: 'permessage-deflate',
    },
  },
  {
    id: '13.8',
    title: 'extra: a bare offer, context takeover both ways',
    variant: { offer: 'permessage-deflate', clientOptions: { threshold: 0, clientMaxWindowBits: false }, response: 'permessage-deflate' },
  },
  {
    id: '13.9',
    title: 'extra: 9-bit windows both ways',
    variant: {
      offer: 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=9',
      clientOptions: { threshold: 0, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      response: 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=9',
    },
  },
];

/** Message size, count, fragment size (0: one frame). Autobahn sends 1000 of each; fewer keep the suite fast. */
const DEFLATE_RUNS: Array<[number, number, number]> = [
  [16, 200, 0],
  [1024, 100, 0],
  [16 * KiB, 30, 0],
  [128 * KiB, 8, 0],
  [64 * KiB, 8, 256],
  [128 * KiB, 8, 32 * KiB],
];

function deflateCase(id: string, variant: DeflateVariant, [length, count, fragmentSize]: [number, number, number], binary: boolean, what: string): ConformanceCase {
  return {
    id,
    title: `${count} compressed ${what} messages of ${size(length)}${fragmentSize > 0 ? ` in fragments of ${fragmentSize} bytes` : ''}, one round trip each`,
    steps: [{ do: 'echoLoop', count, binary, payload: slices(binary ? BINARY_DATA : JSON_DATA, length, binary), fragmentSize: fragmentSize || undefined }],
    expect: [],
    close: NORMAL,
    timeout: 10_000,
    deflate: variant,
  };
}

const compression: CaseGroup = {
  id: '12',
  title: 'permessage-deflate: messages of every size, default offer',
  cases: [
    ...DEFLATE_RUNS.map((run, i) => deflateCase(`12.1.${i + 1}`, DEFLATE_VARIANTS[0]!.variant, run, false, 'JSON text')),
    ...DEFLATE_RUNS.map((run, i) => deflateCase(`12.2.${i + 1}`, DEFLATE_VARIANTS[0]!.variant, run, true, 'image-like binary')),
    {
      id: '12.3.1',
      title: 'extra: a compressed message, then a frame with a reserved opcode in the same write: the echo goes out before the close 1002',
      steps: [{ do: 'message', binary: false, payload: JSON_DATA.subarray(0, 4096), then: [frame(5), frame(Op.Ping)] }],
      expect: [message(JSON_DATA.subarray(0, 4096))],
      close: fails(1002),
      deflate: DEFLATE_VARIANTS[0]!.variant,
    },
    {
      id: '12.3.2',
      title: 'extra: three compressed messages, then invalid UTF-8, in the same write: the three are echoed before the close 1007',
      steps: [
        { do: 'message', binary: false, payload: JSON_DATA.subarray(0, 100) },
        { do: 'message', binary: true, payload: BINARY_DATA.subarray(0, 5000) },
        { do: 'message', binary: false, payload: JSON_DATA.subarray(100, 3000), then: [text(WITH_SURROGATE)] },
      ],
      expect: [message(JSON_DATA.subarray(0, 100)), message(BINARY_DATA.subarray(0, 5000), true), message(JSON_DATA.subarray(100, 3000))],
      close: fails(1007),
      deflate: DEFLATE_VARIANTS[0]!.variant,
    },
  ],
};

const compressionParameters: CaseGroup = {
  id: '13',
  title: 'permessage-deflate: negotiated parameters (context takeover, window bits)',
  cases: DEFLATE_VARIANTS.flatMap(({ id, title, variant }) =>
    [DEFLATE_RUNS[0]!, DEFLATE_RUNS[2]!, DEFLATE_RUNS[5]!].map((run, i) => {
      const c = deflateCase(`${id}.${i + 1}`, variant, run, false, 'JSON text');
      return { ...c, title: `${title}: ${c.title}` };
    }),
  ),
};

/** Every case, by category, in Autobahn's order. */
export const GROUPS: CaseGroup[] = [framing, pings, reservedBits, reservedOpcodes, fragmentation, utf8Handling, closing, limits, autoFragmentation, compression, compressionParameters];

/** The largest message any case sends: the echoing endpoints are configured to accept it. */
export const LARGEST_MESSAGE = 16 * MiB;
