#!/usr/bin/env node
// Screenshot of the status page in Debian's headless chromium (playwright-core, no browser download):
//   node scripts/status-screenshot.mjs http://127.0.0.1:9577/ docs/status-page.png [width] [height]
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url = 'http://127.0.0.1:9577/', out = 'docs/status-page.png', w = '1280', h = '900'] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), 'sd-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: Number(w), height: Number(h) },
});
const page = await ctx.newPage();
await page.goto(url);
await page.waitForSelector('#live.on', { timeout: 10_000 });
await page.waitForTimeout(500);
await page.screenshot({ path: out, fullPage: false });
await ctx.close();
rmSync(profile, { recursive: true, force: true });
console.log(`wrote ${out}`);
