/**
 * `hybi connect URL`: a WebSocket client for people (interactive, when stdin is a terminal) and
 * for scripts (when it is not: lines or raw chunks in, one message per line out, an exit status
 * that says how the connection ended).
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import {
  connect,
  ConnectError,
  DEFAULT_PING_INTERVAL,
  HandshakeError,
  ProxyAuthError,
  IdleTimeoutError,
  KeepaliveTimeoutError,
  InvalidArgumentError,
  InvalidURLError,
  type ConnectOptions,
  type WebSocket,
} from '../index.js';
import { buildClientRequest, formatDeflateOffer } from '../core/index.js';
import {
  BINARY_FORMATS,
  type BinaryFormat,
  describeClose,
  formatBinary,
  isCleanClose,
  paletteFor,
  payloadOf,
  sanitizeForTerminal,
  type Palette,
} from './output.js';
import { Prompt, parseTypedLine } from './terminal.js';
import { formatDuration, parseCommandLine, parseDuration, parseHeader, parseInteger, parseSize, UsageError } from './units.js';

/** Exit statuses of `hybi connect`, documented in docs/cli.md so scripts can branch on them. */
export const ExitStatus = {
  /** The connection ended with a completed closing handshake and a normal code. */
  Ok: 0,
  /** No connection: refused, unreachable, TLS failure, handshake refused or timed out. */
  ConnectFailed: 1,
  /** The command line was wrong. */
  Usage: 2,
  /** The connection was established, then ended abnormally (1006, or an error close code from the peer). */
  AbnormalClose: 3,
  /** Interrupted twice (Ctrl-C while already closing). */
  Interrupted: 130,
} as const;

export const CONNECT_HELP = `Usage: hybi connect [options] URL

Open a WebSocket connection to URL (ws://, wss://, http:// or https://).

With a terminal on stdin it is interactive: each line you type is sent as a text
message and each message received is printed. Commands:
  /ping [data]            send a ping and print the round-trip time
  /pong [data]            send an unsolicited pong (a one-way heartbeat)
  /close [code] [reason]  close the connection (default 1000) and print the peer's answer
  /hex HEX, /base64 B64   send a binary message
  /help                   list the commands
  //text                  send a line that starts with '/'
Ctrl-D closes cleanly; Ctrl-C closes too (twice: quit at once).

Without a terminal on stdin it is scriptable: each line of stdin (or with --binary
each chunk) is sent, each message is written to stdout on its own line, and at the
end of stdin the connection is closed with 1000.
  echo '{"op":"status"}' | hybi connect ws://127.0.0.1:8080/ --count 1 | jq .

Options:
  -H, --header 'Name: value'   add a request header (repeatable)
  -p, --protocol NAME          offer a subprotocol (repeatable)
      --origin ORIGIN          send an Origin header
      --compress               offer permessage-deflate
  -L, --location               follow redirects (301, 302, 303, 307, 308), at most 5
      --max-redirects N        follow at most N redirects (implies --location)
      --ca FILE                trust the CA certificate(s) in FILE (PEM) for wss://
  -k, --insecure               do not verify the server's TLS certificate
      --cert FILE              present this client certificate (PEM) for wss://
      --key FILE               ... with this private key (PEM)
      --passphrase TEXT        the key's passphrase, if it is encrypted
      --proxy URL              go through a proxy: http://, https://, socks5://, socks5h://,
                               socks4:// or socks4a://, user:password@ for credentials; 'env'
                               reads https_proxy, http_proxy, all_proxy, no_proxy and the like
      --ping-interval DURATION ping after this long without traffic (0: never; default 30s)
      --ping-timeout DURATION  close (exit 3) when a ping has no pong this long after it
                               (default 20s; 60s with nothing at all received closes too)
  -P, --show-ping-pong         print the ping and pong frames that arrive
  -v, --verbose                print the handshake (request and response headers) on stderr
      --whole                  send all of stdin as one message, at its end
      --max-message-size SIZE  largest message accepted (default 1MiB); 1009 above it
      --timeout DURATION       give up on the opening handshake after this long (default 10s)
      --retry N                retry a failed connection N times, with backoff (default 0)
  -b, --binary                 send stdin chunks (or typed lines) as binary messages
      --show-binary FORMAT     print binary messages as hex (default), base64 or raw bytes
  -n, --count N                close after receiving N messages (then stdin's end does not close)
      --linger DURATION        wait this long after the end of stdin before closing (default 0)
      --no-close               do not close at the end of stdin; wait for the server to close
      --no-color               no colours even on a terminal (NO_COLOR is honoured too)
  -h, --help                   show this help

Durations: a bare number is seconds; 500ms, 30s, 2m also work. Sizes: 65536, 64k, 16MiB.

Exit status: 0 after a clean close (1000, 1001 or no code; or the close you asked for),
1 when no connection could be made, 2 for a usage error, 3 when an open connection
ended abnormally (1006, or an error code from the peer); the reason goes to stderr.
`;

const OPTIONS = {
  header: { type: 'string', short: 'H', multiple: true },
  protocol: { type: 'string', short: 'p', multiple: true },
  origin: { type: 'string' },
  compress: { type: 'boolean' },
  location: { type: 'boolean', short: 'L' },
  'max-redirects': { type: 'string' },
  ca: { type: 'string' },
  insecure: { type: 'boolean', short: 'k' },
  cert: { type: 'string' },
  key: { type: 'string' },
  passphrase: { type: 'string' },
  proxy: { type: 'string' },
  'ping-interval': { type: 'string' },
  'ping-timeout': { type: 'string' },
  'show-ping-pong': { type: 'boolean', short: 'P' },
  verbose: { type: 'boolean', short: 'v' },
  whole: { type: 'boolean' },
  'max-message-size': { type: 'string' },
  timeout: { type: 'string' },
  retry: { type: 'string' },
  binary: { type: 'boolean', short: 'b' },
  'show-binary': { type: 'string' },
  count: { type: 'string', short: 'n' },
  linger: { type: 'string' },
  'no-close': { type: 'boolean' },
  'no-color': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Everything the command line decided, validated. */
export interface ConnectSettings {
  url: string;
  options: ConnectOptions;
  binary: boolean;
  showBinary: BinaryFormat;
  count: number | undefined;
  linger: number;
  noClose: boolean;
  noColor: boolean;
  /** Print ping and pong frames as they arrive (-P). */
  showPingPong: boolean;
  /** Print the handshake on stderr (-v). */
  verbose: boolean;
  /** Send all of stdin as one message (--whole). */
  whole: boolean;
  /** --ping-timeout in ms, for the message when it strikes. */
  pingTimeout: number | undefined;
}

/** Redirects -L follows without --max-redirects: enough for http->https and a load balancer, not a loop. */
export const DEFAULT_CLI_REDIRECTS = 5;

/** Parses `hybi connect` arguments; returns null when --help was asked for. Throws UsageError. */
export function parseConnectArgs(argv: string[]): ConnectSettings | null {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) return null;
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'a URL is required' : `one URL expected, got ${positionals.length}`);
  }
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const [name, value] = parseHeader(h);
    // Repeated names are joined as HTTP allows (RFC 9110 section 5.3), rather than dropping one.
    const existing = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    if (existing !== undefined) headers[existing] = `${headers[existing]}, ${value}`;
    else headers[name] = value;
  }
  const options: ConnectOptions = {};
  if (Object.keys(headers).length > 0) options.headers = headers;
  if (values.protocol && values.protocol.length > 0) options.protocols = values.protocol;
  if (values.origin !== undefined) options.origin = values.origin;
  if (values.compress) options.compress = true;
  if (values['max-redirects'] !== undefined) options.maxRedirects = parseInteger('max-redirects', values['max-redirects'], 0, 100);
  else if (values.location) options.maxRedirects = DEFAULT_CLI_REDIRECTS;
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together');
  if (values.passphrase !== undefined && values.key === undefined) throw new UsageError('--passphrase goes with --cert and --key');
  if (values.ca !== undefined || values.insecure || values.cert !== undefined) {
    const tls: NonNullable<ConnectOptions['tls']> = {};
    if (values.ca !== undefined) tls.ca = readOption('ca', values.ca);
    if (values.cert !== undefined && values.key !== undefined) {
      tls.cert = readOption('cert', values.cert);
      tls.key = readOption('key', values.key);
      if (values.passphrase !== undefined) tls.passphrase = values.passphrase;
    }
    if (values.insecure) tls.rejectUnauthorized = false;
    options.tls = tls;
  }
  // Checked by connect() before any network; a bad proxy URL is a usage error like a bad URL.
  if (values.proxy !== undefined) options.proxy = values.proxy;
  if (values['ping-interval'] !== undefined) options.pingInterval = parseDuration('ping-interval', values['ping-interval']);
  let pingTimeout: number | undefined;
  if (values['ping-timeout'] !== undefined) {
    const wait = parseDuration('ping-timeout', values['ping-timeout']);
    pingTimeout = wait;
    const interval = options.pingInterval ?? DEFAULT_PING_INTERVAL;
    if (interval === 0) throw new UsageError('--ping-timeout needs pings: drop --ping-interval 0');
    if (wait === 0) throw new UsageError('--ping-timeout: 0 would close at once; give a duration such as 5s');
    // The connection's own pong timeout: a keep-alive ping without a pong within `wait` fails it
    // (1011, KeepaliveTimeoutError, reported by the 'error' event), so it is told from a peer's close.
    options.pongTimeout = wait;
  }
  if (values['max-message-size'] !== undefined) options.maxMessageSize = parseSize('max-message-size', values['max-message-size']);
  options.handshakeTimeout = values.timeout !== undefined ? parseDuration('timeout', values.timeout) : 10_000;
  if (values.retry !== undefined) {
    const retries = parseInteger('retry', values.retry, 0, 1000);
    // connect() counts tries, the first included; --retry counts the tries after a failure.
    if (retries > 0) {
      options.retry = {
        attempts: retries + 1,
        onRetry: (error, attempt, delayMs) => {
          process.stderr.write(`hybi connect: try ${attempt} failed (${describeConnectError(error)}); retrying in ${Math.round(delayMs)} ms\n`);
        },
      };
    }
  }
  const showBinary = (values['show-binary'] ?? 'hex') as BinaryFormat;
  if (!BINARY_FORMATS.includes(showBinary)) {
    throw new UsageError(`--show-binary: '${values['show-binary']}' is not one of ${BINARY_FORMATS.join(', ')}`);
  }
  return {
    url: positionals[0]!,
    options,
    binary: values.binary === true,
    showBinary,
    count: values.count !== undefined ? parseInteger('count', values.count, 1, Number.MAX_SAFE_INTEGER) : undefined,
    linger: values.linger !== undefined ? parseDuration('linger', values.linger) : 0,
    noClose: values['no-close'] === true,
    noColor: values['no-color'] === true,
    showPingPong: values['show-ping-pong'] === true,
    verbose: values.verbose === true,
    whole: values.whole === true,
    pingTimeout,
  };
}

function readOption(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${option}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Node's codes for a server certificate that could not be verified: unknown or self-signed
 * issuer, wrong name, expired. A TLS failure for another reason (a protocol mismatch) gets no hint.
 */
const CERTIFICATE_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The hint for a certificate error, or '' for any other failure. */
export function certificateHint(err: unknown): string {
  const cause = err instanceof ConnectError ? err.cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !CERTIFICATE_ERRORS.has(code)) return '';
  return 'the server\'s certificate was not verified: trust its CA with --ca FILE, or (for tests only) skip the check with --insecure';
}

/**
 * One line for stderr that says why no connection was made. Escape sequences in it are shown as
 * \\xNN: a refusal's body and the header values quoted in error messages come from the server, and
 * must not retitle, clear or recolour the user's terminal.
 */
export function describeConnectError(err: unknown): string {
  return sanitizeForTerminal(connectErrorText(err));
}

function connectErrorText(err: unknown): string {
  if (err instanceof HandshakeError) {
    const firstLine = err.body.split('\n', 1)[0]!.trim().slice(0, 200);
    return `handshake failed: ${err.message}${err.status && !err.message.includes(String(err.status)) ? ` (HTTP ${err.status})` : ''}${firstLine ? `: ${firstLine}` : ''}`;
  }
  if (err instanceof ConnectError) {
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  if (err instanceof ProxyAuthError && err.proxyAuthenticate !== '') return `${err.message}; it asks for: ${err.proxyAuthenticate.slice(0, 200)}`;
  if (err instanceof Error) return err.message;
  return String(err);
}

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

/**
 * -v: the request as connect() sends it, one header a line after '> '. The same core function
 * builds it; only the Sec-WebSocket-Key differs (connect() draws a fresh one for every try, and it
 * is not kept), so that line says so instead of showing a key that was never sent.
 */
export function describeRequest(settings: ConnectSettings): string[] {
  let url: URL;
  try {
    url = new URL(settings.url);
  } catch {
    return [];
  }
  const o = settings.options;
  const headers: Record<string, string | readonly string[]> = { ...(o.headers ?? {}) };
  const placeholder = 'AAAAAAAAAAAAAAAAAAAAAA==';
  let text: string;
  try {
    text = buildClientRequest({
      host: url.host,
      path: (url.pathname || '/') + url.search,
      key: placeholder,
      protocols: typeof o.protocols === 'string' ? [o.protocols] : o.protocols,
      extensions: o.compress ? formatDeflateOffer(o.compress === true ? {} : o.compress) : undefined,
      origin: o.origin,
      headers,
    });
  } catch {
    // A header connect() refuses: it says why, with the right exit status.
    return [];
  }
  return text
    .split('\r\n')
    .filter((line) => line !== '')
    .map((line) => `> ${line === `Sec-WebSocket-Key: ${placeholder}` ? 'Sec-WebSocket-Key: (random, new for each try)' : line}`);
}

/** -v: the answer. After a 101 hybi keeps what was agreed; a refusal carries every header. */
export function describeResponse(result: WebSocket | unknown): string[] {
  if (result instanceof HandshakeError) {
    if (result.status === 0) return [];
    return [`< HTTP/1.1 ${result.status}`, ...Object.entries(result.headers).map(([name, value]) => `< ${name}: ${value}`)];
  }
  if (result instanceof Error || typeof result !== 'object' || result === null) return [];
  const ws = result as WebSocket;
  const lines = ['< HTTP/1.1 101 Switching Protocols', '< Upgrade: websocket', '< Connection: Upgrade'];
  if (ws.protocol) lines.push(`< Sec-WebSocket-Protocol: ${ws.protocol}`);
  if (ws.extensions) lines.push(`< Sec-WebSocket-Extensions: ${ws.extensions}`);
  return lines;
}

/**
 * -P: "ping" or "pong", with the payload when there is one (as text when it is printable UTF-8,
 * else hex), escaped for the terminal since the peer chose it.
 */
export function describeControl(kind: 'ping' | 'pong', payload: Uint8Array): string {
  if (payload.byteLength === 0) return kind;
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
  const printable = !text.includes('\ufffd') && sanitizeForTerminal(text) === text;
  return `${kind} ${printable ? JSON.stringify(text) : `[${payload.byteLength} B] ${formatBinary(payload, 'hex')}`}`;
}

/** Writes lines for -v to stderr, escaped: header values come from the server (or a redirect). */
function dump(lines: string[]): void {
  for (const line of lines) process.stderr.write(sanitizeForTerminal(line) + '\n');
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
  let settings: ConnectSettings | null;
  try {
    settings = parseConnectArgs(argv);
  } catch (err) {
    process.stderr.write(`hybi connect: ${(err as Error).message}\nTry 'hybi connect --help'.\n`);
    return ExitStatus.Usage;
  }
  if (settings === null) {
    process.stdout.write(CONNECT_HELP);
    return ExitStatus.Ok;
  }
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

/**
 * A received message as one line for a person: text escaped for the terminal after `marker`,
 * binary as "[binary N B]" and hex or base64 (raw bytes would garble the terminal).
 */
export function formatReceived(data: unknown, isBinary: boolean, showBinary: BinaryFormat, c: Palette, marker: string): string {
  const { text, bytes } = payloadOf(data, isBinary);
  if (text !== undefined) return `${c.cyan(marker)} ${sanitizeForTerminal(text)}`;
  const format = showBinary === 'raw' ? 'hex' : showBinary;
  return `${c.magenta(`${marker} [binary ${bytes!.byteLength} B]`)} ${formatBinary(bytes!, format)}`;
}
