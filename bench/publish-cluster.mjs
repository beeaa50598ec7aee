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
import { WebSocketServer, connect, clusterBroker, startCluster } from '../dist/index.js';
import { deliveryCounter, formatLatency, latencySummary, measureLatency, measureThroughput, numberArg, serveBench } from './lib/publish-measure.mjs';

const MESSAGES = numberArg('messages', 2000);
const WORKERS = numberArg('workers', 3);
const RECEIVERS = numberArg('receivers', 10);
const JSON_OUT = process.argv.includes('--json');

/** Serves 'bench' on `server` (serveBench: "pub:<n>" publishes, "calls" answers the publish() timings so far). */
function serve(server) {
  serveBench(server);
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
    const counter = deliveryCounter(receivers.map((r) => r.ws), far.ws);
    // The publisher's own copies, and its answer to "calls".
    let callsAnswer = null;
    publisher.ws.on('message', (data) => {
      if (String(data).startsWith('calls ')) callsAnswer?.(JSON.parse(String(data).slice(6)));
    });
    const latencies = await measureLatency(publisher.ws, far.ws, MESSAGES);
    const calls = await new Promise((resolve) => {
      callsAnswer = resolve;
      publisher.ws.send('calls');
    });
    const seconds = await measureThroughput(publisher.ws, far.ws, counter, receivers.length, MESSAGES);
    for (const ws of clients) ws.terminate();
    return {
      receivers: receivers.length,
      latencyMs: latencySummary(latencies),
      deliveriesPerSecond: (MESSAGES * receivers.length) / seconds,
      publishCallMs: latencySummary(calls),
    };
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
    const f = formatLatency;
    for (const [label, r] of Object.entries(results)) {
      console.log(`${label === 'cluster' ? `${WORKERS} cluster workers` : 'one process (memoryBroker)'}, ${r.receivers} receivers, ${MESSAGES} messages`);
      console.log(`  publish-to-delivery: ${f(r.latencyMs)}; deliveries/s: ${Math.round(r.deliveriesPerSecond)}; publish() call: ${f(r.publishCallMs)}`);
    }
  }
}
