#!/usr/bin/env node
// CPU per delivery of a publish (or broadcast) to many server-role WebSockets, in process: each
// connection is a Duplex whose writes complete at once, subscribed to one topic of a TopicHub over
// the memory broker (what a WebSocketServer makes). A round publishes BURST 32-byte messages in one
// tick, then lets the tick batches end (one write per connection). No sockets, no load generator:
// what is left is hybi's fan-out, per-delivery checks, batching and the stream's write call, steady
// enough to compare two builds on a busy machine (alternate them, compare medians), or to count
// instructions per delivery with callgrind (issue 24, bench/README.md "Publish, third pass"):
//
//   valgrind -q --tool=callgrind --cache-sim=no --callgrind-out-file=/tmp/a.out \
//     node --predictable bench/publish-cpu.mjs DIST --rounds=200
//   ... and again with --rounds=1200; (Ir of the second - Ir of the first) / (1000 rounds x
//   subscribers x burst) is the instructions per delivery.
//   `--predictable` turns off concurrent compilation, under which V8 inlines typed-array getters
//   (`byteLength`, `byteOffset`) that real processes call through a LoadIC: a change to those is
//   invisible to the count. Compare the CPU time of alternated runs for it (bench/README.md,
//   "Small echo and publish, session 7").
//
// Usage: node bench/publish-cpu.mjs [DIST] [--mode=publish|broadcast] [--subscribers=1000]
//          [--burst=1] [--warmup=300] [--rounds=2000]
//   DIST: a build of hybi (default ./dist). Prints ns of CPU per delivery (user + system).
import { Duplex } from 'node:stream';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const given = args.find((a) => a.startsWith(`--${name}=`));
  return given === undefined ? fallback : given.slice(name.length + 3);
};
const dist = pathToFileURL(resolve(args.find((a) => !a.startsWith('--')) ?? 'dist')).href;
const mode = option('mode', 'publish');
const subscribers = Number(option('subscribers', 1000));
const burst = Number(option('burst', 1));
const warmup = Number(option('warmup', 300));
const rounds = Number(option('rounds', 2000));

const { WebSocket } = await import(`${dist}/api/websocket.js`);
const { TopicHub } = await import(`${dist}/api/topics/hub.js`);
const { resolveTopicOptions } = await import(`${dist}/api/topics/topic-options.js`);
const { resolveOptions } = await import(`${dist}/api/options.js`);

let bytesWritten = 0;
class Sink extends Duplex {
  _read() {}
  _write(chunk, _encoding, callback) {
    bytesWritten += chunk.length;
    callback();
  }
}

const topics = resolveTopicOptions({});
const hub = new TopicHub(topics.broker, topics.slowSubscriber, null, {
  drop() {
    throw new Error('a subscriber fell behind: nothing here should');
  },
  error(error) {
    throw error;
  },
});
const clients = [];
// As a server does: the connection options resolved once, shared by every connection.
const options = resolveOptions({ pingInterval: 0, idleTimeout: 0, messageTimeout: 0 });
for (let i = 0; i < subscribers; i++) {
  const ws = new WebSocket(new Sink(), { role: 'server', options });
  hub.attach(ws);
  ws.subscribe('bench');
  clients.push(ws);
}
const turn = () => new Promise((done) => setImmediate(done));
await turn();
await turn();

const payload = Buffer.alloc(32, 7);

async function run(count) {
  for (let r = 0; r < count; r++) {
    if (mode === 'broadcast') {
      for (let b = 0; b < burst; b++) hub.broadcast(clients, payload, true, undefined);
    } else {
      const published = [];
      for (let b = 0; b < burst; b++) published.push(hub.publish('bench', payload, { binary: true }));
      await Promise.all(published);
    }
    await turn();
  }
}

await run(warmup);
const before = hub.metrics().deliveries;
const bytesBefore = bytesWritten;
const start = process.cpuUsage();
await run(rounds);
const used = process.cpuUsage(start);
const delivered = hub.metrics().deliveries - before;
if (delivered !== rounds * burst * subscribers) throw new Error(`delivered ${delivered}, expected ${rounds * burst * subscribers}`);
// Every delivery reached its socket: a 32-byte payload behind a 2-byte header.
if (bytesWritten - bytesBefore !== delivered * 34) throw new Error(`wrote ${bytesWritten - bytesBefore} bytes, expected ${delivered * 34}`);
console.log(Math.round(((used.user + used.system) * 1000) / delivered));
process.exit(0);
