/**
 * The demo page in a real browser: Debian's headless Chromium driven by playwright-core, two
 * browser contexts (two people, nothing shared), talking through `hybi serve --demo`.
 *
 * The README's picture is made by test/cli/demo-screenshot.ts (`npm run screenshot`), not here.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser, type Page } from 'playwright-core';
import { killAll, serve } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

afterEach(killAll);

// No silent skip when Chromium is missing: .ci/run installs it, and a browser test that quietly
// does not run would prove nothing.
describe('the chat demo in headless Chromium', () => {
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
});
