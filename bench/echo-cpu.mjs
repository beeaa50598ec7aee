#!/usr/bin/env node
// CPU per echoed 32-byte message of one server-role WebSocket, in process: 16 masked frames per
// read pushed into a Duplex whose writes complete at once, a 'message' listener that echoes with
// send(). No sockets, no load generator: what is left is hybi's own receive, deliver and send path,
// steady enough to compare two builds on a busy machine (run them alternately, compare medians).
//
// Usage: node bench/echo-cpu.mjs [DIST]   (DIST: a build of hybi, default ./dist; prints ns per message)
import { Duplex } from 'node:stream';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = pathToFileURL(resolve(process.argv[2] ?? 'dist')).href;
const { WebSocket } = await import(`${dist}/api/websocket.js`);
const { encodeFrame } = await import(`${dist}/core/index.js`);

class Sink extends Duplex {
  _read() {}
  _write(_chunk, _encoding, callback) {
    callback();
  }
}

const stream = new Sink();
const ws = new WebSocket(stream, { role: 'server', pingInterval: 0, idleTimeout: 0, messageTimeout: 0 });
ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
const turn = () => new Promise((done) => setImmediate(done));
await turn();
await turn();

const frame = encodeFrame({ opcode: 2, payload: new Uint8Array(32).fill(7), mask: true, maskKey: new Uint8Array([1, 2, 3, 4]) });
const read = Buffer.concat(Array.from({ length: 16 }, () => Buffer.from(frame)));

async function run(reads) {
  for (let i = 0; i < reads; i++) {
    stream.push(Buffer.from(read));
    if (i % 64 === 0) await turn();
  }
  await turn();
}

await run(5000); // warm-up
const reads = 40_000;
const start = process.cpuUsage();
await run(reads);
const used = process.cpuUsage(start);
console.log(Math.round(((used.user + used.system) * 1000) / (reads * 16)));
process.exit(0);
