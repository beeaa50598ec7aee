#!/usr/bin/env node
// Topics across node:cluster workers (issue 20): publish-to-delivery latency (p50/p99) and
// deliveries per second between workers on one port, beside the same path in one process
// (memoryBroker).
//
//   node bench/publish-cluster.mjs [--messages=2000] [--workers=3] [--receivers=10] [--json]
//
// - Latency: a client on worker A sends "pub:<n>"; worker A publishes; a client on another worker
//   B measures when the message arrives, one message at a time. The cluster path adds
//   A -> primary -> B over IPC to the one-process path.
// - Throughput: --messages in windows of 500 (below the broker's default bound of 1,000 waiting
//   publishes); the receiver clients (--receivers per worker, spread by the cluster's round
//   robin) count what arrives; deliveries per second = messages x receivers / seconds.
// - Where the time goes: worker A times its publish() calls (the round trip to the primary, which
//   numbers, stores and forwards), beside the one-process figures (the WebSocket hops alone).
// --json: one JSON object on stdout: { bench: 'publish-cluster', workers, receivers, messages,
//   results: { 'one process': R, cluster: R } } with R = { latencyMs: { p50, p99 },
//   deliveriesPerSecond, publishCallMs: { p50, p99 } }, for bench/run.mjs.
// Imports from dist/: run `npm run build` first. Figures only: a shared machine makes them noisy.
import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, connect, clusterBroker, startCluster } from '../dist/index.js';

const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const MESSAGES = arg('messages', 2000);
const WORKERS = arg('workers', 3);
const RECEIVERS = arg('receivers', 10);
const WINDOW = 500;
const JSON_OUT = process.argv.includes('--json');
const pct = (xs, p) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
};
const summary = (xs) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99) });

/** Serves 'bench' on `server`; "pub:<n>" publishes, "calls" answers the publish() timings so far. */
function serve(server) {
  const calls = [];
  server.on('connection', (ws) => {
    ws.subscribe('bench');
    void server.history('bench').then(() => ws.send(`hello ${process.pid}`));
    ws.on('message', (data) => {
      const text = String(data);
      if (text === 'calls') ws.send(`calls ${JSON.stringify(calls.splice(0))}`);
      else if (text.startsWith('pub:')) {
        const t0 = performance.now();
        server.publish('bench', text.slice(4)).then(
          () => calls.push(performance.now() - t0),
          (error) => ws.send(`failed ${error.message}`),
        );
      }
    });
  });
  return server.listen({ port: 0, host: '127.0.0.1' });
}

if (cluster.isWorker) {
  const server = new WebSocketServer({ broker: clusterBroker(), slowSubscriber: { maxQueuedMessages: 100_000, maxQueuedBytes: 1 << 28 } });
  process.on('disconnect', () => void server.close());
  await serve(server);
} else {
  async function run(port, separate) {
    const url = `ws://127.0.0.1:${port}/`;
    const clients = [];
    const join = async () => {
      const ws = await connect(url);
      const hello = (await ws.receive()).data;
      clients.push(ws);
      return { ws, pid: hello.split(' ')[1] };
    };
    const publisher = await join();
    // The cluster hands connections to its workers in turn: receivers land on every worker.
    const receivers = [];
    for (let i = 0; i < RECEIVERS * (separate ? WORKERS : 1); i++) receivers.push(await join());
    const far = receivers.find((r) => !separate || r.pid !== publisher.pid);
    let counted = 0;
    let countWaiter = null;
    for (const r of receivers) {
      if (r === far) continue;
      r.ws.on('message', () => {
        counted++;
        countWaiter?.();
      });
    }
    // The publisher's own copies, and its answer to "calls".
    let callsAnswer = null;
    publisher.ws.on('message', (data) => {
      if (String(data).startsWith('calls ')) callsAnswer?.(JSON.parse(String(data).slice(6)));
    });
    const latencies = [];
    for (let i = 0; i < MESSAGES; i++) {
      const t0 = performance.now();
      publisher.ws.send(`pub:${i}`);
      await far.ws.receive();
      latencies.push(performance.now() - t0);
    }
    const calls = await new Promise((resolve) => {
      callsAnswer = resolve;
      publisher.ws.send('calls');
    });
    counted = 0;
    const others = receivers.length - 1;
    const start = performance.now();
    for (let sent = 0; sent < MESSAGES; sent += WINDOW) {
      const n = Math.min(WINDOW, MESSAGES - sent);
      for (let i = 0; i < n; i++) publisher.ws.send(`pub:${sent + i}`);
      for (let i = 0; i < n; i++) await far.ws.receive();
      const target = (sent + n) * others;
      while (counted < target) await new Promise((resolve) => (countWaiter = resolve));
    }
    const seconds = (performance.now() - start) / 1000;
    for (const ws of clients) ws.terminate();
    return { receivers: receivers.length, latencyMs: summary(latencies), deliveriesPerSecond: (MESSAGES * receivers.length) / seconds, publishCallMs: summary(calls) };
  }
  const local = new WebSocketServer({ slowSubscriber: { maxQueuedMessages: 100_000, maxQueuedBytes: 1 << 28 } });
  const { port } = await serve(local);
  const results = {};
  results['one process'] = await run(port, false);
  await local.close();
  const handle = startCluster({ workers: WORKERS });
  const address = await handle.listening();
  try {
    results.cluster = await run(address.port, true);
  } finally {
    await handle.close();
  }
  if (JSON_OUT) console.log(JSON.stringify({ bench: 'publish-cluster', workers: WORKERS, messages: MESSAGES, results }));
  else {
    const f = (s) => `p50 ${s.p50.toFixed(3)} ms, p99 ${s.p99.toFixed(3)} ms`;
    for (const [label, r] of Object.entries(results)) {
      console.log(`${label === 'cluster' ? `${WORKERS} cluster workers` : 'one process (memoryBroker)'}, ${r.receivers} receivers, ${MESSAGES} messages`);
      console.log(`  publish-to-delivery: ${f(r.latencyMs)}; deliveries/s: ${Math.round(r.deliveriesPerSecond)}; publish() call: ${f(r.publishCallMs)}`);
    }
  }
}
