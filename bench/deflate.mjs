#!/usr/bin/env node
// permessage-deflate benchmarks, hybi against ws with perMessageDeflate on:
//   codec    one connection's compress + decompress of JSON-like messages, in process: hybi's
//            DeflateCodec vs ws's PerMessageDeflate (the class ws uses per connection), per level
//   server   compressed echo: a hybi WebSocketServer vs a ws WebSocketServer, each in its own
//            process, driven by the same ws client (so only the server differs)
//   client   compressed echo: hybi's connect() vs ws's client, each in a process of its own, against
//            the same ws server process
//   memory   RSS per idle connection that has compressed and decompressed (context takeover),
//            for the window/memLevel settings the docs discuss
// Compression settings are the same on both sides of a comparison and printed with it: "defaults"
// is what each library does out of the box (hybi level 1, ws zlib's default level 6), "level 1"
// pins both to level 1. Thresholds are 0: every message is compressed.
//
// Usage: node bench/deflate.mjs [--quick] [--time=2000] [--rounds=3] [--only=codec,server,client,memory]
//          [--app-heap=MB]
// The echo parts run each server, and in the client part each library's clients, in a fresh
// process of its own, and report that process's CPU per message and mark-compacts per second.
// --app-heap gives every process of the run an application's heap of that many MB, so that both
// libraries run in the same garbage collection regime (lib/app-heap.mjs says why that can
// matter more than the library).
// (build first: `npm run build`; `npm run bench` does). The server and client parts need the
// public WebSocketServer and connect() in dist/; they are skipped with a note when missing.
import { createRequire } from 'node:module';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { holdAppHeap, parseAppHeap } from './lib/app-heap.mjs';
import { countMarkCompacts, markCompacts } from './lib/mark-compacts.mjs';

const require = createRequire(import.meta.url);
const self = fileURLToPath(import.meta.url);

const options = { time: 2000, rounds: 3, only: ['codec', 'server', 'client', 'memory'], quick: false, appHeap: 0 };
for (const arg of process.argv.slice(2)) {
  const [name, value] = arg.replace(/^--/, '').split('=');
  if (name === 'quick') options.quick = true;
  else if (name === 'time') options.time = Number(value);
  else if (name === 'rounds') options.rounds = Number(value);
  else if (name === 'only') options.only = value.split(',');
  else if (name === 'app-heap') options.appHeap = parseAppHeap(value);
  else if (name === 'serve' || name === 'drive' || name === 'level' || name === 'memory-child' || name === 'connections') {
    // child modes, handled below
  } else {
    console.error(`unknown option ${arg}`);
    process.exit(2);
  }
}
if (options.quick) {
  options.time = Math.min(options.time, 700);
  options.rounds = 1;
}
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];

const KiB = 1024;
const MiB = 1024 * KiB;
const MAX = 64 * MiB;

/** Distinct JSON-like messages of `size` bytes (a pool, so context takeover does not see repeats only). */
function messages(size, count = 32) {
  const out = [];
  for (let m = 0; m < count; m++) {
    let s = '[';
    for (let i = 0; s.length < size; i++) {
      const x = (m * 100_003 + i * 7919) % 1_000_003;
      s += `{"id":${x},"user":"user${x % 997}","price":${(x % 10_000) / 100},"side":"${x % 2 ? 'buy' : 'sell'}"},`;
    }
    out.push(Buffer.from(s.slice(0, size)));
  }
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** A markdown table. */
function table(title, header, rows) {
  console.log(`\n### ${title}\n`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}

// ---------------------------------------------------------------------------------------------
// codec: in-process compress + decompress

async function codecBench() {
  const { DeflateCodec } = await import('../dist/node/deflate-codec.js');
  const PerMessageDeflate = require(join(dirname(require.resolve('ws')), 'lib', 'permessage-deflate.js'));
  const params = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

  const hybiPair = (level) => {
    const sender = new DeflateCodec('server', params, 'permessage-deflate', { threshold: 0, level });
    const receiver = new DeflateCodec('client', params, 'permessage-deflate', { threshold: 0 });
    return {
      async roundTrip(m) {
        const e = await sender.encode(m, false);
        const d = await receiver.decode(e.data, false, e.rsv, MAX);
        return e.data.length + d.length * 0;
      },
      close() {
        sender.close();
        receiver.close();
      },
    };
  };
  const wsPair = (level) => {
    const sender = new PerMessageDeflate({ threshold: 0, zlibDeflateOptions: { level } }, true, MAX);
    const receiver = new PerMessageDeflate({ threshold: 0 }, false, MAX);
    sender.accept([{}]);
    receiver.accept([{}]);
    const compress = (m) => new Promise((resolve, reject) => sender.compress(m, true, (err, out) => (err ? reject(err) : resolve(out))));
    const decompress = (m) => new Promise((resolve, reject) => receiver.decompress(m, true, (err, out) => (err ? reject(err) : resolve(out))));
    return {
      async roundTrip(m) {
        const e = await compress(m);
        await decompress(e);
        return e.length;
      },
      close() {
        sender.cleanup();
        receiver.cleanup();
      },
    };
  };

  const rows = [];
  for (const size of [2 * KiB, 64 * KiB, MiB]) {
    const pool = messages(size, size >= MiB ? 8 : 32);
    for (const level of [1, 6]) {
      const results = { hybi: [], ws: [] };
      let ratio = { hybi: 0, ws: 0 };
      for (let round = 0; round < options.rounds + 1; round++) {
        for (const [name, make] of round % 2 ? [['ws', wsPair], ['hybi', hybiPair]] : [['hybi', hybiPair], ['ws', wsPair]]) {
          const pair = make(level);
          let bytes = 0;
          let wire = 0;
          let i = 0;
          const t0 = performance.now();
          while (performance.now() - t0 < options.time / 2) {
            const m = pool[i++ % pool.length];
            wire += await pair.roundTrip(m);
            bytes += m.length;
          }
          const seconds = (performance.now() - t0) / 1000;
          pair.close();
          if (round > 0) results[name].push(bytes / MiB / seconds); // round 0 warms up
          ratio[name] = wire / bytes;
        }
      }
      rows.push([
        `${size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`}`,
        String(level),
        `${fmt(median(results.hybi))} MiB/s`,
        `${fmt(median(results.ws))} MiB/s`,
        `${(median(results.hybi) / median(results.ws)).toFixed(2)}x`,
        `${(ratio.hybi * 100).toFixed(1)}% / ${(ratio.ws * 100).toFixed(1)}%`,
      ]);
    }
  }
  table(
    'codec: compress + decompress of one message, one connection, sequential (payload MiB/s)',
    ['message', 'level', 'hybi DeflateCodec', 'ws PerMessageDeflate', 'hybi/ws', 'wire size hybi / ws'],
    rows,
  );
}

// ---------------------------------------------------------------------------------------------
// server and client: compressed echo over loopback

async function startServer(which, level) {
  const child = fork(self, [`--serve=${which}`, `--level=${level}`, `--app-heap=${options.appHeap}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [message] = await once(child, 'message');
  /** The server's processCost(), asked over IPC. */
  const cost = async () => {
    child.send('cost');
    const [reply] = await once(child, 'message');
    return reply;
  };
  return { port: message.port, cost, stop: () => child.kill() };
}

/** This process's CPU time so far (user + system, us) and its mark-compacts so far. */
async function processCost() {
  const { user, system } = process.cpuUsage();
  return { cpu: user + system, markCompacts: markCompacts() };
}

/** ws client options for a level ('default' or a number). */
function wsClientOptions(level) {
  return { maxPayload: MAX, perMessageDeflate: { threshold: 0, ...(level === 'default' ? {} : { zlibDeflateOptions: { level } }) } };
}

/**
 * Opens `connections` clients of `kind` and keeps `inFlight` messages in flight on each for `ms`:
 * messages/s, MiB/s, and the CPU time per message and mark-compacts per second of the side
 * measured (`cost()` reads its totals, as processCost does).
 */
async function drive(kind, port, level, pool, cost, { connections, inFlight, ms }) {
  const url = `ws://127.0.0.1:${port}/echo`;
  const clients = [];
  if (kind === 'ws') {
    const WebSocket = require('ws');
    for (let c = 0; c < connections; c++) {
      const ws = new WebSocket(url, wsClientOptions(level));
      await once(ws, 'open');
      clients.push({
        send: (m) => ws.send(m, { binary: true }),
        onMessage: (fn) => ws.on('message', fn),
        close: () => ws.terminate(),
      });
    }
  } else {
    const { connect } = await import('../dist/index.js');
    for (let c = 0; c < connections; c++) {
      const ws = await connect(url, { maxMessageSize: MAX, maxFrameSize: MAX, compress: { threshold: 0, ...(level === 'default' ? {} : { level }) } });
      ws.on('error', () => {});
      clients.push({
        send: (m) => void ws.send(m).catch(() => {}),
        onMessage: (fn) => ws.on('message', fn),
        close: () => ws.terminate(),
      });
    }
  }
  let echoed = 0;
  let bytes = 0;
  let stop = false;
  let done;
  const finished = new Promise((r) => (done = r));
  let outstanding = 0;
  clients.forEach((client, c) => {
    let next = c;
    client.onMessage((data) => {
      outstanding--;
      echoed++;
      bytes += data.length;
      if (!stop) {
        outstanding++;
        client.send(pool[next++ % pool.length]);
      } else if (outstanding === 0) done();
    });
    for (let k = 0; k < inFlight; k++) {
      outstanding++;
      client.send(pool[next++ % pool.length]);
    }
  });
  // Each round starts a fresh server: let both sides compile their hot paths and grow their
  // zlib contexts before the window that is measured.
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const t0 = performance.now();
  const cost0 = await cost();
  const echoed0 = echoed;
  const bytes0 = bytes;
  await new Promise((r) => setTimeout(r, ms));
  const cost1 = await cost();
  stop = true;
  const counted = echoed - echoed0;
  const countedBytes = bytes - bytes0;
  const seconds = (performance.now() - t0) / 1000;
  // Let the messages in flight come back before closing, so the next run starts clean.
  await Promise.race([finished, new Promise((r) => setTimeout(r, 5000))]);
  for (const client of clients) client.close();
  return {
    rate: counted / seconds,
    mibs: countedBytes / MiB / seconds,
    cpuPerMessage: (cost1.cpu - cost0.cpu) / counted,
    markCompactsPerSecond: (cost1.markCompacts - cost0.markCompacts) / seconds,
  };
}

/**
 * The client part's run of one library: `drive` in a fresh process of its own (--drive=hybi|ws),
 * as each server has, so that neither library's garbage and heap sizing carry into the other's
 * run. Its CPU per message is that process's.
 */
async function driveInChild(who, port, level, size, load) {
  const child = fork(self, [`--drive=${who}`, `--app-heap=${options.appHeap}`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    child.send({ port, level, size, load });
    const [result] = await once(child, 'message');
    return result;
  } finally {
    child.kill();
  }
}

/** Child mode of the client part (see driveInChild): one library's clients, the result over IPC. */
function driveChild() {
  holdAppHeap(options.appHeap);
  countMarkCompacts();
  process.once('message', async ({ port, level, size, load }) => {
    process.send(await drive(arg('drive'), port, level, messages(size), processCost, load));
  });
}

/** Traffic before each measured window of the echo parts (ms). */
const WARMUP_MS = 300;

const ECHO_CASES = [
  { size: KiB, connections: 8, inFlight: 8 },
  { size: 16 * KiB, connections: 8, inFlight: 4 },
  { size: 256 * KiB, connections: 2, inFlight: 2 },
];

async function echoBench(part) {
  let api;
  try {
    api = await import('../dist/index.js');
  } catch {
    api = {};
  }
  if (part === 'server' && typeof api.WebSocketServer !== 'function') {
    console.log('\n(server: skipped, dist/index.js exports no WebSocketServer yet)');
    return;
  }
  if (part === 'client' && typeof api.connect !== 'function') {
    console.log('\n(client: skipped, dist/index.js exports no connect yet)');
    return;
  }
  const rows = [];
  for (const level of ['default', 1]) {
    for (const c of ECHO_CASES) {
      const pool = messages(c.size);
      const results = { hybi: [], ws: [] };
      const load = { ...c, ms: options.time };
      for (let round = 0; round < options.rounds + 1; round++) {
        const order = round % 2 ? ['ws', 'hybi'] : ['hybi', 'ws'];
        for (const who of order) {
          // server part: the server differs, the client is ws. client part: the client differs, the server is ws.
          const server = await startServer(part === 'server' ? who : 'ws', level);
          try {
            const thisLoad = round === 0 ? { ...load, ms: 300 } : load;
            // The CPU of the side that differs: the server's process, or the clients' own process.
            const r = part === 'server' ? await drive('ws', server.port, level, pool, server.cost, thisLoad) : await driveInChild(who, server.port, level, c.size, thisLoad);
            if (round > 0) results[who].push(r);
          } finally {
            server.stop();
          }
        }
      }
      const h = median(results.hybi.map((r) => r.rate));
      const w = median(results.ws.map((r) => r.rate));
      const hCpu = median(results.hybi.map((r) => r.cpuPerMessage));
      const wCpu = median(results.ws.map((r) => r.cpuPerMessage));
      rows.push([
        level === 'default' ? 'defaults (hybi 1, ws 6)' : 'level 1',
        c.size >= KiB * 1024 ? `${c.size / MiB} MiB` : `${c.size / KiB} KiB`,
        `${c.connections} x ${c.inFlight}`,
        `${fmt(h)} msg/s (${fmt(median(results.hybi.map((r) => r.mibs)))} MiB/s)`,
        `${fmt(w)} msg/s (${fmt(median(results.ws.map((r) => r.mibs)))} MiB/s)`,
        `${(h / w).toFixed(2)}x`,
        `${fmt(hCpu)} / ${fmt(wCpu)} us (${(hCpu / wCpu).toFixed(2)}x)`,
        `${median(results.hybi.map((r) => r.markCompactsPerSecond)).toFixed(1)} / ${median(results.ws.map((r) => r.markCompactsPerSecond)).toFixed(1)}`,
      ]);
    }
  }
  table(
    part === 'server'
      ? 'server: compressed echo, hybi WebSocketServer vs ws WebSocketServer (client: ws, same settings)'
      : 'client: compressed echo, hybi connect() vs ws client, each in its own process (server: ws, same settings)',
    ['compression', 'message', 'connections x in flight', 'hybi', 'ws', 'hybi/ws', `${part}'s CPU per message, hybi / ws`, `${part}'s mark-compacts per second, hybi / ws`],
    rows,
  );
}

// ---------------------------------------------------------------------------------------------
// memory: RSS per idle connection after compressed traffic, in a fresh process per setting

const MEMORY_CASES = [
  ['15-bit windows, memLevel 8 (zlib and ws defaults)', { bits: 15, memLevel: 8, takeover: true }],
  ['12-bit windows, memLevel 5 (Python websockets defaults)', { bits: 12, memLevel: 5, takeover: true }],
  ['9-bit windows, memLevel 1', { bits: 9, memLevel: 1, takeover: true }],
  ['no_context_takeover both ways (contexts freed after each message)', { bits: 15, memLevel: 8, takeover: false }],
  ['negotiated, but no message compressed yet', { bits: 15, memLevel: 8, takeover: true, idle: true }],
];

async function memoryChild(spec) {
  const { bits, memLevel, takeover, idle } = JSON.parse(spec);
  const { DeflateCodec } = await import('../dist/node/deflate-codec.js');
  const n = Number(arg('connections') ?? 1000);
  const params = { serverNoContextTakeover: !takeover, clientNoContextTakeover: !takeover, serverMaxWindowBits: bits, clientMaxWindowBits: bits };
  const outbound = messages(16 * KiB, 8);
  const peer = new DeflateCodec('client', params, '', { memLevel, threshold: 0 });
  const inbound = [];
  for (const m of messages(16 * KiB, 8)) inbound.push(await peer.encode(m, false));
  const settle = async () => {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 50));
    globalThis.gc();
  };
  await settle();
  const before = process.memoryUsage().rss;
  const keep = [];
  for (let i = 0; i < n; i++) {
    const codec = new DeflateCodec('server', params, '', { memLevel, threshold: 0 });
    if (!idle) {
      for (const m of outbound) await codec.encode(m, false);
      for (const e of inbound) if (e) await codec.decode(e.data, false, e.rsv, MAX);
    }
    keep.push(codec);
  }
  await settle();
  process.send({ perConnection: (process.memoryUsage().rss - before) / n, connections: keep.length });
}

async function memoryBench() {
  const rows = [];
  for (const [name, spec] of MEMORY_CASES) {
    const figures = [];
    for (let round = 0; round < Math.max(1, options.rounds); round++) {
      const child = fork(self, [`--memory-child=${JSON.stringify(spec)}`, `--connections=${options.quick ? 300 : 1000}`], {
        execArgv: ['--expose-gc'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const [message] = await once(child, 'message');
      child.kill();
      figures.push(message.perConnection);
    }
    rows.push([name, `${fmt(median(figures) / KiB)} KiB`]);
  }
  table('memory: RSS per connection after 8 compressed messages each way of 16 KiB (hybi codec, context takeover unless said)', ['setting', 'RSS per connection'], rows);
}

// ---------------------------------------------------------------------------------------------

async function main() {
  console.log(`## deflate (Node ${process.version}, zlib ${process.versions.zlib}; ${options.rounds} round(s) of ${options.time} ms, median)`);
  if (options.appHeap > 0) console.log(`\nEvery process of this run holds an application heap of ${options.appHeap} MB (--app-heap).`);
  holdAppHeap(options.appHeap);
  if (options.only.includes('codec')) await codecBench();
  if (options.only.includes('server')) await echoBench('server');
  if (options.only.includes('client')) await echoBench('client');
  if (options.only.includes('memory')) await memoryBench();
}

/** In a server child: answers 'cost' with processCost(). */
function answerCost() {
  process.on('message', async (message) => {
    if (message === 'cost') process.send(await processCost());
  });
}

/** Child mode: a compressed echo server (--serve=hybi|ws --level=N|default); its port goes over IPC. */
async function serveChild() {
  holdAppHeap(options.appHeap);
  countMarkCompacts();
  const which = arg('serve');
  const level = arg('level') === 'default' ? undefined : Number(arg('level'));
  if (which === 'hybi') {
    const { WebSocketServer } = await import('../dist/index.js');
    const server = new WebSocketServer({
      maxMessageSize: MAX,
      maxFrameSize: MAX,
      compress: { threshold: 0, ...(level === undefined ? {} : { level }) },
    });
    server.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => {});
    });
    const address = await server.listen({ port: 0, host: '127.0.0.1' });
    process.send({ port: address.port });
    answerCost();
  } else {
    const { WebSocketServer } = require('ws');
    const server = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      maxPayload: MAX,
      perMessageDeflate: { threshold: 0, ...(level === undefined ? {} : { zlibDeflateOptions: { level } }) },
    });
    server.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('error', () => {});
    });
    await once(server, 'listening');
    process.send({ port: server.address().port });
    answerCost();
  }
  process.on('disconnect', () => process.exit(0));
}

if (arg('serve')) await serveChild();
else if (arg('drive')) driveChild();
else if (arg('memory-child')) await memoryChild(arg('memory-child'));
else await main();
