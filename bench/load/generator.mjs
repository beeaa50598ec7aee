// The load generator: a child process (forked by the load suite) that drives a server under test
// over raw TCP sockets. It is built to cost far less per message than any WebSocket server:
//   - the handshake is a prebuilt request; the 101 is recognised by its status line;
//   - the frames it sends are built and masked once, kept as N copies back to back, so that
//     answering k echoed frames is one write of a slice (no per-message allocation or masking);
//   - echoed frames are counted by reading their headers and skipping payloads (FrameCounter);
//   - every connection keeps `inflight` messages outstanding (pipelining).
// Orders arrive over IPC (see `handlers` below); results go back the same way.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { FrameCounter, buildFrame, headEnd, payloadOf, repeatFrame, upgradeRequest } from '../lib/wire.mjs';

const CLOSE_FRAME = buildFrame(0x8, Buffer.from([0x03, 0xe8]), true);

/** Open connections: { socket, counter, onFrames } */
let connections = [];

/**
 * Opens one WebSocket connection and resolves once the 101 has arrived. Bytes that came with the
 * 101 are counted as frames like any later bytes.
 */
function openOne(host, port, path, request) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const conn = { socket, counter: new FrameCounter(), onFrames: null };
    let head = null;
    const onData = (chunk) => {
      const frames = conn.counter.push(chunk);
      if (frames !== 0 && conn.onFrames !== null) conn.onFrames(frames);
    };
    const onHead = (chunk) => {
      head = head === null ? chunk : Buffer.concat([head, chunk]);
      const end = headEnd(head);
      if (end === -1) return;
      socket.off('data', onHead);
      if (head.toString('latin1', 9, 12) !== '101') {
        socket.destroy();
        reject(new Error(`upgrade refused: ${head.toString('latin1', 0, head.indexOf('\r\n'))}`));
        return;
      }
      socket.off('error', reject);
      socket.on('error', () => {});
      socket.on('data', onData);
      if (end < head.length) onData(head.subarray(end));
      resolve(conn);
    };
    socket.on('data', onHead);
    socket.once('error', reject);
    socket.once('connect', () => socket.write(request));
  });
}

/** Opens `count` connections, at most `concurrency` handshakes at a time. */
async function openMany({ host, port, path, count, concurrency = 128 }) {
  const request = upgradeRequest(host, port, path);
  const opened = [];
  let next = 0;
  let errors = 0;
  let firstError = null;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        opened.push(await openOne(host, port, path, request));
      } catch (error) {
        errors++;
        firstError ??= String(error?.message ?? error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  connections.push(...opened);
  return { opened: opened.length, errors, firstError };
}

function closeAll() {
  for (const conn of connections) {
    conn.onFrames = null;
    conn.socket.destroy();
  }
  connections = [];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Measures over [warmup, warmup + duration] ms after the start: returns the frames counted in
 * that window and its exact length, read from `count()`.
 */
async function window(warmup, duration, count) {
  await sleep(warmup);
  const c0 = count();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await sleep(duration);
  const c1 = count();
  const t1 = performance.now();
  return { frames: c1 - c0, elapsed: (t1 - t0) / 1000, cpu: cpuShare(cpu0, t1 - t0) };
}

/** Share of one core this process used since `since` (a process.cpuUsage() reading) over `ms`. */
function cpuShare(since, ms) {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000 / ms;
}

/** Echo with pipelining: every connection keeps `inflight` frames outstanding. */
async function runEcho({ size, opcode = 2, inflight, warmup, duration }) {
  const frame = buildFrame(opcode, payloadOf(size), true);
  const batch = repeatFrame(frame, inflight);
  const frameLength = frame.length;
  let total = 0;
  let running = true;
  for (const conn of connections) {
    const socket = conn.socket;
    conn.onFrames = (k) => {
      total += k;
      if (running) socket.write(k === inflight ? batch : batch.subarray(0, k * frameLength));
    };
  }
  for (const conn of connections) conn.socket.write(batch);
  const result = await window(warmup, duration, () => total);
  running = false;
  return { ...result, bytes: result.frames * size };
}

/** One connection, one message in flight: every round trip is timed (percentiles in microseconds). */
async function runLatency({ size, opcode = 2, warmup, duration }) {
  const frame = buildFrame(opcode, payloadOf(size), true);
  const conn = connections[0];
  const samples = new Float64Array(1 << 20);
  let n = 0;
  let recording = false;
  let running = true;
  let sentAt = 0;
  let total = 0;
  conn.onFrames = (k) => {
    const now = performance.now();
    total += k;
    if (recording && n < samples.length) samples[n++] = now - sentAt;
    if (!running) return;
    sentAt = performance.now();
    conn.socket.write(frame);
  };
  sentAt = performance.now();
  conn.socket.write(frame);
  await sleep(warmup);
  recording = true;
  const c0 = total;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await sleep(duration);
  recording = false;
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuShare(cpu0, elapsed * 1000);
  const sorted = samples.slice(0, n).sort();
  const at = (q) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.floor(q * n))]) * 1000;
  return { frames: total - c0, elapsed, cpu, p50: at(0.5), p90: at(0.9), p99: at(0.99), samples: n };
}

/**
 * Broadcast: connection 0 sends, the server relays every message to every connection (the
 * sender included). A window bounds what is in flight: the sender may be at most `window`
 * messages ahead of the average delivery, so no buffer anywhere grows without bound. It refills
 * in halves (one write of at least window/2 messages), so that the load is the same from run to
 * run: refilling one message at a time lets the run settle into a one-message-per-read trickle
 * or not, depending on timing, and then measures round trips rather than the server.
 */
async function runBroadcast({ size, opcode = 2, window: inFlight, warmup, duration }) {
  const frame = buildFrame(opcode, payloadOf(size), true);
  const batch = repeatFrame(frame, inFlight);
  const frameLength = frame.length;
  const count = connections.length;
  const sender = connections[0].socket;
  let total = 0;
  let sent = 0;
  let running = true;
  const pump = () => {
    const allowed = inFlight - (sent - Math.floor(total / count));
    if (allowed >= inFlight >> 1 && allowed > 0 && running) {
      sender.write(allowed === inFlight ? batch : batch.subarray(0, allowed * frameLength));
      sent += allowed;
    }
  };
  for (const conn of connections) {
    conn.onFrames = (k) => {
      total += k;
      pump();
    };
  }
  pump();
  const result = await window(warmup, duration, () => total);
  running = false;
  return result;
}

/**
 * New connections per second: `concurrency` loops, each opening a connection, completing the
 * handshake, sending a close frame, and waiting for the server to close TCP (a whole life).
 */
async function runConnect({ host, port, path, concurrency, warmup, duration }) {
  const request = upgradeRequest(host, port, path);
  let done = 0;
  let errors = 0;
  let firstError = null;
  let running = true;
  const once = () =>
    new Promise((resolve) => {
      const socket = net.connect({ host, port, noDelay: true });
      let head = null;
      let upgraded = false;
      socket.once('connect', () => socket.write(request));
      socket.on('data', (chunk) => {
        if (upgraded) return;
        head = head === null ? chunk : Buffer.concat([head, chunk]);
        if (headEnd(head) === -1) return;
        upgraded = head.toString('latin1', 9, 12) === '101';
        if (!upgraded) socket.destroy(new Error('upgrade refused'));
        else socket.write(CLOSE_FRAME);
      });
      socket.on('error', (error) => {
        errors++;
        firstError ??= String(error.message);
      });
      socket.on('close', () => {
        if (upgraded) done++;
        resolve();
      });
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await once();
  });
  const result = await window(warmup, duration, () => done);
  running = false;
  await Promise.all(loops);
  return { ...result, errors, firstError };
}

const handlers = {
  open: (job) => openMany(job),
  echo: (job) => runEcho(job),
  latency: (job) => runLatency(job),
  broadcast: (job) => runBroadcast(job),
  connect: (job) => runConnect(job),
  closeAll: async () => {
    closeAll();
    return {};
  },
};

process.on('message', async (job) => {
  if (job.type === 'exit') process.exit(0);
  try {
    const result = await handlers[job.type](job);
    process.send({ id: job.id, ok: true, ...result });
  } catch (error) {
    process.send({ id: job.id, ok: false, error: String(error?.stack ?? error) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
