import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { scanFiles } from '../src/scan.js';
import { DoctorMetrics } from '../src/sinks/metrics.js';
import { CONNECTION_KINDS, isFailureKind, type DoctorEvent } from '../src/events.js';

// DoctorMetrics fed with the events of the real stunnel logs in fixtures/<scenario>/d5.log (one proxy per scenario).
const fixtures = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'fixtures');
const scenarios = readdirSync(fixtures).filter((d) => existsSync(join(fixtures, d, 'd5.log'))).sort();

type Series = { labels: Record<string, string | number>; value: number };
let m: DoctorMetrics;
const events: DoctorEvent[] = [];

async function values(name: string): Promise<Series[]> {
  return (await m.registry.getSingleMetric(name)!.get()).values as Series[];
}
function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const i of items) out.set(key(i), (out.get(key(i)) ?? 0) + 1);
  return out;
}
const isConnection = (e: DoctorEvent) => (CONNECTION_KINDS as readonly string[]).includes(e.kind);

beforeAll(async () => {
  m = new DoctorMetrics({ now: () => 1_700_000_000_000 });
  for (const s of scenarios) {
    const r = await scanFiles([join(fixtures, s, 'd5.log')], { proxy: s });
    events.push(...r.events);
  }
  for (const e of events) m.onEvent(e);
});

describe('metrics of the fixture logs', () => {
  it('have fixtures with certificate, connect and handshake failures', () => {
    expect(scenarios).toEqual(expect.arrayContaining(['expired', 'not-yet-valid', 'connect-refused', 'multi-service', 'success']));
    const kinds = new Set(events.map((e) => e.kind));
    for (const k of ['cert_verify_failed', 'connect_failed', 'tls_handshake_failed', 'connection_closed', 'proxy_started']) {
      expect(kinds, k).toContain(k);
    }
  });

  it('count the certificate failures of the expired and not-yet-valid logs', async () => {
    const failures = await values('stunnel_failures_total');
    for (const [proxy, reason] of [['expired', 'expired'], ['not-yet-valid', 'not_yet_valid'], ['multi-service', 'expired']] as const) {
      const n = events.filter((e) => e.proxy === proxy && e.kind === 'cert_verify_failed' && e.reason === reason).length;
      expect(n, proxy).toBeGreaterThan(0);
      const got = failures.filter((s) => s.labels.proxy === proxy && s.labels.kind === 'cert_verify_failed' && s.labels.reason === reason);
      expect(got.reduce((a, s) => a + s.value, 0), proxy).toBe(n);
    }
  });

  it('have one failure series per (proxy, service, kind, reason) equal to its number of events', async () => {
    const expected = countBy(events.filter((e) => isFailureKind(e.kind)),
      (e) => [e.proxy, e.service ?? '', e.kind, e.reason].join('|'));
    const got = new Map((await values('stunnel_failures_total')).filter((s) => s.value > 0)
      .map((s) => [[s.labels.proxy, s.labels.service, s.labels.kind, s.labels.reason].join('|'), s.value]));
    expect(got).toEqual(expected);
  });

  it('count finished connections by outcome and their bytes', async () => {
    const conns = events.filter(isConnection);
    const expected = countBy(conns, (e) => [e.proxy, e.service ?? '', e.kind === 'connection_closed' ? 'ok' : 'failed'].join('|'));
    const got = new Map((await values('stunnel_connections_finished_total')).filter((s) => s.value > 0)
      .map((s) => [[s.labels.proxy, s.labels.service, s.labels.outcome].join('|'), s.value]));
    expect(got).toEqual(expected);
    expect([...got.keys()].filter((k) => k.startsWith('success|')).length).toBeGreaterThan(0);

    let toTls = 0;
    let toSocket = 0;
    for (const e of conns) {
      if ('bytesToTls' in e) {
        toTls += e.bytesToTls ?? 0;
        toSocket += e.bytesToSocket ?? 0;
      }
    }
    const bytes = await values('stunnel_transferred_bytes_total');
    const total = (d: string) => bytes.filter((s) => s.labels.direction === d).reduce((a, s) => a + s.value, 0);
    expect(toTls).toBeGreaterThan(0);
    expect(total('to_tls')).toBe(toTls);
    expect(total('to_socket')).toBe(toSocket);
  });

  it('follow starts, reloads and configuration failures per proxy', async () => {
    const configOk = new Map((await values('stunnel_proxy_config_ok')).map((s) => [s.labels.proxy, s.value]));
    const starts = new Map((await values('stunnel_proxy_starts_total')).map((s) => [s.labels.proxy, s.value]));
    const info = await values('stunnel_proxy_info');
    for (const s of scenarios) {
      const evs = events.filter((e) => e.proxy === s);
      const last = evs.filter((e) => ['proxy_started', 'config_reloaded', 'config_failed'].includes(e.kind)).at(-1);
      expect(configOk.get(s), s).toBe(last === undefined ? undefined : last.kind === 'config_failed' ? 0 : 1);
      const started = evs.filter((e) => e.kind === 'proxy_started');
      expect(starts.get(s), s).toBe(started.length || undefined);
      const lastStart = started.at(-1);
      const infos = info.filter((i) => i.labels.proxy === s);
      if (lastStart?.kind === 'proxy_started') {
        expect(infos, s).toEqual([{ labels: { proxy: s, version: lastStart.version ?? '', openssl: lastStart.openssl ?? '' }, value: 1 }]);
      } else {
        expect(infos, s).toEqual([]);
      }
    }
    expect([...configOk.values()]).toContain(1);
  });

  it('render text that promtool check metrics accepts', async () => {
    const text = await m.render();
    const r = spawnSync(process.env.PROMTOOL ?? 'promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (r.error) throw r.error;
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});
