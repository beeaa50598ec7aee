/**
 * The flags wscat and websocat users reach for (issue 18), each run through the real `hybi`
 * command as a subprocess: client certificates, redirects, ping/pong display and /pong, ping
 * timeouts, the verbose handshake, whole-stdin messages, usage errors and the certificate hint.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { Cli, CLI, killAll, runCli, serve } from './harness.js';

afterEach(killAll);

/** A hybi server on a free loopback port; `onConnection` decides what it does (default: echo with a prefix). */
async function hybiServer(
  onConnection?: (ws: WebSocket) => void,
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
): Promise<{ url: string; port: number; server: WebSocketServer; close(): Promise<void> }> {
  const server = new WebSocketServer(options);
  server.on('connection', (ws: WebSocket) => {
    if (onConnection) return onConnection(ws);
    ws.on('message', (data: unknown, isBinary: boolean) => {
      void ws.send(isBinary ? (data as Uint8Array) : `echo: ${String(data)}`).catch(() => {});
    });
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { url: `ws://127.0.0.1:${port}/`, port, server, close: () => server.close() };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

/** A self-signed certificate and key in `dir`, named `name`.pem and `name`-key.pem. */
function makeCertificate(dir: string, name: string, cn: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { cert, key };
}

describe('usage errors: exit 2 and one line saying what is wrong', () => {
  const cases: Array<[string[], string]> = [
    [['connect', 'ws://127.0.0.1:1/', '--bogus'], "hybi connect: unknown option '--bogus'"],
    [['connect', 'ws://127.0.0.1:1/', '-Z'], "hybi connect: unknown option '-Z'"],
    [['connect', 'ws://127.0.0.1:1/', '--timeout'], 'hybi connect: --timeout needs a value'],
    [['connect', 'ws://127.0.0.1:1/', '-n'], 'hybi connect: --count needs a value'],
    [['connect', 'ws://127.0.0.1:1/', '--compress=yes'], 'hybi connect: --compress takes no value'],
    [['connect', 'ws://127.0.0.1:1/', '--cert', '/nonexistent.pem'], 'hybi connect: --cert and --key go together'],
    [['connect', 'ws://127.0.0.1:1/', '--ping-timeout', 'soon'], "hybi connect: --ping-timeout: 'soon' is not a duration (try 30, 500ms, 2m)"],
    [['connect', 'ws://127.0.0.1:1/', '--ping-interval', '0', '--ping-timeout', '5s'], 'hybi connect: --ping-timeout needs pings: drop --ping-interval 0'],
    [['connect', 'ws://127.0.0.1:1/', '--max-redirects', 'many'], "hybi connect: --max-redirects: 'many' is not a whole number from 0 to 100"],
    // A header the handshake owns is refused by connect() itself: still the command line's fault.
    [['connect', 'ws://127.0.0.1:1/', '-H', 'Upgrade: h2c'], 'hybi connect: '],
    [['serve', '--bogus'], "hybi serve: unknown option '--bogus'"],
    [['serve', '--port'], 'hybi serve: --port needs a value'],
    [['serve', '--quiet=1'], 'hybi serve: --quiet takes no value'],
    [['listen', '--nope'], "hybi serve: unknown option '--nope'"],
  ];
  for (const [args, first] of cases) {
    it(`hybi ${args.join(' ')}`, async () => {
      const done = await runCli(args);
      assert.equal(done.status, 2, done.stderr);
      const lines = done.stderr.split('\n').filter(Boolean);
      assert.ok(lines[0]!.startsWith(first), lines[0]);
      // The message, then where to look: no parseArgs prose about positionals and '--'.
      assert.ok(lines.length <= 2, done.stderr);
      assert.doesNotMatch(done.stderr, /positional|argument missing|To specify/);
      assert.equal(done.stdout, '');
    });
  }
});

describe('hybi connect over TLS: client certificates and the certificate hint', () => {
  let dir: string;
  let server: { cert: string; key: string };
  let client: { cert: string; key: string };
  let encryptedKey: string;
  let https: ReturnType<typeof createHttpsServer>;
  let wss: WebSocketServer;
  let url: string;
  const seen: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hybi-cli-mtls-'));
    server = makeCertificate(dir, 'server', 'hybi test server');
    client = makeCertificate(dir, 'client', 'hybi test client');
    encryptedKey = join(dir, 'client-key-encrypted.pem');
    openssl(['pkey', '-in', client.key, '-out', encryptedKey, '-aes256', '-passout', 'pass:open sesame']);
    // The server trusts only the client's certificate, and requires one.
    https = createHttpsServer({
      cert: readFileSync(server.cert),
      key: readFileSync(server.key),
      ca: readFileSync(client.cert),
      requestCert: true,
      rejectUnauthorized: true,
    });
    wss = new WebSocketServer();
    wss.on('connection', (ws: WebSocket, req: import('node:http').IncomingMessage) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const cn = String(peer.subject?.CN ?? '');
      seen.push(cn);
      void ws.send(`hello ${cn}`);
    });
    wss.attach(https);
    https.listen(0, '127.0.0.1');
    await once(https, 'listening');
    url = `wss://127.0.0.1:${(https.address() as { port: number }).port}/`;
  });
  after(async () => {
    await wss.close().catch(() => {});
    https.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('presents the certificate given with --cert and --key; without them the server refuses', async () => {
    const without = await runCli(['connect', url, '--ca', server.cert, '--count', '1']);
    assert.notEqual(without.status, 0);
    assert.equal(without.stdout, '');
    const done = await runCli(['connect', url, '--ca', server.cert, '--cert', client.cert, '--key', client.key, '--count', '1']);
    assert.equal(done.stderr, '');
    assert.equal(done.stdout, 'hello hybi test client\n');
    assert.equal(done.status, 0);
    assert.deepEqual(seen, ['hybi test client']);
  });

  it('opens an encrypted key with --passphrase', async () => {
    const done = await runCli(['connect', url, '--ca', server.cert, '--cert', client.cert, '--key', encryptedKey, '--passphrase', 'open sesame', '--count', '1']);
    assert.equal(done.stdout, 'hello hybi test client\n');
    assert.equal(done.status, 0);
  });

  it('on a certificate it cannot verify, points to --ca and --insecure', async () => {
    const done = await runCli(['connect', url, '--cert', client.cert, '--key', client.key]);
    assert.equal(done.status, 1);
    assert.match(done.stderr, /certificate/i);
    assert.match(done.stderr, /--ca FILE/);
    assert.match(done.stderr, /--insecure/);
  });

  it('gives no such hint when the failure is not about the certificate', async () => {
    const s = createTcpServer((socket) => socket.destroy());
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    try {
      const done = await runCli(['connect', `wss://127.0.0.1:${(s.address() as { port: number }).port}/`]);
      assert.equal(done.status, 1);
      assert.doesNotMatch(done.stderr, /--insecure/);
    } finally {
      s.close();
    }
  });
});

describe('hybi connect -L follows redirects', () => {
  let target: Awaited<ReturnType<typeof hybiServer>>;
  let redirector: ReturnType<typeof createHttpServer>;
  let from: string;
  let loop: string;
  before(async () => {
    target = await hybiServer();
    redirector = createHttpServer((req, res) => {
      if (req.url === '/loop') res.writeHead(302, { Location: '/loop' }).end();
      else res.writeHead(302, { Location: `${target.url}moved` }).end();
    });
    // The redirect comes as an answer to the upgrade request, as a load balancer would send it.
    redirector.on('upgrade', (req, socket: Socket) => {
      const location = req.url === '/loop' ? '/loop' : `${target.url}moved`;
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    });
    redirector.listen(0, '127.0.0.1');
    await once(redirector, 'listening');
    const port = (redirector.address() as { port: number }).port;
    from = `ws://127.0.0.1:${port}/old`;
    loop = `ws://127.0.0.1:${port}/loop`;
  });
  after(async () => {
    redirector.close();
    await target.close();
  });

  it('without -L a redirect is a failed handshake (exit 1, status on stderr)', async () => {
    const done = await runCli(['connect', from], 'x\n');
    assert.equal(done.status, 1);
    assert.match(done.stderr, /302/);
  });

  it('with -L (or --location) it reaches the server the redirect names', async () => {
    for (const flag of ['-L', '--location']) {
      const done = await runCli(['connect', from, flag, '--count', '1'], 'moved along\n');
      assert.equal(done.stdout, 'echo: moved along\n');
      assert.equal(done.status, 0);
    }
  });

  it('stops a redirect loop after --max-redirects (exit 1)', async () => {
    const done = await runCli(['connect', loop, '--max-redirects', '3']);
    assert.equal(done.status, 1);
    assert.match(done.stderr, /too many redirects: more than 3/);
  });
});

describe('hybi connect -P shows ping and pong frames; --ping-interval and --ping-timeout', () => {
  it('prints the pings and pongs that arrive on stderr, keeping stdout for messages', async () => {
    const server = await hybiServer((ws) => {
      ws.on('message', () => {
        void ws.ping('hb').catch(() => {});
        void ws.pong(Uint8Array.from([0xff, 0x00])).catch(() => {});
        void ws.send('after').catch(() => {});
      });
    });
    try {
      const shown = await runCli(['connect', server.url, '-P', '--count', '1'], 'go\n');
      assert.equal(shown.stdout, 'after\n');
      assert.match(shown.stderr, /^< ping "hb"$/m);
      assert.match(shown.stderr, /^< pong \[2 B\] ff00$/m);
      assert.equal(shown.status, 0);
      const quiet = await runCli(['connect', server.url, '--count', '1'], 'go\n');
      assert.equal(quiet.stdout, 'after\n');
      assert.doesNotMatch(quiet.stderr, /ping|pong/);
    } finally {
      await server.close();
    }
  });

  it('--ping-interval pings a quiet server, whose pongs -P shows; a live server is not timed out', async () => {
    const server = await hybiServer(() => {});
    try {
      const cli = new Cli(['connect', server.url, '-P', '--ping-interval', '50ms', '--ping-timeout', '2s']);
      // Three answered pings: the connection outlived several ping intervals.
      await cli.waitFor((_o, err) => (err.match(/^< pong$/gm) ?? []).length >= 3, 'three pongs');
      cli.end();
      const done = await cli.finish();
      assert.equal(done.status, 0, done.stderr);
    } finally {
      await server.close();
    }
  });

  it('--ping-timeout closes a peer that does not answer pings, exit 3, and says why', async () => {
    // autoPong off: this server reads pings but never answers them, nor sends anything.
    const server = await hybiServer(() => {}, { autoPong: false, pingInterval: 0, idleTimeout: 0 });
    try {
      const started = Date.now();
      const cli = new Cli(['connect', server.url, '--ping-interval', '100ms', '--ping-timeout', '300ms']);
      const done = await cli.finish();
      assert.equal(done.status, 3, done.stderr);
      assert.match(done.stderr, /no answer to a ping within 300ms \(--ping-timeout\)/);
      assert.ok(Date.now() - started < 8000);
    } finally {
      await server.close();
    }
  });
});

describe('hybi connect -v prints the handshake on stderr', () => {
  it('the request it sends and the answer, with stdout kept for messages', async () => {
    const server = await hybiServer(undefined, { protocols: ['chat'] });
    try {
      const done = await runCli(['connect', `${server.url}room?x=1`, '-v', '-p', 'chat', '-H', 'X-Test: 1', '--count', '1'], 'hi\n');
      assert.equal(done.stdout, 'echo: hi\n');
      assert.equal(done.status, 0);
      const lines = done.stderr.split('\n');
      for (const line of [
        '> GET /room?x=1 HTTP/1.1',
        `> Host: 127.0.0.1:${server.port}`,
        '> Upgrade: websocket',
        '> Sec-WebSocket-Version: 13',
        '> Sec-WebSocket-Protocol: chat',
        '> X-Test: 1',
        '< HTTP/1.1 101 Switching Protocols',
        '< Sec-WebSocket-Protocol: chat',
      ]) {
        assert.ok(lines.includes(line), `${line} in\n${done.stderr}`);
      }
      assert.ok(lines.indexOf('> GET /room?x=1 HTTP/1.1') < lines.indexOf('< HTTP/1.1 101 Switching Protocols'));
      // Without -v, nothing of it.
      const quiet = await runCli(['connect', server.url, '--count', '1'], 'hi\n');
      assert.equal(quiet.stderr, '');
    } finally {
      await server.close();
    }
  });

  it("a refusal's headers, escaped for the terminal", async () => {
    const refusing = createTcpServer((socket) => {
      socket.once('data', () => {
        // A C1 CSI (0x9b, as latin1): HTTP allows the byte in a value; a terminal obeys it.
        socket.end('HTTP/1.1 403 Forbidden\r\nX-Note: a\x9b2Jb\r\nContent-Length: 0\r\n\r\n', 'latin1');
      });
    });
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    try {
      const done = await runCli(['connect', `ws://127.0.0.1:${(refusing.address() as { port: number }).port}/`, '-v']);
      assert.equal(done.status, 1);
      assert.match(done.stderr, /^< HTTP\/1\.1 403$/m);
      assert.match(done.stderr, /^< x-note: a\\x9b2Jb$/m);
      assert.ok(!done.stderr.includes('\x9b'), JSON.stringify(done.stderr));
    } finally {
      refusing.close();
    }
  });
});

describe('hybi connect --whole sends all of stdin as one message', () => {
  it('text with its newlines, then closes', async () => {
    const received: string[] = [];
    const server = await hybiServer((ws) => {
      ws.on('message', (data: unknown) => {
        received.push(String(data));
        void ws.send(`got ${String(data).length} chars`).catch(() => {});
      });
    });
    try {
      const done = await runCli(['connect', server.url, '--whole', '--count', '1'], '{\n  "a": 1\n}\n');
      assert.equal(done.stdout, 'got 13 chars\n');
      assert.equal(done.status, 0);
      assert.deepEqual(received, ['{\n  "a": 1\n}\n']);
    } finally {
      await server.close();
    }
  });

  it('with --binary, one binary message of every byte', async () => {
    const server = await hybiServer();
    try {
      const input = Buffer.alloc(200_000, 7);
      input[0] = 0;
      input[199_999] = 0xff;
      const done = await runCli(['connect', server.url, '--whole', '--binary', '--show-binary', 'raw', '--count', '1'], input);
      assert.ok(done.stdoutBytes.equals(input));
      assert.equal(done.status, 0);
    } finally {
      await server.close();
    }
  });
});

describe('hybi listen / hybi serve --interactive, scripted', () => {
  it('prints what clients send, sends stdin lines to every client (waiting for the first)', async () => {
    const { WebSocket: WsClient } = await import('ws');
    const served = await serve(['--interactive']);
    const cli = served.cli;
    // A line typed before anyone connected waits for the first client.
    cli.write('early\n');
    const a = new WsClient(`${served.origin}/`);
    const aGot: string[] = [];
    a.on('message', (d) => aGot.push(String(d)));
    await once(a, 'open');
    const b = new WsClient(`${served.origin}/`);
    const bGot: string[] = [];
    b.on('message', (d) => bGot.push(String(d)));
    await once(b, 'open');
    await cli.waitForStderr('#2 open');
    a.send('from a');
    await cli.waitForStdout('from a\n');
    b.send('from b');
    await cli.waitForStdout('from b\n');
    cli.write('to everyone\n');
    const until = async (got: string[], text: string): Promise<void> => {
      for (let i = 0; i < 500 && !got.includes(text); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(got.includes(text), `${text} in ${JSON.stringify(got)}`);
    };
    await until(aGot, 'early');
    await until(aGot, 'to everyone');
    await until(bGot, 'to everyone');
    assert.equal(cli.stdout, 'from a\nfrom b\n');
    cli.signal('SIGTERM');
    const done = await cli.finish();
    assert.equal(done.status, 0);
    a.terminate();
    b.terminate();
  });

  it('hybi listen PORT is serve --interactive on that port', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createTcpServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const cli = new Cli(['listen', String(port)]);
    await cli.waitForStderr(`interactive server listening on ws://127.0.0.1:${port}/`);
    const done = await runCli(['connect', `ws://127.0.0.1:${port}/`, '--linger', '0'], 'hello listener\n');
    assert.equal(done.status, 0);
    await cli.waitForStdout('hello listener\n');
    cli.signal('SIGINT');
    assert.equal((await cli.finish()).status, 0);
  });
});

/** util-linux `script` gives the CLI a pseudo-terminal. */
const hasScript = existsSync('/usr/bin/script');

function shellQuote(a: string): string {
  return `'${a.replaceAll("'", "'\\''")}'`;
}

/** `hybi args...` under a pseudo-terminal, as a person runs it. */
function interactive(args: string[]): Cli {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
  return new Cli([], { command: ['script', '-qfec', command, '/dev/null'], env: { TERM: 'xterm' } });
}

/** Terminal output without colour and cursor sequences. */
function plain(s: string): string {
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');
}

describe('at a terminal (under a pseudo-terminal)', { skip: hasScript ? false : 'util-linux script is not installed' }, () => {
  it('hybi connect -P prints pings above the prompt, and /pong sends a pong', async () => {
    const pongs: string[] = [];
    const server = await hybiServer((ws) => {
      ws.on('pong', (data: Uint8Array) => pongs.push(Buffer.from(data).toString()));
      ws.on('message', () => void ws.ping('are you there').catch(() => {}));
    });
    try {
      const cli = interactive(['connect', server.url, '-P']);
      await cli.waitFor((out) => plain(out).includes('> '), 'the prompt');
      cli.write('/pong beat\r');
      await cli.waitFor((out) => plain(out).includes('pong sent "beat"'), 'the pong');
      for (let i = 0; i < 500 && !pongs.includes('beat'); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(pongs.includes('beat'), JSON.stringify(pongs));
      cli.write('knock\r');
      await cli.waitFor((out) => plain(out).includes('< ping "are you there"'), 'the ping shown');
      cli.write('/close\r');
      assert.equal((await cli.finish()).status, 0);
    } finally {
      await server.close();
    }
  });

  it('hybi listen: what a client sends appears marked with its number; typed lines and /ping reach it', async () => {
    const { WebSocket: WsClient } = await import('ws');
    const cli = interactive(['listen', '0']);
    await cli.waitFor((out) => /ws:\/\/127\.0\.0\.1:\d+\//.test(out), 'the listening line');
    const port = /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(cli.stdout)![1];
    const client = new WsClient(`ws://127.0.0.1:${port}/`);
    const got: string[] = [];
    client.on('message', (d) => got.push(String(d)));
    await once(client, 'open');
    await cli.waitFor((out) => plain(out).includes('#1 open'), 'the open log line');
    client.send('hi \x1b[2J there');
    // The client's text, escaped: it cannot clear the terminal of the person listening.
    await cli.waitFor((out) => plain(out).includes('<#1 hi \\x1b[2J there'), 'the message');
    cli.write('hello client\r');
    for (let i = 0; i < 500 && !got.includes('hello client'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got, ['hello client']);
    cli.write('/ping\r');
    await cli.waitFor((out) => /#1 pong: round trip \d+\.\d\d ms/.test(plain(out)), 'the round trip');
    cli.write('/close 4000 bye\r');
    const [code] = (await once(client, 'close')) as [number];
    assert.equal(code, 4000);
    // Ctrl-D stops the server.
    cli.write('\x04');
    assert.equal((await cli.finish()).status, 0);
  });
});
