// Legacy peers (issue 22): hybi-00 (draft-hixie-76) behind `legacy: { hybi00: true }` on the
// server and `version: 'hybi-00'` in connect(), the capability queries, and the typed refusals.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Agent } from 'node:http';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import { connect } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { versionDriverOptions } from '../../src/api/legacy.js';
import { InvalidArgumentError, NotSupportedByVersionError } from '../../src/core/errors.js';

/** The draft's example keys and the answer it prints (section 1.3). */
const KEY1 = '4 @1  46546xW%0l 1 5';
const KEY2 = '12998 5 Y3 1  .P00';
const KEY3 = '^n:ds[4U';
const ANSWER = "8jKS'y:G*Co,Wxa-";

async function serve(t: TestContext, options: WebSocketServerOptions = {}, setup?: (s: WebSocketServer) => void) {
  const server = new WebSocketServer(options);
  server.on('handlerError', () => {});
  setup?.(server);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return { server, port };
}

function hybi00Head(port: number, path = '/demo', extra: Record<string, string | null> = {}): string {
  const all: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Connection: 'Upgrade',
    'Sec-WebSocket-Key2': KEY2,
    Upgrade: 'WebSocket',
    'Sec-WebSocket-Key1': KEY1,
    Origin: `http://127.0.0.1:${port}`,
    ...extra,
  };
  let text = `GET ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(all)) if (v !== null) text += `${k}: ${v}\r\n`;
  return text + '\r\n';
}

/** A raw TCP peer that collects everything the server sends. */
async function rawPeer(t: TestContext, port: number) {
  const socket: Socket = netConnect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let received = Buffer.alloc(0);
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => {});
  const ended = once(socket, 'close');
  return {
    socket,
    ended,
    get received() {
      return received;
    },
    /** Resolves once the bytes received include `needle`. */
    async until(needle: string | Buffer): Promise<Buffer> {
      while (!received.includes(needle)) {
        await Promise.race([new Promise<void>((r) => waiters.push(r)), ended.then(() => assert.fail(`closed before ${JSON.stringify(String(needle))}; got ${JSON.stringify(received.toString('latin1'))}`))]);
      }
      return received;
    },
  };
}

const echo = (s: WebSocketServer) =>
  s.route('/demo', async (ws) => {
    for await (const m of ws) await ws.send(`echo:${m.data as string}`);
  });

describe('hybi-00 server: off by default', () => {
  it('answers a hybi-00 request with 426 unless legacy.hybi00 is on', async (t) => {
    const { port } = await serve(t, {}, echo);
    const peer = await rawPeer(t, port);
    peer.socket.write(hybi00Head(port) + KEY3);
    await peer.ended;
    assert.match(peer.received.toString('latin1'), /^HTTP\/1.1 426 /);
  });

  it('refuses a bad legacy option at construction', () => {
    assert.throws(() => new WebSocketServer({ legacy: { hybi00: 'yes' as unknown as boolean } }), InvalidArgumentError);
    assert.throws(() => new WebSocketServer({ legacy: { hixie75: true } as never }), InvalidArgumentError);
  });
});

describe('hybi-00 server: the draft\'s handshake and framing', () => {
  it('answers the draft\'s example request with its 101, headers and 16-byte answer, then echoes text', async (t) => {
    const { port } = await serve(t, { legacy: { hybi00: true } }, echo);
    const peer = await rawPeer(t, port);
    peer.socket.write(hybi00Head(port) + KEY3);
    const head = (await peer.until(ANSWER)).toString('latin1');
    assert.equal(
      head,
      'HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Origin: http://127.0.0.1:${port}\r\nSec-WebSocket-Location: ws://127.0.0.1:${port}/demo\r\n\r\n${ANSWER}`,
    );
    peer.socket.write(Buffer.from([0x00, ...Buffer.from('hé'), 0xff]));
    await peer.until(Buffer.from([0x00, ...Buffer.from('echo:hé'), 0xff]));
    peer.socket.write(Buffer.from([0xff, 0x00]));
    await peer.until(Buffer.from([0xff, 0x00]));
    await peer.ended;
  });

  it('waits for key3 when it comes after the head, in its own write', async (t) => {
    const { port } = await serve(t, { legacy: { hybi00: true } }, echo);
    const peer = await rawPeer(t, port);
    peer.socket.write(hybi00Head(port));
    peer.socket.write(KEY3.slice(0, 3));
    // Let the server read the head and the first bytes of key3 before the rest comes.
    await new Promise((r) => setImmediate(r));
    peer.socket.write(KEY3.slice(3) + '\x00hi\xff', 'latin1');
    await peer.until(Buffer.from([0x00, ...Buffer.from('echo:hi'), 0xff]));
    assert.ok(peer.received.includes(ANSWER));
  });

  it('goes through the same routes, allowedOrigins and accept hook, and selects the subprotocol', async (t) => {
    const seen: string[] = [];
    const { port } = await serve(t, { legacy: { hybi00: true }, allowedOrigins: ['http://good.example'], accept: (req) => req.headers['x-no'] === undefined }, (s) => {
      s.route('/demo', { protocols: ['chat'] }, async (ws) => {
        seen.push(`${ws.version} ${ws.protocol}`);
        await ws.send('hi');
      });
    });
    const ask = async (path: string, extra: Record<string, string | null>): Promise<string> => {
      const peer = await rawPeer(t, port);
      peer.socket.write(hybi00Head(port, path, { Origin: 'http://good.example', ...extra }) + KEY3);
      await Promise.race([peer.ended, peer.until('hi\xff')]);
      return peer.received.toString('latin1');
    };
    assert.match(await ask('/nowhere', {}), /^HTTP\/1.1 404 /);
    assert.match(await ask('/demo', { Origin: 'http://evil.example' }), /^HTTP\/1.1 403 /);
    assert.match(await ask('/demo', { 'X-No': '1' }), /^HTTP\/1.1 403 /);
    const ok = await ask('/demo', { 'Sec-WebSocket-Protocol': 'chat' });
    assert.match(ok, /^HTTP\/1.1 101 WebSocket Protocol Handshake\r\n/);
    assert.match(ok, /\r\nSec-WebSocket-Protocol: chat\r\n/);
    assert.deepEqual(seen, ['hybi-00 chat']);
  });

  it('broadcast reaches hybi-00 clients in their framing (text only)', async (t) => {
    const { server, port } = await serve(t, { legacy: { hybi00: true } }, (s) => s.route('/demo', () => new Promise(() => {})));
    const peer = await rawPeer(t, port);
    const connected = once(server, 'connection');
    peer.socket.write(hybi00Head(port) + KEY3);
    await connected;
    assert.equal(server.broadcast(new Uint8Array([1, 2]), {}), 0);
    assert.equal(server.broadcast('to all'), 1);
    await peer.until(Buffer.from([0x00, ...Buffer.from('to all'), 0xff]));
    assert.ok(!peer.received.includes(Buffer.from([0x82])));
  });

  it('a hybi-00 connection cannot subscribe to a topic (publish frames are RFC 6455 frames), and says so', async (t) => {
    const { server, port } = await serve(t, { legacy: { hybi00: true } }, (s) => s.route('/demo', () => new Promise(() => {})));
    const peer = await rawPeer(t, port);
    const connected = once(server, 'connection');
    peer.socket.write(hybi00Head(port) + KEY3);
    const [ws] = (await connected) as [WebSocket];
    assert.throws(() => ws.subscribe('news'), (e: unknown) => e instanceof NotSupportedByVersionError && e.feature === 'topics');
    assert.equal(server.subscriberCount('news'), 0);
    // The connection is still usable for what hybi-00 carries.
    await server.publish('news', 'not for hybi-00');
    assert.equal(server.broadcast('still here'), 1);
    await peer.until(Buffer.from([0x00, ...Buffer.from('still here'), 0xff]));
  });
});

describe('capability queries and the typed refusals', () => {
  it('RFC 6455 connections support everything; hybi-00 ones say what they cannot do', async (t) => {
    const { port } = await serve(t, { legacy: { hybi00: true } }, echo);
    const modern = await connect(`ws://127.0.0.1:${port}/demo`);
    t.after(() => modern.terminate());
    assert.equal(modern.version, 'hybi-13');
    assert.equal(modern.supportsFragmentation, true);
    assert.equal(modern.supportsPayloadType('binary'), true);
    assert.equal(modern.supportsPayloadType('text'), true);
    assert.equal(modern.signalsStatusOnClose, true);

    const legacy = await connect(`ws://127.0.0.1:${port}/demo`, { version: 'hybi-00' });
    t.after(() => legacy.terminate());
    assert.equal(legacy.version, 'hybi-00');
    assert.equal(legacy.supportsFragmentation, false);
    assert.equal(legacy.supportsPayloadType('binary'), false);
    assert.equal(legacy.supportsPayloadType('text'), true);
    assert.equal(legacy.signalsStatusOnClose, false);
  });

  it('binary, streamed and fragmentSize sends, ping, pong and beginMessage fail with NotSupportedByVersionError; text still flows', async (t) => {
    const { port } = await serve(t, { legacy: { hybi00: true } }, echo);
    const ws = await connect(`ws://127.0.0.1:${port}/demo`, { version: 'hybi-00' });
    t.after(() => ws.terminate());
    const refused = (feature: string) => (e: unknown) => e instanceof NotSupportedByVersionError && e.code === 'ERR_NOT_SUPPORTED_BY_VERSION' && e.feature === feature;
    await assert.rejects(ws.send(new Uint8Array([1, 2, 3])), refused('binary'));
    await assert.rejects(ws.send('text as binary', { binary: true }), refused('binary'));
    await assert.rejects(ws.send('abcdef', { fragmentSize: 2 }), refused('fragments'));
    await assert.rejects(ws.send(Readable.from(['a', 'b'])), refused('fragments'));
    await assert.rejects(ws.ping(), refused('ping'));
    await assert.rejects(ws.pong(), refused('pong'));
    assert.throws(() => ws.beginMessage(), refused('fragments'));
    await ws.send('still here');
    await ws.send(new TextEncoder().encode('bytes as text'), { binary: false });
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'echo:still here' });
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'echo:bytes as text' });
    assert.equal(ws.readyState, 'open');
  });

  it('close(code, reason) closes with the bare closing handshake; both sides see 1005', async (t) => {
    let serverSide: WebSocket | undefined;
    const { server, port } = await serve(t, { legacy: { hybi00: true } }, (s) => s.route('/demo', (ws) => new Promise<void>((r) => ws.on('close', () => r()))));
    const connected = new Promise<void>((r) => server.once('connection', (ws: WebSocket) => ((serverSide = ws), r())));
    const ws = await connect(`ws://127.0.0.1:${port}/demo`, { version: 'hybi-00' });
    await connected;
    const serverClosed = once(serverSide!, 'close');
    const clientClosed = once(ws, 'close');
    await ws.close(4000, 'a reason hybi-00 cannot carry');
    const [code, reason] = await clientClosed;
    assert.equal(code, 1005);
    assert.equal(String(reason), '');
    assert.equal((await serverClosed)[0], 1005);
  });

  it('keep-alive pings are off on hybi-00 connections, and no extension codec is used', () => {
    const options = { role: 'server' as const, maxMessageSize: 10, pingInterval: 1000, idleTimeout: 0, closeTimeout: 100, codecs: [] };
    assert.equal(versionDriverOptions(options, 'hybi-13'), options);
    const legacy = versionDriverOptions(options, 'hybi-00');
    assert.equal(legacy.pingInterval, 0);
    assert.equal(legacy.version, 'hybi-00');
    assert.equal(legacy.codecs, undefined);
  });

  it('a server with pingInterval sends no ping to a hybi-00 client; idleTimeout still closes it, with the closing frame', { timeout: 5000 }, async (t) => {
    const { server, port } = await serve(t, { legacy: { hybi00: true }, pingInterval: 5, idleTimeout: 40 }, echo);
    const peer = await rawPeer(t, port);
    const connected = once(server, 'connection');
    peer.socket.write(hybi00Head(port) + KEY3);
    const [ws] = (await connected) as [WebSocket];
    const closed = once(ws, 'close');
    // Silent past several ping intervals: the idle bound ends it with the closing frame, which
    // the peer answers.
    await peer.until(Buffer.from([0xff, 0x00]));
    peer.socket.write(Buffer.from([0xff, 0x00]));
    await closed;
    const afterAnswer = peer.received.subarray(peer.received.indexOf(ANSWER) + 16);
    assert.deepEqual([...afterAnswer], [0xff, 0x00]);
  });
});

describe('connect(url, { version: \'hybi-00\' })', () => {
  it('refuses an unknown version before dialing', async () => {
    await assert.rejects(connect('ws://127.0.0.1:1/', { version: 'hixie-75' as never }), InvalidArgumentError);
  });

  it('fails with a HandshakeError when the server answers RFC 6455 only (426)', async (t) => {
    const { port } = await serve(t, {}, echo);
    await assert.rejects(connect(`ws://127.0.0.1:${port}/demo`, { version: 'hybi-00' }), (e: unknown) => (e as { status?: number }).status === 426);
  });

  it('fails when the 16-byte answer is wrong', async (t) => {
    const { createServer } = await import('node:net');
    const liar = createServer((c) => {
      c.on('error', () => {});
      c.once('data', (d) => {
        const host = /Host: (\S+)/.exec(d.toString('latin1'))![1];
        const origin = /Origin: (\S+)/.exec(d.toString('latin1'))![1];
        c.write(`HTTP/1.1 101 WebSocket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Origin: ${origin}\r\nSec-WebSocket-Location: ws://${host}/demo\r\n\r\n${ANSWER}`);
      });
    });
    liar.listen(0, '127.0.0.1');
    await once(liar, 'listening');
    t.after(() => liar.close());
    const port = (liar.address() as { port: number }).port;
    await assert.rejects(connect(`ws://127.0.0.1:${port}/demo`, { version: 'hybi-00' }), /challenge answer is wrong/);
  });
});

// Ported onto the redesigned main, where connect() gained proxies (issue 21): the hybi-00 client
// dials through the same route, and refuses an agent, which cannot carry the draft's handshake.
describe('hybi-00 client: proxies', () => {
  it("connect(url, { version: 'hybi-00', proxy }) goes through the proxy's CONNECT tunnel", async (t) => {
    const { port } = await serve(t, { legacy: { hybi00: true } }, echo);
    const heads: string[] = [];
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      sockets.add(client);
      client.on('error', () => {});
      client.once('data', (chunk: Buffer) => {
        const text = chunk.toString('latin1');
        heads.push(text.slice(0, text.indexOf('\r\n')));
        const [host, p] = text.split(' ')[1]!.split(':');
        const upstream = netConnect(Number(p), host!, () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          client.pipe(upstream).pipe(client);
        });
        sockets.add(upstream);
        upstream.on('error', () => client.destroy());
      });
    });
    proxy.listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    t.after(() => {
      for (const s of sockets) s.destroy();
      proxy.close();
    });
    const proxyPort = (proxy.address() as AddressInfo).port;
    const ws = await connect(`ws://127.0.0.1:${port}/demo`, { version: 'hybi-00', proxy: `http://127.0.0.1:${proxyPort}` });
    t.after(() => ws.terminate());
    assert.deepEqual(heads, [`CONNECT 127.0.0.1:${port} HTTP/1.1`]);
    assert.equal(ws.version, 'hybi-00');
    await ws.send('via proxy');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'echo:via proxy' });
  });

  it("version 'hybi-00' with an agent is an InvalidArgumentError before any network", async () => {
    await assert.rejects(connect('ws://127.0.0.1:1/demo', { version: 'hybi-00', agent: new Agent() }), (e: unknown) => e instanceof InvalidArgumentError && /agent/.test((e as Error).message));
  });
});
