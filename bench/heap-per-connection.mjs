// What one idle server connection keeps on the heap, by object kind: a heap snapshot of the
// server before and after N idle connections, the difference divided by N. Unlike RSS, this
// does not move with the garbage collector's sizing of its spaces, so it shows what a change to
// the per-connection state is worth.
//
// Usage: node bench/heap-per-connection.mjs [hybi|ws|net ...] [--conns=1000] [--top=25]
//   hybi: WebSocketServer.listen() from dist/ (build first); ws: ws's WebSocketServer;
//   net: a bare node:net server answering a canned 101 (the floor of any net.Socket server).
// Each server echoes messages (a 'message' listener per connection, as a user would write it).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';

const args = process.argv.slice(2);
const option = (name, fallback) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const conns = option('conns', 1000);
const top = option('top', 25);
const variants = args.filter((a) => !a.startsWith('--'));

// The server: started as `node --expose-gc heap-per-connection.mjs --serve=<variant>`; prints
// its port, then writes a heap snapshot to the path it reads on stdin and prints 'done'.
const serve = args.find((a) => a.startsWith('--serve='))?.split('=')[1];
if (serve !== undefined) {
  const v8 = await import('node:v8');
  let port;
  if (serve === 'hybi') {
    const { WebSocketServer } = await import('../dist/index.js');
    const server = new WebSocketServer({ maxConnections: Infinity });
    server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    port = (await server.listen({ port: 0, host: '127.0.0.1' })).port;
  } else if (serve === 'ws') {
    const { WebSocketServer } = await import('ws');
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server.on('listening', resolve));
    server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    port = server.address().port;
  } else {
    const server = net.createServer((socket) => {
      socket.once('data', (head) => {
        const key = /Sec-WebSocket-Key: *([^\r]*)/i.exec(head.toString('latin1'))?.[1] ?? '';
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      });
      socket.on('error', () => {});
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = server.address().port;
  }
  console.log(port);
  readline.createInterface({ input: process.stdin }).on('line', (path) => {
    globalThis.gc();
    v8.writeHeapSnapshot(path);
    console.log('done');
  });
} else {
  for (const variant of variants.length > 0 ? variants : ['hybi', 'ws', 'net']) await measure(variant);
}

async function measure(variant) {
  const child = spawn(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, `--serve=${variant}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const nextLine = async () => (await lines.next()).value;
  const port = Number(await nextLine());
  const request = `GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const open = (n) =>
    Promise.all(
      Array.from({ length: n }, () => new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
        socket.once('data', () => resolve(socket));
        socket.once('error', reject);
      })),
    );
  const snapshot = async (name) => {
    const path = join(tmpdir(), `hybi-heap-${process.pid}-${name}.heapsnapshot`);
    child.stdin.write(`${path}\n`);
    await nextLine();
    const kinds = tally(path);
    rmSync(path);
    return kinds;
  };
  // Code loading, first-use caches and the code V8 optimises are not the connections': warm up
  // with three rounds of as many connections as are measured, so what the optimising compiler
  // makes while they open is made before the first snapshot (a warm-up of 100 left 150-200 bytes
  // of compiled code per connection in the measured difference, for every library alike).
  for (let round = 0; round < 3; round++) {
    for (const socket of await open(conns)) socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  const before = await snapshot('before');
  const sockets = await open(conns);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const after = await snapshot('after');
  const rows = [];
  let total = 0;
  for (const [kind, [count, bytes]] of after) {
    const [count0, bytes0] = before.get(kind) ?? [0, 0];
    const perConn = (bytes - bytes0) / conns;
    total += perConn;
    if (perConn >= 8) rows.push([kind, (count - count0) / conns, perConn]);
  }
  rows.sort((a, b) => b[2] - a[2]);
  console.log(`${variant}: ${total.toFixed(0)} bytes of heap per idle connection (${conns} connections; native socket state included as V8 reports it)`);
  for (const [kind, count, bytes] of rows.slice(0, top)) console.log(`  ${bytes.toFixed(0).padStart(5)} B  ${count.toFixed(2).padStart(5)} x  ${kind}`);
  for (const socket of sockets) socket.destroy();
  child.kill();
}

/** Heap snapshot -> Map of "type:name" -> [count, self bytes]. */
function tally(path) {
  const snapshot = JSON.parse(readFileSync(path, 'utf8'));
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const kinds = new Map();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const kind = `${types[snapshot.nodes[i + typeAt]]}:${snapshot.strings[snapshot.nodes[i + nameAt]].slice(0, 50)}`;
    const entry = kinds.get(kind) ?? [0, 0];
    entry[0]++;
    entry[1] += snapshot.nodes[i + sizeAt];
    kinds.set(kind, entry);
  }
  return kinds;
}
