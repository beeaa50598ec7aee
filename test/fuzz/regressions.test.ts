/**
 * Inputs the fuzzers found, kept as plain tests so that they run the same way every time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionHandler } from '../../src/core/connection.js';
import type { ConnectionFailure } from '../../src/core/errors.js';

/** A masked client frame header announcing `length` bytes (64-bit form), with key 0 (so payload bytes go as they are). */
function header64(b0: number, length: bigint): Uint8Array {
  const out = new Uint8Array(14);
  out[0] = b0;
  out[1] = 0x80 | 127;
  for (let i = 0; i < 8; i++) out[2 + i] = Number((length >> BigInt(56 - 8 * i)) & 0xffn);
  return out;
}

function server(options: { maxFrameSize?: number; maxMessageSize?: number }): { conn: Connection; errors: ConnectionFailure[]; buffered: () => number } {
  const errors: ConnectionFailure[] = [];
  const handler: ConnectionHandler = {
    output() {},
    message() {},
    ping() {},
    pong() {},
    close() {},
    protocolError(error) {
      errors.push(error);
    },
  };
  const conn = new Connection({ role: 'server', ...options }, handler);
  // White-box: the message buffer (the assembler's) is the memory a peer can make the core hold.
  const internals = (conn as unknown as { assembler: { buffer: Uint8Array | null } }).assembler;
  return { conn, errors, buffered: () => internals.buffer?.length ?? 0 };
}

describe('Fuzz regressions: memory follows bytes received, not bytes announced (RFC 6455 section 10.4)', () => {
  it('a frame announcing 2^63-1 bytes with the limits off waits for its bytes instead of failing with 1011', () => {
    // Found by test/fuzz/connection.test.ts: the buffer was sized from the announced length, so
    // the allocation threw a RangeError that the core turned into an internal error (1011).
    const s = server({ maxFrameSize: Infinity, maxMessageSize: Infinity });
    s.conn.receive(header64(0x01, (1n << 63n) - 1n));
    s.conn.receive(Uint8Array.of(0x61));
    assert.deepEqual(s.errors, []);
    assert.ok(s.buffered() <= 128 * 1024, `holds ${s.buffered()} bytes for 1 received`);
  });

  it('a 100 MiB frame announced under a relaxed 128 MiB limit allocates in step with the bytes that arrive', () => {
    const s = server({ maxFrameSize: 128 * 1024 * 1024, maxMessageSize: 128 * 1024 * 1024 });
    s.conn.receive(header64(0x82, 100n * 1024n * 1024n));
    s.conn.receive(new Uint8Array(10));
    assert.ok(s.buffered() <= 128 * 1024, `holds ${s.buffered()} bytes for 10 received`);
    let received = 10;
    for (let i = 0; i < 40; i++) {
      s.conn.receive(new Uint8Array(64 * 1024));
      received += 64 * 1024;
      assert.ok(s.buffered() <= 2 * received + 128 * 1024, `holds ${s.buffered()} bytes for ${received} received`);
    }
    assert.deepEqual(s.errors, []);
  });

  it('the same frame in default limits fails with 1009 from its header, holding nothing', () => {
    const s = server({});
    s.conn.receive(header64(0x82, 1n << 40n));
    assert.equal(s.errors.length, 1);
    assert.equal(s.errors[0]!.closeCode, 1009);
    assert.equal(s.buffered(), 0);
  });
});
