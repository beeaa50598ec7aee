// hybi-00 (draft-hixie-76) against implementations nobody here wrote: Perl's Protocol::WebSocket
// (Debian libprotocol-websocket-perl) and Ruby's websocket gem (ruby-websocket) as clients and
// servers, and the faye websocket-driver package's draft-76 server. CI installs all of them; a
// missing one fails these tests rather than skipping them.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { WebSocketServer } from '../../src/api/server.js';
import { connect } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';

/** The part of faye's websocket-driver used here (it ships no types). */
interface FayeDriver {
  readonly version: string;
  readonly io: NodeJS.ReadWriteStream;
  on(event: 'connect' | 'close', listener: () => void): void;
  on(event: 'message', listener: (event: { data: string }) => void): void;
  start(): boolean;
  text(message: string): boolean;
}
const websocketDriver = createRequire(import.meta.url)('websocket-driver') as { server(options: { allowDrafts: boolean }): FayeDriver };

const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const PERL = '/usr/bin/perl';
const RUBY = 'ruby';
const T = { timeout: 20_000 };

function requirePeer(command: string, args: string[], what: string): void {
  const probe = spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 });
  assert.equal(probe.status, 0, `${what} is needed for this test (CI installs it)`);
}
const requirePerl = () => requirePeer(PERL, ['-MProtocol::WebSocket', '-e', '1'], "Perl's Protocol::WebSocket (libprotocol-websocket-perl)");
const requireRuby = () => requirePeer(RUBY, ['-e', 'require "websocket"'], "Ruby's websocket gem (ruby-websocket)");

/** Our hybi-00 echo server; 'seen' collects what each connection reported. */
async function echoServer(t: TestContext) {
  const seen: string[] = [];
  const server = new WebSocketServer({ legacy: { hybi00: true } });
  server.on('handlerError', () => {});
  server.route('/demo', async (ws: WebSocket) => {
    seen.push(ws.version);
    for await (const m of ws) await ws.send(`echo:${m.data as string}`);
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close());
  return { port, seen };
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(command, args, { timeout: 15_000 }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout))),
  );
}

/** Starts a peer server script that prints "PORT <n>"; resolves with the port and its output so far. */
async function peerServer(t: TestContext, command: string, script: string) {
  const child = spawn(command, [fixtures + script], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill());
  let out = '';
  const exited = once(child, 'exit');
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`${script} exited (${code}) before listening: ${out}`)));
  });
  return { port, output: () => out, exited };
}

/** Our client against a peer server: one message each way, then our close. */
async function talk(port: number): Promise<void> {
  const ws = await connect(`ws://127.0.0.1:${port}/demo`, { version: 'hybi-00' });
  assert.equal(ws.version, 'hybi-00');
  const closed = once(ws, 'close');
  await ws.send('héllo ✓');
  assert.deepEqual(await ws.receive(), { type: 'text', data: 'echo:héllo ✓' });
  await ws.close(1000, 'done');
  const [code] = await closed;
  assert.equal(code, 1005);
}

describe('interop: Perl Protocol::WebSocket (draft-ietf-hybi-00)', () => {
  it('its client talks to our server: handshake, a message each way, the closing handshake', T, async (t) => {
    requirePerl();
    const { port, seen } = await echoServer(t);
    const out = await run(PERL, [fixtures + 'hybi00_client.pl', String(port), '/demo', 'héllo ✓']);
    assert.equal(out, 'OPEN\nMSG:echo:héllo ✓\nCLOSED\n');
    assert.deepEqual(seen, ['hybi-00']);
  });

  it('our client talks to its server', T, async (t) => {
    requirePerl();
    const peer = await peerServer(t, PERL, 'hybi00_server.pl');
    await talk(peer.port);
    await peer.exited;
    assert.equal(peer.output(), `PORT ${peer.port}\nVERSION draft-ietf-hybi-00\nMSG:héllo ✓\nCLOSED\n`);
  });
});

describe('interop: Ruby websocket gem (version 76)', () => {
  it('its client talks to our server', T, async (t) => {
    requireRuby();
    const { port, seen } = await echoServer(t);
    const out = await run(RUBY, [fixtures + 'hybi00_client.rb', String(port), '/demo', 'héllo ✓']);
    assert.equal(out, 'OPEN\nMSG:echo:héllo ✓\nCLOSED\n');
    assert.deepEqual(seen, ['hybi-00']);
  });

  it('our client talks to its server', T, async (t) => {
    requireRuby();
    const peer = await peerServer(t, RUBY, 'hybi00_server.rb');
    await talk(peer.port);
    await peer.exited;
    assert.equal(peer.output(), `PORT ${peer.port}\nVERSION 76\nMSG:héllo ✓\nCLOSED\n`);
  });
});

describe('interop: faye websocket-driver (hixie-76 server driver)', () => {
  it('our client talks to its draft-76 server', T, async (t) => {
    const versions: string[] = [];
    const server = createServer((socket) => {
      const driver = websocketDriver.server({ allowDrafts: true });
      driver.on('connect', () => {
        versions.push(driver.version);
        driver.start();
      });
      driver.on('message', (event: { data: string }) => driver.text(`echo:${event.data}`));
      driver.on('close', () => socket.end());
      socket.on('error', () => {});
      socket.pipe(driver.io);
      driver.io.pipe(socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    await talk((server.address() as AddressInfo).port);
    assert.deepEqual(versions, ['hixie-76']);
  });
});
