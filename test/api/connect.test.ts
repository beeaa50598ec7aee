import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import fc from 'fast-check';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { connect, retryDelay, type ConnectOptions } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { ConnectError, HandshakeError } from '../../src/node/errors.js';
import { InvalidURLError } from '../../src/api/errors.js';
import { selfSignedCertificate } from '../fixtures/cert.js';
import { pythonWebsocketsVersion, startPythonServer, type PythonServer } from '../fixtures/python-websockets.js';
import { activeResources, leftover } from '../fixtures/resources.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MiB = 1024 * 1024;
/** Limits big enough for the 16 MiB messages, passed through to the WebSocket. */
const BIG: ConnectOptions = { maxMessageSize: 32 * MiB, maxFrameSize: 32 * MiB };

/** The accept value computed independently of the core (node:crypto), as an oracle. */
function acceptFor(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** An unmasked server frame (payload under 126 bytes). */
function serverFrame(opcode: number, payload: string | Buffer, fin = true): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  assert.ok(data.length < 126);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, data.length]), data]);
}

function message(text: string): { type: 'text'; data: string } {
  return { type: 'text', data: text };
}

/** Resolves with the close event's (code, reason) of a hybi WebSocket. */
function closed(ws: WebSocket): Promise<[number, string]> {
  // Not events.once: it would reject on an 'error' event, which a failed connection also emits.
  return new Promise((resolve) => ws.once('close', (code: number, reason: string) => resolve([code, reason])));
}

// ---------------------------------------------------------------------------------------------
// A raw TCP server whose every answer the test writes by hand, to play broken servers.

interface RawRequest {
  requestLine: string;
  path: string;
  headers: Record<string, string>;
  key: string;
}

interface RawServer {
  port: number;
  requests: RawRequest[];
  connections: number;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

async function rawServer(respond: (req: RawRequest, socket: Socket) => void): Promise<RawServer> {
  const sockets = new Set<Socket>();
  const state: RawServer = {
    port: 0,
    requests: [],
    connections: 0,
    sockets,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      // Keep reading (and dropping) whatever follows, so the server side sees the client leave.
      socket.on('data', () => {});
      const lines = buffered.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      const req: RawRequest = { requestLine: lines[0]!, path: lines[0]!.split(' ')[1]!, headers, key: headers['sec-websocket-key'] ?? '' };
      state.requests.push(req);
      respond(req, socket);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as { port: number }).port;
  return state;
}

function upgrade(key: string, extra = ''): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(key)}\r\n${extra}\r\n`;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = await rawServer(() => {});
  await s.close();
  return s.port;
}

// ---------------------------------------------------------------------------------------------

describe('connect: URL and option errors, before any network', () => {
  it('rejects other schemes and fragments with InvalidURLError naming the scheme', async () => {
    await assert.rejects(connect('ftp://127.0.0.1/'), (err: unknown) => err instanceof InvalidURLError && err.scheme === 'ftp');
    await assert.rejects(connect('ws://127.0.0.1/#x'), (err: unknown) => err instanceof InvalidURLError && err.scheme === 'ws');
  });

  it('takes transport http2 (issue 19: it dials, so nothing listening is a ConnectError), and rejects unknown transports', async () => {
    await assert.rejects(connect('ws://127.0.0.1:1/', { transport: 'http2' }), ConnectError);
    await assert.rejects(connect('ws://127.0.0.1:1/', { transport: 'carrier-pigeon' as 'http1' }), InvalidArgumentError);
  });

  it('rejects subprotocols that are not tokens or are offered twice (RFC 6455 section 4.1)', async () => {
    await assert.rejects(connect('ws://127.0.0.1:1/', { protocols: ['a b'] }), InvalidArgumentError);
    await assert.rejects(connect('ws://127.0.0.1:1/', { protocols: [''] }), InvalidArgumentError);
    await assert.rejects(connect('ws://127.0.0.1:1/', { protocols: ['chat', 'chat'] }), InvalidArgumentError);
  });

  it('rejects header injection and headers the handshake owns without dialing', async () => {
    const server = await rawServer(() => {});
    try {
      const url = `ws://127.0.0.1:${server.port}/`;
      await assert.rejects(connect(url, { headers: { 'X-A': 'ok\r\nInjected: yes' } }), InvalidArgumentError);
      await assert.rejects(connect(url, { headers: { 'Sec-WebSocket-Key': 'AAAAAAAAAAAAAAAAAAAAAA==' } }), InvalidArgumentError);
      assert.equal(server.connections, 0);
    } finally {
      await server.close();
    }
  });

  it('rejects nonsense numbers', async () => {
    await assert.rejects(connect('ws://127.0.0.1:1/', { handshakeTimeout: -1 }), InvalidArgumentError);
    await assert.rejects(connect('ws://127.0.0.1:1/', { maxRedirects: 1.5 }), InvalidArgumentError);
    await assert.rejects(connect('ws://127.0.0.1:1/', { retry: { attempts: 0 } }), InvalidArgumentError);
    await assert.rejects(connect('ws://127.0.0.1:1/', { retry: { minDelay: 100, maxDelay: 10 } }), InvalidArgumentError);
  });
});

describe('connect: the request on the wire', { timeout: 20_000 }, () => {
  it('sends GET, the path and query, Host with the port, a fresh 16-byte key and version 13', async () => {
    const server = await rawServer((req, socket) => socket.write(upgrade(req.key)));
    try {
      const a = await connect(`ws://127.0.0.1:${server.port}/some/path?q=1&r=%20`, { origin: 'https://example.com' });
      const b = await connect(`http://127.0.0.1:${server.port}`);
      a.terminate();
      b.terminate();
      const [ra, rb] = server.requests;
      assert.equal(ra!.requestLine, 'GET /some/path?q=1&r=%20 HTTP/1.1');
      assert.equal(rb!.requestLine, 'GET / HTTP/1.1');
      assert.equal(ra!.headers['host'], `127.0.0.1:${server.port}`);
      assert.equal(ra!.headers['sec-websocket-version'], '13');
      assert.equal(ra!.headers['origin'], 'https://example.com');
      assert.equal(rb!.headers['origin'], undefined);
      assert.match(ra!.headers['upgrade']!, /^websocket$/i);
      assert.match(ra!.headers['connection']!, /upgrade/i);
      assert.equal(Buffer.from(ra!.key, 'base64').length, 16);
      assert.notEqual(ra!.key, rb!.key);
      assert.equal(a.url, `ws://127.0.0.1:${server.port}/some/path?q=1&r=%20`);
      assert.equal(b.url, `ws://127.0.0.1:${server.port}/`);
    } finally {
      await server.close();
    }
  });

  it('sends URL credentials as Basic authorization, and does not put them in ws.url', async () => {
    const server = await rawServer((req, socket) => socket.write(upgrade(req.key)));
    try {
      const ws = await connect(`ws://al%40ice:s3cret@127.0.0.1:${server.port}/`);
      ws.terminate();
      assert.equal(server.requests[0]!.headers['authorization'], `Basic ${Buffer.from('al@ice:s3cret').toString('base64')}`);
      assert.equal(ws.url, `ws://127.0.0.1:${server.port}/`);
    } finally {
      await server.close();
    }
  });

  it('dials an IPv6 literal and sends Host in brackets', async (t) => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        const key = /sec-websocket-key: *([^\r]+)/i.exec(text)![1]!;
        const host = /\r\nhost: *([^\r]+)/i.exec(text)![1]!;
        socket.write(upgrade(key) + serverFrame(1, host).toString('latin1'), 'latin1');
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '::1', resolve);
      });
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    const port = (server.address() as { port: number }).port;
    try {
      const ws = await connect(`ws://[::1]:${port}/`);
      assert.deepEqual(await ws.receive(), message(`[::1]:${port}`));
      ws.terminate();
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});

describe('connect: interoperability with the ws package server', { timeout: 60_000 }, () => {
  let wss: WebSocketServer;
  let base = '';
  const serverCloses: Array<{ path: string; code: number; reason: string }> = [];
  const pongs: string[] = [];
  // Large and small, text and binary, back to back: large frames are read straight into their
  // messages, small ones through the socket's buffers, and the reader pauses in between.
  const burst = [70 * 1024, 5, (1 << 20) + 7, 0, 300_001, 2 * MiB, 64 * 1024 + 1].map((n, i) =>
    i % 3 === 1
      ? { binary: false, data: Buffer.from('ü€'.repeat(Math.ceil(n / 5)).slice(0, Math.max(1, Math.floor(n / 2)))) }
      : { binary: true, data: Buffer.from(Uint8Array.from({ length: n }, (_, j) => (j * 13 + i) & 0xff)) },
  );

  before(async () => {
    wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      maxPayload: 32 * MiB,
      handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false),
    });
    await once(wss, 'listening');
    base = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
    wss.on('connection', (sock: WsSocket, req) => {
      const path = req.url ?? '';
      sock.on('close', (code, reason) => serverCloses.push({ path, code, reason: reason.toString() }));
      sock.on('pong', (data) => pongs.push(data.toString()));
      if (path === '/headers') sock.send(JSON.stringify(req.headers));
      if (path === '/fragmented') {
        sock.send('frag', { fin: false });
        sock.send('ment', { fin: false });
        sock.send('ed', { fin: true });
      }
      if (path === '/ping') sock.ping('from ws');
      if (path === '/burst') for (const m of burst) sock.send(m.data, { binary: m.binary });
      sock.on('message', (data, isBinary) => {
        if (!isBinary && data.toString() === 'please close') {
          sock.close(4000, 'server bye');
          return;
        }
        sock.send(data, { binary: isBinary });
      });
    });
  });
  after(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });

  it('echoes text and binary', async () => {
    const ws = await connect(`${base}/echo`);
    assert.equal(ws.readyState, 'open');
    await ws.send('héllo');
    assert.deepEqual(await ws.receive(), message('héllo'));
    const bytes = randomBytes(1000);
    await ws.send(bytes);
    const got = await ws.receive();
    assert.equal(got.type, 'binary');
    assert.ok(Buffer.from(got.data as Buffer).equals(bytes));
    await ws.close(1000, 'done');
  });

  it('carries a 16 MiB message each way', async () => {
    const ws = await connect(`${base}/echo`, BIG);
    const bytes = randomBytes(16 * MiB);
    await ws.send(bytes);
    const got = await ws.receive();
    assert.equal(got.type, 'binary');
    assert.ok(Buffer.from(got.data as Buffer).equals(bytes));
    await ws.close();
  });

  it('sends large masked messages byte-exact and receives them back, several in flight', async () => {
    const ws = await connect(`${base}/echo`, BIG);
    const sizes = [4097, 65_535, 65_543, (1 << 20) + 3, 5 * MiB];
    const payloads = sizes.map((n, i) => Buffer.from(Uint8Array.from({ length: n }, (_, j) => (j * 251 + i + (j >> 11)) & 0xff)));
    const sent = payloads.map((p) => ws.send(p));
    for (const [i, p] of payloads.entries()) {
      const got = await ws.receive();
      assert.equal(got.type, 'binary');
      assert.ok(Buffer.from(got.data as Buffer).equals(p), `message ${i} of ${sizes[i]} bytes`);
    }
    await Promise.all(sent);
    await ws.close();
  });

  it('receives a burst of large and small messages intact while reading slowly (pausing the socket)', async () => {
    // A high-water mark below one message: reading pauses after every message.
    const ws = await connect(`${base}/burst`, { ...BIG, receiveHighWaterMark: 1024 });
    for (const [i, m] of burst.entries()) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const got = await ws.receive();
      assert.equal(got.type, m.binary ? 'binary' : 'text', `message ${i}`);
      if (m.binary) assert.ok(Buffer.from(got.data as Buffer).equals(m.data), `message ${i} of ${m.data.length} bytes`);
      else assert.equal(got.data, m.data.toString(), `message ${i}`);
    }
    await ws.close();
  });

  it('receives a fragmented message whole, and sends one in fragments', async () => {
    const ws = await connect(`${base}/fragmented`);
    assert.deepEqual(await ws.receive(), message('fragmented'));
    const text = 'x'.repeat(10_000);
    await ws.send(text, { fragmentSize: 1000 });
    assert.deepEqual(await ws.receive(), message(text));
    await ws.close();
  });

  it('answers the server ping and measures its own', async () => {
    const ws = await connect(`${base}/ping`);
    const [payload] = (await once(ws, 'ping')) as [Uint8Array];
    assert.equal(Buffer.from(payload).toString(), 'from ws');
    const rtt = await ws.ping('hi', { timeout: 5000 });
    assert.equal(typeof rtt, 'number');
    assert.ok(rtt >= 0);
    await ws.close();
    assert.ok(pongs.includes('from ws'));
  });

  it('closes with a code both ways', async () => {
    const ws = await connect(`${base}/close-by-client`);
    const result = await ws.close(4001, 'client bye');
    assert.equal(result.code, 4001);
    await waitUntil(() => serverCloses.some((c) => c.path === '/close-by-client'));
    assert.deepEqual(serverCloses.find((c) => c.path === '/close-by-client'), { path: '/close-by-client', code: 4001, reason: 'client bye' });

    const ws2 = await connect(`${base}/close-by-server`);
    const closing = closed(ws2);
    await ws2.send('please close');
    assert.deepEqual(await closing, [4000, 'server bye']);
  });

  it('gets the subprotocol the server picked from those offered, and none when none offered', async () => {
    const a = await connect(`${base}/echo`, { protocols: ['nope', 'chat.v1'] });
    assert.equal(a.protocol, 'chat.v1');
    const b = await connect(`${base}/echo`);
    assert.equal(b.protocol, '');
    const c = await connect(`${base}/echo`, { protocols: 'other' });
    assert.equal(c.protocol, '');
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('sends extra headers and the origin the server sees', async () => {
    const ws = await connect(`${base}/headers`, {
      headers: { 'X-Custom': 'yes', Cookie: ['a=1', 'b=2'] },
      origin: 'https://app.example',
    });
    const got = await ws.receive();
    const headers = JSON.parse(got.data as string) as Record<string, string>;
    assert.equal(headers['x-custom'], 'yes');
    assert.equal(headers['origin'], 'https://app.example');
    assert.match(headers['cookie']!, /a=1.*b=2/);
    assert.equal(headers['host'], base.slice('ws://'.length));
    await ws.close();
  });

  it('passes connection options through to the WebSocket (maxMessageSize: 1009)', async () => {
    const ws = await connect(`${base}/echo`, { maxMessageSize: 100 });
    const closing = closed(ws);
    ws.on('error', () => {});
    await ws.send('y'.repeat(200));
    const [code] = await closing;
    assert.equal(code, 1009);
  });
});

describe('connect: interoperability with Python websockets', { timeout: 60_000 }, () => {
  const version = pythonWebsocketsVersion();
  let py: PythonServer | undefined;
  let base = '';

  before(async () => {
    if (version === undefined) return;
    py = await startPythonServer();
    base = `ws://127.0.0.1:${py.port}`;
  });
  after(async () => {
    await py?.stop();
  });

  it(`runs against websockets ${version ?? '(not installed)'}`, { skip: version === undefined && 'python3 websockets is not installed' }, async () => {
    assert.match(version!, /^\d+\.\d+/);
  });

  it('echoes text, binary and 16 MiB', { skip: version === undefined }, async () => {
    const ws = await connect(`${base}/echo`, BIG);
    await ws.send('grüß dich');
    assert.deepEqual(await ws.receive(), message('grüß dich'));
    const small = randomBytes(300);
    await ws.send(small);
    assert.ok(Buffer.from((await ws.receive()).data as Buffer).equals(small));
    const big = randomBytes(16 * MiB);
    await ws.send(big);
    const got = await ws.receive();
    assert.equal(got.type, 'binary');
    assert.ok(Buffer.from(got.data as Buffer).equals(big));
    await ws.close();
  });

  it('receives fragmented text and binary whole, and sends fragments', { skip: version === undefined }, async () => {
    const ws = await connect(`${base}/fragmented`);
    assert.deepEqual(await ws.receive(), message('fragmented'));
    const bin = await ws.receive();
    assert.equal(bin.type, 'binary');
    assert.deepEqual([...(bin.data as Buffer)], [0, 1, 2, 3]);
    const text = 'añb'.repeat(5000);
    await ws.send(text, { fragmentSize: 777 });
    assert.deepEqual(await ws.receive(), message(text));
    await ws.close();
  });

  it('answers the server ping; its own ping gets a pong', { skip: version === undefined }, async () => {
    const ws = await connect(`${base}/ping`);
    assert.deepEqual(await ws.receive(), message('pong ok'));
    assert.ok((await ws.ping('x', { timeout: 5000 })) >= 0);
    await ws.close();
  });

  it('sees the server close code, and the server sees ours', { skip: version === undefined }, async () => {
    const ws = await connect(`${base}/close/4321`);
    assert.deepEqual(await closed(ws), [4321, 'bye from python']);

    const ws2 = await connect(`${base}/echo`);
    const result = await ws2.close(4001, 'client bye');
    assert.equal(result.code, 4001);
    const event = await py!.waitFor((e) => e['path'] === '/echo' && e['code'] === 4001);
    assert.equal(event['reason'], 'client bye');
  });

  it('negotiates a subprotocol and sends extra headers', { skip: version === undefined }, async () => {
    const ws = await connect(`${base}/subprotocol`, { protocols: ['nope', 'chat.v1'] });
    assert.equal(ws.protocol, 'chat.v1');
    assert.deepEqual(await ws.receive(), message('chat.v1'));
    await ws.close();
    const h = await connect(`${base}/headers`, { headers: { 'X-Test': 'from hybi' }, origin: 'http://o.example' });
    const headers = JSON.parse((await h.receive()).data as string) as Record<string, string>;
    assert.equal(headers['x-test'], 'from hybi');
    assert.equal(headers['origin'], 'http://o.example');
    assert.equal(headers['sec-websocket-version'], '13');
    await h.close();
  });
});

describe('connect: compress offers permessage-deflate (RFC 7692)', { timeout: 30_000 }, () => {
  it('offers nothing by default, and the offer when asked', async () => {
    const server = await rawServer((req, socket) => socket.write(upgrade(req.key)));
    try {
      (await connect(`ws://127.0.0.1:${server.port}/`)).terminate();
      (await connect(`ws://127.0.0.1:${server.port}/`, { compress: true })).terminate();
      (await connect(`ws://127.0.0.1:${server.port}/`, { compress: { serverNoContextTakeover: true, clientMaxWindowBits: 12 } })).terminate();
      assert.equal(server.requests[0]!.headers['sec-websocket-extensions'], undefined);
      assert.equal(server.requests[1]!.headers['sec-websocket-extensions'], 'permessage-deflate; client_max_window_bits');
      assert.equal(server.requests[2]!.headers['sec-websocket-extensions'], 'permessage-deflate; server_no_context_takeover; client_max_window_bits=12');
    } finally {
      await server.close();
    }
  });

  it('refuses out-of-range parameters before dialing', async () => {
    await assert.rejects(connect('ws://127.0.0.1:1/', { compress: { serverMaxWindowBits: 99 } }), InvalidArgumentError);
  });

  it('fails the handshake when the server answers parameters that were not offered', async () => {
    const server = await rawServer((req, socket) => socket.write(upgrade(req.key, 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n')));
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, { compress: { clientMaxWindowBits: false } }), (err: unknown) => {
        assert.ok(err instanceof HandshakeError);
        assert.equal(err.status, 101);
        assert.match(err.message, /client_max_window_bits/);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('compresses both ways with the ws package, and goes on uncompressed when the server declines', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 }, maxPayload: 32 * MiB });
    await once(wss, 'listening');
    const seen: string[] = [];
    wss.on('connection', (sock, req) => {
      seen.push(String(req.headers['sec-websocket-extensions']));
      sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary }));
    });
    const plain = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await once(plain, 'listening');
    plain.on('connection', (sock) => sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary })));
    try {
      const ws = await connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { compress: true, ...BIG });
      assert.match(ws.extensions, /^permessage-deflate/);
      const text = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ i, name: `item ${i}` })));
      await ws.send(text);
      assert.deepEqual(await ws.receive(), message(text));
      await ws.close();

      const ws2 = await connect(`ws://127.0.0.1:${(plain.address() as { port: number }).port}/`, { compress: true });
      assert.equal(ws2.extensions, '');
      await ws2.send('plain');
      assert.deepEqual(await ws2.receive(), message('plain'));
      await ws2.close();
      assert.match(seen[0]!, /permessage-deflate/);
    } finally {
      for (const c of [...wss.clients, ...plain.clients]) c.terminate();
      await Promise.all([new Promise((r) => wss.close(r)), new Promise((r) => plain.close(r))]);
    }
  });
});

describe('connect: wss with a self-signed certificate', { timeout: 20_000 }, () => {
  const { cert, key } = selfSignedCertificate();
  let https: HttpsServer;
  let wss: WebSocketServer;
  let port = 0;

  before(async () => {
    https = createHttpsServer({ cert, key });
    https.on('tlsClientError', () => {});
    wss = new WebSocketServer({ server: https, maxPayload: 32 * MiB });
    wss.on('connection', (sock) => sock.on('message', (data, isBinary) => sock.send(data, { binary: isBinary })));
    await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
    port = (https.address() as { port: number }).port;
  });
  after(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    https.closeAllConnections();
    await new Promise<void>((resolve) => https.close(() => resolve()));
  });

  it('connects when the certificate is trusted through tls.ca (wss and https URLs)', async () => {
    for (const scheme of ['wss', 'https']) {
      const ws = await connect(`${scheme}://127.0.0.1:${port}/`, { tls: { ca: cert } });
      assert.equal(ws.url, `wss://127.0.0.1:${port}/`);
      await ws.send('secure');
      assert.deepEqual(await ws.receive(), message('secure'));
      await ws.close();
    }
  });

  it('sends large masked messages byte-exact over TLS, more in flight than the masking memory holds', async () => {
    // Blocks of masking memory go back from the TLS socket's write callbacks: a block reused too
    // early would corrupt a frame still waiting to be encrypted.
    const ws = await connect(`wss://127.0.0.1:${port}/`, { tls: { ca: cert }, ...BIG, maxBufferedAmount: 64 * MiB });
    const payloads = Array.from({ length: 12 }, (_, i) => Buffer.from(Uint8Array.from({ length: 2 * MiB + i * 101 }, (_, j) => (j * 13 + i * 5 + (j >> 12)) & 0xff)));
    const sent = payloads.map((p) => ws.send(p));
    for (const [i, p] of payloads.entries()) {
      const got = await ws.receive();
      assert.ok(Buffer.from(got.data as Buffer).equals(p), `message ${i}`);
    }
    await Promise.all(sent);
    await ws.close();
  });

  it('refuses the certificate without tls.ca, as a ConnectError with the TLS cause', async () => {
    const baseline = activeResources();
    await assert.rejects(connect(`wss://127.0.0.1:${port}/`), (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.equal(err.host, '127.0.0.1');
      assert.equal(err.port, port);
      assert.match(String((err.cause as { code?: string }).code), /SELF_SIGNED|UNABLE_TO_VERIFY/);
      return true;
    });
    assert.deepEqual(await leftover(baseline), []);
  });

  it('accepts it with rejectUnauthorized: false', async () => {
    const ws = await connect(`wss://127.0.0.1:${port}/`, { tls: { rejectUnauthorized: false } });
    await ws.close();
  });
});

describe('connect: broken servers', { timeout: 20_000 }, () => {
  it('rejects a wrong Sec-WebSocket-Accept (RFC 6455 section 4.1) with a HandshakeError', async () => {
    const server = await rawServer((_req, socket) => socket.write(upgrade('not the key the client sent')));
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`), (err: unknown) => {
        assert.ok(err instanceof HandshakeError);
        assert.equal(err.status, 101);
        assert.match(err.message, /accept/i);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('rejects a 101 without Upgrade: websocket', async () => {
    const server = await rawServer((req, socket) =>
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(req.key)}\r\n\r\n`),
    );
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`), (err: unknown) => {
        assert.ok(err instanceof HandshakeError);
        assert.equal(err.status, 101);
        assert.match(err.message, /upgrade/i);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('rejects a subprotocol or an extension that was not offered', async () => {
    const server = await rawServer((req, socket) =>
      socket.write(upgrade(req.key, req.path === '/p' ? 'Sec-WebSocket-Protocol: evil\r\n' : 'Sec-WebSocket-Extensions: permessage-deflate\r\n')),
    );
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/p`, { protocols: ['chat'] }), HandshakeError);
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/p`), HandshakeError);
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/e`), HandshakeError);
    } finally {
      await server.close();
    }
  });

  it('gives a 403 with its status, headers and body', async () => {
    const page = '<h1>Forbidden</h1><p>bad token</p>';
    const server = await rawServer((_req, socket) =>
      socket.write(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nX-Reason: token\r\nX-Reason: expired\r\nContent-Length: ${page.length}\r\n\r\n${page}`),
    );
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, { handshakeTimeout: 5000 }), (err: unknown) => {
        assert.ok(err instanceof HandshakeError);
        assert.equal(err.code, 'ERR_HANDSHAKE');
        assert.equal(err.status, 403);
        assert.equal(err.headers['content-type'], 'text/html');
        assert.equal(err.headers['x-reason'], 'token, expired');
        assert.equal(err.body, page);
        assert.match(err.message, /403/);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('bounds the body of a refusal at 64 KiB', async () => {
    const server = await rawServer((_req, socket) => socket.write(`HTTP/1.1 401 Unauthorized\r\n\r\n${'z'.repeat(1_000_000)}`));
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`), (err: unknown) => {
        assert.ok(err instanceof HandshakeError);
        assert.equal(err.status, 401);
        assert.equal(err.body.length, 64 * 1024);
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('times out on a silent server: ConnectError with timedOut, nothing left behind', async () => {
    const server = await rawServer(() => {});
    const baseline = activeResources();
    try {
      const started = Date.now();
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, { handshakeTimeout: 200 }), (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.timedOut, true);
        assert.equal(err.port, server.port);
        return true;
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 190 && elapsed < 3000, `took ${elapsed} ms`);
      assert.deepEqual(await leftover(baseline), []);
    } finally {
      await server.close();
    }
  });

  it('is a HandshakeError with status 0 when the server hangs up without answering', async () => {
    const server = await rawServer((_req, socket) => socket.end());
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`), (err: unknown) => err instanceof HandshakeError && err.status === 0);
    } finally {
      await server.close();
    }
  });

  it('delivers frames sent in the same TCP write as the 101 as the first messages, in order', async () => {
    const server = await rawServer((req, socket) => {
      socket.write(Buffer.concat([Buffer.from(upgrade(req.key), 'latin1'), serverFrame(1, 'first'), serverFrame(2, Buffer.from([9, 8, 7]))]));
      setTimeout(() => socket.write(serverFrame(1, 'second')), 30);
    });
    try {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`);
      assert.deepEqual(await ws.receive(), message('first'));
      const bin = await ws.receive();
      assert.deepEqual([...(bin.data as Buffer)], [9, 8, 7]);
      assert.deepEqual(await ws.receive(), message('second'));
      ws.terminate();
    } finally {
      await server.close();
    }
  });

  it('keeps a close frame that came with the 101', async () => {
    const server = await rawServer((req, socket) => {
      socket.write(Buffer.concat([Buffer.from(upgrade(req.key), 'latin1'), serverFrame(8, Buffer.from([0x0f, 0xa0, 0x68, 0x69]))]));
    });
    try {
      const ws = await connect(`ws://127.0.0.1:${server.port}/`);
      assert.deepEqual(await closed(ws), [4000, 'hi']);
    } finally {
      await server.close();
    }
  });
});

describe('connect: redirects', { timeout: 20_000 }, () => {
  let server: RawServer;
  let other: RawServer;
  let base = '';

  before(async () => {
    other = await rawServer((req, socket) => socket.write(upgrade(req.key) + serverFrame(1, req.headers['authorization'] ?? 'no auth').toString('latin1'), 'latin1'));
    server = await rawServer((req, socket) => {
      const hop = /^\/r\/(\d+)/.exec(req.path);
      if (hop && hop[1] !== '0') {
        // Relative Location, resolved against the current URL.
        socket.end(`HTTP/1.1 ${hop[1] === '2' ? 307 : 302} Found\r\nLocation: /r/${Number(hop[1]) - 1}\r\nContent-Length: 0\r\n\r\n`);
      } else if (req.path === '/no-location') {
        socket.end('HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n');
      } else if (req.path === '/ftp') {
        socket.end('HTTP/1.1 308 Moved\r\nLocation: ftp://127.0.0.1/file\r\nContent-Length: 0\r\n\r\n');
      } else if (req.path === '/absolute') {
        socket.end(`HTTP/1.1 303 See Other\r\nLocation: http://127.0.0.1:${server.port}/r/0#frag\r\nContent-Length: 0\r\n\r\n`);
      } else if (req.path === '/elsewhere') {
        socket.end(`HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:${other.port}/landing\r\nContent-Length: 0\r\n\r\n`);
      } else {
        socket.write(upgrade(req.key) + serverFrame(1, `${req.path} ${req.headers['authorization'] ?? 'no auth'}`).toString('latin1'), 'latin1');
      }
    });
    base = `ws://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
    await other.close();
  });

  it('does not follow redirects by default: a HandshakeError with the status and Location', async () => {
    await assert.rejects(connect(`${base}/r/3`), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 302);
      assert.equal(err.headers['location'], '/r/2');
      return true;
    });
  });

  it('follows a chain with maxRedirects, resolving relative Locations', async () => {
    const ws = await connect(`${base}/r/3`, { maxRedirects: 3 });
    assert.equal(ws.url, `${base}/r/0`);
    assert.deepEqual(await ws.receive(), message('/r/0 no auth'));
    ws.terminate();
  });

  it('stops after maxRedirects', async () => {
    const before = server.connections;
    await assert.rejects(connect(`${base}/r/3`, { maxRedirects: 2 }), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.match(err.message, /too many redirects/);
      return true;
    });
    assert.equal(server.connections - before, 3);
  });

  it('refuses a redirect without Location or to another scheme', async () => {
    await assert.rejects(connect(`${base}/no-location`, { maxRedirects: 5 }), (err: unknown) => err instanceof HandshakeError && err.status === 301 && /Location/.test(err.message));
    await assert.rejects(connect(`${base}/ftp`, { maxRedirects: 5 }), (err: unknown) => err instanceof HandshakeError && err.status === 308);
  });

  it('maps an absolute http: Location to ws: and drops its fragment', async () => {
    const ws = await connect(`${base}/absolute`, { maxRedirects: 1 });
    assert.equal(ws.url, `${base}/r/0`);
    ws.terminate();
  });

  it('keeps credentials on the same host and drops them for another', async () => {
    const same = await connect(`ws://u:p@127.0.0.1:${server.port}/r/1`, { maxRedirects: 1 });
    assert.deepEqual(await same.receive(), message(`/r/0 Basic ${Buffer.from('u:p').toString('base64')}`));
    same.terminate();
    const away = await connect(`${base}/elsewhere`, { maxRedirects: 1, headers: { Authorization: 'Bearer secret' } });
    assert.equal(away.url, `ws://127.0.0.1:${other.port}/landing`);
    assert.deepEqual(await away.receive(), message('no auth'));
    away.terminate();
  });
});

describe('connect: what a redirect to another origin keeps', { timeout: 20_000 }, () => {
  const credentials = { Authorization: 'Bearer a', 'Proxy-Authorization': 'Basic cHJveHk6c2VjcmV0', Cookie: 'session=1', 'X-Trace': 't1' };
  const landed = (req: RawRequest, socket: Socket): void => {
    if (req.path === '/landing') socket.write(upgrade(req.key));
  };

  it('drops Authorization, Proxy-Authorization and Cookie for another port, keeps the rest; keeps all on the same origin', async () => {
    const target = await rawServer(landed);
    const origin = await rawServer((req, socket) => {
      if (req.path === '/away') socket.end(`HTTP/1.1 307 Moved\r\nLocation: ws://127.0.0.1:${target.port}/landing\r\nContent-Length: 0\r\n\r\n`);
      else if (req.path === '/here') socket.end('HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:' + origin.port + '/landing\r\nContent-Length: 0\r\n\r\n');
      else landed(req, socket);
    });
    try {
      const away = await connect(`ws://127.0.0.1:${origin.port}/away`, { maxRedirects: 1, headers: credentials });
      away.terminate();
      const seen = target.requests[0]!.headers;
      assert.equal(seen['authorization'], undefined);
      assert.equal(seen['proxy-authorization'], undefined);
      assert.equal(seen['cookie'], undefined);
      assert.equal(seen['x-trace'], 't1');
      // ws: and http: are one origin: a redirect to http://same-host:same-port/ keeps everything.
      const here = await connect(`ws://127.0.0.1:${origin.port}/here`, { maxRedirects: 1, headers: credentials });
      here.terminate();
      const kept = origin.requests.at(-1)!.headers;
      assert.equal(kept['authorization'], 'Bearer a');
      assert.equal(kept['proxy-authorization'], 'Basic cHJveHk6c2VjcmV0');
      assert.equal(kept['cookie'], 'session=1');
    } finally {
      await origin.close();
      await target.close();
    }
  });

  it('drops them when only the scheme changes (ws: to wss: on the same host and port)', async () => {
    const { cert, key } = selfSignedCertificate();
    const seen: Array<Record<string, string>> = [];
    // One port that speaks plain HTTP and TLS, told apart by the first byte (0x16: a TLS handshake).
    const sockets = new Set<Socket>();
    const server = createServer((raw) => {
      sockets.add(raw);
      raw.on('close', () => sockets.delete(raw));
      raw.on('error', () => {});
      raw.once('data', (first: Buffer) => {
        raw.pause();
        raw.unshift(first);
        // A TLSSocket over a net.Socket reads its handle directly and would miss the byte read
        // here; over a plain Duplex relaying the socket it reads everything.
        let socket: Socket | TLSSocket = raw;
        if (first[0] === 0x16) {
          const relay = new Duplex({
            read: () => raw.resume(),
            write: (chunk: Buffer, _encoding, callback) => raw.write(chunk, callback),
            final: (callback) => raw.end(callback),
          });
          raw.on('data', (chunk: Buffer) => {
            if (!relay.push(chunk)) raw.pause();
          });
          raw.on('end', () => relay.push(null));
          relay.on('error', () => {});
          socket = new TLSSocket(relay, { isServer: true, cert, key });
        }
        socket.on('error', () => {});
        let head = '';
        socket.on('data', (chunk: Buffer) => {
          if (head.includes('\r\n\r\n')) return;
          head += chunk.toString('latin1');
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) return;
          const headers: Record<string, string> = {};
          for (const line of head.slice(0, end).split('\r\n').slice(1)) {
            const colon = line.indexOf(':');
            headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
          }
          seen.push(headers);
          if (socket === raw) socket.end(`HTTP/1.1 301 Moved\r\nLocation: wss://127.0.0.1:${port}/landing\r\nContent-Length: 0\r\n\r\n`);
          else socket.write(upgrade(headers['sec-websocket-key']!));
        });
        if (socket === raw) raw.resume();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const ws = await connect(`ws://127.0.0.1:${port}/start`, { maxRedirects: 1, headers: credentials, tls: { ca: cert } });
      assert.equal(ws.url, `wss://127.0.0.1:${port}/landing`);
      ws.terminate();
      assert.equal(seen.length, 2);
      assert.equal(seen[0]!['proxy-authorization'], 'Basic cHJveHk6c2VjcmV0');
      assert.equal(seen[1]!['authorization'], undefined);
      assert.equal(seen[1]!['proxy-authorization'], undefined);
      assert.equal(seen[1]!['cookie'], undefined);
      assert.equal(seen[1]!['x-trace'], 't1');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('connect: abort', { timeout: 20_000 }, () => {
  it('rejects at once for an already aborted signal, without dialing', async () => {
    const server = await rawServer(() => {});
    try {
      const reason = new Error('no thanks');
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, { signal: AbortSignal.abort(reason) }), (err: unknown) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.timedOut, false);
        assert.equal(err.cause, reason);
        return true;
      });
      assert.equal(server.connections, 0);
    } finally {
      await server.close();
    }
  });

  it('aborts a handshake in progress and leaves nothing behind', async () => {
    const server = await rawServer(() => {});
    const baseline = activeResources();
    try {
      const controller = new AbortController();
      const pending = connect(`ws://127.0.0.1:${server.port}/`, { signal: controller.signal });
      await waitUntil(() => server.requests.length === 1);
      controller.abort();
      await assert.rejects(pending, (err: unknown) => err instanceof ConnectError && !err.timedOut);
      assert.deepEqual(await leftover(baseline), []);
    } finally {
      await server.close();
    }
  });
});

describe('connect: retry', { timeout: 20_000 }, () => {
  it('retries a 503 and a hang-up, then succeeds', async () => {
    let n = 0;
    const server = await rawServer((req, socket) => {
      n++;
      if (n === 1) socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy');
      else if (n === 2) socket.destroy();
      else socket.write(upgrade(req.key));
    });
    try {
      const retries: Array<[string, number, number]> = [];
      const ws = await connect(`ws://127.0.0.1:${server.port}/`, {
        retry: { attempts: 3, minDelay: 5, maxDelay: 20, onRetry: (err, attempt, wait) => retries.push([err.constructor.name, attempt, wait]) },
      });
      ws.terminate();
      assert.equal(server.connections, 3);
      assert.deepEqual(retries.map(([, attempt]) => attempt), [1, 2]);
      assert.equal(retries[0]![0], 'HandshakeError');
      // A hang-up is a HandshakeError (status 0) after a FIN, a ConnectError after a reset.
      assert.ok(['HandshakeError', 'ConnectError'].includes(retries[1]![0]));
      for (const [, , wait] of retries) assert.ok(wait >= 5 && wait <= 20);
    } finally {
      await server.close();
    }
  });

  it('never retries a 4xx refusal', async () => {
    const server = await rawServer((_req, socket) => socket.end('HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n'));
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${server.port}/`, { retry: { attempts: 5, minDelay: 1 } }), (err: unknown) => err instanceof HandshakeError && err.status === 429);
      assert.equal(server.connections, 1);
    } finally {
      await server.close();
    }
  });

  it('gives up after `attempts` refused connections with the last ConnectError, and leaves nothing behind', async () => {
    const port = await closedPort();
    const baseline = activeResources();
    let retried = 0;
    await assert.rejects(
      connect(`ws://127.0.0.1:${port}/`, { retry: { attempts: 3, minDelay: 1, maxDelay: 5, onRetry: () => retried++ } }),
      (err: unknown) => err instanceof ConnectError && (err.cause as { code?: string }).code === 'ECONNREFUSED',
    );
    assert.equal(retried, 2);
    assert.deepEqual(await leftover(baseline), []);
  });

  it('stops waiting between tries when aborted, and does not try again', async () => {
    const port = await closedPort();
    const baseline = activeResources();
    const controller = new AbortController();
    let tries = 0;
    const started = Date.now();
    const pending = connect(`ws://127.0.0.1:${port}/`, {
      signal: controller.signal,
      retry: { attempts: 10, minDelay: 10_000, maxDelay: 10_000, onRetry: () => { tries++; setImmediate(() => controller.abort()); } },
    });
    await assert.rejects(pending, (err: unknown) => err instanceof ConnectError && !err.timedOut);
    assert.equal(tries, 1);
    assert.ok(Date.now() - started < 5000);
    assert.deepEqual(await leftover(baseline), []);
  });
});

describe('connect: no failure leaves a socket or a timer behind', { timeout: 20_000 }, () => {
  it('after every kind of failure, the active handles are back to where they were', async () => {
    const server = await rawServer((req, socket) => {
      switch (req.path) {
        case '/accept': socket.write(upgrade('wrong')); break;
        case '/upgrade': socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptFor(req.key)}\r\n\r\n`); break;
        case '/protocol': socket.write(upgrade(req.key, 'Sec-WebSocket-Protocol: x\r\n')); break;
        case '/403': socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno'); break;
        case '/slow-body': socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nhalf'); break;
        case '/loop': socket.end('HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n'); break;
        case '/garbage': socket.write('NOT HTTP AT ALL\r\n\r\n'); break;
        case '/hangup': socket.end(); break;
        default: break; // silence
      }
    });
    const port = await closedPort();
    const base = `ws://127.0.0.1:${server.port}`;
    const baseline = activeResources();
    try {
      const failures: Array<Promise<unknown>> = [
        connect(`ws://127.0.0.1:${port}/`, { retry: { attempts: 2, minDelay: 1, maxDelay: 2 } }),
        connect(`${base}/accept`),
        connect(`${base}/upgrade`),
        connect(`${base}/protocol`),
        connect(`${base}/403`),
        connect(`${base}/slow-body`, { handshakeTimeout: 300 }),
        connect(`${base}/loop`, { maxRedirects: 3 }),
        connect(`${base}/garbage`),
        connect(`${base}/hangup`, { retry: { attempts: 2, minDelay: 1, maxDelay: 2 } }),
        connect(`${base}/silent`, { handshakeTimeout: 100 }),
        connect(`${base}/silent`, { signal: AbortSignal.timeout(100) }),
        connect(`wss://127.0.0.1:${server.port}/silent`, { handshakeTimeout: 100 }),
      ];
      const results = await Promise.allSettled(failures);
      for (const r of results) assert.equal(r.status, 'rejected');
      assert.deepEqual(await leftover(baseline), []);
    } finally {
      await server.close();
    }
  });
});

describe('retryDelay: exponential backoff with full jitter', () => {
  it('stays between minDelay and min(maxDelay, minDelay * 2^retry)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (retry, min, extra, r) => {
        const max = min + extra;
        const d = retryDelay(retry, min, max, () => r);
        return d >= min && d <= Math.min(max, min * 2 ** retry) && Number.isFinite(d);
      }),
    );
  });

  it('grows exponentially until maxDelay', () => {
    const top = (retry: number): number => retryDelay(retry, 100, 5000, () => 1);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(top), [200, 400, 800, 1600, 3200, 5000, 5000]);
    assert.equal(retryDelay(3, 100, 5000, () => 0), 100);
  });
});

/** Polls a condition on immediates (no timer), failing after 5 s. */
async function waitUntil(condition: () => boolean): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > 5000) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
