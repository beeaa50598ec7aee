/**
 * `hybi connect --proxy URL` through a real tinyproxy, run as a subprocess: the connection goes
 * through the proxy, a proxy wanting credentials is exit 1 with its challenge on stderr, and a
 * proxy URL connect() refuses is a usage error (exit 2).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer } from '../../src/api/server.js';
import type { WebSocket } from '../../src/api/websocket.js';
import { startTinyproxy, type ProxyProcess } from '../fixtures/proxies.js';
import { killAll, runCli } from './harness.js';

afterEach(killAll);

describe('hybi connect --proxy', () => {
  let server: WebSocketServer;
  let port: number;
  let open: ProxyProcess;
  let guarded: ProxyProcess;

  before(async () => {
    server = new WebSocketServer();
    server.on('connection', (ws: WebSocket) => {
      ws.on('message', (data: unknown) => void ws.send(`echo: ${String(data)}`).catch(() => {}));
    });
    ({ port } = await server.listen({ port: 0, host: '127.0.0.1' }));
    [open, guarded] = await Promise.all([startTinyproxy([port]), startTinyproxy([port], { user: 'carol', password: 'letmein' })]);
  });
  after(async () => {
    await Promise.all([open?.stop(), guarded?.stop(), server?.close()]);
  });

  it('tunnels through the proxy, with credentials from the URL', async () => {
    const done = await runCli(['connect', `ws://127.0.0.1:${port}/`, '--proxy', `http://127.0.0.1:${open.port}`, '--count', '1'], 'via proxy\n');
    assert.equal(done.stdout, 'echo: via proxy\n');
    assert.equal(done.status, 0);
    assert.match(open.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${port} HTTP/1\\.1`));
    const authed = await runCli(['connect', `ws://127.0.0.1:${port}/`, '--proxy', `http://carol:letmein@127.0.0.1:${guarded.port}`, '--count', '1'], 'with a password\n');
    assert.equal(authed.stdout, 'echo: with a password\n');
    assert.equal(authed.status, 0);
  });

  it('a proxy that wants credentials: exit 1, the challenge on stderr', async () => {
    const done = await runCli(['connect', `ws://127.0.0.1:${port}/`, '--proxy', `http://127.0.0.1:${guarded.port}`]);
    assert.equal(done.status, 1);
    assert.match(done.stderr, /wants authentication: 407.*it asks for: Basic realm="Tinyproxy"/);
  });

  it('a proxy URL connect() cannot use is a usage error (exit 2)', async () => {
    const done = await runCli(['connect', `ws://127.0.0.1:${port}/`, '--proxy', 'gopher://127.0.0.1:70']);
    assert.equal(done.status, 2);
    assert.match(done.stderr, /unsupported proxy scheme 'gopher'/);
  });
});
