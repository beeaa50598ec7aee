import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Connection, type ConnectionHandler } from '../../src/core/connection.js';
import { encodeFrame } from '../../src/core/frame.js';

// Large messages that span socket reads (issue 24): how the pieces are joined, and what memory it
// costs. Reads are made as a socket makes them, each its own 64 KiB ArrayBuffer.

const READ = 65536;

function payloadOf(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + (i >> 9)) & 0xff);
}

/** A server-role connection, the messages it delivers, and every array its `allocate` handed out. */
function server(): { conn: Connection; messages: Uint8Array[]; allocated: number[] } {
  const messages: Uint8Array[] = [];
  const allocated: number[] = [];
  const handler = {
    output() {},
    message(data: Uint8Array) {
      messages.push(data);
    },
    ping() {},
    pong() {},
    close() {},
    protocolError(error: Error) {
      throw error;
    },
  } as unknown as ConnectionHandler;
  const allocate = (size: number): Uint8Array => {
    allocated.push(size);
    // Not zeroed, as the Node driver's allocator: whatever the assembler leaves unwritten shows.
    return new Uint8Array(new ArrayBuffer(size)).fill(0xee);
  };
  return { conn: new Connection({ role: 'server', maxMessageSize: 8 << 20, allocate }, handler), messages, allocated };
}

/** Feeds `stream` in reads of `sizes` bytes (the last repeated), each read in a buffer of its own, at `skew` bytes into it (unaligned views). */
function feed(conn: Connection, stream: Uint8Array, sizes: number[], skew = 0): void {
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const n = Math.min(sizes[Math.min(i, sizes.length - 1)]!, stream.length - at);
    const read = new Uint8Array(new ArrayBuffer(Math.max(READ, n + skew)), skew, n);
    read.set(stream.subarray(at, at + n));
    conn.receive(read);
    at += n;
  }
}

/** Counts the Uint8Arrays of at least `min` bytes made by `new Uint8Array(length)` while `run` runs. */
function countNewArrays(min: number, run: () => void): number {
  const original = globalThis.Uint8Array;
  let count = 0;
  const spy: Uint8ArrayConstructor = new Proxy(original, {
    construct(target, args, newTarget): object {
      if (typeof args[0] === 'number' && args[0] >= min) count++;
      return Reflect.construct(target, args, newTarget === spy ? target : newTarget) as object;
    },
  });
  (globalThis as { Uint8Array: unknown }).Uint8Array = spy;
  try {
    run();
  } finally {
    (globalThis as { Uint8Array: unknown }).Uint8Array = original;
  }
  return count;
}

describe('MessageAssembler: joining a message from reads (issue 24)', () => {
  it('delivers a masked message split in two at any point, whole and exact, with unaligned reads', () => {
    const sizes = [1024, 1025, 8192, 65536, 65537, 100_003];
    const firsts = [1, 3, 4, 5, 63, 64, 65, 1023, 1024, 1025, 8191, 8192, 8193, 32767, 32768, 32769, 65535];
    for (const size of sizes) {
      const payload = payloadOf(size);
      const frame = encodeFrame({ opcode: 2, payload, mask: true });
      const header = frame.length - size;
      for (const first of firsts) {
        // `first` payload bytes in the first read (its header before them), the rest in the second.
        const cut = header + first;
        if (cut >= frame.length) continue;
        for (const skew of [0, 1, 3]) {
          const { conn, messages } = server();
          feed(conn, frame, [cut, READ], skew);
          assert.equal(messages.length, 1, `size ${size}, first ${first}, skew ${skew}`);
          const message = messages[0]!;
          assert.equal(message.length, size);
          assert.ok(Buffer.from(message).equals(Buffer.from(payload)), `size ${size}, first ${first}, skew ${skew}`);
        }
      }
    }
  });

  it('delivers messages of many pieces in order: a stream of frames in 64 KiB reads, and fragments', () => {
    for (const size of [1024, 65536, 65537, 300_001]) {
      const payloads = [payloadOf(size), payloadOf(size).reverse(), payloadOf(size + 7)];
      const stream = Buffer.concat(payloads.map((payload) => encodeFrame({ opcode: 2, payload, mask: true })));
      for (const sizes of [[READ], [7, 5000, 40_000, 11, READ], [READ - 1]]) {
        const { conn, messages } = server();
        feed(conn, stream, sizes, 1);
        assert.deepEqual(messages.map((m) => Buffer.from(m).toString('base64')), payloads.map((p) => Buffer.from(p).toString('base64')), `size ${size}, reads ${sizes}`);
      }
    }
    // Fragments: small and large, each read a fragment.
    const parts = [payloadOf(100), payloadOf(20_000), payloadOf(3), payloadOf(40_000)];
    const frames = parts.map((payload, i) => encodeFrame({ opcode: i === 0 ? 2 : 0, fin: i === parts.length - 1, payload, mask: true }));
    const { conn, messages } = server();
    for (const frame of frames) feed(conn, frame, [READ]);
    assert.deepEqual(Buffer.from(messages[0]!), Buffer.concat(parts));
    assert.ok(messages[0]!.buffer.byteLength === messages[0]!.length || new Uint8Array(messages[0]!.buffer).subarray(messages[0]!.byteOffset + messages[0]!.length).every((b) => b === 0), 'room past the message shows no unwritten memory');
  });

  it('a 64 KiB message whose first piece is small costs one message-sized array, which is the message', () => {
    const size = 65536;
    const frame = encodeFrame({ opcode: 2, payload: payloadOf(size), mask: true });
    for (const first of [1, 100, 8191, 20_000, 32767]) {
      const { conn, messages, allocated } = server();
      const header = frame.length - size;
      // The frame starts late in a read (another message before it), as every other 64 KiB message does.
      const made = countNewArrays(4096, () => feed(conn, frame, [header + first, READ]));
      assert.equal(messages.length, 1);
      assert.deepEqual(allocated, [size], `first piece ${first}: one allocation of the message's size`);
      assert.equal(made, 0, `first piece ${first}: no zero-filled buffer besides it`);
      assert.equal(messages[0]!.buffer.byteLength, size);
    }
  });
});
