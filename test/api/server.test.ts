import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { chromium, type BrowserContext } from 'playwright-core';
import WsClient from 'ws';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { ServerStateError } from '../../src/api/errors.js';
import { selfSignedCertificate } from '../fixtures/cert.js';
import { quietFor as sleep, waitFor } from '../helpers/wait.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

// ---------------------------------------------------------------------------------------------
// helpers

/** A WebSocketServer listening on 127.0.0.1, closed when the test ends. */
async function serve(t: TestContext, options: WebSocketServerOptions = {}, setup?: (s: WebSocketServer) => void) {
  const server = new WebSocketServer(options);
  server.on('handlerError', () => {});
  setup?.(server);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return { server, port, url: `ws://127.0.0.1:${port}` };
}

/** A raw upgrade request; `null` removes one of the default headers. */
function upgradeRequest(path = '/', headers: Record<string, string | null> = {}, method = 'GET', version = '1.1'): string {
  const all: Record<string, string | null> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': KEY,
    'Sec-WebSocket-Version': '13',
    ...headers,
  };
  let text = `${method} ${path} HTTP/${version}\r\n`;
  for (const [k, v] of Object.entries(all)) if (v !== null) text += `${k}: ${v}\r\n`;
  return text + '\r\n';
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server ended its side (the client saw end-of-stream) rather than only resetting. */
  ended: boolean;
  closed: boolean;
}

/**
 * Sends `chunks` (with `gap` ms between them) on a fresh TCP connection and reads until the server
 * ends or closes the socket, or `timeout` ms pass. Never hangs a test.
 */
function rawExchange(port: number, chunks: string | string[], options: { gap?: number; timeout?: number } = {}): Promise<RawResponse> {
  const parts = typeof chunks === 'string' ? [chunks] : chunks;
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const data: Buffer[] = [];
    let ended = false;
    let finished = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closed: boolean) => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      const text = Buffer.concat(data).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const lines = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const c = line.indexOf(':');
        if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      resolve({ status, headers, body: split === -1 ? '' : text.slice(split + 4), ended, closed });
    };
    socket.on('data', (c: Buffer) => data.push(c));
    socket.on('end', () => {
      ended = true;
      finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => {});
    socket.on('connect', () => {
      parts.forEach((p, i) => {
        timers.push(
          setTimeout(() => {
            if (!socket.destroyed) socket.write(p);
          }, i * (options.gap ?? 0)),
        );
      });
    });
    timers.push(setTimeout(() => finish(false), options.timeout ?? 5000));
  });
}

interface Inbox {
  messages: Array<string | Buffer>;
  wake: (() => void) | null;
  closed: number | null;
}
const inboxes = new WeakMap<WsClient, Inbox>();

/**
 * Opens a `ws` client; rejects with the HTTP status on a refusal. Messages are collected from the
 * start, because a server may send in the same TCP segment as its 101, before 'open' is handled.
 */
function openClient(url: string, protocols?: string | string[], options: WsClient.ClientOptions = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const ws = new WsClient(url, protocols, { handshakeTimeout: 5000, ...options });
    const inbox: Inbox = { messages: [], wake: null, closed: null };
    inboxes.set(ws, inbox);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      inbox.messages.push(isBinary ? data : data.toString('utf8'));
      inbox.wake?.();
    });
    ws.on('close', (code: number) => {
      inbox.closed = code;
      inbox.wake?.();
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`refused with ${res.statusCode}`), { status: res.statusCode }));
      res.resume();
      ws.terminate();
    });
    ws.once('error', reject);
  });
}

/** The next `n` messages of a `ws` client, as strings (text) or Buffers (binary); fails after 5 s. */
async function nextMessages(ws: WsClient, n: number): Promise<Array<string | Buffer>> {
  const inbox = inboxes.get(ws)!;
  const deadline = Date.now() + 5000;
  while (inbox.messages.length < n) {
    if (inbox.closed !== null) throw new Error(`closed with ${inbox.closed} after ${inbox.messages.length} messages`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`only ${inbox.messages.length} of ${n} messages within 5 s`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      inbox.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    inbox.wake = null;
  }
  return inbox.messages.splice(0, n);
}

/** The close a `ws` client sees; fails after 5 s. */
function closeEvent(ws: WsClient): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no close within 5 s')), 5000);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}


/** Waits until `predicate` holds (for counters that change on 'close'); fails after `timeout` (scaled). */
async function eventually(predicate: () => boolean, timeout = 2000): Promise<void> {
  await waitFor(predicate, { timeout, what: 'the condition' });
}

async function echo(ws: WebSocket): Promise<void> {
  for await (const m of ws) await ws.send(m.data);
}

// ---------------------------------------------------------------------------------------------

describe('listen(): a server of its own', { timeout: 30_000 }, () => {
  it('refuses a second listen(), and listen() or attach() after close(), with a ServerStateError', async () => {
    const server = new WebSocketServer();
    await server.listen({ port: 0, host: '127.0.0.1' });
    await assert.rejects(server.listen({ port: 0, host: '127.0.0.1' }), (e: unknown) => e instanceof ServerStateError && e.code === 'ERR_SERVER_STATE' && e.state === 'listening');
    await server.close();
    await assert.rejects(server.listen({ port: 0, host: '127.0.0.1' }), (e: unknown) => e instanceof ServerStateError && e.state === 'closed');
    const http = createHttpServer();
    assert.throws(() => server.attach(http), (e: unknown) => e instanceof ServerStateError && e.state === 'closed');
  });

  it('listens on a free port, reports it, and echoes text and binary to a ws client', async (t) => {
    const { server, port, url } = await serve(t, {}, (s) => s.route('/echo', echo));
    assert.equal((server.address() as AddressInfo).port, port);
    assert.ok(port > 0);
    const client = await openClient(`${url}/echo`);
    t.after(() => client.terminate());
    const replies = nextMessages(client, 2);
    client.send('héllo ✓');
    client.send(Buffer.from([0, 1, 2, 255]));
    const [text, binary] = await replies;
    assert.equal(text, 'héllo ✓');
    assert.deepEqual(binary, Buffer.from([0, 1, 2, 255]));
    assert.equal(server.clients.size, 1);
  });

  it('receives large masked messages from a ws client byte-exact, several in flight, and echoes them', async (t) => {
    // Frames spread over many reads: their pieces are unmasked while they are joined.
    const { url } = await serve(t, { maxMessageSize: 8 << 20, maxFrameSize: 8 << 20 }, (s) => s.route('/echo', echo));
    const client = await openClient(`${url}/echo`, undefined, { maxPayload: 8 << 20 });
    t.after(() => client.terminate());
    const sizes = [1000, 8191, 65_536, 65_543, (1 << 20) + 3, 5 << 20];
    const payloads = sizes.map((n, i) => Buffer.from(Uint8Array.from({ length: n }, (_, j) => (j * 251 + i + (j >> 11)) & 0xff)));
    const replies = nextMessages(client, payloads.length);
    for (const p of payloads) client.send(p);
    const got = await replies;
    got.forEach((m, i) => assert.ok(Buffer.isBuffer(m) && m.equals(payloads[i]!), `message ${i} of ${sizes[i]} bytes`));
  });

  it('answers plain HTTP with 426 Upgrade Required naming websocket', async (t) => {
    const { port } = await serve(t);
    const res = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(res.status, 426);
    assert.equal(res.headers['upgrade'], 'websocket');
    assert.equal(res.headers['sec-websocket-version'], '13');
  });

  it('hands plain HTTP to onRequest when one is given', async (t) => {
    const server = new WebSocketServer();
    const { port } = await server.listen({ host: '127.0.0.1', onRequest: (_req, res) => res.end('page') });
    t.after(() => server.close());
    const res = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'page');
  });

  it('plain requests go to node:http from their first byte: pipelined, split, and an upgrade after them on the same connection', async (t) => {
    const server = new WebSocketServer();
    server.on('connection', (ws) => ws.on('message', (data) => void ws.send(data)));
    const { port } = await server.listen({ host: '127.0.0.1', onRequest: (req, res) => res.end(`page ${req.url}`) });
    t.after(() => server.close());
    const socket = netConnect({ port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    const until = async (part: string) => {
      for (let i = 0; i < 200 && !text.includes(part); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(text.includes(part), `saw ${JSON.stringify(part)} in ${JSON.stringify(text)}`);
    };
    // Two requests in one write, the first head split over two writes.
    socket.write('GET /a HTTP/1.1\r\nHo');
    await new Promise((r) => setTimeout(r, 20));
    socket.write('st: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await until('page /b');
    assert.ok(text.indexOf('page /a') < text.indexOf('page /b'));
    // Then an upgrade on the same keep-alive connection, and a masked text frame "hi".
    socket.write(upgradeRequest('/late'));
    await until('101 Switching Protocols');
    socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]));
    await until('\x81\x02hi');
  });

  it('a connection listener sees the request: method, url, version, headers, rawHeaders, socket', async (t) => {
    let seen: IncomingMessage | null = null;
    const { url } = await serve(t, {}, (s) => s.on('connection', (_ws, req) => (seen = req)));
    const client = await openClient(`${url}/path?q=1`, undefined, { headers: { 'X-Test': 'one' } });
    t.after(() => client.terminate());
    const req = seen as IncomingMessage | null;
    assert.ok(req !== null);
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/path?q=1');
    assert.equal(req.httpVersion, '1.1');
    assert.equal(req.headers['x-test'], 'one');
    assert.equal(req.headers['upgrade'], 'websocket');
    assert.ok(req.rawHeaders.includes('X-Test'));
    assert.equal(req.socket.remoteAddress, '127.0.0.1');
  });

  it("an upgrade request has no body: reading it ends at once, and the connection's frames are not taken from it", async (t) => {
    let read: Promise<unknown[]> | null = null;
    const { url } = await serve(t, {}, (s) =>
      s.route('/echo', echo).on('connection', (_ws, req: IncomingMessage) => {
        read = (async () => {
          const chunks: unknown[] = [];
          for await (const chunk of req) chunks.push(chunk);
          return chunks;
        })();
      }),
    );
    const client = await openClient(`${url}/echo`);
    t.after(() => client.terminate());
    assert.ok(read !== null);
    assert.deepEqual(await read, []);
    const replies = nextMessages(client, 1);
    client.send('after the request was read');
    assert.deepEqual(await replies, ['after the request was read']);
  });

  it("a connection starts in the turn it is announced in: 'open' before the handler's first await resumes; a message sent with the handshake waits for its listener", async (t) => {
    const order: string[] = [];
    let received!: () => void;
    const done = new Promise<void>((resolve) => (received = resolve));
    const { port } = await serve(t, {}, (s) =>
      s.on('connection', async (ws: WebSocket) => {
        ws.on('open', () => order.push('open'));
        await null;
        order.push('handler resumed');
        ws.on('message', (data) => {
          order.push(`message ${String(data)}`);
          received();
        });
      }),
    );
    const socket = netConnect({ port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    await once(socket, 'connect');
    // The head and a masked text frame "hi" (mask key 0) in one write, so they arrive together.
    socket.write(Buffer.concat([Buffer.from(upgradeRequest('/'), 'latin1'), Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69])]));
    await done;
    assert.deepEqual(order, ['open', 'handler resumed', 'message hi']);
    socket.destroy();
  });

  it('an upgrade head that arrives in pieces opens the connection, and frames in its last piece are read', async (t) => {
    let received!: (text: string) => void;
    const message = new Promise<string>((resolve) => (received = resolve));
    const { port } = await serve(t, {}, (s) => s.on('connection', (ws: WebSocket) => ws.on('message', (data) => received(String(data)))));
    const socket = netConnect({ port, host: '127.0.0.1' });
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    let answer = '';
    let answered!: () => void;
    const headRead = new Promise<void>((resolve) => (answered = resolve));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n\r\n')) answered();
    });
    await once(socket, 'connect');
    const head = Buffer.from(upgradeRequest('/'), 'latin1');
    // Three writes, a pause between them so that they are likely read apart; the outcome must be
    // the same however the kernel joins them.
    socket.write(head.subarray(0, 10));
    await sleep(20);
    socket.write(head.subarray(10, head.length - 3));
    await sleep(20);
    socket.write(Buffer.concat([head.subarray(head.length - 3), Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x68, 0x69])]));
    assert.equal(await message, 'hi');
    await headRead;
    assert.match(answer, /^HTTP\/1\.1 101 /);
    socket.destroy();
  });

  it('rejects with the listen error when the port is taken', async (t) => {
    const { port } = await serve(t);
    const second = new WebSocketServer();
    await assert.rejects(second.listen({ port, host: '127.0.0.1' }), { code: 'EADDRINUSE' });
  });

  it('without routes, every path goes to the connection listeners', async (t) => {
    const seen: string[] = [];
    const { url } = await serve(t, {}, (s) =>
      s.on('connection', (ws: WebSocket, req: IncomingMessage, match: { path: string }) => {
        seen.push(`${ws.url} ${req.headers['x-test']} ${match.path}`);
      }),
    );
    const client = await openClient(`${url}/any/path?q=1`, undefined, { headers: { 'X-Test': 'yes' } });
    t.after(() => client.terminate());
    assert.deepEqual(seen, ['/any/path?q=1 yes /any/path']);
  });
});

describe('refusals, with the exact status, before any upgrade', { timeout: 30_000 }, () => {
  it('a wrong method is 405', async (t) => {
    const { port } = await serve(t, {}, (s) => s.route('/', echo));
    const res = await rawExchange(port, upgradeRequest('/', {}, 'POST'));
    assert.equal(res.status, 405);
  });

  it('a bad key is 400', async (t) => {
    const { port } = await serve(t, {}, (s) => s.route('/', echo));
    assert.equal((await rawExchange(port, upgradeRequest('/', { 'Sec-WebSocket-Key': 'dG9vIHNob3J0' }))).status, 400);
    assert.equal((await rawExchange(port, upgradeRequest('/', { 'Sec-WebSocket-Key': null }))).status, 400);
  });

  it('a version other than 13 is 426 with Sec-WebSocket-Version: 13 (RFC 6455 section 4.4)', async (t) => {
    const { port } = await serve(t, {}, (s) => s.route('/', echo));
    const res = await rawExchange(port, upgradeRequest('/', { 'Sec-WebSocket-Version': '8' }));
    assert.equal(res.status, 426);
    assert.equal(res.headers['sec-websocket-version'], '13');
  });

  it('an unknown path is 404', async (t) => {
    const { port, url } = await serve(t, {}, (s) => s.route('/chat', echo));
    assert.equal((await rawExchange(port, upgradeRequest('/nope'))).status, 404);
    await assert.rejects(openClient(`${url}/chat/`), { status: 404 });
  });

  it('a forbidden origin is 403; listed origins (any case) and Origin-less clients get in', async (t) => {
    const { port } = await serve(t, { allowedOrigins: ['http://good.example'] }, (s) => s.route('/', echo));
    assert.equal((await rawExchange(port, upgradeRequest('/', { Origin: 'http://evil.example' }))).status, 403);
    assert.equal((await rawExchange(port, upgradeRequest('/', { Origin: 'null' }))).status, 403);
    assert.equal((await rawExchange(port, upgradeRequest('/', { Origin: 'HTTP://GOOD.EXAMPLE' }), { timeout: 300 })).status, 101);
    assert.equal((await rawExchange(port, upgradeRequest('/'), { timeout: 300 })).status, 101);
  });

  it('by default an Origin naming another host or port than Host is 403; the same host, and no Origin, get in', async (t) => {
    const { port, url } = await serve(t, {}, (s) => s.route('/', echo));
    const host = `127.0.0.1:${port}`;
    const status = async (headers: Record<string, string>): Promise<number> => (await rawExchange(port, upgradeRequest('/', { Host: host, ...headers }), { timeout: 300 })).status;
    assert.equal(await status({ Origin: 'http://evil.example' }), 403);
    assert.equal(await status({ Origin: `http://evil.example:${port}` }), 403);
    assert.equal(await status({ Origin: `http://127.0.0.1:${port + 1}` }), 403);
    assert.equal(await status({ Origin: `http://localhost:${port}` }), 403);
    assert.equal(await status({ Origin: 'null' }), 403);
    // Host and port compared, not the scheme; host names case-insensitively.
    assert.equal(await status({ Origin: `http://127.0.0.1:${port}` }), 101);
    assert.equal(await status({ Origin: `HTTPS://127.0.0.1:${port}` }), 101);
    assert.equal(await status({ Host: `LOCALHOST:${port}`, Origin: `http://localhost:${port}` }), 101);
    assert.equal(await status({}), 101);
    // What a browser user notices: a foreign page's client is refused, a same-origin one is not.
    await assert.rejects(openClient(`${url}/`, [], { origin: 'https://evil.example' }), { status: 403 });
    (await openClient(`${url}/`, [], { origin: `http://127.0.0.1:${port}` })).terminate();
  });

  it("allowedOrigins: '*' lets every Origin in (the old default)", async (t) => {
    const { port } = await serve(t, { allowedOrigins: '*' }, (s) => s.route('/', echo));
    assert.equal((await rawExchange(port, upgradeRequest('/', { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example' }), { timeout: 300 })).status, 101);
    assert.equal((await rawExchange(port, upgradeRequest('/', { Origin: 'null' }), { timeout: 300 })).status, 101);
    assert.throws(() => new WebSocketServer({ allowedOrigins: 'https://a.example' as unknown as '*' }), InvalidArgumentError);
  });

  it('an accept hook without allowedOrigins decides on cross-origin requests, told by info.crossOrigin', async (t) => {
    const seen: Array<[string | undefined, boolean]> = [];
    const { port } = await serve(t, { accept: (_req, info) => (seen.push([info.origin, info.crossOrigin]), info.origin !== 'http://blocked.example') }, (s) => s.route('/', echo));
    const status = async (headers: Record<string, string>): Promise<number> =>
      (await rawExchange(port, upgradeRequest('/', { Host: `127.0.0.1:${port}`, ...headers }), { timeout: 300 })).status;
    assert.equal(await status({ Origin: 'http://partner.example' }), 101);
    assert.equal(await status({ Origin: 'http://blocked.example' }), 403);
    assert.equal(await status({ Origin: `http://127.0.0.1:${port}` }), 101);
    assert.equal(await status({}), 101);
    assert.deepEqual(seen, [
      ['http://partner.example', true],
      ['http://blocked.example', true],
      [`http://127.0.0.1:${port}`, false],
      [undefined, false],
    ]);
    // A route's own hook hands it the decision the same way; routes without one keep the default.
    const routed = await serve(t, {}, (s) => s.route('/open', { accept: () => true }, echo).route('/closed', echo));
    const foreign = (path: string) => upgradeRequest(path, { Host: `127.0.0.1:${routed.port}`, Origin: 'http://partner.example' });
    assert.equal((await rawExchange(routed.port, foreign('/open'), { timeout: 300 })).status, 101);
    assert.equal((await rawExchange(routed.port, foreign('/closed'), { timeout: 300 })).status, 403);
  });

  it('a Host that is not a host with an optional port is 400 (RFC 9112 section 3.2)', async (t) => {
    let connections = 0;
    const { port } = await serve(t, { allowedOrigins: '*' }, (s) => s.route('/', echo).on('connection', () => connections++));
    for (const host of [`a b:${port}`, `evil.example@127.0.0.1:${port}`, `127.0.0.1:${port}/evil`]) {
      const res = await rawExchange(port, upgradeRequest('/', { Host: host }));
      assert.equal(res.status, 400, host);
      assert.match(res.body, /Host header is not a valid host/);
    }
    assert.equal(connections, 0);
    assert.equal((await rawExchange(port, upgradeRequest('/', { Host: `127.0.0.1:${port}` }), { timeout: 300 })).status, 101);
  });

  it('an oversized head is 431 (Node parser limit set from maxHeadSize)', async (t) => {
    const { port } = await serve(t, { maxHeadSize: 2048 }, (s) => s.route('/', echo));
    const res = await rawExchange(port, upgradeRequest('/', { 'X-Big': 'x'.repeat(4096) }));
    assert.equal(res.status, 431);
    assert.equal(res.ended, true);
  });

  it('too many header fields is 431', async (t) => {
    const { port } = await serve(t, { maxHeaderCount: 10 }, (s) => s.route('/', echo));
    const extra: Record<string, string> = {};
    for (let i = 0; i < 10; i++) extra[`X-H${i}`] = 'v';
    assert.equal((await rawExchange(port, upgradeRequest('/', extra))).status, 431);
  });

  it('beyond maxConnections is 503, and a freed slot is usable again', async (t) => {
    const { server, url } = await serve(t, { maxConnections: 1 }, (s) => s.route('/', echo));
    const first = await openClient(url);
    await assert.rejects(openClient(url), { status: 503 });
    assert.equal(server.clients.size, 1);
    first.close();
    await eventually(() => server.clients.size === 0);
    const again = await openClient(url);
    again.terminate();
  });

  it('a client dribbling its request head is answered 408 and dropped after handshakeTimeout', async (t) => {
    const { server, port } = await serve(t, { handshakeTimeout: 200 }, (s) => s.route('/', echo));
    const request = upgradeRequest('/');
    const chunks = [...request.slice(0, 40)]; // one byte per write, 50 ms apart
    const started = Date.now();
    const res = await rawExchange(port, chunks, { gap: 50 });
    assert.equal(res.status, 408);
    assert.equal(res.ended, true);
    assert.ok(Date.now() - started < 1500, 'dropped long before the head could complete');
    assert.equal(server.connectionCount, 0);
  });

  it('a slow accept hook is bounded by handshakeTimeout too (408)', async (t) => {
    const { server, port } = await serve(t, { handshakeTimeout: 150, accept: () => new Promise<boolean>(() => {}) }, (s) => s.route('/', echo));
    const res = await rawExchange(port, upgradeRequest('/'));
    assert.equal(res.status, 408);
    assert.equal(server.connectionCount, 0);
  });

  it('the bound covers the whole handshake: time spent sending the head counts against the accept hook', async (t) => {
    const { server, port } = await serve(t, { handshakeTimeout: 300, accept: () => sleep(250).then(() => true) }, (s) => s.route('/', echo));
    const request = upgradeRequest('/');
    // The head takes 200 ms to arrive, the hook 250 ms more: each alone is within 300 ms, together not.
    const res = await rawExchange(port, [request.slice(0, 20), request.slice(20)], { gap: 200 });
    assert.equal(res.status, 408);
    assert.equal(server.connectionCount, 0);
  });

  it('a request Node cannot parse is 400', async (t) => {
    const { port } = await serve(t);
    assert.equal((await rawExchange(port, 'GET / HTTP/1.1\r\nBad Header\r\n\r\n')).status, 400);
  });

  it('refused sockets are closed and counted nowhere', async (t) => {
    let connections = 0;
    const { server, port, url } = await serve(t, { maxConnections: 1, allowedOrigins: ['http://ok'] }, (s) => {
      s.route('/', echo);
      s.on('connection', () => connections++);
    });
    const refusals = await Promise.all([
      rawExchange(port, upgradeRequest('/', {}, 'POST')),
      rawExchange(port, upgradeRequest('/', { 'Sec-WebSocket-Version': '7' })),
      rawExchange(port, upgradeRequest('/missing')),
      rawExchange(port, upgradeRequest('/', { Origin: 'http://bad' })),
    ]);
    for (const r of refusals) {
      assert.ok(r.status >= 400, `status ${r.status}`);
      assert.equal(r.ended, true, 'the client sees the end of the stream');
    }
    assert.equal(server.clients.size, 0);
    assert.equal(server.connectionCount, 0);
    assert.equal(connections, 0);
    // And the one slot maxConnections allows is still free.
    const client = await openClient(url);
    client.terminate();
  });
});

describe('the accept hook', { timeout: 30_000 }, () => {
  it('true accepts, false is 403 with a short body (access-denied); it may be async and sees the route match', async (t) => {
    const { port, url } = await serve(
      t,
      {
        accept: async (_req, info) => {
          await sleep(5);
          return info.query.get('token') === 'secret' && info.path === '/';
        },
      },
      (s) => s.route('/', echo),
    );
    const denied = await rawExchange(port, upgradeRequest('/?token=wrong'));
    assert.equal(denied.status, 403);
    assert.equal(denied.body, 'Access denied.\n');
    const ok = await openClient(`${url}/?token=secret`);
    ok.terminate();
  });

  it('a response object is sent as the refusal', async (t) => {
    const { port } = await serve(t, { accept: () => ({ status: 401, headers: { 'WWW-Authenticate': 'Bearer' }, body: 'log in first' }) });
    const res = await rawExchange(port, upgradeRequest('/'));
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    assert.equal(res.body, 'log in first');
  });

  it('a hook that throws is a 500 and reported as handlerError', async (t) => {
    const errors: unknown[] = [];
    const { port } = await serve(
      t,
      {
        accept: () => {
          throw new Error('boom');
        },
      },
      (s) => s.on('handlerError', (e) => errors.push(e)),
    );
    assert.equal((await rawExchange(port, upgradeRequest('/'))).status, 500);
    assert.equal((errors[0] as Error).message, 'boom');
  });

  it("a 'refused' listener that throws is reported, and the client still gets its answer", async (t) => {
    const errors: unknown[] = [];
    const { port } = await serve(t, {}, (s) => {
      s.route('/only', () => {});
      s.on('refused', () => {
        throw new Error('listener bug');
      });
      s.on('handlerError', (e) => errors.push(e));
    });
    const res = await rawExchange(port, upgradeRequest('/elsewhere'));
    assert.equal(res.status, 404);
    assert.ok(res.ended);
    assert.equal((errors[0] as Error).message, 'listener bug');
  });

  it('a route may have its own hook, asked after the server one', async (t) => {
    const order: string[] = [];
    const { port } = await serve(
      t,
      {
        accept: () => {
          order.push('server');
          return true;
        },
      },
      (s) =>
        s.route(
          '/admin',
          {
            accept: () => {
              order.push('route');
              return false;
            },
          },
          echo,
        ),
    );
    assert.equal((await rawExchange(port, upgradeRequest('/admin'))).status, 403);
    assert.deepEqual(order, ['server', 'route']);
  });

  it("{ data } accepts and hands the value to the connection as ws.data; the route hook's wins", async (t) => {
    const seen: unknown[] = [];
    const { url } = await serve(
      t,
      { accept: (req) => ({ data: { user: new URL(req.url ?? '/', 'http://x').searchParams.get('user') } }) },
      (s) => {
        s.on('connection', (ws) => seen.push(ws.data));
        const reply = (ws: WebSocket): void => void ws.send(JSON.stringify(ws.data));
        s.route('/plain', reply);
        s.route('/room/:id', { accept: (_req, info) => ({ data: { room: info.params['id'] } }) }, reply);
      },
    );
    const plain = await openClient(`${url}/plain?user=ann`);
    assert.deepEqual(await nextMessages(plain, 1), ['{"user":"ann"}']);
    const room = await openClient(`${url}/room/7?user=bob`);
    assert.deepEqual(await nextMessages(room, 1), ['{"room":"7"}']);
    assert.deepEqual(seen, [{ user: 'ann' }, { room: '7' }]);
    plain.terminate();
    room.terminate();
  });

  it('an object with neither status nor data is still a 500', async (t) => {
    const { port } = await serve(t, { accept: () => ({}) as never }, (s) => s.route('/', echo));
    assert.equal((await rawExchange(port, upgradeRequest('/'))).status, 500);
  });
});

describe('routing and subprotocols', { timeout: 30_000 }, () => {
  it('routes match in order and :params reach the handler', async (t) => {
    const { url } = await serve(t, {}, (s) => {
      s.route('/rooms/:room', (ws, _req, match) => void ws.send(`room ${match.params.room}`));
      s.route('/rooms/lobby', (ws) => void ws.send('lobby'));
      s.route(/^\/v(?<n>\d)$/, (ws, _req, match) => void ws.send(`version ${match.params.n}`));
    });
    for (const [path, expected] of [
      ['/rooms/lobby', 'room lobby'],
      ['/rooms/a%20b', 'room a b'],
      ['/v7', 'version 7'],
    ]) {
      const client = await openClient(url + path);
      const [m] = await nextMessages(client, 1);
      assert.equal(m, expected);
      client.terminate();
    }
  });

  it("picks the subprotocol by the server's preference, per route", async (t) => {
    const { url } = await serve(t, { protocols: ['default.v1'] }, (s) => {
      s.route('/chat', { protocols: ['chat.v2', 'chat.v1'] }, echo);
      s.route('/other', echo);
    });
    const chat = await openClient(`${url}/chat`, ['chat.v1', 'chat.v2']);
    assert.equal(chat.protocol, 'chat.v2');
    chat.terminate();
    const other = await openClient(`${url}/other`, ['chat.v1', 'default.v1']);
    assert.equal(other.protocol, 'default.v1');
    other.terminate();
  });

  it('a route may proceed without a subprotocol, or require one (400)', async (t) => {
    const { port } = await serve(t, {}, (s) => {
      s.route('/lenient', { protocols: ['v1'] }, echo);
      s.route('/strict', { protocols: ['v1'], requireProtocol: true }, echo);
    });
    const lenient = await rawExchange(port, upgradeRequest('/lenient', { 'Sec-WebSocket-Protocol': 'v0' }), { timeout: 300 });
    assert.equal(lenient.status, 101);
    assert.equal(lenient.headers['sec-websocket-protocol'], undefined);
    assert.equal((await rawExchange(port, upgradeRequest('/strict', { 'Sec-WebSocket-Protocol': 'v0' }))).status, 400);
    assert.equal((await rawExchange(port, upgradeRequest('/strict'))).status, 400);
    const strict = await rawExchange(port, upgradeRequest('/strict', { 'Sec-WebSocket-Protocol': 'v0, v1' }), { timeout: 300 });
    assert.equal(strict.status, 101);
    assert.equal(strict.headers['sec-websocket-protocol'], 'v1');
  });

  it('declines permessage-deflate by default, and the connection works without it', async (t) => {
    const { url } = await serve(t, {}, (s) => s.route('/', echo));
    const client = await openClient(url, undefined, { perMessageDeflate: true });
    t.after(() => client.terminate());
    assert.equal(client.extensions, '');
    const reply = nextMessages(client, 1);
    client.send('x'.repeat(1000));
    assert.equal((await reply)[0], 'x'.repeat(1000));
  });

  it('with compress: true, accepts permessage-deflate and compresses both ways', async (t) => {
    const { url, port } = await serve(t, { compress: { serverMaxWindowBits: 12 } }, (s) => s.route('/', echo));
    const offer = 'x-unknown-ext, permessage-deflate; client_max_window_bits';
    const raw = await rawExchange(port, upgradeRequest('/', { 'Sec-WebSocket-Extensions': offer }), { timeout: 300 });
    assert.equal(raw.headers['sec-websocket-extensions'], 'permessage-deflate; server_max_window_bits=12');
    const client = await openClient(url, undefined, { perMessageDeflate: { threshold: 0 } });
    t.after(() => client.terminate());
    assert.equal(client.extensions, 'permessage-deflate');
    const text = 'a compressible line of text\n'.repeat(4000);
    const socket = (client as unknown as { _socket: Socket })._socket;
    const before = socket.bytesRead;
    const reply = nextMessages(client, 1);
    client.send(text);
    assert.equal((await reply)[0], text);
    // About 110 KB of text arrived in far fewer bytes: the server's frames were compressed.
    assert.ok(socket.bytesRead - before < text.length / 10, `${socket.bytesRead - before} bytes on the wire`);
  });

  it('rejects bad options when the server is made, not when a client arrives', () => {
    assert.throws(() => new WebSocketServer({ compress: { serverMaxWindowBits: 20 } }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new WebSocketServer({ maxMessageSize: -1 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new WebSocketServer({ maxConnections: 0 }), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new WebSocketServer().route('no-slash', echo), { code: 'ERR_INVALID_ARGUMENT' });
    assert.throws(() => new WebSocketServer().route('/', {} as never), { code: 'ERR_INVALID_ARGUMENT' });
  });

  it('adds the headers option to the 101, as an object or a function of the request', async (t) => {
    const { url } = await serve(t, { headers: (req) => ({ 'X-Path': req.url ?? '', 'Set-Cookie': ['a=1', 'b=2'] }) }, (s) => s.route('/h', echo));
    const headers = await new Promise<IncomingMessage['headers']>((resolve, reject) => {
      const ws = new WsClient(`${url}/h`);
      ws.once('upgrade', (res) => resolve(res.headers));
      ws.once('open', () => ws.terminate());
      ws.once('error', reject);
    });
    assert.equal(headers['x-path'], '/h');
    assert.deepEqual(headers['set-cookie'], ['a=1', 'b=2']);
  });

  it('a headers function may return { headers, data }: the headers are sent and ws.data is set', async (t) => {
    const { url } = await serve(
      t,
      { accept: () => ({ data: 'from accept' }), headers: (req) => ({ headers: { 'X-Id': 'h1' }, data: { path: req.url } }) },
      (s) => s.route('/d', (ws) => void ws.send(JSON.stringify(ws.data))),
    );
    const upgraded = new Promise<IncomingMessage['headers']>((resolve, reject) => {
      const ws = new WsClient(`${url}/d`, { handshakeTimeout: 5000 });
      ws.once('upgrade', (res) => resolve(res.headers));
      ws.once('error', reject);
      ws.once('open', () => ws.terminate());
    });
    assert.equal((await upgraded)['x-id'], 'h1');
    const client = await openClient(`${url}/d`);
    assert.deepEqual(await nextMessages(client, 1), ['{"path":"/d"}']);
    client.terminate();
  });

  it('a header record with a "headers" field that is not an object stays a header', async (t) => {
    const { url } = await serve(t, { headers: () => ({ headers: ['a', 'b'], data: 'x' }) }, (s) => s.route('/', echo));
    const headers = await new Promise<IncomingMessage['headers']>((resolve, reject) => {
      const ws = new WsClient(`${url}/`);
      ws.once('upgrade', (res) => resolve(res.headers));
      ws.once('open', () => ws.terminate());
      ws.once('error', reject);
    });
    assert.equal(headers['headers'], 'a, b');
    assert.equal(headers['data'], 'x');
  });

  it('headers that would break the handshake are a 500, never sent', async (t) => {
    let which = 0;
    const bad: Array<Record<string, string>> = [{ 'X-Evil': 'a\r\nSet-Cookie: stolen=1' }, { 'Sec-WebSocket-Accept': 'forged' }, { 'Bad Name': 'x' }];
    const errors: unknown[] = [];
    const { server, port } = await serve(t, { headers: () => bad[which++]! }, (s) => {
      s.route('/', echo);
      s.on('handlerError', (e) => errors.push(e));
    });
    for (let i = 0; i < bad.length; i++) {
      const res = await rawExchange(port, upgradeRequest('/'));
      assert.equal(res.status, 500);
      assert.equal(res.headers['set-cookie'], undefined);
    }
    assert.equal(errors.length, 3);
    assert.equal(server.connectionCount, 0);
  });

  it('a headers function that throws is a 500 and reported, with compression offered too', async (t) => {
    const errors: unknown[] = [];
    const { server, port } = await serve(
      t,
      {
        compress: true,
        headers: () => {
          throw new Error('no headers today');
        },
      },
      (s) => s.on('handlerError', (e) => errors.push(e)),
    );
    const res = await rawExchange(port, upgradeRequest('/', { 'Sec-WebSocket-Extensions': 'permessage-deflate' }));
    assert.equal(res.status, 500);
    assert.equal((errors[0] as Error).message, 'no headers today');
    assert.equal(server.connectionCount, 0);
  });
});

describe("a handler's promise is the connection's life", { timeout: 30_000 }, () => {
  it('resolving closes with 1000', async (t) => {
    const { url } = await serve(t, {}, (s) =>
      s.route('/', async (ws) => {
        await ws.receive();
      }),
    );
    const client = await openClient(url);
    const closed = closeEvent(client);
    client.send('one');
    assert.equal((await closed).code, 1000);
  });

  it('rejecting (or throwing) closes with 1011 and reports the error', async (t) => {
    const errors: string[] = [];
    const { url } = await serve(t, {}, (s) => {
      s.on('handlerError', (e) => errors.push((e as Error).message));
      s.route('/async', async () => {
        await sleep(5);
        throw new Error('async failure');
      });
      s.route('/sync', () => {
        throw new Error('sync failure');
      });
    });
    for (const path of ['/async', '/sync']) {
      const client = await openClient(url + path);
      assert.equal((await closeEvent(client)).code, 1011);
    }
    assert.deepEqual(errors, ['async failure', 'sync failure']);
  });

  it('a handler that returns nothing (event style) leaves the connection open', async (t) => {
    const { url } = await serve(t, {}, (s) =>
      s.route('/', (ws) => {
        ws.on('message', (data: Buffer | string) => void ws.send(`got ${String(data)}`));
      }),
    );
    const client = await openClient(url);
    t.after(() => client.terminate());
    await sleep(50);
    const reply = nextMessages(client, 1);
    client.send('late');
    assert.equal((await reply)[0], 'got late');
  });
});

describe('message handlers and concurrency (with-websocket / with-concurrent-websocket)', { timeout: 30_000 }, () => {
  const delayed = {
    open: (ws: WebSocket) => void ws.send('hello'),
    message: async (m: { data: string | Buffer }, ws: WebSocket) => {
      await sleep(Number(m.data));
      await ws.send(String(m.data));
    },
  };

  it('by default messages are handled one at a time, in order', async (t) => {
    const { url } = await serve(t, {}, (s) => s.route('/', delayed));
    const client = await openClient(url);
    t.after(() => client.terminate());
    const replies = nextMessages(client, 4);
    for (const d of ['120', '60', '0']) client.send(d);
    assert.deepEqual(await replies, ['hello', '120', '60', '0']);
  });

  it('with concurrency > 1 they run in parallel and finish in their own order', async (t) => {
    const { url } = await serve(t, { concurrency: 3 }, (s) => s.route('/', delayed));
    const client = await openClient(url);
    t.after(() => client.terminate());
    const replies = nextMessages(client, 4);
    for (const d of ['120', '60', '0']) client.send(d);
    assert.deepEqual(await replies, ['hello', '0', '60', '120']);
  });

  it('a message handler that throws closes with 1011', async (t) => {
    const { url } = await serve(t, {}, (s) =>
      s.route('/', {
        message: () => {
          throw new Error('bad message');
        },
      }),
    );
    const client = await openClient(url);
    const closed = closeEvent(client);
    client.send('x');
    assert.equal((await closed).code, 1011);
  });
});

describe('broadcast', { timeout: 30_000 }, () => {
  it('sends one message to every open client except the ones named', async (t) => {
    const serverSide: WebSocket[] = [];
    const { server, url } = await serve(t, {}, (s) => s.on('connection', (ws: WebSocket) => serverSide.push(ws)));
    const clients = [await openClient(url), await openClient(url), await openClient(url)];
    t.after(() => clients.forEach((c) => c.terminate()));
    await eventually(() => serverSide.length === 3);
    const received = [nextMessages(clients[0]!, 2), nextMessages(clients[1]!, 2), nextMessages(clients[2]!, 4)];
    assert.equal(server.broadcast('to all but the first', { except: serverSide[0] }), 2);
    assert.equal(server.broadcast(new Uint8Array([1, 2, 3]), { except: (ws) => ws === serverSide[1] }), 2);
    assert.equal(server.broadcast('everyone'), 3);
    assert.equal(server.broadcast('binary text', { binary: true, except: [serverSide[0]!, serverSide[1]!] }), 1);
    const [a, b, c] = await Promise.all(received);
    assert.deepEqual(a, [Buffer.from([1, 2, 3]), 'everyone']);
    assert.deepEqual(b, ['to all but the first', 'everyone']);
    assert.deepEqual(c, ['to all but the first', Buffer.from([1, 2, 3]), 'everyone', Buffer.from('binary text')]);
  });

  it('a large broadcast arrives intact at every client', async (t) => {
    const { server, url } = await serve(t);
    const clients = [await openClient(url), await openClient(url)];
    t.after(() => clients.forEach((c) => c.terminate()));
    await eventually(() => server.clients.size === 2);
    const payload = new Uint8Array(200_000).map((_, i) => i * 7);
    const received = clients.map((c) => nextMessages(c, 1));
    server.broadcast(payload);
    for (const [m] of await Promise.all(received)) assert.deepEqual(m, Buffer.from(payload));
  });

  it('reaches clients that negotiated permessage-deflate too (sent uncompressed, framed once)', async (t) => {
    const { server, url } = await serve(t, { compress: true });
    const clients = [
      await openClient(url, undefined, { perMessageDeflate: true }),
      await openClient(url, undefined, { perMessageDeflate: false }),
    ];
    t.after(() => clients.forEach((c) => c.terminate()));
    await eventually(() => server.clients.size === 2);
    assert.match(String(clients[0]!.extensions), /permessage-deflate/);
    const received = clients.map((c) => nextMessages(c, 2));
    server.broadcast('x'.repeat(5000));
    server.broadcast(new Uint8Array([9, 8, 7]));
    for (const messages of await Promise.all(received)) assert.deepEqual(messages, ['x'.repeat(5000), Buffer.from([9, 8, 7])]);
  });
});

describe('close()', { timeout: 30_000 }, () => {
  it('closes every client with 1001, stops listening, and resolves', async () => {
    const server = new WebSocketServer();
    server.route('/', echo);
    const { port } = await server.listen({ host: '127.0.0.1' });
    const clients = [await openClient(`ws://127.0.0.1:${port}/`), await openClient(`ws://127.0.0.1:${port}/`)];
    const closes = clients.map(closeEvent);
    await server.close();
    for (const c of await Promise.all(closes)) assert.equal(c.code, 1001);
    assert.equal(server.clients.size, 0);
    const refused = await new Promise<string>((resolve) => {
      const s = netConnect({ port, host: '127.0.0.1' });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    assert.equal(server.close(), server.close(), 'idempotent');
  });

  it('destroys clients that do not answer the close within closeTimeout', async () => {
    const server = new WebSocketServer({ closeTimeout: 200 });
    const { port } = await server.listen({ host: '127.0.0.1' });
    // A raw client that completes the handshake and then never reads or answers anything.
    const socket = netConnect({ port, host: '127.0.0.1' });
    socket.on('error', () => {});
    socket.write(upgradeRequest('/'));
    await once(socket, 'data');
    await eventually(() => server.clients.size === 1);
    const started = Date.now();
    const socketClosed = once(socket, 'close');
    await server.close();
    await socketClosed;
    assert.ok(Date.now() - started < 3000);
    assert.equal(server.clients.size, 0);
  });

  it('refuses handshakes still waiting on the accept hook with 503', async () => {
    let hookCalled!: () => void;
    const called = new Promise<void>((r) => (hookCalled = r));
    const server = new WebSocketServer({
      accept: () => {
        hookCalled();
        return new Promise<boolean>(() => {});
      },
    });
    const { port } = await server.listen({ host: '127.0.0.1' });
    const pending = rawExchange(port, upgradeRequest('/'));
    await called;
    await server.close();
    assert.equal((await pending).status, 503);
  });
});

describe('attach() and handleUpgrade(): inside an application', { timeout: 30_000 }, () => {
  it('attach to a plain http server: its requests are left alone, upgrades are served', async (t) => {
    const app = createHttpServer((_req, res) => res.end('app page'));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    t.after(() => app.close());
    const wss = new WebSocketServer().route('/ws', echo).attach(app);
    const { port } = app.address() as AddressInfo;
    const page = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(page.body, 'app page');
    const client = await openClient(`ws://127.0.0.1:${port}/ws`);
    const reply = nextMessages(client, 1);
    client.send('through the app');
    assert.deepEqual(await reply, ['through the app']);
    assert.equal((await rawExchange(port, upgradeRequest('/elsewhere'))).status, 404);
    const closed = closeEvent(client);
    await wss.close();
    assert.equal((await closed).code, 1001);
    // The application's server is still running after the WebSocket server closed.
    assert.equal((await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).body, 'app page');
  });

  it('attach to an Express app for real', async (t) => {
    const app = express();
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    const http = await new Promise<HttpServer>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    t.after(() => http.close());
    const wss = new WebSocketServer().route('/live', echo).attach(http);
    t.after(() => wss.close());
    const { port } = http.address() as AddressInfo;
    const health = await new Promise<string>((resolve, reject) => {
      httpRequest({ port, host: '127.0.0.1', path: '/health', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(health, 'ok');
    const client = await openClient(`ws://127.0.0.1:${port}/live`);
    t.after(() => client.terminate());
    const reply = nextMessages(client, 1);
    client.send('via express');
    assert.deepEqual(await reply, ['via express']);
  });

  it('attach to an https server (wss)', async (t) => {
    const { cert, key } = selfSignedCertificate();
    const app = createHttpsServer({ cert, key });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    t.after(() => app.close());
    const wss = new WebSocketServer().route('/secure', echo).attach(app);
    t.after(() => wss.close());
    const { port } = app.address() as AddressInfo;
    const client = await openClient(`wss://127.0.0.1:${port}/secure`, undefined, { ca: cert });
    t.after(() => client.terminate());
    const reply = nextMessages(client, 1);
    client.send('over tls');
    assert.deepEqual(await reply, ['over tls']);
  });

  it('handleUpgrade resolves with the connection, or null after a refusal', async (t) => {
    const wss = new WebSocketServer().route('/framework', echo);
    const results: Array<WebSocket | null> = [];
    const app = createHttpServer();
    app.on('upgrade', (req, socket, head) => {
      void wss.handleUpgrade(req, socket, head).then((ws) => results.push(ws));
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    t.after(() => app.close());
    t.after(() => wss.close());
    const { port } = app.address() as AddressInfo;
    const client = await openClient(`ws://127.0.0.1:${port}/framework`);
    t.after(() => client.terminate());
    assert.equal((await rawExchange(port, upgradeRequest('/unknown'))).status, 404);
    await eventually(() => results.length === 2);
    assert.equal(results[0]?.readyState, 'open');
    assert.equal(results[1], null);
  });
});

describe('interoperability with real clients', { timeout: 60_000 }, () => {
  for (const compress of [false, true]) {
  it(`Python websockets (compress: ${compress}): subprotocol by server preference, text, binary, close code`, async (t) => {
    const closes: Array<[number, string]> = [];
    const { url } = await serve(t, { compress }, (s) =>
      s.route('/py', { protocols: ['chat.v2', 'chat.v1'] }, async (ws) => {
        ws.once('close', (code: number, reason: string) => closes.push([code, String(reason)]));
        await echo(ws);
      }),
    );
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/python3', [join(fixtures, 'server-python-client.py'), `${url}/py`], { timeout: 15_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      );
    });
    const seen = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(seen.protocol, 'chat.v2');
    assert.deepEqual(seen.extensions, compress ? ['permessage-deflate'] : []);
    assert.equal(seen.text, 'héllo ✓');
    assert.equal(seen.binary_type, 'bytes');
    assert.equal(seen.binary_hex, Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex'));
    // The server echoes the code (RFC 6455 section 5.5.1); echoing the reason is optional.
    assert.equal(seen.close_code, 4001);
    await eventually(() => closes.length === 1);
    assert.deepEqual(closes[0], [4001, 'python done']);
  });
  }

  describe('headless Chromium', { timeout: 60_000 }, () => {
    let context: BrowserContext;
    let profile: string;
    const page = readFileSync(join(fixtures, 'server-browser.html'), 'utf8');
    const serveBrowser = async (t: TestContext, options: WebSocketServerOptions, setup: (s: WebSocketServer) => void) => {
      const server = new WebSocketServer(options);
      server.on('handlerError', () => {});
      setup(server);
      const { port } = await server.listen({
        host: '127.0.0.1',
        onRequest: (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
          res.end(page);
        },
      });
      t.after(() => server.close());
      return port;
    };

    before(async () => {
      profile = mkdtempSync(join(tmpdir(), 'hybi-chromium-'));
      context = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        timeout: 30_000,
        args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
    });
    after(async () => {
      await context?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    it('a page from a forbidden origin is refused before the upgrade (cross-site WebSocket hijacking)', async (t) => {
      let connections = 0;
      const port = await serveBrowser(t, { allowedOrigins: ['https://app.example'] }, (s) => {
        s.route('/echo', echo);
        s.on('connection', () => connections++);
      });
      const tab = await context.newPage();
      t.after(() => tab.close());
      await tab.goto(`http://127.0.0.1:${port}/`);
      const seen = (await tab.evaluate(
        ([url]) => (window as unknown as { runClient: (u: string, p: string[], c: number) => Promise<unknown> }).runClient(url!, [], 1000),
        [`ws://127.0.0.1:${port}/echo`],
      )) as { events: string[]; code: number };
      assert.deepEqual(seen.events, ['error', 'close']);
      assert.equal(seen.code, 1006);
      assert.equal(connections, 0);
    });

    it('by default, a page of another origin (another port) is refused, a page of the server itself is not', async (t) => {
      let connections = 0;
      const pagePort = await serveBrowser(t, {}, (s) => s.route('/echo', echo));
      const other = await serve(t, {}, (s) => {
        s.route('/echo', echo);
        s.on('connection', () => connections++);
      });
      const tab = await context.newPage();
      t.after(() => tab.close());
      await tab.goto(`http://127.0.0.1:${pagePort}/`);
      const run = (url: string) =>
        tab.evaluate(
          ([u]) => (window as unknown as { runClient: (u: string, p: string[], c: number) => Promise<unknown> }).runClient(u!, [], 1000),
          [url],
        ) as Promise<{ events: string[]; code: number }>;
      const foreign = await run(`ws://127.0.0.1:${other.port}/echo`);
      assert.deepEqual(foreign.events, ['error', 'close']);
      assert.equal(foreign.code, 1006);
      assert.equal(connections, 0);
      const own = await run(`ws://127.0.0.1:${pagePort}/echo`);
      assert.equal(own.events[0], 'open');
      assert.equal(own.code, 1000);
    });

    it('a page from an allowed origin gets the full exchange; the server closes with its own code', async (t) => {
      const serverSaw: Array<[number, string]> = [];
      let allowed: string[] = [];
      const port = await serveBrowser(
        t,
        { accept: (_req, info) => info.origin !== undefined && allowed.includes(info.origin) },
        (s) => {
          s.route('/echo', { protocols: ['chat.v2', 'chat.v1'] }, async (ws) => {
            ws.once('close', (code: number, reason: string) => serverSaw.push([code, String(reason)]));
            await echo(ws);
          });
          s.route('/bye', async (ws) => {
            await ws.receive();
            await ws.receive();
            await ws.close(4002, 'server says bye');
          });
        },
      );
      allowed = [`http://127.0.0.1:${port}`];
      const tab = await context.newPage();
      t.after(() => tab.close());
      await tab.goto(`http://127.0.0.1:${port}/`);
      type Seen = { events: string[]; protocol: string; extensions: string; texts: string[]; binaries: number[][]; code: number; reason: string; wasClean: boolean };
      const run = (path: string, protocols: string[], closeCode: number | null) =>
        tab.evaluate(
          ([url, offered, code]) =>
            (window as unknown as { runClient: (u: string, p: string[], c: number | null) => Promise<Seen> }).runClient(
              url as string,
              offered as string[],
              code as number | null,
            ),
          [`ws://127.0.0.1:${port}${path}`, protocols, closeCode] as const,
        );
      const echoed = await run('/echo', ['chat.v1', 'chat.v2'], 4001);
      assert.deepEqual(echoed.events, ['open', 'close']);
      assert.equal(echoed.protocol, 'chat.v2', "the server's preference, not the browser's order");
      assert.equal(echoed.extensions, '', 'Chromium offered permessage-deflate; the server declined it');
      assert.deepEqual(echoed.texts, ['héllo ✓']);
      assert.deepEqual(echoed.binaries, [[0, 1, 2, 127, 128, 255]]);
      assert.equal(echoed.code, 4001);
      assert.equal(echoed.wasClean, true);
      await eventually(() => serverSaw.length === 1);
      assert.deepEqual(serverSaw[0], [4001, 'browser done']);

      const bye = await run('/bye', [], null);
      assert.deepEqual(bye.events, ['open', 'close']);
      assert.equal(bye.protocol, '');
      assert.equal(bye.code, 4002);
      assert.equal(bye.reason, 'server says bye');
      assert.equal(bye.wasClean, true);

      // A browser that offered subprotocols fails a 101 that selects none (WHATWG WebSocket,
      // "establish a WebSocket connection"), so a route that speaks none is unusable for it.
      const none = await run('/bye', ['chat.v1'], null);
      assert.deepEqual(none.events, ['error', 'close']);
      assert.equal(none.code, 1006);
    });

    it("with compress: true, Chromium's permessage-deflate offer is accepted and large messages round-trip", async (t) => {
      const port = await serveBrowser(t, { compress: true }, (s) => s.route('/echo', echo));
      const tab = await context.newPage();
      t.after(() => tab.close());
      await tab.goto(`http://127.0.0.1:${port}/`);
      const seen = await tab.evaluate(
        ([url]) => (window as unknown as { roundTrip: (u: string, n: number) => Promise<{ extensions: string; same: boolean; code: number }> }).roundTrip(url!, 200_000),
        [`ws://127.0.0.1:${port}/echo`],
      );
      assert.match(seen.extensions, /^permessage-deflate/);
      assert.equal(seen.same, true);
      assert.equal(seen.code, 1000);
    });
  });
});
