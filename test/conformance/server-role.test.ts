/**
 * Conformance, server role: the cases of cases.ts played by a raw-socket fuzzing client (masked
 * frames, hand-written handshake) against an echo server built with hybi's public API, as
 * Autobahn|Testsuite's fuzzingclient plays them against a testee server. Every case must come out
 * as Autobahn's OK: the echoes and pongs as expected, the right close code from the right side,
 * the server closing TCP itself, and failures as early as the protocol allows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from '../../src/api/server.js';
import { GROUPS, LARGEST_MESSAGE } from './cases.js';
import { DEFAULT_CASE_TIMEOUT, Fuzzer, fuzzerDeflate, openClient, type ConformanceCase, type FuzzerDeflate } from './harness.js';

let server: WebSocketServer;
let port = 0;

/** The testee: echoes every message as it arrives, as Autobahn's echo server does. */
function startEchoServer(): WebSocketServer {
  const s = new WebSocketServer({
    // Compression on (every message compressed, so the codec is exercised both ways) for the
    // clients that offer it; the rest stay uncompressed.
    compress: { threshold: 0 },
    // Autobahn's largest messages are 16 MiB; the cases here send at most 4 MiB.
    maxMessageSize: LARGEST_MESSAGE,
    maxFrameSize: LARGEST_MESSAGE,
  });
  s.on('connection', (ws) => {
    // Protocol errors are what many cases provoke; they are seen on the wire, not here.
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      void ws.send(data, { binary: isBinary });
    });
  });
  return s;
}

async function play(c: ConformanceCase): Promise<string[]> {
  const timeout = c.timeout ?? DEFAULT_CASE_TIMEOUT;
  const problems: string[] = [];
  const { socket, extensions, head } = await openClient(port, `/${c.id}`, c.deflate?.offer, timeout);
  let deflate: FuzzerDeflate | null = null;
  if (c.deflate !== undefined) {
    deflate = fuzzerDeflate(extensions, 'client');
    // Autobahn grades a compression case UNIMPLEMENTED when the server declines.
    if (deflate === null) problems.push(`the server declined the permessage-deflate offer "${c.deflate.offer}"`);
  } else if (extensions !== '') {
    problems.push(`the server answered extensions "${extensions}" that were not offered`);
  }
  const fuzzer = new Fuzzer(socket, 'client', deflate, timeout);
  fuzzer.start(head);
  problems.push(...(await fuzzer.play(c)));
  return problems;
}

describe('Conformance, server role: a fuzzing client against an echoing WebSocketServer (Autobahn categories)', () => {
  before(async () => {
    server = startEchoServer();
    port = (await server.listen({ port: 0, host: '127.0.0.1' })).port;
  });
  after(async () => {
    await server.close();
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

  it('leaves no connection open', async () => {
    const deadline = Date.now() + DEFAULT_CASE_TIMEOUT;
    while (server.connectionCount > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(server.connectionCount, 0);
  });
});
