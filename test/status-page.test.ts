/**
 * The status page in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core, no
 * browser download): a sidecar follows logs that real stunnel 5.68 wrote (fixtures/), and the test reads
 * the page as a person would: every proxy with its state, a failure's reason, detail lines and hint, a
 * certificate subject made of HTML shown as text. Then lines of real failing runs are appended to a followed
 * log and the new failures appear without a reload; the delay from the write to the failure being on the
 * page is measured and printed (not asserted). Without JavaScript the page shows the same content.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createDoctor, type Doctor } from '../src/doctor.js';
import { HttpServer } from '../src/http/server.js';
import { statusPage, statusView } from '../src/http/status-page.js';
import { scanFiles, type DoctorEvent } from '../src/index.js';
import { waitFor } from './helpers/wait.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** The failure events a one-shot scan finds in a fixture: what the page must show, word for word. */
async function failuresOf(fixture: string): Promise<DoctorEvent[]> {
  const { events } = await scanFiles([FIX(fixture)], { proxy: 'x' });
  return events.filter((e) => e.severity === 'error' || e.severity === 'critical');
}

const profiles: string[] = [];
/** A new, empty user data dir per browser (removed at the end). */
async function browser(javaScriptEnabled: boolean): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'sd-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    javaScriptEnabled,
    viewport: { width: 1280, height: 900 },
  });
  profiles.push(profile);
  return ctx;
}

/** What a person reads in the page's main part; sparkline glyphs shift at minute boundaries, so they are left out. */
const mainText = (page: Page) => page.locator('main').innerText().then((t) => t.replace(/[·▁▂▃▄▅▆▇█]+/g, '~'));
const row = (page: Page, proxy: string) => page.locator(`#proxies tr[data-proxy="${proxy}"]`);

describe.skipIf(!existsSync(CHROMIUM))('status page in headless Chromium', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-status-'));
  const logs = {
    billing: join(dir, 'billing.log'),
    ldaps: join(dir, 'ldaps.log'),
    licensing: join(dir, 'licensing.log'),
    web: join(dir, 'web.log'),
  };
  let doctor: Doctor;
  let http: HttpServer;
  let url: string;
  let ctx: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    copyFileSync(FIX('multi-service/d5.log'), logs.billing);
    copyFileSync(FIX('success/d5.log'), logs.ldaps);
    writeFileSync(logs.licensing, '');
    copyFileSync(FIX('config-missing-cafile/d5.stderr'), join(dir, 'licensing.err'));
    copyFileSync(FIX('hostile-subject/d5.log'), logs.web);
    doctor = await createDoctor({
      proxies: [
        { name: 'billing', log: logs.billing, labels: { purpose: 'billing' } },
        { name: 'ldaps', log: logs.ldaps, labels: { purpose: 'directory' } },
        { name: 'licensing', log: logs.licensing, stderr: join(dir, 'licensing.err'), labels: { purpose: 'licensing' } },
        { name: 'web', log: logs.web, labels: { purpose: 'web' } },
      ],
      labels: ['purpose'],
    });
    http = new HttpServer({
      hub: doctor.eventHub,
      metrics: async () => ({ contentType: doctor.metrics.contentType, body: await doctor.metrics.render() }),
      diagnose: (proxy) => (doctor.hasProxy(proxy) ? doctor.diagnose(proxy) : null),
      health: () => ({ ok: true }),
      extra: statusPage(doctor),
    });
    url = await http.listen('127.0.0.1', 0);
    // The backlog is read: every proxy has its state.
    await waitFor(() => {
      const v = statusView(doctor);
      const st = Object.fromEntries(v.proxies.map((p) => [p.proxy, p.state]));
      return st.billing === 'failing' && st.ldaps === 'stopped' && st.licensing === 'down' && st.web === 'failing';
    }, 'every proxy\'s state from the backlog');
    ctx = await browser(true);
    page = await ctx.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await ctx?.close();
    await http?.close();
    await doctor?.close();
    for (const p of [dir, ...profiles]) rmSync(p, { recursive: true, force: true });
  });

  it('shows every proxy with its state, worst first, and what to do', async () => {
    const res = await page.goto(`${url}/`);
    expect(res?.status()).toBe(200);
    const csp = res?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    await page.waitForSelector('body[data-renders]', { timeout: 15_000 });
    await expect.poll(() => page.locator('#live').innerText()).toBe('live');

    const order = await page.locator('#proxies tbody tr').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-proxy')));
    expect(order).toEqual(['licensing', 'billing', 'web', 'ldaps']);
    const summary = await page.locator('#summary').innerText();
    expect(summary).toMatch(/^3 of 4 proxies broken: /);
    for (const p of ['licensing', 'billing', 'web']) expect(summary).toContain(p);

    // licensing: stunnel did not start (its stderr): the state, the reason and the hint, by the fixture's own event.
    const [cafile] = await failuresOf('config-missing-cafile/d5.stderr');
    const lic = await row(page, 'licensing').innerText();
    expect(lic).toContain('DOWN');
    expect(lic).toContain(`config_failed/${cafile!.reason}`);
    expect(lic).toContain(cafile!.hint);
    expect(lic).toContain('purpose=licensing');

    // billing (multi-service): its last connection failed with an expired certificate.
    const billing = await row(page, 'billing').innerText();
    expect(billing).toContain('FAILING');
    expect(billing).toMatch(/since 2026-\d\d-\d\d \d\d:\d\d:\d\d/);
    // Its 5 connections (4 failed) are backlog, counted at their log time (2026-11-22): not in the last 15 minutes.
    expect(billing).toMatch(/ 0 connections\s+\S+ 0 failures/);
    const ldaps = await row(page, 'ldaps').innerText();
    expect(ldaps).toContain('STOPPED');
    expect(ldaps).toContain('started 2026-');

    // A failure card: reason, where, every detail line and the hint.
    const [expired] = (await failuresOf('multi-service/d5.log')).filter((e) => e.reason === 'expired').slice(-1);
    const card = page.locator('#problems article', { hasText: `billing [${expired!.service}] #${expired!.connection}` }).filter({ hasText: 'cert_verify_failed/expired' });
    await expect.poll(() => card.count()).toBe(1);
    const text = await card.innerText();
    for (const line of expired!.detail) expect(text).toContain(line);
    expect(text).toContain(expired!.hint);
  });

  it('shows a hostile certificate subject as text, never as markup (as rendered by the server)', async () => {
    const [ev] = await failuresOf('hostile-subject/d5.log');
    const hostile = ev?.kind === 'cert_verify_failed' ? ev : undefined;
    expect(hostile!.subject).toContain('<img src=x onerror=alert(2)>');
    const card = page.locator('#problems article', { hasText: 'web [tls-client]' });
    await expect.poll(() => card.count()).toBe(1);
    const text = await card.innerText();
    expect(text).toContain(`subject ${hostile!.subject}`);
    expect(text).toContain(`Rejected by CERT at depth=0: ${hostile!.subject}`);
    expect(await page.locator('main img, main svg').count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it('shows new failures live, without a reload, and how long that took', async () => {
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const latencies: number[] = [];
    // Real failing runs appended to the ldaps log one after another, each watched from write to visible.
    for (const [fixture, what] of [
      ['expired/d5.log', 'cert_verify_failed/expired'],
      ['unknown-ca/d5.log', 'cert_verify_failed/unknown_issuer'],
      ['revoked/d5.log', 'cert_verify_failed/revoked'],
    ] as const) {
      const before = await page.locator('#problems article').count();
      await page.evaluate(({ what }) => {
        const w = window as unknown as { seenAt: number | null };
        w.seenAt = null;
        const look = (): void => {
          if (w.seenAt !== null) return;
          for (const a of document.querySelectorAll('#problems article')) {
            if (a.querySelector('.where')?.textContent?.startsWith('ldaps ') && a.querySelector('.what')?.textContent === what &&
              !a.hasAttribute('data-before')) w.seenAt = Date.now();
          }
        };
        for (const a of document.querySelectorAll('#problems article')) a.setAttribute('data-before', '');
        new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });
      }, { what });
      const wrote = Date.now();
      appendFileSync(logs.ldaps, readFileSync(FIX(fixture)));
      await page.waitForFunction(() => (window as unknown as { seenAt: number | null }).seenAt !== null, undefined, { timeout: 20_000 });
      const seenAt = await page.evaluate(() => (window as unknown as { seenAt: number }).seenAt);
      latencies.push(seenAt - wrote);
      expect(await page.locator('#problems article').count()).toBeGreaterThan(before);
      const [ev] = await failuresOf(fixture);
      const card = page.locator('#problems article').first();
      const text = await card.innerText();
      expect(text).toContain(what);
      expect(text).toContain(ev!.detail[0]!);
      expect(text).toContain(ev!.hint);
    }
    console.log(`status page: write -> failure visible: ${latencies.map((l) => `${l} ms`).join(', ')} (default 1 s poll with fs.watch)`);
    writeFileSync(join(tmpdir(), 'stunnel-doctor-status-latency.json'), JSON.stringify({ latenciesMs: latencies }));

    // The ldaps row follows: failing with the latest reason, and its hint.
    await expect.poll(() => row(page, 'ldaps').innerText()).toContain('FAILING');
    const ldaps = await row(page, 'ldaps').innerText();
    expect(ldaps).toContain('cert_verify_failed/revoked');
    expect(ldaps).toMatch(/3 failed connections since the last good one/);
    // Read live, they count when they were read: in the last 15 minutes, whatever their (recorded) log time.
    expect(ldaps).toMatch(/ 3 connections\s+\S+ 3 failures/);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    // A hostile subject arriving live is text too (this card is built by the page's script).
    appendFileSync(logs.web, readFileSync(FIX('hostile-subject/d5.log')));
    const hostile = page.locator('#problems article', { hasText: 'web [tls-client]' });
    await expect.poll(() => hostile.count(), { timeout: 20_000 }).toBe(2);
    expect(await hostile.first().innerText()).toContain('CN="<img src=x onerror=alert(2)>"');
    expect(await page.locator('main img, main svg').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });

  it('without JavaScript shows the same content', async () => {
    // Let the sidecar settle (the appended runs read to their end), then compare a fresh live page with a static one.
    const snapshot = () => JSON.stringify({ ...statusView(doctor), generatedAt: '' });
    for (let prev = snapshot(), i = 0; i < 60; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = snapshot();
      if (now === prev) break;
      prev = now;
    }
    const live = await ctx.newPage();
    await live.goto(`${url}/`);
    await live.waitForSelector('body[data-renders]', { timeout: 15_000 });
    const liveText = await mainText(live);
    const noJs = await browser(false);
    try {
      const stat = await noJs.newPage();
      await stat.goto(`${url}/`);
      expect(await stat.locator('body[data-renders]').count()).toBe(0);
      const staticText = await mainText(stat);
      expect(staticText).toBe(liveText);
      // The page open since the start drew the live failures with its script: the same text as the server's.
      await expect.poll(() => mainText(page), { timeout: 40_000 }).toBe(staticText);
      expect(staticText).toContain('cert_verify_failed/revoked');
      expect(staticText).toContain('CN="<img src=x onerror=alert(2)>"');
      expect(await stat.locator('#live').innerText()).toContain('JavaScript is off');
      expect(await stat.locator('main img, main svg').count()).toBe(0);
    } finally {
      await noJs.close();
    }
  });
});
