#!/usr/bin/env node
// The load suite: hybi's server and client against ws (with and without bufferutil), each
// server a separate process on 127.0.0.1, driven by raw-socket load generators (load/generator.mjs)
// whose own ceiling is measured against a server that does nothing but echo bytes (servers/raw.mjs).
//
// Peers are measured alternately (hybi, ws, ws+bufferutil, hybi, ...) for several rounds, and
// reported as medians with the min-max spread and the hybi / ws+bufferutil ratio, because the
// machine is shared and noisy: a burst of someone else's work then hurts every peer a little
// rather than one peer a lot.
//
// Usage: node bench/load.mjs [--quick] [--rounds=3] [--time=2000] [--warmup=300]
//          [--only=echo,latency,large,broadcast,memory,connect,client or workload ids: echo-1m,...] [--gen-procs=1]
// (--rounds is raised to at least 5 for the latency workloads, whose runs are cheap and whose
// samples are bimodal on a shared machine: a median of 3 can land on either mode.)
//          [--idle=10000] [--prof[=all]] [--prof-generator] [--out=bench/results/latest] [--peers=hybi,ws,ws+bufferutil]
//          [--compare=DIR[,DIR...]]   (adds a peer "hybi@<name of DIR>" per DIR: hybi built into DIR,
//                             e.g. a copy of dist/ from before a change, measured alternately
//                             with the others; dist/ is shared, so A/B builds belong elsewhere)
// Writes <out>.md, <out>.svg and <out>.json when every workload ran (or --out is given).
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, fileLimit } from './lib/procs.mjs';
import { summarize } from './lib/stats.mjs';
import { renderMarkdown, renderSvg } from './lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const KiB = 1024;
const MiB = 1024 * KiB;

// ---------------------------------------------------------------------------------------------
// Options

const options = {
  quick: false,
  rounds: 3,
  time: 1500,
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
  const given = (name) => process.argv.some((a) => a.startsWith(`--${name}=`));
  if (!given('rounds')) options.rounds = 2;
  if (!given('time')) options.time = 800;
  if (!given('warmup')) options.warmup = 200;
}
const groups = ['echo', 'latency', 'large', 'broadcast', 'memory', 'connect', 'client'];
const selected = new Set(options.only ?? groups);
const complete = groups.every((g) => selected.has(g));
const outBase = options.out ?? (complete ? join(here, 'results', 'latest') : null);
// The client side holds every idle connection in one process: stay under its descriptor limit.
const idleCount = Math.min(options.idle, fileLimit - 200);

// ---------------------------------------------------------------------------------------------
// Peers and workloads

/** Servers under test, in the order they are measured within a round. */
const SERVERS = [
  { id: 'hybi', script: 'servers/hybi.mjs', env: {} },
  ...(options.compare ?? []).map((dir) => ({ id: `hybi@${basename(dir)}`, script: 'servers/hybi.mjs', env: { HYBI_BENCH_DIST: dir } })),
  { id: 'ws', script: 'servers/ws.mjs', env: { WS_NO_BUFFER_UTIL: '1' } },
  { id: 'ws+bufferutil', script: 'servers/ws.mjs', env: {} },
].filter((p) => options.peers === null || options.peers.includes(p.id));
const RAW = { id: 'raw', script: 'servers/raw.mjs', env: {} };
/** Clients under test, against the raw server's /reply. */
const CLIENTS = [
  { id: 'hybi', impl: 'hybi', env: {} },
  ...(options.compare ?? []).map((dir) => ({ id: `hybi@${basename(dir)}`, impl: 'hybi', env: { HYBI_BENCH_DIST: dir } })),
  { id: 'ws+bufferutil', impl: 'ws', env: {} },
].filter((p) => options.peers === null || options.peers.includes(p.id));

/**
 * Workloads. kind: echo | latency | broadcast | connect | memory (server side, driven by the
 * generator) or client-echo | client-latency (client side). `better`: which way is good;
 * `target`: the issue's hybi / ws+bufferutil goal.
 */
const WORKLOADS = [
  { group: 'echo', id: 'echo-32-16', title: 'echo 32 B, 16 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', target: 3, ceiling: true },
  { group: 'echo', id: 'echo-32-256', title: 'echo 32 B, 256 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 256, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', target: 3, ceiling: true },
  { group: 'echo', id: 'echo-32-text', title: 'echo 32 B text, 16 conns x 16 in flight', kind: 'echo', path: '/echo', conns: 16, inflight: 16, size: 32, opcode: 1, unit: 'msg/s', better: 'higher', target: null },
  { group: 'latency', id: 'latency', title: 'latency 32 B, 1 conn x 1 in flight', kind: 'latency', path: '/echo', conns: 1, size: 32, unit: 'us', better: 'lower', target: 1, ceiling: true },
  { group: 'large', id: 'echo-64k', title: 'echo 64 KiB binary, 2 conns x 2 in flight', kind: 'echo', path: '/echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher', target: 1, ceiling: true },
  { group: 'large', id: 'echo-1m', title: 'echo 1 MiB binary, 1 conn x 2 in flight', kind: 'echo', path: '/echo', conns: 1, inflight: 2, size: MiB, unit: 'MiB/s', better: 'higher', target: 1, ceiling: true },
  { group: 'large', id: 'echo-16m', title: 'echo 16 MiB binary, 1 conn x 1 in flight', kind: 'echo', path: '/echo', conns: 1, inflight: 1, size: 16 * MiB, unit: 'MiB/s', better: 'higher', target: 1, ceiling: true },
  { group: 'broadcast', id: 'broadcast', title: 'broadcast 32 B to 1,000 clients', kind: 'broadcast', path: '/broadcast', conns: 1000, window: 32, size: 32, unit: 'deliveries/s', better: 'higher', target: 5, ceiling: true },
  { group: 'memory', id: 'memory', title: `memory, ${idleCount.toLocaleString('en-US')} idle conns`, kind: 'memory', path: '/echo', conns: idleCount, unit: 'KiB/conn', better: 'lower', target: 0.7 },
  { group: 'connect', id: 'connect', title: 'new connections (handshake + close)', kind: 'connect', path: '/echo', concurrency: 32, unit: 'conn/s', better: 'higher', target: 1.5, ceiling: true },
  { group: 'client', id: 'client-echo-32-16', title: 'client: echo 32 B, 16 conns x 16', kind: 'client-echo', conns: 16, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', target: 1 },
  { group: 'client', id: 'client-echo-32-256', title: 'client: echo 32 B, 256 conns x 16', kind: 'client-echo', conns: 256, inflight: 16, size: 32, unit: 'msg/s', better: 'higher', target: 1 },
  { group: 'client', id: 'client-latency', title: 'client: latency 32 B, 1 x 1', kind: 'client-latency', conns: 1, size: 32, unit: 'us', better: 'lower', target: 1 },
  { group: 'client', id: 'client-echo-64k', title: 'client: echo 64 KiB, 2 conns x 2', kind: 'client-echo', conns: 2, inflight: 2, size: 64 * KiB, unit: 'MiB/s', better: 'higher', target: 1 },
  { group: 'client', id: 'client-echo-1m', title: 'client: echo 1 MiB, 1 conn x 2', kind: 'client-echo', conns: 1, inflight: 2, size: MiB, unit: 'MiB/s', better: 'higher', target: 1 },
  { group: 'client', id: 'client-echo-16m', title: 'client: echo 16 MiB, 1 conn x 1', kind: 'client-echo', conns: 1, inflight: 1, size: 16 * MiB, unit: 'MiB/s', better: 'higher', target: 1 },
];

// ---------------------------------------------------------------------------------------------
// Processes

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let profCount = 0;

async function startServer(peer) {
  const execArgv = ['--expose-gc'];
  if (options.prof === 'all' || (options.prof && peer.id.startsWith('hybi'))) {
    const name = `${peer.id.replace(/[^\w.-]/g, '_')}-${++profCount}.cpuprofile`;
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'prof')}`, `--cpu-prof-name=${name}`);
  }
  const child = new Child(join(here, peer.script), { env: peer.env, execArgv, name: `server ${peer.id}` });
  const ready = await child.ready;
  if (peer.id === 'ws' && ready.bufferutil) throw new Error('the ws server without bufferutil loaded it anyway');
  if (peer.id === 'ws+bufferutil' && !ready.bufferutil) throw new Error('the ws server did not load bufferutil');
  return { peer, child, port: ready.port };
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
    return used / 1000 / (performance.now() - t0);
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
        gens[i].request({ type: 'connect', host, port, path: w.path, concurrency, warmup: options.warmup, duration: time }),
      ),
    );
    const errors = results.reduce((s, r) => s + r.errors, 0);
    return withCpuPerOp({
      value: results.reduce((s, r) => s + r.frames / r.elapsed, 0),
      errors,
      firstError: results.find((r) => r.firstError)?.firstError,
      genCpu: results.reduce((s, r) => s + r.cpu, 0),
      serverCpu: await cpu(),
    });
  }
  // Latency and broadcast need one process: one connection, or one window over all clients.
  const gens = await generatorPool(w.kind === 'echo' ? procs : 1);
  const shares = split(w.conns, gens.length);
  try {
    const opened = await Promise.all(shares.map((count, i) => gens[i].request({ type: 'open', host, port, path: w.path, count })));
    const failed = opened.reduce((s, r) => s + r.errors, 0);
    if (failed > 0) throw new Error(`${failed} connections failed to open: ${opened.find((r) => r.firstError)?.firstError}`);
    const job = { type: w.kind, size: w.size, opcode: w.opcode ?? 2, inflight: w.inflight, window: w.window, warmup: options.warmup, duration: time };
    const cpu = await serverCpu(server);
    const results = await Promise.all(gens.slice(0, shares.length).map((g) => g.request(job)));
    const serverShare = await cpu();
    const genCpu = results.reduce((s, r) => s + r.cpu, 0);
    if (w.kind === 'latency') {
      const r = results[0];
      return { value: r.p50, p99: r.p99, p90: r.p90, rate: r.frames / r.elapsed, genCpu, serverCpu: serverShare };
    }
    const rate = results.reduce((s, r) => s + r.frames / r.elapsed, 0);
    return withCpuPerOp({ value: w.unit === 'MiB/s' ? (rate * w.size) / MiB : rate, rate, genCpu, serverCpu: serverShare });
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
    await gen.request({ type: 'open', host, port: server.port, path: w.path, count: 200 });
    await gen.request({ type: 'closeAll' });
    await sleep(300);
    const before = await server.child.request({ type: 'stats', gc: true });
    const opened = await gen.request({ type: 'open', host, port: server.port, path: w.path, count: w.conns, concurrency: 256 }, 300_000);
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

/** Client side: a client process of `peer.impl` against the raw server's /reply. */
async function measureClient(w, peer, rawPort, time) {
  const execArgv = [];
  if (options.prof === 'all' || (options.prof && peer.id.startsWith('hybi'))) {
    // --prof profiles hybi's client processes too (bench/results/prof/client-*.cpuprofile).
    const name = `client-${peer.id.replace(/[^\w.-]/g, '_')}-${++profCount}.cpuprofile`;
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'prof')}`, `--cpu-prof-name=${name}`);
  }
  const child = new Child(join(here, 'load', 'client.mjs'), { env: peer.env, execArgv, name: `client ${peer.id}` });
  await child.ready;
  try {
    const url = `ws://127.0.0.1:${rawPort}/reply`;
    const opened = await child.request({ type: 'open', impl: peer.impl, url, count: w.conns });
    if (peer.impl === 'ws' && !opened.bufferutil) throw new Error('the ws client did not load bufferutil');
    // A short run first: the client process is fresh, so its JIT is cold.
    const job = { type: w.kind === 'client-latency' ? 'latency' : 'echo', size: w.size, inflight: w.inflight };
    await child.request({ ...job, warmup: 0, duration: Math.min(500, time / 2) });
    await child.request({ type: 'closeAll' });
    await child.request({ type: 'open', impl: peer.impl, url, count: w.conns });
    const r = await child.request({ ...job, warmup: options.warmup, duration: time });
    if (w.kind === 'client-latency') return { value: r.p50, p99: r.p99, p90: r.p90, rate: r.frames / r.elapsed, clientCpu: r.cpu };
    const rate = r.frames / r.elapsed;
    // Client CPU per message (sent and echoed), in microseconds: steadier than the rate on a shared machine.
    return { value: w.unit === 'MiB/s' ? (rate * w.size) / MiB : rate, rate, clientCpu: r.cpu, cpuPerOp: rate > 0 ? (r.cpu / rate) * 1e6 : NaN };
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
    : ` [cpu: generator ${(r.genCpu * 100).toFixed(0)}%, server ${(r.serverCpu * 100).toFixed(0)}%${r.cpuPerOp ? `, server ${r.cpuPerOp.toFixed(2)} us per op` : ''}]`;

/**
 * Server CPU time per operation (message, delivery, connection), in microseconds: its CPU share
 * over the run divided by the rate. Less sensitive than the rate to other work on the machine
 * (a starved server does fewer operations per second, but each costs about the same).
 */
function withCpuPerOp(result) {
  const rate = result.rate ?? result.value;
  if (result.serverCpu !== undefined && rate > 0) result.cpuPerOp = (result.serverCpu / rate) * 1e6;
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

async function runServerWorkload(w) {
  const servers = [];
  for (const peer of SERVERS) servers.push(await startServer(peer));
  const samples = new Map(SERVERS.map((p) => [p.id, []]));
  try {
    // Warm every server's JIT once before anything counts.
    for (const server of servers) await measureServer(w, server, options.genProcs, Math.min(500, options.time));
    for (let r = 0; r < roundsFor(w); r++) {
      for (const server of roundOrder(servers, r)) {
        const result = await measureServer(w, server, options.genProcs, options.time);
        samples.get(server.peer.id).push(result);
        log(`  ${w.id} round ${r + 1} ${server.peer.id}: ${fmtValue(result.value, w.unit)} ${w.unit}${result.p99 ? ` (p99 ${result.p99.toFixed(1)} us)` : ''}${cpuText(result)}${result.errors ? ` (${result.errors} errors: ${result.firstError})` : ''}`);
      }
    }
  } finally {
    await Promise.all(servers.map((s) => s.child.stop()));
  }
  return samples;
}

async function runCeiling(w) {
  const raw = await startServer(RAW);
  try {
    await measureServer(w, raw, options.genProcs, Math.min(500, options.time));
    const values = [];
    for (let r = 0; r < Math.max(1, options.rounds - 1); r++) values.push(await measureServer(w, raw, options.genProcs, options.time));
    const result = { samples: values };
    // The generator's own limit with one process and with two (the machine has few cores:
    // whether a second generator helps or only competes is measured, not assumed).
    if (w.id === 'echo-32-16' || w.id === 'echo-32-256') {
      const other = options.genProcs === 1 ? 2 : 1;
      result.alternative = { procs: other, samples: [await measureServer(w, raw, other, options.time)] };
    }
    log(
      `  ${w.id} generator ceiling (raw server, ${w.unit}): ${values.map((v) => `${fmtValue(v.value, w.unit)}${cpuText(v)}`).join(', ')}` +
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
      const result = await measureMemory(w, peer);
      samples.get(peer.id).push(result);
      log(`  memory round ${r + 1} ${peer.id}: ${result.value.toFixed(1)} KiB/conn RSS (heap ${result.heap.toFixed(1)}, external ${result.external.toFixed(1)}; RSS ${result.rssBefore.toFixed(0)} -> ${result.rssAfter.toFixed(0)} MiB)`);
    }
  }
  return samples;
}

/** What a bare node:net socket with a canned handshake costs: the floor for any server. */
async function runMemoryCeiling(w) {
  const result = await measureMemory(w, RAW);
  log(`  memory floor (raw server): ${result.value.toFixed(1)} KiB/conn RSS (heap ${result.heap.toFixed(1)})`);
  return { samples: [result] };
}

async function runClientWorkload(w) {
  const raw = await startServer(RAW);
  const samples = new Map(CLIENTS.map((p) => [p.id, []]));
  try {
    for (let r = 0; r < roundsFor(w); r++) {
      for (const peer of roundOrder(CLIENTS, r)) {
        const result = await measureClient(w, peer, raw.port, options.time);
        samples.get(peer.id).push(result);
        log(`  ${w.id} round ${r + 1} ${peer.id} client: ${fmtValue(result.value, w.unit)} ${w.unit}${result.p99 ? ` (p99 ${result.p99.toFixed(1)} us)` : ''} [client cpu ${(result.clientCpu * 100).toFixed(0)}%]`);
      }
    }
  } finally {
    await raw.child.stop();
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------
// Main

const cpus = os.cpus();
const machine = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus[0]?.model ?? 'unknown',
  cores: cpus.length,
  memoryGiB: os.totalmem() / 1024 ** 3,
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  loadBefore: os.loadavg(),
};
const started = performance.now();
log(`load suite: ${options.rounds} rounds x ${options.time} ms per peer (warm-up ${options.warmup} ms), ${options.genProcs} generator process(es); load average ${machine.loadBefore.map((l) => l.toFixed(2)).join(' ')}`);

const results = [];
const failures = [];
let loadMax = machine.loadBefore[0];
try {
  for (const w of WORKLOADS) {
    if (!selected.has(w.group) && !selected.has(w.id)) continue;
    const t0 = performance.now();
    const load = os.loadavg()[0];
    loadMax = Math.max(loadMax, load);
    log(`${w.title} (load average ${load.toFixed(2)})`);
    const entry = { workload: w, load };
    try {
      if (w.kind === 'memory') {
        entry.ceiling = await runMemoryCeiling(w);
        entry.samples = await runMemoryWorkload(w);
      } else if (w.kind.startsWith('client-')) {
        entry.samples = await runClientWorkload(w);
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
    entry.summary = {};
    for (const [id, list] of entry.samples) {
      entry.summary[id] = summarize(list.map((s) => s.value));
      if (list[0]?.p99 !== undefined) entry.summary[id].p99 = summarize(list.map((s) => s.p99));
      if (list[0]?.heap !== undefined) entry.summary[id].heap = summarize(list.map((s) => s.heap));
      if (list[0]?.cpuPerOp !== undefined) entry.summary[id].cpuPerOp = summarize(list.map((s) => s.cpuPerOp));
    }
    // Every peer's median on one line (the table shows only hybi, ws and ws+bufferutil; this
    // also shows the --compare builds).
    const medians = [...entry.samples.keys()].map((id) => {
      const m = entry.summary[id];
      const cpu = m.cpuPerOp ? `, ${m.cpuPerOp.median.toFixed(m.cpuPerOp.median < 10 ? 2 : 0)} us/op` : '';
      return `${id} ${m.median.toFixed(m.median < 10 ? 2 : 0)}${cpu}`;
    });
    log(`  medians (${w.unit}): ${medians.join('; ')}`);
    if (entry.ceiling) {
      entry.ceilingSummary = summarize(entry.ceiling.samples.map((s) => s.value));
      if (entry.ceiling.samples[0]?.p99 !== undefined) entry.ceilingSummary.p99 = summarize(entry.ceiling.samples.map((s) => s.p99));
      if (entry.ceiling.samples[0]?.heap !== undefined) entry.ceilingSummary.heap = summarize(entry.ceiling.samples.map((s) => s.heap));
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
const run = { machine, options: { ...options, idleCount }, results, failures };
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
