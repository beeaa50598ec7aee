/**
 * `hybi serve` run as a subprocess and exercised by real clients (the `ws` package, and
 * `hybi connect`): each mode, the options that refuse connections, the log lines, and shutdown.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import WebSocket from 'ws';
import { parseServeArgs } from '../../src/cli/serve-args.js';
import { UsageError } from '../../src/cli/units.js';
import { Cli, killAll, runCli, serve } from './harness.js';

afterEach(killAll);

/** A `ws` client that records what it receives and how it closed. */
class Client {
  readonly ws: WebSocket;
  readonly received: Array<string | Buffer> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  pings = 0;

  constructor(url: string, options: WebSocket.ClientOptions = {}, protocols: string[] = []) {
    this.ws = new WebSocket(url, protocols, options);
    this.ws.on('message', (data, isBinary) => this.received.push(isBinary ? (data as Buffer) : String(data)));
    this.ws.on('ping', () => this.pings++);
    this.ws.on('error', () => {});
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  async opened(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN) return;
    await Promise.race([
      once(this.ws, 'open'),
      once(this.ws, 'unexpected-response').then(([, res]) => {
        throw new Error(`refused: ${(res as { statusCode: number }).statusCode}`);
      }),
      once(this.ws, 'error').then(([err]) => {
        throw err;
      }),
    ]);
  }

  /** Waits until `n` messages arrived (bounded). */
  async messages(n: number, timeout = 5000): Promise<Array<string | Buffer>> {
    const deadline = Date.now() + timeout;
    while (this.received.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${this.received.length} of ${n} messages arrived: ${JSON.stringify(this.received)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.received.slice(0, n);
  }

  /** The HTTP status the server refused the upgrade with. */
  async refusal(): Promise<number> {
    const [, res] = (await once(this.ws, 'unexpected-response')) as [unknown, { statusCode: number }];
    return res.statusCode;
  }
}

const clients: Client[] = [];
function client(url: string, options?: WebSocket.ClientOptions, protocols?: string[]): Client {
  const c = new Client(url, options, protocols);
  clients.push(c);
  return c;
}
afterEach(() => {
  for (const c of clients.splice(0)) c.ws.terminate();
});

/** The log lines (timestamp dropped) that mention a connection number. */
function logLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => / #\d+ /.test(l))
    .map((l) => l.replace(/^\S+ /, ''));
}

describe('hybi serve --echo (the default)', () => {
  it('sends every message back as it came, text and binary, and logs the connection', async () => {
    const { cli, origin } = await serve([]);
    assert.match(cli.stderr, /echo server listening on ws:\/\/127\.0\.0\.1:\d+\/ \(any path\)/);
    const c = client(`${origin}/any/path?token=secret`);
    await c.opened();
    c.ws.send('hello');
    c.ws.send(Buffer.from([1, 2, 3]));
    assert.deepEqual(await c.messages(2), ['hello', Buffer.from([1, 2, 3])]);
    c.ws.close(1000, 'bye');
    assert.equal((await c.closed).code, 1000);
    await cli.waitForStderr(' close ');
    const [open, close] = logLines(cli.stderr);
    assert.match(open!, /^#1 open addr=127\.0\.0\.1:\d+ path=\/any\/path protocol=-$/);
    // The query (which may hold a token) stays out of the log; counts are messages and bytes.
    assert.match(close!, /^#1 close addr=127\.0\.0\.1:\d+ path=\/any\/path protocol=- code=1000 \(normal closure\) "bye" duration=[\d.]+m?s in=2msg\/8B out=2msg\/8B$/);
    assert.ok(!cli.stderr.includes('secret'));
  });

  it('is what hybi connect talks to in a pipe', async () => {
    const { origin } = await serve(['--quiet']);
    const done = await runCli(['connect', `${origin}/`, '--count', '3'], 'a\nb\nc\n');
    assert.equal(done.stdout, 'a\nb\nc\n');
    assert.equal(done.status, 0);
  });

  // The client closes as soon as stdin ends, so its close arrives with (or right behind) its last
  // messages: the echoes of every one of them must still come back before the server's answer.
  for (const flags of [[], ['--compress']]) {
    it(`echoes every line and every byte of a pipe that closes at once (${flags.join(' ') || 'plain'})`, async () => {
      const { origin } = await serve(['--quiet', ...flags]);
      for (let run = 0; run < 5; run++) {
        const done = await runCli(['connect', `${origin}/`, ...flags], 'a\nb\nc\n');
        assert.equal(done.stdout, 'a\nb\nc\n', `run ${run}`);
        assert.equal(done.status, 0);
      }
      const file = Buffer.alloc(300_000);
      for (let i = 0; i < file.length; i++) file[i] = (i * 7919) >>> 3;
      for (let run = 0; run < 2; run++) {
        const done = await runCli(['connect', `${origin}/`, '--binary', '--show-binary', 'raw', ...flags], file);
        assert.equal(done.stdoutBytes.length, file.length, `run ${run}`);
        assert.ok(done.stdoutBytes.equals(file), `run ${run}: the bytes came back unchanged`);
        assert.equal(done.status, 0);
      }
    });
  }

  it('answers plain HTTP with 426 and a hint', async () => {
    const { port } = await serve(['--quiet']);
    const res = await new Promise<{ status: number; upgrade: string | undefined; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/' }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode!, upgrade: r.headers.upgrade, body }));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(res.status, 426);
    assert.equal(res.upgrade, 'websocket');
    assert.match(res.body, /hybi connect ws:\/\/127\.0\.0\.1:\d+\//);
  });

  it('--metrics PATH answers GET on that path with the Prometheus text, counting what clients did', async () => {
    const { port, origin } = await serve(['--quiet', '--metrics', '/metrics']);
    const c = client(`${origin}/`);
    await c.opened();
    c.ws.send('one');
    c.ws.send('two');
    await c.messages(2);
    const get = (method: string, path: string) =>
      new Promise<{ status: number; type: string | undefined; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, method }, (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (d: string) => (body += d));
          r.on('end', () => resolve({ status: r.statusCode!, type: r.headers['content-type'], body }));
        })
          .on('error', reject)
          .end();
      });
    const res = await get('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(res.body, /^hybi_connections_open 1$/m);
    assert.match(res.body, /^hybi_messages_received_total 2$/m);
    assert.match(res.body, /^hybi_messages_sent_total 2$/m);
    assert.match(res.body, /^# TYPE hybi_ping_rtt_seconds histogram$/m);
    assert.equal((await get('POST', '/metrics')).status, 405);
    // Other paths are still the WebSocket endpoint's hint.
    assert.equal((await get('GET', '/other')).status, 426);
  });

  it('--quiet drops the per-connection lines', async () => {
    const { cli, origin } = await serve(['--quiet']);
    const c = client(`${origin}/`);
    await c.opened();
    c.ws.close();
    await c.closed;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(logLines(cli.stderr), []);
  });
});

/** Resident memory of a process, in bytes (Linux). */
function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : 0;
}

describe('hybi serve under a client that sends without reading', { skip: existsSync('/proc/self/status') ? false : 'needs /proc' }, () => {
  it('echo stops reading instead of piling up replies: the server\'s memory stays flat', async () => {
    const { cli, origin } = await serve(['--quiet']);
    const c = client(`${origin}/`);
    await c.opened();
    const before = rss(cli.child.pid!);
    // Stop reading on the client, then push 128 MiB of messages at the server.
    (c.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const chunk = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 2048; i++) c.ws.send(chunk);
    await new Promise((r) => setTimeout(r, 1500));
    const grown = rss(cli.child.pid!) - before;
    // TCP buffers and the socket's high-water marks hold a few MiB; 128 MiB would show.
    assert.ok(grown < 48 * 1024 * 1024, `server grew by ${(grown / 1048576).toFixed(1)} MiB`);
    // The client still holds most of what it wanted to send: the server is not taking it.
    assert.ok(c.ws.bufferedAmount > 64 * 1024 * 1024, `client buffered ${c.ws.bufferedAmount}`);
  });
});

describe('hybi serve --broadcast', () => {
  it('drops a listener that falls too far behind (1008) and keeps serving the others', async () => {
    const { origin, cli } = await serve(['--broadcast']);
    const talker = client(`${origin}/`);
    const sleeper = client(`${origin}/`);
    await Promise.all([talker.opened(), sleeper.opened()]);
    await cli.waitFor((_o, err) => logLines(err).length === 2, 'both open lines');
    (sleeper.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const chunk = Buffer.alloc(64 * 1024, 2);
    for (let i = 0; i < 256; i++) talker.ws.send(chunk);
    assert.equal((await talker.messages(256, 20_000)).length, 256);
    await cli.waitForStderr(' close ', 15_000);
    assert.match(cli.stderr, /#2 close .*code=(1008|1006)/);
    (sleeper.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
  });

  it('sends every message to every client, the sender included', async () => {
    const { origin, cli } = await serve(['--broadcast', '--path', '/room']);
    const a = client(`${origin}/room`);
    const b = client(`${origin}/room`);
    await Promise.all([a.opened(), b.opened()]);
    await cli.waitFor((_o, err) => logLines(err).length === 2, 'both open lines');
    a.ws.send('from a');
    assert.deepEqual(await a.messages(1), ['from a']);
    assert.deepEqual(await b.messages(1), ['from a']);
    b.ws.send(Buffer.from('bin'));
    assert.deepEqual((await a.messages(2))[1], Buffer.from('bin'));
    assert.deepEqual((await b.messages(2))[1], Buffer.from('bin'));
  });

  it('refuses other paths with 404 and logs the refusal', async () => {
    const { origin, cli } = await serve(['--broadcast', '--path', '/room']);
    assert.equal(await client(`${origin}/elsewhere`).refusal(), 404);
    await cli.waitForStderr('refused');
    assert.match(cli.stderr, /refused addr=127\.0\.0\.1:\d+ path=\/elsewhere status=404/);
  });
});

describe('hybi serve --exec', () => {
  it('runs the command per connection: messages on its stdin, its stdout lines sent back', async () => {
    // tr would buffer its output in a pipe; stdbuf -oL makes it write each line (as the help says).
    const { origin } = await serve(['--exec', 'stdbuf -oL tr a-z A-Z', '--quiet']);
    const a = client(`${origin}/`);
    const b = client(`${origin}/`);
    await Promise.all([a.opened(), b.opened()]);
    a.ws.send('hello');
    b.ws.send('other');
    a.ws.send('world');
    assert.deepEqual(await a.messages(2), ['HELLO', 'WORLD']);
    assert.deepEqual(await b.messages(1), ['OTHER']);
  });

  it('closes with 1000 when the command exits, 1011 when it fails', async () => {
    const ok = await serve(['--exec', 'head -n 1', '--quiet']);
    const a = client(`${ok.origin}/`);
    await a.opened();
    a.ws.send('only line');
    assert.deepEqual(await a.messages(1), ['only line']);
    assert.equal((await a.closed).code, 1000);

    const failing = await serve(['--exec', 'echo oops; exit 3', '--quiet']);
    const b = client(`${failing.origin}/`);
    assert.deepEqual(await b.messages(1), ['oops']);
    assert.deepEqual(await b.closed, { code: 1011, reason: 'command exited with 3' });
  });

  it('works with a shell loop: one process per connection, lines in, lines out', async () => {
    const { origin } = await serve(['--exec', 'n=0; while read -r line; do n=$((n+1)); echo "$n: $line"; done', '--quiet']);
    const a = client(`${origin}/`);
    const b = client(`${origin}/`);
    await Promise.all([a.opened(), b.opened()]);
    a.ws.send('x');
    a.ws.send('y');
    b.ws.send('z');
    assert.deepEqual(await a.messages(2), ['1: x', '2: y']);
    assert.deepEqual(await b.messages(1), ['1: z']);
  });

  it('tells the command who connected, in its environment', async () => {
    const { origin } = await serve(['--exec', 'echo "$HYBI_PATH $HYBI_PROTOCOL"', '--protocol', 'p1', '--quiet']);
    const c = client(`${origin}/some/where?x=1`, {}, ['p1']);
    assert.deepEqual(await c.messages(1), ['/some/where p1']);
  });

  it('is not run without --exec: the default mode echoes', async () => {
    const { origin } = await serve(['--quiet']);
    const c = client(`${origin}/`);
    await c.opened();
    c.ws.send('$(touch /tmp/should-not-exist)');
    assert.deepEqual(await c.messages(1), ['$(touch /tmp/should-not-exist)']);
  });
});

describe('hybi serve options that shape connections', () => {
  it('--protocol picks the subprotocol in the server\'s order', async () => {
    const { origin, cli } = await serve(['-p', 'v2', '-p', 'v1']);
    const c = client(`${origin}/`, {}, ['v1', 'v2']);
    await c.opened();
    assert.equal(c.ws.protocol, 'v2');
    await cli.waitForStderr(' open ');
    assert.match(cli.stderr, /#1 open .* protocol=v2/);
  });

  it('--origin lets listed browser origins in and refuses others with 403', async () => {
    const { origin } = await serve(['--origin', 'http://good.test', '--origin', 'http://also.test', '--quiet']);
    const good = client(`${origin}/`, { origin: 'http://good.test' });
    await good.opened();
    assert.equal(await client(`${origin}/`, { origin: 'http://evil.test' }).refusal(), 403);
  });

  it('--max-connections refuses the one too many with 503', async () => {
    const { origin } = await serve(['--max-connections', '1', '--quiet']);
    const first = client(`${origin}/`);
    await first.opened();
    assert.equal(await client(`${origin}/`).refusal(), 503);
  });

  it('--max-message-size closes with 1009 above it', async () => {
    const { origin } = await serve(['--max-message-size', '1k', '--quiet']);
    const c = client(`${origin}/`);
    await c.opened();
    c.ws.send('x'.repeat(1024));
    assert.equal((await c.messages(1))[0], 'x'.repeat(1024));
    c.ws.send('x'.repeat(1025));
    assert.equal((await c.closed).code, 1009);
  });

  it('--ping-interval pings clients', async () => {
    const { origin } = await serve(['--ping-interval', '100ms', '--quiet']);
    const c = client(`${origin}/`);
    await c.opened();
    const deadline = Date.now() + 3000;
    while (c.pings < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(c.pings >= 2, `${c.pings} pings`);
  });

  it('--idle-timeout closes a client that sends nothing, and the log says so', async () => {
    const { origin, cli } = await serve(['--idle-timeout', '200ms']);
    const c = client(`${origin}/`);
    await c.opened();
    const started = Date.now();
    const { code } = await c.closed;
    assert.ok(Date.now() - started < 3000);
    await cli.waitForStderr(' close ');
    assert.match(cli.stderr, new RegExp(`#1 close .* code=${code} `));
  });

  it('--compress negotiates permessage-deflate with a client that offers it', async () => {
    const { origin } = await serve(['--compress', '--quiet']);
    const c = client(`${origin}/`, { perMessageDeflate: true });
    await c.opened();
    assert.match(c.ws.extensions, /^permessage-deflate/);
    c.ws.send('squeeze '.repeat(100));
    assert.deepEqual(await c.messages(1), ['squeeze '.repeat(100)]);
  });

  it('without --compress, declines permessage-deflate', async () => {
    const { origin } = await serve(['--quiet']);
    const c = client(`${origin}/`, { perMessageDeflate: true });
    await c.opened();
    assert.equal(c.ws.extensions, '');
  });
});

/** How an upgrade ends: 101 when it opened, else the refusal's status; bounded, never hangs. */
async function upgradeStatus(url: string, options?: WebSocket.ClientOptions): Promise<number> {
  const c = client(url, options);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      once(c.ws, 'open').then(() => 101),
      once(c.ws, 'unexpected-response').then(([, res]) => (res as { statusCode: number }).statusCode),
      new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), 5000))),
    ]);
  } finally {
    clearTimeout(timer);
    c.ws.terminate();
  }
}

/** GET `path` with the given Host header: the status and the body. */
function httpGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, headers: { Host: host } }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => resolve({ status: r.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('hybi serve: which web pages and Host names may connect', () => {
  for (const mode of [[], ['--broadcast'], ['--exec', 'cat']]) {
    it(`${mode[0] ?? 'echo (the default)'} refuses any page's Origin unless --origin names it, and says so when it starts`, async () => {
      const { cli, origin, port } = await serve([...mode, '--quiet']);
      assert.match(cli.stderr, /listening on ws:\/\/127\.0\.0\.1:\d+\/ \(any path\); browser pages: none \(--origin to allow one\); Host: localhost, 127\.x\.x\.x, \[::1\] \(--allow-host to add one\)/);
      assert.equal(await upgradeStatus(`${origin}/`, { origin: 'http://evil.example' }), 403);
      // It serves no page, so even an Origin of its own address is not one of its pages.
      assert.equal(await upgradeStatus(`${origin}/`, { origin: `http://127.0.0.1:${port}` }), 403);
      assert.equal(await upgradeStatus(`${origin}/`), 101);
    });
  }

  it('with --origin, the startup line lists the pages it lets in', async () => {
    const { cli } = await serve(['--exec', 'cat', '--origin', 'http://good.test', '--quiet']);
    assert.match(cli.stderr, /; browser pages: http:\/\/good\.test; Host: /);
  });

  it('bound to loopback, answers only loopback Host names and those given with --allow-host (DNS rebinding)', async () => {
    const { origin, port } = await serve(['--quiet']);
    assert.equal(await upgradeStatus(`${origin}/`, { headers: { Host: `rebind.example:${port}` } }), 403);
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `127.0.0.2:${port}`, `[::1]:${port}`]) {
      assert.equal(await upgradeStatus(`${origin}/`, { headers: { Host: host } }), 101, host);
    }
    const hint = await httpGet(port, '/', `rebind.example:${port}`);
    assert.equal(hint.status, 403);
    assert.ok(!hint.body.includes('hybi connect'), hint.body);

    const named = await serve(['--allow-host', 'Rebind.Example', '--quiet']);
    assert.match(named.cli.stderr, /Host: localhost, 127\.x\.x\.x, \[::1\], rebind\.example/);
    assert.equal(await upgradeStatus(`${named.origin}/`, { headers: { Host: `rebind.example:${named.port}` } }), 101);
    assert.equal(await upgradeStatus(`${named.origin}/`, { headers: { Host: `other.example:${named.port}` } }), 403);
  });

  it('decides which Host names to answer from the address it is bound to', () => {
    assert.equal(parseServeArgs([])!.allowedHosts?.length, 0);
    assert.equal(parseServeArgs(['--host', '::1'])!.allowedHosts?.length, 0);
    assert.equal(parseServeArgs(['--host', '127.1.2.3'])!.allowedHosts?.length, 0);
    assert.equal(parseServeArgs(['--host', 'localhost'])!.allowedHosts?.length, 0);
    // Reachable from other machines under whatever name they use: any Host, unless names are given.
    assert.equal(parseServeArgs(['--host', '0.0.0.0'])!.allowedHosts, null);
    assert.equal(parseServeArgs(['--host', '::'])!.allowedHosts, null);
    assert.deepEqual(parseServeArgs(['--host', '0.0.0.0', '--allow-host', 'chat.example'])!.allowedHosts, ['chat.example']);
    for (const bad of ['a b', 'chat.example:8080', 'user@host', '']) {
      assert.throws(() => parseServeArgs(['--allow-host', bad]), UsageError, bad);
    }
  });
});

describe('hybi serve shutting down', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`on ${signal}, closes every client with 1001 and exits 0`, async () => {
      const { cli, origin } = await serve([]);
      const a = client(`${origin}/`);
      const b = client(`${origin}/`);
      await Promise.all([a.opened(), b.opened()]);
      await cli.waitFor((_o, err) => logLines(err).length === 2, 'both open lines');
      cli.signal(signal);
      assert.equal((await a.closed).code, 1001);
      assert.equal((await b.closed).code, 1001);
      const done = await cli.finish();
      assert.equal(done.status, 0);
      assert.equal(logLines(done.stderr).filter((l) => / close .*code=1001 \(going away\)/.test(l)).length, 2, done.stderr);
    });
  }
});

describe('hybi serve usage errors', () => {
  it('exits 2 with one line for what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--echo', '--broadcast'], /choose one mode/],
      [['--tls-cert', 'x.pem'], /--tls-cert and --tls-key go together/],
      [['--port', '70000'], /--port/],
      [['--path', 'chat'], /--path/],
      [['--idle-timeout', 'later'], /--idle-timeout/],
      [['tr', 'a-z'], /unexpected argument 'tr'/],
      [['--exec', ''], /--exec needs a command/],
      [['--metrics', 'metrics'], /--metrics/],
      [['--path', '/ws', '--metrics', '/ws'], /--metrics: the WebSocket path and the metrics path must differ/],
    ];
    for (const [args, message] of cases) {
      const done = await runCli(['serve', ...args]);
      assert.equal(done.status, 2, args.join(' '));
      assert.match(done.stderr, message);
      assert.match(done.stderr, /Try 'hybi serve --help'/);
    }
  });

  it('exits 1 when the port is taken', async () => {
    const blocker = createTcpServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    try {
      const { port } = blocker.address() as { port: number };
      const done = await new Cli(['serve', '--port', String(port)]).finish();
      assert.equal(done.status, 1);
      assert.match(done.stderr, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });
});
