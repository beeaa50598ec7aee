import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { WebSocketServer } from '../../src/api/server.js';
import { WebSocketStream } from '../../src/api/websocket-stream.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { ConnectError, HandshakeError } from '../../src/node/errors.js';
import { ConnectionClosedError } from '../../src/core/errors.js';
import { FaultProxy } from '../helpers/fault-proxy.js';

const MiB = 1024 * 1024;

/**
 * A hybi server: /echo echoes through ws.stream() (readable piped into writable, then closes with
 * the client's code + 1), /deny is refused, /flood hands its connection to the test.
 */
async function serve(t: TestContext, onFlood?: (ws: WebSocket) => void) {
  const server = new WebSocketServer({
    protocols: ['chat.v1'],
    // The flood fills the sender's buffer on purpose: no stall watchdog for this test.
    stallTimeout: 0,
    accept: (req) => (req.url === '/deny' ? { status: 401 } : true),
  });
  server.on('handlerError', () => {});
  server.route('/echo', async (ws) => {
    const { readable, writable, closed } = ws.stream();
    await readable.pipeTo(writable, { preventClose: true }).catch(() => {});
    await closed.catch(() => {});
  });
  server.route('/deny', () => {});
  server.route('/flood', async (ws) => {
    onFlood?.(ws);
    await new Promise((resolve) => ws.once('close', resolve));
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return port;
}

/**
 * The same code runs in Node and in Chromium: open, write text and binary, read the echoes, close
 * with a code and read `closed`. Written without imports so that it can be sent to a page.
 */
async function roundTrip(Stream: unknown, url: string): Promise<unknown> {
  const wss = new (Stream as typeof WebSocketStream)(url, { protocols: ['chat.v1'] });
  const { readable, writable, protocol } = await wss.opened;
  const writer = writable.getWriter();
  const reader = readable.getReader();
  await writer.write('héllo');
  await writer.write(new Uint8Array([1, 2, 3, 255]));
  const text = await reader.read();
  const binary = await reader.read();
  wss.close({ closeCode: 4001, reason: 'done' });
  const closed = await wss.closed;
  const end = await reader.read();
  return {
    protocol,
    text: text.value,
    // The browser hands over binary messages as ArrayBuffers; new Uint8Array() reads both.
    binary: Array.from(new Uint8Array(binary.value as unknown as ArrayBuffer)),
    binaryType: Object.prototype.toString.call(binary.value),
    closed: { closeCode: closed.closeCode, reason: closed.reason },
    ended: end.done,
  };
}

const EXPECTED = {
  protocol: 'chat.v1',
  text: 'héllo',
  binary: [1, 2, 3, 255],
  binaryType: '[object ArrayBuffer]',
  // The server's answer to the close: the code echoed, no reason.
  closed: { closeCode: 4001, reason: '' },
  ended: true,
};

describe('WebSocketStream in Node against a hybi server using ws.stream()', { timeout: 30_000 }, () => {
  it('opens with the protocol, sends and reads text and binary, closes with a code; the readable ends', async (t) => {
    const port = await serve(t);
    assert.deepEqual(await roundTrip(WebSocketStream, `ws://127.0.0.1:${port}/echo`), EXPECTED);
  });

  it('a refused handshake rejects opened and closed; close() or an abort before the 101 abandons it', async (t) => {
    const port = await serve(t);
    const denied = new WebSocketStream(`ws://127.0.0.1:${port}/deny`);
    await assert.rejects(denied.opened, (e: unknown) => e instanceof HandshakeError && e.status === 401);
    await assert.rejects(denied.closed, HandshakeError);

    const controller = new AbortController();
    const aborted = new WebSocketStream(`ws://127.0.0.1:${port}/echo`, { signal: controller.signal });
    controller.abort(new Error('changed my mind'));
    await assert.rejects(aborted.opened, (e: unknown) => e instanceof ConnectError && (e.cause as Error).message === 'changed my mind');

    const closedEarly = new WebSocketStream(`ws://127.0.0.1:${port}/echo`);
    closedEarly.close();
    await assert.rejects(closedEarly.opened, ConnectError);
  });

  it('a connection lost without a close frame errors the readable and rejects closed', async (t) => {
    let serverSide: WebSocket | null = null;
    let arrived: () => void = () => {};
    const came = new Promise<void>((resolve) => (arrived = resolve));
    const port = await serve(t, (ws) => {
      serverSide = ws;
      arrived();
    });
    const wss = new WebSocketStream(`ws://127.0.0.1:${port}/flood`);
    const { readable } = await wss.opened;
    await came;
    serverSide!.terminate();
    await assert.rejects(readable.getReader().read(), (e: unknown) => e instanceof ConnectionClosedError && e.closeCode === 1006);
    await assert.rejects(wss.closed, (e: unknown) => e instanceof ConnectionClosedError && e.closeCode === 1006);
  });

  it('a reader that stops reading stops the socket: the sender buffers 64 MiB, the reader got at most a few', async (t) => {
    let sender: WebSocket | null = null;
    let arrived: () => void = () => {};
    const came = new Promise<void>((resolve) => (arrived = resolve));
    const port = await serve(t, (ws) => {
      sender = ws;
      arrived();
    });
    // Through a counting proxy, so that what reached the reader's side can be measured.
    const proxy = await FaultProxy.start(port);
    t.after(() => proxy.close());
    const wss = new WebSocketStream(`ws://127.0.0.1:${proxy.port}/flood`, { receiveHighWaterMark: MiB, maxMessageSize: MiB });
    const { readable } = await wss.opened;
    const reader = readable.getReader();
    await came;
    const ws = sender! as WebSocket;
    const chunk = Buffer.alloc(MiB - 16, 7);
    let sent = 0;
    const sends: Array<Promise<void>> = [];
    // Sent without awaiting, yielding to I/O between sends: without backpressure loopback would take it all.
    while (ws.bufferedAmount < 64 * MiB && sent < 160) {
      sends.push(ws.send(chunk));
      sent++;
      await tick();
    }
    const reached = proxy.toClient;
    const rss = process.memoryUsage().rss;
    assert.ok(reached < 16 * MiB, `the reader's side took ${(reached / MiB).toFixed(1)} MiB while the sender held ${(ws.bufferedAmount / MiB).toFixed(1)} MiB`);
    console.log(`# flood: sender bufferedAmount ${(ws.bufferedAmount / MiB).toFixed(1)} MiB, bytes that reached the reader's side ${(reached / MiB).toFixed(1)} MiB, rss ${(rss / MiB).toFixed(0)} MiB`);

    // Reading again drains everything, in order and complete.
    let received = 0;
    while (received < sent) {
      const { value, done } = await reader.read();
      assert.equal(done, false);
      assert.equal((value as ArrayBuffer).byteLength, chunk.length);
      received++;
    }
    // Every send was handed over in the end: nothing failed while the reader held back.
    await Promise.all(sends);
    wss.close();
    assert.equal((await wss.closed).closeCode, 1000);
  });
});

describe('WebSocketStream in headless Chromium against the same hybi server', { timeout: 60_000 }, () => {
  it('runs the same round trip in a page', async (t) => {
    const port = await serve(t);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    t.after(() => browser.close());
    const page = await browser.newPage();
    assert.equal(await page.evaluate('typeof WebSocketStream'), 'function', 'this Chromium has WebSocketStream');
    const seen = await page.evaluate(`(${roundTrip.toString()})(WebSocketStream, ${JSON.stringify(`ws://127.0.0.1:${port}/echo`)})`);
    assert.deepEqual(seen, EXPECTED);
  });
});
