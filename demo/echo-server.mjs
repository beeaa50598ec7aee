#!/usr/bin/env node
// `npm start`: a WebSocket echo server on 127.0.0.1:8080 (HOST and PORT override), built on the
// compiled package in dist/. Every path echoes text and binary messages back; a plain browser
// visit to http://127.0.0.1:8080/ gets a small page that talks to it. Ctrl-C closes every
// connection with 1001 and exits.
import { WebSocketServer } from '../dist/index.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);

const page = `<!doctype html>
<meta charset="utf-8"><title>hybi echo</title>
<h1>hybi echo server</h1>
<form id="f"><input id="m" value="hello" autofocus> <button>send</button></form>
<pre id="log"></pre>
<script>
  const log = (line) => { document.getElementById('log').textContent += line + '\\n'; };
  const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/echo');
  ws.onopen = () => log('open (extensions: ' + (ws.extensions || 'none') + ')');
  ws.onmessage = (e) => log('< ' + e.data);
  ws.onclose = (e) => log('closed ' + e.code + ' ' + e.reason);
  document.getElementById('f').onsubmit = (e) => {
    e.preventDefault();
    const text = document.getElementById('m').value;
    ws.send(text);
    log('> ' + text);
  };
</script>
`;

const server = new WebSocketServer({
  compress: true,
  // Only pages served from this server (and non-browser clients, which send no Origin) may connect.
  allowedOrigins: [`http://${host}:${port}`, `http://localhost:${port}`],
});

server.route('*', async (ws, req) => {
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  console.log(`+ ${peer} ${ws.url}`);
  try {
    for await (const message of ws) await ws.send(message.data);
  } finally {
    console.log(`- ${peer} ${ws.closeCode ?? ''}`);
  }
});
server.on('refused', (req, refusal) => console.log(`refused ${req.url}: ${refusal.status}`));
server.on('handlerError', (error) => console.error('handler error:', error));

const address = await server.listen({
  host,
  port,
  onRequest(req, res) {
    if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not found. The page is at /, the WebSocket at any path.\n');
    }
  },
});
console.log(`hybi echo server on ws://${address.address}:${address.port}/ (page: http://${address.address}:${address.port}/)`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log('closing...');
    server.close().then(() => process.exit(0));
  });
}
