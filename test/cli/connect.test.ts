/**
 * `hybi connect` run as a subprocess against real servers: hybi's own WebSocketServer, the `ws`
 * package's, and `hybi serve` over TLS; scripted (pipes) and interactive (a pseudo-terminal made
 * by util-linux `script`).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer as WsServer, type WebSocket as WsSocket } from 'ws';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { Cli, CLI, killAll, runCli, serve } from './harness.js';

afterEach(killAll);

/** A hybi echo server that prefixes text, so output proves a round trip and not a local echo. */
async function hybiServer(onConnection?: (ws: WebSocket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = new WebSocketServer();
  server.on('connection', (ws: WebSocket) => {
    if (onConnection) return onConnection(ws);
    ws.on('message', (data: unknown, isBinary: boolean) => {
      void ws.send(isBinary ? (data as Uint8Array) : `echo: ${String(data)}`).catch(() => {});
    });
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { url: `ws://127.0.0.1:${port}/`, close: () => server.close() };
}

/** A `ws` package server; `onConnection` decides what it does. */
async function wsServer(
  onConnection: (ws: WsSocket, req: import('node:http').IncomingMessage) => void,
  options: ConstructorParameters<typeof WsServer>[0] = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const server = new WsServer({ port: 0, host: '127.0.0.1', ...options });
  server.on('connection', onConnection);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: async () => {
      for (const c of server.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends lines one by one, waiting for each answer, then ends stdin: a deterministic session. */
async function converse(cli: Cli, exchanges: Array<[string, string]>): Promise<void> {
  for (const [line, answer] of exchanges) {
    cli.write(line + '\n');
    await cli.waitForStdout(answer + '\n');
  }
  cli.end();
}

describe('hybi connect, scripted, against a hybi server', () => {
  let server: Awaited<ReturnType<typeof hybiServer>>;
  before(async () => {
    server = await hybiServer();
  });
  after(() => server.close());

  it('sends each stdin line as a message, prints each message on a line, exits 0 after a clean close', async () => {
    const cli = new Cli(['connect', server.url]);
    await converse(cli, [
      ['hello', 'echo: hello'],
      ['{"a":1}', 'echo: {"a":1}'],
      ['', 'echo: '],
    ]);
    const done = await cli.finish();
    assert.equal(done.stdout, 'echo: hello\necho: {"a":1}\necho: \n');
    assert.equal(done.stderr, '');
    assert.equal(done.status, 0);
  });

  it('with --count, ends after that many messages even when stdin ended first (echo hi | hybi connect)', async () => {
    const done = await runCli(['connect', server.url, '--count', '2'], 'one\ntwo\nthree\n');
    assert.equal(done.stdout, 'echo: one\necho: two\n');
    assert.equal(done.status, 0);
  });

  it('with --binary, sends raw stdin chunks as binary messages and prints them as hex or base64', async () => {
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    const hex = await runCli(['connect', server.url, '--binary', '--count', '1'], bytes);
    assert.equal(hex.stdout, '000102feff\n');
    const b64 = await runCli(['connect', server.url, '--binary', '--count', '1', '--show-binary', 'base64'], bytes);
    assert.equal(b64.stdout, 'AAEC/v8=\n');
    const raw = await runCli(['connect', server.url, '--binary', '--count', '1', '--show-binary', 'raw'], bytes);
    assert.deepEqual(raw.stdoutBytes, bytes);
  });

  it('prints what the server sends first, before anything was typed', async () => {
    const greeter = await hybiServer((ws) => {
      void ws.send('welcome');
      void ws.send(Uint8Array.from([0xca, 0xfe]));
    });
    try {
      const done = await runCli(['connect', greeter.url, '--count', '2']);
      assert.equal(done.stdout, 'welcome\ncafe\n');
      assert.equal(done.status, 0);
    } finally {
      await greeter.close();
    }
  });
});

describe('hybi connect, scripted, against the ws package', () => {
  it('echoes exactly, text and binary', async () => {
    const server = await wsServer((ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `ws says ${String(data)}`)));
    try {
      const cli = new Cli(['connect', server.url]);
      await converse(cli, [
        ['first', 'ws says first'],
        ['héllo wörld 👋', 'ws says héllo wörld 👋'],
      ]);
      const done = await cli.finish();
      assert.equal(done.stdout, 'ws says first\nws says héllo wörld 👋\n');
      assert.equal(done.status, 0);
    } finally {
      await server.close();
    }
  });

  it('sends -H headers, --origin and -p subprotocols in the upgrade request', async () => {
    const server = await wsServer(
      (ws, req) =>
        ws.send(JSON.stringify({ token: req.headers['x-token'], multi: req.headers['x-multi'], origin: req.headers.origin, protocol: ws.protocol })),
      { handleProtocols: (offered) => (offered.has('superchat') ? 'superchat' : false) },
    );
    try {
      const done = await runCli([
        'connect', server.url, '--count', '1',
        '-H', 'X-Token: abc', '-H', 'X-Multi: 1', '--header', 'x-multi: 2',
        '--origin', 'http://example.test', '-p', 'chat', '--protocol', 'superchat',
      ]);
      assert.equal(done.stdout, '{"token":"abc","multi":"1, 2","origin":"http://example.test","protocol":"superchat"}\n');
      assert.equal(done.status, 0);
    } finally {
      await server.close();
    }
  });

  it('offers permessage-deflate with --compress, and only then', async () => {
    const server = await wsServer((ws, req) => ws.send(`offer: ${req.headers['sec-websocket-extensions'] ?? 'none'}`), { perMessageDeflate: true });
    try {
      const plain = await runCli(['connect', server.url, '--count', '1']);
      assert.equal(plain.stdout, 'offer: none\n');
      const compressed = await runCli(['connect', server.url, '--count', '1', '--compress']);
      assert.match(compressed.stdout, /^offer: permessage-deflate.*\n$/);
      assert.equal(compressed.status, 0);
    } finally {
      await server.close();
    }
  });

  it('exits 0 when the server closes normally, printing what came before', async () => {
    const server = await wsServer((ws) => {
      ws.send('last words');
      ws.close(1000, 'done');
    });
    try {
      const cli = new Cli(['connect', server.url]);
      const done = await cli.finish();
      assert.equal(done.stdout, 'last words\n');
      assert.equal(done.status, 0);
    } finally {
      await server.close();
    }
  });

  it('exits 3 with the reason on stderr when the server closes with an error code', async () => {
    const server = await wsServer((ws) => ws.close(1011, 'database down'));
    try {
      const done = await new Cli(['connect', server.url]).finish();
      assert.equal(done.status, 3);
      assert.match(done.stderr, /1011 \(internal error\) "database down"/);
    } finally {
      await server.close();
    }
  });

  it('exits 3 on an abnormal close (the TCP connection dropped without a close frame: 1006)', async () => {
    const server = await wsServer((ws) => ws.on('message', () => ws.terminate()));
    try {
      const cli = new Cli(['connect', server.url]);
      cli.write('boom\n');
      const done = await cli.finish();
      assert.equal(done.status, 3);
      assert.match(done.stderr, /1006/);
      assert.equal(done.stdout, '');
    } finally {
      await server.close();
    }
  });

  it('exits 3 when a message exceeds --max-message-size (1009)', async () => {
    const server = await wsServer((ws) => ws.send('x'.repeat(2000)));
    try {
      const done = await new Cli(['connect', server.url, '--max-message-size', '1k']).finish();
      assert.equal(done.status, 3);
      assert.match(done.stderr, /1009/);
      assert.equal(done.stdout, '');
    } finally {
      await server.close();
    }
  });

  it('exits 1 with the status on stderr when the handshake is refused', async () => {
    const server = await wsServer(() => {}, {
      verifyClient: (_info: unknown, cb: (ok: boolean, code?: number, message?: string) => void) => cb(false, 401, 'Unauthorized'),
    });
    try {
      const done = await runCli(['connect', server.url]);
      assert.equal(done.status, 1);
      assert.match(done.stderr, /^hybi connect: handshake failed: .*401/);
      assert.equal(done.stdout, '');
    } finally {
      await server.close();
    }
  });
});

describe('hybi connect shows what a refusing server sent without its escape sequences', () => {
  /** A server that answers every request head with `answer` (latin1 bytes) and hangs up. */
  async function answering(answer: string): Promise<{ url: string; close(): Promise<void> }> {
    const sockets = new Set<Socket>();
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) socket.end(answer, 'latin1');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    return {
      url: `ws://127.0.0.1:${port}/`,
      close: async () => {
        for (const s of sockets) s.destroy();
        server.close();
        await once(server, 'close');
      },
    };
  }

  it("a refusal body's first line: ESC ] (title), BEL, ESC [ 2J (clear) and C1 controls come out as \\xNN", async () => {
    const body = '\x1b]0;pwned\x07\x1b[2J\x9b31mAccess denied\nsecond line';
    const server = await answering(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${Buffer.from(body).toString('latin1')}`);
    try {
      const done = await runCli(['connect', server.url]);
      assert.equal(done.status, 1);
      for (const control of ['\x1b', '\x07', '\x9b']) assert.ok(!done.stderr.includes(control), JSON.stringify(done.stderr));
      assert.ok(done.stderr.includes('Forbidden: \\x1b]0;pwned\\x07\\x1b[2J\\x9b31mAccess denied\n'), JSON.stringify(done.stderr));
    } finally {
      await server.close();
    }
  });

  it('header values quoted in the error (an Upgrade header holding a C1 CSI)', async () => {
    const server = await answering('HTTP/1.1 101 Switching Protocols\r\nUpgrade: \x9b2J\x9b0;0H\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n');
    try {
      const done = await runCli(['connect', server.url]);
      assert.equal(done.status, 1);
      assert.ok(!done.stderr.includes('\x9b'), JSON.stringify(done.stderr));
      assert.match(done.stderr, /Upgrade: \\x9b2J\\x9b0;0H instead of websocket/);
    } finally {
      await server.close();
    }
  });
});

describe('hybi connect when there is no connection', () => {
  it('exits 1 when nothing listens on the port', async () => {
    const port = await freePort();
    const done = await runCli(['connect', `ws://127.0.0.1:${port}/`]);
    assert.equal(done.status, 1);
    assert.match(done.stderr, /ECONNREFUSED|refused/);
  });

  it('with --retry N, tries N more times and says so on stderr', async () => {
    const port = await freePort();
    const done = await runCli(['connect', `ws://127.0.0.1:${port}/`, '--retry', '2']);
    assert.equal(done.status, 1);
    assert.equal(done.stderr.match(/retrying in/g)?.length, 2, done.stderr);
  });

  it('with --timeout, gives up on a server that accepts TCP but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createTcpServer((s) => sockets.add(s));
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const { port } = silent.address() as { port: number };
      const started = Date.now();
      const done = await runCli(['connect', `ws://127.0.0.1:${port}/`, '--timeout', '300ms']);
      assert.equal(done.status, 1);
      assert.match(done.stderr, /300 ms|time/i);
      assert.ok(Date.now() - started < 5000);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it('exits 2 for a URL that cannot be a WebSocket URL, or no URL at all', async () => {
    const ftp = await runCli(['connect', 'ftp://127.0.0.1/']);
    assert.equal(ftp.status, 2);
    assert.match(ftp.stderr, /ftp/);
    const none = await runCli(['connect']);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /URL is required[\s\S]*hybi connect --help/);
    const bad = await runCli(['connect', 'ws://127.0.0.1/', '--bogus']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--bogus/);
  });
});

/** A port with nothing listening on it (bound, read, released). */
async function freePort(): Promise<number> {
  const s = createTcpServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('hybi connect over TLS (wss) to hybi serve', () => {
  let dir: string;
  let certPath: string;
  let keyPath: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hybi-cli-tls-'));
    certPath = join(dir, 'cert.pem');
    keyPath = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=hybi cli test',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 },
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('talks to a wss server whose certificate it was given with --ca', async () => {
    const served = await serve(['--tls-cert', certPath, '--tls-key', keyPath, '--quiet']);
    assert.match(served.origin, /^wss:/);
    const done = await runCli(['connect', `${served.origin}/`, '--ca', certPath, '--count', '1'], 'over tls\n');
    assert.equal(done.stdout, 'over tls\n');
    assert.equal(done.status, 0);
  });

  it('refuses an unknown certificate (exit 1), unless --insecure', async () => {
    const served = await serve(['--tls-cert', certPath, '--tls-key', keyPath, '--quiet']);
    const refused = await runCli(['connect', `${served.origin}/`]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /certificate/i);
    const insecure = await runCli(['connect', `${served.origin}/`, '--insecure', '--count', '1'], 'anyway\n');
    assert.equal(insecure.stdout, 'anyway\n');
    assert.equal(insecure.status, 0);
  });

  it('says which --ca file it cannot read (exit 2)', async () => {
    const done = await runCli(['connect', 'wss://127.0.0.1:1/', '--ca', join(dir, 'missing.pem')]);
    assert.equal(done.status, 2);
    assert.match(done.stderr, /--ca: cannot read .*missing\.pem/);
  });
});

/** util-linux `script` gives the CLI a pseudo-terminal; without it the interactive tests skip. */
const hasScript = existsSync('/usr/bin/script');

function shellQuote(a: string): string {
  return `'${a.replaceAll("'", "'\\''")}'`;
}

/** A shell command run under a pseudo-terminal: its stdin and stdout are a TTY. */
function underPty(command: string): Cli {
  // -q: no banner, -f: flush at once, -e: exit with the child's status, -c: the command.
  return new Cli([], { command: ['script', '-qfec', command, '/dev/null'], env: { TERM: 'xterm' } });
}

/** `hybi connect ...` under a pseudo-terminal, as a person runs it. */
function interactive(args: string[]): Cli {
  return underPty([process.execPath, CLI, ...args].map(shellQuote).join(' '));
}

/** The terminal output without colour and cursor sequences, for matching text. */
function plain(s: string): string {
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\r/g, '');
}

describe('hybi connect, interactive (under a pseudo-terminal)', { skip: hasScript ? false : 'util-linux script is not installed' }, () => {
  let server: Awaited<ReturnType<typeof hybiServer>>;
  before(async () => {
    server = await hybiServer();
  });
  after(() => server.close());

  it('prompts, prints replies in colour, pings with a round-trip time, and /close prints the peer\'s code and reason', async () => {
    const cli = interactive(['connect', server.url]);
    await cli.waitFor((out) => plain(out).includes('> '), 'the prompt');
    assert.match(plain(cli.stdout), /Connected to ws:\/\/127\.0\.0\.1:\d+\//);
    cli.write('hi there\r');
    await cli.waitFor((out) => plain(out).includes('< echo: hi there'), 'the echo');
    // Colours on a terminal: the incoming marker is cyan.
    assert.ok(cli.stdout.includes('\x1b[36m<\x1b[39m'), JSON.stringify(cli.stdout));
    cli.write('/ping abc\r');
    await cli.waitFor((out) => /pong "abc": round trip \d+\.\d\d ms/.test(plain(out)), 'the ping');
    cli.write('/close 4001 see you\r');
    const done = await cli.finish();
    // hybi's server answers a close with the code alone (RFC 6455 section 5.5.1 lets it).
    assert.match(plain(done.stdout), /closing \(4001 "see you"\)\.\.\.\nclosed; the server answered: 4001 \(application\)\n/);
    assert.equal(done.status, 0);
  });

  it('names the negotiated subprotocol and extension when it connects', async () => {
    const served = await serve(['--compress', '-p', 'chat.v1', '--quiet']);
    const cli = interactive(['connect', `${served.origin}/`, '--compress', '-p', 'chat.v1']);
    await cli.waitFor((out) => plain(out).includes('> '), 'the prompt');
    assert.match(plain(cli.stdout), /Connected to ws:\/\/127\.0\.0\.1:\d+\/ \(protocol chat\.v1, extensions permessage-deflate[^)]*\)\./);
    cli.write('\x04');
    assert.equal((await cli.finish()).status, 0);
  });

  it('Ctrl-D closes cleanly and prints the peer\'s close code', async () => {
    const cli = interactive(['connect', server.url]);
    await cli.waitFor((out) => plain(out).includes('> '), 'the prompt');
    cli.write('\x04');
    const done = await cli.finish();
    assert.match(plain(done.stdout), /closed; the server answered: 1000 \(normal closure\)/);
    assert.equal(done.status, 0);
  });

  it('shows binary as hex, sends /hex, and reports mistakes (unknown command, bad close code, long ping) without closing', async () => {
    const cli = interactive(['connect', server.url]);
    await cli.waitFor((out) => plain(out).includes('> '), 'the prompt');
    cli.write('/hex 00 ff 10\r');
    await cli.waitFor((out) => plain(out).includes('< [binary 3 B] 00ff10'), 'the binary echo');
    cli.write('/nope\r');
    await cli.waitFor((out) => plain(out).includes('unknown command /nope'), 'the error');
    cli.write('//slash\r');
    await cli.waitFor((out) => plain(out).includes('< echo: /slash'), 'the escaped slash');
    // A close code that may not be sent (RFC 6455 section 7.4.2) is refused and the session goes on.
    cli.write('/close 1005\r');
    await cli.waitFor((out) => /error: .*1005/.test(plain(out)), 'the refused close');
    cli.write(`/ping ${'x'.repeat(126)}\r`);
    await cli.waitFor((out) => /error: .*125/.test(plain(out)), 'the refused ping');
    cli.write('still open\r');
    await cli.waitFor((out) => plain(out).includes('< echo: still open'), 'the echo after the errors');
    cli.write('\x04');
    assert.equal((await cli.finish()).status, 0);
  });

  it('does not let a peer\'s escape sequences reach the terminal', async () => {
    const evil = await hybiServer((ws) => void ws.send('title\x1b]0;pwned\x07 done'));
    try {
      const cli = interactive(['connect', evil.url]);
      await cli.waitFor((out) => out.includes('done'), 'the message');
      assert.ok(!cli.stdout.includes('\x1b]0;'), JSON.stringify(cli.stdout));
      assert.ok(plain(cli.stdout).includes('title\\x1b]0;pwned\\x07 done'));
      cli.write('\x04');
      await cli.finish();
    } finally {
      await evil.close();
    }
  });

  it('writes plain lines, without prompt or colour, when only stdin is a terminal (hybi connect URL > file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hybi-cli-out-'));
    try {
      const file = join(dir, 'out.txt');
      const cli = underPty(`${[process.execPath, CLI, 'connect', server.url].map(shellQuote).join(' ')} > ${shellQuote(file)}`);
      const deadline = Date.now() + 10_000;
      const content = (): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');
      while (!content().includes('Ctrl-D closes') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      cli.write('to a file\r');
      while (!content().includes('< echo: to a file') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      cli.write('\x04');
      assert.equal((await cli.finish()).status, 0);
      assert.match(content(), /^Connected to ws:\/\/127\.0\.0\.1:\d+\/\.\nType a message and press Enter; \/help lists commands; Ctrl-D closes\.\n< echo: to a file\nclosing \(1000\)\.\.\.\nclosed; the server answered: 1000 \(normal closure\)\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is scripted, without colour, when only stdout is a terminal (echo x | hybi connect)', async () => {
    const cli = underPty(`echo plain | ${[process.execPath, CLI, 'connect', server.url, '--count', '1'].map(shellQuote).join(' ')}`);
    const done = await cli.finish();
    assert.equal(done.stdout.replace(/\r/g, ''), 'echo: plain\n');
    assert.equal(done.status, 0);
  });
});
