/**
 * The browser-compatible WebSocket, exercised the way browser code uses it: handlers and
 * listeners, readyState numbers, MessageEvent/CloseEvent fields, binaryType, the argument checks
 * of the constructor and of close(). Over an in-memory pair (an already open native WebSocket
 * wrapped) and over real connections made by connect() to a hybi server on 127.0.0.1.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { BrowserWebSocket, CloseEvent, wrapOpenWebSocket } from '../../src/api/browser-websocket.js';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { closePair, sleep, within, wsPair } from '../helpers/ws-pair.js';

/** The next event of a type, as a promise (what `await new Promise(r => ws.onmessage = r)` does). */
function nextEvent<T extends Event = Event>(target: EventTarget, type: string): Promise<T> {
  return new Promise((resolve) => target.addEventListener(type, (event) => resolve(event as T), { once: true }));
}

/** A browser-style WebSocket over an in-memory pair, with the native server end to talk to. */
async function browserPair(): Promise<{ ws: BrowserWebSocket; server: WebSocket; native: WebSocket }> {
  const { client, server } = await wsPair('memory', { client: { url: 'ws://example.test/chat' } });
  const ws = wrapOpenWebSocket(client);
  return { ws, server, native: client };
}

describe('the WebSocket interface', { timeout: 30_000 }, () => {
  test('constants live on the class and on instances', async () => {
    assert.deepEqual([BrowserWebSocket.CONNECTING, BrowserWebSocket.OPEN, BrowserWebSocket.CLOSING, BrowserWebSocket.CLOSED], [0, 1, 2, 3]);
    const { ws, server, native } = await browserPair();
    assert.deepEqual([ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED], [0, 1, 2, 3]);
    assert.ok(ws instanceof EventTarget);
    await nextEvent(ws, 'open');
    await closePair(native, server);
  });

  test('onopen, onmessage with MessageEvent, send, onclose with CloseEvent', async () => {
    const { ws, server } = await browserPair();
    const log: string[] = [];
    ws.onopen = (event) => {
      log.push(`open ${event.type} ${ws.readyState}`);
      ws.send('hello from the page');
    };
    ws.onmessage = (event) => {
      const message = event as MessageEvent;
      log.push(`message ${String(message.data)} ${message.origin}`);
    };
    const closed = new Promise<CloseEvent>((resolve) => {
      ws.onclose = (event) => resolve(event as CloseEvent);
    });
    assert.deepEqual(await server.receive(), { type: 'text', data: 'hello from the page' });
    await server.send('hello from the server');
    await sleep(10);
    await server.close(4000, 'bye');
    const event = await within(closed, 5000, 'close event');
    assert.ok(event instanceof CloseEvent);
    assert.equal(event.type, 'close');
    assert.equal(event.code, 4000);
    assert.equal(event.reason, 'bye');
    assert.equal(event.wasClean, true);
    assert.equal(ws.readyState, ws.CLOSED);
    assert.deepEqual(log, ['open open 1', 'message hello from the server ws://example.test']);
  });

  test('addEventListener and removeEventListener, handler attributes set, replaced and cleared', async () => {
    const { ws, server, native } = await browserPair();
    const seen: string[] = [];
    const listener = (event: Event): void => {
      seen.push(`listener ${(event as MessageEvent).data}`);
    };
    ws.addEventListener('message', listener);
    ws.onmessage = () => seen.push('first handler');
    ws.onmessage = (event) => seen.push(`handler ${(event as MessageEvent).data}`);
    assert.equal(typeof ws.onmessage, 'function');
    await nextEvent(ws, 'open');
    const incoming = nextEvent(ws, 'message');
    await server.send('a');
    await incoming;
    ws.removeEventListener('message', listener);
    ws.onmessage = null;
    assert.equal(ws.onmessage, null);
    await server.send('b');
    await sleep(20);
    assert.deepEqual(seen, ['listener a', 'handler a']);
    await closePair(native, server);
  });

  test('binaryType: blob by default, arraybuffer, nodebuffer; invalid values are ignored', async () => {
    const { ws, server, native } = await browserPair();
    assert.equal(ws.binaryType, 'blob');
    await nextEvent(ws, 'open');
    const blobMessage = nextEvent<MessageEvent>(ws, 'message');
    await server.send(new Uint8Array([1, 2, 3]));
    const blob = (await blobMessage).data as Blob;
    assert.ok(blob instanceof Blob);
    assert.deepEqual(new Uint8Array(await blob.arrayBuffer()), new Uint8Array([1, 2, 3]));

    ws.binaryType = 'arraybuffer';
    const bufferMessage = nextEvent<MessageEvent>(ws, 'message');
    await server.send(new Uint8Array([4, 5]));
    const buffer = (await bufferMessage).data as ArrayBuffer;
    assert.ok(buffer instanceof ArrayBuffer);
    assert.deepEqual(new Uint8Array(buffer), new Uint8Array([4, 5]));

    ws.binaryType = 'nodebuffer';
    const nodeMessage = nextEvent<MessageEvent>(ws, 'message');
    await server.send(new Uint8Array([6]));
    assert.deepEqual((await nodeMessage).data, Buffer.from([6]));

    (ws as { binaryType: string }).binaryType = 'text';
    assert.equal(ws.binaryType, 'nodebuffer');
    const textMessage = nextEvent<MessageEvent>(ws, 'message');
    await server.send('text stays a string');
    assert.equal((await textMessage).data, 'text stays a string');
    await closePair(native, server);
  });

  test('send takes strings, ArrayBuffers, views and Blobs, in order; bufferedAmount counts', async () => {
    const { ws, server, native } = await browserPair();
    await nextEvent(ws, 'open');
    ws.send('one');
    ws.send(new Blob([new Uint8Array([2, 2])]));
    ws.send(new Uint8Array([3]).buffer);
    ws.send(new DataView(new Uint8Array([9, 4, 9]).buffer, 1, 1));
    assert.ok(ws.bufferedAmount >= 2 + 1 + 1, 'bytes waiting behind the Blob count');
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await server.receive());
    assert.deepEqual(got, [
      { type: 'text', data: 'one' },
      { type: 'binary', data: Buffer.from([2, 2]) },
      { type: 'binary', data: Buffer.from([3]) },
      { type: 'binary', data: Buffer.from([4]) },
    ]);
    await sleep(10);
    assert.equal(ws.bufferedAmount, 0);
    await closePair(native, server);
  });

  test('close() checks its arguments as a browser does', async () => {
    const { ws, server, native } = await browserPair();
    await nextEvent(ws, 'open');
    for (const code of [999, 1001, 1005, 2999, 5000, 65536 + 1000 - 65536 - 1]) {
      assert.throws(() => ws.close(code), (error: unknown) => error instanceof DOMException && error.name === 'InvalidAccessError', `code ${code}`);
    }
    assert.throws(() => ws.close(1000, 'é'.repeat(62)), (error: unknown) => error instanceof DOMException && error.name === 'SyntaxError');
    assert.equal(ws.readyState, ws.OPEN);
    const serverClosed = once(server, 'close');
    ws.close(1000, 'x'.repeat(123));
    assert.equal(ws.readyState, ws.CLOSING);
    ws.close(4999); // ignored once closing
    const [code, reason] = await serverClosed;
    assert.equal(code, 1000);
    assert.equal(reason, 'x'.repeat(123));
    await closePair(native, server);
  });

  test('close() without a code sends an empty close frame (the peer sees 1005); with only a reason, 1000', async () => {
    const first = await browserPair();
    await nextEvent(first.ws, 'open');
    const closed = once(first.server, 'close');
    first.ws.close();
    assert.equal((await closed)[0], 1005);
    const second = await browserPair();
    await nextEvent(second.ws, 'open');
    const closed2 = once(second.server, 'close');
    second.ws.close(undefined, 'just a reason');
    assert.deepEqual(await closed2, [1000, 'just a reason']);
  });

  test('after close, send discards the data and bufferedAmount grows, as the standard says', async () => {
    const { ws, server, native } = await browserPair();
    await nextEvent(ws, 'open');
    ws.close();
    const before = ws.bufferedAmount;
    ws.send('lost');
    assert.equal(ws.bufferedAmount, before + 4);
    await nextEvent(ws, 'close');
    await closePair(native, server);
  });

  test('an abnormal end fires error, then close with 1006 and wasClean false', async () => {
    const { ws, server } = await browserPair();
    await nextEvent(ws, 'open');
    const order: string[] = [];
    ws.onerror = (event) => order.push(event.type);
    const closed = new Promise<CloseEvent>((resolve) => {
      ws.onclose = (event) => {
        order.push(event.type);
        resolve(event as CloseEvent);
      };
    });
    server.terminate();
    const event = await closed;
    assert.deepEqual(order, ['error', 'close']);
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
  });

  test('a listener that throws is reported as a warning, and the connection carries on', async () => {
    const { ws, server, native } = await browserPair();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning);
    };
    process.on('warning', onWarning);
    try {
      ws.addEventListener('message', () => {
        throw new Error('page bug');
      });
      ws.onmessage = () => {
        throw new Error('page bug 2');
      };
      await nextEvent(ws, 'open');
      const incoming = nextEvent(ws, 'message');
      await server.send('boom');
      await incoming;
      await sleep(10);
      assert.deepEqual(warnings.map((w) => w.message).sort(), ['page bug', 'page bug 2']);
      assert.equal(ws.readyState, ws.OPEN);
      ws.send('still here');
      assert.deepEqual(await server.receive(), { type: 'text', data: 'still here' });
    } finally {
      process.off('warning', onWarning);
    }
    await closePair(native, server);
  });
});

describe('connecting', { timeout: 30_000 }, () => {
  test('the constructor throws SyntaxError for bad URLs and subprotocols, before any I/O', () => {
    const syntax = (error: unknown): boolean => error instanceof DOMException && error.name === 'SyntaxError';
    assert.throws(() => new BrowserWebSocket('not a url'), syntax);
    assert.throws(() => new BrowserWebSocket('ftp://example.test/'), syntax);
    assert.throws(() => new BrowserWebSocket('ws://example.test/#fragment'), syntax);
    assert.throws(() => new BrowserWebSocket('ws://example.test/#'), syntax);
    assert.throws(() => new BrowserWebSocket('ws://example.test/', ['chat', 'chat']), syntax);
    assert.throws(() => new BrowserWebSocket('ws://example.test/', 'bad protocol'), syntax);
    assert.throws(() => new BrowserWebSocket('ws://example.test/', ['']), syntax);
  });

  test('send while CONNECTING throws InvalidStateError; a refused connection fires error then close 1006', async () => {
    // A port that was just free: the connection is refused.
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const ws = new BrowserWebSocket(`http://127.0.0.1:${port}/`);
    assert.equal(ws.url, `ws://127.0.0.1:${port}/`);
    assert.equal(ws.readyState, BrowserWebSocket.CONNECTING);
    assert.throws(() => ws.send('too early'), (error: unknown) => error instanceof DOMException && error.name === 'InvalidStateError');
    const order: string[] = [];
    ws.onerror = () => order.push('error');
    const closed = new Promise<CloseEvent>((resolve) => {
      ws.onclose = (event) => resolve(event as CloseEvent);
    });
    const event = await within(closed, 10_000, 'close after a refused connection');
    assert.deepEqual(order, ['error']);
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
    assert.equal(ws.readyState, BrowserWebSocket.CLOSED);
  });

  test('against a hybi server: subprotocol, echo, close from the page', async () => {
    const server = new WebSocketServer({ protocols: ['chat.v2', 'chat.v1'] });
    server.on('connection', (peer: WebSocket) => {
      peer.on('message', (data) => void peer.send(data));
    });
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const ws = new BrowserWebSocket(`ws://127.0.0.1:${address.port}/`, ['chat.v1', 'chat.v2']);
      ws.binaryType = 'arraybuffer';
      await within(nextEvent(ws, 'open'), 5000, 'open');
      assert.equal(ws.readyState, BrowserWebSocket.OPEN);
      assert.ok(['chat.v1', 'chat.v2'].includes(ws.protocol));
      ws.send('ping?');
      assert.equal((await nextEvent<MessageEvent>(ws, 'message')).data, 'ping?');
      ws.send(new Uint8Array([7, 8]));
      assert.deepEqual(new Uint8Array((await nextEvent<MessageEvent>(ws, 'message')).data as ArrayBuffer), new Uint8Array([7, 8]));
      const closed = nextEvent<CloseEvent>(ws, 'close');
      ws.close(1000, 'done');
      const event = await within(closed, 5000, 'close');
      assert.equal(event.wasClean, true);
      assert.equal(event.code, 1000);
    } finally {
      await server.close();
    }
  });

  test('close() while CONNECTING fails the connection: error, then close 1006', async () => {
    const server = new WebSocketServer();
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const ws = new BrowserWebSocket(`ws://127.0.0.1:${address.port}/`);
      const order: string[] = [];
      ws.addEventListener('open', () => order.push('open'));
      ws.addEventListener('error', () => order.push('error'));
      const closed = nextEvent<CloseEvent>(ws, 'close');
      ws.close();
      assert.equal(ws.readyState, BrowserWebSocket.CLOSING);
      const event = await within(closed, 5000, 'close');
      assert.deepEqual(order, ['error']);
      assert.equal(event.code, 1006);
    } finally {
      await server.close();
    }
  });
});
