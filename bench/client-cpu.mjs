#!/usr/bin/env node
// Client CPU and page faults per echoed message, several builds alternated (issue 24, session 5).
// One reference server (servers/raw.mjs, path /reply: it answers every whole client frame with an
// unmasked frame of the same length, so it costs next to nothing) serves every run; each run is a
// fresh client process (so one build's JIT and heap state cannot leak into another's), measured
// after a warm-up by its own process.cpuUsage() and process.resourceUsage().minorPageFault.
// Builds are run in alternating order (A B C, C B A, ...) and each one's medians are printed.
//
// Usage: node bench/client-cpu.mjs [--size=65536] [--conns=2] [--inflight=2] [--time=1500]
//          [--pairs=6] DIST [DIST...]
//   DIST: a build of hybi (a copy of dist/, outside dist/ itself: tests rebuild it), or `ws`
//   for ws's client (with bufferutil when installed), as a reference in the same alternation.
// Output per build: CPU us per message (each run, then the median; user and system medians),
// minor page faults per message, messages per run. Environment variables reach every client
// (e.g. MALLOC_TRIM_THRESHOLD_ to see what the allocator's trimming costs).
import { execFileSync, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--child') {
  await child(process.argv.slice(3));
} else {
  await parent(process.argv.slice(2));
}

async function parent(args) {
  const options = { size: 65536, conns: 2, inflight: 2, time: 1500, pairs: 6 };
  const builds = [];
  for (const arg of args) {
    const m = /^--(\w+)=(\d+)$/.exec(arg);
    if (m !== null && m[1] in options) options[m[1]] = Number(m[2]);
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else builds.push(arg === 'ws' ? 'ws' : resolve(arg));
  }
  if (builds.length === 0) throw new Error('usage: node bench/client-cpu.mjs [options] DIST [DIST...]');
  const server = fork(new URL('./servers/raw.mjs', import.meta.url), [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise((done) => server.on('message', (m) => m.type === 'ready' && done(m.port)));
  const runs = builds.map(() => []);
  try {
    for (let pair = 0; pair < options.pairs; pair++) {
      const order = builds.map((_, i) => i);
      if (pair % 2 === 1) order.reverse();
      for (const i of order) {
        const out = execFileSync(process.execPath, [self, '--child', builds[i], String(port), ...['size', 'conns', 'inflight', 'time'].map((k) => String(options[k]))]);
        runs[i].push(JSON.parse(out.toString()));
      }
    }
  } finally {
    server.kill();
  }
  const median = (values) => {
    const s = [...values].sort((a, b) => a - b);
    return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log(`client echo of ${options.size} bytes, ${options.conns} conns x ${options.inflight} in flight, ${options.pairs} alternated runs of ${options.time} ms each`);
  builds.forEach((build, i) => {
    const r = runs[i];
    const at = (key) => median(r.map((x) => x[key]));
    console.log(
      `${build}\n  CPU us/msg ${r.map((x) => x.us.toFixed(1)).join(' ')} | median ${at('us').toFixed(1)} (user ${at('user').toFixed(1)}, system ${at('system').toFixed(1)})` +
        ` | faults/msg ${at('faults').toFixed(2)} | messages/run ${at('messages')}`,
    );
  });
}

async function child([build, port, sizeArg, connsArg, inflightArg, timeArg]) {
  const url = `ws://127.0.0.1:${port}/reply`;
  const size = Number(sizeArg);
  const limit = 64 * 1024 * 1024;
  const sockets = [];
  if (build === 'ws') {
    const { WebSocket } = createRequire(self)('ws');
    for (let i = 0; i < Number(connsArg); i++) {
      sockets.push(
        await new Promise((done, fail) => {
          const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: limit });
          ws.once('open', () => done(ws));
          ws.once('error', fail);
        }),
      );
    }
  } else {
    const { connect } = await import(pathToFileURL(`${build}/index.js`).href);
    for (let i = 0; i < Number(connsArg); i++) sockets.push(await connect(url, { maxMessageSize: limit, maxFrameSize: limit }));
  }
  const payload = Buffer.alloc(size, 0x61);
  let received = 0;
  let running = true;
  for (const ws of sockets) {
    ws.on('message', () => {
      received++;
      if (running) ws.send(payload);
    });
  }
  for (const ws of sockets) for (let i = 0; i < Number(inflightArg); i++) ws.send(payload);
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  await sleep(400);
  const first = received;
  const cpu = process.cpuUsage();
  const faults = process.resourceUsage().minorPageFault;
  await sleep(Number(timeArg));
  const messages = received - first;
  const used = process.cpuUsage(cpu);
  const faulted = process.resourceUsage().minorPageFault - faults;
  running = false;
  const per = (value) => value / Math.max(messages, 1);
  process.stdout.write(JSON.stringify({ messages, us: per(used.user + used.system), user: per(used.user), system: per(used.system), faults: per(faulted) }));
  process.exit(0);
}
