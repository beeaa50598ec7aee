import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import { BurstReads, burstReads } from '../../src/node/read-buffers.js';
import { dial } from '../../src/node/dial.js';

const KiB = 1024;

/**
 * Drives an onread option the way Node does: the buffer function once at the start and after
 * every read, the callback with the buffer the read went into. Records what is pushed.
 */
class ReadSimulator {
  readonly pushed: Buffer[] = [];
  /** Buffers that reads went into, in order. */
  readonly buffers: Uint8Array[] = [];
  pushResult = true;
  readonly state = new BurstReads();
  private readonly reads = burstReads(this.state);
  current: Uint8Array;
  private readonly socket = {
    push: (chunk: Buffer): boolean => {
      this.pushed.push(chunk);
      return this.pushResult;
    },
  };

  constructor() {
    this.current = this.nextBuffer();
  }

  private nextBuffer(): Uint8Array {
    const buffer = this.reads.buffer;
    return typeof buffer === 'function' ? buffer() : buffer;
  }

  /** The kernel writes as much of `bytes` as fits into the current buffer; returns how much. */
  read(bytes: Uint8Array): { n: number; result: boolean } {
    const buffer = this.current;
    const n = Math.min(bytes.length, buffer.length);
    buffer.set(bytes.subarray(0, n));
    this.buffers.push(buffer);
    const result = this.reads.callback.call(this.socket as unknown as Socket, n, buffer);
    this.current = this.nextBuffer();
    return { n, result };
  }
}

function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

describe('burstReads: where a client socket reads into', () => {
  it('reads small amounts into one buffer that every socket shares, and copies them out', () => {
    const a = new ReadSimulator();
    const b = new ReadSimulator();
    assert.equal(a.current, b.current, 'two idle sockets hold the same buffer');
    const shared = a.current;
    const first = pattern(100, 1);
    a.read(first);
    assert.deepEqual(new Uint8Array(a.pushed[0]!), first);
    assert.notEqual(a.pushed[0]!.buffer, shared.buffer, 'the chunk is a copy');
    assert.equal(a.current, shared, 'the next read goes to the shared buffer again');
    // The shared buffer is overwritten by the next read (of any socket): the chunk is not.
    b.read(pattern(100, 2));
    assert.deepEqual(new Uint8Array(a.pushed[0]!), first);
  });

  it('gives a socket whose read filled half the shared buffer buffers of its own, handed on without a copy', () => {
    const small = new ReadSimulator();
    small.read(pattern(32 * KiB - 1));
    assert.equal(small.current, small.buffers[0], 'just under half: still the shared buffer');
    const sim = new ReadSimulator();
    const shared = sim.current;
    sim.read(pattern(32 * KiB));
    assert.notEqual(sim.pushed[0]!.buffer, shared.buffer);
    assert.equal(sim.current.length, 128 * KiB);
    const own = sim.current;
    sim.read(pattern(128 * KiB, 3));
    assert.equal(sim.pushed[1]!.buffer, own.buffer, 'a full buffer is handed on as it is');
    assert.equal(sim.pushed[1]!.length, 128 * KiB);
    assert.notEqual(sim.current, own, 'and replaced, never read into again');
    // Full reads double the buffer up to 256 KiB, and no further.
    assert.equal(sim.current.length, 256 * KiB);
    sim.read(pattern(256 * KiB));
    assert.equal(sim.current.length, 256 * KiB);
  });

  it('hands on reads of at least 32 KiB, follows the reads down, and lets go when a burst ends', () => {
    const sim = new ReadSimulator();
    sim.read(pattern(64 * KiB));
    sim.read(pattern(128 * KiB));
    assert.equal(sim.current.length, 256 * KiB);
    // 100 KiB of 256: handed on (no copy), and the next buffer is halved.
    const own = sim.current;
    sim.read(pattern(100 * KiB));
    assert.equal(sim.pushed[2]!.buffer, own.buffer);
    assert.equal(sim.current.length, 128 * KiB);
    // 80 KiB of 128: more than half, same size again.
    sim.read(pattern(80 * KiB));
    assert.equal(sim.current.length, 128 * KiB);
    // 20 bytes (the tail of a frame, say): copied out, and the same buffer serves the next read.
    const before = sim.current;
    sim.read(pattern(20));
    assert.notEqual(sim.pushed[4]!.buffer, before.buffer);
    assert.equal(sim.pushed[4]!.length, 20);
    assert.equal(sim.current, before);
    // A large read in between keeps the burst going...
    sim.read(pattern(90 * KiB));
    assert.equal(sim.pushed[5]!.buffer, before.buffer);
    sim.read(pattern(10));
    assert.notEqual(sim.current, new ReadSimulator().current);
    // ...two small reads in a row end it: back on the shared buffer, holding nothing of its own.
    sim.read(pattern(10));
    assert.equal(sim.current, new ReadSimulator().current);
  });

  it('reads into the memory its target offers, hands it on as a view of it, and goes back to its buffers after', () => {
    const sim = new ReadSimulator();
    const message = new Uint8Array(300 * KiB);
    let offer: Uint8Array | null = message.subarray(100 * KiB);
    sim.state.target = { readTarget: () => offer };
    sim.read(pattern(10)); // the target is asked after each read
    assert.equal(sim.current, offer);
    sim.read(pattern(150 * KiB, 9));
    const chunk = sim.pushed[1]!;
    assert.equal(chunk.buffer, message.buffer);
    assert.equal(chunk.byteOffset, 100 * KiB);
    assert.equal(chunk.length, 150 * KiB);
    assert.deepEqual(new Uint8Array(message.subarray(100 * KiB, 250 * KiB)), pattern(150 * KiB, 9));
    offer = null;
    sim.read(pattern(50 * KiB));
    assert.equal(sim.current, new ReadSimulator().current, 'no offer: the shared buffer again');
  });

  it('stops reading when the readable side is full, as Node does', () => {
    const sim = new ReadSimulator();
    assert.equal(sim.read(pattern(10)).result, true);
    sim.pushResult = false;
    assert.equal(sim.read(pattern(10)).result, false);
  });

  it('hands on every byte in order, and no later read changes a chunk handed on (any read sizes)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 400 * KiB }), fc.constant(Infinity)), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 255 }),
        (sizes, seed) => {
          const sim = new ReadSimulator();
          const stream: Uint8Array[] = [];
          for (let i = 0; i < sizes.length; i++) {
            // Infinity: the kernel holds more than any buffer (the read fills it).
            const want = sizes[i] === Infinity ? sim.current.length : Math.min(sizes[i]!, sim.current.length);
            const bytes = pattern(want, seed + i);
            sim.read(bytes);
            stream.push(bytes);
            assert.ok(sim.current.length <= 256 * KiB);
          }
          // Every chunk still holds what was read then, after all later reads.
          assert.equal(sim.pushed.length, stream.length);
          for (let i = 0; i < stream.length; i++) assert.deepEqual(new Uint8Array(sim.pushed[i]!), stream[i]);
          // A view of a socket's own buffer is handed on only when it is at least 32 KiB and an
          // eighth of that buffer; everything else is a copy of its own length (or, under 4 KiB, a
          // slice of Node's pool).
          for (const chunk of sim.pushed) assert.ok(chunk.length < 4 * KiB || chunk.length * 8 >= chunk.buffer.byteLength);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('burstReads on a dialed socket', () => {
  it('receives a 4 MiB burst intact and in order, in reads larger than 64 KiB', async () => {
    const total = 4 * 1024 * KiB;
    const data = pattern(total, 7);
    let written!: () => void;
    const allWritten = new Promise<void>((resolve) => (written = resolve));
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.write(data, () => written());
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const socket = await dial({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
      // Not reading until the kernel buffers are full: the reads that follow find plenty queued.
      socket.pause();
      await Promise.race([allWritten, new Promise((resolve) => setTimeout(resolve, 300))]);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.resume();
      await new Promise<void>((resolve, reject) => {
        socket.on('end', resolve);
        socket.on('error', reject);
      });
      socket.destroy();
      const received = Buffer.concat(chunks);
      assert.equal(received.length, total);
      assert.ok(received.equals(data), 'bytes differ');
      assert.ok(Math.max(...chunks.map((c) => c.length)) > 64 * KiB, `largest read ${Math.max(...chunks.map((c) => c.length))}`);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
