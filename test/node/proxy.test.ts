import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { ConnectError, ProxyAuthError, ProxyError } from '../../src/node/errors.js';
import { bypassesProxy, proxyFromEnv, snapshotProxyEnv } from '../../src/node/proxy/env.js';
import { connectRequest, connectTunnel, MAX_PROXY_HEAD_SIZE } from '../../src/node/proxy/http-connect.js';
import { parseProxyURL, type ProxyURL } from '../../src/node/proxy/proxy-url.js';
import { dialRoute } from '../../src/node/proxy/route.js';
import { socks4Tunnel, socks5Tunnel } from '../../src/node/proxy/socks.js';

describe('no_proxy', () => {
  // [no_proxy, host, port, bypassed]
  const matrix: Array<[string, string, number, boolean]> = [
    ['*', 'anything.example', 443, true],
    ['', 'example.com', 443, false],
    // A domain: itself and every name under it, without case or trailing dot.
    ['example.com', 'example.com', 443, true],
    ['example.com', 'WS.Example.COM.', 443, true],
    ['example.com', 'notexample.com', 443, false],
    ['example.com', 'example.com.evil.net', 443, false],
    // A leading dot or *.: only names under it.
    ['.example.com', 'example.com', 443, false],
    ['.example.com', 'a.b.example.com', 443, true],
    ['*.example.com', 'a.example.com', 443, true],
    ['*.example.com', 'example.com', 443, false],
    // Lists: commas and white space; empty entries ignored.
    ['foo.test, ,bar.test  baz.test', 'baz.test', 80, true],
    ['foo.test,bar.test', 'qux.test', 80, false],
    // host:port
    ['example.com:8443', 'example.com', 8443, true],
    ['example.com:8443', 'example.com', 443, false],
    ['example.com:bad', 'example.com', 443, false],
    // IPv4 literals and CIDR blocks; names are never resolved to match them.
    ['10.1.2.3', '10.1.2.3', 80, true],
    ['10.1.2.3', '10.1.2.4', 80, false],
    ['10.0.0.0/8', '10.200.3.4', 80, true],
    ['10.0.0.0/8', '11.0.0.1', 80, false],
    ['192.168.1.0/24', '192.168.1.77', 80, true],
    ['192.168.1.0/24', '192.168.2.1', 80, false],
    ['0.0.0.0/0', '8.8.8.8', 80, true],
    ['10.0.0.0/8', 'ten.example', 80, false],
    ['10.0.0.0/33', '10.0.0.1', 80, false],
    ['127.0.0.1:9000', '127.0.0.1', 9000, true],
    ['127.0.0.1:9000', '127.0.0.1', 9001, false],
    // IPv6: bare, bracketed, with a port, any spelling of the same address, blocks.
    ['::1', '::1', 443, true],
    ['[::1]', '::1', 443, true],
    ['[::1]:8080', '::1', 8080, true],
    ['[::1]:8080', '::1', 8081, false],
    ['2001:db8::1', '2001:0db8:0:0:0:0:0:1', 443, true],
    ['2001:db8::/32', '2001:db8:ffff::5', 443, true],
    ['2001:db8::/32', '2001:db9::5', 443, false],
    ['[fd00::]/8', 'fd12::1', 443, true],
    ['fd00::/8', '10.0.0.1', 443, false],
    // An IPv4-mapped IPv6 address is its IPv4 address.
    ['10.0.0.0/8', '::ffff:10.1.1.1', 443, true],
    ['::1', 'localhost', 443, false],
  ];
  for (const [list, host, port, expected] of matrix) {
    it(`${JSON.stringify(list)} ${expected ? 'exempts' : 'does not exempt'} ${host}:${port}`, () => {
      assert.equal(bypassesProxy(host, port, list), expected);
    });
  }
});

describe('proxyFromEnv', () => {
  const wss = { secure: true, hostname: 'api.example.com', port: 443 };
  const ws = { secure: false, hostname: 'api.example.com', port: 80 };

  it('is undefined when nothing is set', () => {
    assert.equal(proxyFromEnv(wss, {}), undefined);
  });

  it('wss: takes wss_proxy before https_proxy before all_proxy; never http_proxy', () => {
    const env = { wss_proxy: 'http://a:1', https_proxy: 'http://b:1', all_proxy: 'http://c:1', http_proxy: 'http://d:1' };
    assert.deepEqual(proxyFromEnv(wss, env), { url: 'http://a:1', variable: 'wss_proxy' });
    assert.deepEqual(proxyFromEnv(wss, { ...env, wss_proxy: undefined }), { url: 'http://b:1', variable: 'https_proxy' });
    assert.deepEqual(proxyFromEnv(wss, { all_proxy: 'http://c:1', http_proxy: 'http://d:1' }), { url: 'http://c:1', variable: 'all_proxy' });
    assert.equal(proxyFromEnv(wss, { http_proxy: 'http://d:1' }), undefined);
  });

  it('ws: takes ws_proxy before http_proxy before all_proxy; never https_proxy', () => {
    const env = { ws_proxy: 'http://a:1', http_proxy: 'http://b:1', all_proxy: 'http://c:1', https_proxy: 'http://d:1' };
    assert.equal(proxyFromEnv(ws, env)?.variable, 'ws_proxy');
    assert.equal(proxyFromEnv(ws, { ...env, ws_proxy: undefined })?.variable, 'http_proxy');
    assert.equal(proxyFromEnv(ws, { all_proxy: 'socks5h://c:1' })?.url, 'socks5h://c:1');
    assert.equal(proxyFromEnv(ws, { https_proxy: 'http://d:1' }), undefined);
  });

  it('reads the lower-case name before the upper-case one; an empty value is unset', () => {
    assert.equal(proxyFromEnv(wss, { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' })?.url, 'http://lower:1');
    assert.equal(proxyFromEnv(wss, { HTTPS_PROXY: 'http://upper:1' })?.variable, 'HTTPS_PROXY');
    assert.equal(proxyFromEnv(wss, { https_proxy: '  ', HTTPS_PROXY: 'http://upper:1' })?.url, 'http://upper:1');
    // no_proxy too: the lower-case list is the one read when both are set.
    assert.equal(proxyFromEnv(wss, { https_proxy: 'http://p:1', no_proxy: 'other.com', NO_PROXY: 'example.com' })?.url, 'http://p:1');
    assert.equal(proxyFromEnv(wss, { https_proxy: 'http://p:1', NO_PROXY: 'example.com' }), undefined);
  });

  it('no_proxy wins over every proxy variable', () => {
    assert.equal(proxyFromEnv(wss, { wss_proxy: 'http://p:1', no_proxy: '.example.com' }), undefined);
    assert.equal(proxyFromEnv(ws, { all_proxy: 'http://p:1', no_proxy: '*' }), undefined);
    assert.equal(proxyFromEnv(ws, { all_proxy: 'http://p:1', no_proxy: 'api.example.com:443' })?.url, 'http://p:1');
  });

  it('under CGI the upper-case HTTP_PROXY is ignored (httpoxy), the lower-case one is not', () => {
    assert.equal(proxyFromEnv(ws, { HTTP_PROXY: 'http://evil:1', REQUEST_METHOD: 'GET' }), undefined);
    assert.equal(proxyFromEnv(ws, { HTTP_PROXY: 'http://p:1' })?.url, 'http://p:1');
    assert.equal(proxyFromEnv(ws, { http_proxy: 'http://p:1', REQUEST_METHOD: 'GET' })?.url, 'http://p:1');
  });

  it('snapshotProxyEnv copies only the proxy variables, in both cases', () => {
    const snapshot = snapshotProxyEnv({ HTTPS_PROXY: 'x', no_proxy: 'y', PATH: '/bin', HOME: '/root' });
    assert.deepEqual(snapshot, { HTTPS_PROXY: 'x', no_proxy: 'y' });
  });
});

describe('parseProxyURL', () => {
  it('reads scheme, host, port and percent-decoded credentials, and keeps them out of href', () => {
    const p = parseProxyURL('http://us%40er:p%3Ass@Proxy.Example:3128');
    assert.deepEqual(p, { protocol: 'http', hostname: 'proxy.example', port: 3128, username: 'us@er', password: 'p:ss', href: 'http://proxy.example:3128' });
  });

  it('defaults: 80 for http, 443 for https, 1080 for SOCKS; no scheme means http', () => {
    assert.equal(parseProxyURL('http://p').port, 80);
    assert.equal(parseProxyURL('https://p').port, 443);
    for (const scheme of ['socks5', 'socks5h', 'socks4', 'socks4a']) assert.equal(parseProxyURL(`${scheme}://p`).port, 1080);
    assert.deepEqual([parseProxyURL('proxy.local:3128').protocol, parseProxyURL('proxy.local:3128').port], ['http', 3128]);
  });

  it('IPv6 hosts lose their brackets; href keeps them', () => {
    const p = parseProxyURL('socks5h://[::1]:1080');
    assert.equal(p.hostname, '::1');
    assert.equal(p.href, 'socks5h://[::1]:1080');
  });

  it('refuses other schemes, paths, and overlong SOCKS5 credentials, without printing a password', () => {
    assert.throws(() => parseProxyURL('ftp://p'), InvalidArgumentError);
    assert.throws(() => parseProxyURL('http://p/x'), InvalidArgumentError);
    assert.throws(() => parseProxyURL(`socks5://u:${'x'.repeat(256)}@p`), /255 bytes/);
    assert.throws(() => parseProxyURL('http://user:hunter2@[bad'), (e: unknown) => e instanceof InvalidArgumentError && !e.message.includes('hunter2'));
  });
});

const httpProxy: ProxyURL = parseProxyURL('http://127.0.0.1:1');

describe('connectRequest', () => {
  it('names the authority (IPv6 in brackets) twice and adds Basic credentials from the URL', () => {
    const proxy = parseProxyURL('http://al%20ice:pw@127.0.0.1:1');
    assert.equal(
      connectRequest({ proxy, host: '::1', port: 8080, headers: { 'X-A': 'b' } }),
      `CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\nProxy-Authorization: Basic ${Buffer.from('al ice:pw').toString('base64')}\r\nX-A: b\r\n\r\n`,
    );
  });

  it('a Proxy-Authorization in the headers replaces the URL\'s', () => {
    const proxy = parseProxyURL('http://u:p@127.0.0.1:1');
    const text = connectRequest({ proxy, host: 'h', port: 1, headers: { 'proxy-authorization': 'Bearer t' } });
    assert.equal(text.match(/proxy-authorization/gi)?.length, 1);
    assert.match(text, /proxy-authorization: Bearer t/);
  });
});

/** A loopback socket pair: `client` for the code under test, `peer` playing the proxy. */
async function socketPair(): Promise<{ client: Socket; peer: Socket; close(): Promise<void> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = netConnect((server.address() as { port: number }).port, '127.0.0.1');
  const [peer] = (await once(server, 'connection')) as [Socket];
  await once(client, 'connect');
  return {
    client,
    peer,
    async close() {
      client.destroy();
      peer.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Reads exactly n bytes from a socket in flowing mode. */
async function readN(socket: Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let size = 0;
  while (size < n) {
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    parts.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(parts);
}

/** Everything left readable on a socket after the tunnel code is done with it, until `n` bytes. */
function readRest(socket: Socket, n: number): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (text.length >= n) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
}

describe('connectTunnel on the wire', () => {
  it('bytes the proxy sent after its 200 head, in the same write, are the first the caller reads', async () => {
    const pair = await socketPair();
    try {
      pair.peer.once('data', () => pair.peer.write('HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\nSERVER-SPOKE-FIRST'));
      await connectTunnel(pair.client, { proxy: httpProxy, host: 'example.com', port: 443, headers: {} });
      assert.equal(await readRest(pair.client, 18), 'SERVER-SPOKE-FIRST');
    } finally {
      await pair.close();
    }
  });

  it('a head larger than MAX_PROXY_HEAD_SIZE is a ProxyError, and the socket is destroyed', async () => {
    const pair = await socketPair();
    try {
      pair.peer.once('data', () => pair.peer.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_PROXY_HEAD_SIZE)}\r\n\r\n`));
      pair.peer.on('error', () => {});
      await assert.rejects(connectTunnel(pair.client, { proxy: httpProxy, host: 'h', port: 1, headers: {} }), ProxyError);
      assert.ok(pair.client.destroyed);
    } finally {
      await pair.close();
    }
  });

  it('a proxy that closes before answering is a ProxyError', async () => {
    const pair = await socketPair();
    try {
      pair.peer.once('data', () => pair.peer.end());
      await assert.rejects(connectTunnel(pair.client, { proxy: httpProxy, host: 'h', port: 1, headers: {} }), ProxyError);
    } finally {
      await pair.close();
    }
  });
});

describe('SOCKS on the wire', () => {
  const socks5h = parseProxyURL('socks5h://user:pass@127.0.0.1:1');

  it('socks5h: sends the name (ATYP 3) after RFC 1929 credentials; bytes after the reply are kept', async () => {
    const pair = await socketPair();
    try {
      const tunnel = socks5Tunnel(pair.client, { proxy: socks5h, host: 'internal.example', port: 8080 });
      assert.deepEqual([...(await readN(pair.peer, 4))], [5, 2, 0, 2]);
      pair.peer.write(Buffer.from([5, 2]));
      const auth = await readN(pair.peer, 1 + 1 + 4 + 1 + 4);
      assert.deepEqual([...auth], [1, 4, ...Buffer.from('user'), 4, ...Buffer.from('pass')]);
      pair.peer.write(Buffer.from([1, 0]));
      const name = Buffer.from('internal.example');
      const request = await readN(pair.peer, 5 + name.length + 2);
      assert.deepEqual([...request], [5, 1, 0, 3, name.length, ...name, 0x1f, 0x90]);
      // A reply with a bound IPv6 address, and the server's first bytes in the same write.
      pair.peer.write(Buffer.concat([Buffer.from([5, 0, 0, 4]), Buffer.alloc(16), Buffer.from([0, 80]), Buffer.from('HELLO')]));
      await tunnel;
      assert.equal(await readRest(pair.client, 5), 'HELLO');
    } finally {
      await pair.close();
    }
  });

  it('socks5: sends an address, resolved here (an IPv6 literal as ATYP 4)', async () => {
    const pair = await socketPair();
    try {
      const tunnel = socks5Tunnel(pair.client, { proxy: parseProxyURL('socks5://127.0.0.1:1'), host: '2001:db8::1', port: 443 });
      assert.deepEqual([...(await readN(pair.peer, 3))], [5, 1, 0]);
      pair.peer.write(Buffer.from([5, 0]));
      const request = await readN(pair.peer, 4 + 16 + 2);
      assert.deepEqual([...request.subarray(0, 4)], [5, 1, 0, 4]);
      assert.equal(request.subarray(4, 20).toString('hex'), '20010db8000000000000000000000001');
      pair.peer.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
      await tunnel;
    } finally {
      await pair.close();
    }
  });

  it('SOCKS5 reply codes are ProxyErrors with the code; refused credentials a ProxyAuthError', async () => {
    for (const [script, check] of [
      [[Buffer.from([5, 0]), Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])], (e: unknown) => e instanceof ProxyError && e.reply === 5 && /connection refused/.test(e.message)],
      [[Buffer.from([5, 2]), Buffer.from([1, 1])], (e: unknown) => e instanceof ProxyAuthError && e.status === 0],
      [[Buffer.from([5, 0xff])], (e: unknown) => e instanceof ProxyAuthError],
      [[Buffer.from([4, 0])], (e: unknown) => e instanceof ProxyError && /does not speak SOCKS5/.test(e.message)],
    ] as Array<[Buffer[], (e: unknown) => boolean]>) {
      const pair = await socketPair();
      try {
        let step = 0;
        pair.peer.on('data', () => {
          const next = script[step++];
          if (next !== undefined) pair.peer.write(next);
        });
        pair.peer.on('error', () => {});
        await assert.rejects(socks5Tunnel(pair.client, { proxy: socks5h, host: 'h', port: 1 }), check);
        assert.ok(pair.client.destroyed);
      } finally {
        await pair.close();
      }
    }
  });

  it('socks4a: sends 0.0.0.1 and the name after the user id; socks4: an IPv4 address', async () => {
    const pair = await socketPair();
    try {
      const tunnel = socks4Tunnel(pair.client, { proxy: parseProxyURL('socks4a://me@127.0.0.1:1'), host: 'db.internal', port: 5432 });
      const request = await readN(pair.peer, 8 + 3 + 12);
      assert.deepEqual([...request], [4, 1, 0x15, 0x38, 0, 0, 0, 1, ...Buffer.from('me'), 0, ...Buffer.from('db.internal'), 0]);
      pair.peer.write(Buffer.from([0, 90, 0, 0, 0, 0, 0, 0, 0x42]));
      await tunnel;
      assert.equal(await readRest(pair.client, 1), 'B');
    } finally {
      await pair.close();
    }
    const pair4 = await socketPair();
    try {
      const tunnel = socks4Tunnel(pair4.client, { proxy: parseProxyURL('socks4://127.0.0.1:1'), host: '10.1.2.3', port: 80 });
      assert.deepEqual([...(await readN(pair4.peer, 9))], [4, 1, 0, 80, 10, 1, 2, 3, 0]);
      pair4.peer.write(Buffer.from([0, 91, 0, 0, 0, 0, 0, 0]));
      await assert.rejects(tunnel, (e: unknown) => e instanceof ProxyError && e.reply === 91);
    } finally {
      await pair4.close();
    }
  });

  it('socks4: resolves a server name here, to an IPv4 address (localhost, from the hosts file)', async () => {
    const pair = await socketPair();
    try {
      const tunnel = socks4Tunnel(pair.client, { proxy: parseProxyURL('socks4://127.0.0.1:1'), host: 'localhost', port: 8080 });
      assert.deepEqual([...(await readN(pair.peer, 9))], [4, 1, 0x1f, 0x90, 127, 0, 0, 1, 0]);
      pair.peer.write(Buffer.from([0, 90, 0, 0, 0, 0, 0, 0]));
      await tunnel;
    } finally {
      await pair.close();
    }
  });

  it('socks4: refuses an IPv6 server, which SOCKS4 cannot name', async () => {
    const pair = await socketPair();
    try {
      await assert.rejects(socks4Tunnel(pair.client, { proxy: parseProxyURL('socks4://127.0.0.1:1'), host: '::1', port: 80 }), /IPv4 addresses only/);
    } finally {
      await pair.close();
    }
  });

  it('an abort during the SOCKS handshake is a ConnectError and destroys the socket', async () => {
    const pair = await socketPair();
    try {
      const controller = new AbortController();
      const tunnel = socks5Tunnel(pair.client, { proxy: socks5h, host: 'h', port: 1, signal: controller.signal });
      await readN(pair.peer, 4);
      controller.abort(new DOMException('time', 'TimeoutError'));
      await assert.rejects(tunnel, (e: unknown) => e instanceof ConnectError && e.timedOut);
      assert.ok(pair.client.destroyed);
    } finally {
      await pair.close();
    }
  });
});

describe('dialRoute', () => {
  it('a failure inside a tunnel (a name SOCKS5 cannot carry) closes the connection to the proxy', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    let proxySide: Socket | undefined;
    const peerClosed = new Promise<void>((resolve) => {
      server.once('connection', (peer: Socket) => {
        proxySide = peer;
        peer.on('error', () => {});
        peer.once('data', () => peer.write(Buffer.from([5, 0])));
        peer.once('close', () => resolve());
      });
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      const long = Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.');
      const route = { proxy: parseProxyURL(`socks5h://127.0.0.1:${port}`), headers: {}, tls: {} };
      await assert.rejects(dialRoute(route, { host: long, port: 80 }), /too long for SOCKS5/);
      await Promise.race([
        peerClosed,
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the socket to the proxy was left open')), 2000))),
      ]);
    } finally {
      clearTimeout(timer);
      // Closing our end frees the client socket too, when the code under test left it open.
      proxySide?.destroy();
      server.close();
    }
  });
});
