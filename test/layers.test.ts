// The one-way layer rule (DESIGN.md: cli -> api -> node -> core) and the core's isolation from
// Node are enforced by scripts; these tests prove the scripts actually catch violations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const checker = join(root, 'scripts', 'check-layers.mjs');

function withTree(files: Record<string, string>, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'hybi-layers-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function check(dir: string) {
  return spawnSync(process.execPath, [checker, dir], { encoding: 'utf8' });
}

test('the real source tree obeys the layer rule', () => {
  const result = check(join(root, 'src'));
  assert.equal(result.status, 0, result.stderr);
});

test('a downward import passes', () => {
  withTree({ 'api/a.ts': "import { x } from '../node/b.js';\n", 'node/b.ts': "import { y } from '../core/c.js';\n", 'core/c.ts': 'export const y = 1;\n' }, (dir) => {
    assert.equal(check(dir).status, 0);
  });
});

test('a wrong-way import fails and is named', () => {
  withTree({ 'core/a.ts': "import { x } from '../node/b.js';\n", 'node/b.ts': 'export const x = 1;\n' }, (dir) => {
    const result = check(dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /core\/a\.ts: imports '\.\.\/node\/b\.js'/);
  });
});

test('the core may not import node built-ins, and no layer may import packages', () => {
  withTree({ 'core/a.ts': "import { readFileSync } from 'node:fs';\n", 'api/b.ts': "import ws from 'ws';\n" }, (dir) => {
    const result = check(dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /core\/a\.ts: imports 'node:fs'/);
    assert.match(result.stderr, /api\/b\.ts: imports 'ws'/);
  });
});

test('an import mentioned only in a comment does not count', () => {
  withTree({ 'core/a.ts': "// import x from '../api/y.js'\n/* import z from 'node:fs' */\nexport const a = 1;\n" }, (dir) => {
    assert.equal(check(dir).status, 0);
  });
});

test('the core tsconfig rejects a Node import at compile time', () => {
  withTree(
    {
      'core/tsconfig.json': JSON.stringify({ extends: join(root, 'src/core/tsconfig.json'), include: ['./**/*.ts'] }),
      'core/bad.ts': "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\nexport const b = Buffer.alloc(1);\n",
    },
    (dir) => {
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const result = spawnSync(process.execPath, [tsc, '-p', join(dir, 'core', 'tsconfig.json')], { encoding: 'utf8' });
      assert.notEqual(result.status, 0);
      assert.match(result.stdout, /node:fs/);
      assert.match(result.stdout, /Buffer/);
    },
  );
});

test('hybi/redis may import the api layer and its peer dependency; nothing may import it', () => {
  withTree(
    {
      'redis/index.ts': "import { createClient } from 'redis';\nimport { x } from '../api/a.js';\n",
      'api/a.ts': 'export const x = 1;\n',
      'api/b.ts': "import { redisBroker } from '../redis/index.js';\n",
      'node/c.ts': "import { createClient } from 'redis';\n",
      'redis/d.ts': "import { main } from '../cli/main.js';\n",
      'cli/main.ts': 'export const main = 1;\n',
    },
    (dir) => {
      const result = check(dir);
      assert.equal(result.status, 1);
      assert.match(result.stderr, /api\/b\.ts: imports '\.\.\/redis\/index\.js': nothing imports hybi\/redis/);
      assert.match(result.stderr, /node\/c\.ts: imports 'redis', but hybi has no runtime dependencies/);
      assert.match(result.stderr, /redis\/d\.ts: imports '\.\.\/cli\/main\.js': hybi\/redis may import the api layer and below only/);
      assert.doesNotMatch(result.stderr, /redis\/index\.ts/);
    },
  );
});
