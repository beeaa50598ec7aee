/**
 * The command line of `hybi serve`: its help text and the parser that turns arguments into
 * validated ServeSettings (the mode, the address, the WebSocketServerOptions). Nothing here
 * listens; serve.ts runs the server.
 */
import type { IncomingMessage } from 'node:http';
import type { AcceptResult, UpgradeInfo, WebSocketServerOptions as ServerOptions } from '../index.js';
import { hostAllowed, hostList, hostRefusal } from './serve-access.js';
import { parseCommandLine, parseDuration, parseInteger, parseSize, readOption, UsageError } from './units.js';

/** What the server does with messages. */
type ServeMode = 'echo' | 'broadcast' | 'exec' | 'demo' | 'interactive';

/** `hybi serve --help`. */
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

/** The options `hybi serve` takes (node:util parseArgs's table). */
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
