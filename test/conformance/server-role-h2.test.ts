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
import type { WebSocketServer } from '../../src/api/server.js';
import { DEFAULT_CASE_TIMEOUT, Fuzzer, type ConformanceCase } from './harness.js';
import { clientDeflate, describeCases, settledConnections, startEchoServer } from './runner.js';

let server: WebSocketServer;
let h2: http2.Http2Server;
let session: http2.ClientHttp2Session;

async function play(c: ConformanceCase): Promise<string[]> {
  const timeout = c.timeout ?? DEFAULT_CASE_TIMEOUT;
  const headers: http2.OutgoingHttpHeaders = { ':method': 'CONNECT', ':protocol': 'websocket', ':path': `/${c.id}`, 'sec-websocket-version': '13' };
  if (c.deflate?.offer !== undefined) headers['sec-websocket-extensions'] = c.deflate.offer;
  const stream = session.request(headers);
  stream.on('error', () => {});
  const [response] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  if (Number(response[':status']) !== 200) return [`the server answered ${response[':status']}`];
  const { deflate, problems } = clientDeflate(c, String(response['sec-websocket-extensions'] ?? ''));
  const fuzzer = new Fuzzer(stream, 'client', deflate, timeout);
  fuzzer.start(Buffer.alloc(0));
  problems.push(...(await fuzzer.play(c)));
  return problems;
}

describe('Conformance, server role over HTTP/2 streams (RFC 8441): the fuzzing client against an echoing WebSocketServer', () => {
  before(async () => {
    server = startEchoServer();
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

  describeCases(play);

  it('leaves no connection open, and the one session carried every case', async () => {
    assert.equal(await settledConnections(server), 0);
    assert.equal(session.closed || session.destroyed, false);
  });
});
