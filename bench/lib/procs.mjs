// Child processes of the load suite: servers under test, load generators and client runners,
// each a Node process spoken to over IPC with request/response messages matched by id.
import { spawn, spawnSync } from 'node:child_process';

/** The hard limit on open files: children raise their soft limit to it (10,000 idle connections need it). */
export const fileLimit = (() => {
  const out = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  return out === 'unlimited' ? 1_048_576 : Number(out) || 1024;
})();

/** A Node child with an IPC channel, started through `sh -c 'ulimit -n ...; exec node ...'`. */
export class Child {
  #child;
  #pending = new Map();
  #nextId = 1;
  #exited;

  /**
   * `script`: path; `env`: added variables; `execArgv`: node flags (e.g. --expose-gc, --cpu-prof).
   * `command`: the runtime to start (Node by default; the Bun peer passes Bun's binary, which speaks
   * Node's IPC protocol). `ready` resolves with the child's first message.
   */
  constructor(script, { env = {}, execArgv = [], name = script, command = process.execPath } = {}) {
    this.name = name;
    // spawn with an 'ipc' stdio entry sets NODE_CHANNEL_FD; `exec` keeps the descriptor, so the
    // node started by the shell finds its channel.
    this.#child = spawn(
      'sh',
      ['-c', `ulimit -n ${fileLimit} 2>/dev/null; exec "$0" "$@"`, command, ...execArgv, script],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    this.ready = new Promise((resolve, reject) => {
      const onFirst = (message) => {
        this.#child.off('message', onFirst);
        resolve(message);
      };
      this.#child.on('message', onFirst);
      this.#child.once('exit', (code, signal) => reject(new Error(`${name} exited before it was ready (${code ?? signal})`)));
    });
    this.#child.on('message', (message) => {
      const waiter = message && this.#pending.get(message.id);
      if (waiter === undefined) return;
      this.#pending.delete(message.id);
      if (message.ok === false) waiter.reject(new Error(`${name}: ${message.error}`));
      else waiter.resolve(message);
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.once('exit', (code, signal) => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error(`${name} exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  get pid() {
    return this.#child.pid;
  }

  /** Sends `message` with a fresh id and resolves with the answer carrying that id. */
  request(message, timeoutMs = 120_000) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${message.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#child.send({ ...message, id });
    });
  }

  /** Asks the child to exit, then kills it if it has not within `graceMs`. */
  async stop(graceMs = 3000) {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    try {
      this.#child.send({ type: 'exit' });
    } catch {
      // Channel already closed.
    }
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}
