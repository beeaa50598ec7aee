// Topics across node:cluster workers (issue 20): publish-to-delivery latency (p50/p99) and
// deliveries per second between two workers on one port, beside the same path in one process
// (memoryBroker). Run after `npm run build`: node bench/publish-cluster.mjs [--messages=2000]
// A client on worker A sends "pub:<t0>"; worker A publishes; a client on worker B measures when the
// message arrives. The cluster path adds A -> primary -> B over IPC to the one-process path.
import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, connect, clusterBroker, startCluster } from '../dist/index.js';

const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const MESSAGES = arg('messages', 2000);

function serve(server) {
  server.on('connection', (ws) => {
    ws.subscribe('bench');
    void server.history('bench').then(() => ws.send(`hello ${process.pid}`));
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('pub:')) server.publish('bench', text.slice(4)).catch((error) => ws.send(`failed ${error.message}`));
    });
  });
  return server.listen({ port: 0, host: '127.0.0.1' });
}

if (cluster.isWorker) {
  const server = new WebSocketServer({ broker: clusterBroker() });
  process.on('disconnect', () => void server.close());
  await serve(server);
} else {
  const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
  async function run(port, label) {
    const url = `ws://127.0.0.1:${port}/`;
    const join = async () => {
      const ws = await connect(url);
      const hello = (await ws.receive()).data;
      return { ws, pid: hello.split(' ')[1] };
    };
    const clients = [await join()];
    let b = await join();
    clients.push(b);
    for (let i = 0; i < 10 && b.pid === clients[0].pid && label !== 'one process'; i++) clients.push((b = await join()));
    const a = clients[0];
    // Latency: one message at a time.
    const latencies = [];
    for (let i = 0; i < MESSAGES; i++) {
      const t0 = performance.now();
      a.ws.send(`pub:${i}`);
      await b.ws.receive();
      latencies.push(performance.now() - t0);
    }
    latencies.sort((x, y) => x - y);
    // Throughput: in windows of 500 (below the broker's default bound of 1,000 waiting publishes).
    const start = performance.now();
    for (let sent = 0; sent < MESSAGES; sent += 500) {
      const n = Math.min(500, MESSAGES - sent);
      for (let i = 0; i < n; i++) a.ws.send(`pub:${i}`);
      for (let i = 0; i < n; i++) await b.ws.receive();
    }
    const seconds = (performance.now() - start) / 1000;
    console.log(`${label}: p50 ${pct(latencies, 0.5).toFixed(3)} ms, p99 ${pct(latencies, 0.99).toFixed(3)} ms, ${Math.round(MESSAGES / seconds)} deliveries/s to the other client (${MESSAGES} messages)`);
    for (const c of clients) c.ws.terminate();
  }
  const local = new WebSocketServer();
  const { port } = await serve(local);
  await run(port, 'one process');
  await local.close();
  const handle = startCluster({ workers: 2 });
  const address = await handle.listening();
  await run(address.port, 'two cluster workers');
  await handle.close();
}
