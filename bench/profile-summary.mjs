#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `node bench/load.mjs --prof`): the
// functions with the most self time, and self time grouped by where the code lives (hybi's
// dist/, node's internals, ws, GC, idle), so that "where does the time go" has a number.
//
// Usage: node bench/profile-summary.mjs <file.cpuprofile> [--top=30]
import { readFileSync } from 'node:fs';

const file = process.argv[2];
const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 30);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [--top=30]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));

// Self time per node: samples are node ids, timeDeltas the time before each sample.
const self = new Map();
const { samples, timeDeltas } = profile;
for (let i = 0; i < samples.length; i++) {
  const dt = timeDeltas[i + 1] ?? 0;
  self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

function where(url) {
  if (url === '') return 'native/V8';
  if (url.includes('/dist/')) return 'hybi';
  if (url.includes('/node_modules/ws/')) return 'ws';
  if (url.startsWith('node:')) return 'node';
  return 'other JS';
}

const byFunction = new Map();
const byPlace = new Map();
for (const node of profile.nodes) {
  const t = self.get(node.id) ?? 0;
  if (t === 0) continue;
  const f = node.callFrame;
  const name = f.functionName || '(anonymous)';
  const place = name.startsWith('(') && f.url === '' ? name : where(f.url);
  const key = `${name} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + t);
  byPlace.set(place, (byPlace.get(place) ?? 0) + t);
}

// Shares of the busy time: a server profile spans idle stretches between runs, which say nothing.
const idle = byPlace.get('(idle)') ?? 0;
const busy = total - idle;
const pct = (t) => `${((t / busy) * 100).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (percentages are of the busy time)`);
byPlace.delete('(idle)');
for (const key of byFunction.keys()) if (key.startsWith('(idle)')) byFunction.delete(key);
console.log('\nself time by place:');
for (const [place, t] of [...byPlace].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(t)}  ${place}`);
console.log(`\ntop ${top} functions by self time:`);
for (const [key, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${key}`);

// Inclusive time (self plus everything called from it), counted once per sample even when a
// function is on the stack twice: where whole features (a handshake, a send) spend their time.
const parent = new Map();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const inclusive = new Map();
for (const [id, t] of self) {
  if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const f = byId.get(at).callFrame;
    if (f.url === '' && f.functionName.startsWith('(')) continue;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + t);
  }
}
console.log(`\ntop ${top} functions by inclusive time:`);
for (const [key, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${key}`);
