/**
 * Proxies by glob (many stunnel instances, each with its own log): the files matching at start are followed,
 * a file that appears later is followed too, each as a proxy named after its path; a file that goes away
 * keeps its series for the grace period, then its series, its diagnose book and its checkpoint are removed.
 * Real stunnel 5.68 logs from fixtures/.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDoctor, type Doctor } from '../src/doctor.js';
import { scanFiles, type DoctorEvent } from '../src/index.js';
import { waitFor } from './helpers/wait.js';

const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const brief = (e: DoctorEvent) => `${e.proxy}:${e.kind}/${e.reason}/${e.service}/${e.connection}`;

const doctors: Doctor[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(doctors.splice(0).map((d) => d.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const series = (text: string, proxy: string): string[] => text.split('\n').filter((l) => !l.startsWith('#') && l.includes(`proxy="${proxy}"`));

describe('sidecar: proxies by glob', () => {
  it('follows files matching at start and appearing later (named after the path); forgets a removed one after the grace period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-glob-'));
    dirs.push(dir);
    const logs = join(dir, 'run');
    const state = join(dir, 'state');
    mkdirSync(logs);
    copyFileSync(FIX('expired/d5.log'), join(logs, 'ldaps.log'));
    writeFileSync(join(logs, 'notes.txt'), 'not a log\n'); // does not match the glob

    const got: DoctorEvent[] = [];
    const d = await createDoctor({
      proxies: [{ glob: join(logs, '*.log'), labels: { purpose: 'licensing' } }],
      labels: ['purpose'],
      stateDir: state,
      pollMs: 100,
      proxyGraceSeconds: 1,
      onEvent: (e) => got.push(e),
    });
    doctors.push(d);

    const wantLdaps = (await scanFiles([FIX('expired/d5.log')], { proxy: 'ldaps' })).events;
    await waitFor(() => got.filter((e) => e.proxy === 'ldaps').length >= wantLdaps.length, 'the events of ldaps.log');
    expect(got.filter((e) => e.proxy === 'ldaps').map(brief)).toEqual(wantLdaps.map(brief));
    expect(d.hasProxy('ldaps')).toBe(true);
    expect(d.hasProxy('notes')).toBe(false);
    expect(d.diagnose('ldaps').failures.map((e) => e.reason)).toEqual(['expired']);

    // A new stunnel instance starts later: its log appears (empty first, as stunnel creates it), then grows.
    const billing = join(logs, 'billing.log');
    writeFileSync(billing, '');
    await waitFor(() => d.hasProxy('billing'), 'billing.log to be discovered');
    appendFileSync(billing, readFileSync(FIX('multi-service/d5.log')));
    const wantBilling = (await scanFiles([FIX('multi-service/d5.log')], { proxy: 'billing' })).events;
    await waitFor(() => got.filter((e) => e.proxy === 'billing').length >= wantBilling.length, 'the events of billing.log');
    expect(got.filter((e) => e.proxy === 'billing').map(brief)).toEqual(wantBilling.map(brief));
    expect(d.diagnose('billing').failures.map((e) => e.kind)).toContain('connect_failed');

    const before = await d.metrics.render();
    expect(series(before, 'billing').some((l) => l.startsWith('stunnel_failures_total{') && l.includes('purpose="licensing"') && / [1-9]\d*$/.test(l))).toBe(true);
    expect(series(before, 'ldaps').some((l) => l.startsWith('stunnel_failures_total{') && l.includes('reason="expired"') && / 1$/.test(l))).toBe(true);
    const checkpoints = readdirSync(state).filter((n) => n.endsWith('.json'));
    expect(checkpoints.some((n) => n.startsWith('ldaps'))).toBe(true);

    // The ldaps instance goes away: its log is removed. Its series stay for the grace period, then go.
    rmSync(join(logs, 'ldaps.log'));
    await waitFor(async () => series(await d.metrics.render(), 'ldaps').length === 0, 'the series of ldaps to be removed');
    expect(d.hasProxy('ldaps')).toBe(false);
    expect(d.status().map((s) => s.proxy)).toEqual(['billing']);
    const after = await d.metrics.render();
    expect(series(after, 'billing')).not.toHaveLength(0);
    // Counters of the proxy that stays are untouched.
    const failuresOf = (t: string) => series(t, 'billing').filter((l) => l.startsWith('stunnel_failures_total{')).sort();
    expect(failuresOf(after)).toEqual(failuresOf(before));
    // Its checkpoint is gone too (a long-running sidecar does not collect one per instance that ever ran).
    await waitFor(() => !readdirSync(state).some((n) => n.startsWith('ldaps')), 'the checkpoint of ldaps to be removed');
    expect(existsSync(billing)).toBe(true);
  });

  it('a file removed and created again within the grace period stays the same proxy and is read again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-glob-'));
    dirs.push(dir);
    const log = join(dir, 'vpn.log');
    const bytes = readFileSync(FIX('connect-refused/d5.log'));
    writeFileSync(log, bytes);
    const got: DoctorEvent[] = [];
    const d = await createDoctor({ proxies: [{ glob: join(dir, '*.log') }], pollMs: 100, proxyGraceSeconds: 3600, onEvent: (e) => got.push(e) });
    doctors.push(d);
    const want = (await scanFiles([FIX('connect-refused/d5.log')], { proxy: 'vpn' })).events;
    await waitFor(() => got.length >= want.length, 'the events of vpn.log');
    rmSync(log);
    await waitFor(() => d.status().find((s) => s.proxy === 'vpn')?.files[0]?.error, 'the removal to be noticed');
    writeFileSync(log, bytes); // the instance starts again, same log
    await waitFor(() => got.length >= 2 * want.length, 'the events of the new vpn.log');
    expect(got.map(brief)).toEqual([...want, ...want].map(brief));
    await waitFor(() => d.status().find((s) => s.proxy === 'vpn')?.files[0]?.error === null, 'the error to clear');
    expect(d.hasProxy('vpn')).toBe(true);
  });

  it('a glob over rotated copies follows each log once, and two files with one proxy name do not flip it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-glob-'));
    dirs.push(dir);
    const [a, b] = [join(dir, 'a'), join(dir, 'b')];
    mkdirSync(a);
    mkdirSync(b);
    // `ldaps.log` with its rotated copies beside it (Debian's logrotate: .1, then .2.gz), all matched by `*`.
    copyFileSync(FIX('connect-refused/d5.log'), join(a, 'ldaps.log'));
    copyFileSync(FIX('checkhost-mismatch/d5.log'), join(a, 'ldaps.log.1'));
    copyFileSync(FIX('checkhost-mismatch/d5.log'), join(a, 'ldaps.log.2.gz'));
    // Another instance in another directory whose log has the same name.
    copyFileSync(FIX('checkhost-mismatch/d5.log'), join(b, 'ldaps.log'));
    const got: DoctorEvent[] = [];
    const d = await createDoctor({ proxies: [{ glob: join(a, '*') }, { glob: join(b, '*.log') }], pollMs: 100, onEvent: (e) => got.push(e) });
    doctors.push(d);
    const want = (await scanFiles([FIX('connect-refused/d5.log')], { proxy: 'ldaps' })).events;
    await waitFor(() => got.length >= want.length, 'the events of a/ldaps.log');
    // Several discovery rounds: the proxy stays on the first file.
    await new Promise((r) => setTimeout(r, 500));
    const st = d.status().filter((s) => s.proxy === 'ldaps');
    expect(st).toHaveLength(1);
    expect(st[0]!.files.map((f) => f.path)).toEqual([join(a, 'ldaps.log')]);
    expect(got.map(brief)).toEqual(want.map(brief));
  });
});
