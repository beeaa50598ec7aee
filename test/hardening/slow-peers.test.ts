/**
 * Slow, silent and flooding peers against a hybi server on 127.0.0.1: none of them can hold a
 * connection forever, make the server buffer without bound, or slow other connections down.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { encodeFrame } from '../../src/core/frame.js';
import { Connection, type ConnectionHandler } from '../../src/core/connection.js';
import { type ConnectionFailure } from '../../src/core/errors.js';
import { MessageTimeoutError, SendBufferFullError } from '../../src/node/errors.js';
import { DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BUFFERED_AMOUNT, DEFAULT_MESSAGE_TIMEOUT, DEFAULT_PING_INTERVAL } from '../../src/api/options.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { MiB, RawWebSocket, assertMemoryNear, eventually, serve, settledMemory, sleep } from './harness.js';

/** Round trips of an honest client: each message echoed before the next is sent; returns the times in ms. */
async function roundTrips(port: number, count: number): Promise<number[]> {
  const ws = await RawWebSocket.open(port);
  const times: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const start = performance.now();
      ws.send({ opcode: 1, payload: new TextEncoder().encode(`seq ${i}`) });
      assert.ok(await ws.waitMessages(i + 1, 10_000), `echo ${i} arrived`);
      times.push(performance.now() - start);
    }
  } finally {
    ws.destroy();
  }
  return times;
}

const percentile = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))]!;

describe('Hardening: a ping flood (RFC 6455 section 5.5.3: answer the latest ping)', () => {
  it('is answered with coalesced pongs, costs the server little memory, and does not slow other connections', async () => {
    const s = await serve();
    const flooders: RawWebSocket[] = [];
    try {
      const calm = await roundTrips(s.port, 50);
      const baseline = await settledMemory();
      // Three peers that ping as fast as TCP lets them and never read a byte.
      const ping = encodeFrame({ opcode: 9, payload: new Uint8Array(125).fill(0x70), mask: true });
      const batch = Buffer.concat(Array.from({ length: 500 }, () => ping));
      let sent = 0;
      let flooding = true;
      for (let i = 0; i < 3; i++) {
        const f = await RawWebSocket.open(s.port);
        f.client.socket.pause();
        flooders.push(f);
      }
      const floods = flooders.map(async (f) => {
        const socket = f.client.socket;
        while (flooding && !socket.destroyed) {
          if (!socket.write(batch)) await Promise.race([once(socket, 'drain'), sleep(200)]);
          else await new Promise((resolve) => setImmediate(resolve));
          sent += 500;
        }
      });
      let peak = 0;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers);
      }, 5);
      let busy: number[];
      try {
        const floodStart = performance.now();
        await sleep(300);
        busy = await roundTrips(s.port, 100);
        // Let the flood last a second at least, however fast the round trips were.
        await sleep(Math.max(0, 1000 - (performance.now() - floodStart)));
      } finally {
        flooding = false;
        await Promise.all(floods);
        clearInterval(sampler);
      }
      assert.ok(sent >= 50_000, `only ${sent} pings sent`);
      // Uncoalesced, every ping would leave a 127-byte pong queued for a peer that does not read.
      const grown = peak - baseline;
      assert.ok(grown < 32 * MiB, `the server grew by ${(grown / MiB).toFixed(1)} MiB during ${sent} pings`);
      const p90 = percentile(busy, 90);
      assert.ok(p90 < Math.max(250, 20 * percentile(calm, 90)), `round trips under the flood: p90 ${p90.toFixed(1)} ms (calm: ${percentile(calm, 90).toFixed(1)} ms)`);

      // Now read what the server answered: far fewer pongs than pings, the last one included.
      const f = flooders[0]!;
      f.client.socket.resume();
      await sleep(500);
      const pongs = f.frames().filter((fr) => fr.opcode === 0xa).length;
      assert.ok(pongs >= 1, 'the flood was answered');
      assert.ok(pongs < sent / 3 / 10, `${pongs} pongs for about ${Math.round(sent / 3)} pings`);
      // The pongs this process read are the test's memory, not the server's: on a fast machine
      // (3.6 million pings, 21,000 pongs) they alone were 2.7 MiB of the check below.
      f.client.received = Buffer.alloc(0);
      for (const fl of flooders) fl.destroy();
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the ping flood');
    } finally {
      for (const f of flooders) f.destroy();
      await s.stop();
    }
  });
});

describe('Hardening: half-open connections (keep-alive pings, pingInterval + idleTimeout)', () => {
  it(`the defaults are a ping after ${DEFAULT_PING_INTERVAL} ms of silence and a close after ${DEFAULT_IDLE_TIMEOUT} ms`, () => {
    assert.equal(DEFAULT_PING_INTERVAL, 30_000);
    assert.equal(DEFAULT_IDLE_TIMEOUT, 60_000);
  });

  it('a peer that went silent is pinged, then closed within pingInterval + idleTimeout; one that answers stays', async () => {
    const pingInterval = 300;
    const idleTimeout = 600;
    const s = await serve({ pingInterval, idleTimeout, closeTimeout: 300 });
    try {
      const baseline = await settledMemory();
      const silent: RawWebSocket[] = [];
      for (let i = 0; i < 20; i++) silent.push(await RawWebSocket.open(s.port));
      const started = performance.now();
      // The live one answers every ping, as RFC 6455 section 5.5.2 asks.
      const live = await RawWebSocket.open(s.port);
      let answered = 0;
      const answer = setInterval(() => {
        const pings = live.frames().filter((f) => f.opcode === 9);
        for (; answered < pings.length; answered++) live.send({ opcode: 0xa, payload: pings[answered]!.payload });
      }, 20);
      try {
        await eventually(() => s.server.clients.size === 1, 'silent peers closed', pingInterval + idleTimeout + 5000);
        const elapsed = performance.now() - started;
        // Found at idleTimeout after the last byte; gone once the close handshake times out too.
        assert.ok(elapsed < pingInterval + idleTimeout + 300 + 1500, `silent peers gone after ${elapsed.toFixed(0)} ms`);
        for (const ws of silent) {
          assert.ok(ws.frames().some((f) => f.opcode === 9), 'the silent peer was pinged first');
          const close = ws.frames().find((f) => f.opcode === 8);
          assert.ok(close !== undefined, 'then sent a close frame');
          assert.equal((close.payload[0]! << 8) | close.payload[1]!, 1001, 'going away (idle timeout)');
        }
        await sleep(2 * (pingInterval + idleTimeout));
        assert.equal(s.server.clients.size, 1, 'the answering peer is still connected');
        assert.ok(answered >= 2, `the answering peer was pinged ${answered} times`);
      } finally {
        clearInterval(answer);
        live.destroy();
        for (const ws of silent) ws.destroy();
      }
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the half-open connections');
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: a peer dribbling a message (messageTimeout)', () => {
  it('the default bound is 60 s', () => {
    assert.equal(DEFAULT_MESSAGE_TIMEOUT, 60_000);
  });

  it('a message or frame sent a byte at a time is cut off with 1008 at messageTimeout, however steadily bytes arrive', async () => {
    const messageTimeout = 800;
    const s = await serve({ messageTimeout, closeTimeout: 300 });
    try {
      const baseline = await settledMemory();
      // Three ways to dribble: a text message, the header of a frame, a fragmented message.
      const dribbled = [
        encodeFrame({ opcode: 1, payload: new Uint8Array(200).fill(0x61), mask: true }),
        encodeFrame({ opcode: 2, payload: new Uint8Array(70_000), mask: true }).subarray(0, 14),
        Buffer.concat(Array.from({ length: 50 }, (_, i) => encodeFrame({ opcode: i === 0 ? 2 : 0, fin: false, payload: new Uint8Array(4), mask: true }))),
      ];
      // A fourth peer sends a fragment of a message that never ends with a whole ping, every
      // tick: completed control frames are no progress on the message.
      const withPings = Array.from({ length: 100 }, (_, n) => encodeFrame({ opcode: n === 0 ? 2 : 0, fin: false, payload: new Uint8Array(4), mask: true }));
      const ping = encodeFrame({ opcode: 9, payload: new Uint8Array(4), mask: true });
      const peers = await Promise.all([0, 1, 2, 3].map(() => RawWebSocket.open(s.port)));
      const started = performance.now();
      let i = 0;
      const drip = setInterval(() => {
        dribbled.forEach((bytes, k) => {
          if (i < bytes.length) peers[k]!.write(bytes.subarray(i, i + 1));
        });
        if (i < withPings.length) peers[3]!.write(Buffer.concat([withPings[i]!, ping]));
        i++;
      }, 20);
      try {
        const results = await Promise.all(peers.map((p) => p.closed(messageTimeout + 5000)));
        const elapsed = performance.now() - started;
        results.forEach((r, k) => assert.equal(r.code, 1008, `peer ${k}: policy violation`));
        assert.ok(elapsed >= messageTimeout - 50, `not before the bound (${elapsed.toFixed(0)} ms)`);
        assert.ok(elapsed < messageTimeout + 300 + 1500, `cut off after ${elapsed.toFixed(0)} ms`);
        assert.ok(peers.every((p) => p.messages().length === 0), 'nothing was delivered');
      } finally {
        clearInterval(drip);
        for (const p of peers) p.destroy();
      }
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the dribbling peers');
    } finally {
      await s.stop();
    }
  });

  it('a steady stream of messages split across reads is never cut off; a slow but finished message passes', async () => {
    const messageTimeout = 400;
    const s = await serve({ messageTimeout });
    try {
      const ws = await RawWebSocket.open(s.port);
      // 120 messages of 9 bytes sent in 7-byte writes every 10 ms: every read ends inside a
      // message for about 1.5 s in all, far past the bound, but each message finishes quickly.
      const stream = Buffer.concat(Array.from({ length: 120 }, (_, n) => encodeFrame({ opcode: 1, payload: new TextEncoder().encode(`msg ${String(n).padStart(5, '0')}`), mask: true })));
      for (let at = 0; at < stream.length; at += 7) {
        ws.write(stream.subarray(at, at + 7));
        await sleep(10);
      }
      // One message taking 3/4 of the bound.
      const slow = encodeFrame({ opcode: 1, payload: new TextEncoder().encode('slow but done'), mask: true });
      ws.write(slow.subarray(0, 5));
      await sleep((3 * messageTimeout) / 4);
      ws.write(slow.subarray(5));
      assert.ok(await ws.waitMessages(121, 5000), `echoed ${ws.messages().length} of 121`);
      assert.equal(s.server.clients.size, 1, 'still connected');
      ws.destroy();
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: a peer that never reads (maxBufferedAmount)', () => {
  it('the default bound is 4 MiB', () => {
    assert.equal(DEFAULT_MAX_BUFFERED_AMOUNT, 4 * MiB);
  });

  // The bound is bytes waiting *and* no progress for stallTimeout (a burst to a reading peer is
  // not a dead peer), so a producer that ignores backpressure holds what it sent within that time.
  it('send() reports backpressure; a producer that ignores it is cut off with 1008 once nothing is read for stallTimeout, and memory is given back', async () => {
    let server: WebSocket | null = null;
    const stallTimeout = 500;
    const s = await serve({ stallTimeout }, (srv) => {
      srv.on('connection', (ws) => {
        server = ws;
      });
    });
    try {
      const baseline = await settledMemory();
      const peer = await RawWebSocket.open(s.port);
      peer.client.socket.pause();
      await eventually(() => server !== null, 'connected');
      const ws = server!;
      const closed = once(ws, 'close') as Promise<[number, string]>;
      const chunk = new Uint8Array(64 * 1024);
      // Fire and forget, as a broadcast does: how far does it get?
      const settled: boolean[] = [];
      let sends = 0;
      const started = performance.now();
      while (ws.readyState === 'open' && sends < 1000) {
        const index = sends++;
        settled[index] = false;
        ws.send(chunk).then(
          () => (settled[index] = true),
          () => (settled[index] = true),
        );
        if (sends % 8 === 0) await sleep(1);
      }
      const [code] = await closed;
      const elapsed = performance.now() - started;
      assert.equal(code, 1008, 'policy violation');
      assert.ok(elapsed < stallTimeout + 5000, `cut off after ${elapsed.toFixed(0)} ms`);
      const bytes = sends * chunk.length;
      assert.ok(bytes > DEFAULT_MAX_BUFFERED_AMOUNT, `sent ${bytes} bytes before the bound`);
      // Not one of the sends past what the kernel took resolved: they were never written.
      assert.ok(settled.every((done) => done), 'every send settled when the connection went');
      peer.destroy();
      await eventually(() => s.server.clients.size === 0, 'connection released');
      await assertMemoryNear(baseline, 3 * MiB, 'after the non-reading peer');
    } finally {
      await s.stop();
    }
  });

  it('a producer that awaits send() stops producing for a peer that does not read, and is never cut off', async () => {
    let produced = 0;
    let stalled = false;
    const s = await serve({}, (srv) => {
      srv.on('connection', async (ws) => {
        const chunk = new Uint8Array(64 * 1024);
        try {
          while (ws.readyState === 'open') {
            const sent = ws.send(chunk);
            const late = await Promise.race([sent.then(() => false), sleep(300).then(() => true)]);
            if (late) {
              stalled = true;
              await sent;
            }
            produced++;
          }
        } catch {
          // The peer went away at the end of the test.
        }
      });
    });
    try {
      const peer = await RawWebSocket.open(s.port);
      peer.client.socket.pause();
      await eventually(() => stalled, 'send() stopped resolving: backpressure', 10_000);
      const at = produced;
      await sleep(500);
      assert.ok(produced - at <= 1, 'no more production while the peer does not read');
      assert.ok(produced * 64 * 1024 < DEFAULT_MAX_BUFFERED_AMOUNT + 16 * MiB, `stalled after ${produced} messages`);
      assert.equal(s.server.clients.size, 1, 'not cut off: it respected backpressure');
      peer.client.socket.resume();
      await eventually(() => produced > at + 10, 'production resumes once the peer reads', 10_000);
      peer.destroy();
    } finally {
      await s.stop();
    }
  });
});

describe('Hardening: the core hooks drivers bound slow peers with (Connection.receiving, failConnection)', () => {
  interface Observed {
    conn: Connection;
    out: Uint8Array[];
    errors: ConnectionFailure[];
    messages: number;
  }
  function server(): Observed {
    const state = { out: [], errors: [], messages: 0 } as unknown as Observed;
    const handler: ConnectionHandler = {
      output: (chunks) => state.out.push(...chunks.map((c) => c.slice())),
      message: () => void state.messages++,
      fragment: () => {},
      ping: () => {},
      pong: () => {},
      close: () => {},
      protocolError: (error) => void state.errors.push(error),
    };
    state.conn = new Connection({ role: 'server' }, handler);
    return state;
  }
  const frame = (opcode: number, payload: Uint8Array, fin = true): Uint8Array => encodeFrame({ opcode, payload, fin, mask: true });

  it('receiving is true from the first byte of a frame or message to its end, outside streamed messages', () => {
    const s = server();
    assert.equal(s.conn.receiving, false);
    const whole = frame(1, new TextEncoder().encode('hello'));
    s.conn.receive(whole.slice(0, 1));
    assert.equal(s.conn.receiving, true, 'one byte of a header');
    s.conn.receive(whole.slice(1, 8));
    assert.equal(s.conn.receiving, true, 'part of a payload');
    s.conn.receive(whole.slice(8));
    assert.equal(s.conn.receiving, false, 'the message ended');
    s.conn.receive(frame(2, new Uint8Array(3), false));
    assert.equal(s.conn.receiving, true, 'between fragments');
    s.conn.receive(frame(0, new Uint8Array(3), true));
    assert.equal(s.conn.receiving, false);
    const ping = frame(9, new Uint8Array(10));
    s.conn.receive(ping.slice(0, 4));
    assert.equal(s.conn.receiving, true, 'part of a control frame');
    s.conn.receive(ping.slice(4));
    assert.equal(s.conn.receiving, false);
    s.conn.setStreaming(true);
    s.conn.receive(frame(2, new Uint8Array(3), false));
    assert.equal(s.conn.receiving, false, "a streamed message's memory is its consumer's to bound");
    assert.equal(s.messages, 2);
  });

  it('failConnection fails like a protocol error: close frame with its code, input ignored, partial message dropped', () => {
    const s = server();
    s.conn.receive(frame(2, new Uint8Array(1000), false));
    s.conn.failConnection(new MessageTimeoutError(100));
    assert.equal(s.errors.length, 1);
    assert.equal(s.errors[0]!.closeCode, 1008);
    assert.deepEqual([...s.out[s.out.length - 1]!], [0x88, 2, 0x03, 0xf0], 'a close frame with 1008');
    assert.equal(s.conn.receiving, false);
    assert.equal((s.conn as unknown as { assembler: { buffer: Uint8Array | null } }).assembler.buffer, null, 'the partial message is freed');
    s.conn.receive(frame(0, new Uint8Array(3), true));
    s.conn.failConnection(new SendBufferFullError(10, 1000));
    assert.equal(s.errors.length, 1, 'once only');
    assert.equal(s.messages, 0);
    assert.equal(s.conn.closed, true);
  });
});
