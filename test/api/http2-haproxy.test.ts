/**
 * WebSocket over HTTP/2 through HAProxy (Debian 2.6), which translates between an HTTP/1.1
 * upgrade and RFC 8441's extended CONNECT in both directions: hybi's HTTP/2 server behind a
 * `server ... proto h2` line serves `ws` and Python `websockets` clients that speak HTTP/1.1 to
 * HAProxy, and hybi's HTTP/2 client reaches a `ws` server (HTTP/1.1) through a `bind ... proto h2`
 * line. One haproxy process on free loopback ports carries both directions.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WsClient, { WebSocketServer as WsServer } from 'ws';
import { connect } from '../../src/api/connect.js';
import { WebSocketServer } from '../../src/api/server.js';
import { freePort, HAPROXY_DEFAULTS, startHaproxy, stopProcess } from '../helpers/haproxy.js';
import { waitFor } from '../helpers/wait.js';

// Compiled to build/test/api/; the fixtures stay in the source tree.
const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

describe('HAProxy between HTTP/1.1 and WebSocket over HTTP/2 (RFC 8441)', { timeout: 60_000 }, () => {
  let haproxy: ChildProcess | undefined;
  let h2: http2.Http2Server;
  let hybi: WebSocketServer;
  let wsServer: WsServer;
  /** HAProxy's HTTP/1.1 front, to hybi's h2c server. */
  let toHybi = 0;
  /** HAProxy's h2c front, to the ws server. */
  let toWs = 0;
  const hybiSaw: { transport: string; path: string; closed?: number }[] = [];
  const wsSaw: { upgrade: string | undefined; path: string }[] = [];

  before(async () => {
    hybi = new WebSocketServer({ protocols: ['chat.v2'], compress: true });
    hybi.on('connection', async (ws, req) => {
      const entry: (typeof hybiSaw)[number] = { transport: ws.transport, path: req.url ?? '' };
      hybiSaw.push(entry);
      ws.on('close', (code) => (entry.closed = code));
      for await (const m of ws) await ws.send(m.data);
    });
    h2 = http2.createServer();
    hybi.attach(h2);
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');

    wsServer = new WsServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
    await once(wsServer, 'listening');
    wsServer.on('connection', (ws, req) => {
      wsSaw.push({ upgrade: req.headers.upgrade, path: req.url ?? '' });
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });

    toHybi = await freePort();
    toWs = await freePort();
    haproxy = await startHaproxy(
      [
        ...HAPROXY_DEFAULTS,
        'frontend http1_in',
        `  bind 127.0.0.1:${toHybi}`,
        '  default_backend hybi_h2',
        'backend hybi_h2',
        `  server hybi 127.0.0.1:${(h2.address() as AddressInfo).port} proto h2`,
        'frontend h2_in',
        `  bind 127.0.0.1:${toWs} proto h2`,
        '  default_backend ws_http1',
        'backend ws_http1',
        `  server ws 127.0.0.1:${(wsServer.address() as AddressInfo).port}`,
      ],
      [toHybi, toWs],
    );
  });

  after(async () => {
    if (haproxy) await stopProcess(haproxy);
    await hybi?.close();
    h2?.close();
    wsServer?.close();
  });

  it("serves a ws client (HTTP/1.1 to HAProxy) from hybi's HTTP/2 server (proto h2 on the server line)", async () => {
    const client = new WsClient(`ws://127.0.0.1:${toHybi}/from-ws`, ['chat.v2'], { perMessageDeflate: true });
    await once(client, 'open');
    assert.equal(client.protocol, 'chat.v2');
    assert.match(client.extensions, /permessage-deflate/);
    client.send('through haproxy');
    const [text] = (await once(client, 'message')) as [Buffer];
    assert.equal(text.toString(), 'through haproxy');
    client.send(Buffer.from([1, 2, 3]));
    const [binary, isBinary] = (await once(client, 'message')) as [Buffer, boolean];
    assert.deepEqual([...binary], [1, 2, 3]);
    assert.equal(isBinary, true);
    client.close(1000);
    const [code] = (await once(client, 'close')) as [number];
    assert.equal(code, 1000);
    const seen = hybiSaw.find((s) => s.path === '/from-ws');
    assert.equal(seen?.transport, 'http2');
    await waitFor(() => seen?.closed !== undefined, { what: "hybi's close event" });
    assert.equal(seen?.closed, 1000);
  });

  it("serves a Python websockets client (HTTP/1.1 to HAProxy) from hybi's HTTP/2 server", async () => {
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/python3', [join(fixtures, 'server-python-client.py'), `ws://127.0.0.1:${toHybi}/py`], { timeout: 15_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      );
    });
    const seen = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(seen.protocol, 'chat.v2');
    assert.deepEqual(seen.extensions, ['permessage-deflate']);
    assert.equal(seen.text, 'héllo ✓');
    assert.equal(seen.binary_hex, Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('hex'));
    assert.equal(seen.close_code, 4001);
    assert.equal(hybiSaw.find((s) => s.path === '/py')?.transport, 'http2');
  });

  it("takes hybi's HTTP/2 client (transport http2, h2c) to a ws server that speaks HTTP/1.1 (proto h2 on the bind line)", async () => {
    const ws = await connect(`ws://127.0.0.1:${toWs}/from-hybi`, { transport: 'http2', compress: true });
    assert.equal(ws.transport, 'http2');
    assert.match(ws.extensions, /^permessage-deflate/);
    await ws.send('over h2 to http/1.1');
    assert.deepEqual(await ws.receive(), { type: 'text', data: 'over h2 to http/1.1' });
    await ws.send(new Uint8Array([7, 7, 7]));
    assert.deepEqual([...((await ws.receive()).data as Buffer)], [7, 7, 7]);
    assert.equal((await ws.close()).code, 1000);
    assert.deepEqual(wsSaw, [{ upgrade: 'websocket', path: '/from-hybi' }]);
  });
});
