// hybi's server under test, through the public API only (dist/index.js), written as a user would:
// a 'connection' listener, send() without await, server.broadcast for the broadcast path and
// ws.subscribe + server.publish (the memory broker) for the publish path.
// HYBI_BENCH_H2=1 serves the same paths over HTTP/2 (RFC 8441) instead: a plaintext
// http2.createServer() (h2c, as hybi's client speaks it to ws:// URLs) that the server is
// attached to, for the HTTP/2 rows beside HTTP/1.1.
import http2 from 'node:http2';
import { pathToFileURL } from 'node:url';
import { MAX_MESSAGE, serve } from './common.mjs';

// HYBI_BENCH_DIST points at another build (a copy of dist/) for A/B runs: `load.mjs --compare=DIR`.
const dist = process.env.HYBI_BENCH_DIST ? pathToFileURL(`${process.env.HYBI_BENCH_DIST}/index.js`).href : '../../dist/index.js';
const { WebSocketServer } = await import(dist);

// No connection limit, as ws has none (hybi's default bound would refuse the 10,001st client).
const server = new WebSocketServer({ maxMessageSize: MAX_MESSAGE, maxFrameSize: MAX_MESSAGE, maxConnections: Infinity });

server.on('connection', (ws, req) => {
  if (req.url === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if (req.url === '/broadcast') {
    ws.on('message', (data, isBinary) => server.broadcast(data, { binary: isBinary }));
  } else if (req.url === '/publish') {
    ws.subscribe('bench');
    ws.on('message', (data, isBinary) => void server.publish('bench', data, { binary: isBinary }));
  }
  ws.on('error', () => {});
});

let port;
if (process.env.HYBI_BENCH_H2 === '1') {
  // One session carries every WebSocket of the client (1,000 in the idle-memory row, 2 x 2 64 KiB
  // messages in the large echo): raise Node's per-session memory bound (10 MB) and state the
  // stream limit rather than rely on defaults.
  const h2 = http2.createServer({ maxSessionMemory: 256, settings: { maxConcurrentStreams: 100_000 } });
  server.attach(h2);
  await new Promise((resolve) => h2.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  port = h2.address().port;
} else {
  port = (await server.listen({ port: 0, host: '127.0.0.1' })).port;
}
serve({
  port,
  connections: () => server.connectionCount,
  dropAll: () => {
    for (const ws of server.clients) ws.terminate();
  },
});
