#!/usr/bin/env node
// npm run load: thousands of concurrent connections against a hybi server in its own process.
//
//   node scripts/load.mjs [--connections 5000] [--seconds 20] [--resets 200] [--window 4] [--size 64]
//
// The server is hybi's WebSocketServer from dist/ with default options, echoing every message,
// in a child process (so its memory is its own: it reports heap + ArrayBuffers after a forced
// collection). This process opens the connections with raw sockets and hybi's core framing, keeps
// `window` sequence-numbered messages in flight on each, checks every echo is the next one
// expected, and halfway through resets `resets` connections in the middle of a message (a frame
// header and half its payload, then RST). At the end it waits for every echo still in flight and
// reports messages per second, lost and reordered messages on the surviving connections, and the
// server's memory per connection. A script, not a test: it exits 1 when a message was lost or
// reordered, a connection failed, or the server did not release the reset connections.
import { fork } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';

const self = fileURLToPath(import.meta.url);
const dist = new URL('../dist/', import.meta.url);

// ------------------------------------------------------------------------------------------------
// The server process.

if (process.argv[2] === '--server') {
  const { WebSocketServer } = await import(new URL('index.js', dist).href);
  const server = new WebSocketServer();
  server.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (ws.readyState === 'open') void ws.send(data, { binary: isBinary });
    });
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  const settled = async () => {
    let best = Infinity;
    let rss = 0;
    for (let i = 0; i < 3; i++) {
      globalThis.gc?.();
      await new Promise((resolve) => setImmediate(resolve));
      const m = process.memoryUsage();
      best = Math.min(best, m.heapUsed + m.arrayBuffers);
      rss = m.rss;
    }
    return { bytes: best, rss };
  };
  process.on('message', async (message) => {
    if (message === 'memory') process.send({ memory: await settled(), connections: server.connectionCount, clients: server.clients.size });
    else if (message === 'stop') {
      await server.close();
      process.exit(0);
    }
  });
  process.send({ port });
  // Keep running until told to stop (or the parent goes away).
  process.on('disconnect', () => process.exit(0));
} else {
  await main();
}

// ------------------------------------------------------------------------------------------------
// The load generator.

async function main() {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '5000' },
      seconds: { type: 'string', default: '20' },
      resets: { type: 'string', default: '200' },
      window: { type: 'string', default: '4' },
      size: { type: 'string', default: '64' },
    },
  });
  const N = Number(values.connections);
  const seconds = Number(values.seconds);
  const resets = Math.min(Number(values.resets), N);
  const windowSize = Number(values.window);
  const size = Math.max(24, Number(values.size));

  // File descriptors: N client sockets here, N server sockets in the child. Raise the soft limit
  // when the shell allows it (a child started through `sh -c 'ulimit -n'` inherits it).
  const limit = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 0;
  if (limit !== 0 && limit < N + 1000 && process.env.HYBI_LOAD_ULIMIT !== '1') {
    const want = N + 2000;
    const r = spawnSync('sh', ['-c', `ulimit -n ${want} 2>/dev/null || ulimit -n hard; exec "$0" "$@"`, process.execPath, self, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, HYBI_LOAD_ULIMIT: '1' },
    });
    process.exit(r.status ?? 1);
  }

  const core = await import(new URL('core/index.js', dist).href);
  const { encodeFrame, FrameParser } = core;

  const server = fork(self, ['--server'], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [{ port }] = await once(server, 'message');
  const ask = async () => {
    server.send('memory');
    const [reply] = await once(server, 'message');
    return reply;
  };
  const log = (line) => console.log(line);
  const MiB = 1024 * 1024;
  const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

  log(`hybi load: ${N} connections, ${seconds} s, window ${windowSize}, ${size}-byte messages, ${resets} reset mid-message`);
  const base = await ask();
  log(`server baseline: ${(base.memory.bytes / MiB).toFixed(1)} MiB heap+buffers, ${(base.memory.rss / MiB).toFixed(1)} MiB RSS`);

  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const pad = 'x'.repeat(size);
  const text = (id, seq) => {
    const head = `${id}:${seq}:`;
    return head + pad.slice(head.length);
  };

  /** One connection's state. */
  const conns = [];
  let running = false;
  let completed = 0;
  let failures = 0;

  function openOne(id) {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      const c = { id, socket, sent: 0, received: 0, reordered: 0, dead: false, resetting: false, closedByServer: false, head: true, pendingHead: '' };
      c.parser = new FrameParser(
        {
          onHeader(fin, rsv, opcode) {
            c.opcode = opcode;
          },
          onPayload(data, end) {
            // Echoes are small, one piece per frame in practice; pieces are joined to be safe.
            c.piece = c.piece === undefined ? decoder.decode(data) : c.piece + decoder.decode(data);
            if (!end) return;
            const got = c.piece;
            c.piece = undefined;
            if (c.opcode === 8) {
              c.closedByServer = true;
              return;
            }
            if (c.opcode !== 1) return;
            if (got !== text(c.id, c.received)) c.reordered++;
            c.received++;
            completed++;
            if (running && !c.resetting) sendNext(c);
          },
          onError(error) {
            c.error = error;
            failures++;
          },
        },
        { role: 'client', maxFrameSize: 1 << 20 },
      );
      socket.on('data', (chunk) => {
        if (c.head) {
          c.pendingHead += chunk.toString('latin1');
          const end = c.pendingHead.indexOf('\r\n\r\n');
          if (end === -1) return;
          if (!c.pendingHead.startsWith('HTTP/1.1 101')) {
            reject(new Error(`connection ${id}: ${c.pendingHead.split('\r\n')[0]}`));
            socket.destroy();
            return;
          }
          c.head = false;
          const rest = Buffer.from(c.pendingHead.slice(end + 4), 'latin1');
          c.pendingHead = '';
          resolve(c);
          if (rest.length > 0) c.parser.push(new Uint8Array(rest));
          return;
        }
        c.parser.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      });
      socket.on('error', (error) => {
        if (c.head) reject(error);
        else if (!c.resetting) {
          c.error = error;
          failures++;
        }
      });
      socket.on('close', () => {
        if (!c.resetting && running) c.dead = true;
      });
      socket.write(
        'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${Buffer.from(Array.from({ length: 16 }, () => Math.floor(Math.random() * 256))).toString('base64')}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n',
      );
    });
  }

  function sendNext(c) {
    c.socket.write(encodeFrame({ opcode: 1, payload: encoder.encode(text(c.id, c.sent)), mask: true }));
    c.sent++;
  }

  // Connect in batches, as a listen backlog would otherwise overflow.
  const connectStart = performance.now();
  for (let i = 0; i < N; i += 250) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 250); j++) batch.push(openOne(j));
    conns.push(...(await Promise.all(batch)));
  }
  const connectMs = performance.now() - connectStart;
  const idle = await ask();
  log(`connected ${conns.length} in ${(connectMs / 1000).toFixed(1)} s; server sees ${idle.connections}`);
  const perIdle = (idle.memory.bytes - base.memory.bytes) / N;
  log(`server memory, idle: ${(idle.memory.bytes / MiB).toFixed(1)} MiB heap+buffers (${kib(perIdle)} per connection), RSS ${(idle.memory.rss / MiB).toFixed(1)} MiB (${kib((idle.memory.rss - base.memory.rss) / N)} per connection)`);

  // Load.
  running = true;
  const loadStart = performance.now();
  for (const c of conns) for (let k = 0; k < windowSize; k++) sendNext(c);
  let resetDone = false;
  const victims = [];
  const resetAt = loadStart + (seconds * 1000) / 2;
  let underLoad = null;
  while (performance.now() - loadStart < seconds * 1000) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (!resetDone && performance.now() >= resetAt) {
      resetDone = true;
      underLoad = await ask();
      // Every `N / resets`-th connection: a header announcing 4 KiB, 2 KiB of it, then RST.
      const step = Math.max(1, Math.floor(N / resets));
      for (let i = 0; i < N && victims.length < resets; i += step) {
        const c = conns[i];
        c.resetting = true;
        victims.push(c);
        const frame = encodeFrame({ opcode: 2, payload: new Uint8Array(4096), mask: true });
        c.socket.write(frame.subarray(0, frame.length - 2048), () => c.socket.resetAndDestroy());
      }
    }
  }
  running = false;
  const loadMs = performance.now() - loadStart;
  const doneAtStop = completed;

  // Drain: every message sent on a surviving connection must come back.
  const survivors = conns.filter((c) => !c.resetting);
  const drainEnd = performance.now() + 15_000;
  while (survivors.some((c) => c.received < c.sent && !c.dead && !c.error) && performance.now() < drainEnd) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const lost = survivors.reduce((n, c) => n + (c.sent - c.received), 0);
  const reordered = survivors.reduce((n, c) => n + c.reordered, 0);
  const deadSurvivors = survivors.filter((c) => c.dead || c.error || c.closedByServer).length;
  const after = await ask();
  const perLoaded = underLoad === null ? NaN : (underLoad.memory.bytes - base.memory.bytes) / N;

  log(`messages echoed: ${doneAtStop} in ${(loadMs / 1000).toFixed(1)} s = ${Math.round(doneAtStop / (loadMs / 1000))} messages/s (round trips; ${Math.round((2 * doneAtStop) / (loadMs / 1000))} frames/s through the server)`);
  if (underLoad !== null) log(`server memory under load: ${(underLoad.memory.bytes / MiB).toFixed(1)} MiB heap+buffers (${kib(perLoaded)} per connection), RSS ${(underLoad.memory.rss / MiB).toFixed(1)} MiB`);
  log(`reset mid-message: ${victims.length}; server connections afterwards: ${after.connections} (expected ${N - victims.length})`);
  log(`surviving connections: ${survivors.length}; lost messages: ${lost}; reordered: ${reordered}; failed connections: ${deadSurvivors}; client errors: ${failures}`);

  // Tear down, then see what the server keeps.
  for (const c of conns) c.socket.destroy();
  let end = await ask();
  for (let i = 0; i < 50 && end.connections > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    end = await ask();
  }
  log(`after all closed: ${end.connections} connections, ${(end.memory.bytes / MiB).toFixed(1)} MiB heap+buffers (baseline ${(base.memory.bytes / MiB).toFixed(1)} MiB)`);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const later = await ask();
  log(`3 s later: ${(later.memory.bytes / MiB).toFixed(1)} MiB heap+buffers, RSS ${(later.memory.rss / MiB).toFixed(1)} MiB`);
  server.send('stop');
  await once(server, 'exit');

  const ok = lost === 0 && reordered === 0 && deadSurvivors === 0 && failures === 0 && after.connections === N - victims.length;
  log(ok ? 'OK' : 'FAILED');
  process.exit(ok ? 0 : 1);
}
