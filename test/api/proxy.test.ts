import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { WebSocketServer, type WebSocket as WsSocket } from 'ws';
import { connect, type ConnectOptions } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { ConnectError, HandshakeError, ProxyAuthError, ProxyError } from '../../src/node/errors.js';
import { selfSignedCertificate } from '../fixtures/cert.js';
import { freePort, startMicrosocks, startTinyproxy, type ProxyProcess } from '../fixtures/proxies.js';
import { activeResources, leftover } from '../fixtures/resources.js';

/** Sends a text and returns the echo: the connection really reaches the server. */
async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  await ws.send(text);
  const reply = await ws.receive();
  assert.equal(reply.type, 'text');
  return reply.data as string;
}

/** An echo server (ws, an independent peer) on 127.0.0.1; with `tls`, over an https server. */
interface EchoServer {
  port: number;
  urls: string[];
  close(): Promise<void>;
}

async function startEcho(tls?: { cert: string; key: string }): Promise<EchoServer> {
  let https: HttpsServer | undefined;
  let wss: WebSocketServer;
  if (tls) {
    https = createHttpsServer(tls);
    wss = new WebSocketServer({ server: https });
    await new Promise<void>((resolve) => https!.listen(0, '127.0.0.1', resolve));
  } else {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
  }
  const urls: string[] = [];
  wss.on('connection', (ws: WsSocket, req) => {
    urls.push(req.url ?? '');
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const port = ((https ?? wss).address() as { port: number }).port;
  return {
    port,
    urls,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (https) {
        https.closeAllConnections();
        await new Promise<void>((resolve) => https!.close(() => resolve()));
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// An in-test HTTP proxy whose behaviour each test picks: a CONNECT tunnel (optionally over TLS),
// a fixed refusal, silence, or an endless head.

type Behaviour = { kind: 'tunnel' } | { kind: 'answer'; text: string } | { kind: 'silent' } | { kind: 'endless' };

interface TestProxy {
  port: number;
  /** The CONNECT heads received, as text. */
  requests: string[];
  behaviour: Behaviour;
  close(): Promise<void>;
}

async function startTestProxy(tls?: { cert: string; key: string }): Promise<TestProxy> {
  const sockets = new Set<Socket>();
  const proxy: TestProxy = { port: 0, requests: [], behaviour: { kind: 'tunnel' }, close: async () => {} };
  const onConnection = (client: Socket): void => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      proxy.requests.push(head.slice(0, end));
      const behaviour = proxy.behaviour;
      if (behaviour.kind === 'answer') {
        client.end(behaviour.text);
      } else if (behaviour.kind === 'endless') {
        // A status line, then header lines without end: the client must stop reading at its bound.
        client.write('HTTP/1.1 200 OK\r\n');
        const line = `X-Filler: ${'x'.repeat(1000)}\r\n`;
        const pump = (): void => {
          while (!client.destroyed && client.write(line));
          if (!client.destroyed) client.once('drain', pump);
        };
        pump();
      } else if (behaviour.kind === 'tunnel') {
        const authority = head.split(' ')[1]!;
        const colon = authority.lastIndexOf(':');
        // Every test server listens on 127.0.0.1; 'localhost' is mapped there, whatever the resolver's order.
        const name = authority.slice(0, colon).replace(/^\[|\]$/g, '');
        const upstream = netConnect(Number(authority.slice(colon + 1)), name === 'localhost' ? '127.0.0.1' : name);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        upstream.once('connect', () => {
          client.write('HTTP/1.1 200 Connection established\r\n\r\n');
          const rest = head.slice(end + 4);
          if (rest !== '') upstream.write(Buffer.from(rest, 'latin1'));
          client.pipe(upstream).pipe(client);
        });
        client.on('close', () => upstream.destroy());
      }
      // 'silent': read the request and never answer.
    };
    client.on('data', onData);
  };
  const server: Server = tls ? createTlsServer(tls, onConnection) : createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as { port: number }).port;
  proxy.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}

// ---------------------------------------------------------------------------------------------

describe('connect({ proxy }) through real proxies', () => {
  const { cert, key } = selfSignedCertificate();
  let echo: EchoServer;
  let secureEcho: EchoServer;
  let open: ProxyProcess;
  let guarded: ProxyProcess;
  let socks: ProxyProcess;

  before(async () => {
    echo = await startEcho();
    secureEcho = await startEcho({ cert, key });
    [open, guarded, socks] = await Promise.all([
      startTinyproxy([echo.port, secureEcho.port]),
      startTinyproxy([echo.port, secureEcho.port], { user: 'alice', password: 'pw0rd' }),
      startMicrosocks({ user: 'bob', password: 's3cret' }),
    ]);
  });
  after(async () => {
    await Promise.all([open?.stop(), guarded?.stop(), socks?.stop(), echo?.close(), secureEcho?.close()]);
  });

  it('ws: through tinyproxy by CONNECT, and tinyproxy logged the tunnel', async () => {
    const ws = await connect(`ws://127.0.0.1:${echo.port}/via-tinyproxy`, { proxy: `http://127.0.0.1:${open.port}` });
    assert.equal(await roundTrip(ws, 'hello through a proxy'), 'hello through a proxy');
    await ws.close();
    assert.match(open.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${echo.port} HTTP/1\\.1`));
    assert.ok(echo.urls.includes('/via-tinyproxy'));
  });

  it('wss: through tinyproxy: the server\'s TLS runs inside the tunnel', async () => {
    const ws = await connect(`wss://127.0.0.1:${secureEcho.port}/tls-inside`, { proxy: `http://127.0.0.1:${open.port}`, tls: { ca: cert } });
    assert.equal(await roundTrip(ws, 'secret'), 'secret');
    await ws.close();
    assert.match(open.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${secureEcho.port} HTTP/1\\.1`));
  });

  it('Basic credentials from the proxy URL, percent-decoded, satisfy tinyproxy\'s BasicAuth', async () => {
    // %70 is 'p': the URL's password is decoded before it is sent.
    const ws = await connect(`ws://127.0.0.1:${echo.port}/auth`, { proxy: `http://alice:%70w0rd@127.0.0.1:${guarded.port}` });
    assert.equal(await roundTrip(ws, 'authorised'), 'authorised');
    await ws.close();
  });

  it('credentials in proxyHeaders work too', async () => {
    const ws = await connect(`ws://127.0.0.1:${echo.port}/auth-header`, {
      proxy: `http://127.0.0.1:${guarded.port}`,
      proxyHeaders: { 'Proxy-Authorization': `Basic ${Buffer.from('alice:pw0rd').toString('base64')}` },
    });
    assert.equal(await roundTrip(ws, 'by header'), 'by header');
    await ws.close();
  });

  it('tinyproxy without credentials, or with wrong ones: ProxyAuthError with its Proxy-Authenticate challenge', async () => {
    const baseline = activeResources();
    // tinyproxy answers a missing Proxy-Authorization with 407, a wrong one with 401.
    for (const [proxy, status] of [[`http://127.0.0.1:${guarded.port}`, 407], [`http://alice:wrong@127.0.0.1:${guarded.port}`, 401]] as const) {
      const error = await connect(`ws://127.0.0.1:${echo.port}/`, { proxy }).then(
        () => assert.fail('connected without valid credentials'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ProxyAuthError, String(error));
      assert.equal(error.code, 'ERR_PROXY_AUTH');
      assert.equal(error.status, status);
      assert.match(error.proxyAuthenticate, /^Basic realm="Tinyproxy"/);
      assert.equal(error.proxy, `http://127.0.0.1:${guarded.port}`);
      assert.doesNotMatch(error.message, /wrong/, 'the password never appears in a message');
    }
    assert.deepEqual(await leftover(baseline), []);
  });

  it('SOCKS5 with a user name and password (RFC 1929) through microsocks: socks5h: and socks5:', async () => {
    for (const scheme of ['socks5h', 'socks5']) {
      const ws = await connect(`ws://127.0.0.1:${echo.port}/${scheme}`, { proxy: `${scheme}://bob:s3cret@127.0.0.1:${socks.port}` });
      assert.equal(await roundTrip(ws, scheme), scheme);
      await ws.close();
    }
    const ws = await connect(`wss://127.0.0.1:${secureEcho.port}/socks-tls`, { proxy: `socks5h://bob:s3cret@127.0.0.1:${socks.port}`, tls: { ca: cert } });
    assert.equal(await roundTrip(ws, 'tls in socks'), 'tls in socks');
    await ws.close();
    assert.ok(echo.urls.includes('/socks5h') && echo.urls.includes('/socks5'));
  });

  it('microsocks refuses a wrong password and a client with none: ProxyAuthError', async () => {
    const baseline = activeResources();
    for (const proxy of [`socks5h://bob:nope@127.0.0.1:${socks.port}`, `socks5h://127.0.0.1:${socks.port}`]) {
      await assert.rejects(connect(`ws://127.0.0.1:${echo.port}/`, { proxy }), (e: unknown) => {
        assert.ok(e instanceof ProxyAuthError, String(e));
        assert.equal(e.code, 'ERR_PROXY_AUTH');
        return true;
      });
    }
    // A name SOCKS5 cannot carry (over 255 bytes) fails before the request, and leaves nothing open.
    const long = Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.');
    await assert.rejects(connect(`ws://${long}/`, { proxy: `socks5h://bob:s3cret@127.0.0.1:${socks.port}` }), (e: unknown) => {
      assert.ok(e instanceof ProxyError && /too long for SOCKS5/.test(e.message), String(e));
      return true;
    });
    assert.deepEqual(await leftover(baseline), []);
  });

  it('an http.Agent (https-proxy-agent) carries ws: and wss: through tinyproxy', async () => {
    const agent = new HttpsProxyAgent(`http://127.0.0.1:${open.port}`);
    const before = open.log().split('\n').filter((l) => l.includes('CONNECT 127.0.0.1')).length;
    const ws = await connect(`ws://127.0.0.1:${echo.port}/agent`, { agent });
    assert.equal(await roundTrip(ws, 'agent'), 'agent');
    await ws.close();
    const secure = await connect(`wss://127.0.0.1:${secureEcho.port}/agent-tls`, { agent, tls: { ca: cert } });
    assert.equal(await roundTrip(secure, 'agent tls'), 'agent tls');
    await secure.close();
    const after = open.log().split('\n').filter((l) => l.includes('CONNECT 127.0.0.1')).length;
    assert.equal(after - before, 2, 'both went through the proxy');
    agent.destroy();
  });

  it('proxy: \'env\' reads ws_proxy, and no_proxy sends 127.0.0.1 direct', async () => {
    const saved = { ws_proxy: process.env['ws_proxy'], no_proxy: process.env['no_proxy'], NO_PROXY: process.env['NO_PROXY'] };
    const dead = await freePort();
    try {
      process.env['ws_proxy'] = `http://127.0.0.1:${open.port}`;
      delete process.env['no_proxy'];
      delete process.env['NO_PROXY'];
      const ws = await connect(`ws://127.0.0.1:${echo.port}/env`, { proxy: 'env' });
      assert.equal(await roundTrip(ws, 'env'), 'env');
      await ws.close();
      assert.match(open.log(), /CONNECT 127\.0\.0\.1:\d+ HTTP/);
      // Off unless asked: the same environment, no proxy option, a dead proxy: direct anyway.
      process.env['ws_proxy'] = `http://127.0.0.1:${dead}`;
      const direct = await connect(`ws://127.0.0.1:${echo.port}/no-option`);
      await direct.close();
      await assert.rejects(connect(`ws://127.0.0.1:${echo.port}/`, { proxy: 'env', handshakeTimeout: 2000 }), (e: unknown) => {
        assert.ok(e instanceof ConnectError && e.port === dead && /proxy/.test(e.message), String(e));
        return true;
      });
      process.env['no_proxy'] = 'example.com, 127.0.0.0/8';
      const bypass = await connect(`ws://127.0.0.1:${echo.port}/bypass`, { proxy: 'env' });
      assert.equal(await roundTrip(bypass, 'direct'), 'direct');
      await bypass.close();
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe('connect({ proxy }) against proxies that misbehave', () => {
  const { cert, key } = selfSignedCertificate();
  let echo: EchoServer;
  let secureEcho: EchoServer;
  let proxy: TestProxy;
  let tlsProxy: TestProxy;

  before(async () => {
    echo = await startEcho();
    secureEcho = await startEcho({ cert, key });
    proxy = await startTestProxy();
    tlsProxy = await startTestProxy({ cert, key });
  });
  after(async () => {
    await Promise.all([echo?.close(), secureEcho?.close(), proxy?.close(), tlsProxy?.close()]);
  });

  it('wss: through an https: proxy: TLS to the proxy, then the server\'s TLS inside', async () => {
    tlsProxy.behaviour = { kind: 'tunnel' };
    const ws = await connect(`wss://localhost:${secureEcho.port}/double-tls`, {
      proxy: `https://u:p@127.0.0.1:${tlsProxy.port}`,
      proxyTls: { ca: cert },
      proxyHeaders: { 'X-Trace': 'abc' },
      tls: { ca: cert },
    });
    assert.equal(await roundTrip(ws, 'twice encrypted'), 'twice encrypted');
    await ws.close();
    const request = tlsProxy.requests.at(-1)!;
    assert.match(request, new RegExp(`^CONNECT localhost:${secureEcho.port} HTTP/1\\.1\r\nHost: localhost:${secureEcho.port}\r\n`));
    assert.match(request, new RegExp(`\r\nProxy-Authorization: Basic ${Buffer.from('u:p').toString('base64')}(\r\n|$)`));
    assert.match(request, /\r\nX-Trace: abc(\r\n|$)/);
  });

  it('an https: proxy whose certificate is not trusted fails as a ConnectError naming the proxy', async () => {
    await assert.rejects(connect(`ws://127.0.0.1:${echo.port}/`, { proxy: `https://127.0.0.1:${tlsProxy.port}` }), (e: unknown) => {
      assert.ok(e instanceof ConnectError && e.port === tlsProxy.port && /proxy https:\/\/127\.0\.0\.1/.test(e.message), String(e));
      return true;
    });
  });

  it('a 407 is a ProxyAuthError carrying Proxy-Authenticate; nothing is left behind', async () => {
    const baseline = activeResources();
    proxy.behaviour = {
      kind: 'answer',
      text: 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nProxy-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n',
    };
    await assert.rejects(connect(`ws://127.0.0.1:${echo.port}/`, { proxy: `http://127.0.0.1:${proxy.port}` }), (e: unknown) => {
      assert.ok(e instanceof ProxyAuthError, String(e));
      assert.equal(e.status, 407);
      assert.equal(e.proxyAuthenticate, 'Basic realm="corp", Negotiate');
      return true;
    });
    assert.deepEqual(await leftover(baseline), []);
  });

  it('403 and 502 are ProxyErrors with the status, and are not retried as server failures', async () => {
    for (const status of [403, 502]) {
      proxy.behaviour = { kind: 'answer', text: `HTTP/1.1 ${status} Nope\r\nContent-Length: 4\r\n\r\nnope` };
      const before = proxy.requests.length;
      await assert.rejects(connect(`ws://127.0.0.1:${echo.port}/`, { proxy: `http://127.0.0.1:${proxy.port}`, retry: { attempts: 3, minDelay: 1, maxDelay: 1 } }), (e: unknown) => {
        assert.ok(e instanceof ProxyError, String(e));
        assert.equal(e.code, 'ERR_PROXY');
        assert.equal(e.status, status);
        assert.match(e.message, new RegExp(`${status} Nope`));
        return true;
      });
      assert.equal(proxy.requests.length - before, 1);
    }
  });

  it('a proxy that never answers is bounded by handshakeTimeout: ConnectError with timedOut', async () => {
    const baseline = activeResources();
    proxy.behaviour = { kind: 'silent' };
    const started = Date.now();
    await assert.rejects(connect(`ws://127.0.0.1:${echo.port}/`, { proxy: `http://127.0.0.1:${proxy.port}`, handshakeTimeout: 300 }), (e: unknown) => {
      assert.ok(e instanceof ConnectError && e.timedOut, String(e));
      return true;
    });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3000, `took ${elapsed} ms`);
    assert.deepEqual(await leftover(baseline), []);
  });

  it('an endless answer head stops at its bound: ProxyError, quickly', async () => {
    proxy.behaviour = { kind: 'endless' };
    await assert.rejects(connect(`ws://127.0.0.1:${echo.port}/`, { proxy: `http://127.0.0.1:${proxy.port}`, handshakeTimeout: 5000 }), (e: unknown) => {
      assert.ok(e instanceof ProxyError && e.status === 0, String(e));
      assert.match(e.message, /no usable answer/);
      return true;
    });
  });
});

describe('proxy options are checked before any network', () => {
  const cases: Array<[string, ConnectOptions, RegExp]> = [
    ['an unknown scheme', { proxy: 'ftp://127.0.0.1:21' }, /unsupported proxy scheme 'ftp'/],
    ['a path', { proxy: 'http://127.0.0.1:3128/path' }, /without a path/],
    ['not a URL', { proxy: 42 as unknown as string }, /proxy must be/],
    ['proxy and agent', { proxy: 'http://127.0.0.1:1', agent: new HttpsProxyAgent('http://127.0.0.1:1') }, /not both/],
    ['a header injection', { proxy: 'http://127.0.0.1:1', proxyHeaders: { 'X-A': 'b\r\nEvil: 1' } }, /without CR, LF/],
    ['a bad header name', { proxy: 'http://127.0.0.1:1', proxyHeaders: { 'X A': 'b' } }, /not a header name/],
    ['an unknown proxyTls name', { proxy: 'https://127.0.0.1:1', proxyTls: { cafile: 'x' } as never }, /unknown option for proxyTls: 'cafile'/],
    ['an agent that is not one', { agent: {} as never }, /agent must be an http\.Agent/],
    ['a SOCKS4 password', { proxy: 'socks4://id:pw@127.0.0.1:1080' }, /no password/],
  ];
  for (const [what, options, message] of cases) {
    it(what, async () => {
      await assert.rejects(connect('ws://127.0.0.1:9/', options), (e: unknown) => {
        assert.ok(e instanceof InvalidArgumentError, String(e));
        assert.match(e.message, message);
        assert.doesNotMatch(e.message, /pw/);
        return true;
      });
    });
  }
});

describe('agent refusals', () => {
  it('the agent\'s proxy answering 407 is a ProxyAuthError; a silent one is bounded by handshakeTimeout', async () => {
    const proxy = await startTestProxy();
    const agent = new HttpsProxyAgent(`http://user:secret@127.0.0.1:${proxy.port}`);
    try {
      const baseline = activeResources();
      proxy.behaviour = { kind: 'answer', text: 'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="agent"\r\nContent-Length: 0\r\n\r\n' };
      await assert.rejects(connect('ws://127.0.0.1:9/', { agent }), (e: unknown) => {
        assert.ok(e instanceof ProxyAuthError, String(e));
        assert.equal(e.proxyAuthenticate, 'Basic realm="agent"');
        assert.equal(e.proxy, `http://127.0.0.1:${proxy.port}`);
        assert.doesNotMatch(e.message, /secret/);
        return true;
      });
      proxy.behaviour = { kind: 'silent' };
      const started = Date.now();
      await assert.rejects(connect('ws://127.0.0.1:9/', { agent, handshakeTimeout: 300 }), (e: unknown) => {
        assert.ok(e instanceof ConnectError && e.timedOut, String(e));
        return true;
      });
      assert.ok(Date.now() - started < 3000);
      assert.deepEqual(await leftover(baseline), []);
    } finally {
      agent.destroy();
      await proxy.close();
    }
  });

  it('a server refusing through an agent is a HandshakeError with its status and body', async () => {
    const proxy = await startTestProxy();
    const refusing = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden'));
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const port = (refusing.address() as { port: number }).port;
    const agent = new HttpsProxyAgent(`http://127.0.0.1:${proxy.port}`);
    try {
      await assert.rejects(connect(`ws://127.0.0.1:${port}/`, { agent }), (e: unknown) => {
        assert.ok(e instanceof HandshakeError, String(e));
        assert.equal(e.status, 403);
        assert.equal(e.body, 'forbidden');
        return true;
      });
    } finally {
      agent.destroy();
      await proxy.close();
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });
});
