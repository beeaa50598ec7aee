/**
 * Headless Chromium (Debian's /usr/bin/chromium) as the RFC 8441 peer: a page served over HTTP/2
 * by an http2.createSecureServer({ allowHTTP1: true }) that hybi is attached to opens wss:// to the
 * same origin. With SETTINGS_ENABLE_CONNECT_PROTOCOL advertised, Chromium opens the WebSocket as a
 * stream of the page's HTTP/2 connection; without it, it falls back to an HTTP/1.1 upgrade.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { WebSocketServer } from '../../src/api/server.js';
import { selfSignedCertificate } from '../fixtures/cert.js';

const PAGE = `<!doctype html><meta charset="utf-8"><title>h2</title><script>
window.run = (url) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const got = [];
  ws.onopen = () => { ws.send('text '.repeat(200)); ws.send(new Uint8Array([1, 2, 3, 250])); };
  ws.onmessage = (e) => {
    got.push(typeof e.data === 'string' ? e.data : Array.from(new Uint8Array(e.data)));
    if (got.length === 2) ws.close(1000, 'done');
  };
  ws.onclose = (e) => resolve({ got, code: e.code, extensions: ws.extensions });
  ws.onerror = () => {};
});
</script>`;

describe('WebSocket over HTTP/2 with headless Chromium', () => {
  let context: BrowserContext;
  let profile: string;

  before(async () => {
    profile = mkdtempSync(join(tmpdir(), 'hybi-chromium-h2-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      timeout: 30_000,
      ignoreHTTPSErrors: true,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--ignore-certificate-errors',
      ],
    });
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** The h2 (and http/1.1) server with the page and hybi attached; `advertise` false turns the setting back off. */
  async function serve(t: TestContext, advertise: boolean) {
    const h2 = http2.createSecureServer({ ...selfSignedCertificate(), allowHTTP1: true }, (req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(PAGE);
    });
    const wss = new WebSocketServer({ compress: true });
    const seen: { transport: string; pageVersion?: string }[] = [];
    wss.route('/echo', async (ws) => {
      seen.push({ transport: ws.transport });
      for await (const m of ws) await ws.send(m.data);
    });
    wss.attach(h2);
    if (!advertise) h2.updateSettings({ enableConnectProtocol: false });
    const versions: string[] = [];
    h2.on('request', (req) => versions.push(req.httpVersion));
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    t.after(async () => {
      await wss.close();
      h2.close();
    });
    return { port: (h2.address() as AddressInfo).port, seen, versions };
  }

  for (const advertise of [true, false]) {
    it(advertise
      ? 'a page served over HTTP/2 opens wss:// as an RFC 8441 stream: text and binary echo, compressed'
      : 'without SETTINGS_ENABLE_CONNECT_PROTOCOL the same page falls back to an HTTP/1.1 upgrade', async (t) => {
      const { port, seen, versions } = await serve(t, advertise);
      const tab = await context.newPage();
      t.after(() => tab.close());
      await tab.goto(`https://127.0.0.1:${port}/`);
      const result = (await tab.evaluate((url) => (window as unknown as { run(u: string): Promise<unknown> }).run(url), `wss://127.0.0.1:${port}/echo`)) as {
        got: unknown[];
        code: number;
        extensions: string;
      };
      assert.equal(versions[0], '2.0', 'the page itself came over HTTP/2');
      assert.deepEqual(result.got, ['text '.repeat(200), [1, 2, 3, 250]]);
      assert.equal(result.code, 1000);
      assert.match(result.extensions, /^permessage-deflate/);
      assert.deepEqual(seen, [{ transport: advertise ? 'http2' : 'http1' }]);
    });
  }
});
