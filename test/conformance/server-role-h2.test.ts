/**
 * Conformance, server role, over HTTP/2 (RFC 8441): the same cases and the same fuzzing client as
 * server-role.test.ts, each case on its own extended CONNECT stream of one shared h2c session to
 * an echoing WebSocketServer attached to `http2.createServer()`. What counts as the server
 * "closing TCP" over HTTP/1.1 is here the server ending (END_STREAM) or resetting its stream; the
 * session itself must survive every case.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from '../../src/api/server.js';
import { GROUPS, LARGEST_MESSAGE } from './cases.js';
import { DEFAULT_CASE_TIMEOUT, Fuzzer, fuzzerDeflate, type ConformanceCase, type FuzzerDeflate } from './harness.js';

let server: WebSocketServer;
let h2: http2.Http2Server;
let session: http2.ClientHttp2Session;

async function play(c: ConformanceCase): Promise<string[]> {
  const timeout = c.timeout ?? DEFAULT_CASE_TIMEOUT;
  const problems: string[] = [];
  const headers: http2.OutgoingHttpHeaders = { ':method': 'CONNECT', ':protocol': 'websocket', ':path': `/${c.id}`, 'sec-websocket-version': '13' };
  if (c.deflate?.offer !== undefined) headers['sec-websocket-extensions'] = c.deflate.offer;
  const stream = session.request(headers);
  stream.on('error', () => {});
  const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  if (Number(response[':status']) !== 200) return [`the server answered ${response[':status']}`];
  const extensions = String(response['sec-websocket-extensions'] ?? '');
  let deflate: FuzzerDeflate | null = null;
  if (c.deflate !== undefined) {
    deflate = fuzzerDeflate(extensions, 'client');
    if (deflate === null) problems.push(`the server declined the permessage-deflate offer "${c.deflate.offer}"`);
  } else if (extensions !== '') {
    problems.push(`the server answered extensions "${extensions}" that were not offered`);
  }
  const fuzzer = new Fuzzer(stream, 'client', deflate, timeout);
  fuzzer.start(Buffer.alloc(0));
  problems.push(...(await fuzzer.play(c)));
  return problems;
}

describe('Conformance, server role over HTTP/2 streams (RFC 8441): the fuzzing client against an echoing WebSocketServer', () => {
  before(async () => {
    server = new WebSocketServer({ compress: { threshold: 0 }, maxMessageSize: LARGEST_MESSAGE, maxFrameSize: LARGEST_MESSAGE });
    server.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => void ws.send(data, { binary: isBinary }));
    });
    // Windows as large as the cases' messages, so that flow control paces nothing but the peers.
    h2 = http2.createServer({ settings: { initialWindowSize: 16 * 1024 * 1024 } });
    server.attach(h2);
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    session = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`, { settings: { initialWindowSize: 16 * 1024 * 1024 } });
    session.on('error', () => {});
    await once(session, 'remoteSettings');
  });
  after(async () => {
    session.destroy();
    await server.close();
    h2.close();
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

  it('leaves no connection open, and the one session carried every case', async () => {
    const deadline = Date.now() + DEFAULT_CASE_TIMEOUT;
    while (server.connectionCount > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(server.connectionCount, 0);
    assert.equal(session.closed || session.destroyed, false);
  });
});
