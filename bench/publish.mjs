#!/usr/bin/env node
// Publish of a 32-byte message to 1,000 subscribers (issue 20), in one process: hybi's
// server.publish() (memory broker), hybi's broadcast(), and ws (with bufferutil when installed)
// with a loop over its clients. The subscribers are 1,000 raw TCP clients in a child process that
// only count bytes, so the figure is the server's cost: deliveries per second from the first
// publish until the last byte arrived, and the server process's CPU time per 1,000 deliveries
// (steadier than wall time on a shared machine). Variants alternate for --rounds rounds; medians
// are shown.
//
//   node bench/publish.mjs [--subscribers=1000] [--messages=2000] [--rounds=3]
//                          [--kinds=hybi publish,hybi broadcast,ws loop] [--json]
// --kinds: which variants, comma-separated (e.g. one of them under --cpu-prof).
// --json: one JSON object on stdout instead of the table: { bench: 'publish', subscribers,
//   messages, rounds, results: { <kind>: { deliveriesPerSecond, cpuMsPer1000, runs: [{
//   deliveriesPerSecond, cpuMsPer1000 }] } } } (medians over the rounds), for bench/run.mjs.
// Imports from dist/: run `npm run build` first. No timed assertions: figures only.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { fileURLToPath } from 'node:url';

const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const SUBSCRIBERS = arg('subscribers', 1000);
const MESSAGES = arg('messages', 2000);
const ROUNDS = arg('rounds', 3);
const JSON_OUT = process.argv.includes('--json');
const KINDS = (process.argv.find((a) => a.startsWith('--kinds='))?.slice('--kinds='.length) ?? 'hybi publish,hybi broadcast,ws loop').split(',');
const PAYLOAD = 'x'.repeat(32);
const FRAME = 2 + PAYLOAD.length; // an unmasked server frame: 2 header bytes, the payload
/** Messages sent per turn of the event loop, so that sockets get written between turns. */
const BURST = 100;

if (process.argv[2] === '--clients') {
  // The child: SUBSCRIBERS raw WebSocket clients that count the bytes after their 101.
  const [port, path] = [Number(process.argv[3]), process.argv[4]];
  let total = 0;
  let target = Infinity;
  const key = 'dGhlIHNhbXBsZSBub25jZQ==';
  let open = 0;
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const socket = netConnect({ port, host: '127.0.0.1' });
    let headDone = false;
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    socket.on('data', (chunk) => {
      if (!headDone) {
        const end = chunk.indexOf('\r\n\r\n');
        headDone = true;
        chunk = chunk.subarray(end + 4);
        if (++open === SUBSCRIBERS) process.send({ ready: true });
      }
      total += chunk.length;
      if (total >= target) {
        target = Infinity;
        process.send({ done: true });
      }
    });
    socket.on('error', () => {});
  }
  process.on('message', (m) => {
    if (m.expect !== undefined) {
      target = total + m.expect;
      if (total >= target) process.send({ done: true });
    }
    if (m.exit) process.exit(0);
  });
} else {
  const { WebSocketServer } = await import('../dist/index.js');
  const { WebSocketServer: WsServer } = await import('ws');

  /** Starts a server of `kind` and returns { port, path, send(), close() }. */
  async function start(kind) {
    if (kind === 'ws loop') {
      const wss = new WsServer({ port: 0, host: '127.0.0.1' });
      await once(wss, 'listening');
      return {
        port: wss.address().port,
        path: '/',
        send: () => {
          for (const c of wss.clients) c.send(PAYLOAD);
        },
        close: () => new Promise((r) => { for (const c of wss.clients) c.terminate(); wss.close(() => r()); }),
      };
    }
    const server = new WebSocketServer({ slowSubscriber: { maxQueuedMessages: 1_000_000, maxQueuedBytes: 1 << 30 } });
    server.route('/t', (ws) => ws.subscribe('bench'));
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    return {
      port,
      path: '/t',
      send: kind === 'hybi publish' ? () => void server.publish('bench', PAYLOAD) : () => server.broadcast(PAYLOAD),
      close: () => server.close(),
    };
  }

  async function measure(kind) {
    const server = await start(kind);
    const child = fork(fileURLToPath(import.meta.url), ['--clients', String(server.port), server.path, `--subscribers=${SUBSCRIBERS}`], { stdio: 'inherit' });
    await once(child, 'message');
    const done = new Promise((resolve) => child.on('message', (m) => m.done && resolve()));
    child.send({ expect: MESSAGES * SUBSCRIBERS * FRAME });
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    for (let sent = 0; sent < MESSAGES; ) {
      for (let i = 0; i < BURST && sent < MESSAGES; i++, sent++) server.send();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    child.send({ exit: true });
    await once(child, 'exit');
    await server.close();
    return { deliveriesPerSecond: (MESSAGES * SUBSCRIBERS) / seconds, cpuMsPer1000: (used.user + used.system) / 1000 / ((MESSAGES * SUBSCRIBERS) / 1000) };
  }

  const kinds = KINDS;
  const results = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) for (const kind of kinds) results[kind].push(await measure(kind));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  if (JSON_OUT) {
    const out = {};
    for (const kind of kinds) {
      const runs = results[kind];
      out[kind] = { deliveriesPerSecond: median(runs.map((r) => r.deliveriesPerSecond)), cpuMsPer1000: median(runs.map((r) => r.cpuMsPer1000)), runs };
    }
    console.log(JSON.stringify({ bench: 'publish', payloadBytes: PAYLOAD.length, subscribers: SUBSCRIBERS, messages: MESSAGES, rounds: ROUNDS, results: out }));
  } else {
    console.log(`publish of ${PAYLOAD.length} B to ${SUBSCRIBERS} subscribers, ${MESSAGES} messages, ${ROUNDS} rounds (medians; min-max)`);
    for (const kind of kinds) {
      const xs = results[kind].map((r) => r.deliveriesPerSecond);
      const cpu = median(results[kind].map((r) => r.cpuMsPer1000));
      console.log(`  ${kind.padEnd(15)} ${Math.round(median(xs)).toLocaleString('en-US').padStart(12)} deliveries/s (${Math.round(Math.min(...xs)).toLocaleString('en-US')} - ${Math.round(Math.max(...xs)).toLocaleString('en-US')}), server CPU ${cpu.toFixed(3)} ms per 1,000 deliveries`);
    }
  }
}
