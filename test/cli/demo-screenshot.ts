/**
 * Makes the README's picture of the demo (docs/demo.png): three people in the chat room, two of
 * the windows side by side. Not a test; run it with `npm run screenshot` after changing the page.
 */
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { killAll, serve } from './harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const shot = process.argv[2] ?? 'docs/demo.png';

const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 30_000 });

async function open(url: string): Promise<{ page: Page; errors: string[]; close(): Promise<void> }> {
  const context = await browser.newContext({ viewport: { width: 880, height: 640 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.locator('#status.connected').waitFor({ timeout: 10_000 });
  return { page, errors, close: () => context.close() };
}

try {
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
    await page.screenshot({ path: resolve(shot), fullPage: true });
    await context.close();
    const errors = [...ada.errors, ...linus.errors, ...grace.errors];
    if (errors.length > 0) throw new Error(`the page reported errors: ${errors.join('; ')}`);
    console.log(`saved ${resolve(shot)}`);
  } finally {
    for (const tab of [ada, linus, grace]) await tab.close().catch(() => {});
  }
} finally {
  await browser.close();
  await killAll();
}
