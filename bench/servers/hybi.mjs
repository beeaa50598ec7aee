// hybi's server under test, through the public API only (dist/index.js), written as a user would:
// a 'connection' listener, send() without await, and server.broadcast for the broadcast path.
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
  }
  ws.on('error', () => {});
});

const address = await server.listen({ port: 0, host: '127.0.0.1' });
serve({
  port: address.port,
  connections: () => server.connectionCount,
  dropAll: () => {
    for (const ws of server.clients) ws.terminate();
  },
});
