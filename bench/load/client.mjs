// Client-side workloads: a child process that runs a real WebSocket client library (hybi's
// connect() from dist/, or ws's WebSocket, which loads bufferutil when it is installed) against
// the raw reference server's /reply path, which costs next to nothing per message, so that the
// client is what is measured. Same orders as the generator (open, echo, latency, closeAll),
// selected by `impl` in the open order: 'hybi', 'hybi-h2' (hybi's connect() with
// `transport: 'http2'`: every connection to one origin shares one HTTP/2 session), 'ws', or 'bun'
// (the WebSocket client built into Bun: this script then runs under Bun's binary).
// The HTTP/2 rows run these clients against hybi's own server (servers/hybi.mjs) instead of the
// raw one, which speaks only HTTP/1.1; 'stats' reports the process's memory for the idle rows.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { holdAppHeap } from '../lib/app-heap.mjs';
import { pageFaults } from '../lib/page-faults.mjs';
import { payloadOf } from '../lib/wire.mjs';

const require = createRequire(import.meta.url);
// The suite's --app-heap, as in every server (lib/app-heap.mjs).
holdAppHeap(Number(process.env.HYBI_BENCH_APP_HEAP ?? 0));
const MAX_MESSAGE = 64 * 1024 * 1024;

/** Each: { send(data), onMessage: null | () => void, close() } */
let connections = [];

async function openHybi(url, transport) {
  // HYBI_BENCH_DIST: another build (a copy of dist/) for A/B runs, as for the server.
  const dist = process.env.HYBI_BENCH_DIST ? pathToFileURL(`${process.env.HYBI_BENCH_DIST}/index.js`).href : '../../dist/index.js';
  const { connect } = await import(dist);
  const ws = await connect(url, { maxMessageSize: MAX_MESSAGE, maxFrameSize: MAX_MESSAGE, ...(transport ? { transport } : {}) });
  const conn = { send: (data) => ws.send(data), onMessage: null, close: () => ws.terminate() };
  ws.on('message', () => conn.onMessage?.());
  ws.on('error', () => {});
  return conn;
}

function openWs(url) {
  const { WebSocket } = require('ws');
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_MESSAGE });
    const conn = { send: (data) => ws.send(data), onMessage: null, close: () => ws.terminate() };
    ws.on('message', () => conn.onMessage?.());
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve(conn);
    });
    ws.once('error', reject);
  });
}

/** Bun's built-in client (the WHATWG WebSocket API), when this script runs under Bun. */
function openBun(url) {
  if (typeof globalThis.Bun === 'undefined') throw new Error("impl 'bun' needs this script to run under Bun");
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const conn = { send: (data) => ws.send(data), onMessage: null, close: () => (typeof ws.terminate === 'function' ? ws.terminate() : ws.close()) };
    ws.onmessage = () => conn.onMessage?.();
    ws.onopen = () => {
      ws.onerror = null;
      resolve(conn);
    };
    ws.onerror = () => reject(new Error(`bun client could not open ${url}`));
  });
}

const opens = { hybi: (url) => openHybi(url), 'hybi-h2': (url) => openHybi(url, 'http2'), ws: openWs, bun: openBun };

async function openMany({ impl, url, count, concurrency = 64 }) {
  const open = opens[impl];
  if (open === undefined) throw new Error(`unknown client impl ${impl}`);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      connections.push(await open(url));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const bufferutil = Object.keys(require.cache).some((path) => path.includes('/bufferutil/'));
  return { opened: connections.length, bufferutil };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Share of one core this process used since `since` (a process.cpuUsage() reading) over `ms`. */
function cpuShare(since, ms) {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000 / ms;
}

async function runEcho({ size, inflight, warmup, duration }) {
  const payload = payloadOf(size);
  let total = 0;
  let running = true;
  for (const conn of connections) {
    conn.onMessage = () => {
      total++;
      if (running) conn.send(payload);
    };
  }
  for (const conn of connections) for (let i = 0; i < inflight; i++) conn.send(payload);
  await sleep(warmup);
  const c0 = total;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const faults0 = pageFaults();
  await sleep(duration);
  const frames = total - c0;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuShare(cpu0, elapsed * 1000);
  const faults = pageFaults() - faults0;
  running = false;
  return { frames, elapsed, cpu, bytes: frames * size, faultsPerMessage: frames > 0 ? faults / frames : NaN };
}

async function runLatency({ size, warmup, duration }) {
  const payload = payloadOf(size);
  const conn = connections[0];
  const samples = new Float64Array(1 << 20);
  let n = 0;
  let recording = false;
  let running = true;
  let total = 0;
  let sentAt = performance.now();
  conn.onMessage = () => {
    const now = performance.now();
    total++;
    if (recording && n < samples.length) samples[n++] = now - sentAt;
    if (!running) return;
    sentAt = performance.now();
    conn.send(payload);
  };
  conn.send(payload);
  await sleep(warmup);
  recording = true;
  const c0 = total;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await sleep(duration);
  recording = false;
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuShare(cpu0, elapsed * 1000);
  const sorted = samples.slice(0, n).sort();
  const at = (q) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.floor(q * n))]) * 1000;
  return { frames: total - c0, elapsed, cpu, p50: at(0.5), p90: at(0.9), p99: at(0.99), samples: n };
}

const handlers = {
  open: (job) => openMany(job),
  stats: async ({ gc }) => {
    if (gc) {
      if (typeof globalThis.Bun !== 'undefined') globalThis.Bun.gc(true);
      else if (typeof globalThis.gc === 'function') {
        globalThis.gc();
        globalThis.gc();
      }
    }
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, connections: connections.length };
  },
  echo: (job) => runEcho(job),
  latency: (job) => runLatency(job),
  closeAll: async () => {
    for (const conn of connections) {
      conn.onMessage = null;
      conn.close();
    }
    connections = [];
    return {};
  },
};

process.on('message', async (job) => {
  if (job.type === 'exit') process.exit(0);
  try {
    const result = await handlers[job.type](job);
    process.send({ id: job.id, ok: true, ...result });
  } catch (error) {
    process.send({ id: job.id, ok: false, error: String(error?.stack ?? error) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
