#!/usr/bin/env node
// Enforces DESIGN.md's one-way dependency rule: cli -> api -> node -> core.
// A layer may import itself and the layers below it, never one above. The core may import
// nothing from outside itself (no node:* and no packages), so it stays portable and sans-I/O.
// hybi/redis (src/redis) is an entry point of its own beside the layers: it may import the api
// layer and below and its optional peer dependency `redis`; nothing imports it, so `hybi` keeps no
// runtime dependency.
// Exits non-zero and names every offending import, so `npm test` fails on a wrong-way import.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = resolve(root, process.argv[2] ?? 'src');
const order = ['core', 'node', 'api', 'cli'];

function layerOf(file) {
  const first = relative(src, file).split(sep)[0];
  return order.includes(first) || first === 'redis' ? first : 'index';
}

function* tsFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield path;
  }
}

// Static and dynamic imports and re-exports; comments are stripped first so that prose
// mentioning an import does not count.
const importPattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;

const problems = [];
for (const file of tsFiles(src)) {
  const layer = layerOf(file);
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  for (const match of text.matchAll(importPattern)) {
    const spec = match[1];
    const where = `${relative(root, file)}: imports '${spec}'`;
    if (!spec.startsWith('.')) {
      if (layer === 'redis' && (spec === 'redis' || spec.startsWith('node:'))) continue;
      if (layer === 'core') problems.push(`${where}, but the core imports nothing outside itself`);
      else if (!spec.startsWith('node:')) problems.push(`${where}, but hybi has no runtime dependencies`);
      continue;
    }
    const target = layerOf(resolve(dirname(file), spec));
    if (target === 'redis' && layer !== 'redis') {
      problems.push(`${where}: nothing imports hybi/redis (its peer dependency must stay optional)`);
      continue;
    }
    if (layer === 'index') continue; // the public surface re-exports every layer
    if (layer === 'redis') {
      if (target === 'cli' || target === 'index') problems.push(`${where}: hybi/redis may import the api layer and below only`);
      continue;
    }
    if (target === 'index') {
      // The CLI is written as a user of the package would write it: through the public surface.
      if (layer !== 'cli') problems.push(`${where}: only the CLI and users import the package index`);
    } else if (order.indexOf(target) > order.indexOf(layer)) {
      problems.push(`${where}: layer '${layer}' may not depend on '${target}' (cli -> api -> node -> core)`);
    }
  }
}

if (problems.length > 0) {
  console.error('Layer rule violations:\n' + problems.map((p) => '  ' + p).join('\n'));
  process.exit(1);
}
console.log('layers: every import points down (cli -> api -> node -> core)');
