#!/usr/bin/env node
// Benchmark dispatcher: `node bench/run.mjs [suite ...] [--quick] [-- suite options]`.
// With no suite name it runs every suite; `npm run bench` (which builds first) does that.
// Each suite is a standalone script run in its own process, so one suite's JIT state and heap do
// not colour the next one's figures. Suites import from dist/: build first.
//
// Suites: micro (mask, UTF-8, parse), deflate (compressed echo), publish-local, publish-cluster
// and publish-redis (topics in one process, across node:cluster workers, and across processes
// through a redis-server: publish.mjs, publish-cluster.mjs and publish-redis.mjs, called here as
// they are), load (servers and
// clients under load against ws+bufferutil, node-raw and Bun: echo, latency, large, broadcast,
// publish, memory, connect, client, kept, http2). A load workload group can be named alone
// (`node bench/run.mjs broadcast`); several names combine into one load run. `--only=...` and
// `--peers=...` go to the load suite and, without suite names, run only it:
// `npm run bench -- --only=echo-1m --peers=bun` reruns one row.
// --quick shortens every suite (a smoke run of a few minutes; a full run stays under 25).
//
// When the whole load suite ran, it wrote bench/results/latest.md; the output of the other suites
// of the same run is appended to it, so that one file holds the run's figures.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Suite name -> script in this directory, the options a full run gives it (so that all suites
 * together stay under about 10 minutes on 2 cores), and the options its --quick means.
 */
const suites = {
  micro: { script: 'micro.mjs', full: [], quick: ['--runs=3', '--time=60'] },
  deflate: { script: 'deflate.mjs', full: ['--time=1200'], quick: ['--quick'] },
  'publish-local': { script: 'publish.mjs', full: ['--rounds=5'], quick: ['--rounds=1', '--messages=500'] },
  'publish-cluster': { script: 'publish-cluster.mjs', full: [], quick: ['--messages=500'] },
  'publish-redis': { script: 'publish-redis.mjs', full: [], quick: ['--messages=500'] },
  load: { script: 'load.mjs', full: [], quick: ['--quick'] },
};
/** Workload groups of the load suite that may be named as suites of their own. */
const loadGroups = ['echo', 'latency', 'large', 'broadcast', 'publish', 'memory', 'connect', 'client', 'kept', 'http2'];

const args = process.argv.slice(2);
const split = args.indexOf('--');
const own = split === -1 ? args : args.slice(0, split);
const names = own.filter((a) => !a.startsWith('-'));
const quick = own.includes('--quick');
const passThrough = split === -1 ? own.filter((a) => a.startsWith('-') && a !== '--quick') : args.slice(split + 1);

if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) {
  console.error('dist/ is missing: run `npm run build` first (or use `npm run bench`).');
  process.exit(1);
}

const groups = names.filter((n) => loadGroups.includes(n));
let selected = names.filter((n) => !loadGroups.includes(n));
for (const name of selected) {
  if (!(name in suites)) {
    console.error(`unknown suite "${name}"; known: ${[...Object.keys(suites), ...loadGroups].join(', ')}`);
    process.exit(1);
  }
}
// A filter of the load suite's workloads or peers without suite names means: that load run alone.
const loadFilter = own.some((a) => a.startsWith('--only=') || a.startsWith('--peers='));
if (names.length === 0) selected = loadFilter ? ['load'] : Object.keys(suites);
if (groups.length > 0 && !selected.includes('load')) selected.push('load');
// The load suite last: its report is where the others' output is appended.
selected.sort((a, b) => (a === 'load') - (b === 'load'));

/** Runs one suite, echoing its stdout and keeping a copy. */
function runSuite(name) {
  const suite = suites[name];
  const script = fileURLToPath(new URL(suite.script, import.meta.url));
  if (!existsSync(script)) {
    console.error(`(suite ${name}: ${suite.script} does not exist yet, skipped)`);
    return Promise.resolve({ status: 0, output: '' });
  }
  const extra = [...(quick ? suite.quick : suite.full), ...passThrough];
  if (name === 'load' && groups.length > 0) extra.push(`--only=${groups.join(',')}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...extra], { stdio: ['inherit', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      output += chunk;
    });
    child.on('close', (code, signal) => resolve({ status: code ?? (signal ? 1 : 0), output }));
  });
}

const started = Date.now();
const latest = fileURLToPath(new URL('results/latest.md', import.meta.url));
let status = 0;
const outputs = [];
for (const name of selected) {
  const result = await runSuite(name);
  if (result.status !== 0) status = result.status;
  if (name !== 'load' && result.output.trim() !== '') outputs.push(result.output.trim());
}
if (selected.includes('load') && outputs.length > 0 && existsSync(latest) && statSync(latest).mtimeMs >= started) {
  appendFileSync(latest, `\n${outputs.join('\n\n')}\n`);
}
process.exit(status);
