/**
 * What `hybi connect` and `hybi serve --interactive` share at a terminal: a prompt with received
 * lines printed above it (whatever was being typed is redrawn), and the typed commands (/ping,
 * /close, /hex, ...) parsed into actions each command carries out on its connection(s).
 */
import { createInterface, type Interface } from 'node:readline';
import { parseHex, type Palette } from './output.js';
import { parseInteger } from './units.js';

/** What a typed line asks for. */
type TypedLine =
  | { kind: 'send'; data: string | Uint8Array }
  | { kind: 'ping'; data: string }
  | { kind: 'pong'; data: string }
  | { kind: 'close'; code?: number; reason?: string }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

/**
 * Parses a typed line: text to send, or a command. `binary` sends plain lines as binary
 * messages (--binary). '//text' sends '/text'.
 */
export function parseTypedLine(line: string, binary: boolean): TypedLine {
  if (!line.startsWith('/') || line.startsWith('//')) {
    const text = line.startsWith('//') ? line.slice(1) : line;
    return { kind: 'send', data: binary ? Uint8Array.from(Buffer.from(text)) : text };
  }
  const space = line.indexOf(' ');
  const command = space === -1 ? line : line.slice(0, space);
  const rest = space === -1 ? '' : line.slice(space + 1);
  switch (command) {
    case '/ping':
      return { kind: 'ping', data: rest };
    case '/pong':
      return { kind: 'pong', data: rest };
    case '/close':
    case '/quit': {
      const parts = rest.trim();
      if (parts === '') return { kind: 'close' };
      const gap = parts.indexOf(' ');
      const codeText = gap === -1 ? parts : parts.slice(0, gap);
      try {
        return { kind: 'close', code: parseInteger('close', codeText, 0, 65535), reason: gap === -1 ? '' : parts.slice(gap + 1) };
      } catch {
        return { kind: 'error', message: `'${codeText}' is not a close code (try /close 1000 bye)` };
      }
    }
    case '/hex': {
      const bytes = parseHex(rest);
      return bytes === null ? { kind: 'error', message: '/hex takes hex digits, e.g. /hex 48 69' } : { kind: 'send', data: bytes };
    }
    case '/base64':
      return { kind: 'send', data: Uint8Array.from(Buffer.from(rest.trim(), 'base64')) };
    case '/help':
      return { kind: 'help' };
    default:
      return { kind: 'error', message: `unknown command ${command}; /help lists them (use // to send a line starting with /)` };
  }
}

/** A prompt on stdout over stdin; `print` writes a line above it. */
export class Prompt {
  readonly rl: Interface;
  readonly tty: boolean;
  /** False once nothing more can be typed (closing, or finished): no more prompts. */
  active = true;
  readonly #clearLine: string;

  constructor(colours: Palette) {
    const out = process.stdout;
    // A person typing, with output to a file (`hybi connect URL > log`): no prompt, no cursor
    // movement in the file, plain lines.
    this.tty = out.isTTY === true;
    this.rl = createInterface({
      input: process.stdin,
      output: this.tty ? out : undefined,
      prompt: colours.green('> '),
      terminal: this.tty,
      historySize: 500,
    });
    this.#clearLine = this.tty ? '\r\x1b[2K' : '';
  }

  /** Shows the prompt (again); `preserveCursor` keeps what was being typed where it was. */
  prompt(preserveCursor?: boolean): void {
    if (this.tty && this.active) this.rl.prompt(preserveCursor);
  }

  /** Writes a line above the prompt and redraws the prompt with whatever was being typed. */
  print(line: string): void {
    process.stdout.write(this.#clearLine + line + '\n');
    this.prompt(true);
  }

  /** Writes a last line, with no prompt after it. */
  finalLine(line: string): void {
    process.stdout.write(this.#clearLine + line + '\n');
  }
}
