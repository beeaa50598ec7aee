/**
 * Isolation: what goes wrong on one connection (an exception in its handler, a TLS error, a reset
 * socket) never reaches another connection or the process. Honest clients (hybi's own connect())
 * echo sequence-numbered messages throughout; every one must come back, in order.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { connect } from '../../src/api/connect.js';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { selfSignedCertificate } from '../fixtures/cert.js';
import { MiB, RawWebSocket, assertMemoryNear, eventually, serve, settledMemory, sleep } from './harness.js';

/**
 * Honest clients echoing numbered messages one after another until `stop()`; `stop()` resolves
 * with how many round trips each made, after checking every echo matched what was sent.
 */
function honest(url: string, count: number, tls?: { ca: string }): { ready: Promise<void>; stop: () => Promise<number[]> } {
  let running = true;
  const clients: Promise<WebSocket>[] = [];
  for (let i = 0; i < count; i++) clients.push(connect(url, { tls, pingInterval: 0, idleTimeout: 0 }));
  const loops = clients.map(async (pending, id) => {
    const ws = await pending;
    let seq = 0;
    while (running) {
      const text = `client ${id} message ${seq}`;
      await ws.send(text);
      const reply = await ws.receive();
      assert.deepEqual(reply, { type: 'text', data: text }, `client ${id}: echo ${seq} in order`);
      seq++;
    }
    await ws.close(1000);
    return seq;
  });
  return {
    ready: Promise.all(clients).then(() => undefined),
    stop: async () => {
      await sleep(200);
      running = false;
      return Promise.all(loops);
    },
  };
}

/** Fails the test if the process sees an uncaught exception or unhandled rejection meanwhile. */
function watchProcess(): () => void {
  const seen: unknown[] = [];
  const record = (error: unknown): void => {
    seen.push(error);
  };
  process.on('uncaughtException', record);
  process.on('unhandledRejection', record);
  return () => {
    process.off('uncaughtException', record);
    process.off('unhandledRejection', record);
    assert.deepEqual(seen, [], 'nothing escaped to the process');
  };
}

describe('Hardening: an exception in one connection', () => {
  it("a throwing 'message' or 'connection' listener, route handler or message handler closes only its own connection (1011)", async () => {
    const check = watchProcess();
    const reported: unknown[] = [];
    const s = await serve({}, (server) => {
      server.on('handlerError', (error) => reported.push(error));
      server.route('/echo', async (ws) => {
        for await (const m of ws) await ws.send(m.data);
      });
      server.route('/throw-listener', (ws) => {
        ws.on('message', () => {
          throw new Error('listener bug');
        });
      });
      server.route('/reject', async (ws) => {
        await ws.receive();
        throw new Error('handler bug');
      });
      server.route('/throw-sync', () => {
        throw new Error('sync handler bug');
      });
      server.route('/connection-listener', () => {});
      server.on('connection', (_ws, req) => {
        if (req.url === '/connection-listener') throw new Error("'connection' listener bug");
      });
      server.route('/message-handler', {
        message: () => {
          throw new Error('message handler bug');
        },
      });
    });
    try {
      const traffic = honest(`${s.url}echo`, 5);
      await traffic.ready;
      const baseline = await settledMemory();
      const victims = ['throw-listener', 'reject', 'throw-sync', 'message-handler', 'connection-listener'];
      for (let round = 0; round < 10; round++) {
        const codes = await Promise.all(
          victims.map(async (path) => {
            const ws = await connect(`${s.url}${path}`, { pingInterval: 0, idleTimeout: 0 });
            ws.on('error', () => {});
            const closed = once(ws, 'close') as Promise<[number, string]>;
            void ws.send('boom').catch(() => {});
            const started = performance.now();
            const [code] = await closed;
            return { path, code, ms: performance.now() - started };
          }),
        );
        for (const { path, code, ms } of codes) {
          assert.equal(code, 1011, `${path}: closed with 1011`);
          assert.ok(ms < 2000, `${path}: closed after ${ms.toFixed(0)} ms`);
        }
      }
      const rounds = await traffic.stop();
      assert.ok(rounds.every((n) => n > 10), `honest clients kept going: ${rounds.join(', ')} round trips`);
      assert.ok(reported.length >= 30, `handler errors reported (${reported.length})`);
      await eventually(() => s.server.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after 50 failing handlers');
    } finally {
      await s.stop();
      check();
    }
  });
});

describe('Hardening: reset sockets', () => {
  it('peers resetting mid-handshake, mid-frame and mid-message affect no one else', async () => {
    const check = watchProcess();
    const s = await serve();
    try {
      const traffic = honest(s.url, 5);
      await traffic.ready;
      const baseline = await settledMemory();
      for (let round = 0; round < 20; round++) {
        // Mid-handshake: half a request head, then RST.
        const early = netConnect({ port: s.port, host: '127.0.0.1' });
        early.on('error', () => {});
        await once(early, 'connect');
        early.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpg');
        await sleep(5);
        early.resetAndDestroy();
        // Mid-frame: a header announcing 1000 bytes, 10 of them, then RST.
        const a = await RawWebSocket.open(s.port);
        a.write(Buffer.concat([Uint8Array.of(0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4), new Uint8Array(10)]));
        await sleep(5);
        a.client.reset();
        // Mid-message: the first of two fragments, then RST.
        const b = await RawWebSocket.open(s.port);
        b.send({ opcode: 1, fin: false, payload: new TextEncoder().encode('half of a') });
        await sleep(5);
        b.client.reset();
        // While the server is writing to it: a large echo in flight, then RST.
        const c = await RawWebSocket.open(s.port);
        c.send({ opcode: 2, payload: new Uint8Array(512 * 1024) });
        await sleep(2);
        c.client.reset();
      }
      const rounds = await traffic.stop();
      assert.ok(rounds.every((n) => n > 10), `honest clients kept going: ${rounds.join(', ')} round trips`);
      await eventually(() => s.server.clients.size === 0 && s.server.connectionCount === 0, 'reset connections released');
      await assertMemoryNear(baseline, 3 * MiB, 'after 80 resets');
    } finally {
      await s.stop();
      check();
    }
  });
});

describe('Hardening: TLS errors', () => {
  it('garbage instead of a ClientHello, aborted and refused TLS handshakes affect no other wss connection', async () => {
    const check = watchProcess();
    const { cert, key } = selfSignedCertificate();
    const https = createHttpsServer({ cert, key });
    // Node reports TLS failures as 'tlsClientError'; the application may log them, nothing more.
    const tlsErrors: unknown[] = [];
    https.on('tlsClientError', (error) => tlsErrors.push(error));
    const wss = new WebSocketServer();
    wss.on('handlerError', () => {});
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data) => void ws.send(data).catch(() => {}));
    });
    wss.attach(https);
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    const port = (https.address() as { port: number }).port;
    try {
      const traffic = honest(`wss://127.0.0.1:${port}/`, 5, { ca: cert });
      await traffic.ready;
      const baseline = await settledMemory();
      for (let round = 0; round < 20; round++) {
        // Plain HTTP (not TLS) to the TLS port.
        const plain = netConnect({ port, host: '127.0.0.1' });
        plain.on('error', () => {});
        await once(plain, 'connect');
        plain.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        // Random bytes that start like a TLS record.
        const junk = netConnect({ port, host: '127.0.0.1' });
        junk.on('error', () => {});
        await once(junk, 'connect');
        junk.write(Buffer.concat([Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00), Buffer.alloc(512, 0x41)]));
        // A client that does not trust our certificate: it aborts the handshake with an alert.
        const distrust = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: true });
        distrust.on('error', () => {});
        // A client that resets in the middle of the TLS handshake.
        const abort = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false });
        abort.on('error', () => {});
        abort.once('secureConnect', () => abort.destroy());
        setImmediate(() => abort.destroy());
        await sleep(20);
        plain.destroy();
        junk.destroy();
        distrust.destroy();
      }
      const rounds = await traffic.stop();
      assert.ok(rounds.every((n) => n > 10), `honest wss clients kept going: ${rounds.join(', ')} round trips`);
      assert.ok(tlsErrors.length >= 20, `TLS errors happened (${tlsErrors.length}) and stayed on their sockets`);
      await eventually(() => wss.clients.size === 0, 'connections released');
      await assertMemoryNear(baseline, 4 * MiB, 'after 80 TLS failures');
    } finally {
      await wss.close();
      https.closeAllConnections();
      await new Promise((resolve) => https.close(resolve));
      check();
    }
  });
});
