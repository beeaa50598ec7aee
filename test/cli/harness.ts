/**
 * Runs the compiled `hybi` command as a subprocess, the way a person or a script would, and
 * watches its output. Every process started here is killed by `killAll()` (call it in an
 * `after`/`afterEach`), and every wait is bounded, so a broken CLI fails a test instead of
 * hanging the run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The compiled entry point, built with the tests into build/src/cli/main.js. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** How a finished process ended and what it wrote. */
export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** stdout as bytes, for binary output. */
  stdoutBytes: Buffer;
  stderr: string;
}

const running = new Set<ChildProcess>();

/** A running `hybi` process with its output so far. */
export class Cli {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  private readonly chunks: Buffer[] = [];
  readonly exited: Promise<Finished>;
  private waiters: Array<() => void> = [];

  constructor(args: string[], options: { env?: NodeJS.ProcessEnv; command?: string[] } = {}) {
    const [file, ...rest] = options.command ?? [process.execPath, CLI];
    this.child = spawn(file!, [...rest, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '', ...options.env },
    });
    running.add(this.child);
    this.child.stderr!.setEncoding('utf8');
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.stdout = Buffer.concat(this.chunks).toString('utf8');
      this.wake();
    });
    this.child.stderr!.on('data', (s: string) => {
      this.stderr += s;
      this.wake();
    });
    // A process that exits before reading its stdin makes our writes fail with EPIPE: not a test error.
    this.child.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.once('close', (status, signal) => {
        running.delete(this.child);
        this.wake();
        resolve({ status, signal, stdout: this.stdout, stdoutBytes: Buffer.concat(this.chunks), stderr: this.stderr });
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `test` holds for the output (stdout, stderr), or fails after `timeout` ms. */
  async waitFor(test: (stdout: string, stderr: string) => boolean, what: string, timeout = 10_000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!test(this.stdout, this.stderr)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        // Output may still be draining after exit: give the streams their last word.
        await this.exited;
        if (test(this.stdout, this.stderr)) return;
        throw new Error(`process exited before ${what}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}\nstdout: ${JSON.stringify(this.stdout)}\nstderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for text on stdout. */
  waitForStdout(text: string, timeout?: number): Promise<void> {
    return this.waitFor((out) => out.includes(text), `stdout to contain ${JSON.stringify(text)}`, timeout);
  }

  /** Waits for text on stderr. */
  waitForStderr(text: string, timeout?: number): Promise<void> {
    return this.waitFor((_out, err) => err.includes(text), `stderr to contain ${JSON.stringify(text)}`, timeout);
  }

  write(data: string | Uint8Array): void {
    this.child.stdin!.write(data);
  }

  end(data?: string | Uint8Array): void {
    this.child.stdin!.end(data);
  }

  /** Waits for the exit, killing the process if it takes longer than `timeout` ms. */
  async finish(timeout = 10_000): Promise<Finished> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeout);
    try {
      const done = await this.exited;
      if (done.signal === 'SIGKILL') throw new Error(`process did not exit within ${timeout} ms\nstdout: ${done.stdout}\nstderr: ${done.stderr}`);
      return done;
    } finally {
      clearTimeout(timer);
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }
}

/** Runs `hybi args...` with `input` on stdin (then EOF) and waits for it to exit. */
export async function runCli(args: string[], input: string | Uint8Array = '', timeout = 10_000): Promise<Finished> {
  const cli = new Cli(args);
  cli.end(input);
  return cli.finish(timeout);
}

/** A `hybi serve` on a free port, with the URL it printed. */
export interface Served {
  cli: Cli;
  port: number;
  /** ws://127.0.0.1:PORT (or wss://), without a path. */
  origin: string;
}

/** Starts `hybi serve --port 0 args...` and waits for its "listening" line. */
export async function serve(args: string[]): Promise<Served> {
  const cli = new Cli(['serve', '--port', '0', ...args]);
  await cli.waitFor((_o, err) => /(wss?):\/\/127\.0\.0\.1:(\d+)/.test(err), 'the listening line');
  const [, scheme, port] = /(wss?):\/\/127\.0\.0\.1:(\d+)/.exec(cli.stderr)!;
  return { cli, port: Number(port), origin: `${scheme}://127.0.0.1:${port}` };
}

/** Kills every process still running and waits for them to go. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      const closed = once(child, 'close');
      child.kill('SIGKILL');
      await closed;
    }),
  );
}
