/**
 * The command line of `hybi connect`: its help text, its exit statuses and the parser that turns
 * arguments into validated ConnectSettings (the ConnectOptions of connect() and how to run the
 * session). Nothing here touches the network; connect.ts runs the session.
 */
import { DEFAULT_PING_INTERVAL, type ConnectOptions } from '../index.js';
import { BINARY_FORMATS, type BinaryFormat } from './output.js';
import { describeConnectError } from './connect-report.js';
import { parseCommandLine, parseDuration, parseHeader, parseInteger, parseSize, readOption, UsageError } from './units.js';

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

/** `hybi connect --help`. */
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

/** The options `hybi connect` takes (node:util parseArgs's table). */
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
const DEFAULT_CLI_REDIRECTS = 5;

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
