/**
 * Slow, silent and flooding peers against a hybi server on 127.0.0.1: none of them can hold a
 * connection forever, make the server buffer without bound, or slow other connections down.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { encodeFrame } from '../../src/core/frame.js';
import { Connection, type ConnectionHandler } from '../../src/core/connection.js';
import { MessageTimeoutError, SendBufferFullError, type ProtocolError } from '../../src/core/errors.js';
import { DEFAULT_IDLE_TIMEOUT, DEFAULT_PING_INTERVAL } from '../../src/api/options.js';
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
        await sleep(300);
        busy = await roundTrips(s.port, 100);
      } finally {
        flooding = false;
        await Promise.all(floods);
        clearInterval(sampler);
      }
      assert.ok(sent >= 100_000, `only ${sent} pings sent`);
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

describe('Hardening: the core hooks drivers bound slow peers with (Connection.receiving, failConnection)', () => {
  interface Observed {
    conn: Connection;
    out: Uint8Array[];
    errors: ProtocolError[];
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
    assert.equal((s.conn as unknown as { buffer: Uint8Array | null }).buffer, null, 'the partial message is freed');
    s.conn.receive(frame(0, new Uint8Array(3), true));
    s.conn.failConnection(new SendBufferFullError(10));
    assert.equal(s.errors.length, 1, 'once only');
    assert.equal(s.messages, 0);
    assert.equal(s.conn.closed, true);
  });
});
