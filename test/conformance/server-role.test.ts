/**
 * Conformance, server role: the cases of cases.ts played by a raw-socket fuzzing client (masked
 * frames, hand-written handshake) against an echo server built with hybi's public API, as
 * Autobahn|Testsuite's fuzzingclient plays them against a testee server. Every case must come out
 * as Autobahn's OK: the echoes and pongs as expected, the right close code from the right side,
 * the server closing TCP itself, and failures as early as the protocol allows.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WebSocketServer } from '../../src/api/server.js';
import { DEFAULT_CASE_TIMEOUT, Fuzzer, openClient, type ConformanceCase } from './harness.js';
import { clientDeflate, describeCases, settledConnections, startEchoServer } from './runner.js';

let server: WebSocketServer;
let port = 0;

async function play(c: ConformanceCase): Promise<string[]> {
  const timeout = c.timeout ?? DEFAULT_CASE_TIMEOUT;
  const { socket, extensions, head } = await openClient(port, `/${c.id}`, c.deflate?.offer, timeout);
  const { deflate, problems } = clientDeflate(c, extensions);
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

  describeCases(play);

  it('leaves no connection open', async () => {
    assert.equal(await settledConnections(server), 0);
  });
});
