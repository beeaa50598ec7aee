/**
 * The `agent` option: an `http.Agent` (https-proxy-agent, a SOCKS agent, a corporate tunnel
 * agent) carries the upgrade request, as in ws. The agent owns the way to the server, so the
 * request goes through node:http with the agent, and the answer comes back as the same head the
 * direct path reads off the socket: connect() then checks the 101 (or reads the refusal) as usual.
 */
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { ConnectError, ProxyAuthError } from '../errors.js';
import type { HttpHead } from '../../core/http-head.js';
import { abortedError, type TlsDialOptions } from '../dial.js';
import type { ResponseHead } from '../response-head.js';

/** Where the upgrade request goes. */
interface AgentRequestOptions {
  agent: Agent;
  secure: boolean;
  /** The server's host (IPv6 without brackets) and port. */
  host: string;
  port: number;
  /** The upgrade request as the core built it (request line, headers, blank line). */
  request: string;
  /** TLS settings for wss:, handed to the agent as https.request hands them. */
  tls: TlsDialOptions;
  signal?: AbortSignal;
}

/** The server's answer: after a 101 the upgraded socket; after anything else the response, which reads as the body. */
interface AgentAnswer {
  socket: Socket;
  response: ResponseHead;
}

/** Splits the core's request back into its target and header pairs (validated when it was built). */
function requestParts(request: string): { path: string; headers: [string, string][] } {
  const lines = request.split('\r\n').filter((line) => line !== '');
  const path = lines[0]!.split(' ')[1]!;
  const headers = lines.slice(1).map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).trim()];
  });
  return { path, headers };
}

/** The agent's proxy URL without credentials when it tells (https-proxy-agent's `proxy`), for messages. */
function agentProxy(agent: Agent): string {
  const proxy = (agent as { proxy?: unknown }).proxy;
  if (!(proxy instanceof URL)) return '(unknown)';
  const copy = new URL(proxy.href);
  copy.username = '';
  copy.password = '';
  return copy.origin !== 'null' ? copy.origin : copy.href;
}

/** A response head as the core's parser would give it: lower-case names, repeats as arrays. */
function headOf(res: IncomingMessage, dropBodyCoding: boolean): HttpHead {
  const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    // node:http already decoded the chunked body; the body reader must not decode it twice.
    if (dropBodyCoding && name === 'transfer-encoding') continue;
    const value = raw[i + 1]!;
    const seen = headers[name];
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return { startLine: [`HTTP/${res.httpVersion}`, String(res.statusCode ?? 0), res.statusMessage ?? ''], headers, rawHeaders: raw };
}

/**
 * Sends the upgrade request through `agent` and resolves with the answer. Rejects with a
 * ConnectError when the agent fails (its proxy refused, DNS, TCP, TLS) or on an abort; the
 * request is destroyed then, and with it any socket the agent opened.
 */
export function requestThroughAgent(options: AgentRequestOptions): Promise<AgentAnswer> {
  const { host, port, signal, tls } = options;
  const { path, headers } = requestParts(options.request);
  return new Promise<AgentAnswer>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(host, port, signal));
      return;
    }
    const send = options.secure ? httpsRequest : httpRequest;
    let req: ClientRequest;
    const done = (): void => signal?.removeEventListener('abort', onAbort);
    const onAbort = (): void => {
      done();
      req.destroy();
      reject(abortedError(host, port, signal!));
    };
    req = send({
      agent: options.agent,
      host,
      port,
      path,
      method: 'GET',
      // The core's headers, Host included, as the flat [name, value, ...] list node:http keeps as is.
      headers: headers.flat(),
      setHost: false,
      ...(options.secure
        ? { ca: tls.ca, cert: tls.cert, key: tls.key, passphrase: tls.passphrase, rejectUnauthorized: tls.rejectUnauthorized ?? true, servername: tls.servername }
        : {}),
    });
    req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      done();
      resolve({ socket, response: { head: headOf(res, false), status: res.statusCode ?? 0, rest: head } });
    });
    req.on('response', (res: IncomingMessage) => {
      done();
      // 407 is only ever a proxy's answer; https-proxy-agent hands its proxy's refusal on as the
      // response. The same typed error as the proxy option's, then.
      if (res.statusCode === 407) {
        const challenge = res.headers['proxy-authenticate'];
        res.destroy();
        reject(new ProxyAuthError(
          `the agent's proxy ${agentProxy(options.agent)} wants authentication: 407${res.statusMessage ? ` ${res.statusMessage}` : ''}`,
          agentProxy(options.agent),
          407,
          challenge ?? '',
        ));
        return;
      }
      // Read as a socket by the refusal path (read(), 'readable', 'end', destroy()): same calls.
      resolve({ socket: res as unknown as Socket, response: { head: headOf(res, true), status: res.statusCode ?? 0, rest: new Uint8Array(0) } });
    });
    req.on('error', (err: Error) => {
      done();
      reject(new ConnectError(`cannot connect to ${host}:${port} through the agent: ${err.message}`, host, port, { cause: err }));
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}
