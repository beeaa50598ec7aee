// The `ws` server under test, written the way its documentation shows. ws loads bufferutil by
// itself when it is installed; the suite starts the "without" variant with WS_NO_BUFFER_UTIL=1.
import { createRequire } from 'node:module';
import { MAX_MESSAGE, serve } from './common.mjs';

const require = createRequire(import.meta.url);
const { WebSocketServer, WebSocket } = require('ws');

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  backlog: 4096,
  perMessageDeflate: false,
  maxPayload: MAX_MESSAGE,
});

const group = new Set();

server.on('connection', (ws, req) => {
  if (req.url === '/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if (req.url === '/broadcast' || req.url === '/publish') {
    // ws has no topics: its publish is the same loop over the subscribed clients.
    group.add(ws);
    ws.on('close', () => group.delete(ws));
    // ws's documented broadcast: send to every client in turn.
    ws.on('message', (data, isBinary) => {
      for (const client of group) {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      }
    });
  }
  ws.on('error', () => {});
});

server.on('listening', () => {
  serve({
    port: server.address().port,
    connections: () => server.clients.size,
    dropAll: () => {
      for (const ws of server.clients) ws.terminate();
    },
  }, {
    // What ws really loaded: the variant without bufferutil must not have it.
    bufferutil: Object.keys(require.cache).some((path) => path.includes('/bufferutil/')),
  });
});
