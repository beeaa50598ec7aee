/**
 * `hybi serve --interactive` (also `hybi listen PORT`), wscat's -l: a server wired to the
 * terminal. What the connected clients send is printed, marked with the client's number; what is
 * typed goes to every connected client. The prompt and the typed commands are connect's
 * (terminal.ts). Without a terminal on stdin it is scriptable, as websocat's -s: each line of stdin
 * goes to every client (reading waits until one is connected), each message received is a line on
 * stdout.
 */
import { createInterface } from 'node:readline';
import type { BinaryFormat, Palette } from './output.js';
import { formatBinary, sanitizeForTerminal } from './output.js';
import type { Incoming, Session } from './session.js';
import { Prompt, parseTypedLine } from './terminal.js';

const HELP = `Typed lines go to every connected client. Commands:
  /ping [data]            ping every client, print each round trip
  /pong [data]            send every client an unsolicited pong
  /close [code] [reason]  close every client's connection (default 1000)
  /hex HEX, /base64 B64   send a binary message
  /list                   the connected clients
  //text                  send a line that starts with '/'
Ctrl-D or Ctrl-C stops the server.`;

/** The terminal side of an interactive server. */
export class TerminalPeers {
  readonly #sessions = new Set<Session>();
  readonly #prompt: Prompt | undefined;
  readonly #c: Palette;
  readonly #showBinary: BinaryFormat;
  #someone: { promise: Promise<void>; resolve: () => void } | undefined;

  /**
   * `interactive`: stdin is a terminal (a prompt and commands) or not (lines in, lines out).
   * `stop` is called when the person is done (Ctrl-D, Ctrl-C).
   */
  constructor(interactive: boolean, colours: Palette, showBinary: BinaryFormat, stop: () => void) {
    this.#c = colours;
    this.#showBinary = showBinary;
    if (interactive) {
      const prompt = new Prompt(colours);
      this.#prompt = prompt;
      prompt.rl.on('line', (line) => {
        this.#typed(line);
        prompt.prompt();
      });
      // Ctrl-C reaches readline, not the process: both it and Ctrl-D stop the server.
      prompt.rl.on('SIGINT', stop);
      prompt.rl.on('close', stop);
    } else {
      void this.#pipe();
    }
  }

  /** Shows the prompt once the server is listening. */
  start(): void {
    this.#prompt?.prompt();
  }

  /** A line from the server (open/close logs): above the prompt on a terminal, else on stderr. */
  log(line: string): void {
    if (this.#prompt) this.#prompt.print(this.#c.dim(line));
    else process.stderr.write(`${line}\n`);
  }

  /** Stops reading the terminal (the server is shutting down). */
  close(): void {
    if (this.#prompt) {
      this.#prompt.active = false;
      this.#prompt.rl.removeAllListeners('close');
      this.#prompt.rl.close();
    }
    process.stdin.destroy();
  }

  /** A new client: its messages are shown, and it receives what is typed from now on. */
  attach(session: Session): void {
    this.#sessions.add(session);
    this.#someone?.resolve();
    this.#someone = undefined;
    session.onMessage((m) => this.#show(session, m));
    void session.ended.then(() => this.#sessions.delete(session));
  }

  #show(session: Session, m: Incoming): void {
    if (!this.#prompt) {
      // A pipe gets the bytes as they are (text) or hex/base64 (binary), one message a line.
      if (m.text !== undefined) process.stdout.write(m.text + '\n');
      else if (this.#showBinary === 'raw') process.stdout.write(m.bytes!);
      else process.stdout.write(formatBinary(m.bytes!, this.#showBinary) + '\n');
      return;
    }
    const c = this.#c;
    const marker = `<#${session.id}`;
    if (m.text !== undefined) this.#prompt.print(`${c.cyan(marker)} ${sanitizeForTerminal(m.text)}`);
    else {
      const format = this.#showBinary === 'raw' ? 'hex' : this.#showBinary;
      this.#prompt.print(`${c.magenta(`${marker} [binary ${m.bytes!.byteLength} B]`)} ${formatBinary(m.bytes!, format)}`);
    }
  }

  #open(): Session[] {
    return [...this.#sessions].filter((s) => s.ws.readyState === 'open');
  }

  #typed(line: string): void {
    const print = (text: string): void => this.#prompt!.print(text);
    const c = this.#c;
    const fail = (message: string): void => print(c.red(`error: ${message}`));
    if (line.trim() === '/list') {
      const open = this.#open();
      print(c.dim(open.length === 0 ? 'no client connected' : open.map((s) => `#${s.id} ${s.address} ${s.path}`).join('\n')));
      return;
    }
    const typed = parseTypedLine(line, false);
    if (typed.kind === 'help') return print(c.dim(HELP));
    if (typed.kind === 'error') return fail(typed.message);
    const targets = this.#open();
    if (targets.length === 0) return fail('no client connected yet; nothing sent');
    for (const session of targets) {
      const who = `#${session.id}`;
      switch (typed.kind) {
        case 'send':
          void session.send(typed.data);
          break;
        case 'ping':
          session.ws.ping(typed.data, { timeout: 10_000 }).then(
            (rtt: number) => print(c.yellow(`${who} pong: round trip ${rtt.toFixed(2)} ms`)),
            (err: Error) => fail(`${who} ${err.message}`),
          );
          break;
        case 'pong':
          session.ws.pong(typed.data).catch((err: Error) => fail(`${who} ${err.message}`));
          break;
        case 'close':
          session.ws.close(typed.code ?? 1000, typed.reason ?? '').catch((err: Error) => fail(`${who} ${err.message}`));
          break;
      }
    }
  }

  /** Scriptable: each stdin line to every open client, waiting for one when there is none. */
  async #pipe(): Promise<void> {
    const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
    try {
      for await (const line of lines) {
        let targets = this.#open();
        while (targets.length === 0) {
          if (!this.#someone) {
            let resolve!: () => void;
            const promise = new Promise<void>((r) => (resolve = r));
            this.#someone = { promise, resolve };
          }
          await this.#someone.promise;
          targets = this.#open();
        }
        // Waiting for each send paces stdin to the slowest client, rather than queueing.
        await Promise.all(targets.map((s) => s.send(line)));
      }
    } catch {
      // stdin destroyed at shutdown.
    }
  }
}
