/**
 * What the conformance test files share, whatever carries the WebSocket (a TCP connection or an
 * HTTP/2 stream): the echoing testees on hybi's side, the registration of every case as a test,
 * the judging of the testee's answer to a permessage-deflate offer, and the client-role play
 * (hybi's connect() against a fuzzing server).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type ConnectOptions } from '../../src/api/connect.js';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { GROUPS, LARGEST_MESSAGE } from './cases.js';
import { DEFAULT_CASE_TIMEOUT, Fuzzer, fuzzerDeflate, type Accepted, type ConformanceCase, type FuzzerDeflate } from './harness.js';

/** Registers every case of every group as a test that passes when `play` finds no problem. */
export function describeCases(play: (c: ConformanceCase) => Promise<string[]>): void {
  for (const group of GROUPS) {
    describe(`${group.id} ${group.title}`, () => {
      for (const c of group.cases) {
        it(`${c.id} ${c.title}`, async () => {
          const problems = await play(c);
          assert.deepEqual(problems, [], `case ${c.id}: ${problems.join('; ')}`);
        });
      }
    });
  }
}

/** The server-role testee: echoes every message as it arrives, as Autobahn's echo server does. */
export function startEchoServer(): WebSocketServer {
  const s = new WebSocketServer({
    // Compression on (every message compressed, so the codec is exercised both ways) for the
    // clients that offer it; the rest stay uncompressed.
    compress: { threshold: 0 },
    // Autobahn's largest messages are 16 MiB; the cases here send at most 4 MiB.
    maxMessageSize: LARGEST_MESSAGE,
    maxFrameSize: LARGEST_MESSAGE,
  });
  s.on('connection', (ws) => echo(ws));
  return s;
}

/** Echoes every message back; protocol errors are what many cases provoke, seen on the wire, not here. */
function echo(ws: WebSocket): void {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    void ws.send(data, { binary: isBinary });
  });
}

/**
 * The fuzzing client's deflate state for the server's answer `extensions`, with the problems of
 * that answer: a declined offer (Autobahn grades it UNIMPLEMENTED), or extensions not offered.
 */
export function clientDeflate(c: ConformanceCase, extensions: string): { deflate: FuzzerDeflate | null; problems: string[] } {
  if (c.deflate !== undefined) {
    const deflate = fuzzerDeflate(extensions, 'client');
    return { deflate, problems: deflate === null ? [`the server declined the permessage-deflate offer "${c.deflate.offer}"`] : [] };
  }
  return { deflate: null, problems: extensions === '' ? [] : [`the server answered extensions "${extensions}" that were not offered`] };
}

/** Waits (bounded) until the server has no connection left; the count it ends with. */
export async function settledConnections(server: WebSocketServer): Promise<number> {
  const deadline = Date.now() + DEFAULT_CASE_TIMEOUT;
  while (server.connectionCount > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return server.connectionCount;
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The client role: hybi's connect() (echoing) against a fuzzing server that calls `respond` and
 * `accepted` for each request it takes. `play` runs one case over `transport`.
 */
export class ClientRole {
  private readonly byPath = new Map<string, ConformanceCase>();
  private readonly waiting = new Map<string, (accepted: Accepted) => void>();

  constructor(private readonly transport: ConnectOptions['transport']) {}

  /** The extensions the fuzzing server answers `offer` with: the case's response when it offered deflate. */
  readonly respond = (path: string, offer: string): string => {
    const c = this.byPath.get(path);
    if (c?.deflate === undefined || !offer.includes('permessage-deflate')) return '';
    return c.deflate.response;
  };

  /** Hands a request the fuzzing server accepted to the case waiting for it. */
  readonly accepted = (a: Accepted): void => this.waiting.get(a.path)?.(a);

  async play(c: ConformanceCase, port: number): Promise<string[]> {
    const timeout = c.timeout ?? DEFAULT_CASE_TIMEOUT;
    const path = `/${c.id}`;
    this.byPath.set(path, c);
    const problems: string[] = [];
    const accepted = new Promise<Accepted>((resolve) => this.waiting.set(path, resolve));
    const client = connect(`ws://127.0.0.1:${port}${path}`, {
      compress: c.deflate?.clientOptions,
      maxMessageSize: LARGEST_MESSAGE,
      maxFrameSize: LARGEST_MESSAGE,
      handshakeTimeout: timeout,
      transport: this.transport,
    }).then(
      (ws) => {
        echo(ws);
        return ws;
      },
      (error: Error) => {
        problems.push(`connect() failed: ${error.message}`);
        return null;
      },
    );
    try {
      const a = await within(accepted, timeout, 'the client to connect');
      const fuzzer = new Fuzzer(a.socket, 'server', c.deflate === undefined ? null : fuzzerDeflate(c.deflate.response, 'server'), timeout);
      fuzzer.start(a.head);
      problems.push(...(await fuzzer.play(c)));
    } catch (error) {
      problems.push((error as Error).message);
    } finally {
      this.waiting.delete(path);
      this.byPath.delete(path);
    }
    const ws = await client;
    if (ws !== null && ws.readyState !== 'closed') {
      try {
        await within(once(ws, 'close'), timeout, "the client's close event");
      } catch (error) {
        problems.push((error as Error).message);
        ws.terminate();
      }
    }
    return problems;
  }
}
