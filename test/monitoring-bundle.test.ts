import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { DoctorMetrics, METRICS, METRIC_NAMES, type MetricSpec } from '../src/sinks/metrics.js';
import { HTTP_METRICS } from '../src/http/http-metrics.js';
import type { DoctorEvent } from '../src/events.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const grafana = join(root, 'grafana');
const ALERTS = join(grafana, 'stunnel-doctor-alerts.yaml');
const ALERT_TESTS = join(grafana, 'stunnel-doctor-alerts.test.yaml');
const DASHBOARD = join(grafana, 'stunnel-doctor-dashboard.json');
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
const DS_REF = { type: 'prometheus', uid: '${datasource}' };

/** Runs promtool; fails the test with promtool's own output. */
function promtool(args: string[], input?: string): string {
  const r = spawnSync(PROMTOOL, args, { cwd: grafana, input, encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${PROMTOOL} (Debian package prometheus): ${r.error.message}`);
  const out = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`promtool ${args.join(' ')} exited ${r.status}:\n${out}`);
  return out;
}

const PROMQL_WORDS = new Set([
  // aggregation operators and keywords
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
  'and', 'or', 'unless', 'offset', 'bool', 'atan2',
  // functions
  'abs', 'absent', 'absent_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'day_of_month',
  'day_of_week', 'day_of_year', 'days_in_month', 'delta', 'deriv', 'exp', 'floor', 'histogram_quantile',
  'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'ln', 'log2', 'log10',
  'minute', 'month', 'predict_linear', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt',
  'time', 'timestamp', 'vector', 'year', 'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time',
  'count_over_time', 'quantile_over_time', 'stddev_over_time', 'stdvar_over_time', 'last_over_time',
  'present_over_time',
]);

/** The metric names a PromQL expression (or a Grafana label_values() query) reads. */
function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""'); // label values, strings
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // ranges
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  s = s.replace(/^\s*label_values\s*\(([^,]*),[^)]*\)\s*$/, '$1');
  s = s.replace(/\$\w+/g, ' ');
  return (s.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? []).filter((w) => !PROMQL_WORDS.has(w));
}

function expectKnownMetrics(where: string, expr: string): void {
  const names = metricNames(expr);
  expect(names.length, `${where}: no metric in ${expr}`).toBeGreaterThan(0);
  for (const n of names) {
    expect(n === 'up' || METRIC_NAMES.includes(n), `${where}: ${n} is not in the metric catalogue (${expr})`).toBe(true);
  }
}

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const ruleFile = parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
const rules = ruleFile.groups.flatMap((g) => g.rules);

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    expect(promtool(['check', 'rules', ALERTS])).toMatch(/SUCCESS/);
  });

  it('pass their promtool unit tests', () => {
    expect(promtool(['test', 'rules', ALERT_TESTS])).toMatch(/SUCCESS/);
  });

  it('follow the naming, severity and annotation conventions and read only catalogue metrics', () => {
    expect(rules.length).toBeGreaterThanOrEqual(9);
    for (const r of rules) {
      expect(r.alert).toMatch(/^Stunnel(Doctor)?[A-Z][A-Za-z]+$/);
      expect(['critical', 'warning', 'info']).toContain(r.labels?.severity);
      expect(Object.keys(r.annotations ?? {}).sort()).toEqual(['description', 'runbook', 'summary']);
      expectKnownMetrics(r.alert!, r.expr);
    }
  });

  it('are all exercised, firing, by the unit tests', () => {
    const tests = parseYaml(readFileSync(ALERT_TESTS, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const firing = new Set<string>();
    const silent = new Set<string>();
    for (const t of tests.tests) {
      for (const a of t.alert_rule_test ?? []) (a.exp_alerts.length > 0 ? firing : silent).add(a.alertname);
    }
    for (const r of rules) {
      expect(firing.has(r.alert!), `${r.alert} never tested firing`).toBe(true);
      expect(silent.has(r.alert!), `${r.alert} never tested silent`).toBe(true);
    }
  });

  it('keep the sidecar job selector in one documented form', () => {
    const text = readFileSync(ALERTS, 'utf8');
    const selector = 'job=~".*stunnel-doctor.*"';
    expect(text.split('\n').slice(0, 10).join('\n')).toContain(selector);
    const upRules = rules.filter((r) => /\bup\b/.test(r.expr));
    expect(upRules.map((r) => r.alert).sort()).toEqual(['StunnelDoctorAbsent', 'StunnelDoctorDown']);
    for (const r of upRules) expect(r.expr).toContain(`up{${selector}}`);
  });
});

interface Target { expr?: string; datasource?: unknown }
interface Panel { type: string; title: string; datasource?: unknown; targets?: Target[]; panels?: Panel[] }
const dashboardText = readFileSync(DASHBOARD, 'utf8');
const dashboard = JSON.parse(dashboardText) as {
  uid: string; id: unknown; schemaVersion: number; panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; definition?: string; datasource?: unknown }[] };
};
const allPanels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));

describe('dashboard', () => {
  it('is provisioning-safe', () => {
    expect(dashboard.uid).toBe('stunnel-doctor');
    expect(dashboard.id).toBeNull();
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard).not.toHaveProperty('__inputs');
    expect(dashboardText).not.toMatch(/\$\{DS_|__inputs/);
    const ds = variables.get('datasource');
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' });
  });

  it('uses the datasource variable in every panel and target', () => {
    expect(allPanels.length).toBeGreaterThan(10);
    for (const p of allPanels) {
      expect(p.datasource, p.title).toEqual(DS_REF);
      if (p.type === 'row') continue;
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual(DS_REF);
    }
    for (const v of dashboard.templating.list) if (v.type === 'query') expect(v.datasource, v.name).toEqual(DS_REF);
  });

  it('has proxy and service variables from label_values', () => {
    for (const name of ['proxy', 'service']) {
      const v = variables.get(name);
      expect(v?.type, name).toBe('query');
      expect(v?.definition).toMatch(new RegExp(`^label_values\\(stunnel_\\w+\\{.*\\}, ${name}\\)$`));
    }
  });

  it('reads only catalogue metrics', () => {
    for (const p of allPanels) for (const t of p.targets ?? []) expectKnownMetrics(p.title, t.expr ?? '');
    for (const v of dashboard.templating.list) if (v.type === 'query') expectKnownMetrics(v.name, v.definition ?? '');
  });

  it('has PromQL that Prometheus parses', () => {
    const exprs = allPanels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
    const concrete = (e: string) => e
      .replace(/\$__rate_interval|\$__range|\$__interval/g, '5m')
      .replace(/\$(job|instance|proxy|service)\b/g, '.*');
    const file = join(mkdtempSync(join(tmpdir(), 'sd-dash-')), 'dashboard-exprs.yaml');
    writeFileSync(file, stringifyYaml({
      groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard:expr_${i}`, expr: concrete(e) })) }],
    }));
    expect(promtool(['check', 'rules', file])).toMatch(new RegExp(`SUCCESS: ${exprs.length} rules found`));
  });

  it('covers failures, connections, bytes, configuration, top failing and sidecar health', () => {
    const exprs = allPanels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
    const used = new Set(exprs.flatMap(metricNames));
    for (const name of [
      'stunnel_failures_total', 'stunnel_connections_accepted_total', 'stunnel_connections_finished_total',
      'stunnel_open_connections', 'stunnel_transferred_bytes_total', 'stunnel_proxy_config_ok', 'stunnel_proxy_info',
      'stunnel_doctor_lines_total', 'stunnel_doctor_file_size_bytes', 'stunnel_doctor_read_offset_bytes',
      'stunnel_doctor_events_dropped_total', 'stunnel_doctor_series_dropped_total',
      'stunnel_doctor_checkpoint_failures_total', 'stunnel_doctor_rules_reload_success', 'up',
    ]) expect(used.has(name), name).toBe(true);
    const all = exprs.join('\n');
    expect(all).toContain('sum by (kind, reason) (rate(stunnel_failures_total');
    expect(all).toContain('topk(10, sum by (proxy, service) (increase(stunnel_failures_total');
    expect(all).toContain('result="unmatched"');
  });
});

describe('README', () => {
  const readme = () => readFileSync(join(grafana, 'README.md'), 'utf8');
  /** The catalogue table between `<!-- tag:begin -->` and `<!-- tag:end -->`, as the catalogue object defines it. */
  const table = (specs: readonly MetricSpec[]): string => {
    const rows = specs.map((m) => {
      const labels = m.labels as readonly string[];
      const l = labels.map((x) => `\`${x}\``).join(', ') + (labels.includes('proxy') ? ', static labels' : '');
      return `| \`${m.name}\` | ${m.type} | ${l} | ${m.help} |`;
    });
    return ['| metric | type | labels | meaning |', '|---|---|---|---|', ...rows, ''].join('\n');
  };
  const block = (tag: string) => new RegExp(`<!-- ${tag}:begin -->\\n([\\s\\S]*?)<!-- ${tag}:end -->`).exec(readme())?.[1];

  it('lists the metric catalogue as METRICS defines it', () => {
    expect(block('metrics')).toBe(table(Object.values(METRICS)));
  });

  it('lists the endpoint\'s own metrics as HTTP_METRICS defines them', () => {
    expect(block('http-metrics')).toBe(table(Object.values(HTTP_METRICS)));
  });
});

describe('exposition', () => {
  it('passes promtool check metrics', async () => {
    const m = new DoctorMetrics({
      staticLabelNames: ['purpose'], version: '0.1.0',
      openConnections: () => [{ proxy: 'ldap', service: 'ldaps', count: 2 }],
    });
    m.setProxyLabels('ldap', { purpose: 'directory' });
    const common = { severity: 'error' as const, proxy: 'ldap', time: null, detail: [], hint: '', rule: 'r',
      source: { file: 'ldap.log', offsets: [0] } };
    const conn = { ...common, service: 'ldaps', connection: '7', peer: null, target: null, closeStatus: 'closed',
      durationSeconds: 1, bytesToTls: 12, bytesToSocket: 34 };
    const events: DoctorEvent[] = [
      { ...common, id: '1', kind: 'proxy_started', reason: 'ok', service: null, connection: null, version: '5.68', openssl: '3.0.11' },
      { ...conn, id: '2', kind: 'cert_verify_failed', reason: 'expired', depth: 0, subject: null },
      { ...conn, id: '3', kind: 'connection_closed', reason: 'ok' },
      { ...common, id: '4', kind: 'config_failed', reason: 'bind_failed', service: null, connection: null, phase: 'reload',
        configFile: null, configLine: null },
    ];
    for (const e of events) m.onEvent(e);
    m.accepted('ldap', 'ldaps');
    m.lines('ldap', 'matched', 4);
    m.fileStats('ldap', 10, 20);
    m.rotation('ldap', 'rename');
    m.stateDropped('ldap', 'run_end', 1);
    m.cutLines('ldap');
    const text = await m.render();
    expect(text).toContain('stunnel_failures_total{proxy="ldap",service="ldaps",kind="cert_verify_failed",reason="expired",purpose="directory"} 1');
    expect(promtool(['check', 'metrics'], text).trim()).toBe('');
  });
});
