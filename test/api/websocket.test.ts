/**
 * The WebSocket every user holds, tested as a user would notice it: over an in-memory duplex pair
 * and over a real loopback TCP socket pair (most suites run on both), and against a raw
 * frame-level peer where a misbehaving one is needed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ConnectionClosedError, ConnectionNotOpenError, InvalidArgumentError, ProtocolError } from '../../src/core/errors.js';
import { CloseTimeoutError, MessageTimeoutError, SendBufferFullError } from '../../src/node/errors.js';
import { IdleTimeoutError, PingTimeoutError, PongMismatchError } from '../../src/api/errors.js';
import { Opcode } from '../../src/core/opcode.js';
import { connectionInternals } from '../../src/api/connection-internals.js';
import { WebSocket, type Message } from '../../src/api/websocket.js';
import { resolveOptions } from '../../src/api/options.js';
import { prepareFrame } from '../../src/core/prepared-frame.js';
import { pendingTimers } from '../../src/node/timer-wheel.js';
import { closePair, isSocket, rawPair, sleep, transports, within, wsPair, type RawPeer } from '../helpers/ws-pair.js';
import type { MessageCodec } from '../../src/node/message-codec.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { deflateCodecs } from '../helpers/deflate.js';
import { fakeTimers } from '../helpers/fake-clock.js';
import { quietFor, waitFor } from '../helpers/wait.js';

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Collects 'message' events as [data, isBinary] pairs. */
function collect(ws: WebSocket): [string | Buffer, boolean][] {
  const seen: [string | Buffer, boolean][] = [];
  ws.on('message', (data, isBinary) => seen.push([data, isBinary]));
  return seen;
}

/**
 * The next `event` of a WebSocket. Unlike events.once, it does not listen for 'error' (which
 * would both reject and change what the WebSocket does with errors).
 */
function next<E extends 'close' | 'error' | 'message' | 'ping' | 'pong' | 'open'>(ws: WebSocket, event: E): Promise<unknown[]> {
  return new Promise((resolve) => (ws as unknown as NodeJS.EventEmitter).once(event, (...args: unknown[]) => resolve(args)));
}

async function until(condition: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  await waitFor(condition, { timeout: ms, what });
}

/** Messages the connection has read off the wire so far (queued or delivered): the driver's counter. */
function messagesIn(ws: WebSocket): number {
  return connectionInternals.driver(ws).messagesIn;
}

/** One to `n` + 1 turns of the event loop (for randomized interleavings and slow fakes, no timers). */
async function turns(n: number): Promise<void> {
  for (let i = Math.floor(n); i >= 0; i--) await tick();
}

/** The connection has read part of a frame or message, and waits for the rest. */
function midMessage(ws: WebSocket): boolean {
  return connectionInternals.driver(ws).connection.receiving;
}

/** Watches for unhandled rejections while `body` runs (and a few turns after). */
async function noUnhandledRejection(body: () => Promise<void>): Promise<void> {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => {
    seen.push(reason);
  };
  process.on('unhandledRejection', listener);
  try {
    await body();
    // Node reports an unhandled rejection once the microtask queue has drained: a few turns of
    // the event loop see every one the body left.
    for (let i = 0; i < 5; i++) await tick();
  } finally {
    process.off('unhandledRejection', listener);
  }
  assert.deepEqual(seen, [], 'no unhandled rejection');
}

/** A `gc()` for memory measurements, without needing --expose-gc on the command line. */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

for (const transport of transports) {
  describe(`messages (${transport})`, { timeout: 120_000 }, () => {
    test('a string is text, bytes of every kind are binary, and the option overrides both', async () => {
      const { client, server } = await wsPair(transport);
      const seen = collect(server);
      await client.send('héllo');
      await client.send(Buffer.from([1, 2]));
      await client.send(new Uint8Array([3]));
      await client.send(new Uint8Array([9, 4, 5, 9]).buffer.slice(1, 3));
      await client.send(new Uint16Array([0x0201]));
      await client.send('as binary', { binary: true });
      await client.send(text('as text'), { binary: false });
      await until(() => seen.length === 7);
      assert.deepEqual(seen, [
        ['héllo', false],
        [Buffer.from([1, 2]), true],
        [Buffer.from([3]), true],
        [Buffer.from([4, 5]), true],
        [Buffer.from([1, 2]), true],
        [text('as binary'), true],
        ['as text', false],
      ]);
      await closePair(client, server);
    });

    test('the bytes sent are the bytes given: a compressed or queued message is copied at send()', async () => {
      const codecs = deflateCodecs();
      const { client, server } = await wsPair(transport, { client: { codecs: codecs.client }, server: { codecs: codecs.server } });
      try {
        for (const [from, to] of [
          [client, server],
          [server, client],
        ] as const) {
          const seen = collect(to);
          const compressed = new Uint8Array([1, 2, 3]);
          const sent = [from.send(compressed)];
          compressed[0] = 9;
          // Not compressed, but queued behind the message being compressed.
          const queued = new Uint8Array([4, 5, 6]).buffer;
          sent.push(from.send(queued, { compress: false }));
          new Uint8Array(queued)[0] = 9;
          const view = new DataView(new Uint8Array([0, 7, 8]).buffer, 1);
          sent.push(from.send(view));
          view.setUint8(0, 9);
          await within(Promise.all(sent), 5000, 'the sends');
          await until(() => seen.length === 3);
          assert.deepEqual(seen, [
            [Buffer.from([1, 2, 3]), true],
            [Buffer.from([4, 5, 6]), true],
            [Buffer.from([7, 8]), true],
          ]);
          to.removeAllListeners('message');
        }
      } finally {
        await closePair(client, server);
      }
    });

    test('start and end send a sub-range of a buffer (and of a string)', async () => {
      const { client, server } = await wsPair(transport);
      const seen = collect(server);
      const bytes = Buffer.from('0123456789');
      await client.send(bytes, { start: 2, end: 5 });
      await client.send(bytes, { start: 7 });
      await client.send('abcdef', { end: 2 });
      await until(() => seen.length === 3);
      assert.deepEqual(seen, [
        [text('234'), true],
        [text('789'), true],
        ['ab', false],
      ]);
      await assert.rejects(client.send(bytes, { start: 11 }), InvalidArgumentError);
      await assert.rejects(client.send(bytes, { start: 1.5 }), InvalidArgumentError);
      await closePair(client, server);
    });

    test('bytes sent as text must be UTF-8', async () => {
      const { client, server } = await wsPair(transport);
      await assert.rejects(client.send(Buffer.from([0xff, 0xfe]), { binary: false }), InvalidArgumentError);
      assert.equal(client.readyState, 'open');
      await closePair(client, server);
    });

    test('fragmentSize on a plain buffer splits it into frames the peer reassembles', async () => {
      const { client, server } = await wsPair(transport);
      const payload = Buffer.alloc(100_000, 7);
      const received = server.receive();
      await client.send(payload, { fragmentSize: 1000 });
      const message = await received;
      assert.equal(message.type, 'binary');
      assert.deepEqual(message.data, payload);
      await closePair(client, server);
    });

    test('a Readable and an async iterable are streamed as one message each', async () => {
      const { client, server } = await wsPair(transport);
      await client.send(Readable.from([text('ab'), text('cd'), text('ef')]));
      async function* words(): AsyncGenerator<string> {
        yield 'une ';
        await tick();
        yield 'phrase';
      }
      await server.send(words());
      await client.send(Readable.from([]), { binary: true });
      assert.deepEqual(await server.receive(), { type: 'binary', data: text('abcdef') });
      assert.deepEqual(await client.receive(), { type: 'text', data: 'une phrase' });
      assert.deepEqual(await server.receive(), { type: 'binary', data: Buffer.alloc(0) });
      await closePair(client, server);
    });

    test("messages sent concurrently keep their order and never interleave a stream's fragments", async () => {
      const { client, server } = await wsPair(transport);
      async function* slow(tag: string): AsyncGenerator<Buffer> {
        for (let i = 0; i < 5; i++) {
          // A turn of the event loop between chunks: the other sends have every chance to cut in.
          await tick();
          yield text(`${tag}${i}`);
        }
      }
      const sends = [
        client.send('first'),
        client.send(slow('a'), { binary: false }),
        client.send('middle'),
        client.send(slow('b'), { binary: false }),
        client.send(Buffer.from('last')),
      ];
      // Pings (control frames) may go between the fragments.
      const pings = [client.ping('p1'), client.ping('p2')];
      await Promise.all(sends);
      await Promise.all(pings);
      const got: Message[] = [];
      for (let i = 0; i < 5; i++) got.push(await server.receive());
      assert.deepEqual(got, [
        { type: 'text', data: 'first' },
        { type: 'text', data: 'a0a1a2a3a4' },
        { type: 'text', data: 'middle' },
        { type: 'text', data: 'b0b1b2b3b4' },
        { type: 'binary', data: text('last') },
      ]);
      await closePair(client, server);
    });

    test('send resolves once the socket took the data, and waits for drain when the peer is slow', async () => {
      const { client, server } = await wsPair(transport, { server: { receiveHighWaterMark: 64 * 1024, receiveHighWaterMessages: 4 } });
      const chunk = Buffer.alloc(256 * 1024);
      let sends = 0;
      let blocked = false;
      let last: Promise<void> = Promise.resolve();
      // The server reads nothing: after a few messages, send() must stop resolving.
      while (sends < 400 && !blocked) {
        last = client.send(chunk);
        sends++;
        // That a send does NOT resolve can only be shown by waiting (quietFor).
        blocked = await Promise.race([last.then(() => false), quietFor(300).then(() => true)]);
      }
      assert.ok(blocked, 'send() kept resolving although nobody read');
      assert.ok(client.bufferedAmount > 0, 'bytes are waiting');
      // Reading unblocks it.
      const drained = (async () => {
        for (let i = 0; i < sends; i++) await server.receive();
      })();
      await within(drained, 10_000, 'reading the backlog');
      await within(last, 1000, 'the held send');
      await closePair(client, server);
    });

    test('a buffer may be reused as soon as its send has resolved', async () => {
      const { client, server } = await wsPair(transport);
      // Server frames carry the caller's buffer itself (no copy), the case where this matters.
      const buffer = Buffer.alloc(10_000, 0x61);
      await server.send(buffer);
      buffer.fill(0x62);
      await server.send(buffer, { end: 10 });
      const first = await client.receive();
      assert.ok((first.data as Buffer).every((b) => b === 0x61), 'the first message kept its bytes');
      assert.deepEqual(await client.receive(), { type: 'binary', data: Buffer.alloc(10, 0x62) });
      await closePair(client, server);
    });

    test('sending after close rejects with ConnectionNotOpenError, and fire-and-forget is harmless', async () => {
      const { client, server } = await wsPair(transport);
      await noUnhandledRejection(async () => {
        const closing = client.close();
        void client.send('too late');
        void client.ping();
        await assert.rejects(client.send('too late'), ConnectionNotOpenError);
        await assert.rejects(client.send('too late'), ConnectionClosedError);
        await closing;
        await assert.rejects(client.send('after close'), (error: unknown) => {
          assert.ok(error instanceof ConnectionNotOpenError);
          assert.equal(error.code, 'ERR_CONNECTION_NOT_OPEN');
          assert.equal(error.closeCode, 1000);
          return true;
        });
        await assert.rejects(client.ping(), ConnectionNotOpenError);
      });
      await closePair(client, server);
    });

    test('a send queued behind a stream when the peer closes rejects, without an unhandled rejection', async () => {
      const { client, server } = await wsPair(transport);
      await noUnhandledRejection(async () => {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        async function* held(): AsyncGenerator<Buffer> {
          yield text('part');
          await gate;
          yield text('never');
        }
        const streamed = client.send(held());
        const queued = client.send('queued');
        void client.send('queued too');
        await server.close(1001, 'going');
        release();
        await assert.rejects(queued, ConnectionClosedError);
        await assert.rejects(streamed, ConnectionClosedError);
      });
      await closePair(client, server);
    });
  });

  describe(`frames encoded once (broadcast) (${transport})`, { timeout: 120_000 }, () => {
    test('a server sends a prepared frame as is, in order with its other sends; a client may not', async () => {
      const { client, server } = await wsPair(transport);
      // Issue 16 point 6 / issue 20: prepared frames (core/prepared-frame.ts) replace raw chunks,
      // so the core checks them as any send.
      const frame = prepareFrame(text('to everyone'), true);
      async function* slow(): AsyncGenerator<string> {
        yield 'streamed ';
        await tick();
        yield 'first';
      }
      void server.send(slow());
      await connectionInternals.sendPrepared(server, frame);
      await connectionInternals.sendPrepared(server, frame);
      assert.deepEqual(await client.receive(), { type: 'text', data: 'streamed first' });
      assert.deepEqual(await client.receive(), { type: 'text', data: 'to everyone' });
      assert.deepEqual(await client.receive(), { type: 'text', data: 'to everyone' });
      await assert.rejects(connectionInternals.sendPrepared(client, frame)!, InvalidArgumentError);
      await server.close();
      await assert.rejects(connectionInternals.sendPrepared(server, frame)!, ConnectionNotOpenError);
      await closePair(client, server);
    });

    test('a prepared frame to a connection with nothing queued makes no promise; the fan-out asks for one only to wait', async (t) => {
      // Issue 24: a publish to 1,000 subscribers that keep up made 1,000 promises it never used.
      const { client, server } = await wsPair(transport);
      t.after(() => closePair(client, server));
      const frame = prepareFrame(text('to everyone'), true);
      assert.equal(connectionInternals.sendPrepared(server, frame), undefined);
      const pending = connectionInternals.pendingWrite(server);
      assert.ok(pending instanceof Promise, 'the frame is held in the batch of this tick');
      await pending;
      assert.equal(connectionInternals.pendingWrite(server), null, 'nothing left to wait for');
      assert.deepEqual(await client.receive(), { type: 'text', data: 'to everyone' });
    });
  });

  describe(`receiving: pull, push and how they share (${transport})`, { timeout: 120_000 }, () => {
    test('receive() and for await give every message in order; the loop ends at the close', async () => {
      const { client, server } = await wsPair(transport);
      for (let i = 0; i < 10; i++) void client.send(`m${i}`);
      assert.deepEqual(await server.receive(), { type: 'text', data: 'm0' });
      const rest: string[] = [];
      const loop = (async () => {
        for await (const m of server) {
          rest.push(m.data as string);
          if (rest.length === 9) void client.close(1000);
        }
      })();
      await within(loop, 5000, 'for await');
      assert.deepEqual(rest, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
      await assert.rejects(server.receive(), (error: unknown) => error instanceof ConnectionClosedError && error.closeCode === 1000);
      await closePair(client, server);
    });

    test('messages that arrive before anyone listens are queued, and a later listener gets them first', async () => {
      const { client, server } = await wsPair(transport);
      await client.send('early 1');
      await client.send('early 2');
      await until(() => messagesIn(server) === 2, 5000, 'both messages read by the server');
      const seen: string[] = [];
      server.on('message', (data) => {
        seen.push(data as string);
      });
      await client.send('late');
      await until(() => seen.length === 3);
      assert.deepEqual(seen, ['early 1', 'early 2', 'late']);
      await closePair(client, server);
    });

    test('a pending receive() takes a message before the listeners; an active iterator takes all', async () => {
      const { client, server } = await wsPair(transport);
      const pushed: string[] = [];
      server.on('message', (data) => {
        pushed.push(data as string);
      });
      const pulled = server.receive();
      await client.send('to the pull');
      await client.send('to the push');
      assert.deepEqual(await pulled, { type: 'text', data: 'to the pull' });
      await until(() => pushed.length === 1);
      assert.deepEqual(pushed, ['to the push']);

      const iterator = server[Symbol.asyncIterator]();
      await client.send('i1');
      await client.send('i2');
      await until(() => messagesIn(server) === 4, 5000, 'i1 and i2 read by the server');
      assert.deepEqual(pushed, ['to the push'], 'nothing reaches the listener while the iterator is active');
      assert.deepEqual((await iterator.next()).value, { type: 'text', data: 'i1' });
      await iterator.return!();
      // What the iterator left unread goes to the listener once it is done.
      await until(() => pushed.length === 2);
      assert.deepEqual(pushed, ['to the push', 'i2']);
      await closePair(client, server);
    });

    test('no message is lost or delivered twice while consumers come and go', async () => {
      const { client, server } = await wsPair(transport);
      const total = 300;
      const pushed: number[] = [];
      const pulled: number[] = [];
      const listener = (data: string | Buffer): void => {
        pushed.push(Number(data));
      };
      const sender = (async () => {
        for (let i = 0; i < total; i++) {
          await client.send(String(i));
          if (i % 7 === 0) await tick();
        }
      })();
      let seed = 42;
      const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
      while (pushed.length + pulled.length < total) {
        const r = random();
        if (r < 0.3) {
          server.on('message', listener);
          await turns(random() * 3);
          server.off('message', listener);
        } else if (r < 0.8) {
          const m = await within(server.receive(), 5000, 'receive');
          pulled.push(Number(m.data));
        } else {
          await turns(random() * 3);
        }
      }
      await sender;
      const all = [...pushed, ...pulled].sort((a, b) => a - b);
      assert.deepEqual(all, Array.from({ length: total }, (_, i) => i), 'each message exactly once');
      assert.deepEqual(pushed, [...pushed].sort((a, b) => a - b), 'push order');
      assert.deepEqual(pulled, [...pulled].sort((a, b) => a - b), 'pull order');
      await closePair(client, server);
    });

    test('a slow pull consumer pauses the socket, bounding memory, and reading resumes it', async () => {
      const { client, server, serverStream } = await wsPair(transport, {
        server: { receiveHighWaterMark: 256 * 1024, receiveHighWaterMessages: 100 },
      });
      const message = Buffer.alloc(16 * 1024, 1);
      const count = 2000; // 32 MiB in all
      let sent = 0;
      const sender = (async () => {
        for (; sent < count; sent++) await client.send(message);
      })();
      // Wait for the event the assertions are about (the server stopped reading its socket), then
      // until the sender has made no progress for a while: that "no progress" is the one real
      // wait here, scaled by HYBI_TEST_TIME_SCALE (helpers/wait.ts). A slow machine only makes it
      // take longer: once the server has paused, the sender can fill the buffers but no more.
      await waitFor(() => serverStream.isPaused(), { timeout: 20_000, what: 'the server pausing its socket' });
      let last = -1;
      while (last !== sent) {
        last = sent;
        await quietFor(200);
      }
      assert.ok(sent < count, 'the sender was held back');
      assert.equal(serverStream.isPaused(), true, 'the server stopped reading');
      // Everything the sender got rid of is in the server's queue, in socket buffers, or in the
      // client's own buffer: far below what was offered. (Loopback TCP buffers hold a few MiB.)
      const bound = transport === 'tcp' ? 16 * 1024 * 1024 : 1024 * 1024;
      assert.ok(sent * message.length < bound, `sent ${sent * message.length} bytes before being held back`);
      for (let i = 0; i < count; i++) {
        const m = await within(server.receive(), 5000, `message ${i}`);
        assert.equal(m.data.length, message.length);
      }
      await sender;
      await closePair(client, server);
    });

    test('receiveStream() gives a Readable per message; a queued message comes whole', async () => {
      const { client, server } = await wsPair(transport);
      await client.send('queued');
      await until(() => messagesIn(server) === 1, 5000, 'the message read by the server');
      const first = await server.receiveStream();
      assert.equal(first.type, 'text');
      assert.equal(Buffer.concat(await first.toArray()).toString(), 'queued');
      const second = server.receiveStream();
      await client.send(Readable.from([text('a'), text('b')]), { binary: true });
      const stream = await second;
      assert.equal(stream.type, 'binary');
      assert.equal(Buffer.concat(await stream.toArray()).toString(), 'ab');
      // A message after the stream is whole again.
      await client.send('after');
      assert.deepEqual(await server.receive(), { type: 'text', data: 'after' });
      await closePair(client, server);
    });

    test('a message stream destroyed early discards the rest of its message only', async () => {
      const { client, server } = await wsPair(transport, { server: { receiveHighWaterMark: 1024 } });
      const streamed = server.receiveStream();
      async function* big(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(4096, i);
      }
      const sending = client.send(big());
      const stream = await streamed;
      const first = await new Promise<Buffer>((resolve) => stream.once('data', resolve));
      assert.ok(first.length > 0);
      stream.destroy();
      await sending;
      await client.send('next');
      assert.deepEqual(await within(server.receive(), 5000), { type: 'text', data: 'next' });
      await closePair(client, server);
    });

    test('a message stream errors with ConnectionClosedError when the peer vanishes midway', async () => {
      const { client, server } = await wsPair(transport);
      const streamed = server.receiveStream();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      async function* half(): AsyncGenerator<Buffer> {
        yield Buffer.alloc(1000);
        await gate;
      }
      void client.send(half());
      const stream = await streamed;
      const errored = once(stream, 'error');
      stream.resume();
      client.terminate();
      const [error] = await errored;
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal((error as ConnectionClosedError).closeCode, 1006);
      release();
      await closePair(client, server);
    });

    test('50 MiB streamed each way under a 1 MiB high-water mark keeps memory far below the message size', async (t) => {
      const gc = gcFunction();
      const size = 50 * 1024 * 1024;
      const { client, server } = await wsPair(transport, {
        client: { receiveHighWaterMark: 1024 * 1024 },
        server: { receiveHighWaterMark: 1024 * 1024 },
      });
      gc();
      gc();
      const baseline = process.memoryUsage().arrayBuffers;
      let peak = 0;
      const sampler = setInterval(() => {
        // Twice: a full GC finishes the previous one's freeing of ArrayBuffer memory, which
        // otherwise still counts garbage as in use.
        gc();
        gc();
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
      }, 25);
      try {
        async function* produce(): AsyncGenerator<Buffer> {
          for (let offset = 0; offset < size; offset += 64 * 1024) yield Buffer.alloc(64 * 1024, (offset >>> 16) & 0xff);
        }
        async function consume(ws: WebSocket): Promise<void> {
          const stream = await ws.receiveStream();
          let received = 0;
          let chunks = 0;
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            // A consumer that stalls for a while, then reads: without backpressure the whole
            // message would pile up in memory meanwhile.
            if (++chunks === 1) await sleep(500);
            else if (chunks % 8 === 0) await sleep(1);
            // Every byte of a 64 KiB block carries the block's number: order and content check.
            for (let i = 0; i < chunk.length; i += 4099) assert.equal(chunk[i], ((received + i) >>> 16) & 0xff);
            received += chunk.length;
          }
          assert.equal(received, size);
        }
        await within(Promise.all([client.send(produce(), { binary: true }), consume(server)]), 60_000, 'client to server');
        await within(Promise.all([server.send(produce(), { binary: true }), consume(client)]), 60_000, 'server to client');
      } finally {
        clearInterval(sampler);
      }
      t.diagnostic(`peak ${(peak / 1048576).toFixed(1)} MiB of ArrayBuffer memory above baseline`);
      assert.ok(peak < 16 * 1024 * 1024, `peak ${(peak / 1048576).toFixed(1)} MiB above baseline for a 50 MiB message`);
      await closePair(client, server);
    });
  });

  describe(`ping and pong (${transport})`, { timeout: 120_000 }, () => {
    test('ping resolves with the round-trip time when the matching pong arrives', async () => {
      const { client, server } = await wsPair(transport);
      const pings: Buffer[] = [];
      server.on('ping', (payload) => pings.push(payload));
      const rtt = await within(client.ping('hello', { timeout: 2000 }), 3000);
      assert.equal(typeof rtt, 'number');
      assert.ok(rtt >= 0 && rtt < 2000);
      assert.deepEqual(pings, [text('hello')]);
      const fromServer = await server.ping(new Uint8Array([1, 2, 3]));
      assert.ok(fromServer >= 0);
      await assert.rejects(client.ping(Buffer.alloc(126)), InvalidArgumentError);
      await closePair(client, server);
    });

    test('a ping that saw only pongs with other data rejects with PongMismatchError at its timeout', async () => {
      const { client, server } = await wsPair(transport, { server: { autoPong: false } });
      try {
        server.on('ping', () => void server.pong('something else'));
        const start = performance.now();
        await assert.rejects(client.ping('expected', { timeout: 150 }), (error: unknown) => {
          assert.ok(error instanceof PongMismatchError);
          assert.deepEqual(Buffer.from(error.expected), text('expected'));
          assert.deepEqual(Buffer.from(error.received), text('something else'));
          return true;
        });
        const waited = performance.now() - start;
        assert.ok(waited >= 145, `rejected after ${waited.toFixed(0)} ms, before its 150 ms timeout`);
        assert.equal(client.readyState, 'open');
      } finally {
        await closePair(client, server);
      }
    });

    test('an unsolicited pong neither resolves nor fails a waiting ping (RFC 6455 5.5.3); its own pong resolves it', async () => {
      const { client, server } = await wsPair(transport, { server: { autoPong: false } });
      try {
        let settled = 'pending';
        const pending = client.ping('mine', { timeout: 10_000 }).then(
          (rtt) => {
            settled = 'resolved';
            return rtt;
          },
          (error: unknown) => {
            settled = `rejected: ${String(error)}`;
            throw error;
          },
        );
        pending.catch(() => {});
        await next(server, 'ping');
        const heartbeats = next(client, 'pong');
        await server.pong('heartbeat');
        assert.deepEqual(await heartbeats, [text('heartbeat')]);
        await tick();
        assert.equal(settled, 'pending', 'the heartbeat pong settled the ping');
        await server.pong('mine');
        assert.equal(typeof (await within(pending, 3000, 'the ping')), 'number');
      } finally {
        await closePair(client, server);
      }
    });

    test('keep-alive pings go on while a ping() waits among pongs with other data', async () => {
      const { client, server } = await wsPair(transport, { client: { pingInterval: 30 }, server: { autoPong: false } });
      try {
        let keepalives = 0;
        // A peer that answers every ping with its own heartbeat payload.
        server.on('ping', (payload) => {
          if (payload.length === 0) keepalives++;
          void server.pong('hb');
        });
        await assert.rejects(
          client.ping('x', { timeout: 300 }),
          (error: unknown) => error instanceof PongMismatchError && Buffer.from(error.received).equals(text('hb')),
        );
        assert.ok(keepalives >= 2, `only ${keepalives} keep-alive pings while the ping waited 300 ms at a 30 ms interval`);
        assert.equal(client.readyState, 'open');
      } finally {
        await closePair(client, server);
      }
    });

    test('no pong within the timeout rejects with PingTimeoutError; unsolicited pongs are fine', async () => {
      const { client, server } = await wsPair(transport, { server: { autoPong: false } });
      const pongs: Buffer[] = [];
      client.on('pong', (payload) => pongs.push(payload));
      const heartbeat = once(client, 'pong');
      await server.pong('heartbeat');
      await heartbeat;
      const start = performance.now();
      await assert.rejects(client.ping('x', { timeout: 100 }), (error: unknown) => error instanceof PingTimeoutError && error.timeout === 100);
      const waited = performance.now() - start;
      assert.ok(waited >= 95 && waited < 1000, `timed out after ${waited} ms`);
      assert.deepEqual(pongs, [text('heartbeat')]);
      assert.equal(client.readyState, 'open');
      await closePair(client, server);
    });

    test('one pong answering the latest of several pings answers them all (RFC 6455 5.5.3)', async () => {
      const { client, server } = await wsPair(transport, { server: { autoPong: false } });
      let pings = 0;
      server.on('ping', () => pings++);
      const first = client.ping('1');
      const second = client.ping('2');
      await until(() => pings === 2);
      await server.pong('2');
      assert.equal(typeof (await first), 'number');
      assert.equal(typeof (await second), 'number');
      await closePair(client, server);
    });

    test('pending pings reject with ConnectionClosedError when the connection closes', async () => {
      const { client, server } = await wsPair(transport, { server: { autoPong: false } });
      const pending = client.ping('never answered');
      await once(server, 'ping');
      server.terminate();
      await assert.rejects(pending, ConnectionClosedError);
      await closePair(client, server);
    });
  });

  describe(`timers (${transport})`, { timeout: 120_000 }, () => {
    test('pingInterval sends keep-alive pings while nothing arrives, and the pongs keep idleTimeout away', async () => {
      // On the fake clock: 630 ms of it pass, 70 at a time, each step after the last ping's pong came back.
      const { clock, timers } = fakeTimers();
      const { client, server } = await wsPair(transport, { client: { pingInterval: 60, idleTimeout: 250, timers } });
      let pings = 0;
      server.on('ping', () => pings++);
      await Promise.all([next(client, 'open'), next(server, 'open')]);
      for (let step = 0; step < 9; step++) {
        const pong = next(client, 'pong');
        clock.advance(70);
        await within(pong, 5000, `the pong of keep-alive ping ${step + 1}`);
      }
      assert.ok(pings >= 4, `only ${pings} keep-alive pings in 630 ms at a 60 ms interval`);
      assert.equal(client.readyState, 'open', 'answered pings keep the connection alive past idleTimeout');
      await closePair(client, server);
    });

    test('idleTimeout closes (1001) a connection from which nothing arrived', async () => {
      const { client, server } = await wsPair(transport, { server: { idleTimeout: 150 } });
      const closes = Promise.all([next(client, 'close'), next(server, 'close')]);
      const start = performance.now();
      const [[clientCode, clientReason], [serverCode]] = await within(closes, 3000, 'idle close');
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 140 && elapsed < 1500, `closed after ${elapsed} ms`);
      assert.equal(clientCode, 1001);
      assert.equal(clientReason, 'idle timeout');
      assert.equal(serverCode, 1001);
      await closePair(client, server);
    });

    test('traffic postpones idleTimeout', async () => {
      // On the fake clock: 400 ms of it pass, 50 at a time, and each message is read before time moves on.
      const { clock, timers } = fakeTimers();
      const { client, server } = await wsPair(transport, { server: { idleTimeout: 200, timers } });
      for (let i = 0; i < 8; i++) {
        clock.advance(50);
        const read = server.receive();
        await client.send('still here');
        await read;
      }
      assert.equal(server.readyState, 'open');
      await closePair(client, server);
    });

    test('idleTimeout with propagateErrors emits IdleTimeoutError', async () => {
      const { client, server } = await wsPair(transport, { server: { idleTimeout: 100, propagateErrors: true } });
      const [error] = await within(next(server, 'error'), 3000);
      assert.ok(error instanceof IdleTimeoutError);
      await closePair(client, server);
    });

    test('messageTimeout fails (1008) a message that is still arriving after the bound, not one that finishes in time', async () => {
      // On the fake clock (it failed once under load on real time): time moves only here.
      const { clock, timers } = fakeTimers();
      const { ws, peer } = await rawPair(transport, 'server', { messageTimeout: 1000, closeTimeout: 200, timers });
      const errors: Error[] = [];
      ws.on('error', (error) => errors.push(error));
      const closed = next(ws, 'close');
      const frame = peer.encode({ opcode: Opcode.Text, payload: text('slow but done') });
      // Finishes within the bound (900 of its 1000 ms), across several reads.
      peer.write(frame.subarray(0, 3));
      await until(() => midMessage(ws), 5000, 'the start of the frame read');
      clock.advance(600);
      peer.write(frame.subarray(3, 8));
      clock.advance(300);
      peer.write(frame.subarray(8));
      assert.deepEqual(await within(ws.receive(), 5000, 'the message'), { type: 'text', data: 'slow but done' });
      // Dribbled: a byte every 20 ms (over 2 s for the whole frame) never finishes in time, however steadily it comes.
      const dribble = peer.encode({ opcode: Opcode.Binary, payload: Buffer.alloc(100) });
      let at = 0;
      peer.write(dribble.subarray(at, ++at));
      await until(() => midMessage(ws), 5000, 'the start of the dribble read');
      for (let elapsed = 0; elapsed < 980; elapsed += 20) {
        clock.advance(20);
        peer.write(dribble.subarray(at, ++at));
      }
      assert.equal(errors.length, 0, 'not cut off before the bound');
      assert.equal(ws.readyState, 'open');
      // Timers fire at most one wheel resolution (10 ms here) late, never early.
      clock.advance(40);
      assert.equal(errors.length, 1, 'cut off within 1040 ms of the first byte');
      assert.ok(errors[0] instanceof MessageTimeoutError);
      // The peer never answers our close: closeTimeout (on the same clock) ends the wait.
      clock.advance(250);
      const [code] = await within(closed, 5000, 'close');
      assert.equal(code, 1008);
      let close = await peer.nextFrame();
      while (close !== null && close.opcode !== Opcode.Close) close = await peer.nextFrame();
      assert.equal(Buffer.from(close!.payload).readUInt16BE(0), 1008);
    });

    test('time paused by our own backpressure does not count against messageTimeout', async () => {
      // On the fake clock: time moves only here.
      const { clock, timers } = fakeTimers();
      const { ws, peer } = await rawPair(transport, 'server', { messageTimeout: 100, receiveHighWaterMessages: 1, closeTimeout: 200, timers });
      await next(ws, 'open');
      // One read: two messages (past the mark: reading pauses) and the start of a third.
      const third = peer.encode({ opcode: Opcode.Binary, payload: Buffer.alloc(1000, 3) });
      peer.write(
        Buffer.concat([peer.encode({ opcode: Opcode.Text, payload: text('a') }), peer.encode({ opcode: Opcode.Text, payload: text('b') }), third.subarray(0, 500)]),
      );
      await until(() => messagesIn(ws) === 2, 5000, 'the first two messages read');
      clock.advance(300); // three times the bound, all of it spent paused by us
      assert.equal(ws.readyState, 'open');
      assert.deepEqual(await ws.receive(), { type: 'text', data: 'a' });
      assert.deepEqual(await ws.receive(), { type: 'text', data: 'b' });
      peer.write(third.subarray(500));
      assert.deepEqual(await within(ws.receive(), 3000), { type: 'binary', data: Buffer.alloc(1000, 3) });
      // And once reading again, the bound applies.
      const closed = next(ws, 'close');
      peer.write(peer.encode({ opcode: Opcode.Binary, payload: Buffer.alloc(10) }).subarray(0, 4));
      await until(() => midMessage(ws), 5000, 'the start of the last message read');
      clock.advance(120);
      assert.equal(ws.readyState, 'closing', 'failed by messageTimeout');
      clock.advance(250); // the closeTimeout, on the same clock
      const [code] = await within(closed, 5000, 'message timeout');
      assert.equal(code, 1008);
    });

    test('maxBufferedAmount: past the bound, a peer that takes nothing for stallTimeout is failed (1008) and the socket goes', async () => {
      const { client, server, serverStream } = await wsPair(transport, { client: { maxBufferedAmount: 256 * 1024, stallTimeout: 200 } });
      serverStream.pause(); // a peer that reads nothing
      const chunk = Buffer.alloc(64 * 1024);
      const closed = next(client, 'close');
      let failure: unknown;
      for (let i = 0; i < 2000 && client.readyState === 'open'; i++) {
        client.send(chunk).catch((error: unknown) => {
          failure ??= error;
        });
        if (i % 16 === 0) await tick();
      }
      const [code] = await within(closed, 5000, 'close');
      assert.equal(code, 1008);
      await tick();
      assert.ok(failure instanceof ConnectionClosedError || failure instanceof SendBufferFullError);
      await closePair(client, server);
    });

    test('timers cost nothing when off and are released when the connection closes', async () => {
      const before = pendingTimers();
      const { client, server } = await wsPair(transport, { client: { pingInterval: 0, idleTimeout: 0 } });
      // 'open' is emitted right before reading (and any keep-alive timer) starts.
      await Promise.all([next(client, 'open'), next(server, 'open')]);
      assert.equal(pendingTimers(), before, 'no timer for a connection with keep-alive and idle off');
      const timed = await wsPair(transport, { client: { pingInterval: 1000, idleTimeout: 5000 } });
      await waitFor(() => pendingTimers() === before + 1, { what: "the timed connection's timer" });
      assert.equal(pendingTimers(), before + 1, 'one timer serves keep-alive and idle');
      await closePair(client, server, timed.client, timed.server);
      assert.equal(pendingTimers(), before);
    });
  });

  describe(`closing (${transport})`, { timeout: 120_000 }, () => {
    test('close from the client: both sides see the code, close() resolves with the peer’s', async () => {
      const { client, server } = await wsPair(transport);
      const serverClosed = next(server, 'close');
      const clientClosed = next(client, 'close');
      const closing = client.close(4001, 'done here');
      assert.equal(client.readyState, 'closing');
      assert.deepEqual(await closing, { code: 4001, reason: '' });
      assert.deepEqual(await serverClosed, [4001, 'done here']);
      assert.deepEqual(await clientClosed, [4001, '']);
      assert.equal(client.readyState, 'closed');
      assert.equal(server.readyState, 'closed');
      assert.equal(client.closeCode, 4001);
      assert.deepEqual(await client.close(), { code: 4001, reason: '' }, 'close() after the close says how it ended');
    });

    test('close from the server', async () => {
      const { client, server } = await wsPair(transport);
      const clientClosed = next(client, 'close');
      assert.deepEqual(await server.close(1001, 'shutting down'), { code: 1001, reason: '' });
      assert.deepEqual(await clientClosed, [1001, 'shutting down']);
    });

    test('close() with no arguments sends 1000; a close without a code is reported as 1005', async () => {
      const { client, server } = await wsPair(transport);
      const serverClosed = next(server, 'close');
      await client.close();
      assert.deepEqual(await serverClosed, [1000, '']);
      const second = await wsPair(transport);
      const peerClosed = next(second.server, 'close');
      assert.deepEqual(await connectionInternals.closeWithoutCode(second.client), { code: 1005, reason: '' });
      assert.deepEqual(await peerClosed, [1005, '']);
    });

    test('invalid close codes and reasons are refused without closing', async () => {
      const { client, server } = await wsPair(transport);
      await assert.rejects(client.close(1005), InvalidArgumentError);
      await assert.rejects(client.close(999), InvalidArgumentError);
      await assert.rejects(client.close(1000, 'x'.repeat(124)), InvalidArgumentError);
      assert.equal(client.readyState, 'open');
      await closePair(client, server);
    });

    test('sends queued before close() still go out, in order, before the close frame', async () => {
      const { client, server } = await wsPair(transport);
      async function* parts(): AsyncGenerator<string> {
        yield 'streamed ';
        await tick();
        yield 'message';
      }
      void client.send(parts());
      void client.send('after the stream');
      const closing = client.close(1000);
      const got: Message[] = [];
      for await (const m of server) got.push(m);
      assert.deepEqual(got, [
        { type: 'text', data: 'streamed message' },
        { type: 'text', data: 'after the stream' },
      ]);
      assert.deepEqual(await closing, { code: 1000, reason: '' });
    });

    test('terminate() destroys at once; both sides see 1006', async () => {
      const { client, server } = await wsPair(transport);
      const closes = Promise.all([next(client, 'close'), next(server, 'close')]);
      client.terminate();
      const [[a], [b]] = await closes;
      assert.equal(a, 1006);
      assert.equal(b, 1006);
    });

    test('closeTimeout destroys the socket when the peer never answers the close', async () => {
      const { ws, peer, wsStream } = await rawPair(transport, 'client', { closeTimeout: 150 });
      const closed = next(ws, 'close');
      const start = performance.now();
      await assert.rejects(ws.close(1000), (error: unknown) => error instanceof CloseTimeoutError && error.timeout === 150);
      const elapsed = performance.now() - start;
      assert.ok(elapsed >= 140 && elapsed < 1500, `gave up after ${elapsed} ms`);
      assert.deepEqual(await closed, [1006, '']);
      assert.ok(wsStream.destroyed);
      const frame = await peer.nextFrame();
      assert.equal(frame?.opcode, Opcode.Close, 'the close frame was sent');
    });

    test('with propagateErrors the close timeout is also an error event', async () => {
      const { ws } = await rawPair(transport, 'server', { closeTimeout: 50, propagateErrors: true });
      const errored = next(ws, 'error');
      void ws.close();
      const [error] = await errored;
      assert.ok(error instanceof CloseTimeoutError);
    });

    test('the server closes TCP first after the handshake (RFC 6455 7.1.1); the client then follows', async () => {
      const { client, server, clientStream, serverStream } = await wsPair(transport);
      let clientHadEndedWhenFinArrived: boolean | undefined;
      // First listener: before the stream's own (which ends a socket without allowHalfOpen).
      clientStream.prependListener('end', () => {
        clientHadEndedWhenFinArrived = clientStream.writableEnded;
      });
      const done = Promise.all([next(client, 'close'), next(server, 'close')]);
      await client.close(1000);
      await done;
      assert.equal(clientHadEndedWhenFinArrived, false, 'the server FIN came before the client ended its side');
      assert.ok(clientStream.destroyed && serverStream.destroyed);
    });

    test('the client does not wait long for a server that never closes TCP after the handshake', async () => {
      const { ws, peer } = await rawPair(transport, 'client', { closeTimeout: 10_000 });
      const closed = next(ws, 'close');
      const start = performance.now();
      const closing = ws.close(1000, 'bye');
      const frame = await peer.nextFrame();
      assert.equal(frame?.opcode, Opcode.Close);
      // The raw server answers the close but keeps TCP open.
      peer.send({ opcode: Opcode.Close, payload: frame!.payload.subarray(0, 2) });
      assert.deepEqual(await closing, { code: 1000, reason: '' });
      assert.deepEqual(await closed, [1000, '']);
      const elapsed = performance.now() - start;
      assert.ok(elapsed < 3000, `client lingered ${elapsed} ms`);
    });
  });

  describe(`errors (${transport})`, { timeout: 120_000 }, () => {
    test('a peer that resets mid-message: close 1006, no error event, pending receive rejects', async () => {
      const { ws, peer } = await rawPair(transport, 'server');
      const errors: Error[] = [];
      ws.on('error', (error) => errors.push(error));
      const pending = ws.receive();
      const frame = peer.encode({ opcode: Opcode.Binary, payload: Buffer.alloc(1000) });
      peer.write(frame.subarray(0, 500));
      await until(() => midMessage(ws), 5000, 'the first half read');
      const closed = next(ws, 'close');
      if (isSocket(peer.stream)) peer.stream.resetAndDestroy();
      else (peer.stream as ReturnType<typeof duplexPair>[0]).reset();
      assert.deepEqual(await closed, [1006, '']);
      await assert.rejects(pending, (error: unknown) => error instanceof ConnectionClosedError && error.closeCode === 1006 && !error.wasClean);
      assert.deepEqual(errors, []);
    });

    test('with propagateErrors a reset is an error event, and for await throws', async () => {
      const { ws, peer } = await rawPair(transport, 'server', { propagateErrors: true });
      const errored = next(ws, 'error');
      const loop = (async () => {
        for await (const _ of ws) {
          // nothing arrives
        }
      })();
      await next(ws, 'open');
      if (isSocket(peer.stream)) peer.stream.resetAndDestroy();
      else (peer.stream as ReturnType<typeof duplexPair>[0]).reset();
      const [error] = await errored;
      assert.ok(error instanceof ConnectionClosedError);
      assert.equal((error as ConnectionClosedError).closeCode, 1006);
      await assert.rejects(loop, ConnectionClosedError);
    });

    test('a protocol error: earlier messages delivered and answered first, then error and close with the code', async () => {
      const { ws, peer } = await rawPair(transport, 'server');
      ws.on('message', (data) => void ws.send(`echo ${data as string}`));
      const errored = next(ws, 'error');
      const closed = next(ws, 'close');
      // One write: two good messages, then a frame with a reserved opcode.
      peer.send({ opcode: Opcode.Text, payload: text('one') }, { opcode: Opcode.Text, payload: text('two') }, { opcode: 0x3 });
      const [error] = await errored;
      assert.ok(error instanceof ProtocolError);
      assert.equal((error as ProtocolError).closeCode, 1002);
      const [code] = await closed;
      assert.equal(code, 1002);
      const frames = [await peer.nextFrame(), await peer.nextFrame(), await peer.nextFrame()];
      assert.deepEqual(
        frames.map((f) => [f?.opcode, Buffer.from(f!.payload).toString('latin1')]),
        [
          [Opcode.Text, 'echo one'],
          [Opcode.Text, 'echo two'],
          // 1002 with the failure table's reason for the violation (issue 16).
          [Opcode.Close, '\x03\xeareserved opcode'],
        ],
      );
    });

    test('a protocol error with no error listener does not crash; invalid UTF-8 closes with 1007', async () => {
      const { ws, peer } = await rawPair(transport, 'server');
      const closed = next(ws, 'close');
      peer.send({ opcode: Opcode.Text, payload: Buffer.from([0xc3, 0x28]) });
      assert.equal((await closed)[0], 1007);
    });

    test('a message too big closes with 1009', async () => {
      const { ws, peer } = await rawPair(transport, 'server', { maxMessageSize: 1000 });
      const closed = next(ws, 'close');
      peer.send({ opcode: Opcode.Binary, payload: Buffer.alloc(1001) });
      assert.equal((await closed)[0], 1009);
    });

    test('options resolved once (as a server shares them) are the ones applied, and each connection keeps its own state', async () => {
      const shared = resolveOptions({ maxMessageSize: 1000 });
      // The fields given beside `options` are ignored: the resolved object wins.
      const first = await rawPair(transport, 'server', { options: shared, maxMessageSize: 10 });
      const second = await rawPair(transport, 'server', { options: shared });
      const got = next(first.ws, 'message');
      first.peer.send({ opcode: Opcode.Binary, payload: Buffer.alloc(1000, 1) });
      assert.equal(((await got)[0] as Buffer).length, 1000);
      const closed = next(second.ws, 'close');
      second.peer.send({ opcode: Opcode.Binary, payload: Buffer.alloc(1001) });
      assert.equal((await closed)[0], 1009);
      // The first connection is unaffected by the second one's failure.
      assert.equal(first.ws.readyState, 'open');
      await closePair(first.ws);
    });

    test("a listener that throws neither crashes the process nor harms other connections: 'error', then 1011", async () => {
      const { client, server } = await wsPair(transport);
      const other = await wsPair(transport);
      server.on('message', () => {
        throw new Error('handler bug');
      });
      const errored = next(server, 'error');
      const clientClosed = next(client, 'close');
      await client.send('boom');
      const [error] = await errored;
      assert.equal((error as Error).message, 'handler bug');
      assert.deepEqual(await clientClosed, [1011, 'internal error']);
      await other.client.send('still fine');
      assert.deepEqual(await other.server.receive(), { type: 'text', data: 'still fine' });
      await closePair(other.client, other.server);
    });

    test('an async listener that rejects, with no error listener, becomes a warning and a 1011 close', async () => {
      const { client, server } = await wsPair(transport);
      const warnings: Error[] = [];
      const onWarning = (warning: Error): void => {
        warnings.push(warning);
      };
      process.on('warning', onWarning);
      try {
        server.on('message', async () => {
          await tick();
          throw new Error('async handler bug');
        });
        const clientClosed = next(client, 'close');
        await client.send('boom');
        assert.equal((await clientClosed)[0], 1011);
        await until(() => warnings.length > 0);
        assert.equal(warnings[0]!.message, 'async handler bug');
      } finally {
        process.off('warning', onWarning);
      }
    });
  });

  describe(`state and properties (${transport})`, { timeout: 120_000 }, () => {
    test('readyState, protocol, extensions, url; open is emitted once listeners can see it', async () => {
      const [a, b] = transport === 'tcp' ? await (await import('../helpers/tcp-pair.js')).tcpPair() : duplexPair();
      const client = new WebSocket(a, { role: 'client', url: 'ws://example.test/chat', protocol: 'chat.v1', pingInterval: 0, idleTimeout: 0 });
      const server = new WebSocket(b, { role: 'server', pingInterval: 0, idleTimeout: 0 });
      let opened = false;
      client.on('open', () => (opened = true));
      assert.equal(client.readyState, 'open');
      assert.equal(client.protocol, 'chat.v1');
      assert.equal(client.extensions, '');
      assert.equal(client.url, 'ws://example.test/chat');
      assert.equal(server.url, '');
      assert.equal(client.bufferedAmount, 0);
      assert.equal(opened, false, "'open' comes on a later turn, once listeners are attached");
      await until(() => opened, 1000, "'open'");
      await closePair(client, server);
    });

    test('head bytes (those that came with the handshake) are the first messages', async () => {
      const { ws, peer } = await rawPair(transport, 'client', {
        head: Buffer.concat([
          encodeHead({ opcode: Opcode.Text, payload: text('from the head') }),
          encodeHead({ opcode: Opcode.Text, payload: text('also') }),
        ]),
      });
      peer.send({ opcode: Opcode.Text, payload: text('from the socket') });
      assert.deepEqual(await ws.receive(), { type: 'text', data: 'from the head' });
      assert.deepEqual(await ws.receive(), { type: 'text', data: 'also' });
      assert.deepEqual(await ws.receive(), { type: 'text', data: 'from the socket' });
      await closePair(ws);
    });

    test('invalid options are refused with InvalidArgumentError', async () => {
      const [a, b] = duplexPair();
      assert.throws(() => new WebSocket(a, { role: 'client', closeTimeout: -1 }), InvalidArgumentError);
      assert.throws(() => new WebSocket(a, { role: 'client', pingInterval: Infinity }), InvalidArgumentError);
      a.destroy();
      b.destroy();
    });
  });
}

describe('memory of unread messages', { timeout: 60_000 }, () => {
  test('a queued small message does not keep its whole socket chunk alive', async () => {
    const gc = gcFunction();
    const { ws, peer } = await rawPair('memory', 'server', { receiveHighWaterMessages: 10_000, receiveHighWaterMark: 64 * 1024 * 1024 });
    await next(ws, 'open');
    gc();
    gc();
    const baseline = process.memoryUsage().arrayBuffers;
    // 500 reads of 64 KiB, each a 10-byte message followed by pings that nobody keeps.
    const pings = Array.from({ length: 500 }, () => peer.encode({ opcode: Opcode.Ping, payload: Buffer.alloc(125) }));
    for (let i = 0; i < 500; i++) {
      peer.write(Buffer.concat([peer.encode({ opcode: Opcode.Binary, payload: Buffer.alloc(10, i & 0xff) }), ...pings.slice(0, 500)]));
    }
    await until(() => messagesIn(ws) === 500, 10_000, 'the 500 messages read');
    gc();
    gc();
    const held = process.memoryUsage().arrayBuffers - baseline;
    // Pinned chunks would be 500 x 64 KiB, about 32 MiB.
    assert.ok(held < 8 * 1024 * 1024, `${(held / 1048576).toFixed(1)} MiB held for 5,000 bytes of unread messages`);
    for (let i = 0; i < 500; i++) assert.deepEqual(await ws.receive(), { type: 'binary', data: Buffer.alloc(10, i & 0xff) });
    await closePair(ws);
  });
});

function encodeHead(options: { opcode: number; payload: Uint8Array }): Buffer {
  // A server's frames are unmasked.
  const header = Buffer.from([0x80 | options.opcode, options.payload.length]);
  return Buffer.concat([header, options.payload]);
}

/**
 * A codec that claims RSV1 but takes `delay` ms to decide to send each message as it is: a reply
 * through it goes out asynchronously, as a compressed one does, while its bytes stay plain.
 */
function slowCodec(delay: number): MessageCodec {
  // `delay` turns of the event loop (no timers): I/O already under way, the rest of the read, runs first.
  return {
    hook: { name: 'x-slow', rsvBits: 0x40 },
    header: 'x-slow',
    decode: async (data: Uint8Array) => data,
    encode: async () => {
      await turns(delay);
      return null;
    },
    close: () => {},
  };
}

/** Frames from a RawPeer until its close frame (included) or the end of the stream. */
async function framesUntilClose(peer: RawPeer): Promise<[number, string][]> {
  const out: [number, string][] = [];
  for (let f = await peer.nextFrame(); f !== null; f = await peer.nextFrame()) {
    out.push([f.opcode, f.opcode === Opcode.Close ? String(Buffer.from(f.payload).readUInt16BE(0)) : Buffer.from(f.payload).toString()]);
    if (f.opcode === Opcode.Close) break;
  }
  return out;
}

for (const transport of transports) {
  describe(`replies that must wait, before a close or a protocol error read with their message (${transport})`, { timeout: 60_000 }, () => {
    test('replies still being encoded go out before the close 1002 for a bad frame in the same read', async () => {
      const { ws, peer } = await rawPair(transport, 'server', { codecs: [slowCodec(30)] });
      try {
        ws.on('error', () => {});
        const sends: Promise<void>[] = [];
        ws.on('message', (data) => sends.push(ws.send(data)));
        await next(ws, 'open');
        peer.write(Buffer.concat([peer.encode({ opcode: Opcode.Text, payload: text('one') }), peer.encode({ opcode: Opcode.Text, payload: text('two') }), peer.encode({ opcode: 3, payload: text('bad') })]));
        assert.deepEqual(await within(framesUntilClose(peer), 3000, 'the frames'), [
          [Opcode.Text, 'one'],
          [Opcode.Text, 'two'],
          [Opcode.Close, '1002'],
        ]);
        await within(Promise.all(sends), 3000, 'the sends');
      } finally {
        await closePair(ws);
      }
    });

    test('a reply still being encoded goes out before the answer to a close frame in the same read', async () => {
      const { ws, peer } = await rawPair(transport, 'server', { codecs: [slowCodec(30)] });
      try {
        const closed = next(ws, 'close');
        ws.on('message', (data) => void ws.send(data));
        await next(ws, 'open');
        peer.write(Buffer.concat([peer.encode({ opcode: Opcode.Text, payload: text('last words') }), peer.encode({ opcode: Opcode.Close, payload: Buffer.from([0x03, 0xe8]) })]));
        assert.deepEqual(await within(framesUntilClose(peer), 3000, 'the frames'), [
          [Opcode.Text, 'last words'],
          [Opcode.Close, '1000'],
        ]);
        const [code] = await within(closed, 3000, 'close');
        assert.equal(code, 1000);
      } finally {
        await closePair(ws);
      }
    });

    test('a reply queued behind a streamed send that never ends does not hold back the close', async () => {
      const { ws, peer } = await rawPair(transport, 'server', { codecs: [slowCodec(30)], closeTimeout: 300 });
      const endless = new Readable({ read() {} });
      try {
        ws.on('error', () => {});
        const closed = next(ws, 'close');
        endless.push('a start');
        ws.send(endless).catch(() => {});
        let reply: Promise<void> | null = null;
        ws.on('message', (data) => (reply = ws.send(data)));
        await next(ws, 'open');
        peer.write(Buffer.concat([peer.encode({ opcode: Opcode.Text, payload: text('hello') }), peer.encode({ opcode: Opcode.Close, payload: Buffer.from([0x03, 0xe8]) })]));
        const frames = await within(framesUntilClose(peer), 3000, 'the frames');
        assert.deepEqual(frames.at(-1), [Opcode.Close, '1000'], 'the close was answered while the stream is still open');
        assert.ok(reply !== null);
        await assert.rejects(reply!, ConnectionClosedError);
        await within(closed, 3000, 'close');
      } finally {
        endless.destroy();
        await closePair(ws);
      }
    });
  });
}

/** permessage-deflate codecs for both ends of a wsPair, compressing every message. */
function deflatePair(): { client: { codecs: MessageCodec[] }; server: { codecs: MessageCodec[] } } {
  const codecs = deflateCodecs();
  return { client: { codecs: codecs.client }, server: { codecs: codecs.server } };
}

// RFC 6455 section 5.5.1 lets an endpoint finish sending data before it answers a close frame. A
// pull consumer (for await, receive()) takes messages after the whole read was parsed, so the
// close read with them must wait for it: else its replies meet a closed connection and are lost.
for (const transport of transports) {
  for (const compressed of [false, true]) {
    for (const echoer of ['server', 'client'] as const) {
      describe(`replies of a pull consumer precede the close read with the messages (${transport}, ${compressed ? 'compressed' : 'plain'}, ${echoer} echoes)`, { timeout: 60_000 }, () => {
        for (const count of [1, 5, 100]) {
          test(`all ${count} messages sent then closed at once are echoed by a for await loop`, async () => {
            const { client, server } = await wsPair(transport, compressed ? deflatePair() : {});
            const [echo, sender] = echoer === 'server' ? [server, client] : [client, server];
            try {
              const echoed = (async () => {
                for await (const m of echo) await echo.send(m.data);
              })();
              const received: string[] = [];
              sender.on('message', (data) => received.push(String(data)));
              const closed = next(sender, 'close');
              for (let i = 0; i < count; i++) void sender.send(`message ${i}`);
              const info = await within(sender.close(1000, 'done'), 10_000, 'the close');
              assert.equal(info.code, 1000);
              await within(closed, 10_000, 'close event');
              await within(echoed, 10_000, 'the loop');
              assert.deepEqual(received, Array.from({ length: count }, (_, i) => `message ${i}`));
            } finally {
              await closePair(client, server);
            }
          });
        }

        test('receive() replies too, and a ping read before the close is still answered at once', async () => {
          const { client, server } = await wsPair(transport, compressed ? deflatePair() : {});
          const [echo, sender] = echoer === 'server' ? [server, client] : [client, server];
          try {
            const received: string[] = [];
            sender.on('message', (data) => received.push(String(data)));
            void sender.send('one');
            void sender.send('two');
            const pong = sender.ping('are you there', { timeout: 10_000 });
            const closing = sender.close(1000);
            await within(pong, 10_000, 'the pong');
            for (let i = 0; i < 2; i++) {
              const m = await within(echo.receive(), 10_000, 'a message');
              await echo.send(`re: ${String(m.data)}`);
            }
            await within(closing, 10_000, 'the close');
            assert.deepEqual(received, ['re: one', 're: two']);
          } finally {
            await closePair(client, server);
          }
        });
      });
    }
  }
}

describe('a close read behind messages nobody takes', { timeout: 60_000 }, () => {
  test('a pull consumer that stops taking delays the answer by half of closeTimeout at most; what was queued can still be received', async () => {
    const { client, server } = await wsPair('tcp', { server: { closeTimeout: 400 } });
    try {
      void client.send('taken');
      void client.send('never taken');
      assert.deepEqual(await within(server.receive(), 10_000, 'the first'), { type: 'text', data: 'taken' });
      const started = performance.now();
      const info = await within(client.close(1000), 10_000, 'the close');
      const waited = performance.now() - started;
      assert.equal(info.code, 1000);
      assert.ok(waited >= 150, `the answer waited for the consumer (${waited.toFixed(0)} ms)`);
      assert.ok(waited < 400 + 1000, `but not past half of closeTimeout by much (${waited.toFixed(0)} ms)`);
      await within(next(server, 'close'), 10_000, 'server close');
      assert.deepEqual(await server.receive(), { type: 'text', data: 'never taken' });
    } finally {
      await closePair(client, server);
    }
  });

  test('a connection nobody reads from answers within half of closeTimeout, before a peer with the same timeout gives up', async () => {
    const { client, server } = await wsPair('tcp', { client: { closeTimeout: 1000 }, server: { closeTimeout: 1000 } });
    try {
      void client.send('unread');
      await until(() => client.bufferedAmount === 0);
      const info = await within(client.close(1000), 5_000, 'the close');
      assert.equal(info.code, 1000, 'answered, not timed out');
    } finally {
      await closePair(client, server);
    }
  });

});

// What a resolved send() promises (docs/connection.md, Sending): its bytes were accepted by the
// operating system. A local burst to a peer that reads is not a dead peer; a peer that reads
// nothing at all is still cut off, once bytes have waited stallTimeout without any being written.
describe('sends that keep their word (tcp)', { timeout: 60_000 }, () => {
  test('eight 1 MiB sends fired at once to a peer that reads all arrive, and every one resolves', async () => {
    const { client, server } = await wsPair('tcp', { server: { maxMessageSize: 2 << 20, maxFrameSize: 2 << 20 } });
    try {
      const got: number[] = [];
      server.on('message', (data) => got.push((data as Buffer).length));
      const sends = Array.from({ length: 8 }, () => client.send(Buffer.alloc(1 << 20)));
      await within(Promise.all(sends), 20_000, 'the sends');
      await until(() => got.length === 8, 20_000, 'eight messages');
      assert.equal(client.readyState, 'open');
      assert.deepEqual(got, Array(8).fill(1 << 20));
    } finally {
      await closePair(client, server);
    }
  });

  test('two 16 MiB messages in flight from a client both arrive', async () => {
    const big = { maxMessageSize: 32 << 20, maxFrameSize: 32 << 20 };
    const { client, server } = await wsPair('tcp', { server: big });
    try {
      const first = client.send(Buffer.alloc(16 << 20, 1));
      const second = client.send(Buffer.alloc(16 << 20, 2));
      const a = await within(server.receive(), 30_000, 'the first');
      const b = await within(server.receive(), 30_000, 'the second');
      await within(Promise.all([first, second]), 30_000, 'the sends');
      assert.equal(a.data.length, 16 << 20);
      assert.equal((a.data as Buffer)[0], 1);
      assert.equal((b.data as Buffer)[0], 2);
    } finally {
      await closePair(client, server);
    }
  });

  test('sends whose bytes never left the process reject with ConnectionClosedError when the connection ends', async () => {
    // The peer is a raw socket that stops reading for good: the kernel buffers fill, then our own.
    // (A hybi server's pump resumes its socket when its own flow rules say so, which under load
    // could undo a pause made from outside and let every send through.)
    const { ws: client, wsStream: clientStream, peerStream } = await rawPair('tcp', 'client', { maxBufferedAmount: 256 << 20 });
    try {
      peerStream.pause();
      const outcomes: (true | Error)[] = [];
      const sends = Array.from({ length: 32 }, (_, i) =>
        client.send(Buffer.alloc(1 << 20)).then(
          () => (outcomes[i] = true),
          (error: Error) => (outcomes[i] = error),
        ),
      );
      await until(() => clientStream.writableLength > 0 && clientStream.writableNeedDrain, 10_000, 'bytes waiting in the process');
      peerStream.destroy();
      await within(Promise.all(sends), 10_000, 'every send settles');
      const rejected = outcomes.filter((o) => o !== true);
      assert.ok(rejected.length > 0, 'the sends still in the process did not report success');
      for (const error of rejected) assert.ok(error instanceof ConnectionClosedError, String(error));
      // In order: what resolved went before what was lost.
      const firstRejected = outcomes.findIndex((o) => o !== true);
      assert.ok(outcomes.slice(firstRejected).every((o) => o !== true));
    } finally {
      await closePair(client);
    }
  });

  test('sends never awaited whose bytes never left the process reject quietly when the connection ends: no unhandled rejection', async () => {
    // The wait of a batch gets its rejection handler only when it is rejected (issue 24: one
    // promise less per batch that succeeds); fire-and-forget senders must still see nothing.
    const { ws: client, wsStream: clientStream, peerStream } = await rawPair('tcp', 'client', { maxBufferedAmount: 256 << 20 });
    try {
      await noUnhandledRejection(async () => {
        peerStream.pause();
        for (let i = 0; i < 32; i++) void client.send(Buffer.alloc(1 << 20));
        await until(() => clientStream.writableLength > 0 && clientStream.writableNeedDrain, 10_000, 'bytes waiting in the process');
        const closed = once(client, 'close');
        peerStream.destroy();
        await within(closed, 10_000, 'close');
      });
    } finally {
      await closePair(client);
    }
  });

  test("a 'message' listener returning send()'s promise whose bytes never left fails as a listener (ConnectionClosedError), with no unhandled rejection", async () => {
    // The driver watches its own batch's promise for the listener and gives it the rejection
    // handler only when it rejects (issue 24: no reaction per batch that succeeds).
    const { ws: server, peer, peerStream } = await rawPair('tcp', 'server', { maxBufferedAmount: 256 << 20 });
    try {
      await noUnhandledRejection(async () => {
        const errors: unknown[] = [];
        server.on('error', (error) => errors.push(error));
        let echoed = 0;
        server.on('message', (data) => {
          echoed++;
          const sent = server.send(data as Buffer);
          // Large echoes fill the socket first (their sends are not a read's held batch); the
          // small ones after them are, and only theirs is returned.
          return (data as Buffer).length < 1024 ? sent : undefined;
        });
        peerStream.pause();
        const payload = Buffer.alloc(1 << 20, 1);
        for (let i = 0; i < 16; i++) peer.send({ opcode: Opcode.Binary, payload });
        await until(() => echoed === 16 && server.bufferedAmount > 0, 10_000, 'echoes waiting in the process');
        for (let i = 0; i < 4; i++) {
          peer.send({ opcode: Opcode.Binary, payload: Buffer.from([i]) });
          await until(() => echoed === 17 + i, 10_000, `small message ${i}`);
        }
        const closed = once(server, 'close');
        peerStream.destroy();
        await within(closed, 10_000, 'close');
        await until(() => errors.length > 0, 5_000, "the listener's failure");
        assert.ok(errors.length <= 4, `${errors.length} errors for 4 returned promises`);
        for (const error of errors) assert.ok(error instanceof ConnectionClosedError, String(error));
      });
    } finally {
      await closePair(server);
    }
  });

  test('a peer that reads nothing is cut off (1008) once bytes waited stallTimeout without progress, reason saying so', async () => {
    const { client, server, serverStream } = await wsPair('tcp', { client: { maxBufferedAmount: 256 * 1024, stallTimeout: 300 } });
    try {
      serverStream.pause();
      const closed = next(client, 'close');
      const chunk = Buffer.alloc(64 * 1024);
      for (let i = 0; i < 2000 && client.readyState === 'open'; i++) {
        client.send(chunk).catch(() => {});
        if (i % 16 === 0) await tick();
      }
      const [code, reason] = await within(closed, 10_000, 'close');
      assert.equal(code, 1008);
      assert.match(String(reason), /waited 300 ms/);
    } finally {
      await closePair(client, server);
    }
  });
});

describe('coming from ws', { timeout: 30_000 }, () => {
  test('CONNECTING/OPEN/CLOSING/CLOSED are the readyState values, so `readyState === WebSocket.OPEN` works', async () => {
    assert.deepEqual([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED], ['connecting', 'open', 'closing', 'closed']);
    const { client, server } = await wsPair('memory');
    assert.equal(client.readyState, WebSocket.OPEN);
    const closing = client.close(1000);
    assert.equal(client.readyState, WebSocket.CLOSING);
    await closing;
    await closePair(client, server);
    assert.equal(client.readyState, WebSocket.CLOSED);
  });

  test('new WebSocket(url) throws an InvalidArgumentError that points to connect() and BrowserWebSocket', () => {
    for (const url of ['ws://127.0.0.1:1/', new URL('ws://127.0.0.1:1/')]) {
      assert.throws(
        () => new (WebSocket as unknown as new (url: unknown) => WebSocket)(url),
        (error: unknown) =>
          error instanceof InvalidArgumentError && /connect\(url\)/.test(error.message) && /BrowserWebSocket/.test(error.message) && /hybi\/browser/.test(error.message),
      );
    }
  });
});
