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
import { setImmediate as tick } from 'node:timers/promises';
import { BrowserWebSocket, CloseEvent, ErrorEvent, wrapOpenWebSocket, type CloseEventInit } from '../../src/api/browser-websocket.js';
import { ConnectionClosedError, ProtocolError } from '../../src/core/errors.js';
import { encodeClosePayload } from '../../src/core/close.js';
import { ConnectError, HandshakeError } from '../../src/node/errors.js';
import { WebSocketServer } from '../../src/api/server.js';
import { WebSocket } from '../../src/api/websocket.js';
import { closePair, RawPeer, sleep, within, wsPair } from '../helpers/ws-pair.js';
import { duplexPair } from '../helpers/duplex-pair.js';
import { deflateCodecs } from '../helpers/deflate.js';
import { waitFor } from '../helpers/wait.js';

/** The next event of a type, as a promise (what `await new Promise(r => ws.onmessage = r)` does). */
function nextEvent<T extends Event = Event>(target: EventTarget, type: string): Promise<T> {
  return new Promise((resolve) => target.addEventListener(type, (event) => resolve(event as T), { once: true }));
}

/**
 * A browser-style WebSocket over an in-memory pair, with the native end to talk to (`server`,
 * whatever its role). By default the browser side is the client, without permessage-deflate.
 */
async function browserPair(options: { compress?: boolean; role?: 'client' | 'server' } = {}): Promise<{ ws: BrowserWebSocket; server: WebSocket; native: WebSocket }> {
  const codecs = options.compress === true ? deflateCodecs() : { client: [], server: [] };
  const { client, server } = await wsPair('memory', { client: { url: 'ws://example.test/chat', codecs: codecs.client }, server: { codecs: codecs.server } });
  if (options.role === 'server') return { ws: wrapOpenWebSocket(server, 'ws://example.test/chat'), server: client, native: server };
  return { ws: wrapOpenWebSocket(client), server, native: client };
}

/**
 * Waits, a bounded number of event-loop turns (no timers), until `condition` holds: for what
 * follows from I/O already done, like a send's promise resolving after the peer read it.
 */
async function turnsUntil(condition: () => boolean, what: string, turns = 200): Promise<void> {
  for (let i = 0; i < turns && !condition(); i++) await tick();
  assert.ok(condition(), `${what}: not so after ${turns} turns of the event loop`);
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
    await waitFor(() => log.some((entry) => entry.startsWith('message ')), { what: 'the message event' });
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
    await waitFor(() => ws.bufferedAmount === 0, { what: 'bufferedAmount back at 0' });
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

  test('messages received before the peer\'s close are delivered in OPEN while our answer is held, then CLOSING and CLOSED', async () => {
    const [clientStream, serverStream] = duplexPair();
    const native = new WebSocket(clientStream, { role: 'client', url: 'ws://example.test/', pingInterval: 0, idleTimeout: 0 });
    const peer = new RawPeer(serverStream, 'server');
    try {
      // Two messages and the close, taken by the native connection while nobody listens: they are
      // queued, and the answer to the close is held until they are delivered.
      const text = (s: string): { opcode: number; payload: Uint8Array } => ({ opcode: 1, payload: new TextEncoder().encode(s) });
      peer.send(text('a'), text('b'), { opcode: 8, payload: encodeClosePayload(1000, 'bye') });
      await waitFor(() => native.readyState === 'closing', { what: "the peer's close read" });
      const ws = wrapOpenWebSocket(native);
      const log: string[] = [];
      ws.onopen = () => log.push(`open in ${ws.readyState}`);
      ws.onmessage = (event) => {
        log.push(`${String(event.data)} in ${ws.readyState}`);
        // Right after the last one the answer goes (in the same task): CLOSING from then on.
        if (event.data === 'b') queueMicrotask(() => log.push(`then ${ws.readyState}`));
      };
      const event = await within(nextEvent<CloseEvent>(ws, 'close'), 5000, 'close');
      assert.deepEqual(log, ['open in 1', 'a in 1', 'b in 1', 'then 2']);
      assert.deepEqual([event.code, event.reason, event.wasClean, ws.readyState], [1000, 'bye', true, ws.CLOSED]);
      const answer = await within(peer.nextFrame(), 5000, 'the close answer');
      assert.equal(answer?.opcode, 8);
    } finally {
      await closePair(native);
    }
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
      await waitFor(() => warnings.length >= 2, { what: 'both warnings' });
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

describe('as the WebSockets Standard and Web IDL say', { timeout: 30_000 }, () => {
  for (const compress of [false, true]) {
    test(`bufferedAmount counts payload bytes only, not framing: 1, 3, 203 (${compress ? 'permessage-deflate' : 'plain'})`, async () => {
      const { ws, server, native } = await browserPair({ compress });
      try {
        await nextEvent(ws, 'open');
        assert.equal(native.extensions, compress ? 'permessage-deflate' : '');
        ws.send('x');
        assert.equal(ws.bufferedAmount, 1);
        ws.send('å');
        assert.equal(ws.bufferedAmount, 3);
        ws.send(new Uint8Array(200));
        assert.equal(ws.bufferedAmount, 203);
        const got = [];
        for (let i = 0; i < 3; i++) got.push(await within(server.receive(), 5000, 'a message'));
        assert.deepEqual(got, [
          { type: 'text', data: 'x' },
          { type: 'text', data: 'å' },
          { type: 'binary', data: Buffer.alloc(200) },
        ]);
        await turnsUntil(() => ws.bufferedAmount === 0, 'bufferedAmount back to 0 once the peer has all three');
      } finally {
        await closePair(native, server);
      }
    });
  }

  test('bufferedAmount stays up while the peer reads nothing, and falls to 0 once it reads', async () => {
    const [clientStream, serverStream] = duplexPair();
    const native = new WebSocket(clientStream, { role: 'client', url: 'ws://example.test/', pingInterval: 0, idleTimeout: 0 });
    const ws = wrapOpenWebSocket(native);
    try {
      await nextEvent(ws, 'open');
      const size = 256 * 1024;
      ws.send(new Uint8Array(size));
      assert.equal(ws.bufferedAmount, size);
      // Nothing reads the other end: after many turns of the event loop the message is still not out.
      for (let i = 0; i < 50; i++) await tick();
      assert.equal(ws.bufferedAmount, size);
      const peer = new RawPeer(serverStream, 'server');
      const frame = await within(peer.nextFrame(), 5000, 'the frame');
      assert.equal(frame?.payload.length, size);
      await turnsUntil(() => ws.bufferedAmount === 0, 'bufferedAmount back to 0 once the peer read the message');
    } finally {
      await closePair(native);
    }
  });

  for (const role of ['client', 'server'] as const) {
    for (const compress of [false, true]) {
      test(`send() copies: changing the buffer after send() does not change the message (${role}, ${compress ? 'permessage-deflate' : 'plain'})`, async () => {
        const { ws, server, native } = await browserPair({ role, compress });
        try {
          await nextEvent(ws, 'open');
          // 1000 bytes: big enough that a frame is not merged into the connection's own buffer.
          const bytes = new Uint8Array(1000).fill(1);
          ws.send(bytes);
          bytes[0] = 9;
          const buffer = new Uint8Array(1000).fill(2).buffer;
          ws.send(buffer);
          new Uint8Array(buffer)[0] = 9;
          const view = new DataView(new Uint8Array(1001).fill(3).buffer, 1);
          ws.send(view);
          view.setUint8(0, 9);
          const got = [];
          for (let i = 0; i < 3; i++) got.push(await within(server.receive(), 5000, 'a message'));
          assert.deepEqual(got, [
            { type: 'binary', data: Buffer.alloc(1000, 1) },
            { type: 'binary', data: Buffer.alloc(1000, 2) },
            { type: 'binary', data: Buffer.alloc(1000, 3) },
          ]);
        } finally {
          await closePair(native, server);
        }
      });
    }
  }

  test('send(): a view on a SharedArrayBuffer or a resizable buffer is a TypeError; a SharedArrayBuffer is sent as its string', async () => {
    const { ws, server, native } = await browserPair();
    try {
      await nextEvent(ws, 'open');
      const shared = new SharedArrayBuffer(4);
      const resizable = new (ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer)(4, { maxByteLength: 8 });
      const before = ws.bufferedAmount;
      for (const data of [new Uint8Array(shared), new DataView(shared), new Uint16Array(shared, 2), resizable, new Uint8Array(resizable)]) {
        assert.throws(() => ws.send(data), TypeError, Object.prototype.toString.call(data));
      }
      assert.equal(ws.bufferedAmount, before, 'a send that threw counts nothing');
      ws.send(shared);
      assert.deepEqual(await within(server.receive(), 5000, 'the message'), { type: 'text', data: '[object SharedArrayBuffer]' });
    } finally {
      await closePair(native, server);
    }
  });

  test('new CloseEvent() follows its Web IDL definition', () => {
    const Construct = CloseEvent as unknown as new (...args: unknown[]) => CloseEvent;
    assert.throws(() => new Construct(), TypeError);
    assert.throws(() => new Construct('close', 5), TypeError);
    assert.throws(() => new Construct('close', 'init'), TypeError);
    assert.throws(() => new Construct('close', { code: 1n }), TypeError);
    assert.throws(() => new Construct('close', { reason: Symbol('r') }), TypeError);

    const plain = new CloseEvent('close');
    assert.deepEqual([plain.type, plain.code, plain.reason, plain.wasClean], ['close', 0, '', false]);
    const fromNull = new Construct('close', null);
    assert.deepEqual([fromNull.code, fromNull.reason, fromNull.wasClean], [0, '', false]);
    assert.equal(new Construct(undefined).type, 'undefined');

    // unsigned short: truncated, modulo 2^16; NaN and infinities are 0.
    const code = (value: unknown): number => new Construct('close', { code: value }).code;
    assert.deepEqual([65536 + 1000, -1, 3.9, -3.9, '4000', NaN, Infinity, null, true].map(code), [1000, 65535, 3, 65533, 4000, 0, 0, 0, 1]);
    // USVString: ToString, and a lone surrogate becomes U+FFFD.
    assert.equal(new Construct('close', { reason: 'a\uD800b\uDC00' }).reason, 'a\uFFFDb\uFFFD');
    assert.equal(new Construct('close', { reason: 'ok \uD83D\uDE00' }).reason, 'ok \uD83D\uDE00');
    assert.equal(new Construct('close', { reason: 42 }).reason, '42');
    // boolean: ToBoolean.
    assert.equal(new Construct('close', { wasClean: 'yes' }).wasClean, true);
    assert.equal(new Construct('close', { wasClean: 0 }).wasClean, false);

    // Members are read once each, inherited EventInit members first, each dictionary's in lexicographic order.
    const reads: string[] = [];
    const init = new Proxy({ bubbles: true, code: 4001, reason: 'why', wasClean: true } as CloseEventInit, {
      get(target, key, receiver) {
        if (typeof key === 'string') reads.push(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const event = new CloseEvent('close', init);
    assert.deepEqual(reads, ['bubbles', 'cancelable', 'composed', 'code', 'reason', 'wasClean']);
    assert.deepEqual([event.bubbles, event.code, event.reason, event.wasClean], [true, 4001, 'why', true]);

    assert.equal(Object.prototype.toString.call(event), '[object CloseEvent]');
    assert.ok(event instanceof Event);
    // Read-only attributes: accessors on the prototype, not own data properties.
    assert.deepEqual(Object.keys(event), Object.keys(new Event('close')));
    assert.throws(() => {
      (event as { code: number }).code = 1;
    }, TypeError);
    assert.equal(event.code, 4001);
  });
});

describe("the 'error' event says why, as Node's WebSocket does", { timeout: 30_000 }, () => {
  test('a refused connection: an ErrorEvent with the ConnectError and its message', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const ws = new BrowserWebSocket(`ws://127.0.0.1:${port}/`);
    const event = await within(nextEvent<ErrorEvent>(ws, 'error'), 10_000, 'error after a refused connection');
    assert.ok(event instanceof ErrorEvent);
    assert.ok(event instanceof Event);
    assert.ok(event.error instanceof ConnectError);
    assert.equal(event.error.code, 'ERR_CONNECT');
    assert.equal(event.error.port, port);
    assert.equal(event.message, event.error.message);
    assert.notEqual(event.message, '');
  });

  test('a refused handshake: the HandshakeError with the status', async () => {
    const server = new WebSocketServer({ accept: () => ({ status: 401, body: 'no' }) });
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const ws = new BrowserWebSocket(`ws://127.0.0.1:${address.port}/`);
      const event = await within(nextEvent<ErrorEvent>(ws, 'error'), 5000, 'error');
      assert.ok(event.error instanceof HandshakeError);
      assert.equal(event.error.status, 401);
    } finally {
      await server.close();
    }
  });

  test('a connection lost without a closing handshake: a ConnectionClosedError (1006)', async () => {
    const { ws, server } = await browserPair();
    await nextEvent(ws, 'open');
    const failed = nextEvent<ErrorEvent>(ws, 'error');
    server.terminate();
    const event = await failed;
    assert.ok(event.error instanceof ConnectionClosedError);
    assert.equal(event.error.closeCode, 1006);
    assert.equal(event.message, event.error.message);
  });

  test('a peer that breaks the protocol: the ProtocolError', async () => {
    const [clientStream, serverStream] = duplexPair();
    const native = new WebSocket(clientStream, { role: 'client', url: 'ws://example.test/', pingInterval: 0, idleTimeout: 0 });
    const ws = wrapOpenWebSocket(native);
    const peer = new RawPeer(serverStream, 'server');
    await nextEvent(ws, 'open');
    const failed = nextEvent<ErrorEvent>(ws, 'error');
    // A server must not mask its frames (RFC 6455 section 5.1): the client fails with 1002.
    peer.send({ opcode: 1, payload: new TextEncoder().encode('hi'), mask: new Uint8Array([1, 2, 3, 4]) });
    const event = await within(failed, 5000, 'error');
    assert.ok(event.error instanceof ProtocolError);
    assert.equal(event.error.closeCode, 1002);
    assert.equal(event.message, event.error.message);
  });

  test('close() while connecting: a ConnectionClosedError that says so', async () => {
    const server = new WebSocketServer();
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    try {
      const ws = new BrowserWebSocket(`ws://127.0.0.1:${address.port}/`);
      const failed = nextEvent<ErrorEvent>(ws, 'error');
      ws.close();
      const event = await within(failed, 5000, 'error');
      assert.ok(event.error instanceof ConnectionClosedError);
      assert.match(event.message, /before the connection was open/);
    } finally {
      await server.close();
    }
  });

  test('new ErrorEvent() reads its init dictionary as Web IDL says', () => {
    const cause = new Error('x');
    const event = new ErrorEvent('error', { message: 'm', error: cause, lineno: -1, colno: 2.7, filename: 'f', cancelable: true });
    assert.equal(event.type, 'error');
    assert.equal(event.message, 'm');
    assert.equal(event.error as unknown, cause);
    assert.equal(event.lineno, 4294967295);
    assert.equal(event.colno, 2);
    assert.equal(event.filename, 'f');
    assert.equal(event.cancelable, true);
    assert.equal(Object.prototype.toString.call(event), '[object ErrorEvent]');
    const empty = new ErrorEvent('error');
    assert.deepEqual([empty.message, empty.filename, empty.lineno, empty.colno, empty.error], ['', '', 0, 0, undefined]);
    assert.throws(() => new (ErrorEvent as unknown as new () => ErrorEvent)(), TypeError);
    assert.throws(() => new ErrorEvent('error', 5 as never), TypeError);
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
