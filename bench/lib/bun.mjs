// Bun (uWebSockets) as a peer: its binary comes from npm's `@oven/bun-linux-x64` package, installed
// by the suite on first use into bench/.bun (ignored by git), never as a dependency of hybi: it is
// a 90 MB download that only the benchmarks need. HYBI_BENCH_BUN=/path/to/bun uses a Bun of your own.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The version the published figures were measured with; pinned so that runs compare. */
export const BUN_VERSION = '1.4.5';
const PACKAGE = '@oven/bun-linux-x64';

const prefix = fileURLToPath(new URL('../.bun', import.meta.url));
const installed = `${prefix}/node_modules/${PACKAGE}/bin/bun`;

/**
 * The Bun binary, installed on demand: `{ path, version }`, or `{ error }` saying why Bun cannot
 * run here (another platform, no registry access, a CPU the build does not support), in which
 * case the suite leaves Bun out and says so in the report.
 */
export function findBun(log = (line) => process.stderr.write(`${line}\n`)) {
  let path = process.env.HYBI_BENCH_BUN ?? installed;
  if (process.env.HYBI_BENCH_BUN === undefined) {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      return { error: `${PACKAGE} is for linux x64, this is ${process.platform} ${process.arch} (set HYBI_BENCH_BUN to a Bun binary)` };
    }
    if (!existsSync(installed) || version(installed) !== BUN_VERSION) {
      log(`installing ${PACKAGE}@${BUN_VERSION} into bench/.bun (once) ...`);
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
      const result = spawnSync(
        npm,
        ['install', '--prefix', prefix, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `${PACKAGE}@${BUN_VERSION}`],
        { encoding: 'utf8', timeout: 600_000 },
      );
      if (result.status !== 0 || !existsSync(installed)) {
        return { error: `npm install ${PACKAGE}@${BUN_VERSION} failed: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-3).join(' ')}` };
      }
    }
    path = installed;
  }
  const found = version(path);
  if (found === null) return { error: `${path} does not run on this machine` };
  return { path, version: found };
}

/** `bun --version`, or null when it does not run. */
function version(path) {
  const result = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return result.status === 0 ? result.stdout.trim() : null;
}
