/**
 * `hybi serve`: a WebSocket server from the command line, to test clients against (echo), to
 * connect people (broadcast), to put a program on the network (exec, as websocat does), or to
 * show hybi in a browser (the demo chat room).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { WebSocketServer, type AcceptResult, type UpgradeInfo, type WebSocketServerOptions as ServerOptions, type WebSocket } from '../index.js';
import { isIPv4, parseHost } from '../core/index.js';
import { ChatRoom } from './chat-room.js';
import { TerminalPeers } from './listen.js';
import { paletteFor } from './output.js';
import { DEMO_PAGE_CSP, renderDemoPage } from './demo-page.js';
import { pathOf, remoteAddressOf, Session } from './session.js';
import { parseCommandLine, parseDuration, parseInteger, parseSize, UsageError } from './units.js';

/** What the server does with messages. */
export type ServeMode = 'echo' | 'broadcast' | 'exec' | 'demo' | 'interactive';


export const SERVE_HELP = `Usage: hybi serve [options]

Run a WebSocket server. One mode says what it does with messages:
      --echo                 send every message back to its sender (default)
      --broadcast            send every message to every connected client
      --exec CMD             run CMD (with sh -c) for each connection: messages go to its
                             stdin (text with a newline), each line it prints is sent back;
                             it is never run unless you ask for it
      --demo                 a chat room: open http://HOST:PORT/ in several tabs
  -i, --interactive          wired to the terminal (wscat -l; also 'hybi listen PORT'):
                             what clients send is printed, what you type goes to all of
                             them; without a terminal, stdin lines in and messages out

Options:
      --port PORT            port to listen on (default 8080; 0 picks a free one)
      --host HOST            address to listen on (default 127.0.0.1; 0.0.0.0 for all)
      --path PATH            accept WebSocket connections on this path only
                             (default: any path; /chat with --demo)
  -p, --protocol NAME        a subprotocol to accept, in order of preference (repeatable)
      --origin ORIGIN        accept browser pages from this Origin (repeatable); without it
                             the demo accepts only its own page, the other modes none
      --allow-host NAME      answer requests for this host name too (repeatable); bound to
                             a loopback address, the server answers only requests whose
                             Host is localhost, 127.x.x.x or [::1] (DNS rebinding)
      --compress             accept permessage-deflate
      --tls-cert FILE        serve wss:// with this certificate (PEM) ...
      --tls-key FILE         ... and this private key (PEM)
      --ping-interval DUR    ping every client this often (default 0: never)
      --idle-timeout DUR     close a client that sent nothing for this long (default 0: never)
      --max-message-size SZ  largest message accepted (default 1MiB); 1009 above it
      --max-connections N    refuse connections beyond N at once (with HTTP 503)
      --metrics PATH         serve the server's metrics (Prometheus text format) to plain
                             HTTP GET requests on PATH, on the same port
  -q, --quiet                no log line per connection
  -h, --help                 show this help

Durations: a bare number is seconds; 500ms, 30s, 2m also work. Sizes: 65536, 64k, 16MiB.

Each connection is logged on stderr when it opens and when it closes, with its address,
path, subprotocol, close code, duration, and messages and bytes in each direction.
SIGINT (Ctrl-C) or SIGTERM closes every connection with 1001 (going away) and exits.

Examples:
  hybi serve --port 9000                       echo server on ws://127.0.0.1:9000/
  hybi serve --broadcast --path /room          a room every client shares
  hybi serve --exec 'stdbuf -oL tr a-z A-Z'    each client talks to its own tr

With --exec, a program that buffers its output in a pipe (tr, grep, awk) answers only
when its buffer fills: use stdbuf -oL or the program's own flag (grep --line-buffered).
PYTHONUNBUFFERED=1 is set for Python programs. The program also gets HYBI_REMOTE_ADDR,
HYBI_PATH and HYBI_PROTOCOL in its environment.
  hybi serve --demo                            the chat room (what npm start runs)
`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  path: { type: 'string' },
  echo: { type: 'boolean' },
  broadcast: { type: 'boolean' },
  exec: { type: 'string' },
  demo: { type: 'boolean' },
  interactive: { type: 'boolean', short: 'i' },
  protocol: { type: 'string', short: 'p', multiple: true },
  origin: { type: 'string', multiple: true },
  'allow-host': { type: 'string', multiple: true },
  compress: { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'ping-interval': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'max-message-size': { type: 'string' },
  'max-connections': { type: 'string' },
  metrics: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Everything the command line decided, validated. */
export interface ServeSettings {
  port: number;
  host: string;
  /** The WebSocket path, or undefined for any path. */
  path: string | undefined;
  mode: ServeMode;
  command: string | undefined;
  server: ServerOptions;
  /**
   * Host names (lower case, IPv6 in brackets) that requests may name besides the loopback ones,
   * or null when any Host is answered (bound to a non-loopback address without --allow-host).
   */
  allowedHosts: string[] | null;
  tls: { cert: Buffer; key: Buffer } | undefined;
  quiet: boolean;
  /** --metrics: the path that answers GET with the Prometheus text, or undefined. */
  metrics: string | undefined;
}

/** Parses `hybi serve` arguments; returns null when --help was asked for. Throws UsageError. */
export function parseServeArgs(argv: string[]): ServeSettings | null {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) return null;
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (did you mean --exec '${positionals.join(' ')}'?)`);
  const modes: ServeMode[] = [];
  if (values.echo) modes.push('echo');
  if (values.broadcast) modes.push('broadcast');
  if (values.exec !== undefined) modes.push('exec');
  if (values.demo) modes.push('demo');
  if (values.interactive) modes.push('interactive');
  if (modes.length > 1) throw new UsageError(`choose one mode, not ${modes.map((m) => `--${m}`).join(' and ')}`);
  if (values.exec !== undefined && values.exec.trim() === '') throw new UsageError('--exec needs a command');
  const path = values.path ?? (modes[0] === 'demo' ? '/chat' : undefined);
  if (path !== undefined && (!path.startsWith('/') || path.includes('?') || path.includes('#'))) {
    throw new UsageError(`--path: '${path}' must start with / and hold no query or fragment`);
  }
  if (modes[0] === 'demo' && path === '/') throw new UsageError('--path: the demo serves its page at /, so its WebSocket path must be another one');

  const metrics = values.metrics;
  if (metrics !== undefined) {
    if (!metrics.startsWith('/') || metrics.includes('?') || metrics.includes('#')) {
      throw new UsageError(`--metrics: '${metrics}' must start with / and hold no query or fragment`);
    }
    if (metrics === path) throw new UsageError('--metrics: the WebSocket path and the metrics path must differ');
    if (modes[0] === 'demo' && (metrics === '/' || metrics === '/index.html')) throw new UsageError('--metrics: the demo serves its page there');
  }

  const host = values.host ?? '127.0.0.1';
  const mode = modes[0] ?? 'echo';
  const allowedHosts = hostList(host, values['allow-host'] ?? []);
  const server: ServerOptions = {};
  if (values.protocol && values.protocol.length > 0) server.protocols = values.protocol;
  if (values.origin && values.origin.length > 0) server.allowedOrigins = values.origin;
  // Any web page the user visits can open a WebSocket to this machine; with --exec that would be
  // running commands for it, with --broadcast reading others' messages. Only the pages the user
  // named may connect; the echo, broadcast and exec modes serve no page of their own, so by
  // default none at all (non-browser clients send no Origin and are not affected).
  else if (mode !== 'demo') server.allowedOrigins = [];
  // The demo's page is served by the same process, so by default only that page may connect
  // (the server's own default: an Origin naming the Host the request was sent to), and the Host
  // must be one of ours (below), so that a rebound name cannot pass for our own page.
  if (allowedHosts !== null) {
    const keepDefault = server.allowedOrigins === undefined;
    server.accept = (req: IncomingMessage, info: UpgradeInfo): AcceptResult => {
      if (!hostAllowed(req.headers.host, allowedHosts)) return hostRefusal();
      return !(keepDefault && info.crossOrigin);
    };
  }
  if (values.compress) server.compress = true;
  if (values['ping-interval'] !== undefined) server.pingInterval = parseDuration('ping-interval', values['ping-interval']);
  if (values['idle-timeout'] !== undefined) server.idleTimeout = parseDuration('idle-timeout', values['idle-timeout']);
  if (values['max-message-size'] !== undefined) server.maxMessageSize = parseSize('max-message-size', values['max-message-size']);
  if (values['max-connections'] !== undefined) server.maxConnections = parseInteger('max-connections', values['max-connections'], 1, 1_000_000);

  let tls: ServeSettings['tls'];
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  if (values['tls-cert'] !== undefined && values['tls-key'] !== undefined) {
    tls = { cert: readOption('tls-cert', values['tls-cert']), key: readOption('tls-key', values['tls-key']) };
  }
  return {
    port: values.port !== undefined ? parseInteger('port', values.port, 0, 65535) : 8080,
    host,
    path,
    mode,
    command: values.exec,
    server,
    allowedHosts,
    tls,
    quiet: values.quiet === true,
    metrics,
  };
}

/**
 * The host names requests may name (see ServeSettings.allowedHosts). DNS rebinding: a page of
 * rebind.example:PORT whose name is made to resolve to 127.0.0.1 reaches a server bound there, as
 * its own origin; only the Host header it sends (rebind.example:PORT) gives it away. So a server
 * bound to a loopback address answers only loopback names and the ones given with --allow-host.
 */
export function hostList(bind: string, extra: readonly string[]): string[] | null {
  const names: string[] = [];
  for (const name of extra) {
    const parsed = parseHost(name);
    if (parsed === null || parsed.port !== null || name.endsWith(':')) {
      throw new UsageError(`--allow-host: '${name}' is not a host name (no port, IPv6 in brackets)`);
    }
    names.push(parsed.hostname.toLowerCase());
  }
  return names.length > 0 || isLoopbackAddress(bind) ? names : null;
}

/** An address to listen on that only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return a === 'localhost' || a === '::1' || a === '[::1]' || a === '0:0:0:0:0:0:0:1' || (isIPv4(v4) && v4.startsWith('127.'));
}

/** True when the Host header names this machine's loopback (localhost, 127.x.x.x, [::1]) or an allowed name. */
export function hostAllowed(host: string | undefined, allowed: readonly string[] | null): boolean {
  if (allowed === null) return true;
  const parsed = parseHost(host ?? '');
  if (parsed === null) return false;
  const name = parsed.hostname.toLowerCase();
  if (name === 'localhost' || name === '[::1]' || (isIPv4(name) && name.startsWith('127.'))) return true;
  return allowed.includes(name);
}

function hostRefusal(): { status: number; body: string } {
  return { status: 403, body: 'This server does not answer to that Host name (hybi serve --allow-host NAME adds one).\n' };
}

/** What the startup line says about who may connect: browser pages, and Host names. */
function accessLine(s: ServeSettings): string {
  const origins = s.server.allowedOrigins;
  const pages =
    origins === undefined ? 'browser pages: its own only' : origins.length === 0 ? 'browser pages: none (--origin to allow one)' : `browser pages: ${[...origins].join(', ')}`;
  const hosts =
    s.allowedHosts === null
      ? 'Host: any'
      : `Host: localhost, 127.x.x.x, [::1]${s.allowedHosts.length > 0 ? `, ${s.allowedHosts.join(', ')}` : ' (--allow-host to add one)'}`;
  return `${pages}; ${hosts}`;
}

function readOption(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`--${option}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** How long a command may outlive its connection once its stdin is closed, before SIGTERM. */
const EXEC_GRACE_MS = 2000;
/**
 * Bound on a graceful shutdown: after this, exit even if some peer never answered the 1001. A bit
 * longer than the server's own wait for closing handshakes (5 s), which normally ends it first.
 */
const SHUTDOWN_MS = 6000;

/** Runs `hybi serve` until SIGINT/SIGTERM and resolves to its exit status. */
export async function runServe(argv: string[]): Promise<number> {
  let settings: ServeSettings | null;
  try {
    settings = parseServeArgs(argv);
  } catch (err) {
    process.stderr.write(`hybi serve: ${(err as Error).message}\nTry 'hybi serve --help'.\n`);
    return 2;
  }
  if (settings === null) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const s = settings;
  const interactive = process.stdin.isTTY === true;
  // Ctrl-C and Ctrl-D reach the prompt, not the process: they stop the server as SIGINT does.
  const terminal =
    s.mode === 'interactive' ? new TerminalPeers(interactive, paletteFor(process.stdout, !interactive), 'hex', () => process.emit('SIGINT', 'SIGINT')) : undefined;
  const log = (line: string): void => {
    if (s.quiet) return;
    if (terminal) terminal.log(`${new Date().toISOString()} ${line}`);
    else process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };

  let wss: WebSocketServer;
  try {
    wss = new WebSocketServer(s.server);
  } catch (err) {
    process.stderr.write(`hybi serve: ${(err as Error).message}\n`);
    return 2;
  }
  const room = s.mode === 'demo' ? new ChatRoom() : undefined;
  const sessions = new Set<Session>();
  const children = new Set<ChildProcess>();
  let nextId = 0;

  const handler = (ws: WebSocket, req: IncomingMessage): Promise<unknown> => {
    const session = new Session(++nextId, ws, remoteAddressOf(req), pathOf(req));
    sessions.add(session);
    log(session.openLine());
    void session.ended.then((summary) => {
      sessions.delete(session);
      log(session.closeLine(summary));
    });
    switch (s.mode) {
      case 'echo':
        // Each reply is awaited before the next message is taken, so a client that sends without
        // reading is slowed by TCP instead of piling its replies up in our memory.
        void (async () => {
          for await (const m of session.messages()) await session.send(m.text ?? m.bytes!);
        })();
        break;
      case 'broadcast':
        void (async () => {
          for await (const m of session.messages()) {
            const data = m.text ?? m.bytes!;
            // Nobody waits for the slowest listener; one that falls too far behind is dropped.
            for (const other of sessions) if (other !== session) void other.sendOrShed(data);
            // The sender waits for its own copy: a flood is slowed down to its own reading pace.
            await session.send(data);
          }
        })();
        break;
      case 'exec':
        children.add(runCommand(session, s.command!, log, children));
        break;
      case 'demo':
        room!.join(session, new URLSearchParams((req.url ?? '').split('?')[1] ?? ''));
        break;
      case 'interactive':
        terminal!.attach(session);
        break;
    }
    // A route handler's promise is the connection's life: settle it when the connection ends.
    return session.ended;
  };

  if (s.path !== undefined) wss.route(s.path, {}, handler);
  else wss.on('connection', handler);

  const page = s.mode === 'demo' ? renderDemoPage(s.path!) : '';
  const metricsText = (): string => wss.metrics().toPrometheus();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => answerHttp(req, res, s, page, metricsText);
  // Without listeners these would be process warnings or (for 'error') a crash; here they are log lines.
  wss.on('error', (err: Error) => process.stderr.write(`hybi serve: ${err.message}\n`));
  wss.on('handlerError', (err: unknown) => log(`handler error: ${err instanceof Error ? err.message : String(err)}`));
  wss.on('refused', (req: IncomingMessage, answer: { status: number }) => {
    log(`refused addr=${remoteAddressOf(req)} path=${pathOf(req)} status=${answer.status}`);
  });
  // Without TLS the WebSocketServer runs its own http.Server (which also bounds how long a client
  // may take to send its request head); with TLS it is attached to an https.Server of ours.
  let tlsServer: HttpsServer | undefined;
  let port: number;
  try {
    if (s.tls) {
      const server = createHttpsServer({ cert: s.tls.cert, key: s.tls.key });
      tlsServer = server;
      server.on('request', onRequest);
      wss.attach(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: s.port, host: s.host }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err: Error) => process.stderr.write(`hybi serve: ${err.message}\n`));
      port = (server.address() as AddressInfo).port;
    } else {
      port = (await wss.listen({ port: s.port, host: s.host, onRequest })).port;
    }
  } catch (err) {
    process.stderr.write(`hybi serve: cannot listen on ${s.host}:${s.port}: ${(err as Error).message}\n`);
    return 1;
  }
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  const ws = `${s.tls ? 'wss' : 'ws'}://${host}:${port}${s.path ?? '/'}`;
  if (s.mode === 'demo') {
    process.stderr.write(`hybi serve: chat demo at ${s.tls ? 'https' : 'http'}://${host}:${port}/ (WebSocket ${ws}); ${accessLine(s)}; Ctrl-C stops\n`);
  } else {
    const what = s.mode === 'exec' ? `exec ${JSON.stringify(s.command)}` : s.mode;
    process.stderr.write(`hybi serve: ${what} server listening on ${ws}${s.path === undefined ? ' (any path)' : ''}; ${accessLine(s)}\n`);
  }
  terminal?.start();

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        // A second signal means "now": do not wait for slow peers.
        process.stderr.write(`hybi serve: ${signal} again, exiting at once\n`);
        resolve(1);
        return;
      }
      stopping = true;
      log(`${signal}: closing ${sessions.size} connection(s) with 1001 (going away)`);
      const force = setTimeout(() => {
        // Peers that never answered the close: cut them off, and let their log lines out first.
        process.stderr.write(`hybi serve: ${sessions.size} connection(s) did not close within ${SHUTDOWN_MS} ms\n`);
        const left = [...sessions];
        for (const session of left) session.ws.terminate();
        const logged = Promise.all(left.map((session) => session.ended));
        void Promise.race([logged, new Promise((r) => setTimeout(r, 500))]).then(() => resolve(0));
      }, SHUTDOWN_MS);
      tlsServer?.close(() => {});
      room?.close();
      terminal?.close();
      wss
        .close()
        .catch(() => {})
        .then(() => {
          for (const child of children) child.kill('SIGTERM');
          clearTimeout(force);
          resolve(0);
        });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** Plain HTTP requests: the demo page, the metrics (--metrics), or a hint that this is a WebSocket endpoint. */
function answerHttp(req: IncomingMessage, res: ServerResponse, s: ServeSettings, page: string, metricsText: () => string): void {
  const path = pathOf(req);
  // A rebound name gets nothing: not the demo's page (whose script would then connect as our
  // own origin), not even the hint.
  if (!hostAllowed(req.headers.host, s.allowedHosts)) {
    const answer = hostRefusal();
    res.writeHead(answer.status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end(answer.body);
    return;
  }
  if (s.metrics !== undefined && path === s.metrics) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    const text = metricsText();
    res.writeHead(200, {
      // The exposition format's content type (Prometheus text format 0.0.4).
      'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : text);
    return;
  }
  if (s.mode === 'demo' && (path === '/' || path === '/index.html')) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Length': Buffer.byteLength(page),
      'Content-Security-Policy': DEMO_PAGE_CSP,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : page);
    return;
  }
  if (s.mode === 'demo' && path !== s.path) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  // RFC 9110 section 15.5.22: 426 tells the client which protocol to upgrade to.
  res
    .writeHead(426, { Upgrade: 'websocket', Connection: 'Upgrade', 'Content-Type': 'text/plain; charset=utf-8' })
    .end(`This is a WebSocket endpoint. Try: hybi connect ${s.tls ? 'wss' : 'ws'}://${req.headers.host ?? 'HOST'}${path}\n`);
}

/**
 * --exec: one process per connection (as websocat's cmd: does). Text messages reach its stdin with
 * a newline, binary ones as they are; each line of its stdout is sent as a text message. Both
 * directions wait: a program that does not read its stdin stops the reading of the client's
 * socket, and a chatty program is slowed to the client's pace. When it exits the connection
 * closes (1000, or 1011 with its status); when the connection closes its stdin ends, and it gets
 * SIGTERM if it is still running a little later.
 */
function runCommand(session: Session, command: string, log: (line: string) => void, children: Set<ChildProcess>): ChildProcess {
  const child = spawn(command, {
    shell: true,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: {
      ...process.env,
      // Python block-buffers stdout in a pipe, which would hold every answer back.
      PYTHONUNBUFFERED: '1',
      HYBI_REMOTE_ADDR: session.address,
      HYBI_PATH: session.path,
      HYBI_PROTOCOL: session.ws.protocol,
    },
  });
  const close = (code: number, reason: string): void => {
    if (session.ws.readyState === 'open') session.ws.close(code, reason).catch(() => {});
  };
  child.on('error', (err) => {
    log(`#${session.id} exec failed: ${err.message}`);
    close(1011, 'command failed to start');
  });
  // The program may exit without reading everything: that is its business, not a crash of ours.
  child.stdin!.on('error', () => {});
  const feed = (async () => {
    const stdin = child.stdin!;
    for await (const m of session.messages()) {
      if (!stdin.writable) continue;
      // Waiting for 'drain' pauses the loop, and with it the reading of the client's socket.
      const ok = stdin.write(m.text !== undefined ? m.text + '\n' : m.bytes!);
      if (!ok) await Promise.race([once(stdin, 'drain'), once(stdin, 'close')]);
    }
  })();
  void feed.catch(() => {});
  const lines = createInterface({ input: child.stdout!, crlfDelay: Infinity });
  const pump = (async () => {
    for await (const line of lines) {
      // Once the connection is gone, stop reading: the program gets EOF and, later, SIGTERM.
      if (session.ws.readyState !== 'open') break;
      await session.send(line);
    }
  })().catch(() => {});
  child.on('close', (code, signal) => {
    children.delete(child);
    void pump.then(() => {
      if (code === 0) close(1000, '');
      else close(1011, `command exited with ${code ?? signal}`);
    });
  });
  void session.ended.then(() => {
    child.stdin!.end();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGTERM'), EXEC_GRACE_MS);
    timer.unref();
    child.once('exit', () => clearTimeout(timer));
  });
  return child;
}
