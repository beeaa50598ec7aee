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

  async function open(url: string, viewport = { width: 880, height: 640 }): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
    const context = await browser.newContext({ viewport });
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

  it('at 400 px wide, who is online, the message rate and both round trips stay on screen', { timeout: 60_000 }, async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const http = origin.replace('ws:', 'http:');
    const viewport = { width: 400, height: 700 };
    const ada = await open(`${http}/?name=Ada`, viewport);
    const linus = await open(`${http}/?name=Linus`, viewport);
    try {
      const { page } = ada;
      await page.locator('#users li', { hasText: 'Linus' }).waitFor({ timeout: 5000 });
      await page.waitForFunction(() => /ms$/.test(document.getElementById('rtt-app')!.textContent ?? ''), undefined, { timeout: 5000 });
      await page.waitForFunction(() => /ms$/.test(document.getElementById('rtt-frame')!.textContent ?? ''), undefined, { timeout: 5000 });
      // Each figure is shown (not display:none, not zero-sized) and lies inside the 400x700 viewport,
      // so nobody has to scroll sideways or find a hidden panel to see it.
      for (const selector of ['#users', '#user-count', '#rate', '#frames', '#rtt-app', '#rtt-frame', '#input', '#send']) {
        const element = page.locator(selector);
        assert.ok(await element.isVisible(), `${selector} is visible at 400 px`);
        const box = await element.boundingBox();
        assert.ok(box && box.width > 0 && box.height > 0, `${selector} has a size`);
        assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= viewport.width + 0.5 && box.y + box.height <= viewport.height + 0.5, `${selector} lies within the viewport: ${JSON.stringify(box)}`);
      }
      // Both names in the online list are on screen, and the page does not scroll sideways.
      for (const name of ['Ada', 'Linus']) {
        const box = await page.locator('#users li', { hasText: name }).boundingBox();
        assert.ok(box && box.x + box.width <= viewport.width + 0.5 && box.y + box.height <= viewport.height + 0.5, `${name} is on screen`);
      }
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), viewport.width);
      // And the conversation still works at that width.
      await page.fill('#input', 'narrow hello');
      await page.press('#input', 'Enter');
      await linus.page.locator('#messages .msg', { hasText: 'narrow hello' }).waitFor({ timeout: 5000 });
      assert.deepEqual([...ada.errors, ...linus.errors], []);
    } finally {
      await ada.close();
      await linus.close();
    }
  });

  it('the hint on the page is a command that works from a checkout (npx hybi connect ...)', { timeout: 60_000 }, async () => {
    const { origin } = await serve(['--demo', '--quiet']);
    const ada = await open(`${origin.replace('ws:', 'http:')}/`);
    try {
      assert.equal(await ada.page.locator('#try').textContent(), `npx hybi connect ${origin}/chat`);
    } finally {
      await ada.close();
    }
  });
});
