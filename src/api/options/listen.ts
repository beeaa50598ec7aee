/**
 * The options of `server.listen()`, checked before any socket is bound.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SecureServerOptions as Http2SecureServerOptions } from 'node:http2'; // http2 hook
import { checkOptionNames, count, optionalFunction, optionsObject } from './checks.js';

/** Options of `listen`. */
export interface ListenOptions {
  /** Default 0: a free port, read it back from the result or from `server.address()`. */
  port?: number;
  /** Default: Node's (every interface). Use '127.0.0.1' to stay on this machine. */
  host?: string;
  /** Answers plain HTTP requests (a page, a health check); default: 426 Upgrade Required. */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Serve HTTP/2 and HTTP/1.1 on one TLS port (ALPN h2, http/1.1): WebSockets over HTTP/2 (RFC
   * 8441) and HTTP/1.1 upgrades alike; needs `tls`. `onRequest` then also gets HTTP/2 requests
   * (Http2ServerRequest and Http2ServerResponse). Default false: HTTP/1.1 only, no TLS. (http2 hook)
   */
  http2?: boolean;
  /** TLS for `http2: true` (key, cert, ...: Node's SecureServerOptions). */
  tls?: Http2SecureServerOptions;
}

/** The names `listen()` takes. */
const LISTEN_NAMES: ReadonlySet<string> = new Set(['port', 'host', 'onRequest', 'http2']); // http2 hook: http2
/** http2 hook: `tls` is taken only with `http2: true`; plain listen() stays plain HTTP. */
const LISTEN_NAMES_H2: ReadonlySet<string> = new Set([...LISTEN_NAMES, 'tls']);

/** Other libraries' listen options and what hybi offers instead. */
const LISTEN_HINTS: Readonly<Record<string, string>> = {
  tls: 'listen() serves plain HTTP unless http2: true; for TLS, attach() an https server',
  key: 'listen() serves plain HTTP; for TLS, attach() an https server',
  cert: 'listen() serves plain HTTP; for TLS, attach() an https server',
  path: 'use server.route(path, handler)',
};

/** Checks the options of `listen()`; throws InvalidArgumentError naming the first bad one. */
export function checkListenOptions(options: ListenOptions): void {
  const names = (options as { http2?: unknown } | undefined)?.http2 === true ? LISTEN_NAMES_H2 : LISTEN_NAMES; // http2 hook
  checkOptionNames('listen()', optionsObject('listen()', options), names, LISTEN_HINTS);
  if (options.port !== undefined) count('port', options.port, 0, 0, false);
  if (options.port !== undefined && options.port > 65535) throw new InvalidArgumentError(`port must be from 0 to 65535, got ${options.port}`);
  if (options.host !== undefined && typeof options.host !== 'string') throw new InvalidArgumentError('host must be a string');
  optionalFunction('onRequest', options.onRequest);
  // http2 hook: HTTP/2 needs TLS here (browsers speak h2 only over TLS).
  const h2 = options as { http2?: unknown; tls?: unknown };
  if (h2.http2 !== undefined && typeof h2.http2 !== 'boolean') throw new InvalidArgumentError('http2 must be a boolean');
  if (h2.http2 === true && (typeof h2.tls !== 'object' || h2.tls === null)) throw new InvalidArgumentError('listen({ http2: true }) needs tls: { key, cert } (browsers speak HTTP/2 only over TLS)');
}
