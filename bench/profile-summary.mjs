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

const pct = (t) => `${((t / total) * 100).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
console.log('\nself time by place:');
for (const [place, t] of [...byPlace].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(t)}  ${place}`);
console.log(`\ntop ${top} functions by self time:`);
for (const [key, t] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(t)}  ${key}`);
