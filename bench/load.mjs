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
//          [--app-heap=MB]   (every server and client process holds an application heap of MB:
//                             lib/app-heap.mjs)
// (--rounds is raised to at least 5 for latency and memory, whose samples are bimodal or move
// with the collector's sizing on a shared machine.)
// Writes <out>.md, <out>.svg and <out>.json when every default workload ran (or --out is given).
import { spawn } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileLimit } from './lib/procs.mjs';
import { summarize } from './lib/stats.mjs';
import { renderMarkdown, renderSvg } from './lib/report.mjs';
import { findBun } from './lib/bun.mjs';
import { parseAppHeap } from './lib/app-heap.mjs';
import { measurement } from './load/measure.mjs';
import { summarizeEntry } from './load/summary.mjs';
import { GROUPS, definePeers, defineWorkloads, isLargeEcho, peerFilter } from './load/workloads.mjs';

const here = dirname(fileURLToPath(import.meta.url));

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
  appHeap: 0,
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
  else if (name === 'app-heap') options.appHeap = parseAppHeap(value);
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

const selected = new Set(options.only ?? GROUPS);
const complete = GROUPS.every((g) => selected.has(g));
const outBase = options.out ?? (complete ? join(here, 'results', 'latest') : null);
// The client side holds every idle connection in one process: stay under its descriptor limit.
const idleCount = Math.min(options.idle, fileLimit - 200);
/** WebSockets in the HTTP/2 idle-memory row: one session against as many TCP connections. */
const h2IdleCount = Math.min(options.quick ? 300 : 1000, fileLimit - 200);

const wanted = peerFilter(options.peers);

// ---------------------------------------------------------------------------------------------
// Peers and workloads

const notes = [];
if (options.appHeap > 0) {
  // Read by servers/common.mjs and load/client.mjs: every server and client process holds it.
  process.env.HYBI_BENCH_APP_HEAP = String(options.appHeap);
  notes.push(`Every server and client process held an application heap of ${options.appHeap} MB (--app-heap; lib/app-heap.mjs).`);
}
let bun = null;
if (wanted('bun')) {
  bun = findBun((line) => process.stderr.write(`${line}\n`));
  if (bun.error) {
    notes.push(`Bun left out: ${bun.error}.`);
    process.stderr.write(`Bun left out: ${bun.error}\n`);
    bun = null;
  }
}

const { servers: SERVERS, raw: RAW, clients: CLIENTS, pairs: PAIRS } = definePeers({ compare: options.compare, bun, wanted });
const WORKLOADS = defineWorkloads({ idleCount, h2IdleCount });
const { startServer, stopGenerators, measureServer, measureMemory, measureClient, measurePairMemory } = measurement(options);

{
  const ids = WORKLOADS.map((w) => w.id);
  for (const name of selected) {
    // A group name, or one workload's id (e.g. --only=echo-1m,client-echo-1m).
    if (!GROUPS.includes(name) && !ids.includes(name)) {
      console.error(`unknown workload group or id "${name}"; known groups: ${GROUPS.join(', ')}; ids: ${ids.join(', ')}`);
      process.exit(2);
    }
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
  await stopGenerators();
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
