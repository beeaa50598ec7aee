#!/usr/bin/env node
// Micro benchmarks of the core's byte-level hot paths, against the code ws runs for the same job:
//   mask     applyMask / maskInto vs bufferutil (native) vs ws's JavaScript fallback
//   utf8     Utf8Validator / isValidUtf8 vs Node's native buffer.isUtf8
//   parse    FrameParser vs ws's Receiver, with and without bufferutil
// Each figure is the median of --runs runs (default 7) of --time ms each (default 150), with the
// spread as +-half the min-max range in percent. Cases of one table are measured round-robin so
// that drift (thermal, other load) spreads over all of them rather than favouring one.
// ws reads WS_NO_BUFFER_UTIL when it is loaded, so its JavaScript-fallback cases run in a child
// process of this script started with that variable set.
//
// Usage: node bench/micro.mjs [--runs=7] [--time=150] [--only=mask,utf8,parse]   (build first)
import { createRequire } from 'node:module';
import { isUtf8 } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const core = await import('../dist/core/index.js');

let FrameParser = core.FrameParser;
if (FrameParser === undefined) {
  try {
    ({ FrameParser } = await import('../dist/core/frame-parser.js'));
  } catch {
    FrameParser = undefined;
  }
}

const options = { runs: 7, time: 150, only: ['mask', 'utf8', 'parse'] };
for (const arg of process.argv.slice(2)) {
  const [name, value] = arg.replace(/^--/, '').split('=');
  if (name === 'runs') options.runs = Number(value);
  else if (name === 'time') options.time = Number(value);
  else if (name === 'only') options.only = value.split(',');
}
const isChild = process.env.HYBI_BENCH_CHILD === '1';

// ---------------------------------------------------------------------------------------------
// Measuring

/** Results of work are folded into this so that the JIT cannot drop the work as dead code. */
let sink = 0;
const now = () => performance.now();

/** How many calls of fn make a batch of about 2 ms, so the clock is read rarely. */
function calibrate(fn) {
  let batch = 1;
  for (;;) {
    const t0 = now();
    for (let i = 0; i < batch; i++) sink ^= fn() | 0;
    if (now() - t0 >= 2 || batch >= 1 << 24) return batch;
    batch *= 2;
  }
}

/** Calls per second over about `ms` milliseconds. */
function rate(fn, batch, ms) {
  let calls = 0;
  const start = now();
  let elapsed;
  do {
    for (let i = 0; i < batch; i++) sink ^= fn() | 0;
    calls += batch;
    elapsed = now() - start;
  } while (elapsed < ms);
  return (calls / elapsed) * 1000;
}

/**
 * Measures cases round-robin. A case is { id, fn, bytes (per call), frames (per call, optional) }.
 * Returns id -> { median, min, max } in calls per second.
 */
function measureAll(cases) {
  for (const c of cases) {
    c.batch = calibrate(c.fn);
    rate(c.fn, c.batch, Math.min(100, options.time)); // warm-up at steady state
    c.samples = [];
  }
  for (let r = 0; r < options.runs; r++) for (const c of cases) c.samples.push(rate(c.fn, c.batch, options.time));
  const out = {};
  for (const c of cases) {
    const s = [...c.samples].sort((a, b) => a - b);
    out[c.id] = { median: s[s.length >> 1], min: s[0], max: s[s.length - 1], bytes: c.bytes, frames: c.frames ?? 0 };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Inputs

function randomBuffer(size) {
  // allocUnsafeSlow: a buffer of its own (8-aligned), fully overwritten right away.
  return randomFillSync(Buffer.allocUnsafeSlow(size));
}

const KiB = 1024;
const MiB = 1024 * KiB;
const maskSizes = [32, KiB, 64 * KiB, MiB];
const sizeName = (n) => (n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} B`);

function maskCases(impl, prefix) {
  const cases = [];
  const key = randomBuffer(4);
  for (const size of maskSizes) {
    const data = randomBuffer(size);
    const headerSize = core.frameHeaderSize(size, true);
    const target = Buffer.alloc(size + headerSize);
    cases.push({ id: `${prefix}:inplace:${size}`, bytes: size, fn: () => (impl.inPlace(data, key), data[0]) });
    cases.push({ id: `${prefix}:copy:${size}`, bytes: size, fn: () => (impl.copy(data, key, target, headerSize), target[headerSize]) });
  }
  // A 64 KiB payload at an odd address, as a payload behind a header in a received chunk can be.
  const backing = randomBuffer(64 * KiB + 1);
  const odd = backing.subarray(1);
  cases.push({ id: `${prefix}:inplace-odd:${64 * KiB}`, bytes: 64 * KiB, fn: () => (impl.inPlace(odd, key), odd[0]) });
  return cases;
}

const hybiMask = {
  inPlace: (data, key) => core.applyMask(data, key),
  copy: (data, key, target, offset) => core.maskInto(data, key, target, offset),
};

function utf8Inputs() {
  const ascii = 'The quick brown fox jumps over the lazy dog; 0123456789 {"json": true, "n": [1, 2, 3]}\n';
  const mixed = 'Grüße aus Köln, façade — Καλημέρα κόσμε, こんにちは世界, 你好 🌍🚀 and some plain words. ';
  const build = (unit, size) => {
    let text = '';
    let bytes = 0;
    outer: for (;;) {
      for (const ch of unit) {
        const n = Buffer.byteLength(ch);
        if (bytes + n > size) break outer;
        text += ch;
        bytes += n;
      }
    }
    return Buffer.from(text + ' '.repeat(size - bytes));
  };
  const inputs = [];
  for (const size of [64, 64 * KiB]) {
    inputs.push({ name: 'ASCII', size, data: build(ascii, size) });
    inputs.push({ name: 'mixed', size, data: build(mixed, size) });
  }
  for (const { data } of inputs) if (!isUtf8(data) || !core.isValidUtf8(data)) throw new Error('bad UTF-8 bench input');
  return inputs;
}

/** A stream of masked binary frames (what a server reads), cut into 64 KiB chunks as a socket delivers them. */
function frameStream(payloadSize, totalBytes) {
  const frameSize = core.frameHeaderSize(payloadSize, true) + payloadSize;
  const count = Math.max(1, Math.round(totalBytes / frameSize));
  const stream = Buffer.allocUnsafeSlow(count * frameSize);
  const payload = randomBuffer(payloadSize);
  for (let i = 0; i < count; i++) stream.set(core.encodeFrame({ opcode: 2, payload, mask: true }), i * frameSize);
  const chunks = [];
  for (let at = 0; at < stream.length; at += 64 * KiB) chunks.push(stream.subarray(at, Math.min(stream.length, at + 64 * KiB)));
  return { chunks, count, bytes: count * payloadSize };
}
const parseSizes = [
  { payload: 32, total: MiB },
  { payload: MiB, total: 4 * MiB },
];

function wsReceiverCases(prefix) {
  const { Receiver } = require('ws');
  const cases = [];
  for (const { payload, total } of parseSizes) {
    const { chunks, count, bytes } = frameStream(payload, total);
    const receiver = new Receiver({ isServer: true, binaryType: 'nodebuffer' });
    let messages = 0;
    receiver.on('message', () => messages++);
    receiver.on('error', (e) => {
      throw e;
    });
    const fn = () => {
      messages = 0;
      for (let i = 0; i < chunks.length; i++) receiver.write(chunks[i]);
      if (messages !== count) throw new Error(`ws Receiver delivered ${messages} of ${count}`);
      return messages;
    };
    cases.push({ id: `${prefix}:${payload}`, bytes, frames: count, fn });
  }
  return cases;
}

function hybiParserCases() {
  const cases = [];
  for (const { payload, total } of parseSizes) {
    const { chunks, count, bytes } = frameStream(payload, total);
    // The parser alone: frames reported as header + payload views.
    let frames = 0;
    const bare = new FrameParser(
      {
        onHeader() {},
        onPayload(data, end) {
          if (end) frames++;
        },
        onError(e) {
          throw e;
        },
      },
      { role: 'server', maxFrameSize: 2 ** 30 },
    );
    cases.push({
      id: `hybi:${payload}`,
      bytes,
      frames: count,
      fn: () => {
        frames = 0;
        for (let i = 0; i < chunks.length; i++) bare.push(chunks[i]);
        if (frames !== count) throw new Error(`FrameParser delivered ${frames} of ${count}`);
        return frames;
      },
    });
    // The parser plus what ws's Receiver also does: each frame's pieces joined into one message
    // buffer, so that this column compares like with like.
    let messages = 0;
    let pieces = [];
    let have = 0;
    const joining = new FrameParser(
      {
        onHeader() {},
        onPayload(data, end) {
          if (!end) {
            pieces.push(data);
            have += data.length;
            return;
          }
          let message = data;
          if (pieces.length !== 0) {
            message = new Uint8Array(have + data.length);
            let at = 0;
            for (const p of pieces) {
              message.set(p, at);
              at += p.length;
            }
            message.set(data, at);
            pieces = [];
            have = 0;
          }
          sink ^= message.length;
          messages++;
        },
        onError(e) {
          throw e;
        },
      },
      { role: 'server', maxFrameSize: 2 ** 30 },
    );
    cases.push({
      id: `hybi-join:${payload}`,
      bytes,
      frames: count,
      fn: () => {
        messages = 0;
        for (let i = 0; i < chunks.length; i++) joining.push(chunks[i]);
        if (messages !== count) throw new Error(`FrameParser delivered ${messages} of ${count}`);
        return messages;
      },
    });
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// The child: ws with its JavaScript fallback (WS_NO_BUFFER_UTIL=1 set by the parent).

if (isChild) {
  // ws's package exports hide lib/; reach the file by path (the same module ws itself loads).
  const wsUtil = require(join(dirname(require.resolve('ws')), 'lib', 'buffer-util.js'));
  const results = {};
  if (options.only.includes('mask')) {
    const impl = {
      inPlace: (data, key) => wsUtil.unmask(data, key),
      copy: (data, key, target, offset) => wsUtil.mask(data, key, target, offset, data.length),
    };
    Object.assign(results, measureAll(maskCases(impl, 'wsjs')));
  }
  if (options.only.includes('parse')) Object.assign(results, measureAll(wsReceiverCases('wsjs')));
  process.stdout.write(JSON.stringify(results));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// The parent: run, then print markdown tables.

function runChild() {
  const script = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [script, ...process.argv.slice(2)], {
    env: { ...process.env, WS_NO_BUFFER_UTIL: '1', HYBI_BENCH_CHILD: '1' },
    encoding: 'utf8',
    maxBuffer: 16 * MiB,
  });
  if (child.status !== 0) throw new Error(`child benchmark failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const spread = (r) => `±${((((r.max - r.min) / 2) / r.median) * 100).toFixed(0)}%`;
const mbps = (r) => (r ? `${fmt((r.median * r.bytes) / 1e6)} ${spread(r)}` : 'n/a');
const fps = (r) => (r ? `${fmt(r.median * r.frames)} ${spread(r)}` : 'n/a');
const ratio = (a, b) => (a && b ? `${(a.median / b.median).toFixed(2)}x` : 'n/a');

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

const bufferutil = require('bufferutil');
const nativeBufferutil = bufferutil.mask !== require('bufferutil/fallback').mask;
const started = now();
const child = options.only.includes('mask') || options.only.includes('parse') ? runChild() : {};

console.log(`## Micro benchmarks (node ${process.version}, ${process.arch}; median of ${options.runs} runs of ${options.time} ms, ± half the min-max range; MB = 10^6 bytes)\n`);

if (options.only.includes('mask')) {
  const r = {
    ...child,
    ...measureAll([
      ...maskCases(hybiMask, 'hybi'),
      ...maskCases({ inPlace: (d, k) => bufferutil.unmask(d, k), copy: (d, k, t, o) => bufferutil.mask(d, k, t, o, d.length) }, 'bu'),
    ]),
  };
  const rows = [];
  for (const [op, label] of [
    ['inplace', 'in place: applyMask / unmask'],
    ['copy', 'copy: maskInto / mask'],
  ]) {
    for (const size of maskSizes) {
      const k = `${op}:${size}`;
      rows.push([label, sizeName(size), mbps(r[`hybi:${k}`]), mbps(r[`bu:${k}`]), mbps(r[`wsjs:${k}`]), ratio(r[`hybi:${k}`], r[`bu:${k}`])]);
    }
  }
  const k = `inplace-odd:${64 * KiB}`;
  rows.push(['in place, odd address', '64 KiB', mbps(r[`hybi:${k}`]), mbps(r[`bu:${k}`]), mbps(r[`wsjs:${k}`]), ratio(r[`hybi:${k}`], r[`bu:${k}`])]);
  console.log(`### Masking, MB/s${nativeBufferutil ? '' : ' (WARNING: bufferutil fell back to JavaScript)'}\n`);
  console.log(table(['operation', 'size', 'hybi', 'bufferutil (native)', 'ws JS fallback', 'hybi / bufferutil'], rows));
  console.log();
}

if (options.only.includes('utf8')) {
  const cases = [];
  const inputs = utf8Inputs();
  const validator = new core.Utf8Validator();
  for (const { name, size, data } of inputs) {
    const id = `${name}:${size}`;
    cases.push({ id: `validator:${id}`, bytes: size, fn: () => (validator.reset(), validator.feed(data) && validator.end() ? 1 : 0) });
    cases.push({ id: `whole:${id}`, bytes: size, fn: () => (core.isValidUtf8(data) ? 1 : 0) });
    cases.push({ id: `native:${id}`, bytes: size, fn: () => (isUtf8(data) ? 1 : 0) });
  }
  const r = measureAll(cases);
  const rows = inputs.map(({ name, size }) => {
    const id = `${name}:${size}`;
    return [name, sizeName(size), mbps(r[`validator:${id}`]), mbps(r[`whole:${id}`]), mbps(r[`native:${id}`]), ratio(r[`whole:${id}`], r[`native:${id}`])];
  });
  console.log('### UTF-8 validation, MB/s\n');
  console.log(table(['text', 'size', 'Utf8Validator', 'isValidUtf8', 'buffer.isUtf8 (native)', 'isValidUtf8 / native'], rows));
  console.log();
}

if (options.only.includes('parse')) {
  const cases = [...wsReceiverCases('ws')];
  if (FrameParser) cases.push(...hybiParserCases());
  const r = { ...child, ...measureAll(cases) };
  const rows = [];
  for (const { payload } of parseSizes) {
    const cells = [
      ['hybi FrameParser (payload views)', `hybi:${payload}`],
      ['hybi FrameParser + joining pieces', `hybi-join:${payload}`],
      ['ws Receiver + bufferutil', `ws:${payload}`],
      ['ws Receiver, JS fallback', `wsjs:${payload}`],
    ];
    for (const [label, id] of cells) rows.push([sizeName(payload), label, fps(r[id]), mbps(r[id])]);
  }
  console.log('### Frame parsing: masked binary frames in 64 KiB chunks, server side\n');
  if (!FrameParser) console.log('(FrameParser is not built yet: hybi rows are missing.)\n');
  console.log(table(['payload', 'parser', 'frames/s', 'MB/s'], rows));
  console.log();
}

console.log(`(suite took ${((now() - started) / 1000).toFixed(0)} s)`);
if (sink === 0.5) console.log(''); // keeps `sink` observable
