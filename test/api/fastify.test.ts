// The "With Fastify" setup of docs/server.md, run for real: a hybi WebSocketServer attached to
// `app.server`, closed by Fastify's own `app.close()` through a `preClose` hook.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import WsClient from 'ws';
import { connect, HandshakeError, WebSocketServer, type WebSocket } from '../../src/index.js';
import { within } from '../helpers/ws-pair.js';

/** Bound of every single step; each test also has its own timeout. */
const STEP = 5000;
const TEST = { timeout: 20_000 };

interface FastifySetup {
  app: FastifyInstance;
  wss: WebSocketServer;
  port: number;
  /** Fastify's close, bounded; safe to call again (the cleanup calls it too). */
  close(): Promise<void>;
}

/**
 * The documented setup: an ordinary route, a hybi echo route on `/live`, the WebSocket server
 * attached to Fastify's http.Server and closed by a `preClose` hook, listening on loopback.
 */
async function fastifyWithWebSockets(t: TestContext, preClose = true): Promise<FastifySetup> {
  const app = Fastify();
  app.get('/health', async () => 'ok');
  const wss = new WebSocketServer().route('/live', async (ws) => {
    for await (const m of ws) await ws.send(m.data);
  });
  wss.on('handlerError', () => {});
  wss.attach(app.server);
  if (preClose) app.addHook('preClose', async () => wss.close());
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= within(app.close(), STEP, 'app.close()'));
  t.after(async () => {
    await wss.close();
    await close();
  });
  await within(app.listen({ port: 0, host: '127.0.0.1' }), STEP, 'app.listen()');
  const { port } = app.server.address() as AddressInfo;
  return { app, wss, port, close };
}

/** A plain HTTP GET on a fresh connection (no keep-alive agent left holding a socket). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
  return within(response, STEP, `GET ${path}`);
}

/** A hybi client, terminated when the test ends whatever happened. */
async function client(t: TestContext, url: string): Promise<WebSocket> {
  const ws = await within(connect(url), STEP, `connect(${url})`);
  t.after(() => ws.terminate());
  return ws;
}

describe('Fastify: a WebSocketServer attached to app.server', () => {
  it('serves Fastify routes and hybi WebSockets on the same port', TEST, async (t) => {
    const { port } = await fastifyWithWebSockets(t);
    assert.deepEqual(await get(port, '/health'), { status: 200, body: 'ok' });

    const ws = await client(t, `ws://127.0.0.1:${port}/live`);
    await ws.send('hello fastify');
    assert.deepEqual(await within(ws.receive(), STEP, 'text echo'), { type: 'text', data: 'hello fastify' });
    const bytes = Uint8Array.from([0, 1, 2, 253, 254, 255]);
    await ws.send(bytes);
    const binary = await within(ws.receive(), STEP, 'binary echo');
    assert.equal(binary.type, 'binary');
    assert.deepEqual(new Uint8Array(binary.data as Buffer), bytes);

    // Fastify keeps answering while a WebSocket is open on its server.
    assert.deepEqual(await get(port, '/health'), { status: 200, body: 'ok' });

    // close() resolves with the server's answer: the same code, its own (empty) reason.
    assert.equal((await within(ws.close(1000, 'done'), STEP, 'client close')).code, 1000);
    assert.equal(ws.readyState, 'closed');
  });

  it('refuses an unknown WebSocket path with 404, and Fastify routes keep working', TEST, async (t) => {
    const { port } = await fastifyWithWebSockets(t);
    const refused = await within(
      connect(`ws://127.0.0.1:${port}/nowhere`).then(
        (ws) => {
          ws.terminate();
          return null;
        },
        (error: unknown) => error,
      ),
      STEP,
      'connect to /nowhere',
    );
    assert.ok(refused instanceof HandshakeError, `expected a HandshakeError, got ${String(refused)}`);
    assert.equal(refused.status, 404);

    assert.deepEqual(await get(port, '/health'), { status: 200, body: 'ok' });
    // A plain request for an unknown path is still Fastify's to answer (its JSON 404).
    const notFound = await get(port, '/nowhere');
    assert.equal(notFound.status, 404);
    assert.match(notFound.body, /Route GET:\/nowhere not found/);
    // And the WebSocket route still accepts after the refusal.
    const ws = await client(t, `ws://127.0.0.1:${port}/live`);
    await ws.send('still here');
    assert.deepEqual(await within(ws.receive(), STEP, 'echo'), { type: 'text', data: 'still here' });
    await within(ws.close(), STEP, 'client close');
  });

  it("app.close() with the preClose hook closes open WebSockets with 1001 and resolves", TEST, async (t) => {
    const { port, close } = await fastifyWithWebSockets(t);
    const ws = await client(t, `ws://127.0.0.1:${port}/live`);
    await ws.send('before shutdown');
    assert.deepEqual(await within(ws.receive(), STEP, 'echo'), { type: 'text', data: 'before shutdown' });
    const closed = once(ws, 'close') as Promise<[number, string]>;

    const started = performance.now();
    await close(); // bounded by STEP: rejects instead of hanging on the upgraded socket
    const elapsed = performance.now() - started;

    const [code, reason] = await within(closed, STEP, "client's close event");
    assert.equal(code, 1001);
    assert.equal(reason, 'server shutting down');
    assert.equal(ws.readyState, 'closed');
    // The closing handshake completed: no waiting on the close timeout (30 s by default).
    assert.ok(elapsed < 2000, `app.close() took ${Math.round(elapsed)} ms`);
    // Fastify stopped listening.
    await assert.rejects(get(port, '/health'), { code: 'ECONNREFUSED' });
  });

  it('without the preClose hook, app.close() waits for the upgraded sockets', TEST, async (t) => {
    // Why the docs register the hook: Node's server.close() counts upgraded sockets among its
    // connections, and Fastify's close does not touch them, so it waits for the WebSockets.
    const { port, wss, close } = await fastifyWithWebSockets(t, false);
    const ws = await client(t, `ws://127.0.0.1:${port}/live`);
    await ws.send('ping');
    await within(ws.receive(), STEP, 'echo');

    let settled = false;
    const closing = close().then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(settled, false, 'app.close() resolved while a WebSocket was still open');
    assert.equal(ws.readyState, 'open');

    const closed = once(ws, 'close') as Promise<[number, string]>;
    await within(wss.close(), STEP, 'wss.close()');
    assert.equal((await within(closed, STEP, "client's close event"))[0], 1001);
    await closing; // bounded: close() rejects after STEP
  });

  it('echoes for the ws package client too', TEST, async (t) => {
    const { port } = await fastifyWithWebSockets(t);
    const ws = new WsClient(`ws://127.0.0.1:${port}/live`);
    t.after(() => ws.terminate());
    await within(once(ws, 'open'), STEP, 'ws open');
    const reply = once(ws, 'message') as Promise<[Buffer, boolean]>;
    ws.send('from ws');
    const [data, isBinary] = await within(reply, STEP, 'ws echo');
    assert.equal(isBinary, false);
    assert.equal(data.toString(), 'from ws');
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    ws.close(1000);
    assert.equal((await within(closed, STEP, 'ws close'))[0], 1000);
  });
});
