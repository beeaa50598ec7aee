#!/usr/bin/env node
/**
 * The `hybi` command: `hybi connect URL` and `hybi serve`. Each command resolves to an exit status;
 * this entry point prints usage, turns an unexpected failure into one line on stderr instead of a
 * stack trace, and exits once stdout has been flushed.
 */
import { readFileSync } from 'node:fs';
import { runConnect } from './connect.js';
import { runServe } from './serve.js';

const MAIN_HELP = `Usage: hybi <command> [options]

A WebSocket (RFC 6455) client and server for the terminal.

Commands:
  connect URL   talk to a WebSocket server, interactively or from a script
  serve         run a WebSocket server: echo, broadcast, exec a program, or the chat demo
  listen PORT   a server wired to the terminal (hybi serve --interactive --port PORT)

Run 'hybi <command> --help' for a command's options.
  hybi connect ws://127.0.0.1:8080/
  hybi serve --demo          then open http://127.0.0.1:8080/

Options:
  -h, --help       show this help
  -v, --version    print the version
`;

/** The package version, read from the package.json above the compiled file (dist/ or build/src/). */
function version(): string {
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < 4; i++) {
    dir = new URL('..', dir);
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hybi' && pkg.version) return pkg.version;
    } catch {
      // Not here: look one directory up.
    }
  }
  return 'unknown';
}

/** Dispatches to a command and resolves to the process's exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'connect':
      return runConnect(rest);
    case 'serve':
      return runServe(rest);
    case 'listen':
      // wscat -l PORT: the port first, then any option of hybi serve.
      if (rest[0] !== undefined && !rest[0].startsWith('-')) return runServe(['--interactive', '--port', rest[0], ...rest.slice(1)]);
      return runServe(['--interactive', ...rest]);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      if (command === 'help' && rest[0] === 'connect') return runConnect(['--help']);
      if (command === 'help' && rest[0] === 'serve') return runServe(['--help']);
      // Without a command it is a usage error: the help goes to stderr and the status is 2.
      (command === undefined ? process.stderr : process.stdout).write(MAIN_HELP);
      return command === undefined ? 2 : 0;
    case '-v':
    case '--version':
      process.stdout.write(`hybi ${version()}\n`);
      return 0;
    default:
      process.stderr.write(`hybi: unknown command '${command}'\nTry 'hybi --help'.\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (status) => {
    // Exit explicitly (sockets, stdin or timers may still be referenced), after stdout drains.
    process.stdout.write('', () => process.exit(status));
  },
  (err: unknown) => {
    process.stderr.write(`hybi: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
