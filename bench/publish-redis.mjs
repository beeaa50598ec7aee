#!/usr/bin/env node
// Topics across processes through Redis (issue 20): three hybi server processes with a
// redisBroker and a real redis-server, which this bench starts on a free loopback port (persistence
// off, files in a temporary directory) and stops at the end.
//
//   node bench/publish-redis.mjs [--messages=2000] [--receivers=10] [--processes=3] [--json]
//
// - Latency: a client on process 0 sends "pub:<n>", process 0 publishes it, and a client on
//   process 1 measures when it arrives: one message at a time, p50/p99 of --messages.
// - Throughput: the same client sends --messages in windows of 500 (below the broker's default
//   bound of 1,000 waiting publishes); --receivers clients on every process count what arrives;
//   deliveries per second = messages x receivers x processes / seconds.
// - Where the time goes: each process times its publish() (one EVALSHA round trip: the script
//   stores, numbers and SPUBLISHes), and the bench times a bare redis client's SPUBLISH ->
//   SSUBSCRIBE delivery (Redis and its client alone), so that the end-to-end latency splits into
//   the WebSocket hops, the script's round trip and the pub/sub hop.
// --json: one JSON object on stdout instead of the text: { bench: 'publish-redis', processes,
//   receivers, messages, latencyMs: { p50, p99 }, deliveriesPerSecond, publishCallMs: { p50, p99 },
//   redisPubSubMs: { p50, p99 } }, for bench/run.mjs.
// Needs redis-server (Debian package) and the `redis` npm package; imports from dist/: run
// `npm run build` first. Figures only, no assertions: a shared machine makes them noisy.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { deliveryCounter, formatLatency, latencySummary, measureLatency, measureThroughput, numberArg, serveBench } from './lib/publish-measure.mjs';

const MESSAGES = numberArg('messages', 2000);
const RECEIVERS = numberArg('receivers', 10);
const PROCESSES = numberArg('processes', 3);
const JSON_OUT = process.argv.includes('--json');

if (process.argv[2] === '--node') {
  // One hybi server process: every connection subscribes to 'bench'; "pub:<text>" publishes it.
  const { WebSocketServer } = await import('../dist/index.js');
  const { redisBroker } = await import('../dist/redis/index.js');
  const server = new WebSocketServer({ broker: redisBroker({ url: process.argv[3] }), slowSubscriber: { maxQueuedMessages: 100_000, maxQueuedBytes: 1 << 28 } });
  // "hello" once the subscription is in Redis (the history read follows it on the link).
  const calls = serveBench(server);
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  process.on('message', (m) => {
    if (m.op === 'calls') {
      process.send({ calls: calls.splice(0) });
    } else if (m.op === 'close') {
      void server.close().then(() => process.disconnect());
    }
  });
  process.send({ port });
} else {
  const { connect } = await import('../dist/index.js');
  const { createClient } = await import('redis');

  async function freePort() {
    const s = createServer().listen(0, '127.0.0.1');
    await once(s, 'listening');
    const { port } = s.address();
    s.close();
    await once(s, 'close');
    return port;
  }

  async function startRedis(port, dir) {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', (error) => {
      console.error(`redis-server could not start (${error.message}): install the Debian package redis-server`);
      process.exit(1);
    });
    let out = '';
    await new Promise((resolve) => {
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('Ready to accept connections')) resolve();
      });
    });
    return child;
  }

  const dir = mkdtempSync(join(tmpdir(), 'hybi-bench-redis-'));
  const redisPort = await freePort();
  const redis = await startRedis(redisPort, dir);
  const url = `redis://127.0.0.1:${redisPort}`;
  const nodes = [];
  const clients = [];
  try {
    // Redis alone: a bare client's SPUBLISH until the other client's SSUBSCRIBE callback.
    const pub = createClient({ url });
    const sub = createClient({ url });
    await Promise.all([pub.connect(), sub.connect()]);
    let arrived = null;
    await sub.sSubscribe('bare', () => arrived?.());
    const bare = [];
    for (let i = 0; i < MESSAGES; i++) {
      const got = new Promise((resolve) => (arrived = resolve));
      const t0 = performance.now();
      await pub.sPublish('bare', 'x'.repeat(32));
      await got;
      bare.push(performance.now() - t0);
    }
    await Promise.all([pub.close(), sub.close()]);

    for (let i = 0; i < PROCESSES; i++) {
      const child = fork(fileURLToPath(import.meta.url), ['--node', url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const [{ port }] = await once(child, 'message');
      nodes.push({ child, port });
    }
    const join = async (port) => {
      const ws = await connect(`ws://127.0.0.1:${port}/`);
      await ws.receive(); // hello: subscribed
      clients.push(ws);
      return ws;
    };
    const publisher = await join(nodes[0].port);
    const receivers = [];
    for (const node of nodes) for (let i = 0; i < RECEIVERS; i++) receivers.push({ ws: await join(node.port), node });
    const far = receivers.find((r) => r.node === nodes[1]).ws;
    // Every receiver drains its messages; `far` is read one by one for latency.
    const counter = deliveryCounter(receivers.map((r) => r.ws), far);
    const drainPublisher = () => publisher.on('message', () => {});
    drainPublisher();

    // Latency, one message at a time.
    const latencies = await measureLatency(publisher, far, MESSAGES);
    const calls = (await Promise.all(nodes.slice(0, 1).map(async (n) => {
      n.child.send({ op: 'calls' });
      const [m] = await once(n.child, 'message');
      return m.calls;
    }))).flat();

    // Throughput, in windows.
    const seconds = await measureThroughput(publisher, far, counter, receivers.length, MESSAGES);
    const result = {
      bench: 'publish-redis',
      processes: PROCESSES,
      receivers: receivers.length,
      messages: MESSAGES,
      latencyMs: latencySummary(latencies),
      deliveriesPerSecond: (MESSAGES * receivers.length) / seconds,
      publishCallMs: latencySummary(calls),
      redisPubSubMs: latencySummary(bare),
    };
    if (JSON_OUT) console.log(JSON.stringify(result));
    else {
      const f = formatLatency;
      console.log(`${PROCESSES} hybi processes + redis-server, ${receivers.length} receivers, ${MESSAGES} messages`);
      console.log(`  publish-to-delivery (client on process 0 -> client on process 1): ${f(result.latencyMs)}`);
      console.log(`  deliveries/s: ${Math.round(result.deliveriesPerSecond)}`);
      console.log(`  where the time goes: publish() call (EVALSHA round trip) ${f(result.publishCallMs)}; bare SPUBLISH -> SSUBSCRIBE ${f(result.redisPubSubMs)}`);
    }
  } finally {
    for (const ws of clients) ws.terminate();
    await Promise.all(nodes.map(async ({ child }) => {
      if (!child.connected) return;
      const exited = once(child, 'exit');
      child.send({ op: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }));
    redis.kill('SIGKILL');
    await once(redis, 'exit').catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
