#!/usr/bin/env node
// Benchmark dispatcher: `node bench/run.mjs [suite ...] [-- suite options]`. With no suite name it
// runs every suite. Each suite is a standalone script run in its own process, so one suite's JIT
// state and heap do not colour the next one's figures. Suites import from dist/: build first
// (`npm run bench` does).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Suite name -> script in this directory. Add new suites here. */
const suites = {
  micro: 'micro.mjs',
};

const args = process.argv.slice(2);
const split = args.indexOf('--');
const names = (split === -1 ? args : args.slice(0, split)).filter((a) => !a.startsWith('-'));
const passThrough = split === -1 ? args.filter((a) => a.startsWith('-')) : args.slice(split + 1);

if (!existsSync(fileURLToPath(new URL('../dist/core/index.js', import.meta.url)))) {
  console.error('dist/ is missing: run `npm run build` first (or use `npm run bench`).');
  process.exit(1);
}

const selected = names.length === 0 ? Object.keys(suites) : names;
for (const name of selected) {
  if (!(name in suites)) {
    console.error(`unknown suite "${name}"; known: ${Object.keys(suites).join(', ')}`);
    process.exit(1);
  }
}

let status = 0;
for (const name of selected) {
  const script = fileURLToPath(new URL(suites[name], import.meta.url));
  const result = spawnSync(process.execPath, [script, ...passThrough], { stdio: 'inherit' });
  if (result.status !== 0) status = result.status ?? 1;
}
process.exit(status);
