/**
 * Shared pieces of the hardening tests: a hybi server on 127.0.0.1 (default options unless a test
 * says otherwise), a raw TCP attacker that speaks exactly the bytes it is told, a frame reader for
 * the server's answers, a clock, and a memory gauge that forces garbage collection so that "the
 * server's memory returns near its baseline" can be asserted without flakiness.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocketServerOptions } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';

export { KEY, upgradeRequest, RawClient, RawWebSocket, exchange, type HttpAnswer, type ServerClose } from '../helpers/raw-peer.js';

import { quietFor, waitFor } from '../helpers/wait.js';
/** The remaining real waits of the hardening tests: helpers/wait.ts `quietFor`, scaled by HYBI_TEST_TIME_SCALE. */
export { quietFor as sleep } from '../helpers/wait.js';

// ------------------------------------------------------------------------------------------------
// Memory

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Bytes the process holds after a full collection: V8 heap plus ArrayBuffer backing stores (where
 * frames and sockets' buffers live). Collects twice with a turn of the event loop in between, as
 * backing stores are released after the collection that finds them dead.
 */
export async function settledMemory(): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const m = process.memoryUsage();
    best = Math.min(best, m.heapUsed + m.arrayBuffers);
  }
  return best;
}

/** Asserts memory came back within `slack` bytes of `baseline` (polling a little: sockets close asynchronously). */
export async function assertMemoryNear(baseline: number, slack: number, what: string): Promise<number> {
  let now = Infinity;
  for (let i = 0; i < 20; i++) {
    now = await settledMemory();
    if (now - baseline <= slack) return now;
    await quietFor(100);
  }
  assert.fail(`${what}: memory ${(now / 2 ** 20).toFixed(1)} MiB, baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, allowed +${(slack / 2 ** 20).toFixed(1)} MiB`);
}

export const MiB = 1024 * 1024;

// ------------------------------------------------------------------------------------------------
// Server

export interface Served {
  server: WebSocketServer;
  port: number;
  url: string;
  /** Connections that closed, with the code the server saw. */
  closes: Array<{ code: number; reason: string }>;
  stop(): Promise<void>;
}

/**
 * A WebSocketServer on 127.0.0.1 that echoes every message (the usual shape of a public endpoint)
 * unless `setup` installs something else. `handlerError` is collected, not printed.
 */
export async function serve(options: WebSocketServerOptions = {}, setup?: (server: WebSocketServer) => void): Promise<Served> {
  const server = new WebSocketServer(options);
  const closes: Array<{ code: number; reason: string }> = [];
  server.on('handlerError', () => {});
  server.on('connection', (ws: WebSocket) => {
    ws.on('close', (code: number, reason: string) => closes.push({ code, reason }));
    ws.on('error', () => {});
  });
  if (setup) setup(server);
  else {
    server.on('connection', (ws: WebSocket) => {
      ws.on('message', (data) => {
        if (ws.readyState === 'open') void ws.send(data);
      });
    });
  }
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { server, port, url: `ws://127.0.0.1:${port}/`, closes, stop: () => server.close() };
}

/** Polls until `predicate` holds; fails after `timeout` ms with `what`. */
export async function eventually(predicate: () => boolean, what: string, timeout = 5000): Promise<void> {
  await waitFor(predicate, { timeout, what });
}

