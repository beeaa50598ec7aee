/**
 * Issue 16, point 2: every kind of receive-side violation fails the connection with a code of its
 * own, the close code of RFC 6455 section 7.4.1 and a reason that says which rule was broken, and
 * a bound of our own (maxFrameSize) is a LimitError, not a ProtocolError. The expected values are
 * written out here, not read from the failure table, so that the table itself is under test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionHandler, type ConnectionOptions } from '../../src/core/connection.js';
import { encodeClosePayload, parseClosePayload } from '../../src/core/close.js';
import { type ConnectionFailure, LimitError, MessageTooLargeError, ProtocolError, WebSocketError } from '../../src/core/errors.js';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { encodeFrame } from '../../src/core/frame.js';

const utf8 = new TextEncoder();

/** A frame as a client sends it (masked). */
function masked(opcode: number, payload: Uint8Array | string = '', options: { fin?: boolean; rsv1?: boolean } = {}): Uint8Array {
  return encodeFrame({ opcode, payload: typeof payload === 'string' ? utf8.encode(payload) : payload, mask: true, fin: options.fin ?? true, rsv1: options.rsv1 ?? false });
}

/** A frame as a server sends it (unmasked). */
function unmasked(opcode: number, payload: Uint8Array | string = ''): Uint8Array {
  return encodeFrame({ opcode, payload: typeof payload === 'string' ? utf8.encode(payload) : payload });
}

/** `frame` with its first byte replaced: for frames encodeFrame refuses to build. */
function firstByte(b0: number, frame: Uint8Array): Uint8Array {
  frame[0] = b0;
  return frame;
}

interface Failed {
  error: ConnectionFailure;
  /** The close frame the connection wrote: its code and reason. */
  close: { code: number; reason: string };
}

/** Feeds `input` to a fresh connection, whole; returns the one failure and the close frame it wrote. */
function feed(input: Uint8Array, options: Partial<ConnectionOptions> = {}): Failed {
  const errors: ConnectionFailure[] = [];
  const output: Uint8Array[] = [];
  const handler: ConnectionHandler = {
    output: (chunks) => void output.push(...chunks.map((c) => c.slice())),
    message: () => {},
    ping: () => {},
    pong: () => {},
    close: () => {},
    protocolError: (error) => void errors.push(error),
  };
  const conn = new Connection({ role: 'server', ...options }, handler);
  // A copy: the core unmasks in place, and Buffer's slice() is a view, not a copy.
  conn.receive(new Uint8Array(input));
  assert.equal(errors.length, 1, 'the connection failed once');
  const frame = decodeFrame(Buffer.concat(output));
  assert.ok(frame !== null && frame.frame.opcode === 0x8, 'a close frame was written');
  return { error: errors[0]!, close: parseClosePayload(frame.frame.payload) };
}

// [what, input, options, code, close code, reason]
const violations: [string, Uint8Array, Partial<ConnectionOptions>, string, number, string][] = [
  ['a reserved opcode (5.2)', masked(0x3), {}, 'ERR_INVALID_OPCODE', 1002, 'reserved opcode'],
  ['a reserved control opcode (5.2)', masked(0xb), {}, 'ERR_INVALID_OPCODE', 1002, 'reserved opcode'],
  ['RSV1 that no extension claims (5.2)', masked(0x1, 'x', { rsv1: true }), {}, 'ERR_UNEXPECTED_RSV', 1002, 'RSV bits not allowed on this frame'],
  ['a ping of 126 bytes (5.5)', firstByte(0x89, masked(0x2, new Uint8Array(126))), {}, 'ERR_INVALID_CONTROL_PAYLOAD_LENGTH', 1002, 'control frame payload over 125 bytes'],
  ['a ping without FIN (5.5)', firstByte(0x09, masked(0x9, 'x')), {}, 'ERR_FRAGMENTED_CONTROL_FRAME', 1002, 'fragmented control frame'],
  ['an unmasked frame to a server (5.1)', unmasked(0x1, 'x'), {}, 'ERR_EXPECTED_MASK', 1002, 'client frame not masked'],
  ['a masked frame to a client (5.1)', masked(0x1, 'x'), { role: 'client' }, 'ERR_UNEXPECTED_MASK', 1002, 'server frame masked'],
  [
    'a 64-bit length with its top bit set (5.2)',
    Uint8Array.of(0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4),
    {},
    'ERR_INVALID_PAYLOAD_LENGTH',
    1002,
    '64-bit payload length with its top bit set',
  ],
  ['a continuation without a message (5.4)', masked(0x0, 'x'), {}, 'ERR_UNEXPECTED_CONTINUATION', 1002, 'continuation frame without a message'],
  [
    'a new message inside a fragmented one (5.4)',
    Buffer.concat([masked(0x1, 'a', { fin: false }), masked(0x2, 'b')]),
    {},
    'ERR_EXPECTED_CONTINUATION',
    1002,
    'new message inside a fragmented one',
  ],
  ['a close payload of 1 byte (5.5.1)', masked(0x8, Uint8Array.of(0x03)), {}, 'ERR_INVALID_CLOSE_PAYLOAD', 1002, 'close frame payload of 1 byte'],
  ['close code 1005 on the wire (7.4.1)', masked(0x8, Uint8Array.of(0x03, 0xed)), {}, 'ERR_INVALID_CLOSE_CODE', 1002, 'invalid close code'],
  ['close code 999 (7.4.2)', masked(0x8, Uint8Array.of(0x03, 0xe7)), {}, 'ERR_INVALID_CLOSE_CODE', 1002, 'invalid close code'],
  ['a text message that is not UTF-8 (8.1)', masked(0x1, Uint8Array.of(0x61, 0xff)), {}, 'ERR_INVALID_UTF8', 1007, 'invalid UTF-8'],
  ['a close reason that is not UTF-8 (5.5.1)', masked(0x8, Uint8Array.of(0x03, 0xe8, 0xc0)), {}, 'ERR_INVALID_UTF8', 1007, 'invalid UTF-8'],
];

describe('receive-side violations: one code each, with its close code and reason (issue 16)', () => {
  for (const [what, input, options, code, closeCode, reason] of violations) {
    it(`${what}: ${code}, ${closeCode} "${reason}"`, () => {
      const { error, close } = feed(input, options);
      assert.ok(error instanceof ProtocolError, 'a ProtocolError');
      assert.ok(error instanceof WebSocketError);
      assert.equal(error.code, code);
      assert.equal(error.closeCode, closeCode);
      assert.deepEqual(close, { code: closeCode, reason }, 'the close frame sent');
    });
  }

  it('gives every kind of violation a code of its own', () => {
    const byKind = new Map<string, string>();
    for (const [, input, options, , , reason] of violations) byKind.set(reason, feed(input, options).error.code);
    const codes = [...byKind.values()];
    assert.equal(new Set(codes).size, codes.length, `codes: ${codes.join(', ')}`);
  });
});

describe('our own bounds are LimitErrors, not ProtocolErrors (issue 16)', () => {
  it('a frame over maxFrameSize: MessageTooLargeError, 1009, the limit in the reason', () => {
    const { error, close } = feed(masked(0x2, new Uint8Array(11)), { maxFrameSize: 10 });
    assert.ok(error instanceof MessageTooLargeError);
    assert.ok(error instanceof LimitError);
    assert.ok(!(error instanceof ProtocolError), 'the peer broke no rule of RFC 6455');
    assert.equal(error.code, 'ERR_MESSAGE_TOO_LARGE');
    assert.deepEqual(close, { code: 1009, reason: 'frame of more than 10 bytes (maxFrameSize)' });
  });

  it('a message over maxMessageSize: the same class, with its limit', () => {
    const { error, close } = feed(Buffer.concat([masked(0x2, new Uint8Array(6), { fin: false }), masked(0x0, new Uint8Array(6))]), { maxMessageSize: 10 });
    assert.ok(error instanceof MessageTooLargeError && !(error instanceof ProtocolError));
    assert.equal(error.limit, 10);
    assert.equal(close.code, 1009);
  });

  it('a close frame the peer sends in order is no failure at all', () => {
    // The control for the harness above: a valid close ends the connection without protocolError.
    const errors: unknown[] = [];
    const conn = new Connection({ role: 'server' }, { output: () => {}, message: () => {}, ping: () => {}, pong: () => {}, close: () => {}, protocolError: (e) => void errors.push(e) });
    conn.receive(masked(0x8, encodeClosePayload(1000, 'bye')));
    assert.deepEqual(errors, []);
  });
});
