// What every server under test shares: it is started by the load suite with child_process.fork,
// listens on 127.0.0.1 on a free port, says so over IPC, and answers the suite's questions
// (memory after a garbage collection, connection count) and orders (drop every connection, exit).
//
// Every server implements the same behaviour, chosen by the request path:
//   /echo       every message is sent back to its sender, same type
//   /broadcast  every message is sent to every client connected on /broadcast (sender included)
//   /publish    the same through the library's topics, where it has them (hybi: ws.subscribe and
//               server.publish; Bun: server.publish); ws and the raw server treat it as /broadcast
// and anything else is an idle connection as far as the benchmark is concerned.

import { holdAppHeap } from '../lib/app-heap.mjs';
import { countMarkCompacts, markCompacts } from '../lib/mark-compacts.mjs';
import { pageFaults } from '../lib/page-faults.mjs';

// The suite's --app-heap: the same application heap in every server (lib/app-heap.mjs says why).
holdAppHeap(Number(process.env.HYBI_BENCH_APP_HEAP ?? 0));
countMarkCompacts();

/** A byte limit high enough for the 16 MiB echo workload, for servers whose default is lower. */
export const MAX_MESSAGE = 64 * 1024 * 1024;

/**
 * Wires the IPC protocol. `server` provides: port (number), connections() (count of open
 * WebSocket connections) and dropAll() (close every connection at once, server side first, so
 * that TIME_WAIT stays on the server's side and the generator's ports are free at once).
 * `info` is reported with the ready message (e.g. whether bufferutil was loaded).
 */
export function serve(server, info = {}) {
  process.on('message', (message) => {
    switch (message.type) {
      case 'stats': {
        if (message.gc && typeof globalThis.gc === 'function') {
          // Twice: the first pass may only queue finalizers and weak callbacks.
          globalThis.gc();
          globalThis.gc();
        }
        const m = process.memoryUsage();
        process.send({
          type: 'stats',
          id: message.id,
          rss: m.rss,
          heapUsed: m.heapUsed,
          heapTotal: m.heapTotal,
          external: m.external,
          arrayBuffers: m.arrayBuffers,
          connections: server.connections(),
          cpu: process.cpuUsage(),
          faults: pageFaults(),
          markCompacts: markCompacts(),
        });
        break;
      }
      case 'dropAll':
        server.dropAll();
        process.send({ type: 'dropped', id: message.id });
        break;
      case 'exit':
        process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ type: 'ready', port: server.port, pid: process.pid, ...info });
}
