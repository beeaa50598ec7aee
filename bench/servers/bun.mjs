// Bun's server under test (uWebSockets underneath), run by Bun's binary (lib/bun.mjs), written as
// Bun's documentation shows: Bun.serve with `websocket` handlers. Same paths as the other servers;
// /broadcast and /publish both subscribe every client to one topic and relay each message with
// `server.publish`, Bun's own fan-out (uWebSockets' pub/sub), which is what issue 20 compares to.
// Bun speaks Node's IPC protocol to a Node parent, so common.mjs's protocol works unchanged.
import { MAX_MESSAGE, serve } from './common.mjs';

// common.mjs collects garbage through globalThis.gc (Node's --expose-gc); Bun's is Bun.gc(true).
globalThis.gc ??= () => Bun.gc(true);

const TOPIC = 'bench';
const open = new Set();

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch(req, srv) {
    const path = new URL(req.url).pathname;
    if (srv.upgrade(req, { data: { path } })) return undefined;
    return new Response('WebSocket only', { status: 426 });
  },
  websocket: {
    // The 16 MiB echo needs more than Bun's 16 MiB default (the frame is the limit itself);
    // no idle timeout, as the other servers have none (the memory workload holds idle clients).
    maxPayloadLength: MAX_MESSAGE,
    idleTimeout: 0,
    backpressureLimit: MAX_MESSAGE,
    perMessageDeflate: false,
    open(ws) {
      open.add(ws);
      if (ws.data.path === '/broadcast' || ws.data.path === '/publish') ws.subscribe(TOPIC);
    },
    message(ws, message) {
      if (ws.data.path === '/echo') ws.send(message);
      else if (ws.data.path === '/broadcast' || ws.data.path === '/publish') server.publish(TOPIC, message);
    },
    close(ws) {
      open.delete(ws);
    },
  },
});

serve(
  {
    port: server.port,
    connections: () => open.size,
    dropAll: () => {
      for (const ws of open) {
        if (typeof ws.terminate === 'function') ws.terminate();
        else ws.close();
      }
    },
  },
  { runtime: `bun ${Bun.version}` },
);
