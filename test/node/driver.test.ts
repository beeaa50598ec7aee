/**
 * The socket driver: one core Connection bound to one Duplex. Checked here at its own level
 * (reads, pause reasons, coalesced writes, the extension transform, the end of the transport);
 * the user-visible behaviour built on it is in test/api/websocket.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { once } from 'node:events';
import { decodeFrame } from '../../src/core/frame-parser.js';
import { encodeFrame } from '../../src/core/frame.js';
import { type ConnectionFailure, MessageTooLargeError, ProtocolError } from '../../src/core/errors.js';
import { releaseMaskMemory, reserveMaskMemory } from '../../src/node/mask-pool.js';
import { Opcode } from '../../src/core/opcode.js';
import {
  onClosed,
  onFragment,
  onIdle,
  onKeepalive,
  onMessage,
  onPeerClose,
  onPing,
  onPong,
  onProtocolError,
  SocketDriver,
  TransformHold,
  type CloseResult,
  type DriverEvents,
  type DriverOptions,
} from '../../src/node/driver.js';
import { prepareFrame } from '../../src/core/prepared-frame.js';
import { PauseReason } from '../../src/api/holds.js';
import type { MessageCodec } from '../../src/node/message-codec.js';
import type { ConnectionInit } from '../../src/api/connection-init.js';
import { WebSocket } from '../../src/api/websocket.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { tcpPair } from '../helpers/tcp-pair.js';
import { closePair, sleep, within } from '../helpers/ws-pair.js';
import { waitFor } from '../helpers/wait.js';

/** Records what a driver reports. */
class Recorder {
  messages: [string, boolean][] = [];
  errors: ConnectionFailure[] = [];
  peerCloses: [number, string][] = [];
  closedCalls = 0;
  readonly closed: Promise<CloseResult>;
  private settle!: (result: CloseResult) => void;

  constructor() {
    this.closed = new Promise((resolve) => (this.settle = resolve));
  }

  events(): DriverEvents {
    return {
      [onMessage]: (data, isText) => this.messages.push([Buffer.from(data).toString(), isText]),
      [onFragment]: () => {},
      [onPing]: () => {},
      [onPong]: () => {},
      [onPeerClose]: (code, reason) => this.peerCloses.push([code, reason]),
      [onProtocolError]: (error) => this.errors.push(error),
      [onKeepalive]: () => {},
      [onIdle]: () => {},
      [onClosed]: (result) => {
        this.closedCalls++;
        this.settle(result);
      },
    };
  }
}

/** A driver over one end of an in-memory pair, with the other end read frame by frame. */
function driverPair(options: Partial<DriverOptions> = {}): { driver: SocketDriver; record: Recorder; peer: Duplex; frames: () => Promise<ReturnType<typeof decodeFrame>[]> } {
  const [a, b] = duplexPair();
  const record = new Recorder();
  const driver = new SocketDriver(
    a,
    { role: 'server', maxMessageSize: 1 << 20, pingInterval: 0, idleTimeout: 0, closeTimeout: 1000, ...options },
    record.events(),
  );
  let received = Buffer.alloc(0);
  b.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  b.on('error', () => {});
  const frames = async (): Promise<ReturnType<typeof decodeFrame>[]> => {
    await sleep(10);
    const out: ReturnType<typeof decodeFrame>[] = [];
    let offset = 0;
    for (;;) {
      const f = decodeFrame(new Uint8Array(received.subarray(offset)));
      if (f === null) break;
      out.push(f);
      offset += f.bytesConsumed;
    }
    return out;
  };
  return { driver, record, peer: b, frames };
}

const masked = (opcode: number, payload: string | Uint8Array, extra: { fin?: boolean; rsv1?: boolean } = {}): Uint8Array =>
  encodeFrame({ opcode, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, mask: true, ...extra });

/**
 * A stand-in for permessage-deflate that claims RSV1 and reverses the payload's bytes, with a
 * decode delay to show that the driver waits for it, in order.
 */
function reversingCodec(options: { delay?: number; gate?: Promise<void>; fail?: Error } = {}): MessageCodec & { closed: number; decoded: number; started: number } {
  const reverse = (data: Uint8Array): Uint8Array => Uint8Array.from(data).reverse();
  const codec = {
    hook: { name: 'x-reverse', rsvBits: 0x40 },
    header: 'x-reverse',
    closed: 0,
    decoded: 0,
    started: 0,
    async decode(data: Uint8Array): Promise<Uint8Array> {
      codec.started++;
      // A gate the test opens: the decode lasts exactly until the test has looked (no timing).
      if (options.gate) await options.gate;
      if (options.delay) await sleep(options.delay);
      if (options.fail) throw options.fail;
      codec.decoded++;
      return reverse(data);
    },
    async encode(data: Uint8Array): Promise<{ data: Uint8Array; rsv: number } | null> {
      // Tiny messages go as they are: the codec may decline.
      return data.length < 2 ? null : { data: reverse(data), rsv: 0x40 };
    },
    close(): void {
      codec.closed++;
    },
  };
  return codec;
}

describe('reading', { timeout: 30_000 }, () => {
  test('head bytes are read before the stream, and reads stop while any pause reason is left', async () => {
    const { driver, record, peer } = driverPair();
    driver.start(Buffer.concat([masked(Opcode.Text, 'head')]));
    assert.deepEqual(record.messages, [['head', true]]);
    driver.pause(PauseReason.Queue);
    driver.pause(PauseReason.Stream);
    peer.write(masked(Opcode.Text, 'later'));
    await sleep(20);
    assert.deepEqual(record.messages, [['head', true]]);
    driver.resume(PauseReason.Queue);
    await sleep(20);
    assert.deepEqual(record.messages, [['head', true]], 'still paused for the stream');
    assert.ok(driver.isPaused(PauseReason.Stream));
    driver.resume(PauseReason.Stream);
    await waitFor(() => record.messages.length === 2, { what: 'the message read after the last resume' });
    assert.deepEqual(record.messages, [['head', true], ['later', true]]);
    driver.terminate();
    await record.closed;
  });

  test('nothing is reported after terminate(), even from the rest of the chunk being read', async () => {
    const [a, b] = duplexPair();
    const seen: string[] = [];
    const ws = new WebSocket(a, { role: 'server', pingInterval: 0, idleTimeout: 0 });
    ws.on('message', (data) => {
      seen.push(data as string);
      ws.terminate();
    });
    await sleep(5);
    b.write(Buffer.concat([masked(Opcode.Text, 'one'), masked(Opcode.Text, 'two')]));
    await once(ws, 'close');
    assert.deepEqual(seen, ['one']);
    b.destroy();
  });
});

/** How many blocks of masking memory are free (reserved one by one, then given back). */
function freeMaskBlocks(): number {
  const blocks: Uint8Array[] = [];
  for (let b = reserveMaskMemory(1); b !== null; b = reserveMaskMemory(1)) blocks.push(b);
  for (const b of blocks) releaseMaskMemory(b);
  return blocks.length;
}

/** A Duplex that keeps a copy of every chunk written to it, in order (a writev's chunks one by one). */
class RecordingStream extends Duplex {
  readonly written: Buffer[] = [];
  override _read(): void {}
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.written.push(Buffer.from(chunk));
    cb();
  }
  override _writev(chunks: { chunk: Buffer }[], cb: () => void): void {
    for (const { chunk } of chunks) this.written.push(Buffer.from(chunk));
    cb();
  }
}

/** A started server-role driver (no timers) over a RecordingStream, and what it wrote. */
function recordingDriver(): { driver: SocketDriver; written: Buffer[] } {
  const stream = new RecordingStream();
  const driver = new SocketDriver(stream, { role: 'server', maxMessageSize: 1 << 20, pingInterval: 0, idleTimeout: 0, closeTimeout: 100 }, new Recorder().events());
  driver.start();
  return { driver, written: stream.written };
}

/** `count` recording drivers (see recordingDriver), and the writes of each, by index. */
function recordingDrivers(count: number): { drivers: SocketDriver[]; writes: Buffer[][] } {
  const made = Array.from({ length: count }, () => recordingDriver());
  return { drivers: made.map((m) => m.driver), writes: made.map((m) => m.written) };
}

describe('writing', { timeout: 30_000 }, () => {
  test('the frames sent in one tick (headers and payloads) reach the socket in one write call', async () => {
    const writes: number[] = [];
    class Counting extends Duplex {
      override _read(): void {}
      override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
        writes.push(1);
        cb();
      }
      override _writev(chunks: { chunk: Buffer }[], cb: () => void): void {
        writes.push(chunks.length);
        cb();
      }
    }
    const stream = new Counting();
    const driver = new SocketDriver(stream, { role: 'server', maxMessageSize: 1 << 20, pingInterval: 0, idleTimeout: 0, closeTimeout: 100 }, {
      [onMessage]() {},
      [onFragment]() {},
      [onPing]() {},
      [onPong]() {},
      [onPeerClose]() {},
      [onProtocolError]() {},
      [onKeepalive]() {},
      [onIdle]() {},
      [onClosed]() {},
    });
    driver.start();
    // Above the core's merge threshold a server frame is a header chunk plus the caller's payload.
    driver.sendMessage(Buffer.alloc(10_000), false);
    driver.sendMessage(Buffer.alloc(10_000), false, { fragmentSize: 4000 });
    assert.equal(driver.bufferedAmount, 4 + 10_000 + 3 * 4 + 10_000, 'held bytes count as buffered');
    await sleep(5);
    assert.equal(writes.length, 1, `one write call, not ${writes.length}`);
    assert.equal(driver.bufferedAmount, 0);
    driver.terminate();
  });

  test('small sends of one tick, spread over several slabs of the writer, reach the socket in one write holding exactly their frames in order', async () => {
    // issue 24: small frames go to the batch as byte ranges of the writer's slab (outputRange), no
    // view each; ranges that follow each other are one run, a new slab starts the next run.
    const { driver, written } = recordingDriver();
    const expected: Buffer[] = [];
    let total = 0;
    for (let i = 0; i < 200; i++) {
      // Every length under 126 (the slab's short path), text and binary, each payload its own bytes.
      const payload = Buffer.alloc(i % 126, i & 0x7f);
      const isText = i % 3 === 0;
      driver.sendMessage(payload, isText);
      expected.push(Buffer.from(encodeFrame({ opcode: isText ? Opcode.Text : Opcode.Binary, payload })));
      total += payload.length + 2;
    }
    assert.ok(total > 1024 + 2048 + 4096, 'the frames fill several slabs');
    assert.equal(driver.bufferedAmount, total, 'held bytes count as buffered');
    await within(driver.whenWritten(), 2000, 'the write');
    assert.equal(written.length, 1, `one write, not ${written.length}`);
    assert.deepEqual(written[0], Buffer.concat(expected));
    driver.terminate();
  });

  test('sends outside a read on many connections in one tick end in one process.nextTick, each connection writing once, in order', async () => {
    // A fan-out (publish, broadcast) opens a batch on every connection: they used to queue one
    // tick each (1,000 per publish to 1,000 subscribers); now they share one (issue 24).
    const { drivers, writes } = recordingDrivers(50);
    const frame = prepareFrame(Buffer.from('to everyone'), true);
    const realNextTick = process.nextTick;
    let ticks = 0;
    process.nextTick = ((...args: Parameters<typeof process.nextTick>) => {
      ticks++;
      realNextTick(...args);
    }) as typeof process.nextTick;
    try {
      for (const [i, driver] of drivers.entries()) {
        driver.sendMessage(Buffer.from(`first ${i}`), true);
        driver.sendPrepared(frame);
      }
    } finally {
      process.nextTick = realNextTick;
    }
    assert.equal(ticks, 1, `${ticks} ticks queued for ${drivers.length} connections`);
    assert.ok(writes.every((w) => w.length === 0), 'held until the tick');
    await Promise.all(drivers.map((d) => d.whenWritten()));
    for (const [i, w] of writes.entries()) {
      assert.equal(w.length, 1, `connection ${i}: one write`);
      const first = decodeFrame(w[0]!)!;
      const second = decodeFrame(w[0]!.subarray(first.bytesConsumed))!;
      assert.deepEqual([Buffer.from(first.frame.payload).toString(), Buffer.from(second.frame.payload).toString()], [`first ${i}`, 'to everyone']);
    }
    for (const driver of drivers) driver.terminate();
  });

  test('publishes of one tick from Node\'s Buffer pool, mixed with own sends and a large frame, reach every connection byte-exact and in order, tick after tick', async () => {
    // Issue 24: the output batch recognises a publish's chunk by identity and never extends its run
    // in place. Frames of 32 bytes cut from Node's pool one after another are adjacent in memory;
    // each connection must still get exactly its sequence, also when the frames come again in a
    // later tick and when one connection is sent something the others are not.
    const { drivers, writes: received } = recordingDrivers(20);
    const expected: string[][] = drivers.map(() => []);
    const pooled = (size: number): Uint8Array => Buffer.allocUnsafe(size);
    const large = Buffer.alloc(20_000, 9); // two chunks: header, then the payload itself
    for (let tick = 0; tick < 3; tick++) {
      const frames = Array.from({ length: 4 }, (_, i) => prepareFrame(Buffer.from(`tick ${tick} publish ${i} ${'x'.repeat(10)}`.slice(0, 30)), true, 0, pooled));
      const big = prepareFrame(large, false, 0, pooled);
      for (const [n, frame] of frames.entries()) {
        for (const [d, driver] of drivers.entries()) {
          driver.sendPrepared(frame);
          expected[d]!.push(`tick ${tick} publish ${n} ${'x'.repeat(10)}`.slice(0, 30));
          if (n === 1 && d % 3 === 0) {
            driver.sendMessage(Buffer.from(`own ${d}`), true);
            expected[d]!.push(`own ${d}`);
          }
          if (n === 2 && d % 4 === 1) {
            driver.sendPrepared(big);
            expected[d]!.push('binary 20000');
          }
        }
      }
      await Promise.all(drivers.map((driver) => driver.whenWritten()));
    }
    for (const [d, writes] of received.entries()) {
      const wire = Buffer.concat(writes);
      const seen: string[] = [];
      let at = 0;
      for (;;) {
        const decoded = decodeFrame(wire.subarray(at));
        if (decoded === null) break;
        at += decoded.bytesConsumed;
        const payload = Buffer.from(decoded.frame.payload);
        seen.push(decoded.frame.opcode === Opcode.Text ? payload.toString() : `binary ${payload.every((b) => b === 9) ? payload.length : 'corrupt'}`);
      }
      assert.equal(at, wire.length, `connection ${d}: nothing but whole frames`);
      assert.deepEqual(seen, expected[d], `connection ${d}`);
    }
    for (const driver of drivers) driver.terminate();
  });

  test('a fan-out of many small prepared frames reaches the stream as a few large chunks, byte-exact and in order', async () => {
    // A publish hands every connection the same header and payload chunks. Held one by one they
    // reached the stream as two chunks per message (a writev of thousands of tiny pieces, each
    // wrapped and tracked by the stream); copied into the batch's buffer they leave as a few.
    const chunkCounts: number[] = [];
    const received: Buffer[] = [];
    class Counting extends Duplex {
      override _read(): void {}
      override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
        chunkCounts.push(1);
        received.push(Buffer.from(chunk));
        cb();
      }
      override _writev(chunks: { chunk: Buffer }[], cb: () => void): void {
        chunkCounts.push(chunks.length);
        for (const { chunk } of chunks) received.push(Buffer.from(chunk));
        cb();
      }
    }
    const stream = new Counting();
    const driver = new SocketDriver(stream, { role: 'server', maxMessageSize: 1 << 20, pingInterval: 0, idleTimeout: 0, closeTimeout: 100 }, new Recorder().events());
    driver.start();
    const frames = Array.from({ length: 1000 }, (_, i) => prepareFrame(Buffer.from(`message ${String(i).padStart(24, '0')}`), true));
    const large = Buffer.alloc(5000, 7);
    for (const [i, frame] of frames.entries()) {
      driver.sendPrepared(frame);
      if (i === 500) driver.sendMessage(large, false);
    }
    await driver.whenWritten();
    const chunks = chunkCounts.reduce((a, b) => a + b, 0);
    assert.ok(chunks <= 16, `${chunks} chunks for ${frames.length} messages`);
    const wire = Buffer.concat(received);
    let at = 0;
    const seen: string[] = [];
    for (;;) {
      const decoded = decodeFrame(wire.subarray(at));
      if (decoded === null) break;
      at += decoded.bytesConsumed;
      seen.push(decoded.frame.opcode === Opcode.Text ? Buffer.from(decoded.frame.payload).toString() : `binary ${decoded.frame.payload.length} ${decoded.frame.payload.every((b) => b === 7)}`);
    }
    assert.equal(at, wire.length, 'nothing but whole frames');
    const expected = frames.map((_, i) => `message ${String(i).padStart(24, '0')}`);
    expected.splice(501, 0, 'binary 5000 true');
    assert.deepEqual(seen, expected);
    driver.terminate();
  });

  test('over a socket, large masked frames go out from blocks of masking memory, byte-exact, and every block comes back', async (t) => {
    const [clientSocket, serverSocket] = await tcpPair();
    const client = new WebSocket(clientSocket, { role: 'client', pingInterval: 0, idleTimeout: 0, maxBufferedAmount: 1 << 30 });
    const server = new WebSocket(serverSocket, { role: 'server', pingInterval: 0, idleTimeout: 0, maxMessageSize: 4 << 20, maxFrameSize: 4 << 20 });
    t.after(() => closePair(client, server));
    const free = freeMaskBlocks();
    // More than the pool holds in flight at once (40 MiB), so that blocks run out, and are
    // reused for later frames while earlier writes are still pending.
    const payloads = Array.from({ length: 40 }, (_, i) => Buffer.from(Uint8Array.from({ length: (1 << 20) + i * 37 }, (_, j) => (j * 29 + i * 7 + (j >> 10)) & 0xff)));
    const sent = payloads.map((p) => client.send(p));
    for (const [i, p] of payloads.entries()) {
      const m = await server.receive();
      assert.ok(Buffer.from(m.data as Buffer).equals(p), `message ${i}`);
    }
    await Promise.all(sent);
    await waitFor(() => freeMaskBlocks() === free, { what: 'the pool blocks coming back' });
    assert.equal(freeMaskBlocks(), free, 'every block of the pool is free again');
  });

  test('blocks of masking memory held for a socket that is destroyed come back too', async (t) => {
    const [clientSocket, serverSocket] = await tcpPair();
    serverSocket.pause();
    const free = freeMaskBlocks();
    const client = new WebSocket(clientSocket, { role: 'client', pingInterval: 0, idleTimeout: 0, maxBufferedAmount: 1 << 30 });
    t.after(() => {
      client.terminate();
      serverSocket.destroy();
    });
    for (let i = 0; i < 20; i++) void client.send(Buffer.alloc(1 << 20, i));
    await waitFor(() => freeMaskBlocks() < free, { what: 'blocks taken for the pending writes' });
    assert.ok(freeMaskBlocks() < free, 'blocks are held for the pending writes');
    const closed = once(client, 'close');
    client.terminate();
    await closed;
    serverSocket.destroy();
    await waitFor(() => freeMaskBlocks() === free, { what: 'the pool blocks coming back' });
    assert.equal(freeMaskBlocks(), free, 'every block of the pool is free again');
  });

  test('TCP sockets get setNoDelay: frames are written whole, Nagle would only delay them', async () => {
    const [client, server] = await tcpPair();
    const calls: boolean[] = [];
    const original = server.setNoDelay.bind(server);
    server.setNoDelay = (noDelay?: boolean) => {
      calls.push(noDelay ?? true);
      return original(noDelay);
    };
    const ws = new WebSocket(server, { role: 'server', pingInterval: 0, idleTimeout: 0 });
    assert.deepEqual(calls, [true]);
    const closed = once(ws, 'close');
    ws.terminate();
    await closed;
    client.destroy();
  });
});

describe('extension transform (the permessage-deflate path)', { timeout: 30_000 }, () => {
  test('a message with RSV1 is decoded before delivery, in order, with reads paused meanwhile', async () => {
    let open!: () => void;
    const codec = reversingCodec({ gate: new Promise<void>((resolve) => (open = resolve)) });
    const { driver, record, peer } = driverPair({ codecs: [codec] });
    driver.start();
    peer.write(
      Buffer.concat([masked(Opcode.Text, 'olleh', { rsv1: true }), masked(Opcode.Text, 'plain'), masked(Opcode.Binary, 'dlrow', { rsv1: true })]),
    );
    await waitFor(() => codec.started === 1, { what: 'the first decode' });
    assert.deepEqual(record.messages, [], 'nothing is delivered while the first message is being decoded');
    assert.ok(driver.isPaused(TransformHold));
    open();
    await waitFor(() => record.messages.length === 3, { what: 'the three messages' });
    assert.deepEqual(record.messages, [
      ['hello', true],
      ['plain', true],
      ['world', false],
    ]);
    assert.ok(!driver.isPaused(TransformHold));
    driver.terminate();
    await record.closed;
    assert.equal(codec.closed, 1, 'the codec is released when the connection closes');
  });

  test('a decode that fails with a ProtocolError closes with its code; any other failure with 1011', async () => {
    for (const [fail, code] of [
      [new MessageTooLargeError('inflated too far', 10), 1009],
      [new Error('zlib exploded'), 1011],
    ] as const) {
      const { driver, record, peer, frames } = driverPair({ codecs: [reversingCodec({ fail })] });
      driver.start();
      peer.write(masked(Opcode.Text, 'abc', { rsv1: true }));
      const result = await within(record.closed, 3000, 'close after a failed decode');
      assert.equal(result.code, code);
      assert.equal(record.errors.length, 1);
      const sent = await frames();
      assert.equal(sent.at(-1)?.frame.opcode, Opcode.Close);
      assert.equal(Buffer.from(sent.at(-1)!.frame.payload).readUInt16BE(0), code);
    }
  });

  test('sends are encoded by the codec (RSV1 set) and the peer with the same codec reads them back', async () => {
    const [a, b] = duplexPair();
    const clientInit: ConnectionInit = { role: 'client', codecs: [reversingCodec()], pingInterval: 0, idleTimeout: 0 };
    const serverInit: ConnectionInit = { role: 'server', codecs: [reversingCodec()], pingInterval: 0, idleTimeout: 0 };
    const client = new WebSocket(a, clientInit);
    const server = new WebSocket(b, serverInit);
    const rsv1: boolean[] = [];
    await sleep(5); // the WebSockets start reading first: a 'data' listener added before would take their bytes
    b.prependListener('data', (chunk: Buffer) => {
      // A plain Uint8Array copy: decodeFrame unmasks a Buffer's bytes in place (Buffer#slice is a view).
      const bytes = new Uint8Array(chunk);
      for (let offset = 0, f = decodeFrame(bytes); f !== null; f = decodeFrame(bytes.subarray(offset))) {
        rsv1.push(f.frame.rsv1);
        offset += f.bytesConsumed;
      }
    });
    assert.equal(client.extensions, 'x-reverse');
    await client.send('compressed');
    await client.send('x');
    await client.send('not', { compress: false });
    assert.deepEqual(await server.receive(), { type: 'text', data: 'compressed' });
    assert.deepEqual(await server.receive(), { type: 'text', data: 'x' });
    assert.deepEqual(await server.receive(), { type: 'text', data: 'not' });
    assert.deepEqual(rsv1, [true, false, false]);
    await closePair(client, server);
  });
});

describe('PauseReason.Reply: holding parsing for a pending reply', { timeout: 30_000 }, () => {
  test('frames already read wait while it is set; lifting it parses them in one batch, after the reply', async () => {
    const [a, b] = duplexPair();
    const messages: string[] = [];
    const errors: number[] = [];
    let closed!: (result: CloseResult) => void;
    const done = new Promise<CloseResult>((resolve) => (closed = resolve));
    const driver: SocketDriver = new SocketDriver(
      a,
      { role: 'server', maxMessageSize: 1 << 20, pingInterval: 0, idleTimeout: 0, closeTimeout: 1000 },
      {
        [onMessage]: (data) => {
          messages.push(Buffer.from(data).toString());
          // As the WebSocket does for a reply it must first compress.
          if (messages.length === 1) driver.pause(PauseReason.Reply);
        },
        [onFragment]: () => {},
        [onPing]: () => {},
        [onPong]: () => {},
        [onPeerClose]: () => {},
        [onProtocolError]: (error) => errors.push(error.closeCode),
        [onKeepalive]: () => {},
        [onIdle]: () => {},
        [onClosed]: (result) => closed(result),
      },
    );
    const writes: Buffer[] = [];
    b.on('data', (chunk: Buffer) => writes.push(chunk));
    driver.start();
    // A message, another, then a reserved opcode (1002), all in one read.
    b.write(Buffer.concat([masked(Opcode.Text, 'one'), masked(Opcode.Text, 'two'), masked(3, 'bad')]));
    await sleep(20);
    assert.deepEqual(messages, ['one']);
    assert.deepEqual(errors, [], 'the protocol error is not reached while parsing is held');
    assert.deepEqual(writes, [], 'no close frame went out');
    assert.ok(driver.isPaused(PauseReason.Reply));
    driver.sendMessage(Buffer.from('reply to one'), true);
    driver.resume(PauseReason.Reply);
    assert.deepEqual(messages, ['one', 'two']);
    assert.deepEqual(errors, [1002]);
    await within(done, 3000, 'the close');
    const bytes = new Uint8Array(Buffer.concat(writes));
    const first = decodeFrame(bytes)!;
    const second = decodeFrame(bytes.subarray(first.bytesConsumed))!;
    assert.equal(Buffer.from(first.frame.payload).toString(), 'reply to one');
    assert.equal(second.frame.opcode, Opcode.Close);
    assert.equal(Buffer.from(second.frame.payload).readUInt16BE(0), 1002);
    assert.equal(writes.length, 1, 'the reply and the close frame left in one write');
  });
});

describe('the end of the transport', { timeout: 30_000 }, () => {
  test("'closed' is reported exactly once, with the peer's code after a handshake", async () => {
    const { driver, record, peer } = driverPair();
    driver.start();
    peer.write(masked(Opcode.Close, Buffer.from([0x03, 0xe8, 0x68, 0x69])));
    const result = await record.closed;
    assert.deepEqual(result, { code: 1000, reason: 'hi', wasClean: true, error: null });
    assert.deepEqual(record.peerCloses, [[1000, 'hi']]);
    driver.terminate();
    await sleep(10);
    assert.equal(record.closedCalls, 1);
  });

  test('a FIN without a close frame is 1006; a handed-in dead stream closes at once', async () => {
    const { driver, record, peer } = driverPair();
    driver.start();
    peer.end();
    assert.deepEqual(await within(record.closed, 3000), { code: 1006, reason: '', wasClean: false, error: null });

    const [dead] = duplexPair();
    dead.destroy();
    const record2 = new Recorder();
    const d2 = new SocketDriver(dead, { role: 'client', maxMessageSize: 1000, pingInterval: 0, idleTimeout: 0, closeTimeout: 100 }, record2.events());
    d2.start();
    assert.equal((await within(record2.closed, 1000)).code, 1006);
  });
});
