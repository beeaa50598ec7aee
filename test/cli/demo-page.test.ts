/**
 * The demo page in a real browser: Debian's headless Chromium driven by playwright-core, two
 * browser contexts (two people, nothing shared), talking through `hybi serve --demo`.
 *
 * With HYBI_DEMO_SCREENSHOT=path/to/file.png it also saves the picture the README shows: the two
 * windows side by side (`HYBI_DEMO_SCREENSHOT=docs/demo.png npm test -- cli/demo-page`).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { killAll, serve } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

afterEach(killAll);

describe('the chat demo in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed` }, () => {
  let browser: Browser;
  before(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });
  });
  after(async () => {
    await browser?.close();
  });

  async function open(url: string): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
    const context = await browser.newContext({ viewport: { width: 880, height: 640 } });
    const page = await context.newPage();
    const errors: string[] = [];
    // Any script error or CSP violation (a blocked inline script or style) fails the test.
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(url);
    await page.locator('#status.connected').waitFor({ timeout: 10_000 });
    return { page, errors, close: () => context.close() };
  }

  it('two people in two browser contexts see each other and each other\'s messages', { timeout: 60_000 }, async () => {
    // As npm start runs it: with permessage-deflate, which Chromium offers.
    const { origin } = await serve(['--demo', '--compress', '--quiet']);
    const http = origin.replace('ws:', 'http:');
    const ada = await open(`${http}/?name=Ada`);
    const linus = await open(`${http}/?name=Linus`);
    try {
      // Both see both in the list of who is connected.
      for (const { page } of [ada, linus]) {
        await page.locator('#users li', { hasText: 'Linus' }).waitFor({ timeout: 5000 });
        await page.locator('#users li', { hasText: 'Ada' }).waitFor({ timeout: 5000 });
        assert.equal(await page.locator('#user-count').textContent(), '2');
      }

      await ada.page.fill('#input', 'Hello from Ada <b>not bold</b>');
      await ada.page.press('#input', 'Enter');
      const received = linus.page.locator('#messages .msg', { hasText: 'Hello from Ada' });
      await received.waitFor({ timeout: 5000 });
      assert.equal(await received.locator('.name').textContent(), 'Ada');
      // Peer text is text, never markup.
      assert.equal(await received.locator('.text').textContent(), 'Hello from Ada <b>not bold</b>');
      assert.equal(await received.locator('b').count(), 0);
      // The sender sees it too, as its own.
      await ada.page.locator('#messages .msg.mine', { hasText: 'Hello from Ada' }).waitFor({ timeout: 5000 });
      assert.equal(await ada.page.inputValue('#input'), '');

      await linus.page.fill('#input', 'Hi Ada, Linus here');
      await linus.page.click('#send');
      await ada.page.locator('#messages .msg:not(.mine)', { hasText: 'Hi Ada, Linus here' }).waitFor({ timeout: 5000 });

      // The live figures fill in: the round trip of the app ping and the message rate.
      await ada.page.waitForFunction(() => /ms$/.test(document.getElementById('rtt-app')!.textContent ?? ''), undefined, { timeout: 5000 });
      await ada.page.waitForFunction(() => /ms$/.test(document.getElementById('rtt-frame')!.textContent ?? ''), undefined, { timeout: 5000 });
      await ada.page.waitForFunction(() => /per second$/.test(document.getElementById('frames')!.textContent ?? ''), undefined, { timeout: 5000 });


      await linus.close();
      await ada.page.locator('#messages .notice', { hasText: 'Linus left' }).waitFor({ timeout: 5000 });
      assert.equal(await ada.page.locator('#user-count').textContent(), '1');
      assert.deepEqual([...ada.errors, ...linus.errors], []);
    } finally {
      await ada.close();
      await linus.close().catch(() => {});
    }
  });

  const shot = process.env['HYBI_DEMO_SCREENSHOT'];
  it('saves the README picture: two tabs chatting', { skip: shot ? false : 'set HYBI_DEMO_SCREENSHOT=docs/demo.png to make it', timeout: 60_000 }, async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const http = origin.replace('ws:', 'http:');
    const ada = await open(`${http}/?name=Ada`);
    const linus = await open(`${http}/?name=Linus`);
    const grace = await open(`${http}/?name=Grace`);
    try {
      const lines: Array<[Page, string]> = [
        [ada.page, 'Hi both! This page is served by hybi serve --demo.'],
        [linus.page, 'And every line goes through a hybi WebSocket, no framework in between.'],
        [grace.page, 'The list on the right shows who is connected.'],
        [ada.page, 'The rate below it counts chat messages per second.'],
        [linus.page, 'Round trip: a JSON ping from the page, and a real RFC 6455 ping frame from the server.'],
        [ada.page, 'Open another tab and say hello!'],
      ];
      for (const [page, text] of lines) {
        await page.fill('#input', text);
        await page.press('#input', 'Enter');
        for (const p of [ada.page, linus.page]) await p.locator('#messages .msg', { hasText: text }).waitFor({ timeout: 5000 });
        await new Promise((r) => setTimeout(r, 700));
      }
      // Let the statistics and both round trips tick at least once more.
      await new Promise((r) => setTimeout(r, 2200));
      const left = (await ada.page.screenshot()).toString('base64');
      const right = (await linus.page.screenshot()).toString('base64');
      const frame = (title: string, png: string): string =>
        `<figure><div class="bar"><i></i><i></i><i></i><span>${title}</span></div><img src="data:image/png;base64,${png}"></figure>`;
      const context = await browser.newContext({ viewport: { width: 1860, height: 740 } });
      const page = await context.newPage();
      await page.setContent(`<!doctype html><style>
        body { margin: 0; padding: 30px; background: linear-gradient(135deg, #e0e7ff, #cffafe); display: flex; gap: 30px; font: 13px system-ui, sans-serif; }
        figure { margin: 0; border-radius: 10px; overflow: hidden; box-shadow: 0 12px 40px rgba(30, 41, 59, .25); background: #fff; }
        .bar { height: 34px; display: flex; align-items: center; gap: 7px; padding: 0 12px; background: #eef0f4; border-bottom: 1px solid #dde1e8; color: #5b6475; }
        .bar i { width: 11px; height: 11px; border-radius: 50%; background: #f87171; } .bar i:nth-child(2) { background: #fbbf24; } .bar i:nth-child(3) { background: #34d399; }
        .bar span { margin-left: 12px; } img { display: block; }
        </style>${frame(`Tab 1 — ${http}/ (Ada)`, left)}${frame(`Tab 2 — ${http}/ (Linus)`, right)}`);
      await page.screenshot({ path: resolve(shot!), fullPage: true });
      await context.close();
      assert.deepEqual([...ada.errors, ...linus.errors, ...grace.errors], []);
    } finally {
      for (const tab of [ada, linus, grace]) await tab.close().catch(() => {});
    }
  });
});
