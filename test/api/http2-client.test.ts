/**
 * WebSocket over HTTP/2 (RFC 8441), client side: connect(url, { transport: 'http2' }) against
 * hybi's server attached to Node's http2 servers, and against an http2 server that does not
 * advertise the setting.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, WebSocket as UndiciWebSocket } from 'undici';
import { connect } from '../../src/api/connect.js';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import { HandshakeError } from '../../src/node/errors.js';
import { hasSession } from '../../src/node/http2-sessions.js';
import { encodeFrame } from '../../src/core/frame.js';
import { pendingTimers } from '../../src/node/timer-wheel.js';
import { waitFor } from '../helpers/wait.js';
import { selfSignedCertificate } from '../fixtures/cert.js';

async function h2serve(t: TestContext, options: WebSocketServerOptions = {}, tls = false, attach = true) {
  const h2 = tls ? http2.createSecureServer(selfSignedCertificate()) : http2.createServer();
  const wss = new WebSocketServer(options);
  wss.on('handlerError', () => {});
  const seen: { transport: string; key: unknown }[] = [];
  wss.on('connection', async (ws, req) => {
    seen.push({ transport: ws.transport, key: req.headers['sec-websocket-key'] });
    for await (const m of ws) await ws.send(m.data);
  });
  let sessions = 0;
  h2.on('session', () => sessions++);
  if (attach) wss.attach(h2);
  h2.listen(0, '127.0.0.1');
  await once(h2, 'listening');
  const { port } = h2.address() as AddressInfo;
  t.after(async () => {
    await wss.close();
    h2.close();
  });
  return { wss, h2, port, seen, sessions: () => sessions };
}

describe('WebSocket over HTTP/2, client (connect with transport http2)', () => {
  it('opens RFC-strict streams (no Sec-WebSocket-Key) that share one session per origin, transport http2 on both sides', async (t) => {
    const { port, seen, sessions } = await h2serve(t);
    const a = await connect(`ws://127.0.0.1:${port}/a`, { transport: 'http2' });
    const b = await connect(`ws://127.0.0.1:${port}/b`, { transport: 'http2' });
    t.after(() => {
      a.terminate();
      b.terminate();
    });
    assert.equal(a.transport, 'http2');
    await a.send('one');
    await b.send('two');
    assert.deepEqual(await a.receive(), { type: 'text', data: 'one' });
    assert.deepEqual(await b.receive(), { type: 'text', data: 'two' });
    assert.equal(sessions(), 1);
    assert.deepEqual(seen, [
      { transport: 'http2', key: undefined },
      { transport: 'http2', key: undefined },
    ]);
    assert.equal((await a.close()).code, 1000);
    // The other WebSocket's stream is untouched by the first one's close.
    await b.send('still');
    assert.deepEqual(await b.receive(), { type: 'text', data: 'still' });
  });

  it('speaks h2 over TLS (ALPN) with permessage-deflate and a subprotocol', async (t) => {
    const { port } = await h2serve(t, { compress: true, protocols: ['chat'] }, true);
    const ws = await connect(`wss://127.0.0.1:${port}/`, { transport: 'http2', tls: { ca: selfSignedCertificate().cert }, compress: true, protocols: ['chat'] });
    t.after(() => ws.terminate());
    assert.equal(ws.protocol, 'chat');
    assert.match(ws.extensions, /^permessage-deflate/);
    const big = 'x'.repeat(100_000);
    await ws.send(big);
    assert.deepEqual(await ws.receive(), { type: 'text', data: big });
    await ws.send(new Uint8Array([9, 8, 7]));
    const m = await ws.receive();
    assert.deepEqual([...(m.data as Buffer)], [9, 8, 7]);
  });

  it('fails with HandshakeError when the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL, or refuses', async (t) => {
    const plain = await h2serve(t, {}, false, false);
    await assert.rejects(connect(`ws://127.0.0.1:${plain.port}/`, { transport: 'http2' }), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.match(err.message, /SETTINGS_ENABLE_CONNECT_PROTOCOL/);
      return true;
    });
    const guarded = await h2serve(t, { accept: () => ({ status: 401, body: 'who are you?' }) });
    await assert.rejects(connect(`ws://127.0.0.1:${guarded.port}/`, { transport: 'http2' }), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 401);
      assert.equal(err.body, 'who are you?');
      return true;
    });
  });

  it('opens its session with receive windows for WebSockets (1 MiB per stream, 16 MiB in all), which the server sees before the first stream', async (t) => {
    const MiB = 1024 * 1024;
    // A plain http2 server, not hybi's: what it sees is what the client's frames said.
    const h2 = http2.createServer({ settings: { enableConnectProtocol: true } });
    const seen: (number | undefined)[] = [];
    h2.on('stream', (stream) => {
      const session = stream.session!;
      seen.push(session.remoteSettings.initialWindowSize, session.state.remoteWindowSize);
      stream.respond({ ':status': 200 });
      // One unmasked binary frame of 3 MB: more than the stream's window, so it needs the client's WINDOW_UPDATEs.
      const payload = new Uint8Array(3_000_000).fill(5);
      stream.write(encodeFrame({ opcode: 0x2, payload }));
    });
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    t.after(() => h2.close());
    const ws = await connect(`ws://127.0.0.1:${(h2.address() as AddressInfo).port}/`, { transport: 'http2', maxMessageSize: 4 * MiB, maxFrameSize: 4 * MiB });
    t.after(() => ws.terminate());
    assert.deepEqual(seen, [MiB, 16 * MiB]);
    const m = await ws.receive();
    assert.equal((m.data as Buffer).length, 3_000_000);
  });

  it("serves undici's WebSocket over HTTP/2 (allowH2), which sends a Sec-WebSocket-Key and needs the accept back", async (t) => {
    const { port, seen } = await h2serve(t, {}, true);
    const dispatcher = new Agent({ allowH2: true, connect: { ca: selfSignedCertificate().cert } });
    t.after(() => dispatcher.close());
    const u = new UndiciWebSocket(`wss://127.0.0.1:${port}/`, { dispatcher } as never);
    await once(u as unknown as EventTarget, 'open');
    u.send('from undici');
    const [event] = (await once(u as unknown as EventTarget, 'message')) as [MessageEvent];
    assert.equal(event.data, 'from undici');
    assert.equal(seen[0]!.transport, 'http2');
    assert.equal(typeof seen[0]!.key, 'string');
    const closed = once(u as unknown as EventTarget, 'close');
    u.close();
    await closed;
  });
});

describe('listen({ http2: true, tls }): HTTP/2 and HTTP/1.1 on one TLS port', () => {
  it('serves WebSockets over HTTP/2 and HTTP/1.1 upgrades alike, answers plain requests with 426, and closes', async () => {
    const wss = new WebSocketServer();
    const transports: string[] = [];
    wss.on('connection', async (ws) => {
      transports.push(ws.transport);
      for await (const m of ws) await ws.send(m.data);
    });
    const { port } = await wss.listen({ host: '127.0.0.1', http2: true, tls: selfSignedCertificate() });
    const tls = { ca: selfSignedCertificate().cert };
    const over2 = await connect(`wss://127.0.0.1:${port}/`, { transport: 'http2', tls });
    const over1 = await connect(`wss://127.0.0.1:${port}/`, { tls });
    await over2.send('two');
    await over1.send('one');
    assert.deepEqual([(await over2.receive()).data, (await over1.receive()).data], ['two', 'one']);
    assert.deepEqual(transports.sort(), ['http1', 'http2']);

    const session = http2.connect(`https://127.0.0.1:${port}`, tls);
    const page = session.request({ ':path': '/' });
    const [headers] = (await once(page, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(headers[':status'], 426);
    assert.equal(headers['upgrade'], undefined);
    page.resume();
    await once(page, 'end');
    session.close();

    const closes = Promise.all([once(over2, 'close'), once(over1, 'close')]);
    await wss.close();
    const codes = (await closes).map(([code]) => code);
    assert.deepEqual(codes, [1001, 1001]);
  });

  it('refuses http2: true without tls, before listening', async () => {
    await assert.rejects(new WebSocketServer().listen({ http2: true }), /needs tls/);
  });
});

describe('GOAWAY', () => {
  it('after the server sends GOAWAY, open WebSockets go on and the next connect() opens a new session', async (t) => {
    const { port, h2, sessions } = await h2serve(t);
    const serverSessions: http2.ServerHttp2Session[] = [];
    h2.on('session', (s) => serverSessions.push(s));
    const first = await connect(`ws://127.0.0.1:${port}/`, { transport: 'http2' });
    t.after(() => first.terminate());
    assert.equal(serverSessions.length, 1);
    const goaway = new Promise<void>((resolve) => {
      // The client's session is private; the stream's session is the one the GOAWAY reaches.
      (first.socket as unknown as http2.ClientHttp2Stream).session!.once('goaway', () => resolve());
    });
    // NO_ERROR with the last stream id the session saw: streams already open go on.
    serverSessions[0]!.goaway(http2.constants.NGHTTP2_NO_ERROR);
    await goaway;
    await first.send('after goaway');
    assert.deepEqual(await first.receive(), { type: 'text', data: 'after goaway' });
    const second = await connect(`ws://127.0.0.1:${port}/`, { transport: 'http2' });
    t.after(() => second.terminate());
    await second.send('new session');
    assert.deepEqual(await second.receive(), { type: 'text', data: 'new session' });
    assert.equal(sessions(), 2);
  });
});

/** A TLS server that counts its TCP connections, with hybi attached: HTTP/2 (and HTTP/1.1 by ALPN), or HTTP/1.1 only. */
async function tlsServe(t: TestContext, kind: 'h2' | 'h2-without-setting' | 'http1-only') {
  const server = kind === 'http1-only' ? https.createServer(selfSignedCertificate()) : http2.createSecureServer({ ...selfSignedCertificate(), allowHTTP1: true });
  const wss = new WebSocketServer();
  const seen: { transport: string; path: string }[] = [];
  wss.on('connection', async (ws, req) => {
    seen.push({ transport: ws.transport, path: req.url ?? '' });
    for await (const m of ws) await ws.send(m.data);
  });
  let connections = 0;
  server.on('connection', () => connections++);
  wss.attach(server as http2.Http2SecureServer);
  // Turned back off after attach, as a server that serves HTTP/2 pages without RFC 8441 would be.
  if (kind === 'h2-without-setting') (server as http2.Http2SecureServer).updateSettings({ enableConnectProtocol: false });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  t.after(async () => {
    await wss.close();
    server.close();
  });
  return { port, seen, connections: () => connections };
}

describe("connect with transport 'auto' (HTTP/2 when the server offers it, as Chromium chooses)", () => {
  const tls = { ca: selfSignedCertificate().cert };

  it('uses HTTP/2 when ALPN picks h2 and the server advertises the setting, and shares the one session', async (t) => {
    const { port, seen, connections } = await tlsServe(t, 'h2');
    const a = await connect(`wss://127.0.0.1:${port}/a`, { transport: 'auto', tls });
    const b = await connect(`wss://127.0.0.1:${port}/b`, { transport: 'auto', tls });
    t.after(() => {
      a.terminate();
      b.terminate();
    });
    assert.deepEqual([a.transport, b.transport], ['http2', 'http2']);
    await a.send('one');
    await b.send('two');
    assert.deepEqual([(await a.receive()).data, (await b.receive()).data], ['one', 'two']);
    assert.deepEqual(seen, [
      { transport: 'http2', path: '/a' },
      { transport: 'http2', path: '/b' },
    ]);
    assert.equal(connections(), 1);
  });

  it('falls back to an HTTP/1.1 upgrade on a new connection when the HTTP/2 server does not advertise the setting', async (t) => {
    const { port, seen, connections } = await tlsServe(t, 'h2-without-setting');
    const ws = await connect(`wss://127.0.0.1:${port}/`, { transport: 'auto', tls });
    t.after(() => ws.terminate());
    assert.equal(ws.transport, 'http1');
    await ws.send('fallback');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'fallback' });
    assert.deepEqual(seen, [{ transport: 'http1', path: '/' }]);
    // The HTTP/2 connection that had no setting, and the HTTP/1.1 one.
    assert.equal(connections(), 2);
  });

  it('upgrades over the same TLS connection when the server speaks HTTP/1.1 only', async (t) => {
    const { port, seen, connections } = await tlsServe(t, 'http1-only');
    const ws = await connect(`wss://127.0.0.1:${port}/`, { transport: 'auto', tls, compress: true });
    t.after(() => ws.terminate());
    assert.equal(ws.transport, 'http1');
    await ws.send('plain');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'plain' });
    assert.deepEqual(seen, [{ transport: 'http1', path: '/' }]);
    assert.equal(connections(), 1);
  });

  it('for ws: uses the origin\'s HTTP/2 session when one exists, and HTTP/1.1 otherwise', async (t) => {
    const { port, seen } = await h2serve(t);
    const first = await connect(`ws://127.0.0.1:${port}/h2`, { transport: 'http2' });
    const second = await connect(`ws://127.0.0.1:${port}/auto`, { transport: 'auto' });
    t.after(() => {
      first.terminate();
      second.terminate();
    });
    assert.equal(second.transport, 'http2');
    await second.send('shared');
    assert.deepEqual(await second.receive(), { type: 'text', data: 'shared' });
    assert.equal(seen.length, 2);

    const plain = new WebSocketServer();
    plain.on('connection', (ws) => assert.equal(ws.transport, 'http1'));
    const { port: plainPort } = await plain.listen({ host: '127.0.0.1', port: 0 });
    t.after(() => plain.close());
    const ws = await connect(`ws://127.0.0.1:${plainPort}/`, { transport: 'auto' });
    t.after(() => ws.terminate());
    assert.equal(ws.transport, 'http1');
  });
});

describe('redirects over HTTP/2', () => {
  async function redirecting(t: TestContext) {
    const served = await h2serve(t, {
      accept: (req) => (req.url === '/old' ? { status: 302, headers: { Location: '/new' }, body: 'moved' } : true),
    });
    return served;
  }

  it('are a HandshakeError with the status and Location by default (maxRedirects 0), and leave the session to the others', async (t) => {
    const { port, sessions } = await redirecting(t);
    const other = await connect(`ws://127.0.0.1:${port}/other`, { transport: 'http2' });
    t.after(() => other.terminate());
    await assert.rejects(connect(`ws://127.0.0.1:${port}/old`, { transport: 'http2' }), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 302);
      assert.equal(err.headers['location'], '/new');
      return true;
    });
    await other.send('unharmed');
    assert.deepEqual(await other.receive(), { type: 'text', data: 'unharmed' });
    assert.equal(sessions(), 1);
  });

  it('are followed over HTTP/2 as over HTTP/1.1 when maxRedirects allows, and counted', async (t) => {
    const { port, seen } = await redirecting(t);
    const ws = await connect(`ws://127.0.0.1:${port}/old`, { transport: 'http2', maxRedirects: 1 });
    t.after(() => ws.terminate());
    assert.equal(ws.transport, 'http2');
    assert.equal(ws.url, `ws://127.0.0.1:${port}/new`);
    assert.equal(seen.length, 1);
    await ws.send('moved on');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'moved on' });
  });
});

describe('GOAWAY and closing from the client side', () => {
  function sessionOf(ws: { socket: unknown }): http2.ClientHttp2Session {
    return (ws.socket as http2.ClientHttp2Stream).session as http2.ClientHttp2Session;
  }

  it('session.close() (GOAWAY NO_ERROR) lets open WebSockets finish, and the next connect() opens a new session', async (t) => {
    const { port, h2, wss, sessions } = await h2serve(t);
    const serverSessions: http2.ServerHttp2Session[] = [];
    h2.on('session', (s) => serverSessions.push(s));
    const a = await connect(`ws://127.0.0.1:${port}/a`, { transport: 'http2' });
    const b = await connect(`ws://127.0.0.1:${port}/b`, { transport: 'http2' });
    t.after(() => {
      a.terminate();
      b.terminate();
    });
    const session = sessionOf(a);
    const goaway = once(serverSessions[0]!, 'goaway');
    session.close();
    await goaway;
    await a.send('after goaway');
    assert.deepEqual(await a.receive(), { type: 'text', data: 'after goaway' });
    const c = await connect(`ws://127.0.0.1:${port}/c`, { transport: 'http2' });
    t.after(() => c.terminate());
    assert.notEqual(sessionOf(c), session);
    assert.equal(sessions(), 2);
    assert.deepEqual([(await a.close()).code, (await b.close()).code], [1000, 1000]);
    // With its last stream done, the old session goes on both sides; the new one carries on.
    await waitFor(() => session.destroyed && serverSessions[0]!.destroyed, { what: 'the old session to close' });
    assert.equal(wss.connectionCount, 1);
    await c.send('new session');
    assert.deepEqual(await c.receive(), { type: 'text', data: 'new session' });
  });

  it('session.destroy() with streams open closes every WebSocket with 1006 on both sides, and the server counts none left', async (t) => {
    const { port, wss } = await h2serve(t);
    const serverCloses: number[] = [];
    wss.on('connection', (ws) => ws.on('close', (code) => serverCloses.push(code)));
    const clients = await Promise.all([1, 2, 3].map((i) => connect(`ws://127.0.0.1:${port}/${i}`, { transport: 'http2' })));
    await waitFor(() => wss.connectionCount === 3, { what: 'three server WebSockets' });
    const closes = Promise.all(clients.map((ws) => once(ws, 'close')));
    sessionOf(clients[0]!).destroy();
    assert.deepEqual((await closes).map(([code]) => code), [1006, 1006, 1006]);
    await waitFor(() => serverCloses.length === 3, { what: 'the server WebSockets to close' });
    assert.deepEqual(serverCloses, [1006, 1006, 1006]);
    assert.equal(wss.connectionCount, 0);
    // The pool forgot the dead session: the next connect() works.
    const next = await connect(`ws://127.0.0.1:${port}/next`, { transport: 'http2' });
    t.after(() => next.terminate());
    await next.send('fresh');
    assert.deepEqual(await next.receive(), { type: 'text', data: 'fresh' });
  });
});

describe('100 WebSockets opened and closed on one session', () => {
  it('leave the server and the client with the streams, listeners, timers and connections they had before', async (t) => {
    const { port, h2, wss } = await h2serve(t);
    const serverSessions: http2.ServerHttp2Session[] = [];
    let openStreams = 0;
    h2.on('session', (s) => serverSessions.push(s));
    h2.on('stream', (stream) => {
      openStreams++;
      stream.once('close', () => openStreams--);
    });
    const listeners = (emitter: NodeJS.EventEmitter): number => emitter.eventNames().reduce((n, name) => n + emitter.listenerCount(name), 0);
    let connections = 0;
    h2.on('connection', () => connections++);
    // One WebSocket first, so that both sessions exist when the baseline is taken.
    const first = await connect(`ws://127.0.0.1:${port}/first`, { transport: 'http2' });
    const clientSession = (first.socket as http2.ClientHttp2Stream).session!;
    await first.close();
    await waitFor(() => openStreams === 0 && wss.connectionCount === 0, { what: 'the first WebSocket to be gone' });
    const baseline = {
      server: listeners(serverSessions[0]!),
      client: listeners(clientSession),
      // hybi's timers (handshake, close, idle bounds) across the process's wheels.
      timers: pendingTimers(),
      connections,
      // The origin's session is still the pool's (other tests' sessions linger and go meanwhile).
      pooled: hasSession({ secure: false, hostname: '127.0.0.1', port, tls: {} }),
    };

    const all = await Promise.all(Array.from({ length: 100 }, (_, i) => connect(`ws://127.0.0.1:${port}/${i}`, { transport: 'http2' })));
    t.after(() => all.forEach((ws) => ws.terminate()));
    assert.equal(openStreams, 100);
    assert.ok(all.every((ws) => (ws.socket as http2.ClientHttp2Stream).session === clientSession));
    await Promise.all(all.map((ws, i) => ws.send(`m${i}`)));
    const echoes = await Promise.all(all.map((ws) => ws.receive()));
    assert.deepEqual(echoes.map((m) => m.data), all.map((_, i) => `m${i}`));
    assert.deepEqual((await Promise.all(all.map((ws) => ws.close()))).map((r) => r.code), Array(100).fill(1000));

    await waitFor(() => openStreams === 0 && wss.connectionCount === 0, { what: 'every stream to be gone on the server' });
    assert.equal(serverSessions.length, 1);
    assert.deepEqual(
      { server: listeners(serverSessions[0]!), client: listeners(clientSession), timers: pendingTimers(), connections, pooled: hasSession({ secure: false, hostname: '127.0.0.1', port, tls: {} }) },
      baseline,
    );
  });
});
