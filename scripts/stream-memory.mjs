#!/usr/bin/env node
// Issue 15's evidence, as a script (not a test: it moves a gigabyte). A server process writes an
// upload to disk through receiveStream(); a client process streams the file from
// fs.createReadStream. Each process reports its peak RSS (sampled every 5 ms) and its RSS before
// the transfer. The same transfer is then made by plain `node:net` sockets piped to and from the
// files (no WebSocket at all): that pair is the runtime's own floor on this machine, so hybi's
// figure can be read against it. Run after `npm run build`:
//   node scripts/stream-memory.mjs [MiB=1024] [--gc] [--only=hybi|raw]
// --gc runs both processes with --expose-gc and collects every 50 ms as they sample, which shows the memory
// they hold rather than how long V8 leaves dropped buffers uncollected (see docs/connection.md).
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

const role = process.env.HYBI_STREAM_ROLE;
const dist = new URL('../dist/index.js', import.meta.url).href;

function sampler() {
  const collect = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};
  const base = process.memoryUsage().rss;
  let peak = base;
  let ticks = 0;
  const timer = setInterval(() => {
    // A full collection every 50 ms: every 5 ms would slow the transfer tenfold.
    if (++ticks % 10 === 0) collect();
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  return () => {
    clearInterval(timer);
    return { baseMiB: +(base / 2 ** 20).toFixed(1), peakMiB: +(peak / 2 ** 20).toFixed(1) };
  };
}

if (role === 'server') {
  const { WebSocketServer } = await import(dist);
  const { pipeline } = await import('node:stream/promises');
  const server = new WebSocketServer({});
  server.on('connection', async (ws) => {
    const stop = sampler();
    const stream = await ws.receiveStream();
    await pipeline(stream, createWriteStream(process.env.HYBI_STREAM_OUT));
    process.stdout.write(JSON.stringify({ server: stop() }) + '\n');
    await ws.close();
    await server.close();
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(JSON.stringify({ port }) + '\n');
} else if (role === 'client') {
  const { connect } = await import(dist);
  const ws = await connect(process.env.HYBI_STREAM_URL);
  const stop = sampler();
  await ws.send(createReadStream(process.env.HYBI_STREAM_IN), { binary: true });
  await ws.close().catch(() => {});
  process.stdout.write(JSON.stringify({ client: stop() }) + '\n');
} else if (role === 'raw-server') {
  const { createServer } = await import('node:net');
  const { pipeline } = await import('node:stream/promises');
  const server = createServer(async (socket) => {
    const stop = sampler();
    await pipeline(socket, createWriteStream(process.env.HYBI_STREAM_OUT));
    process.stdout.write(JSON.stringify({ server: stop() }) + '\n');
    server.close();
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n'));
} else if (role === 'raw-client') {
  const { connect } = await import('node:net');
  const { pipeline } = await import('node:stream/promises');
  const url = new URL(process.env.HYBI_STREAM_URL);
  const socket = connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  const stop = sampler();
  await pipeline(createReadStream(process.env.HYBI_STREAM_IN), socket);
  process.stdout.write(JSON.stringify({ client: stop() }) + '\n');
} else {
  const mib = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 1024);
  const flags = process.argv.includes('--gc') ? ['--expose-gc'] : [];
  const dir = mkdtempSync(join(tmpdir(), 'hybi-stream-'));
  const input = join(dir, 'in.bin');
  const output = join(dir, 'out.bin');
  try {
    // Random-looking but cheap content: one random MiB repeated.
    const block = Buffer.alloc(2 ** 20);
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
    writeFileSync(input, '');
    const out = createWriteStream(input);
    for (let i = 0; i < mib; i++) if (!out.write(block)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    const run = (env) => {
      const child = spawn(process.execPath, [...flags, new URL(import.meta.url).pathname], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
      const lines = [];
      let buffered = '';
      child.stdout.on('data', (d) => {
        buffered += d;
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          lines.push(JSON.parse(buffered.slice(0, nl)));
          buffered = buffered.slice(nl + 1);
          child.emit('line');
        }
      });
      return { child, lines };
    };
    const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
    for (const impl of only ? [only] : ['hybi', 'raw']) {
      const prefix = impl === 'raw' ? 'raw-' : '';
      rmSync(output, { force: true });
      const server = run({ HYBI_STREAM_ROLE: `${prefix}server`, HYBI_STREAM_OUT: output });
      await once(server.child, 'line');
      const started = performance.now();
      const client = run({ HYBI_STREAM_ROLE: `${prefix}client`, HYBI_STREAM_IN: input, HYBI_STREAM_URL: `ws://127.0.0.1:${server.lines[0].port}/` });
      await Promise.all([once(server.child, 'exit'), once(client.child, 'exit')]);
      const seconds = (performance.now() - started) / 1000;
      const same = statSync(output).size === statSync(input).size;
      console.log(JSON.stringify({ impl, MiB: mib, gc: flags.length > 0, seconds: +seconds.toFixed(1), sizesMatch: same, ...server.lines[1], ...client.lines[0] }));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
