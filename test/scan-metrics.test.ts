/**
 * `scan --metrics FILE` (and scanFiles' `metrics` option): the sidecar's metrics sink fed by a one-shot scan of
 * the real fixture logs. The counters agree with the events and the line counts of the same scan, and with a
 * DoctorMetrics fed the events afterwards (as the sidecar feeds them); the CLI writes the text exposition.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanFiles } from '../src/scan.js';
import { DoctorMetrics } from '../src/sinks/metrics.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIX = (p: string): string => join(REPO, 'fixtures', p);
const NOW = () => 1_700_000_000_000;

type Series = { labels: Record<string, string | number>; value: number };
const values = async (m: DoctorMetrics, name: string): Promise<Series[]> =>
  (await m.registry.getSingleMetric(name)!.get()).values as Series[];
const key = (s: Series): string => JSON.stringify(Object.entries(s.labels).sort());
const byLabels = (xs: Series[]): Map<string, number> => new Map(xs.filter((s) => s.value !== 0).map((s) => [key(s), s.value]));

describe('scan with metrics', () => {
  it('counts what the events and line counts of the same scan say', async () => {
    const files = ['multi-service/d5.log', 'expired/d5.log', 'connect-refused/d5.log', 'restart-append/d5.log'];
    const m = new DoctorMetrics({ now: NOW });
    const fedAfter = new DoctorMetrics({ now: NOW });
    let accepted = 0;
    for (const f of files) {
      const proxy = f.split('/')[0]!;
      const r = await scanFiles([FIX(f)], { proxy, metrics: m });
      for (const e of r.events) fedAfter.onEvent(e);
      const lines = byLabels(await values(m, 'stunnel_doctor_lines_total'));
      for (const result of ['matched', 'unmatched', 'invalid'] as const) {
        expect(lines.get(JSON.stringify([['proxy', proxy], ['result', result]])) ?? 0, `${proxy} ${result}`).toBe(r.stats.lines[result]);
      }
      accepted += readFileSync(FIX(f), 'utf8').split('\n').filter((l) => / accepted connection/.test(l)).length;
    }
    for (const name of ['stunnel_failures_total', 'stunnel_connections_finished_total', 'stunnel_transferred_bytes_total',
      'stunnel_proxy_starts_total', 'stunnel_proxy_config_ok', 'stunnel_proxy_info', 'stunnel_last_failure_timestamp_seconds']) {
      expect(byLabels(await values(m, name)), name).toEqual(byLabels(await values(fedAfter, name)));
    }
    expect(byLabels(await values(m, 'stunnel_failures_total')).size).toBeGreaterThan(2);
    const acc = await values(m, 'stunnel_connections_accepted_total');
    expect(acc.reduce((a, s) => a + s.value, 0)).toBe(accepted);
    expect(accepted).toBeGreaterThan(0);
  });

  it('scan --metrics FILE writes the Prometheus text exposition', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-scan-metrics-'));
    try {
      const out = join(dir, 'scan.prom');
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', '-q', '--metrics', out, FIX('expired/d5.log')], {
        cwd: REPO, encoding: 'utf8',
      });
      expect(r.status).toBe(1); // an error-severity failure
      const text = readFileSync(out, 'utf8');
      expect(text).toMatch(/^# TYPE stunnel_failures_total counter$/m);
      expect(text).toMatch(/^stunnel_failures_total\{proxy="d5",service="[^"]*",kind="cert_verify_failed",reason="expired"\} [1-9]\d*$/m);
      expect(text).toMatch(/^stunnel_doctor_lines_total\{proxy="d5",result="matched"\} [1-9]\d*$/m);
      const bad = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', '-q', '--metrics', join(dir, 'no/such/dir/x.prom'), FIX('expired/d5.log')], {
        cwd: REPO, encoding: 'utf8',
      });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/cannot write .*x\.prom: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
