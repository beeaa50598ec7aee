#!/usr/bin/env node
// The load suite: hybi's server and client against their peers, each server a separate process
// on 127.0.0.1, all driven by the same raw-socket load generators (load/generator.mjs):
//   hybi            the public API from dist/ (servers/hybi.mjs)
//   ws+bufferutil   ws as its documentation shows, with its native addon (servers/ws.mjs)
//   node-raw        the least any Node server can do (servers/raw.mjs): node:net, a 101, frame
//                   headers parsed, canned replies of the same size, all replies of one read in
//                   one write (its /reply path; /publish is its /broadcast)
//   bun             Bun.serve's WebSocket (uWebSockets) run by Bun's binary, installed from npm's
//                   @oven/bun-linux-x64 on first use (lib/bun.mjs); left out, with the reason in
//                   the report, when it cannot run here
//   ws              ws without bufferutil (WS_NO_BUFFER_UTIL=1): only with --peers=...,ws or all
// Client workloads run each client library in a process of its own against node-raw's /reply;
// the HTTP/2 rows run hybi's client and server over HTTP/2 (h2c) beside hybi and ws over HTTP/1.1.
//
// Peers are measured alternately within each round (order rotated every round) for at least five
// rounds; a ratio is computed per round (hybi / peer, both measured seconds apart) and reported as
// the median of the rounds' ratios with their min-max spread, because the machine is shared and
// noisy: a burst of someone else's work then hurts both figures of a round rather than one peer.
//
// Usage: node bench/load.mjs [--quick] [--rounds=5] [--time=1000] [--warmup=300]
//          [--only=GROUP|ID,...]  groups: echo, latency, large, broadcast, publish, memory,
//                                 connect, client, kept (the large rows with glibc keeping freed
//                                 memory), http2; or workload ids (echo-1m, client-echo-1m,
//                                 h2-echo-64k, echo-32-text, ...)
//          [--peers=hybi,ws+bufferutil,node-raw,bun[,ws] | all]   (hybi is always measured)
//          [--gen-procs=1] [--idle=10000] [--prof[=all]] [--prof-generator] [--out=bench/results/latest]
//          [--compare=DIR[,DIR...]]   (adds a peer "hybi@<name of DIR>" per DIR: hybi built into DIR,
//                             e.g. a copy of dist/ from before a change, measured alternately
//                             with the others; dist/ is shared, so A/B builds belong elsewhere)
// (--rounds is raised to at least 5 for latency and memory, whose samples are bimodal or move
// with the collector's sizing on a shared machine.)
// Writes <out>.md, <out>.svg and <out>.json when every default workload ran (or --out is given).
import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, fileLimit } from './lib/procs.mjs';
import { pairedExcessRatios, pairedRatios, summarize } from './lib/stats.mjs';
import { renderMarkdown, renderSvg } from './lib/report.mjs';
import { findBun } from './lib/bun.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------------
// Options

const options = {
  quick: false,
  rounds: 5,
  time: 1000,
  warmup: 300,
  only: null,
  genProcs: 1,
  idle: 10_000,
  prof: false,
  out: null,
  peers: null,
  compare: null,
};
for (const arg of process.argv.slice(2)) {
  const [name, value] = arg.replace(/^--/, '').split('=');
  if (name === 'quick') options.quick = true;
  else if (name === 'rounds') options.rounds = Number(value);
  else if (name === 'time') options.time = Number(value);
  else if (name === 'warmup') options.warmup = Number(value);
  else if (name === 'only') options.only = value.split(',');
  else if (name === 'gen-procs') options.genProcs = Number(value);
  else if (name === 'idle') options.idle = Number(value);
  else if (name === 'prof') options.prof = value === 'all' ? 'all' : true;
  else if (name === 'prof-generator') options.profGenerator = true;
  else if (name === 'out') options.out = value;
  else if (name === 'peers') options.peers = value.split(',');
  else if (name === 'compare') options.compare = value.split(',').map((dir) => resolve(dir));
  // Options meant for other suites pass through `run.mjs` too: note them, do not fail.
  else console.error(`load: ignoring unknown option ${arg}`);
}
if (options.quick) {
  // A smoke run: every workload and peer once or twice, short runs, fewer idle connections.
  const given = (name) => process.argv.some((a) => a.startsWith(`--${name}=`));
  if (!given('rounds')) options.rounds = 2;
  if (!given('time')) options.time = 500;
  if (!given('warmup')) options.warmup = 150;
  if (!given('idle')) options.idle = 2000;
}
const groups = ['echo', 'latency', 'large', 'broadcast', 'publish', 'memory', 'connect', 'client', 'kept', 'http2'];
const selected = new Set(options.only ?? groups);
const complete = groups.every((g) => selected.has(g));
const outBase = options.out ?? (complete ? join(here, 'results', 'latest') : null);
// The client side holds every idle connection in one process: stay under its descriptor limit.
const idleCount = Math.min(options.idle, fileLimit - 200);
/** WebSockets in the HTTP/2 idle-memory row: one session against as many TCP connections. */
const h2IdleCount = Math.min(options.quick ? 300 : 1000, fileLimit - 200);

/** Which peers take part: --peers names them (hybi always), 'all' adds ws without bufferutil. */
const DEFAULT_PEERS = ['hybi', 'ws+bufferutil', 'node-raw', 'bun'];
const wanted = (id) =>
  id === 'hybi' || id.startsWith('hybi@') || id === 'hybi-h2'
    ? true
    : options.peers === null
      ? DEFAULT_PEERS.includes(id)
      : options.peers.includes('all') || options.peers.includes(id);

// ---------------------------------------------------------------------------------------------
// Peers and workloads

const notes = [];
let bun = null;
if (wanted('bun')) {
  bun = findBun((line) => process.stderr.write(`${line}\n`));
  if (bun.error) {
    notes.push(`Bun left out: ${bun.error}.`);
    process.stderr.write(`Bun left out: ${bun.error}\n`);
    bun = null;
  }
}

/**
 * Servers under test, in the order they are measured within a round. `paths` maps a workload's
 * path to the one that gives the peer's version of it (node-raw's canned replies are /reply).
 */
const SERVERS = [
  { id: 'hybi', script: 'servers/hybi.mjs', env: {} },
  ...(options.compare ?? []).map((dir) => ({ id: `hybi@${basename(dir)}`, script: 'servers/hybi.mjs', env: { HYBI_BENCH_DIST: dir } })),
  { id: 'ws+bufferutil', script: 'servers/ws.mjs', env: {} },
  { id: 'node-raw', script: 'servers/raw.mjs', env: {}, paths: { '/echo': '/reply', '/publish': '/broadcast' } },
  ...(bun ? [{ id: 'bun', script: 'servers/bun.mjs', env: {}, command: bun.path }] : []),
  { id: 'ws', script: 'servers/ws.mjs', env: { WS_NO_BUFFER_UTIL: '1' } },
].filter((p) => wanted(p.id));
/** The generator's own ceiling: the raw server echoing bytes verbatim (no frame is answered). */
const RAW = { id: 'raw', script: 'servers/raw.mjs', env: {} };
/** Clients under test, against node-raw's /reply. */
const CLIENTS = [
  { id: 'hybi', impl: 'hybi', env: {} },
  ...(options.compare ?? []).map((dir) => ({ id: `hybi@${basename(dir)}`, impl: 'hybi', env: { HYBI_BENCH_DIST: dir } })),
  { id: 'ws+bufferutil', impl: 'ws', env: {} },
  ...(bun ? [{ id: 'bun', impl: 'bun', env: {}, command: bun.path }] : []),
].filter((p) => wanted(p.id));
/**
 * The HTTP/2 rows: a client library against its own library's server, both ways of carrying the
 * WebSocket side by side (hybi-h2: every WebSocket of the client is a stream of one h2c session).
 */
const PAIRS = [
  { id: 'hybi-h2', impl: 'hybi-h2', server: { id: 'hybi-h2 server', script: 'servers/hybi.mjs', env: { HYBI_BENCH_H2: '1' } } },
  { id: 'hybi', impl: 'hybi', server: { id: 'hybi server', script: 'servers/hybi.mjs', env: {} } },
  { id: 'ws+bufferutil', impl: 'ws', server: { id: 'ws+bufferutil server', script: 'servers/ws.mjs', env: {} } },
].filter((p) => wanted(p.id));

/**
 * Workloads. kind: echo | latency | broadcast | connect | memory (server side, driven by the
 * generator), client-echo | client-latency (client side), pair-echo | pair-memory (HTTP/2 rows).
 * `better`: which way is good. `targets`: issue 24's goals, each a ratio hybi / `peer` of
 * `metric` that must be at least (`min`) or at most (`max`) the given value; `cpu: true` also
 * asks for CPU per message at most the peer's, and judges by it where the rates overlap.
 * `extra`: not in a full run, only when named with --only.
 */
const large = (peer) => [{ peer, metric: 'value', min: 1, cpu: true }];
/**
 * The large rows once more with glibc told to keep the memory it frees (every process of the row,
 * each peer alike): by default each process draws whether glibc gives freed memory back and
 * faults it in again, which moves CPU per message by up to 4x for any library (docs/server.md,
 * "Large messages and the C allocator"). These rows show the libraries' own cost; the default
 * rows above them show what a default deployment gets.
 */
const KEEP_FREED_MEMORY = { MALLOC_TRIM_THRESHOLD_: '268435456', MALLOC_MMAP_THRESHOLD_: '268435456' };
/** A large-message echo row of one library (server or client): where the allocator's state decides CPU. */
const isLargeEcho = (w) => (w.kind === 'echo' || w.kind === 'client-echo') && w.size >= 64 * KiB;
const kept = (w) => ({ ...w, group: 'kept', id: `${w.id}-kept`, title: `${w.title} (glibc keeps freed memory)`, env: KEEP_FREED_MEMORY });
const WORKLOADS = [
  { group: 'echo', id: 'echo-32-16', title: 'echo 32 B, 16 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', targets: [{ peer: 'node-raw', metric: 'value', min: 0.7 }], ceiling: true },
  { group: 'echo', id: 'echo-32-256', title: 'echo 32 B, 256 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 256, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', targets: [{ peer: 'node-raw', metric: 'value', min: 0.7 }], ceiling: true },
  { group: 'echo', id: 'echo-32-text', extra: true, title: 'echo 32 B text, 16 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 16, inflight: 16, size: 32, opcode: 1, unit: 'msg/s', better: 'higher' },
  { group: 'latency', id: 'latency', title: 'latency 32 B, 1 conn x 1 in flight', kind: 'latency', path: '/echo', conns: 1, size: 32, unit: 'us', better: 'lower', targets: [{ peer: 'ws+bufferutil', metric: 'value', max: 1 }] },
  { group: 'large', id: 'echo-64k', title: 'echo 64 KiB binary, 2 conns x 2 in flight', kind: 'echo', path: '/echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
  { group: 'large', id: 'echo-1m', title: 'echo 1 MiB binary, 1 conn x 2 in flight', kind: 'echo', path: '/echo', conns: 1, inflight: 2, size: MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
  { group: 'large', id: 'echo-16m', title: 'echo 16 MiB binary, 1 conn x 1 in flight', kind: 'echo', path: '/echo', conns: 1, inflight: 1, size: 16 * MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
  { group: 'broadcast', id: 'broadcast', title: 'broadcast 32 B to 1,000 clients (hybi: server.broadcast)', kind: 'broadcast', path: '/broadcast', conns: 1000, window: 32, size: 32, unit: 'deliveries/s', better: 'higher' },
  { group: 'publish', id: 'publish', title: 'publish 32 B to 1,000 subscribers (hybi: server.publish)', kind: 'broadcast', path: '/publish', conns: 1000, window: 32, size: 32, unit: 'deliveries/s', better: 'higher', targets: [{ peer: 'bun', metric: 'value', min: 0.75 }] },
  { group: 'memory', id: 'memory', title: `memory, ${idleCount.toLocaleString('en-US')} idle conns`, kind: 'memory', path: '/echo', conns: idleCount, unit: 'KiB/conn', better: 'lower', targets: [{ peer: 'ws+bufferutil', metric: 'excess', max: 0.5 }] },
  { group: 'connect', id: 'connect', title: 'new connections (handshake + close)', kind: 'connect', path: '/echo', concurrency: 32, unit: 'conn/s', better: 'higher', targets: [{ peer: 'ws+bufferutil', metric: 'value', min: 1.5 }, { peer: 'ws+bufferutil', metric: 'oneCore', min: 1.5 }], ceiling: true },
  { group: 'client', id: 'client-echo-32-16', title: 'client: echo 32 B, 16 conns x 16', kind: 'client-echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher' },
  { group: 'client', id: 'client-echo-32-256', title: 'client: echo 32 B, 256 conns x 16', kind: 'client-echo', conns: 256, inflight: 16, size: 32, unit: 'msg/s', better: 'higher' },
  { group: 'client', id: 'client-latency', title: 'client: latency 32 B, 1 x 1', kind: 'client-latency', conns: 1, size: 32, unit: 'us', better: 'lower' },
  { group: 'client', id: 'client-echo-64k', title: 'client: echo 64 KiB, 2 conns x 2', kind: 'client-echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
  { group: 'client', id: 'client-echo-1m', title: 'client: echo 1 MiB, 1 conn x 2', kind: 'client-echo', conns: 1, inflight: 2, size: MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
  { group: 'client', id: 'client-echo-16m', title: 'client: echo 16 MiB, 1 conn x 1', kind: 'client-echo', conns: 1, inflight: 1, size: 16 * MiB, unit: 'MiB/s', better: 'higher', targets: large('ws+bufferutil') },
];
WORKLOADS.push(...WORKLOADS.filter(isLargeEcho).map(kept));
WORKLOADS.push(
  { group: 'http2', id: 'h2-echo-32-16', title: 'HTTP/2: echo 32 B, 16 WebSockets x 16 (client and server)', kind: 'pair-echo', path: '/echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher' },
  { group: 'http2', id: 'h2-echo-64k', title: 'HTTP/2: echo 64 KiB, 2 WebSockets x 2 (client and server)', kind: 'pair-echo', path: '/echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher' },
  { group: 'http2', id: 'h2-memory', title: `HTTP/2: memory, ${h2IdleCount.toLocaleString('en-US')} idle WebSockets`, kind: 'pair-memory', path: '/echo', conns: h2IdleCount, unit: 'KiB/conn', better: 'lower' },
);

// ---------------------------------------------------------------------------------------------
// Processes

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let profCount = 0;

/** Starts a peer's server; `env`: the workload's own variables (the kept rows'), over the peer's. */
async function startServer(peer, env = {}) {
  // Bun takes no Node flags: it collects garbage through Bun.gc (servers/bun.mjs).
  const execArgv = peer.command ? [] : ['--expose-gc'];
  if (!peer.command && (options.prof === 'all' || (options.prof && peer.id.startsWith('hybi')))) {
    const name = `${peer.id.replace(/[^\w.-]/g, '_')}-${++profCount}.cpuprofile`;
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'prof')}`, `--cpu-prof-name=${name}`);
  }
  const child = new Child(join(here, peer.script), { env: { ...peer.env, ...env }, execArgv, name: `server ${peer.id}`, command: peer.command });
  const ready = await child.ready;
  if (peer.id === 'ws' && ready.bufferutil) throw new Error('the ws server without bufferutil loaded it anyway');
  if (peer.id.startsWith('ws+bufferutil') && !ready.bufferutil) throw new Error('the ws server did not load bufferutil');
  return { peer, child, port: ready.port, path: (path) => peer.paths?.[path] ?? path };
}

/** Load generators, kept for the whole run so that their JIT is warm. */
const generators = [];
async function generatorPool(count) {
  while (generators.length < count) {
    const execArgv = options.profGenerator ? ['--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'prof')}`] : [];
    const child = new Child(join(here, 'load', 'generator.mjs'), { name: `generator ${generators.length + 1}`, execArgv });
    await child.ready;
    generators.push(child);
  }
  return generators.slice(0, count);
}

{
  const ids = WORKLOADS.map((w) => w.id);
  for (const name of selected) {
    // A group name, or one workload's id (e.g. --only=echo-1m,client-echo-1m).
    if (!groups.includes(name) && !ids.includes(name)) {
      console.error(`unknown workload group or id "${name}"; known groups: ${groups.join(', ')}; ids: ${ids.join(', ')}`);
      process.exit(2);
    }
  }
}

/** Splits `total` as evenly as possible over `parts`. */
function split(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0)).filter((n) => n > 0);
}

// ---------------------------------------------------------------------------------------------
// One measurement of one peer

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
    return { share: used / 1e6 / seconds, faultsPerSecond: (after.faults - before.faults) / seconds };
  };
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
      shares.map((concurrency, i) =>
        gens[i].request({ type: 'connect', host, port, path: server.path(w.path), concurrency, warmup: options.warmup, duration: time }),
      ),
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
    const job = { type: w.kind, size: w.size, opcode: w.opcode ?? 2, inflight: w.inflight, window: w.window, warmup: options.warmup, duration: time };
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
  const execArgv = [];
  if (!peer.command && (options.prof === 'all' || (options.prof && peer.id.startsWith('hybi')))) {
    // --prof profiles hybi's client processes too (bench/results/prof/client-*.cpuprofile).
    const name = `client-${peer.id.replace(/[^\w.-]/g, '_')}-${++profCount}.cpuprofile`;
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'prof')}`, `--cpu-prof-name=${name}`);
  }
  const child = new Child(join(here, 'load', 'client.mjs'), { env: { ...peer.env, ...w.env }, execArgv, name: `client ${peer.id}`, command: peer.command });
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
    const r = await child.request({ ...job, warmup: options.warmup, duration: time });
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

// ---------------------------------------------------------------------------------------------
// Rounds

const fmtValue = (v, unit) => (unit === 'us' || unit === 'KiB/conn' ? v.toFixed(1) : unit === 'MiB/s' ? v.toFixed(0) : Math.round(v).toLocaleString('en-US'));

const cpuText = (r) =>
  r.genCpu === undefined
    ? ''
    : ` [cpu: generator ${(r.genCpu * 100).toFixed(0)}%, server ${(r.serverCpu * 100).toFixed(0)}%${r.cpuPerOp ? `, server ${r.cpuPerOp.toFixed(2)} us per op` : ''}` +
      `${r.faultsPerOp !== undefined ? `, ${r.faultsPerOp.toFixed(2)} page faults per op` : ''}]`;

/**
 * Server CPU time per operation (message, delivery, connection), in microseconds: its CPU share
 * over the run divided by the rate. Less sensitive than the rate to other work on the machine
 * (a starved server does fewer operations per second, but each costs about the same). Takes the
 * server's { share, faultsPerSecond } (serverCpu) and keeps the share as `serverCpu`; page faults
 * per operation ride along (`faultsPerOp`): they tell the allocator's state apart from the
 * library's own work (bench/README.md, "Large messages, session 9").
 */
function withCpuPerOp({ share, faultsPerSecond, ...result }) {
  const rate = result.rate ?? result.value;
  result.serverCpu = share;
  if (share !== undefined && rate > 0) result.cpuPerOp = (share / rate) * 1e6;
  if (Number.isFinite(faultsPerSecond) && rate > 0) result.faultsPerOp = faultsPerSecond / rate;
  return result;
}

function log(line) {
  process.stderr.write(`${line}\n`);
}

/** Peer order of round r: rotated each round, so no peer always runs first after a pause. */
function roundOrder(peers, r) {
  return peers.map((_, i) => peers[(i + r) % peers.length]);
}

/** Rounds for a workload: latency runs are cheap and noisy, so they get at least 5. */
// Memory too: RSS after a GC moves by +-0.5 KiB per connection from run to run (heap page and
// young-generation sizing), as much as the differences being measured.
const roundsFor = (w) => (w.kind.endsWith('latency') || w.kind === 'memory' ? Math.max(options.rounds, 5) : options.rounds);

/** Logs a failed measurement of a peer other than hybi and keeps its place in the round (NaN). */
function peerFailed(w, id, error) {
  const text = `${w.id}: ${id} failed: ${String(error?.message ?? error).split('\n')[0]}`;
  log(`  ${text}`);
  if (!notes.includes(text)) notes.push(text);
  return { value: NaN, failed: true };
}

// A server's process draws its allocator state once for its life (bench/README.md, "Large
// messages, session 9"): glibc either keeps the memory that large messages free, or gives it back
// and faults it in again, whichever library runs in it. Five rounds in one process are then one
// draw; the large rows start every peer's server afresh each round, so that the median is over
// five draws. The other rows keep one process per peer (their JIT stays warm).
const freshEachRound = (w) => w.kind === 'echo' && isLargeEcho(w);

async function runServerWorkload(w) {
  const servers = new Map();
  /** Starts the peer's server (once, or each round for the large rows) and warms its JIT. */
  const serverFor = async (peer) => {
    if (servers.has(peer.id)) return servers.get(peer.id);
    const server = await startServer(peer, w.env);
    servers.set(peer.id, server);
    await measureServer(w, server, options.genProcs, Math.min(500, options.time)).catch((error) => {
      if (peer.id === 'hybi') throw error;
    });
    return server;
  };
  const stop = async (id) => {
    const server = servers.get(id);
    servers.delete(id);
    await server?.child.stop();
  };
  try {
    const started = [];
    for (const peer of SERVERS) {
      try {
        await serverFor(peer);
        started.push(peer);
      } catch (error) {
        if (peer.id === 'hybi') throw error;
        peerFailed(w, peer.id, error);
      }
    }
    const samples = new Map(started.map((peer) => [peer.id, []]));
    for (let r = 0; r < roundsFor(w); r++) {
      for (const peer of roundOrder(started, r)) {
        let result;
        try {
          const server = await serverFor(peer);
          result = await measureServer(w, server, options.genProcs, options.time);
        } catch (error) {
          if (peer.id === 'hybi') throw error;
          result = peerFailed(w, peer.id, error);
        }
        if (freshEachRound(w)) await stop(peer.id);
        samples.get(peer.id).push(result);
        if (!result.failed) log(`  ${w.id} round ${r + 1} ${peer.id}: ${fmtValue(result.value, w.unit)} ${w.unit}${result.p99 ? ` (p99 ${result.p99.toFixed(1)} us)` : ''}${cpuText(result)}${result.errors ? ` (${result.errors} errors: ${result.firstError})` : ''}`);
      }
    }
    return samples;
  } finally {
    await Promise.all([...servers.keys()].map(stop));
  }
}

/**
 * The generator's own ceiling: the raw server echoing bytes verbatim (nothing parsed or
 * answered), one run after a warm-up. node-raw, a peer, is the floor of a Node server; this is
 * the most the generator can count at all.
 */
async function runCeiling(w) {
  const raw = await startServer(RAW);
  try {
    await measureServer(w, raw, options.genProcs, Math.min(500, options.time));
    const values = [await measureServer(w, raw, options.genProcs, options.time)];
    const result = { samples: values };
    // The generator's own limit with one process and with two (the machine has few cores:
    // whether a second generator helps or only competes is measured, not assumed).
    if (w.id === 'echo-32-16' || w.id === 'echo-32-256' || w.id === 'connect') {
      const other = options.genProcs === 1 ? 2 : 1;
      result.alternative = { procs: other, samples: [await measureServer(w, raw, other, options.time)] };
    }
    log(
      `  ${w.id} generator ceiling (raw server echoing verbatim, ${w.unit}): ${values.map((v) => `${fmtValue(v.value, w.unit)}${cpuText(v)}`).join(', ')}` +
        (result.alternative ? `; with ${result.alternative.procs} generator processes: ${fmtValue(result.alternative.samples[0].value, w.unit)}` : ''),
    );
    return result;
  } finally {
    await raw.child.stop();
  }
}

async function runMemoryWorkload(w) {
  const samples = new Map(SERVERS.map((p) => [p.id, []]));
  const rounds = options.quick ? 1 : roundsFor(w);
  for (let r = 0; r < rounds; r++) {
    for (const peer of roundOrder(SERVERS, r)) {
      let result;
      try {
        result = await measureMemory(w, peer);
      } catch (error) {
        if (peer.id === 'hybi') throw error;
        result = peerFailed(w, peer.id, error);
      }
      samples.get(peer.id).push(result);
      if (!result.failed) log(`  memory round ${r + 1} ${peer.id}: ${result.value.toFixed(2)} KiB/conn RSS (heap ${result.heap.toFixed(2)}, external ${result.external.toFixed(2)}; RSS ${result.rssBefore.toFixed(0)} -> ${result.rssAfter.toFixed(0)} MiB)`);
    }
  }
  return samples;
}

/**
 * Heap per idle connection from heap snapshots (heap-per-connection.mjs, run as it is run by
 * hand): bytes for hybi, ws and a bare node:net socket ('net'). Unlike RSS it does not move with
 * the collector's sizing of its spaces, so it confirms (or not) what the RSS rows say.
 */
function heapSnapshots() {
  const conns = options.quick ? 300 : 1000;
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [join(here, 'heap-per-connection.mjs'), 'hybi', 'ws', 'net', `--conns=${conns}`, '--top=8'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('close', (code) => {
      const bytes = {};
      for (const match of out.matchAll(/^(\w+): (\d+) bytes of heap per idle connection/gm)) bytes[match[1]] = Number(match[2]);
      log(out.trimEnd().replace(/^/gm, '  '));
      resolvePromise(code === 0 ? { conns, bytes, detail: out.trimEnd() } : { conns, bytes, error: `exit ${code}` });
    });
  });
}

async function runClientWorkload(w) {
  const raw = await startServer(RAW);
  const samples = new Map(CLIENTS.map((p) => [p.id, []]));
  const url = `ws://127.0.0.1:${raw.port}/reply`;
  try {
    for (let r = 0; r < roundsFor(w); r++) {
      for (const peer of roundOrder(CLIENTS, r)) {
        let result;
        try {
          result = await measureClient(w, peer, url, options.time);
        } catch (error) {
          if (peer.id === 'hybi') throw error;
          result = peerFailed(w, `${peer.id} client`, error);
        }
        samples.get(peer.id).push(result);
        if (!result.failed) log(`  ${w.id} round ${r + 1} ${peer.id} client: ${fmtValue(result.value, w.unit)} ${w.unit}${result.p99 ? ` (p99 ${result.p99.toFixed(1)} us)` : ''} [client cpu ${(result.clientCpu * 100).toFixed(0)}%${result.cpuPerOp ? `, ${result.cpuPerOp.toFixed(2)} us per message` : ''}${result.faultsPerOp !== undefined ? `, ${result.faultsPerOp.toFixed(2)} page faults per message` : ''}]`);
      }
    }
  } finally {
    await raw.child.stop();
  }
  return samples;
}

/** The HTTP/2 echo rows: each pair's client against its own server, pairs alternated. */
async function runPairWorkload(w) {
  const servers = new Map();
  try {
    for (const pair of PAIRS) servers.set(pair.id, await startServer(pair.server));
    const samples = new Map(PAIRS.map((p) => [p.id, []]));
    for (let r = 0; r < roundsFor(w); r++) {
      for (const pair of roundOrder(PAIRS, r)) {
        const server = servers.get(pair.id);
        const result = await measureClient(w, pair, `ws://127.0.0.1:${server.port}${w.path}`, options.time, server);
        samples.get(pair.id).push(result);
        log(`  ${w.id} round ${r + 1} ${pair.id}: ${fmtValue(result.value, w.unit)} ${w.unit} [client ${result.cpuPerOp.toFixed(2)}, server ${result.serverCpuPerOp.toFixed(2)} us per message]`);
      }
    }
    return samples;
  } finally {
    await Promise.all([...servers.values()].map((s) => s.child.stop()));
  }
}

/**
 * Memory per idle WebSocket: a fresh server and a client process of the pair, warmed up with 50
 * connections, then N idle ones (over HTTP/2 all streams of one session; over HTTP/1.1 N TCP
 * connections); RSS and heap after a full GC, after minus before, per WebSocket, on both sides.
 */
async function measurePairMemory(w, pair) {
  const server = await startServer(pair.server);
  const client = new Child(join(here, 'load', 'client.mjs'), { env: {}, execArgv: ['--expose-gc'], name: `client ${pair.id}` });
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

async function runPairMemory(w) {
  const samples = new Map(PAIRS.map((p) => [p.id, []]));
  // Three rounds: these rows are reported, not judged, and each round opens 3,000 WebSockets.
  const rounds = options.quick ? 1 : 3;
  for (let r = 0; r < rounds; r++) {
    for (const pair of roundOrder(PAIRS, r)) {
      const result = await measurePairMemory(w, pair);
      samples.get(pair.id).push(result);
      log(`  ${w.id} round ${r + 1} ${pair.id}: server ${result.value.toFixed(2)} KiB RSS, ${result.heap.toFixed(2)} KiB heap; client ${result.clientRss.toFixed(2)} KiB RSS, ${result.clientHeap.toFixed(2)} KiB heap per WebSocket`);
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------
// Summaries and per-round ratios

/** Figures of a sample besides `value` that are summarized and compared when present. */
const FIELDS = ['p99', 'heap', 'cpuPerOp', 'faultsPerOp', 'serverCpuPerOp', 'clientRss', 'clientHeap'];

/**
 * Medians with spreads for every peer, and per-round ratios hybi / peer for every other peer
 * (for the HTTP/2 rows hybi-h2 / peer: `entry.base` names the numerator):
 * `value` and each field above; `oneCore` (peer CPU per connection / hybi's: how many times more
 * connections one core serves with hybi); for memory, `excess`: what hybi holds above node-raw
 * over what the peer holds above it (both per round).
 */
function summarizeEntry(entry) {
  const list = (id, key) => (entry.samples.get(id) ?? []).map((s) => (s[key] === undefined ? NaN : s[key]));
  entry.summary = {};
  for (const [id, samples] of entry.samples) {
    entry.summary[id] = summarize(list(id, 'value'));
    for (const key of FIELDS) if (samples.some((s) => s[key] !== undefined)) entry.summary[id][key] = summarize(list(id, key));
  }
  entry.ratios = {};
  const base = entry.workload.kind.startsWith('pair-') ? 'hybi-h2' : 'hybi';
  entry.base = base;
  if (!entry.samples.has(base)) return;
  for (const id of entry.samples.keys()) {
    if (id === base) continue;
    const ratios = { value: pairedRatios(list(base, 'value'), list(id, 'value')) };
    for (const key of FIELDS) if (entry.summary[id][key] && entry.summary[base][key]) ratios[key] = pairedRatios(list(base, key), list(id, key));
    if (entry.workload.kind === 'connect') ratios.oneCore = pairedRatios(list(id, 'cpuPerOp'), list('hybi', 'cpuPerOp'));
    if (entry.workload.kind === 'memory' && entry.samples.has('node-raw') && id !== 'node-raw') {
      ratios.excess = pairedExcessRatios(list('hybi', 'value'), list(id, 'value'), list('node-raw', 'value'));
      ratios.heapExcess = pairedExcessRatios(list('hybi', 'heap'), list(id, 'heap'), list('node-raw', 'heap'));
    }
    entry.ratios[id] = ratios;
  }
  if (entry.workload.kind === 'memory' && entry.samples.has('node-raw')) {
    // What each peer holds above the bare socket, per round.
    const floor = list('node-raw', 'value');
    entry.excess = {};
    for (const id of entry.samples.keys()) entry.excess[id] = summarize(list(id, 'value').map((v, i) => v - floor[i]));
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const cpus = os.cpus();
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  bun: bun?.version ?? null,
  cpu: cpus[0]?.model ?? 'unknown',
  cores: cpus.length,
  memoryGiB: os.totalmem() / 1024 ** 3,
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  loadBefore: os.loadavg(),
};
const started = performance.now();
log(`load suite: ${options.rounds} rounds x ${options.time} ms per peer (warm-up ${options.warmup} ms), ${options.genProcs} generator process(es); peers ${SERVERS.map((p) => p.id).join(', ')}; load average ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

const results = [];
const failures = [];
let loadMax = machine.loadBefore[0];
try {
  for (const w of WORKLOADS) {
    if (w.extra ? !selected.has(w.id) : !selected.has(w.group) && !selected.has(w.id)) continue;
    const t0 = performance.now();
    const load = os.loadavg()[0];
    loadMax = Math.max(loadMax, load);
    log(`${w.title} (load average ${load.toFixed(2)})`);
    const entry = { workload: w, load };
    try {
      if (w.kind === 'memory') {
        entry.samples = await runMemoryWorkload(w);
        entry.heapSnapshots = await heapSnapshots();
      } else if (w.kind.startsWith('client-')) {
        entry.samples = await runClientWorkload(w);
      } else if (w.kind === 'pair-echo') {
        entry.samples = await runPairWorkload(w);
      } else if (w.kind === 'pair-memory') {
        entry.samples = await runPairMemory(w);
      } else {
        if (w.ceiling) entry.ceiling = await runCeiling(w);
        entry.samples = await runServerWorkload(w);
      }
    } catch (error) {
      // One broken workload must not cost the others' figures: report it and go on.
      log(`  FAILED: ${error?.stack ?? error}`);
      failures.push(`${w.id}: ${error?.message ?? error}`);
      continue;
    }
    summarizeEntry(entry);
    // Every peer's median on one line, and hybi's per-round ratios to each.
    const medians = [...entry.samples.keys()].map((id) => {
      const m = entry.summary[id];
      const cpu = m.cpuPerOp ? `, ${m.cpuPerOp.median.toFixed(m.cpuPerOp.median < 10 ? 2 : 0)} us/op` : '';
      const ratio = entry.ratios[id] ? ` (hybi/${id} ${entry.ratios[id].value.median.toFixed(2)})` : '';
      return `${id} ${m.median.toFixed(m.median < 10 ? 2 : 0)}${cpu}${ratio}`;
    });
    log(`  medians (${w.unit}): ${medians.join('; ')}`);
    if (entry.ceiling) {
      entry.ceilingSummary = summarize(entry.ceiling.samples.map((s) => s.value));
      if (entry.ceiling.samples[0]?.cpuPerOp !== undefined) entry.ceilingSummary.cpuPerOp = summarize(entry.ceiling.samples.map((s) => s.cpuPerOp));
    }
    results.push(entry);
    log(`  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
} finally {
  await Promise.all(generators.map((g) => g.stop()));
}

machine.loadAfter = os.loadavg();
machine.loadMax = Math.max(loadMax, machine.loadAfter[0]);
machine.seconds = (performance.now() - started) / 1000;
const run = { machine, options: { ...options, idleCount, h2IdleCount }, peers: SERVERS.map((p) => p.id), results, failures, notes };
const markdown = renderMarkdown(run);
process.stdout.write(`${markdown}\n`);
if (outBase !== null) {
  mkdirSync(dirname(outBase), { recursive: true });
  writeFileSync(`${outBase}.md`, `${markdown}\n`);
  writeFileSync(`${outBase}.svg`, renderSvg(run));
  const json = { ...run, results: results.map((e) => ({ ...e, samples: Object.fromEntries(e.samples) })) };
  writeFileSync(`${outBase}.json`, `${JSON.stringify(json, null, 1)}\n`);
  log(`wrote ${outBase}.md, .svg and .json`);
}
log(`load suite took ${machine.seconds.toFixed(0)} s`);
if (failures.length > 0) {
  log(`${failures.length} workload(s) failed:\n  ${failures.join('\n  ')}`);
  process.exitCode = 1;
}
