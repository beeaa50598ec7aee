// Shared parts of the Redis tests (issue 20): free loopback ports, a redis-server, hybi server
// processes driven over IPC, haproxy, and waiting for a condition across processes.
import assert from 'node:assert/strict';
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { HAPROXY_DEFAULTS, startHaproxy as startHaproxyWith, stopProcess } from '../helpers/haproxy.js';

export interface Answer {
  seq: number;
  ok: boolean;
  result?: { epoch: string; offset: number; complete?: boolean; messages?: string[] } & Record<string, unknown>;
  code?: string;
  reason?: string;
}

export interface Node {
  child: ChildProcess;
  port: number;
  call(request: Record<string, unknown>): Promise<Answer>;
}

/** The nodes' countTtl: short, so that a killed node stops being counted within the test's bounds. */
export const COUNT_TTL = 1500;

export { freePort, stopProcess } from '../helpers/haproxy.js';

/** Fails (does not skip) when a program the test needs is missing: CI installs it. */
export function requireProgram(name: string, args: string[]): void {
  const result = spawnSync(name, args, { encoding: 'utf8' });
  assert.equal(result.status, 0, `${name} is installed (CI installs the Debian package)`);
}

/** redis-server on `port`, persistence off (a test SAVEs by hand), its files in `dir`. */
export async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`redis-server exited: ${out}`)));
  });
  return child;
}

/** A hybi server process (node-process.ts) using a redisBroker on `redisUrl`. */
export async function startNode(redisUrl: string): Promise<Node> {
  const child = fork(join(import.meta.dirname, 'node-process.js'), { env: { ...process.env, REDIS_URL: redisUrl, BROKER_TIMEOUT: '2000', COUNT_TTL: String(COUNT_TTL) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const waiting = new Map<number, (answer: Answer) => void>();
  let seq = 0;
  const [ready] = (await once(child, 'message')) as [{ ready: number }];
  child.on('message', (message) => {
    const answer = message as Answer;
    waiting.get(answer.seq)?.(answer);
    waiting.delete(answer.seq);
  });
  return {
    child,
    port: ready.ready,
    call(request) {
      const n = ++seq;
      return new Promise((resolve) => {
        waiting.set(n, resolve);
        child.send({ ...request, seq: n });
      });
    },
  };
}

/** Asks a node to close its server, then makes sure its process is gone. */
export async function stopNode(node: Node): Promise<void> {
  if (node.child.connected) await node.call({ op: 'close' });
  await stopProcess(node.child);
}

/** Resolves once `condition` holds; checks every 10 ms, fails after `ms`. */
export async function until(condition: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** haproxy on `port`, spreading connections over `backends` by round robin; ready once it accepts. */
export function startHaproxy(port: number, backends: number[], dir: string): Promise<ChildProcess> {
  return startHaproxyWith(
    [
      ...HAPROXY_DEFAULTS,
      'frontend ws',
      `  bind 127.0.0.1:${port}`,
      '  default_backend nodes',
      'backend nodes',
      '  balance roundrobin',
      ...backends.map((p, i) => `  server node${i} 127.0.0.1:${p}`),
    ],
    [port],
    dir,
  );
}
