// What importing hybi costs a process that uses only part of it: Node modules that only some
// features need are loaded on first use, not by the import (issue 24: each one is heap that every
// process importing hybi would hold). node:http2 comes with the first HTTP/2 server or client,
// node:cluster with the first cluster function, node:dns/promises with the first SOCKS dial that
// resolves a name here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// build/test/ -> build/src/index.js, the compiled entry.
const entry = fileURLToPath(new URL('../src/index.js', import.meta.url));

/** The Node modules a fresh process has loaded once it imported `specifier` (and ran `then`). */
function loadedBy(specifier: string, then = ''): string[] {
  const script = `const before = new Set(process.moduleLoadList);
    await import(${JSON.stringify(specifier)}).then(async (hybi) => { ${then} });
    console.log(JSON.stringify(process.moduleLoadList.filter((m) => !before.has(m))));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(out) as string[];
}

test('importing hybi loads neither node:http2, node:cluster nor node:dns/promises', () => {
  const loaded = loadedBy(entry);
  for (const name of ['http2', 'cluster', 'dns/promises']) {
    assert.ok(!loaded.includes(`NativeModule ${name}`), `the import loaded node:${name}`);
  }
  // The check above can see them: a cluster function still loads node:cluster when it is called.
  const after = loadedBy(entry, 'try { hybi.clusterBroker(); } catch {}');
  assert.ok(after.includes('NativeModule cluster'), 'clusterBroker() loaded node:cluster');
});
