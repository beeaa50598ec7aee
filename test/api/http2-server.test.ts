/**
 * WebSocket over HTTP/2 (RFC 8441), server side: hybi attached to Node's http2 servers, with
 * Node's raw http2 client as the peer (its streams framed by a client-role hybi WebSocket, or
 * read as raw bytes where the test is about the wire).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import { WebSocket } from '../../src/api/websocket.js';
import type { Http2AttachOptions } from '../../src/api/http2-upgrade.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { selfSignedCertificate } from '../fixtures/cert.js';

type H2Server = http2.Http2Server | http2.Http2SecureServer;

/** An http2 server (h2c unless `tls`) on 127.0.0.1 with a hybi server attached; both closed after the test. */
async function h2serve(
  t: TestContext,
  options: WebSocketServerOptions = {},
  setup?: (wss: WebSocketServer, h2: H2Server) => void,
  attach: Http2AttachOptions = {},
  tls = false,
) {
  const h2 = tls ? http2.createSecureServer({ ...selfSignedCertificate(), allowHTTP1: true }) : http2.createServer();
  const wss = new WebSocketServer(options);
  wss.on('handlerError', () => {});
  setup?.(wss, h2);
  wss.attach(h2, attach);
  h2.listen(0, '127.0.0.1');
  await once(h2, 'listening');
  const { port } = h2.address() as AddressInfo;
  const sessions = new Set<http2.ClientHttp2Session>();
  t.after(async () => {
    for (const s of sessions) s.destroy();
    await wss.close();
    await new Promise((resolve) => h2.close(resolve));
  });
  const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  /** A client session that has seen the server's SETTINGS. */
  const session = async (): Promise<http2.ClientHttp2Session> => {
    const s = http2.connect(origin, tls ? { ca: selfSignedCertificate().cert } : {});
    sessions.add(s);
    s.on('error', () => {});
    await once(s, 'remoteSettings');
    return s;
  };
  return { wss, h2, port, origin, session };
}

/** Sends an extended CONNECT on `session`; resolves with the stream and the response headers. */
async function extendedConnect(session: http2.ClientHttp2Session, path: string, headers: http2.OutgoingHttpHeaders = {}) {
  const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, 'sec-websocket-version': '13', ...headers });
  stream.on('error', () => {});
  const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  return { stream, response, status: Number(response[':status']) };
}

/** The whole body of a refused stream. */
async function body(stream: http2.ClientHttp2Stream): Promise<string> {
  let text = '';
  stream.setEncoding('utf8');
  for await (const chunk of stream) text += chunk;
  return text;
}

/** A client-role hybi WebSocket over an accepted stream. */
function client(stream: http2.ClientHttp2Stream, response: http2.IncomingHttpHeaders): WebSocket {
  return new WebSocket(stream, { role: 'client', protocol: String(response['sec-websocket-protocol'] ?? ''), transport: 'http2' } as never);
}

describe('WebSocket over HTTP/2, server (RFC 8441)', () => {
  it('advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and echoes text and binary on an h2c stream, as transport http2', async (t) => {
    let seen: { transport: string; id: string; method: string; version: string } | undefined;
    const { session } = await h2serve(t, {}, (wss) =>
      wss.route('/rooms/:id', async (ws, req, { params }) => {
        seen = { transport: ws.transport, id: params.id, method: req.method ?? '', version: req.httpVersion };
        for await (const m of ws) await ws.send(m.data);
      }),
    );
    const s = await session();
    assert.equal(s.remoteSettings.enableConnectProtocol, true);
    const { stream, response, status } = await extendedConnect(s, '/rooms/42');
    assert.equal(status, 200);
    assert.equal(response['sec-websocket-accept'], undefined);
    const ws = client(stream, response);
    await ws.send('hello');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'hello' });
    await ws.send(new Uint8Array([1, 2, 3]));
    const binary = await ws.receive();
    assert.equal(binary.type, 'binary');
    assert.deepEqual([...(binary.data as Buffer)], [1, 2, 3]);
    assert.deepEqual(seen, { transport: 'http2', id: '42', method: 'CONNECT', version: '2.0' });
    assert.equal(ws.transport, 'http2');
    const closed = await ws.close(1000, 'bye');
    assert.equal(closed.code, 1000);
  });

  it('works over TLS (h2 by ALPN) with permessage-deflate and a chosen subprotocol', async (t) => {
    const { session } = await h2serve(
      t,
      { compress: true, protocols: ['chat'] },
      (wss) => wss.on('connection', async (ws) => {
        for await (const m of ws) await ws.send(m.data);
      }),
      {},
      true,
    );
    const s = await session();
    const { stream, response, status } = await extendedConnect(s, '/', {
      ':scheme': 'https',
      'sec-websocket-protocol': 'other, chat',
      'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
    });
    assert.equal(status, 200);
    assert.equal(response['sec-websocket-protocol'], 'chat');
    assert.match(String(response['sec-websocket-extensions']), /^permessage-deflate/);
  });

  it('works whatever listeners the application has: an Express-like request listener keeps serving, plain CONNECT still gets 405', async (t) => {
    const { session } = await h2serve(t, {}, (wss, h2) => {
      // Added before attach, as an application's would be: the compatibility layer is on.
      h2.on('request', (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end('page');
      });
      wss.on('connection', async (ws) => {
        for await (const m of ws) await ws.send(m.data);
      });
    });
    const s = await session();
    const page = s.request({ ':path': '/index.html' });
    const [pageHeaders] = (await once(page, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(pageHeaders[':status'], 200);
    assert.equal(await body(page), 'page');

    const { stream, response, status } = await extendedConnect(s, '/');
    assert.equal(status, 200);
    const ws = client(stream, response);
    await ws.send('through');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'through' });

    const plain = s.request({ ':method': 'CONNECT', ':authority': 'example.com:443' });
    plain.on('error', () => {});
    const [plainHeaders] = (await once(plain, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(plainHeaders[':status'], 405);
    await ws.close();
  });

  it('refuses as RFC 8441 and RFC 6455 say: version 426 (no Upgrade header), unknown :protocol 501, route 404, hook 403, Origin 403', async (t) => {
    const refused: number[] = [];
    const { session } = await h2serve(t, {}, (wss) => {
      wss.on('refused', (_req, answer) => refused.push(answer.status));
      wss.route('/open', () => {});
      wss.route('/closed', { accept: () => false }, () => {});
    });
    const s = await session();
    const version = await extendedConnect(s, '/open', { 'sec-websocket-version': '8' });
    assert.equal(version.status, 426);
    assert.equal(version.response['sec-websocket-version'], '13');
    assert.equal(version.response['upgrade'], undefined);
    assert.match(await body(version.stream), /version 13/);

    const missing = s.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/open' });
    const [missingHeaders] = (await once(missing, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(missingHeaders[':status'], 426);

    const other = await extendedConnect(s, '/open', { ':protocol': 'connect-udp' });
    assert.equal(other.status, 501);
    assert.equal((await extendedConnect(s, '/nowhere')).status, 404);
    assert.equal((await extendedConnect(s, '/closed')).status, 403);
    assert.equal((await extendedConnect(s, '/open', { origin: 'https://evil.example' })).status, 403);
    assert.deepEqual(refused, [426, 426, 501, 404, 403, 403]);
    // The session survives refusals: another WebSocket opens on it.
    assert.equal((await extendedConnect(s, '/open')).status, 200);
  });

  it('ignores a Sec-WebSocket-Key, answering it with Sec-WebSocket-Accept by default and not when turned off', async (t) => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const on = await h2serve(t);
    const answered = await extendedConnect(await on.session(), '/', { 'sec-websocket-key': key });
    assert.equal(answered.status, 200);
    assert.equal(answered.response['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    const off = await h2serve(t, {}, undefined, { secWebSocketAccept: false });
    const strict = await extendedConnect(await off.session(), '/', { 'sec-websocket-key': 'not a key' });
    assert.equal(strict.status, 200);
    assert.equal(strict.response['sec-websocket-accept'], undefined);
  });

  it('terminate() resets the stream with CANCEL; a peer reset closes the server side with 1006; the session lives on', async (t) => {
    const opened: WebSocket[] = [];
    const { session } = await h2serve(t, {}, (wss) => wss.on('connection', (ws) => opened.push(ws)));
    const s = await session();
    const first = await extendedConnect(s, '/');
    while (opened.length < 1) await new Promise((r) => setImmediate(r));
    const terminated = once(opened[0]!, 'close');
    const reset = once(first.stream, 'close');
    opened[0]!.terminate();
    await reset;
    assert.equal(first.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
    const [code] = (await terminated) as [number];
    assert.equal(code, 1006);

    const second = await extendedConnect(s, '/');
    while (opened.length < 2) await new Promise((r) => setImmediate(r));
    const closing = once(opened[1]!, 'close');
    second.stream.close(http2.constants.NGHTTP2_CANCEL);
    const [peer] = (await closing) as [number];
    assert.equal(peer, 1006);
    assert.equal((await extendedConnect(s, '/')).status, 200);
  });

  it('a close handshake ends the stream with END_STREAM, not a reset', async (t) => {
    const { session } = await h2serve(t, {}, (wss) => wss.on('connection', (ws) => void ws.close(1000, 'done')));
    const s = await session();
    const { stream, response } = await extendedConnect(s, '/');
    const ws = client(stream, response);
    const [code, reason] = (await once(ws, 'close')) as [number, string];
    assert.deepEqual([code, reason], [1000, 'done']);
    if (!stream.closed) await once(stream, 'close');
    assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  });

  it('maxConnections counts WebSockets, not TCP connections: the third stream of one session gets 503', async (t) => {
    const { session, wss } = await h2serve(t, { maxConnections: 2 });
    const s = await session();
    assert.equal((await extendedConnect(s, '/')).status, 200);
    assert.equal((await extendedConnect(s, '/')).status, 200);
    const third = await extendedConnect(s, '/');
    assert.equal(third.status, 503);
    assert.equal(third.response['retry-after'], '5');
    assert.equal(wss.clients.size, 2);
  });

  it('close() resets nothing it does not own: WebSockets get 1001, the http2 server keeps serving requests', async (t) => {
    const { session, wss, h2 } = await h2serve(t, {}, (_wss, h2) => h2.on('request', (_req, res) => res.end('still here')));
    const s = await session();
    const { stream, response } = await extendedConnect(s, '/');
    const ws = client(stream, response);
    while (wss.clients.size < 1) await new Promise((r) => setImmediate(r));
    const closing = once(ws, 'close');
    await wss.close();
    const [code] = (await closing) as [number];
    assert.equal(code, 1001);
    const page = s.request({ ':path': '/' });
    assert.equal(await body(page), 'still here');
    assert.equal(h2.listening, true);
  });
});

/** Resolves once the peer has answered a PING: every frame it sent before the answer has been read. */
async function roundTrip(session: http2.ClientHttp2Session): Promise<void> {
  await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
}

const MiB = 1024 * 1024;

describe('WebSocket over HTTP/2, flow-control windows', () => {
  it('a session that carries a WebSocket tells its peer 1 MiB per stream and 16 MiB in all; a refused request widens nothing', async (t) => {
    const { session } = await h2serve(t, {}, (wss) =>
      wss.route('/', async (ws) => {
        for await (const m of ws) await ws.send(m.data);
      }),
    );
    const s = await session();
    assert.equal((await extendedConnect(s, '/', { 'sec-websocket-version': '8' })).status, 426);
    await roundTrip(s);
    assert.equal(s.remoteSettings.initialWindowSize, 65_535, "Node's window until a WebSocket is accepted");
    assert.equal(s.state.remoteWindowSize, 65_535);
    const { stream, response } = await extendedConnect(s, '/');
    // The server widens as it answers: its SETTINGS and WINDOW_UPDATE come before the PING's answer.
    await roundTrip(s);
    assert.equal(s.remoteSettings.initialWindowSize, MiB);
    assert.equal(s.state.remoteWindowSize, 16 * MiB);
    const ws = client(stream, response);
    // More than a stream's window, both ways: the WINDOW_UPDATEs keep it flowing. Three different
    // payloads, masked by the client into its reused masking memory, come back intact and in order.
    const bigs = [1, 2, 3].map((n) => Buffer.from(Uint8Array.from({ length: 1_000_000 }, (_, i) => (i * n) & 0xff)));
    await Promise.all(bigs.map((big) => ws.send(big)));
    for (const big of bigs) assert.ok(Buffer.from((await ws.receive()).data as Uint8Array).equals(big));
    ws.terminate();
  });

  it('takes its sizes from attach(h2, { windows }), leaves a wider server setting alone, and leaves every window alone with windows: false', async (t) => {
    const sized = await h2serve(t, {}, undefined, { windows: { stream: 256 * 1024, session: 2 * MiB } });
    const wider = await h2serve(t, {}, (_wss, h2) => h2.updateSettings({ initialWindowSize: 4 * MiB }));
    const untouched = await h2serve(t, {}, undefined, { windows: false });
    const seen: (number | undefined)[][] = [];
    for (const server of [sized, wider, untouched]) {
      const s = await server.session();
      assert.equal((await extendedConnect(s, '/')).status, 200);
      await roundTrip(s);
      seen.push([s.remoteSettings.initialWindowSize, s.state.remoteWindowSize]);
    }
    assert.deepEqual(seen, [
      [256 * 1024, 2 * MiB],
      [4 * MiB, 16 * MiB],
      [65_535, 65_535],
    ]);
  });

  it('refuses windows outside what HTTP/2 allows, naming the option', () => {
    const wss = new WebSocketServer();
    for (const windows of [{ stream: 1024 }, { session: 2 ** 31 }, { stream: 100_000.5 }, 'wide', null]) {
      const h2 = http2.createServer();
      assert.throws(() => wss.attach(h2, { windows } as never), (error: unknown) => error instanceof InvalidArgumentError && /windows/.test(error.message), String(windows));
    }
  });
});

describe('WebSocket over HTTP/2, multiplexing', () => {
  it('100 WebSockets on one session: one stalled by a peer that never reads while the other 99 echo', async (t) => {
    const { session } = await h2serve(t, {}, (wss) => {
      wss.route('/stall', async (ws) => {
        // Far more than the stream's flow-control window: the rest waits for a reader.
        const chunk = new Uint8Array(256 * 1024);
        for (let i = 0; i < 8; i++) void ws.send(chunk).catch(() => {});
      });
      wss.route('/echo', async (ws) => {
        for await (const m of ws) await ws.send(m.data);
      });
    });
    const s = await session();
    const stalled = await extendedConnect(s, '/stall');
    assert.equal(stalled.status, 200);
    // Never read: its window fills and stays full.
    const clients = await Promise.all(
      Array.from({ length: 99 }, async () => {
        const { stream, response } = await extendedConnect(s, '/echo');
        return client(stream, response);
      }),
    );
    const replies = await Promise.all(
      clients.map(async (ws, i) => {
        await ws.send(`m${i}`);
        return (await ws.receive()).data;
      }),
    );
    assert.deepEqual(replies, clients.map((_, i) => `m${i}`));
    assert.ok(stalled.stream.readableLength <= 1024 * 1024, 'the stalled stream holds at most its window');
    for (const ws of clients) ws.terminate();
  });
});
