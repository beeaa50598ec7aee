// What one connection (handshake, closing handshake, FIN) costs a server, in numbers that do not
// move with the machine's load: the user-space instructions it executes (valgrind's callgrind)
// and the system calls it makes (strace -c). Timing the connection rate on a shared 2-core
// machine moves by 10-20% from run to run; the instruction counts of ws and of the bare server
// repeat within 1-2%, hybi's within about 7% (garbage collections land differently).
//
// Usage: node bench/connect-cost.mjs [instructions|syscalls] [hybi|ws|raw ...] [--dist=DIR]
//   instructions: the server runs under callgrind twice, for 2,000 and for 5,000 connections;
//     the difference over 3,000 is the steady state (warm-up and JIT compilation cancel out).
//     Needs valgrind (Debian package valgrind); about a minute per server.
//   syscalls: the server runs under strace -f -c for 2,000 connections; calls per connection.
//     Needs strace (Debian package strace).
//   --dist=DIR: hybi from another build (as load.mjs --compare), default dist/.
// The servers are the load suite's (bench/servers), the client a raw socket on 127.0.0.1 that
// sends a prebuilt upgrade request, a masked close frame on the 101, and ends on the server's FIN.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { upgradeRequest } from './lib/wire.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const mode = args.find((a) => a === 'instructions' || a === 'syscalls') ?? 'instructions';
const dist = args.find((a) => a.startsWith('--dist='))?.slice(7);
const peers = args.filter((a) => !a.startsWith('--') && a !== mode);
const SERVERS = { hybi: 'hybi.mjs', ws: 'ws.mjs', raw: 'raw.mjs' };
// A masked close frame with code 1000 (key 01 02 03 04).
const CLOSE = Buffer.from([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);

/** Runs `peer`'s server under `tool` (argv before node), makes `count` connections, stops it; resolves once it exited. */
async function run(peer, tool, count) {
  const env = { ...process.env };
  if (dist !== undefined) env.HYBI_BENCH_DIST = resolve(dist);
  const child = spawn(tool[0], [...tool.slice(1), process.execPath, join(here, 'servers', SERVERS[peer])], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise((ready, fail) => {
    child.on('message', (m) => m.type === 'ready' && ready(m.port));
    child.on('exit', (code) => fail(new Error(`${tool[0]} exited with ${code} before the server was ready`)));
  });
  const request = upgradeRequest('127.0.0.1', port, '/echo');
  const one = () =>
    new Promise((done) => {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      let upgraded = false;
      socket.on('data', () => {
        if (!upgraded) socket.write(CLOSE);
        upgraded = true;
      });
      socket.on('error', () => {});
      socket.on('end', () => socket.end());
      socket.on('close', done);
      socket.once('connect', () => socket.write(request));
    });
  // Two at a time: the server is never idle, and never has a backlog.
  let left = count;
  const loop = async () => {
    while (left-- > 0) await one();
  };
  await Promise.all([loop(), loop()]);
  const exited = new Promise((done) => child.on('exit', done));
  child.send({ type: 'exit' });
  await exited;
}

async function instructions(peer, count) {
  const dir = mkdtempSync(join(tmpdir(), 'hybi-callgrind-'));
  try {
    await run(peer, ['valgrind', '-q', '--tool=callgrind', '--cache-sim=no', `--callgrind-out-file=${dir}/out.%p`], count);
    let total = 0;
    for (const file of readdirSync(dir)) {
      const summary = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
      if (summary !== null) total += Number(summary[1]);
    }
    return total;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function syscalls(peer, count) {
  const dir = mkdtempSync(join(tmpdir(), 'hybi-strace-'));
  try {
    await run(peer, ['strace', '-f', '-c', '-o', join(dir, 'counts')], count);
    const calls = new Map();
    for (const line of readFileSync(join(dir, 'counts'), 'utf8').split('\n')) {
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line);
      if (m !== null && m[2] !== 'total') calls.set(m[2], Number(m[1]));
    }
    return calls;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const peer of peers.length > 0 ? peers : ['hybi', 'ws', 'raw']) {
  if (!(peer in SERVERS)) throw new Error(`unknown server ${peer}: one of ${Object.keys(SERVERS).join(', ')}`);
  if (mode === 'instructions') {
    const [few, many] = await Promise.all([instructions(peer, 2000), instructions(peer, 5000)]);
    console.log(`${peer}: ${Math.round((many - few) / 3000).toLocaleString('en')} instructions per connection (2,000: ${few.toLocaleString('en')}; 5,000: ${many.toLocaleString('en')})`);
  } else {
    const calls = await syscalls(peer, 2000);
    // Calls made per connection, not the start-up's or the futex waits of idle threads.
    const per = [...calls].filter(([name, n]) => n >= 1000 && name !== 'futex').map(([name, n]) => `${name} ${(n / 2000).toFixed(2)}`);
    console.log(`${peer}: system calls per connection: ${per.join(', ')}`);
  }
}
