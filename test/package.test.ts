// The public surface as a user imports it: the package's own `exports` map, resolved by Node
// from the built dist/ (self-reference by name), must carry every name DESIGN.md promises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const load = (specifier: string): Promise<Record<string, unknown>> => import(specifier);

test("'hybi' exports the user-facing API", async () => {
  const hybi = await load('hybi');
  for (const name of ['connect', 'WebSocketServer', 'WebSocket', 'BrowserWebSocket', 'WebSocketError', 'HandshakeError',
    'InvalidURLError', 'ConnectError', 'ConnectionClosedError', 'ProtocolError', 'MessageTooLargeError',
    'PongMismatchError', 'CloseTimeoutError']) {
    assert.equal(typeof hybi[name], 'function', `hybi.${name}`);
  }
});

test("'hybi/core' exports the low-level layer", async () => {
  const core = await load('hybi/core');
  for (const name of ['isControlOpcode', 'encodeFrame', 'decodeFrame', 'FrameParser', 'generateMaskKey', 'applyMask',
    'encodeClosePayload', 'parseClosePayload', 'Connection']) {
    assert.equal(typeof core[name], 'function', `core.${name}`);
  }
  assert.equal((core.Opcode as Record<string, number>).Text, 1);
  const frame = (core.encodeFrame as (o: object) => Uint8Array)({ opcode: 1, payload: new TextEncoder().encode('hi') });
  assert.deepEqual([...frame], [0x81, 0x02, 0x68, 0x69]);
});

// http2 (issue 19): RFC 8441's handshake is public beside the HTTP/1.1 one.
test("'hybi/core' exports the pure RFC 8441 handshake, which agrees with itself both ways", async () => {
  type Fn = (...args: unknown[]) => Record<string, unknown>;
  const core = (await load('hybi/core')) as Record<string, Fn>;
  const request = core.buildH2ConnectRequest!({ scheme: 'https', authority: 'example.com', path: '/chat', protocols: ['chat'], extensions: 'permessage-deflate' });
  assert.equal(request['sec-websocket-key'], undefined);
  const facts = core.checkH2ConnectRequest!(request);
  assert.deepEqual(facts.protocols, ['chat']);
  const response = core.buildH2Response!({ protocol: 'chat', extensions: 'permessage-deflate' });
  assert.equal(response[':status'], 200);
  const check = core.checkH2ConnectResponse!(200, response, ['chat'], ['permessage-deflate']);
  assert.deepEqual([check.ok, check.protocol], [true, 'chat']);
  assert.equal((core.buildH2Refusal!({ status: 426, headers: { Upgrade: 'websocket' }, body: 'no' }).headers as Record<string, unknown>)['upgrade'], undefined);
});

// legacy (issue 22): the hybi-00 core is public under names that say so.
test("'hybi/core' exports the hybi-00 core, and 'hybi' and 'hybi/core' the same NotSupportedByVersionError", async () => {
  const [hybi, core] = await Promise.all([load('hybi'), load('hybi/core')]);
  for (const name of ['Hybi00Connection', 'Hybi00Parser', 'encodeHybi00TextFrame', 'encodeHybi00CloseFrame', 'checkHybi00Request',
    'buildHybi00Response', 'buildHybi00ClientRequest', 'checkHybi00Response', 'generateHybi00Keys', 'hybi00ChallengeAnswer',
    'isHybi00Request', 'parseHybi00Key', 'md5', 'NotSupportedByVersionError']) {
    assert.equal(typeof core[name], 'function', `core.${name}`);
  }
  assert.equal(core.NotSupportedByVersionError, hybi.NotSupportedByVersionError);
  const frame = (core.encodeHybi00TextFrame as (p: Uint8Array) => Uint8Array)(new TextEncoder().encode('hi'));
  assert.deepEqual([...frame], [0x00, 0x68, 0x69, 0xff]);
});

// The error classes that only the node and api layers raise live there now (issue 16, point 6);
// both entry points that exported them before still do, and give the very same classes.
test("every error class is still exported by both 'hybi' and 'hybi/core', as the same object", async () => {
  const [hybi, core] = await Promise.all([load('hybi'), load('hybi/core')]);
  for (const name of ['HandshakeError', 'ConnectError', 'MessageTimeoutError', 'SendBufferFullError', 'CloseTimeoutError',
    'InvalidURLError', 'PongMismatchError', 'PingTimeoutError', 'IdleTimeoutError', 'NotUtf8Error', 'isHybiError',
    'WebSocketError', 'ProtocolError', 'ConnectionClosedError', 'ConnectionNotOpenError', 'MessageTooLargeError', 'InvalidArgumentError']) {
    assert.equal(typeof core[name], 'function', `core.${name}`);
    assert.equal(core[name], hybi[name], `hybi.${name} and core.${name}`);
  }
});

test("'hybi/browser' names the browser-compatible class WebSocket", async () => {
  const [browser, hybi] = await Promise.all([load('hybi/browser'), load('hybi')]);
  assert.equal(browser.WebSocket, hybi.BrowserWebSocket);
  assert.equal((browser.WebSocket as { CLOSED: number }).CLOSED, 3);
});

test("'hybi/redis' exports redisBroker, and 'hybi' exports memoryBroker (topics, issue 20)", async () => {
  const [redis, hybi] = await Promise.all([load('hybi/redis'), load('hybi')]);
  assert.equal(typeof redis.redisBroker, 'function');
  assert.equal(typeof hybi.memoryBroker, 'function');
  assert.equal(typeof hybi.clusterBroker, 'function');
  assert.equal(typeof hybi.startCluster, 'function');
  assert.equal(typeof hybi.BrokerError, 'function');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as Record<string, Record<string, unknown>>;
  // redis stays optional: `hybi` itself has no runtime dependency.
  assert.equal(pkg.dependencies, undefined);
  assert.deepEqual(pkg.peerDependenciesMeta!.redis, { optional: true });
});

// CommonJS: Node 20.19+ (and 22.12+) load ES modules with require(), and the exports map has
// "require" conditions pointing at the same files, so require() and import give the very same
// classes (no second copy whose instanceof checks disagree).
test("require('hybi'), 'hybi/core' and 'hybi/browser' work from CommonJS and give the same objects as import", async () => {
  const require = createRequire(import.meta.url);
  const [hybi, core, browser] = await Promise.all([load('hybi'), load('hybi/core'), load('hybi/browser')]);
  const required = require('hybi') as Record<string, unknown>;
  assert.equal(typeof required.connect, 'function');
  assert.equal(required.WebSocketError, hybi.WebSocketError);
  assert.equal((require('hybi/core') as Record<string, unknown>).encodeFrame, core.encodeFrame);
  assert.equal((require('hybi/browser') as Record<string, unknown>).WebSocket, browser.WebSocket);
});

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a command with a time bound; resolves with its status and output. */
function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

test('npm pack: the tarball installs offline into a fresh project that imports and requires it', { timeout: 300_000 }, async () => {
  const base = mkdtempSync(join(tmpdir(), 'hybi-pack-'));
  // npm writes its logs and cache here, not in the user's ~/.npm.
  const env = { ...process.env, npm_config_cache: join(base, 'npm-cache'), npm_config_update_notifier: 'false' };
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  try {
    const packed = await run(npm, ['pack', '--json', '--pack-destination', base], root, env);
    assert.equal(packed.status, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = new Set(info!.files.map((f) => f.path));
    for (const name of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/core/index.js', 'dist/hybi-core.js', 'dist/browser.js', 'dist/cli/main.js']) {
      assert.ok(files.has(name), `the tarball has ${name}`);
    }
    assert.ok(![...files].some((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('build/')), 'no sources, tests or test builds');

    // Every relative link and image of the README names a file the package ships.
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/i.test(t) && !t.startsWith('#'));
    assert.ok(targets.length > 0);
    for (const target of targets) {
      const path = target.split('#')[0]!.replace(/^\.\//, '');
      assert.ok(files.has(path), `README links to ${target}, which the tarball does not have`);
    }

    const project = join(base, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
    const installed = await run(npm, ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', join(base, info!.filename)], project, env);
    assert.equal(installed.status, 0, installed.stderr);

    // Source maps, if any, must not point at files the package does not have.
    const pkg = join(project, 'node_modules', 'hybi');
    for (const file of files) {
      if (!file.endsWith('.map')) continue;
      const map = JSON.parse(readFileSync(join(pkg, file), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      map.sources.forEach((source, i) => {
        const resolved = relative(pkg, join(pkg, dirname(file), source));
        assert.ok(files.has(resolved) || typeof map.sourcesContent?.[i] === 'string', `${file} points at ${source}, not in the package`);
      });
    }

    writeFileSync(
      join(project, 'use.cjs'),
      [
        "const hybi = require('hybi');",
        "const core = require('hybi/core');",
        "const browser = require('hybi/browser');",
        "console.log(JSON.stringify([typeof hybi.connect, typeof hybi.WebSocketServer, core.Opcode.Text, browser.WebSocket.OPEN]));",
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'use.mjs'),
      [
        "import { connect, WebSocketServer, WebSocketError } from 'hybi';",
        "import { Opcode } from 'hybi/core';",
        "import { WebSocket } from 'hybi/browser';",
        "import { createRequire } from 'node:module';",
        "const required = createRequire(import.meta.url)('hybi');",
        "console.log(JSON.stringify([typeof connect, typeof WebSocketServer, Opcode.Text, WebSocket.OPEN, required.WebSocketError === WebSocketError]));",
      ].join('\n'),
    );
    const cjs = await run(process.execPath, ['use.cjs'], project, env);
    assert.equal(cjs.status, 0, cjs.stderr);
    assert.deepEqual(JSON.parse(cjs.stdout), ['function', 'function', 1, 1]);
    const esm = await run(process.execPath, ['use.mjs'], project, env);
    assert.equal(esm.status, 0, esm.stderr);
    assert.deepEqual(JSON.parse(esm.stdout), ['function', 'function', 1, 1, true]);
    const bin = await run(join(project, 'node_modules', '.bin', 'hybi'), ['--help'], project, env);
    assert.equal(bin.status, 0, bin.stderr);
    assert.match(bin.stdout, /connect/);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
