// Topics across the workers of node:cluster (issue 20): two workers on one port, publishes from
// either reach the subscribers of both in offset order, and a killed worker is replaced, its
// subscriptions forgotten by the primary, and its clients reconnect and get the next publishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connect } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { clusterBroker } from '../../src/api/topics/cluster-broker.js';
import { clusterPrimary, startCluster } from '../../src/api/topics/cluster-primary.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { within } from '../helpers/ws-pair.js';

const WORKER = fileURLToPath(new URL('./cluster-worker.js', import.meta.url));

async function text(ws: WebSocket): Promise<string> {
  const message = await within(ws.receive(), 10_000, 'a message');
  assert.equal(message.type, 'text');
  return message.data as string;
}

async function texts(ws: WebSocket, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await text(ws));
  return out;
}

test('clusterBroker() outside a worker and clusterPrimary() options are refused before anything starts', () => {
  assert.throws(() => clusterBroker(), InvalidArgumentError);
  assert.throws(() => clusterPrimary({ historySize: -1 }), InvalidArgumentError);
});

test('node:cluster: two workers on one port share a topic; a killed worker is replaced and its client reconnects', { timeout: 60_000 }, async (t) => {
  const cluster = startCluster({ workers: 2, exec: WORKER });
  const clients: WebSocket[] = [];
  t.after(async () => {
    for (const ws of clients) ws.terminate();
    await cluster.close();
  });
  const { port } = await within(cluster.listening(), 30_000, 'two workers listening');
  const url = `ws://127.0.0.1:${port}/`;
  async function join(): Promise<{ ws: WebSocket; pid: number }> {
    const ws = await within(connect(url), 10_000, 'a connection');
    clients.push(ws);
    const hello = await text(ws);
    assert.match(hello, /^hello \d+$/);
    return { ws, pid: Number(hello.split(' ')[1]) };
  }
  // The cluster hands connections to its workers in turn: a few connections reach both.
  const a = await join();
  let b = await join();
  for (let i = 0; i < 10 && b.pid === a.pid; i++) b = await join();
  assert.notEqual(b.pid, a.pid, 'clients on two different workers');
  assert.equal(cluster.primary.subscribedWorkers('news'), 2);
  // Extra clients from the search above are on either worker: count what the workers hold.
  async function count(ws: WebSocket): Promise<{ all: number; local: number }> {
    ws.send('count');
    const [, all, , local] = (await text(ws)).split(' ');
    return { all: Number(all), local: Number(local) };
  }
  // totalSubscriberCount() counts the connections of both workers; subscriberCount() this one's.
  const onA = await count(a.ws);
  const onB = await count(b.ws);
  assert.equal(onA.all, clients.length, 'every connection of both workers');
  assert.equal(onB.all, clients.length);
  assert.equal(onA.local + onB.local, clients.length);
  assert.ok(onA.local < clients.length && onB.local < clients.length, 'each worker alone counts only its own');
  assert.equal(cluster.primary.subscriberCount('news'), clients.length);

  // Publishes from either worker reach both clients, in one offset order; each publisher's own
  // copy arrives before its publish() resolved.
  a.ws.send('pub:one');
  assert.deepEqual(await texts(a.ws, 2), ['one', 'published 1']);
  assert.equal(await text(b.ws), 'one');
  b.ws.send('pub:two');
  assert.deepEqual(await texts(b.ws, 2), ['two', 'published 2']);
  assert.equal(await text(a.ws), 'two');

  // Kill b's worker: its client sees the connection drop, the primary forgets its subscription,
  // and a new worker takes its place on the same port.
  const victim = cluster.workers().find((w) => w.process.pid === b.pid)!;
  const exited = once(victim, 'exit');
  const dropped = once(b.ws, 'close');
  victim.process.kill('SIGKILL');
  await within(exited, 10_000, 'the killed worker exiting');
  const [code] = (await within(dropped, 10_000, 'the client seeing its worker die')) as [number];
  assert.equal(code, 1006);
  assert.equal(cluster.primary.subscribedWorkers('news'), 1);
  // The dead worker's connections are no longer counted.
  assert.equal((await count(a.ws)).all, onA.local);
  await within(cluster.listening(2), 30_000, 'the replacement worker listening');
  assert.equal(cluster.workers().length, 2);
  assert.ok(!cluster.workers().some((w) => w.process.pid === b.pid));

  // The client reconnects (to whichever worker the cluster picks) and gets what is published
  // next; offsets go on from where they were, since the primary kept them.
  const again = await join();
  a.ws.send('pub:three');
  assert.deepEqual(await texts(a.ws, 2), ['three', 'published 3']);
  assert.equal(await text(again.ws), 'three');
  again.ws.send('pub:four');
  assert.deepEqual(await texts(again.ws, 2), ['four', 'published 4']);
  assert.equal(await text(a.ws), 'four');
});
