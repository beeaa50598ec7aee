#!/usr/bin/env node
// CPU per echoed large message of one server-role WebSocket, in process, no sockets: masked
// frames of SIZE bytes back to back, cut into 64 KiB reads (Node's read size for a server's
// socket) and pushed into a Duplex; a 'message' listener echoes with send(). With --ws, the same
// for ws (with bufferutil when installed) on the same Duplex, as its server would set it up.
// Prints one JSON line: CPU us per message (user, system), minor page faults per message, and the
// garbage collections by kind (perf_hooks: 1 minor, 4 major, 8 incremental, 16 weak callbacks).
//
// What it is for (bench/README.md "Large messages, session 6"): telling hybi's own cost per large
// message from the allocator's. glibc gives freed heap memory back to the kernel and faults it in
// again (run to run, for the same build), so compare builds in alternated runs with
//   MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_MMAP_THRESHOLD_=1073741824
// in the environment (glibc then keeps what it has), and look at the faults column without them.
//
// Usage: node bench/large-echo-cpu.mjs [DIST] [--size=65536] [--messages=20000] [--warm=5000]
//          [--fresh] [--defer] [--ws]
//   --fresh  every read is a new array (as Node's are) instead of one of 64 reused ones
//   --defer  writes complete on the next turn (setImmediate) instead of at once, as a socket's
//            often do: a sender then sees bytes still buffered
import { PerformanceObserver } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const value = (name, fallback) => {
  const found = args.find((a) => a.startsWith(`--${name}=`));
  return found === undefined ? fallback : Number(found.slice(name.length + 3));
};
const dist = pathToFileURL(resolve(args.find((a) => !a.startsWith('--')) ?? 'dist')).href;
const size = value('size', 65536);
const messages = value('messages', 20000);
const warm = value('warm', Math.ceil(messages / 4));
const defer = flag('defer');
const LIMIT = 64 * 1024 * 1024;

const { WebSocket } = await import(`${dist}/api/websocket.js`);
const { encodeFrame } = await import(`${dist}/core/index.js`);

class Sink extends Duplex {
  _read() {}
  _write(_chunk, _encoding, callback) {
    if (defer) setImmediate(callback);
    else callback();
  }
  _writev(_chunks, callback) {
    if (defer) setImmediate(callback);
    else callback();
  }
}

const stream = new Sink();
let received = 0;
let ws;
if (flag('ws')) {
  const WsWebSocket = createRequire(import.meta.url)('ws');
  // What ws's server calls on an upgraded socket.
  Object.assign(stream, { setTimeout() {}, setNoDelay() {}, setKeepAlive() {} });
  ws = new WsWebSocket(null, undefined, {});
  ws.setSocket(stream, Buffer.alloc(0), { allowSynchronousEvents: true, maxPayload: LIMIT, skipUTF8Validation: false });
} else {
  ws = new WebSocket(stream, { role: 'server', pingInterval: 0, idleTimeout: 0, messageTimeout: 0, maxMessageSize: LIMIT, maxFrameSize: LIMIT });
}
ws.on('message', (data, isBinary) => {
  received++;
  ws.send(data, { binary: isBinary });
});
const turn = () => new Promise((done) => setImmediate(done));
await turn();
await turn();

const payload = new Uint8Array(size);
for (let i = 0; i < size; i++) payload[i] = (i * 31) & 255;
const frame = Buffer.from(encodeFrame({ opcode: 2, payload, mask: true, maskKey: new Uint8Array([1, 2, 3, 4]) }));
// Four frames in a row, so that the 64 KiB reads fall at the offsets a continuous stream gives.
const stretch = Buffer.concat([frame, frame, frame, frame]);
const READ = 65536;
const ring = Array.from({ length: 64 }, () => Buffer.allocUnsafeSlow(READ));
let ringAt = 0;
let at = 0;
function nextRead() {
  const n = Math.min(READ, stretch.length - at);
  const chunk = flag('fresh') ? Buffer.allocUnsafeSlow(n) : ring[ringAt++ & 63].subarray(0, n);
  stretch.copy(chunk, 0, at, at + n);
  at = (at + n) % stretch.length;
  return chunk;
}

async function run(count) {
  const target = received + count;
  for (let i = 1; received < target; i++) {
    stream.push(nextRead());
    if (i % 8 === 0) await turn();
  }
  await turn();
}

const gc = {};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gc[entry.detail.kind] = (gc[entry.detail.kind] ?? 0) + 1;
}).observe({ entryTypes: ['gc'] });
await run(warm);
for (const kind of Object.keys(gc)) delete gc[kind];
const before = process.resourceUsage();
await run(messages);
const after = process.resourceUsage();
const per = (n) => +(n / messages).toFixed(2);
console.log(
  JSON.stringify({
    us: per(after.userCPUTime - before.userCPUTime + after.systemCPUTime - before.systemCPUTime),
    user: per(after.userCPUTime - before.userCPUTime),
    system: per(after.systemCPUTime - before.systemCPUTime),
    faults: per(after.minorPageFault - before.minorPageFault),
    gc,
  }),
);
process.exit(0);
