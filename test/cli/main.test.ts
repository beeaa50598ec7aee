/**
 * The `hybi` entry point: help for each command, the version, usage errors, and the installed
 * form (dist/cli/main.js with a shebang and the executable bit, as package.json's `bin` needs).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCli } from './harness.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string; bin: Record<string, string> };

describe('hybi --help and friends', () => {
  it('hybi --help lists the commands, on stdout, exit 0', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const done = await runCli([flag]);
      assert.equal(done.status, 0);
      assert.match(done.stdout, /^Usage: hybi <command>/);
      assert.match(done.stdout, /connect URL/);
      assert.match(done.stdout, /serve/);
      assert.equal(done.stderr, '');
    }
  });

  it('hybi connect --help documents every option the issue asks for', async () => {
    const done = await runCli(['connect', '--help']);
    assert.equal(done.status, 0);
    assert.match(done.stdout, /^Usage: hybi connect \[options\] URL/);
    for (const option of ['-H, --header', '-p, --protocol', '--origin', '--compress', '--ca FILE', '--insecure', '--ping-interval', '--max-message-size', '--timeout', '--retry N', '--binary', '--show-binary', '/close [code] [reason]', '/ping [data]', 'Exit status']) {
      assert.ok(done.stdout.includes(option), option);
    }
    assert.equal((await runCli(['help', 'connect'])).stdout, done.stdout);
  });

  it('hybi serve --help documents every option the issue asks for', async () => {
    const done = await runCli(['serve', '-h']);
    assert.equal(done.status, 0);
    assert.match(done.stdout, /^Usage: hybi serve \[options\]/);
    for (const option of ['--port', '--host', '--path', '--echo', '--broadcast', '--exec CMD', '--demo', '--origin', '--allow-host', '--compress', '--tls-cert', '--tls-key', '--ping-interval', '--idle-timeout', '--max-message-size', '--max-connections', '--quiet', 'SIGINT']) {
      assert.ok(done.stdout.includes(option), option);
    }
  });

  it('hybi --version prints the package version', async () => {
    const done = await runCli(['--version']);
    assert.equal(done.stdout, `hybi ${pkg.version}\n`);
    assert.equal(done.status, 0);
  });

  it('no command, or an unknown one, is a usage error (exit 2, stderr)', async () => {
    const none = await runCli([]);
    assert.equal(none.status, 2);
    assert.equal(none.stdout, '');
    assert.match(none.stderr, /^Usage: hybi/);
    const unknown = await runCli(['conect']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command 'conect'/);
  });
});

describe('the installed command', () => {
  const bin = `${root}${pkg.bin['hybi']}`;
  it('is dist/cli/main.js, executable, with a node shebang', { skip: existsSync(bin) ? false : 'dist/ is not built (npm run build)' }, () => {
    assert.equal(pkg.bin['hybi'], './dist/cli/main.js');
    assert.ok(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n'));
    accessSync(bin, constants.X_OK);
    // Run it the way a shell does, through the shebang.
    assert.match(execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 }), /^hybi \d+\.\d+\.\d+/);
  });
});
