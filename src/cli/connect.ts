/**
 * `hybi connect URL`: a WebSocket client for people (interactive, when stdin is a terminal) and
 * for scripts (when it is not: lines or raw chunks in, one message per line out, an exit status
 * that says how the connection ended). The command line is parsed in connect-args.ts; what is
 * printed about the connection is written in connect-report.ts.
 */
import { createInterface } from 'node:readline';
import { connect, IdleTimeoutError, KeepaliveTimeoutError, InvalidArgumentError, InvalidURLError, type WebSocket } from '../index.js';
import { describeClose, formatBinary, isCleanClose, paletteFor, payloadOf, sanitizeForTerminal, type Palette } from './output.js';
import { CONNECT_HELP, ExitStatus, parseConnectArgs, type ConnectSettings } from './connect-args.js';
import { certificateHint, describeConnectError, describeControl, describeRequest, describeResponse, dump, formatReceived } from './connect-report.js';
import { Prompt, parseTypedLine } from './terminal.js';
import { commandLine, formatDuration } from './units.js';

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** How a session ended: the close code and reason received, and whether we asked for the close. */
interface Ending {
  code: number;
  reason: string;
  weClosed: boolean;
  error: Error | undefined;
}

/** Waits for the connection's 'close' event; records the last 'error' so it can be reported. */
function watchClose(ws: WebSocket, session: { weClosed: boolean }): Promise<Ending> {
  let lastError: Error | undefined;
  ws.on('error', (err: Error) => {
    lastError = err;
  });
  return new Promise((resolve) => {
    ws.once('close', (code: number, reason: unknown) => {
      resolve({ code, reason: typeof reason === 'string' ? reason : String(reason ?? ''), weClosed: session.weClosed, error: lastError });
    });
  });
}

/** The exit status an ending deserves: a finished closing handshake we asked for, or a normal code. */
function statusOf(end: Ending): number {
  if (end.code === 1006 || end.error instanceof IdleTimeoutError || end.error instanceof KeepaliveTimeoutError) return ExitStatus.AbnormalClose;
  return end.weClosed || isCleanClose(end.code) ? ExitStatus.Ok : ExitStatus.AbnormalClose;
}

function abnormalLine(end: Ending, settings: ConnectSettings): string {
  if (end.error instanceof KeepaliveTimeoutError && settings.pingTimeout !== undefined) {
    return `hybi connect: no answer to a ping within ${formatDuration(settings.pingTimeout)} (--ping-timeout); closed: ${describeClose(end.code, end.reason)}\n`;
  }
  // The error's message may quote what the peer sent.
  const why = end.error ? `: ${sanitizeForTerminal(end.error.message)}` : '';
  return `hybi connect: connection closed abnormally: ${describeClose(end.code, end.reason)}${why}\n`;
}

/** Runs `hybi connect` and resolves to its exit status. */
export async function runConnect(argv: string[]): Promise<number> {
  const settings = commandLine('connect', argv, parseConnectArgs, CONNECT_HELP);
  if (typeof settings === 'number') return settings;
  const interactive = process.stdin.isTTY === true;
  const colours = paletteFor(process.stdout, settings.noColor || !interactive);
  let ws: WebSocket;
  if (settings.verbose) dump(describeRequest(settings));
  try {
    ws = await connect(settings.url, settings.options);
  } catch (err) {
    if (settings.verbose) dump(describeResponse(err));
    process.stderr.write(`hybi connect: ${describeConnectError(err)}\n`);
    const hint = certificateHint(err);
    if (hint) process.stderr.write(`hybi connect: ${hint}\n`);
    // A bad URL or an option connect() refuses (a header it owns, a bad Origin) is a usage error.
    return err instanceof InvalidURLError || err instanceof InvalidArgumentError ? ExitStatus.Usage : ExitStatus.ConnectFailed;
  }
  if (settings.verbose) dump(describeResponse(ws));
  return interactive ? runInteractive(ws, settings, colours) : runScripted(ws, settings);
}

/** Scriptable mode: stdin to messages, messages to stdout lines, status from the close. */
async function runScripted(ws: WebSocket, settings: ConnectSettings): Promise<number> {
  const session = { weClosed: false };
  const ended = watchClose(ws, session);
  let received = 0;
  const closeNow = (): void => {
    if (ws.readyState !== 'open') return;
    session.weClosed = true;
    ws.close(1000).catch(() => {});
  };

  // A reader that went away (`| head -1`) is not an error: close politely and stop writing. The
  // server's answer may sit behind megabytes of messages nobody will read, so do not wait long.
  let stdoutGone = false;
  process.stdout.on('error', () => {
    if (stdoutGone) return;
    stdoutGone = true;
    closeNow();
    setTimeout(() => ws.terminate(), 1000).unref();
  });

  ws.on('message', (data: unknown, isBinary: boolean) => {
    // With --count, exactly N messages are printed, even if more were in flight before the close.
    if (settings.count !== undefined && received >= settings.count) return;
    received++;
    if (!stdoutGone) {
      const { text, bytes } = payloadOf(data, isBinary);
      if (text !== undefined) process.stdout.write(text + '\n');
      else if (settings.showBinary === 'raw') process.stdout.write(bytes!);
      else process.stdout.write(formatBinary(bytes!, settings.showBinary) + '\n');
    }
    if (settings.count !== undefined && received >= settings.count) closeNow();
  });

  // Frames are not messages: in a script they go to stderr, so stdout stays the messages only.
  if (settings.showPingPong) {
    ws.on('ping', (payload: Uint8Array) => process.stderr.write(`< ${describeControl('ping', payload)}\n`));
    ws.on('pong', (payload: Uint8Array) => process.stderr.write(`< ${describeControl('pong', payload)}\n`));
  }

  const pump = async (): Promise<void> => {
    try {
      if (settings.whole) {
        // All of stdin, then one message: a JSON document or a file that has newlines in it.
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of process.stdin) {
          chunks.push(chunk as Buffer);
          size += (chunk as Buffer).byteLength;
        }
        const data = Buffer.concat(chunks, size);
        if (ws.readyState === 'open') await ws.send(settings.binary ? data : data.toString('utf8'));
      } else if (settings.binary) {
        for await (const chunk of process.stdin) {
          if (ws.readyState !== 'open') break;
          await ws.send(chunk as Buffer);
        }
      } else {
        const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
        for await (const line of rl) {
          if (ws.readyState !== 'open') break;
          await ws.send(line);
        }
      }
    } catch {
      // A send that failed because the connection ended is reported by the 'close' handling.
      return;
    }
    if (settings.noClose || settings.count !== undefined) return;
    await sleep(settings.linger);
    closeNow();
  };
  void pump();

  // Ctrl-C (or a SIGTERM) closes politely first; a second one stops at once.
  const interrupt = (): void => {
    if (ws.readyState === 'open') closeNow();
    else {
      ws.terminate();
      process.exit(ExitStatus.Interrupted);
    }
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  const end = await ended;
  // Stop reading stdin: nothing more can be sent, and a pending read must not keep us alive.
  process.stdin.destroy();
  // Whoever stopped reading our output ended the session on purpose.
  if (stdoutGone) return ExitStatus.Ok;
  const status = statusOf(end);
  if (status !== ExitStatus.Ok) process.stderr.write(abnormalLine(end, settings));
  return status;
}

const INTERACTIVE_HELP = `Commands:
  /ping [data]            send a ping, print the round-trip time
  /pong [data]            send an unsolicited pong
  /close [code] [reason]  close (default 1000) and print the peer's close code and reason
  /hex HEX                send a binary message given in hex
  /base64 DATA            send a binary message given in base64
  /help                   this list
  //text                  send "/text"
Ctrl-D (on an empty line) closes the connection.`;

/** Interactive mode: a prompt, coloured output above it, commands for ping and close. */
async function runInteractive(ws: WebSocket, settings: ConnectSettings, c: Palette): Promise<number> {
  const session = { weClosed: false };
  const ended = watchClose(ws, session);
  let finished = false;
  const out = process.stdout;
  const terminal = new Prompt(c);
  const rl = terminal.rl;
  const prompt = (): void => terminal.prompt();
  const print = (line: string): void => terminal.print(line);

  const details = [ws.protocol ? `protocol ${ws.protocol}` : '', ws.extensions ? `extensions ${ws.extensions}` : ''].filter(Boolean).join(', ');
  out.write(c.dim(`Connected to ${ws.url || settings.url}${details ? ` (${details})` : ''}.`) + '\n');
  out.write(c.dim('Type a message and press Enter; /help lists commands; Ctrl-D closes.') + '\n');
  prompt();

  ws.on('message', (data: unknown, isBinary: boolean) => print(formatReceived(data, isBinary, settings.showBinary, c, '<')));

  const fail = (err: unknown): void => print(c.red(`error: ${err instanceof Error ? err.message : String(err)}`));

  if (settings.showPingPong) {
    ws.on('ping', (payload: Uint8Array) => print(c.yellow(`< ${describeControl('ping', payload)}`)));
    ws.on('pong', (payload: Uint8Array) => print(c.yellow(`< ${describeControl('pong', payload)}`)));
  }

  const startClose = (code?: number, reason?: string): void => {
    if (ws.readyState !== 'open') return;
    session.weClosed = true;
    ws.close(code ?? 1000, reason ?? '').catch((err: unknown) => {
      // An invalid code or reason is refused before anything is sent: the connection stays open.
      if (ws.readyState === 'open') session.weClosed = false;
      fail(err);
    });
    // Only a close that was accepted moves the state on; a refused one is reported by the catch.
    if (ws.readyState !== 'open') {
      // Once a close is under way there is nothing left to type: no more prompts.
      terminal.active = false;
      print(c.dim(`closing (${code ?? 1000}${reason ? ` ${JSON.stringify(reason)}` : ''})...`));
    }
  };

  rl.on('line', (line: string) => {
    const typed = parseTypedLine(line, settings.binary);
    switch (typed.kind) {
      case 'send':
        ws.send(typed.data).catch(fail);
        break;
      case 'ping': {
        const payload = typed.data;
        ws.ping(payload, { timeout: 10_000 }).then(
          (rtt: number) => print(c.yellow(`pong${payload ? ` ${JSON.stringify(payload)}` : ''}: round trip ${rtt.toFixed(2)} ms`)),
          fail,
        );
        break;
      }
      case 'pong':
        ws.pong(typed.data).then(() => print(c.dim(`pong sent${typed.data ? ` ${JSON.stringify(typed.data)}` : ''}`)), fail);
        break;
      case 'close':
        startClose(typed.code, typed.reason);
        break;
      case 'help':
        print(c.dim(INTERACTIVE_HELP));
        break;
      case 'error':
        fail(new Error(typed.message));
        break;
    }
    prompt();
  });

  // Ctrl-D on an empty line (or the terminal going away) closes cleanly.
  rl.on('close', () => {
    if (!finished) startClose();
  });
  let interrupts = 0;
  rl.on('SIGINT', () => {
    interrupts++;
    if (interrupts === 1 && ws.readyState === 'open') startClose();
    else {
      finished = true;
      out.write('\n');
      ws.terminate();
      process.exit(ExitStatus.Interrupted);
    }
  });

  const end = await ended;
  finished = true;
  terminal.active = false;
  const who = end.weClosed ? 'closed; the server answered' : 'the server closed the connection';
  const status = statusOf(end);
  const line = `${who}: ${describeClose(end.code, end.reason)}${end.error ? ` (${end.error.message})` : ''}`;
  terminal.finalLine(status === ExitStatus.Ok ? c.dim(line) : c.red(line));
  rl.close();
  process.stdin.destroy();
  return status;
}
