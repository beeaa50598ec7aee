// Topics behind a load balancer (issue 20): three hybi server processes sharing topics through a
// real redis-server, behind HAProxy spreading clients by round robin. A publish on any process
// reaches every client, whichever process HAProxy gave it, in one order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { freePort, requireProgram, startHaproxy, startNode, startRedis, stopNode, stopProcess, until, type Node } from './harness.js';

describe('topics behind HAProxy: three processes, one Redis', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hybi-haproxy-'));
  let redis: ChildProcess | undefined;
  let haproxy: ChildProcess | undefined;
  const nodes: Node[] = [];
  const clients: { ws: WebSocket; got: string[] }[] = [];

  before(async () => {
    requireProgram('redis-server', ['--version']);
    requireProgram('haproxy', ['-v']);
    const redisPort = await freePort();
    redis = await startRedis(redisPort, dir);
    for (let i = 0; i < 3; i++) nodes.push(await startNode(`redis://127.0.0.1:${redisPort}`));
    const port = await freePort();
    haproxy = await startHaproxy(port, nodes.map((n) => n.port), dir);
    for (let i = 0; i < 6; i++) {
      const ws = await connect(`ws://127.0.0.1:${port}/t/room`);
      const entry = { ws, got: [] as string[] };
      ws.on('message', (data) => entry.got.push(String(data)));
      clients.push(entry);
    }
  });

  after(async () => {
    for (const c of clients) c.ws.terminate();
    if (haproxy) await stopProcess(haproxy);
    await Promise.all(nodes.map(stopNode));
    if (redis) await stopProcess(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it('round robin puts two clients on each process, and every publish reaches all six in one order', async () => {
    const counts = await Promise.all(nodes.map((n) => n.call({ op: 'count', topic: 'room' })));
    assert.deepEqual(counts.map((c) => c.result), [2, 2, 2], 'HAProxy spread the clients by round robin');
    // Each process subscribes to Redis asynchronously: publish until every client has heard one.
    for (let i = 0; !clients.every((c) => c.got.length > 0); i++) {
      assert.ok(i < 100, 'every process subscribed');
      await nodes[i % 3]!.call({ op: 'publish', topic: 'room', data: `warm-up ${i}` });
      await until(() => clients.every((c) => c.got.length > 0), 'warm-up', 500).catch(() => {});
    }
    await until(() => clients.every((c) => c.got.at(-1) === clients[0]!.got.at(-1)), 'warm-ups settle');
    for (const c of clients) c.got.length = 0;
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => nodes[i % 3]!.call({ op: 'publish', topic: 'room', data: `m${i}` })));
    assert.ok(answers.every((a) => a.ok));
    const order = answers.map((a, i) => ({ offset: a.result!.offset, data: `m${i}` })).sort((a, b) => a.offset - b.offset).map((m) => m.data);
    await until(() => clients.every((c) => c.got.length >= 30), 'all delivered');
    for (const c of clients) assert.deepEqual(c.got, order);
  });
});
