/**
 * The status page's model, fed the events of real stunnel 5.68 logs (fixtures/): which state each proxy is
 * shown in and since when, the bounds (the last 50 problems, 15 minutes of per-minute counts), an event read
 * twice counted once, and hostile text escaped by the server-side renderer.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanFiles, type DoctorEvent } from '../src/index.js';
import { StatusBook, type ProxyFacts } from '../src/sinks/status.js';
import { renderStatus } from '../src/http/status-page.js';
import { logTimeMs } from '../src/time-window.js';

const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const events = async (proxy: string, ...files: string[]): Promise<DoctorEvent[]> => (await scanFiles(files.map(FIX), { proxy })).events;
const facts = (...proxies: string[]): ProxyFacts[] =>
  proxies.map((proxy) => ({ proxy, labels: {}, files: [{ path: `/var/log/stunnel4/${proxy}.log`, role: 'log', error: null }], openConnections: 0 }));

function clock(start = Date.UTC(2026, 11, 2, 12, 0, 30)) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe('status model', () => {
  it('tells each proxy\'s state from its real log, worst first', async () => {
    const book = new StatusBook({ now: clock().now });
    for (const e of await events('ldaps', 'expired/d5.log')) book.record(e);
    for (const e of await events('app', 'stderr-journal/d5.stderr')) book.record(e);
    for (const e of await events('cfg', 'config-unknown-option/d5.stderr')) book.record(e);
    for (const e of await events('idle')) book.record(e);
    const v = book.view(facts('app', 'cfg', 'idle', 'ldaps'));
    expect(v.proxies.map((p) => [p.proxy, p.badge])).toEqual([['cfg', 'DOWN'], ['app', 'FAILING'], ['ldaps', 'FAILING'], ['idle', 'UNKNOWN']]);
    const ldaps = v.proxies.find((p) => p.proxy === 'ldaps')!;
    expect(ldaps.stateText).toBe('cert_verify_failed/expired');
    expect(ldaps.since).toMatch(/^since 2026-11-22 \d\d:\d\d:\d\d$/);
    expect(ldaps.hint).toContain('expired');
    const cfg = v.proxies.find((p) => p.proxy === 'cfg')!;
    expect(cfg.stateText).toBe('config_failed/invalid_option');
    expect(cfg.since).toMatch(/UTC \(read\)$/); // stderr lines have no time: the time the sidecar read them
    expect(v.summary).toMatch(/^3 of 4 proxies broken: cfg \(down since .*\); app \(failing since .*\); ldaps \(failing since 2026-11-22 /);
    expect(v.summaryLevel).toBe('bad');
    // ?proxy= on the page: only that proxy's problems.
    const only = book.view(facts('app', 'cfg', 'idle', 'ldaps'), { proxy: 'ldaps' });
    expect(only.problems.length).toBeGreaterThan(0);
    expect(only.problems.every((x) => x.proxy === 'ldaps')).toBe(true);
    expect(only.proxies.length).toBe(4);
    // stderr-journal: a failed start, then a good one (no longer down) whose last connection was refused.
    const app = v.proxies.find((p) => p.proxy === 'app')!;
    expect(app.stateText).toBe('connect_failed/refused');
    expect(app.stateNote).toMatch(/^1 failed connection since the last good one/);
  });

  it('a successful connection ends a failing streak', async () => {
    const book = new StatusBook({ now: clock().now });
    for (const e of await events('billing', 'multi-service/d5.log')) book.record(e);
    expect(book.view(facts('billing')).proxies[0]!.state).toBe('failing');
    // Then a good run, read up to now (stunnel still running: its stop line not yet written).
    const good = await events('billing', 'success/d5.log');
    for (const e of good.slice(0, good.findIndex((e) => e.kind === 'proxy_stopped'))) book.record(e);
    const p = book.view(facts('billing')).proxies[0]!;
    expect(p.state).toBe('degraded');
    expect(p.stateNote).toBe('4 failures in the last 15 min');
  });

  it('keeps the last 50 problems and 15 minutes of counts', async () => {
    const c = clock();
    const book = new StatusBook({ now: c.now });
    // Six runs of too-many-clients in one file: 9 failures each, distinct offsets, distinct ids.
    const dir = mkdtempSync(join(tmpdir(), 'sd-status-model-'));
    const file = join(dir, 'busy.log');
    writeFileSync(file, readFileSync(FIX('too-many-clients/d5.log')).toString().repeat(6));
    const evs = (await scanFiles([file], { proxy: 'busy' })).events;
    rmSync(dir, { recursive: true, force: true });
    const fails = evs.filter((e) => e.severity === 'error' || e.severity === 'critical').length;
    expect(fails).toBe(54);
    for (const e of evs) book.record(e);
    let v = book.view(facts('busy'));
    expect(v.problems.length).toBe(50);
    expect(v.problems[0]!.id).toBe(evs.filter((e) => e.severity !== 'info').at(-1)!.id);
    expect(v.proxies[0]!.failures).toBe(54);
    expect(v.proxies[0]!.connections).toBe(54);
    expect(v.proxies[0]!.failuresSpark).toBe('··············█');
    // The same events read again (a restart before the checkpoint) are not counted again.
    for (const e of evs.filter((x) => x.severity !== 'info').slice(-5)) book.record(e);
    expect(book.view(facts('busy')).proxies[0]!.failures).toBe(54);
    // An id is remembered as long as its problem is held (the last 50): the oldest fell out, and counts again.
    book.record(evs.filter((x) => x.severity !== 'info')[0]!);
    expect(book.view(facts('busy')).proxies[0]!.failures).toBe(55);
    // Five minutes later the burst is five minutes back; sixteen minutes later it left the window.
    c.t += 5 * 60_000;
    v = book.view(facts('busy'));
    expect(v.proxies[0]!.failuresSpark).toBe('·········█·····');
    c.t += 11 * 60_000;
    v = book.view(facts('busy'));
    expect(v.proxies[0]!.failures).toBe(0);
    expect(v.problems.length).toBe(50); // the problems stay until newer ones replace them
  });

  it('renders hostile text as text on the server', async () => {
    const book = new StatusBook({ now: clock().now });
    for (const e of await events('web', 'hostile-subject/d5.log')) book.record(e);
    const html = renderStatus(book.view(facts('web')));
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<svg');
    expect(html).toContain('CN=&#34;&#60;img src=x onerror=alert(2)&#62;&#34;');
  });

  it('counts a live event when it is read, a backlog event at its log time', async () => {
    const evs = await events('billing', 'multi-service/d5.log'); // 5 connections, 4 of them failed, at 06:37:01-03
    const last = logTimeMs(evs.filter((e) => e.time !== null).at(-1)!.time);
    // Read as a backlog five minutes after the last line was written: five minutes back, whenever it is read.
    const c = clock(last + 5 * 60_000);
    const book = new StatusBook({ now: c.now });
    for (const e of evs) book.record(e, { backlog: true });
    let p = book.view(facts('billing')).proxies[0]!;
    expect([p.connections, p.failures]).toEqual([5, 4]);
    expect(p.failuresSpark).toMatch(/^·+█·{5}$/);
    // Read as a backlog a day later: nothing in the last 15 minutes, the state is the same.
    const late = new StatusBook({ now: clock(last + 86_400_000).now });
    for (const e of evs) late.record(e, { backlog: true });
    p = late.view(facts('billing')).proxies[0]!;
    expect([p.state, p.connections, p.failures]).toEqual(['failing', 0, 0]);
    // Read live a day later: counted now (the log time is the recording's, the read is now).
    const live = new StatusBook({ now: clock(last + 86_400_000).now });
    for (const e of evs) live.record(e);
    p = live.view(facts('billing')).proxies[0]!;
    expect([p.connections, p.failures]).toEqual([5, 4]);
    expect(p.failuresSpark).toBe('··············█');
    // A backlog failed start from stderr has no log time: it cannot be placed and is not counted; the proxy is down.
    const cfg = new StatusBook({ now: c.now });
    for (const e of await events('cfg', 'config-missing-cafile/d5.stderr')) cfg.record(e, { backlog: true });
    p = cfg.view(facts('cfg')).proxies[0]!;
    expect([p.state, p.failures]).toEqual(['down', 0]);
  });

  it('a proxy whose start keeps failing is down since the first failed start', async () => {
    const c = clock();
    const book = new StatusBook({ now: c.now });
    const first = await events('lic', 'config-missing-cafile/d5.stderr');
    for (const e of first) book.record(e);
    const since = book.view(facts('lic')).proxies[0]!.since;
    expect(since).toBe('since 2026-12-02 12:00:30 UTC (read)');
    c.t += 20_000; // restarted by its service manager, failing again (another real failed start)
    for (const e of await events('lic', 'config-bind-in-use/d5.stderr')) book.record(e);
    const p = book.view(facts('lic')).proxies[0]!;
    expect([p.state, p.stateText, p.since]).toEqual(['down', 'config_failed/bind_failed', since]);
  });
});
