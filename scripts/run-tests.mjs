#!/usr/bin/env node
// Runs every compiled test file under build/test with Node's own test runner, whose summary CI
// reads. Optional arguments filter by path substring: `npm test -- core/frame`.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'build', 'test');
const filters = process.argv.slice(2);

function* testFiles(d) {
  for (const name of readdirSync(d).sort()) {
    const path = join(d, name);
    if (statSync(path).isDirectory()) yield* testFiles(path);
    else if (name.endsWith('.test.js')) yield path;
  }
}

const files = [...testFiles(dir)].filter(
  (f) => filters.length === 0 || filters.some((s) => relative(dir, f).includes(s)),
);
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', ...files], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
