/**
 * `connect(url, { version: 'hybi-00' })` (issue 22): the hybi-00 (draft-hixie-76) opening
 * handshake as a client, the Racket seed's `ws-connect #:protocol 'hybi00`. The same dialing,
 * timeout, abort and proxies as RFC 6455's (connect.ts calls this in place of its own handshake);
 * redirects are not followed, since draft-76 clients never did.
 */
import { getRandomValues } from 'node:crypto';
import type { Socket } from 'node:net';
import { HandshakeError } from '../node/errors.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { HeaderMap } from '../core/handshake.js';
import { ANSWER_SIZE, buildHybi00ClientRequest, checkHybi00Response, generateHybi00Keys, HYBI00_VERSION } from '../core/hybi00/handshake.js';
import type { HttpHead } from '../core/http-head.js';
import { abortedError, dial } from '../node/dial.js';
import { readResponseHead } from '../node/response-head.js';
import { readAfterHead } from '../node/hybi00.js';
import type { ConnectionInit } from './connection-init.js';
import type { ResolvedOptions } from './options.js';
import type { WebSocketURL } from './url.js';
import { WebSocket } from './websocket.js';

/** What the hybi-00 handshake needs of connect()'s resolved options. */
interface Hybi00ConnectSettings {
  protocols: string[];
  headers: Record<string, string | readonly string[]>;
  origin: string | undefined;
  tls: Parameters<typeof dial>[0]['tls'];
  connection: ResolvedOptions;
  /** How to reach the server: connect()'s proxy route (directly, or through a proxy's tunnel). */
  dialSocket?: (options: Parameters<typeof dial>[0]) => Promise<Socket>;
}

function flat(head: HttpHead): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(head.headers)) out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  return out;
}

/**
 * Dials `url`, sends the hybi-00 request and key3, checks the 101 and its 16-byte answer, and
 * returns the open WebSocket (version 'hybi-00'). Rejects as connect() does: HandshakeError for a
 * refusal or a wrong answer, ConnectError for the network or an abort (the socket destroyed).
 */
export async function connectHybi00(url: WebSocketURL, settings: Hybi00ConnectSettings, signal: AbortSignal): Promise<WebSocket> {
  if (settings.protocols.length > 1) throw new InvalidArgumentError('a hybi-00 handshake offers at most one subprotocol');
  const keys = generateHybi00Keys((bytes) => getRandomValues(bytes));
  // The draft's clients always send an Origin; a non-browser one names the server's own.
  const origin = settings.origin ?? `${url.secure ? 'https' : 'http'}://${url.host}`;
  const protocol = settings.protocols[0];
  // Built before dialing: CR/LF in a value or a reserved header name fails here.
  const request = buildHybi00ClientRequest({ host: url.host, path: url.path, origin, protocol, key1: keys.key1, key2: keys.key2, headers: settings.headers });
  const socket: Socket = await (settings.dialSocket ?? dial)({ host: url.hostname, port: url.port, tls: url.secure ? settings.tls : false, signal });
  const onAbort = (): void => {
    socket.destroy();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    socket.write(Buffer.concat([Buffer.from(request, 'latin1'), keys.key3]));
    const response = await readResponseHead(socket, { host: url.hostname, port: url.port, signal });
    if (response.status !== 101) {
      throw new HandshakeError(`${url.href} refused the hybi-00 upgrade: ${response.status}`, response.status, flat(response.head));
    }
    const read = await readAfterHead(socket, response.rest, ANSWER_SIZE);
    if (read === null) {
      if (signal.aborted) throw abortedError(url.hostname, url.port, signal);
      throw new HandshakeError(`${url.href} closed the connection before its hybi-00 answer`, 101, flat(response.head));
    }
    const problem = checkHybi00Response(101, response.head.headers as HeaderMap, read.bytes, {
      origin,
      location: `${url.secure ? 'wss' : 'ws'}://${url.host}${url.path}`,
      protocol,
      expected: keys.expected,
    });
    if (problem !== null) throw new HandshakeError(`invalid hybi-00 handshake response from ${url.href}: ${problem}`, 101, flat(response.head));
    const init: ConnectionInit = {
      options: settings.connection,
      role: 'client',
      url: url.href,
      protocol: protocol ?? '',
      head: read.rest.length > 0 ? read.rest : undefined,
      version: HYBI00_VERSION,
    };
    return new WebSocket(socket, init);
  } catch (error) {
    socket.destroy();
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
