/**
 * Conformance, client role: the cases of cases.ts played by a raw fuzzing server (hand-written
 * 101, unmasked frames) against hybi's connect() client echoing every message back, as
 * Autobahn|Testsuite's fuzzingserver plays them against a testee client. The same checks as the
 * server role, from the other side: the client's frames must be masked, its close codes right, and
 * every connection must end with the client reporting its close.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from '../../src/api/connect.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { GROUPS, LARGEST_MESSAGE } from './cases.js';
import { DEFAULT_CASE_TIMEOUT, Fuzzer, FuzzingServer, fuzzerDeflate, type Accepted, type ConformanceCase } from './harness.js';

const byPath = new Map<string, ConformanceCase>();
const waiting = new Map<string, (accepted: Accepted) => void>();
let fuzzing: FuzzingServer;
let port = 0;

function respond(path: string, offer: string): string {
  const c = byPath.get(path);
  if (c?.deflate === undefined || !offer.includes('permessage-deflate')) return '';
  return c.deflate.response;
}

/** The testee: echoes every message as it arrives, as Autobahn's test client does. */
function echo(ws: WebSocket): void {
  // Protocol errors are what many cases provoke; they are seen on the wire, not here.
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    void ws.send(data, { binary: isBinary });
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function play(c: ConformanceCase): Promise<string[]> {
  const timeout = c.timeout ?? DEFAULT_CASE_TIMEOUT;
  const path = `/${c.id}`;
  byPath.set(path, c);
  const problems: string[] = [];
  const accepted = new Promise<Accepted>((resolve) => waiting.set(path, resolve));
  const client = connect(`ws://127.0.0.1:${port}${path}`, {
    compress: c.deflate?.clientOptions,
    maxMessageSize: LARGEST_MESSAGE,
    maxFrameSize: LARGEST_MESSAGE,
    handshakeTimeout: timeout,
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
    waiting.delete(path);
    byPath.delete(path);
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

describe('Conformance, client role: a fuzzing server against an echoing connect() client (Autobahn categories)', () => {
  before(async () => {
    fuzzing = new FuzzingServer(respond, (a) => waiting.get(a.path)?.(a));
    port = await fuzzing.listen();
  });
  after(async () => {
    await fuzzing.close();
  });

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
});
