/**
 * Proof against the real thing: Debian's Prometheus scrapes a running sidecar that follows real stunnel logs
 * with failures (and loads the bundled alerting rules); every query of the dashboard is evaluated through
 * Prometheus' HTTP API: each parses, and the panels about failures and connections return data. The counters
 * equal the events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDoctor, type Doctor } from '../src/doctor.js';
import { HttpServer } from '../src/http/server.js';
import { scanFiles } from '../src/index.js';
import { startPrometheus, until as untilWith, type Prometheus, type QueryResult } from './helpers/prometheus.js';

const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const GRAFANA = new URL('../grafana/', import.meta.url).pathname;

const LOGS: Record<string, string[]> = {
  billing: ['multi-service/d5.log', 'checkhost-mismatch/d5.log'],
  ldaps: ['expired/d5.log', 'unknown-ca/d5.log'],
  licensing: ['connect-refused/d5.log', 'success/d5.log'],
};

let doctor: Doctor;
let http: HttpServer;
let prom: Prometheus | undefined;

const query = (expr: string): Promise<QueryResult> => prom!.query(expr);
const until = <T>(fn: () => Promise<T | undefined>, ms: number, what: string): Promise<T> =>
  untilWith(what, fn, ms, () => prom?.log().slice(-2000) ?? '');

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-prom-'));
  const proxies = Object.keys(LOGS).map((name) => ({ name, log: join(dir, `${name}.log`) }));
  for (const p of proxies) writeFileSync(p.log, '');
  doctor = await createDoctor({ proxies, pollMs: 100 });
  http = new HttpServer({
    hub: doctor.eventHub,
    metrics: async () => ({ contentType: doctor.metrics.contentType, body: await doctor.metrics.render() }),
    diagnose: (p) => doctor.diagnose(p),
    health: () => ({ ok: true }),
  });
  const target = (await http.listen('127.0.0.1', 0)).replace('http://', '');
  // The first scrape sees the series at zero, the next ones the failures: increase() has data.
  await new Promise((r) => setTimeout(r, 200));
  prom = await startPrometheus(dir, `rule_files: ['${join(GRAFANA, 'stunnel-doctor-alerts.yaml')}']
scrape_configs:
  - job_name: stunnel-doctor
    static_configs: [{ targets: ['${target}'] }]
`, 'scrape_interval: 1s, evaluation_interval: 1s');
  await until(async () => ((await query('up{job="stunnel-doctor"} == 1')).data?.result.length ? true : undefined), 20_000, 'first scrape');
  // The logs are appended twice (two runs each): series first seen at a scrape start there, and the
  // second run's failures make increase()/rate() move between scrapes, as on a live proxy.
  for (const round of [1, 2]) {
    for (const [name, files] of Object.entries(LOGS)) {
      for (const f of files) appendFileSync(join(dir, `${name}.log`), readFileSync(FIX(f)));
    }
    await until(async () => {
      const r = await query('sum(stunnel_failures_total{kind="cert_verify_failed"})');
      return Number(r.data?.result[0]?.value[1] ?? 0) >= 3 * round ? true : undefined;
    }, 20_000, `failures scraped (round ${round})`);
    await new Promise((r) => setTimeout(r, 2500));
  }
  await new Promise((r) => setTimeout(r, 3000));
}, 90_000);

afterAll(async () => {
  prom?.stop();
  await http?.close();
  await doctor?.close();
});

describe('a real Prometheus scraping the sidecar', () => {
  it('loaded the alerting rules', async () => {
    const r = (await (await fetch(`${prom!.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const rules = r.data.groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(8);
    expect(rules.filter((x) => x.health === 'err')).toEqual([]);
  });

  it('counters equal the events of the same logs', async () => {
    for (const [proxy, files] of Object.entries(LOGS)) {
      const events = (await scanFiles(files.map(FIX), { proxy })).events.filter((e) => e.severity === 'error' || e.severity === 'critical');
      const want = new Map<string, number>();
      for (const e of events) {
        const k = `${e.service ?? ''}|${e.kind}|${e.reason}`;
        want.set(k, (want.get(k) ?? 0) + 2); // each log was appended twice
      }
      const r = await query(`stunnel_failures_total{job="stunnel-doctor",proxy="${proxy}"} > 0`);
      const got = new Map(r.data!.result.map((s) => [`${s.metric.service ?? ''}|${s.metric.kind}|${s.metric.reason}`, Number(s.value[1])]));
      expect(got, proxy).toEqual(want);
    }
  });

  it('answers every dashboard query; failure and connection panels return data', async () => {
    const dash = JSON.parse(readFileSync(join(GRAFANA, 'stunnel-doctor-dashboard.json'), 'utf8')) as {
      panels: { title: string; type: string; targets?: { expr: string }[] }[];
      templating: { list: { name: string; query?: unknown }[] };
    };
    const fill = (expr: string) => expr
      .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
      .replace(/\$__range|\$\{__range\}/g, '5m')
      .replace(/\$__interval|\$\{__interval\}/g, '15s')
      .replace(/\$\{?(job|instance|proxy|service)\}?/g, '.*');
    const panels = dash.panels.filter((p) => p.targets?.length);
    expect(panels.length).toBeGreaterThan(10);
    const empty: string[] = [];
    for (const p of panels) {
      let data = false;
      for (const t of p.targets!) {
        const r = await query(fill(t.expr));
        expect(r.status, `${p.title}: ${t.expr}: ${r.error ?? ''}`).toBe('success');
        if ((r.data?.result.length ?? 0) > 0) data = true;
      }
      if (/fail|connection|reason|outcome|open|bytes|configuration/i.test(p.title) && !data) empty.push(p.title);
    }
    expect(empty).toEqual([]);
    for (const v of dash.templating.list) {
      const q = typeof v.query === 'object' && v.query ? (v.query as { query: string }).query : null;
      const m = q?.match(/^label_values\((.*), (\w+)\)$/);
      if (!m) continue;
      const r = await query(`count by (${m[2]}) (${fill(m[1]!)})`);
      expect(r.status, v.name).toBe('success');
      expect(r.data!.result.length, `variable ${v.name} has values`).toBeGreaterThan(0);
    }
  });
});
