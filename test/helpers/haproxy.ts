/**
 * HAProxy (Debian's /usr/sbin/haproxy) as a child process for tests: started with a generated
 * configuration in the foreground, ready once every port it binds accepts a connection, stopped
 * with SIGKILL. A missing haproxy fails the test (CI installs it), it never skips.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** The defaults every generated configuration starts with: HTTP mode, bounded timeouts. */
export const HAPROXY_DEFAULTS = [
  'global',
  '  maxconn 1000',
  'defaults',
  '  mode http',
  '  timeout connect 5s',
  '  timeout client 60s',
  '  timeout server 60s',
  '  timeout tunnel 60s',
];

function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1' });
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/**
 * Starts haproxy with `config` (HAPROXY_DEFAULTS are not added: pass them) and resolves once every
 * port in `ports` accepts; rejects with haproxy's output when it exits or does not listen in 5 s.
 */
export async function startHaproxy(config: readonly string[], ports: readonly number[], dir?: string): Promise<ChildProcess> {
  const version = spawnSync('haproxy', ['-v'], { encoding: 'utf8' });
  assert.equal(version.status, 0, 'haproxy is installed (CI installs the Debian package)');
  const home = dir ?? mkdtempSync(join(tmpdir(), 'hybi-haproxy-'));
  const file = join(home, 'haproxy.cfg');
  writeFileSync(file, [...config, ''].join('\n'));
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  // The configuration was read at start; a directory made here is not needed after.
  child.once('exit', () => {
    if (dir === undefined) rmSync(home, { recursive: true, force: true });
  });
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  for (const port of ports) {
    for (let i = 0; !(await accepts(port)); i++) {
      if (child.exitCode !== null) throw new Error(`haproxy exited: ${err}`);
      assert.ok(i < 500, `haproxy did not listen: ${err}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  return child;
}

/** Kills a child process and waits for it to be gone. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}
