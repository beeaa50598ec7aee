// One measurement of one peer (load.mjs runs them in rounds): its server process, the load
// generators, and what a run of a workload gives (rate, latency, CPU and page faults per
// operation, memory per connection).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child } from '../lib/procs.mjs';
import { KiB, MiB } from './workloads.mjs';

/** The bench directory: server scripts and results are named from it. */
const bench = join(dirname(fileURLToPath(import.meta.url)), '..');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Splits `total` as evenly as possible over `parts`. */
function split(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0)).filter((n) => n > 0);
}

/**
 * Server CPU time per operation (message, delivery, connection), in microseconds: its CPU share
 * over the run divided by the rate. Less sensitive than the rate to other work on the machine
 * (a starved server does fewer operations per second, but each costs about the same). Takes the
 * server's { share, faultsPerSecond, markCompactsPerSecond } (serverCpu) and keeps the share as
 * `serverCpu`; page faults per operation ride along (`faultsPerOp`): they tell the allocator's
 * state apart from the library's own work (bench/README.md, "Large messages, session 9"); so do
 * mark-compacts per second for the collector's ("The 8 MB band, session 13").
 */
function withCpuPerOp({ share, faultsPerSecond, markCompactsPerSecond, ...result }) {
  const rate = result.rate ?? result.value;
  result.serverCpu = share;
  if (share !== undefined && rate > 0) result.cpuPerOp = (share / rate) * 1e6;
  if (Number.isFinite(faultsPerSecond) && rate > 0) result.faultsPerOp = faultsPerSecond / rate;
  if (Number.isFinite(markCompactsPerSecond)) result.markCompactsPerSecond = markCompactsPerSecond;
  return result;
}

/**
 * Starts reading the server's CPU time; the returned function gives the share of one core it
 * used since (warm-up included): near 1 means the server, not the generator, was the limit.
 */
async function serverCpu(server) {
  const before = await server.child.request({ type: 'stats' });
  const t0 = performance.now();
  return async () => {
    const after = await server.child.request({ type: 'stats' });
    const used = after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system;
    const seconds = (performance.now() - t0) / 1000;
    return {
      share: used / 1e6 / seconds,
      faultsPerSecond: (after.faults - before.faults) / seconds,
      // NaN crosses IPC as null (Bun's server counts none): no figure rather than 0.
      markCompactsPerSecond: ((after.markCompacts ?? NaN) - (before.markCompacts ?? NaN)) / seconds,
    };
  };
}

/**
 * The measurements of one run of the suite, with its settings: `warmup` (ms of each run not
 * counted), `prof` (true: --cpu-prof for hybi's processes; 'all': every peer's) and
 * `profGenerator`. The load generators are kept for the whole run so that their JIT is warm;
 * `stopGenerators` ends them.
 */
export function measurement({ warmup, prof, profGenerator }) {
  let profCount = 0;
  const profiled = (peer) => !peer.command && (prof === 'all' || (prof && peer.id.startsWith('hybi')));
  const profArgs = (name) => ['--cpu-prof', `--cpu-prof-dir=${join(bench, 'results', 'prof')}`, `--cpu-prof-name=${name}-${++profCount}.cpuprofile`];

  /** Starts a peer's server; `env`: the workload's own variables (the kept rows'), over the peer's. */
  async function startServer(peer, env = {}) {
    // Bun takes no Node flags: it collects garbage through Bun.gc (servers/bun.mjs).
    const execArgv = peer.command ? [] : ['--expose-gc'];
    if (profiled(peer)) execArgv.push(...profArgs(peer.id.replace(/[^\w.-]/g, '_')));
    const child = new Child(join(bench, peer.script), { env: { ...peer.env, ...env }, execArgv, name: `server ${peer.id}`, command: peer.command });
    const ready = await child.ready;
    if (peer.id === 'ws' && ready.bufferutil) throw new Error('the ws server without bufferutil loaded it anyway');
    if (peer.id.startsWith('ws+bufferutil') && !ready.bufferutil) throw new Error('the ws server did not load bufferutil');
    return { peer, child, port: ready.port, path: (path) => peer.paths?.[path] ?? path };
  }

  const generators = [];
  async function generatorPool(count) {
    while (generators.length < count) {
      const execArgv = profGenerator ? ['--cpu-prof', `--cpu-prof-dir=${join(bench, 'results', 'prof')}`] : [];
      const child = new Child(join(bench, 'load', 'generator.mjs'), { name: `generator ${generators.length + 1}`, execArgv });
      await child.ready;
      generators.push(child);
    }
    return generators.slice(0, count);
  }

  async function stopGenerators() {
    await Promise.all(generators.map((g) => g.stop()));
  }

  /** Runs workload `w` once against `server` with `procs` generators; returns { value, ...extra }. */
  async function measureServer(w, server, procs, time) {
    const host = '127.0.0.1';
    const port = server.port;
    if (w.kind === 'connect') {
      const gens = await generatorPool(procs);
      const shares = split(w.concurrency, gens.length);
      const cpu = await serverCpu(server);
      const results = await Promise.all(
        shares.map((concurrency, i) => gens[i].request({ type: 'connect', host, port, path: server.path(w.path), concurrency, warmup, duration: time })),
      );
      const errors = results.reduce((s, r) => s + r.errors, 0);
      return withCpuPerOp({
        value: results.reduce((s, r) => s + r.frames / r.elapsed, 0),
        errors,
        firstError: results.find((r) => r.firstError)?.firstError,
        genCpu: results.reduce((s, r) => s + r.cpu, 0),
        ...(await cpu()),
      });
    }
    // Latency and broadcast need one process: one connection, or one window over all clients.
    const gens = await generatorPool(w.kind === 'echo' ? procs : 1);
    const shares = split(w.conns, gens.length);
    try {
      const opened = await Promise.all(shares.map((count, i) => gens[i].request({ type: 'open', host, port, path: server.path(w.path), count })));
      const failed = opened.reduce((s, r) => s + r.errors, 0);
      if (failed > 0) throw new Error(`${failed} connections failed to open: ${opened.find((r) => r.firstError)?.firstError}`);
      const job = { type: w.kind, size: w.size, opcode: w.opcode ?? 2, inflight: w.inflight, window: w.window, warmup, duration: time };
      const cpu = await serverCpu(server);
      const results = await Promise.all(gens.slice(0, shares.length).map((g) => g.request(job)));
      const serverUse = await cpu();
      const genCpu = results.reduce((s, r) => s + r.cpu, 0);
      if (w.kind === 'latency') {
        const r = results[0];
        return { value: r.p50, p99: r.p99, p90: r.p90, rate: r.frames / r.elapsed, genCpu, serverCpu: serverUse.share };
      }
      const rate = results.reduce((s, r) => s + r.frames / r.elapsed, 0);
      return withCpuPerOp({ value: w.unit === 'MiB/s' ? (rate * w.size) / MiB : rate, rate, genCpu, ...serverUse });
    } finally {
      await Promise.all(gens.map((g) => g.request({ type: 'closeAll' })));
      await sleep(100);
    }
  }

  /** Memory of idle connections: a fresh server, warmed up, then RSS after GC before and after. */
  async function measureMemory(w, peer) {
    const server = await startServer(peer);
    const [gen] = await generatorPool(1);
    const host = '127.0.0.1';
    try {
      // Warm up: the first connections load and compile the code paths; they are not the cost of a connection.
      await gen.request({ type: 'open', host, port: server.port, path: server.path(w.path), count: 200 });
      await gen.request({ type: 'closeAll' });
      await sleep(300);
      const before = await server.child.request({ type: 'stats', gc: true });
      const opened = await gen.request({ type: 'open', host, port: server.port, path: server.path(w.path), count: w.conns, concurrency: 256 }, 300_000);
      if (opened.errors > 0) throw new Error(`${opened.errors} idle connections failed: ${opened.firstError}`);
      await sleep(500);
      const after = await server.child.request({ type: 'stats', gc: true });
      if (after.connections !== w.conns) throw new Error(`server ${peer.id} counts ${after.connections} connections, expected ${w.conns}`);
      const per = (key) => (after[key] - before[key]) / w.conns;
      return { value: per('rss') / KiB, heap: per('heapUsed') / KiB, external: per('external') / KiB, rssBefore: before.rss / MiB, rssAfter: after.rss / MiB };
    } finally {
      await gen.request({ type: 'closeAll' }).catch(() => {});
      await server.child.stop();
    }
  }

  /**
   * Client side: a client process of `peer.impl` against `url` (node-raw's /reply, or for the
   * HTTP/2 rows the peer's own server). With `server`, its CPU per message is reported too.
   */
  async function measureClient(w, peer, url, time, server = null) {
    // --prof profiles hybi's client processes too (bench/results/prof/client-*.cpuprofile).
    const execArgv = profiled(peer) ? profArgs(`client-${peer.id.replace(/[^\w.-]/g, '_')}`) : [];
    const child = new Child(join(bench, 'load', 'client.mjs'), { env: { ...peer.env, ...w.env }, execArgv, name: `client ${peer.id}`, command: peer.command });
    await child.ready;
    try {
      const opened = await child.request({ type: 'open', impl: peer.impl, url, count: w.conns });
      if (peer.impl === 'ws' && !opened.bufferutil) throw new Error('the ws client did not load bufferutil');
      // A short run first: the client process is fresh, so its JIT is cold.
      const job = { type: w.kind === 'client-latency' ? 'latency' : 'echo', size: w.size, inflight: w.inflight };
      await child.request({ ...job, warmup: 0, duration: Math.min(500, time / 2) });
      await child.request({ type: 'closeAll' });
      await child.request({ type: 'open', impl: peer.impl, url, count: w.conns });
      const cpu = server === null ? null : await serverCpu(server);
      const r = await child.request({ ...job, warmup, duration: time });
      const serverShare = cpu === null ? undefined : await cpu();
      if (w.kind === 'client-latency') return { value: r.p50, p99: r.p99, p90: r.p90, rate: r.frames / r.elapsed, clientCpu: r.cpu };
      const rate = r.frames / r.elapsed;
      // Client CPU per message (sent and echoed), in microseconds: steadier than the rate on a shared machine.
      const result = { value: w.unit === 'MiB/s' ? (rate * w.size) / MiB : rate, rate, clientCpu: r.cpu, cpuPerOp: rate > 0 ? (r.cpu / rate) * 1e6 : NaN };
      if (Number.isFinite(r.faultsPerMessage)) result.faultsPerOp = r.faultsPerMessage;
      // The HTTP/2 rows: the server's CPU per message beside the client's (warm-up included, as for
      // the server workloads, so a slight overestimate for every peer alike).
      if (serverShare !== undefined) result.serverCpuPerOp = rate > 0 ? (serverShare.share / rate) * 1e6 : NaN;
      return result;
    } finally {
      await child.request({ type: 'closeAll' }).catch(() => {});
      await child.stop();
    }
  }

  /**
   * Memory per idle WebSocket: a fresh server and a client process of the pair, warmed up with 50
   * connections, then N idle ones (over HTTP/2 all streams of one session; over HTTP/1.1 N TCP
   * connections); RSS and heap after a full GC, after minus before, per WebSocket, on both sides.
   */
  async function measurePairMemory(w, pair) {
    const server = await startServer(pair.server);
    const client = new Child(join(bench, 'load', 'client.mjs'), { env: {}, execArgv: ['--expose-gc'], name: `client ${pair.id}` });
    try {
      await client.ready;
      const url = `ws://127.0.0.1:${server.port}${w.path}`;
      await client.request({ type: 'open', impl: pair.impl, url, count: 50 });
      await client.request({ type: 'closeAll' });
      // An HTTP/2 session lingers 1 s after its last stream (docs/http2.md): let it go first.
      await sleep(1300);
      const s0 = await server.child.request({ type: 'stats', gc: true });
      const c0 = await client.request({ type: 'stats', gc: true });
      await client.request({ type: 'open', impl: pair.impl, url, count: w.conns }, 300_000);
      await sleep(500);
      const s1 = await server.child.request({ type: 'stats', gc: true });
      const c1 = await client.request({ type: 'stats', gc: true });
      if (s1.connections !== w.conns) throw new Error(`server ${pair.id} counts ${s1.connections} connections, expected ${w.conns}`);
      const per = (a, b, key) => (b[key] - a[key]) / w.conns / KiB;
      return { value: per(s0, s1, 'rss'), heap: per(s0, s1, 'heapUsed'), clientRss: per(c0, c1, 'rss'), clientHeap: per(c0, c1, 'heapUsed') };
    } finally {
      await client.request({ type: 'closeAll' }).catch(() => {});
      await client.stop();
      await server.child.stop();
    }
  }

  return { startServer, stopGenerators, measureServer, measureMemory, measureClient, measurePairMemory };
}
