// Topics across processes (issue 20): a real redis-server and three hybi server processes on
// loopback; clients connected to different processes subscribe, publishes on any process reach
// all of them in one order, and a lost pub/sub link, a paused Redis and a Redis restarted with
// and without its data behave as docs/topics.md says.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { connect } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { COUNT_TTL, freePort, requireProgram, startNode, startRedis, stopNode, stopProcess as stopRedis, until, type Answer, type Node } from './harness.js';

describe('topics across processes through Redis', { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'hybi-redis-'));
  let redisPort = 0;
  let redis: ChildProcess;
  let admin: ReturnType<typeof createClient>;
  const nodes: Node[] = [];
  const clients: { ws: WebSocket; got: string[] }[] = [];
  const closers: (() => void)[] = [];

  async function publishUntilOk(node: Node, data: string, id?: string): Promise<Answer> {
    for (let i = 0; i < 40; i++) {
      const answer = await node.call({ op: 'publish', topic: 'chat', data, id });
      if (answer.ok) return answer;
      assert.equal(answer.code, 'ERR_BROKER', 'failures are BrokerErrors');
    }
    throw new Error(`no publish of ${data} succeeded`);
  }

  function sequences(): string[][] {
    return clients.map((c) => c.got);
  }

  before(async () => {
    requireProgram('redis-server', ['--version']);
    redisPort = await freePort();
    redis = await startRedis(redisPort, dir);
    admin = createClient({ url: `redis://127.0.0.1:${redisPort}` });
    admin.on('error', () => {});
    await admin.connect();
    for (let i = 0; i < 3; i++) nodes.push(await startNode(`redis://127.0.0.1:${redisPort}`));
    for (const node of nodes) {
      for (let i = 0; i < 2; i++) {
        const ws = await connect(`ws://127.0.0.1:${node.port}/t/chat`);
        const entry = { ws, got: [] as string[] };
        ws.on('message', (data) => entry.got.push(String(data)));
        clients.push(entry);
      }
    }
    for (const node of nodes) {
      const count = await node.call({ op: 'count', topic: 'chat' });
      assert.equal(count.result, 2, 'two clients subscribed on each process');
    }
    // Each process subscribes to Redis asynchronously: publish until every client has heard one.
    for (let i = 0; !clients.every((c) => c.got.length > 0); i++) {
      assert.ok(i < 100, 'every process subscribed');
      await nodes[0]!.call({ op: 'publish', topic: 'chat', data: `warm-up ${i}` });
      await until(() => clients.every((c) => c.got.length > 0), 'warm-up', 500).catch(() => {});
    }
    // Quiet: each client has every warm-up published after its process subscribed.
    await until(() => clients.every((c) => c.got.at(-1) === clients[0]!.got.at(-1)), 'warm-ups settle');
    for (const c of clients) c.got.length = 0;
  });

  after(async () => {
    for (const close of closers) close();
    for (const c of clients) c.ws.terminate();
    await Promise.all(nodes.map(stopNode));
    await admin?.close().catch(() => {});
    if (redis) await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a publish on any process reaches every client on every process, all in one order', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => nodes[i % 3]!.call({ op: 'publish', topic: 'chat', data: `m${i}` })));
    assert.ok(answers.every((a) => a.ok));
    const byOffset = answers.map((a, i) => ({ offset: a.result!.offset, data: `m${i}` })).sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < byOffset.length; i++) assert.equal(byOffset[i]!.offset, byOffset[i - 1]!.offset + 1, 'offsets are consecutive across processes');
    assert.equal(new Set(answers.map((a) => a.result!.epoch)).size, 1);
    await until(() => clients.every((c) => c.got.length >= 30), 'all delivered');
    for (const got of sequences()) assert.deepEqual(got, byOffset.map((m) => m.data));
  });

  /** Resolves once every live node counts `n` subscribers of `topic` across the nodes. */
  async function totalsReach(topic: string, n: number, live = nodes): Promise<void> {
    let last: unknown[] = [];
    for (let i = 0; ; i++) {
      last = (await Promise.all(live.map((node) => node.call({ op: 'total', topic })))).map((a) => (a.ok ? a.result : a.code));
      if (last.every((x) => x === n)) return;
      assert.ok(i < 500, `every node counts ${n} subscribers of ${topic}: ${JSON.stringify(last)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('totalSubscriberCount() counts the connections of every process; subscriberCount() its own', async () => {
    await totalsReach('chat', 6);
    const room: WebSocket[] = [];
    closers.push(() => room.forEach((ws) => ws.terminate()));
    for (const node of [nodes[0]!, nodes[0]!, nodes[1]!]) room.push(await connect(`ws://127.0.0.1:${node.port}/t/room`));
    await totalsReach('room', 3);
    const local = await Promise.all(nodes.map((node) => node.call({ op: 'count', topic: 'room' })));
    assert.deepEqual(local.map((a) => a.result), [2, 1, 0]);
    // A connection that leaves is no longer counted anywhere.
    room[0]!.terminate();
    await totalsReach('room', 2);
    room[2]!.terminate();
    await totalsReach('room', 1);
  });

  it('CLIENT KILL TYPE pubsub: each process resubscribes and fills the gap from the Stream', async () => {
    for (const c of clients) c.got.length = 0;
    const killed = Number(await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']));
    assert.ok(killed >= 3, `the pub/sub links of the three processes were killed (${killed})`);
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      sent.push(`after kill ${i}`);
      assert.ok((await nodes[1]!.call({ op: 'publish', topic: 'chat', data: sent.at(-1) })).ok);
    }
    await until(() => clients.every((c) => c.got.length >= 10), 'delivered after the kill');
    for (const got of sequences()) assert.deepEqual(got, sent);
  });

  it('kill -STOP: a publish fails loudly after the timeout; after -CONT it is stored once and nothing is lost', async () => {
    for (const c of clients) c.got.length = 0;
    redis.kill('SIGSTOP');
    let answer: Answer;
    try {
      answer = await nodes[2]!.call({ op: 'publish', topic: 'chat', data: 'while stopped', id: 'stopped-1' });
    } finally {
      redis.kill('SIGCONT');
    }
    assert.deepEqual([answer.ok, answer.code, answer.reason], [false, 'ERR_BROKER', 'timeout']);
    const retried = await nodes[0]!.call({ op: 'publish', topic: 'chat', data: 'while stopped', id: 'stopped-1' });
    const next = await nodes[0]!.call({ op: 'publish', topic: 'chat', data: 'after cont' });
    assert.ok(retried.ok && next.ok);
    assert.equal(next.result!.offset, retried.result!.offset + 1, 'the retry with the same id was stored once');
    await until(() => clients.every((c) => c.got.includes('after cont')), 'delivered after -CONT');
    for (const got of sequences()) assert.deepEqual(got, ['while stopped', 'after cont']);
  });

  it('a restart with its data keeps the epoch, and what was published meanwhile is delivered in order', async () => {
    const before = await nodes[0]!.call({ op: 'publish', topic: 'chat', data: 'before restart' });
    assert.ok(before.ok);
    await until(() => clients.every((c) => c.got.at(-1) === 'before restart'), 'delivered before the restart');
    for (const c of clients) c.got.length = 0;
    await admin.sendCommand(['SAVE']);
    await admin.close().catch(() => {});
    await stopRedis(redis);
    const down = await nodes[1]!.call({ op: 'publish', topic: 'chat', data: 'while down', id: 'down-1' });
    assert.deepEqual([down.ok, down.code], [false, 'ERR_BROKER'], 'a publish while Redis is down fails loudly');
    redis = await startRedis(redisPort, dir);
    admin = createClient({ url: `redis://127.0.0.1:${redisPort}` });
    admin.on('error', () => {});
    await admin.connect();
    const after = await publishUntilOk(nodes[2]!, 'after restart');
    assert.equal(after.result!.epoch, before.result!.epoch, 'same epoch: the history survived');
    // The publish that failed while Redis was down may still be applied (the client queued it):
    // retried with its id, it is stored exactly once either way.
    const retried = await publishUntilOk(nodes[1]!, 'while down', 'down-1');
    assert.equal(retried.result!.epoch, before.result!.epoch);
    const history = await nodes[0]!.call({ op: 'history', topic: 'chat', since: before.result });
    assert.ok(history.ok);
    assert.equal(history.result!.complete, true);
    assert.deepEqual([...history.result!.messages!].sort(), ['after restart', 'while down']);
    await until(() => clients.every((c) => c.got.length === 2), 'delivered after the restart');
    // Every client got what the history holds after `before`, in offset order.
    for (const got of sequences()) assert.deepEqual(got, history.result!.messages);
  });

  it('a restart without its data changes the epoch, and history() says the gap cannot be filled', async () => {
    const last = await publishUntilOk(nodes[0]!, 'last of the old epoch');
    await until(() => clients.every((c) => c.got.at(-1) === 'last of the old epoch'), 'delivered');
    for (const c of clients) c.got.length = 0;
    await admin.close().catch(() => {});
    await stopRedis(redis);
    rmSync(join(dir, 'dump.rdb'), { force: true });
    redis = await startRedis(redisPort, dir);
    admin = createClient({ url: `redis://127.0.0.1:${redisPort}` });
    admin.on('error', () => {});
    await admin.connect();
    const fresh = await publishUntilOk(nodes[1]!, 'first of the new epoch');
    assert.notEqual(fresh.result!.epoch, last.result!.epoch, 'a new epoch');
    assert.equal(fresh.result!.offset, 1);
    const history = await nodes[2]!.call({ op: 'history', topic: 'chat', since: last.result });
    assert.equal(history.result!.complete, false, 'the old history is gone: the gap cannot be filled');
    assert.equal(history.result!.epoch, fresh.result!.epoch);
    await until(() => clients.every((c) => c.got.includes('first of the new epoch')), 'the new epoch reaches every client');
    for (const got of sequences()) assert.deepEqual(got, ['first of the new epoch']);
    // The counts were lost with the data: each node wrote its own again when it reconnected.
    await totalsReach('chat', 6);
  });

  it('a process killed without closing stops being counted once its counts expire (countTtl)', async () => {
    await totalsReach('chat', 6);
    const victim = nodes[2]!;
    await stopRedis(victim.child);
    const started = Date.now();
    await totalsReach('chat', 4, nodes.slice(0, 2));
    assert.ok(Date.now() - started < COUNT_TTL * 4, 'no longer counted within about countTtl');
  });
});
