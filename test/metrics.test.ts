import { describe, expect, it } from 'vitest';
import {
  DoctorMetrics, METRICS, METRIC_NAMES, type DoctorMetricsOptions, type OpenConnectionCount,
} from '../src/sinks/metrics.js';
import {
  REASONS,
  type CertVerifyFailedEvent, type ConfigFailedEvent, type ConfigReloadedEvent, type ConnectFailedEvent,
  type ConnectionClosedEvent, type ConnectionRejectedEvent, type DoctorEvent, type ProxyStartedEvent,
  type ProxyStoppedEvent, type TlsHandshakeFailedEvent,
} from '../src/events.js';

// Events are built by hand as DoctorEvent objects (no stunnel log text): these tests are about the sink.

let seq = 0;
function base(proxy: string, service: string | null, connection: string | null) {
  seq++;
  return {
    id: `${proxy}-${seq}`, severity: 'error' as const, proxy, service, connection, time: '2024-05-01T10:00:00',
    detail: [], source: { file: `/var/log/stunnel4/${proxy}.log`, offsets: [seq * 100] }, hint: '', rule: 'test',
  };
}
const conn = { peer: '192.0.2.7:50000', target: '198.51.100.1:389', bytesToTls: null, bytesToSocket: null,
  closeStatus: null, durationSeconds: null };

function certFailed(proxy: string, service: string | null, reason: CertVerifyFailedEvent['reason']): CertVerifyFailedEvent {
  return { ...base(proxy, service, '1'), ...conn, kind: 'cert_verify_failed', reason, depth: 0, subject: '/CN=x' };
}
function connectFailed(proxy: string, service: string | null, reason: ConnectFailedEvent['reason']): ConnectFailedEvent {
  return { ...base(proxy, service, '2'), ...conn, kind: 'connect_failed', reason };
}
function handshakeFailed(proxy: string, service: string | null, reason: TlsHandshakeFailedEvent['reason'],
  bytes: [number, number] | null = null): TlsHandshakeFailedEvent {
  return { ...base(proxy, service, '3'), ...conn, kind: 'tls_handshake_failed', reason,
    bytesToTls: bytes?.[0] ?? null, bytesToSocket: bytes?.[1] ?? null };
}
function closed(proxy: string, service: string | null, toTls: number | null, toSocket: number | null,
  reason: ConnectionClosedEvent['reason'] = 'ok'): ConnectionClosedEvent {
  return { ...base(proxy, service, '4'), ...conn, kind: 'connection_closed', reason, bytesToTls: toTls,
    bytesToSocket: toSocket, closeStatus: 'closed' };
}
function rejected(proxy: string, service: string | null): ConnectionRejectedEvent {
  return { ...base(proxy, service, '5'), kind: 'connection_rejected', reason: 'too_many_clients', peer: null };
}
function started(proxy: string, version: string | null, openssl: string | null): ProxyStartedEvent {
  return { ...base(proxy, null, null), kind: 'proxy_started', reason: 'ok', severity: 'info', version, openssl };
}
function stopped(proxy: string): ProxyStoppedEvent {
  return { ...base(proxy, null, null), kind: 'proxy_stopped', reason: 'terminated', severity: 'info' };
}
function configFailed(proxy: string, phase: 'start' | 'reload'): ConfigFailedEvent {
  return { ...base(proxy, null, null), kind: 'config_failed', reason: 'missing_file', severity: 'critical', phase,
    configFile: '/etc/stunnel/x.conf', configLine: 12 };
}
function reloaded(proxy: string): ConfigReloadedEvent {
  return { ...base(proxy, null, null), kind: 'config_reloaded', reason: 'ok', severity: 'info' };
}

type Series = { labels: Record<string, string | number>; value: number };
async function series(m: DoctorMetrics, name: string): Promise<Series[]> {
  const metric = m.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as Series[];
}
/** The sum of the series of `name` whose labels include `labels`. */
async function sum(m: DoctorMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await series(m, name))
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}
async function count(m: DoctorMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await series(m, name)).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v)).length;
}

function metrics(opts: DoctorMetricsOptions = {}): DoctorMetrics {
  return new DoctorMetrics({ now: () => 1_700_000_000_000, version: '1.2.3', ...opts });
}

describe('catalogue', () => {
  it('follows the naming conventions', () => {
    for (const spec of Object.values(METRICS)) {
      expect(spec.name).toMatch(/^stunnel_[a-z0-9_]+$/);
      if (spec.type === 'counter') expect(spec.name).toMatch(/_total$/);
      else expect(spec.name).not.toMatch(/_total$/);
      for (const l of spec.labels) expect(l).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(spec.help.length).toBeGreaterThan(10);
    }
    expect(new Set(METRIC_NAMES).size).toBe(METRIC_NAMES.length);
  });

  it('is exactly what the registry holds, with the catalogue labels', () => {
    const m = metrics();
    const registered = m.registry.getMetricsAsArray();
    expect(registered.map((r) => r.name).sort()).toEqual([...METRIC_NAMES].sort());
    for (const spec of Object.values(METRICS)) {
      const r = m.registry.getSingleMetric(spec.name) as unknown as { labelNames: string[]; type: string };
      expect(r.type).toBe(spec.type);
      expect(r.labelNames).toEqual([...spec.labels]);
    }
  });
});

describe('DoctorMetrics events', () => {
  it('counts failures, outcomes and bytes exactly as the events say', async () => {
    const m = metrics();
    const events: DoctorEvent[] = [
      certFailed('ldap', 'ldaps', 'expired'), certFailed('ldap', 'ldaps', 'expired'), certFailed('ldap', 'ldaps', 'expired'),
      certFailed('ldap', 'ldaps', 'unknown_issuer'),
      connectFailed('ldap', 'ldaps', 'refused'), connectFailed('ldap', 'ldaps', 'refused'),
      handshakeFailed('ldap', 'ldaps', 'protocol_version', [0, 7]),
      closed('ldap', 'ldaps', 100, 2000), closed('ldap', 'ldaps', 50, null), closed('ldap', 'ldaps', null, null, 'reset'),
      rejected('ldap', 'ldaps'),
      stopped('ldap'),
    ];
    for (const e of events) m.onEvent(e);
    const F = 'stunnel_failures_total';
    expect(await sum(m, F, { proxy: 'ldap', service: 'ldaps', kind: 'cert_verify_failed', reason: 'expired' })).toBe(3);
    expect(await sum(m, F, { kind: 'cert_verify_failed', reason: 'unknown_issuer' })).toBe(1);
    expect(await sum(m, F, { kind: 'connect_failed', reason: 'refused' })).toBe(2);
    expect(await sum(m, F, { kind: 'tls_handshake_failed', reason: 'protocol_version' })).toBe(1);
    expect(await sum(m, F, { kind: 'connection_rejected', reason: 'too_many_clients' })).toBe(1);
    // Only failure kinds are failures.
    expect(await sum(m, F)).toBe(events.filter((e) => e.kind !== 'connection_closed' && e.kind !== 'proxy_stopped').length);
    expect(await count(m, F, { kind: 'connection_closed' })).toBe(0);

    const FIN = 'stunnel_connections_finished_total';
    expect(await sum(m, FIN, { proxy: 'ldap', service: 'ldaps', outcome: 'ok' })).toBe(3);
    expect(await sum(m, FIN, { outcome: 'failed' })).toBe(4 + 2 + 1);
    const B = 'stunnel_transferred_bytes_total';
    expect(await sum(m, B, { direction: 'to_tls' })).toBe(150);
    expect(await sum(m, B, { direction: 'to_socket' })).toBe(2007);

    const T = 'stunnel_last_failure_timestamp_seconds';
    expect(await sum(m, T, { proxy: 'ldap', kind: 'cert_verify_failed' })).toBe(1_700_000_000);
    expect(await count(m, T)).toBe(4); // cert, connect, handshake, rejected
  });

  it('labels a missing service as the empty string', async () => {
    const m = metrics();
    m.onEvent(connectFailed('ldap', null, 'dns'));
    m.onEvent(configFailed('ldap', 'start'));
    m.accepted('ldap', null);
    expect(await sum(m, 'stunnel_failures_total', { service: '', kind: 'connect_failed', reason: 'dns' })).toBe(1);
    expect(await sum(m, 'stunnel_failures_total', { service: '', kind: 'config_failed', reason: 'missing_file' })).toBe(1);
    expect(await sum(m, 'stunnel_connections_accepted_total', { proxy: 'ldap', service: '' })).toBe(1);
    expect(await sum(m, 'stunnel_connections_finished_total', { service: '', outcome: 'failed' })).toBe(1);
  });

  it('maps a reason outside the closed set to other', async () => {
    const m = metrics();
    m.onEvent({ ...connectFailed('ldap', 's', 'refused'), reason: 'ECONNWEIRD' } as unknown as DoctorEvent);
    expect(await sum(m, 'stunnel_failures_total', { kind: 'connect_failed', reason: 'other' })).toBe(1);
    expect(await count(m, 'stunnel_failures_total', { reason: 'ECONNWEIRD' })).toBe(0);
  });

  it('tracks starts, configuration state and versions', async () => {
    const m = metrics();
    const ok = async (proxy: string) => sum(m, 'stunnel_proxy_config_ok', { proxy });
    m.onEvent(started('ldap', '5.68', '3.0.11'));
    expect(await ok('ldap')).toBe(1);
    m.onEvent(configFailed('ldap', 'reload'));
    expect(await ok('ldap')).toBe(0);
    m.onEvent(reloaded('ldap'));
    expect(await ok('ldap')).toBe(1);
    m.onEvent(configFailed('ldap', 'start'));
    expect(await ok('ldap')).toBe(0);
    m.onEvent(started('ldap', '5.68', '3.0.11'));
    expect(await ok('ldap')).toBe(1);
    expect(await sum(m, 'stunnel_proxy_starts_total', { proxy: 'ldap' })).toBe(2);

    const info = async () => (await series(m, 'stunnel_proxy_info')).map((s) => ({ ...s.labels, value: s.value }));
    expect(await info()).toEqual([{ proxy: 'ldap', version: '5.68', openssl: '3.0.11', value: 1 }]);
    m.onEvent(started('smtp', null, null));
    m.onEvent(started('ldap', '5.75', '3.5.1'));
    expect(await info()).toEqual([
      { proxy: 'smtp', version: '', openssl: '', value: 1 },
      { proxy: 'ldap', version: '5.75', openssl: '3.5.1', value: 1 },
    ]);
    expect(await sum(m, 'stunnel_proxy_starts_total', { proxy: 'ldap' })).toBe(3);
  });

  it('creates the connection series of a service at 0 on first sight', async () => {
    const m = metrics();
    m.accepted('ldap', 'ldaps');
    expect(await sum(m, 'stunnel_connections_accepted_total', { service: 'ldaps' })).toBe(1);
    expect(await count(m, 'stunnel_connections_finished_total', { service: 'ldaps' })).toBe(2);
    const failures = await series(m, 'stunnel_failures_total');
    expect(failures.every((s) => s.value === 0)).toBe(true);
    const expected = REASONS.connect_failed.length + REASONS.cert_verify_failed.length + REASONS.tls_handshake_failed.length;
    expect(failures.length).toBe(expected);
    expect(failures.some((s) => s.labels.kind === 'cert_verify_failed' && s.labels.reason === 'expired')).toBe(true);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(0);
  });
});

describe('DoctorMetrics sidecar metrics', () => {
  it('records lines, offsets, rotations, drops and rule reloads', async () => {
    let now = 1_700_000_000_000;
    const m = metrics({ now: () => now });
    m.lines('ldap', 'matched', 10);
    m.lines('ldap', 'unmatched', 90);
    m.lines('ldap', 'matched');
    m.lines('ldap', 'invalid', 0);
    m.cutLines('ldap', 2);
    m.fileStats('ldap', 1000, 5000);
    m.fileStats('ldap', 4000, 5000);
    m.rotation('ldap', 'copytruncate');
    m.rotation('ldap', 'rename');
    m.rotation('ldap', 'rename');
    m.stateDropped('ldap', 'connection_cap', 3);
    m.stateDropped('ldap', 'run_end');
    m.checkpointFailure();
    m.eventsDropped(5);
    m.eventsDropped();
    expect(await sum(m, 'stunnel_doctor_lines_total', { result: 'matched' })).toBe(11);
    expect(await sum(m, 'stunnel_doctor_lines_total', { result: 'unmatched' })).toBe(90);
    expect(await count(m, 'stunnel_doctor_lines_total', { result: 'invalid' })).toBe(1);
    expect(await sum(m, 'stunnel_doctor_lines_cut_total', { proxy: 'ldap' })).toBe(2);
    expect(await sum(m, 'stunnel_doctor_read_offset_bytes', { proxy: 'ldap' })).toBe(4000);
    expect(await sum(m, 'stunnel_doctor_file_size_bytes', { proxy: 'ldap' })).toBe(5000);
    expect(await sum(m, 'stunnel_doctor_rotations_total', { mode: 'rename' })).toBe(2);
    expect(await sum(m, 'stunnel_doctor_rotations_total', { mode: 'copytruncate' })).toBe(1);
    expect(await sum(m, 'stunnel_doctor_state_dropped_total', { what: 'connection_cap' })).toBe(3);
    expect(await sum(m, 'stunnel_doctor_state_dropped_total', { what: 'run_end' })).toBe(1);
    expect(await sum(m, 'stunnel_doctor_checkpoint_failures_total')).toBe(1);
    expect(await sum(m, 'stunnel_doctor_events_dropped_total')).toBe(6);

    expect(await sum(m, 'stunnel_doctor_rules_reload_success')).toBe(1);
    expect(await sum(m, 'stunnel_doctor_rules_reload_timestamp_seconds')).toBe(1_700_000_000);
    now += 60_000;
    m.rulesReloaded(false);
    expect(await sum(m, 'stunnel_doctor_rules_reload_success')).toBe(0);
    expect(await sum(m, 'stunnel_doctor_rules_reload_timestamp_seconds')).toBe(1_700_000_000);
    m.rulesReloaded(true);
    expect(await sum(m, 'stunnel_doctor_rules_reload_success')).toBe(1);
    expect(await sum(m, 'stunnel_doctor_rules_reload_timestamp_seconds')).toBe(1_700_000_060);

    expect((await series(m, 'stunnel_doctor_build_info'))[0]).toEqual({
      labels: { version: '1.2.3', node: process.version }, value: 1,
    });
  });

  it('computes open connections at scrape time from the callback', async () => {
    let open: OpenConnectionCount[] = [{ proxy: 'ldap', service: 'ldaps', count: 3 }, { proxy: 'ldap', service: null, count: 1 }];
    const m = metrics({ openConnections: () => open });
    const O = 'stunnel_open_connections';
    expect(await sum(m, O, { proxy: 'ldap', service: 'ldaps' })).toBe(3);
    expect(await sum(m, O, { proxy: 'ldap', service: '' })).toBe(1);
    open = [{ proxy: 'smtp', service: 'smtps', count: 2 }];
    expect(await series(m, O)).toEqual([{ labels: { proxy: 'smtp', service: 'smtps' }, value: 2 }]);
    expect(await m.render()).not.toContain('stunnel_open_connections{proxy="ldap"');
  });

  it('renders the text format with its content type', async () => {
    const m = metrics();
    m.onEvent(certFailed('ldap', 'ldaps', 'expired'));
    const text = await m.render();
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(text).toContain('stunnel_failures_total{proxy="ldap",service="ldaps",kind="cert_verify_failed",reason="expired"} 1');
    for (const name of METRIC_NAMES) expect(text).toContain(`# TYPE ${name} `);
  });
});

describe('removeProxy', () => {
  it('removes every series carrying the proxy, from every metric, and nothing else', async () => {
    const m = metrics({ staticLabelNames: ['purpose'] });
    for (const p of ['ldap', 'smtp']) {
      m.setProxyLabels(p, { purpose: p });
      m.onEvent(started(p, '5.68', '3.0.11'));
      m.accepted(p, 'svc');
      m.onEvent(certFailed(p, 'svc', 'expired'));
      m.onEvent(closed(p, 'svc', 10, 20));
      m.onEvent(configFailed(p, 'reload'));
      m.lines(p, 'matched', 5);
      m.cutLines(p);
      m.invalidUtf8Lines(p);
      m.fileError(p, 'permission-denied');
      m.fileStats(p, 1, 2);
      m.rotation(p, 'truncate');
      m.stateDropped(p, 'run_end', 1);
    }
    m.checkpointFailure();
    const withLabel = async (proxy: string) => {
      const out: string[] = [];
      for (const metric of await m.registry.getMetricsAsJSON()) {
        for (const v of metric.values) if (v.labels.proxy === proxy) out.push(metric.name);
      }
      return new Set(out);
    };
    const perProxy = Object.values(METRICS).filter((s) => (s.labels as readonly string[]).includes('proxy') && s.name !== 'stunnel_open_connections');
    expect([...(await withLabel('ldap'))].sort()).toEqual(perProxy.map((s) => s.name).sort());

    m.removeProxy('ldap');
    expect(await withLabel('ldap')).toEqual(new Set());
    expect(await m.render()).not.toContain('"ldap"');
    expect([...(await withLabel('smtp'))].sort()).toEqual(perProxy.map((s) => s.name).sort());
    expect(await sum(m, 'stunnel_doctor_checkpoint_failures_total')).toBe(1);

    // The proxy can come back; it starts from scratch, without its old static labels.
    m.onEvent(certFailed('ldap', 'svc', 'expired'));
    expect(await series(m, 'stunnel_failures_total').then((s) => s.filter((x) => x.labels.proxy === 'ldap' && x.value > 0)))
      .toEqual([{ labels: { proxy: 'ldap', service: 'svc', kind: 'cert_verify_failed', reason: 'expired', purpose: '' }, value: 1 }]);
  });
});

describe('series cap', () => {
  it('refuses new series beyond the cap and counts each refusal', async () => {
    const m = metrics({ maxSeriesPerMetric: 3 });
    for (const s of ['a', 'b', 'c', 'd', 'e']) m.accepted('ldap', s);
    const A = 'stunnel_connections_accepted_total';
    expect(await count(m, A)).toBe(3);
    expect(await sum(m, A)).toBe(3);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(2);
    // Existing series keep counting.
    m.accepted('ldap', 'a');
    expect(await sum(m, A, { service: 'a' })).toBe(2);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(2);
    // The series created at 0 on first sight are best effort: they do not count as drops...
    expect(await count(m, 'stunnel_failures_total')).toBe(3);
    // ...and give way to real failures: each takes the place of the oldest series still at 0.
    m.onEvent(certFailed('ldap', 'a', 'revoked'));
    m.onEvent(certFailed('ldap', 'b', 'expired'));
    m.onEvent(certFailed('ldap', 'c', 'expired'));
    expect(await count(m, 'stunnel_failures_total')).toBe(3);
    expect(await sum(m, 'stunnel_failures_total')).toBe(3);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(2);
    // A metric full of real series refuses the next one, and counts it.
    m.onEvent(certFailed('ldap', 'a', 'self_signed'));
    expect(await count(m, 'stunnel_failures_total', { reason: 'self_signed' })).toBe(0);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(3);
    // Each metric has its own cap.
    m.lines('ldap', 'matched');
    expect(await count(m, 'stunnel_doctor_lines_total')).toBe(1);
  });

  it('100 proxies x 8 services: every real failure has its series under the default cap, none dropped', async () => {
    const m = metrics();
    const proxies = Array.from({ length: 100 }, (_, i) => `p${i}`);
    const services = Array.from({ length: 8 }, (_, i) => `svc-${i}`);
    // First sight of every service (its series pre-created at 0: 800 x 24 failure series wanted, over the cap).
    for (const p of proxies) for (const s of services) m.accepted(p, s);
    const F = 'stunnel_failures_total';
    expect(await count(m, F)).toBe(10_000);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(0);
    // Then failures of every family on every service, late in the run: none is refused.
    let n = 0;
    for (const p of proxies) {
      for (const s of services) {
        m.onEvent(certFailed(p, s, 'expired'));
        m.onEvent(connectFailed(p, s, 'refused'));
        m.onEvent(handshakeFailed(p, s, 'peer_disconnected'));
        m.onEvent(rejected(p, s));
        n += 4;
      }
    }
    expect(await sum(m, F)).toBe(n);
    expect(await count(m, F, { kind: 'connection_rejected' })).toBe(800);
    expect(await sum(m, F, { proxy: 'p99', service: 'svc-7', kind: 'tls_handshake_failed', reason: 'peer_disconnected' })).toBe(1);
    expect(await count(m, F)).toBeLessThanOrEqual(10_000);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(0);
    expect(await sum(m, 'stunnel_connections_accepted_total')).toBe(800);
    expect(await sum(m, 'stunnel_connections_finished_total', { outcome: 'failed' })).toBe(2400);
  });

  it('a preset series moved by a label change stays a preset', async () => {
    const m = metrics({ maxSeriesPerMetric: 2, staticLabelNames: ['purpose'] });
    m.accepted('ldap', 'a'); // 24 failure series wanted, 2 presets created
    m.setProxyLabels('ldap', { purpose: 'x' });
    m.onEvent(certFailed('ldap', 'a', 'revoked'));
    m.onEvent(certFailed('ldap', 'a', 'expired'));
    expect(await sum(m, 'stunnel_failures_total')).toBe(2);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(0);
  });

  it('caps the scrape-time gauge too', async () => {
    const open = ['a', 'b', 'c', 'a'].map((service) => ({ proxy: 'p', service, count: 1 }));
    const m = metrics({ maxSeriesPerMetric: 2, openConnections: () => open });
    expect(await series(m, 'stunnel_open_connections')).toEqual([
      { labels: { proxy: 'p', service: 'a' }, value: 2 },
      { labels: { proxy: 'p', service: 'b' }, value: 1 },
    ]);
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(1);
  });

  it('frees room when a proxy is removed', async () => {
    const m = metrics({ maxSeriesPerMetric: 1 });
    m.cutLines('a');
    m.cutLines('b');
    expect(await sum(m, 'stunnel_doctor_series_dropped_total')).toBe(1);
    m.removeProxy('a');
    m.cutLines('b');
    expect(await series(m, 'stunnel_doctor_lines_cut_total')).toEqual([{ labels: { proxy: 'b' }, value: 1 }]);
  });
});

describe('static labels', () => {
  it('adds the configured labels to every per-proxy series, empty when not set', async () => {
    const m = metrics({ staticLabelNames: ['purpose', 'site'], openConnections: () => [{ proxy: 'ldap', service: 'ldaps', count: 1 }] });
    m.setProxyLabels('ldap', { purpose: 'ldaps' });
    m.onEvent(certFailed('ldap', 'ldaps', 'expired'));
    m.onEvent(certFailed('other', 'x', 'expired'));
    m.lines('ldap', 'matched');
    m.checkpointFailure();
    const F = 'stunnel_failures_total';
    expect(await sum(m, F, { proxy: 'ldap', purpose: 'ldaps', site: '', reason: 'expired' })).toBe(1);
    expect(await sum(m, F, { proxy: 'other', purpose: '', site: '', reason: 'expired' })).toBe(1);
    expect(await sum(m, 'stunnel_doctor_lines_total', { proxy: 'ldap', purpose: 'ldaps' })).toBe(1);
    expect(await sum(m, 'stunnel_open_connections', { proxy: 'ldap', purpose: 'ldaps' })).toBe(1);
    for (const s of await series(m, 'stunnel_doctor_build_info')) expect(s.labels).not.toHaveProperty('purpose');
    const text = await m.render();
    expect(text).toContain('stunnel_doctor_checkpoint_failures_total 1');
    expect(text).toContain('stunnel_doctor_lines_total{proxy="ldap",result="matched",purpose="ldaps",site=""} 1');
  });

  it('moves existing series, with their values, when a proxy label changes', async () => {
    const m = metrics({ staticLabelNames: ['purpose'] });
    m.onEvent(started('ldap', '5.68', '3.0.11'));
    m.onEvent(certFailed('ldap', 'ldaps', 'expired'));
    m.onEvent(certFailed('ldap', 'ldaps', 'expired'));
    m.setProxyLabels('ldap', { purpose: 'directory' });
    m.onEvent(certFailed('ldap', 'ldaps', 'expired'));
    m.onEvent(started('ldap', '5.68', '3.0.11'));
    const F = 'stunnel_failures_total';
    expect(await count(m, F, { reason: 'expired' })).toBe(1);
    expect(await sum(m, F, { reason: 'expired', purpose: 'directory' })).toBe(3);
    expect(await series(m, 'stunnel_proxy_info')).toEqual([
      { labels: { proxy: 'ldap', version: '5.68', openssl: '3.0.11', purpose: 'directory' }, value: 1 },
    ]);
    expect(await sum(m, 'stunnel_proxy_starts_total', { purpose: 'directory' })).toBe(2);
    expect(await count(m, 'stunnel_proxy_starts_total')).toBe(1);
  });

  it('rejects bad or colliding label names and unknown keys', () => {
    for (const bad of ['proxy', 'service', 'kind', 'job', 'instance', 'bad-name', '__x', '1a']) {
      expect(() => metrics({ staticLabelNames: [bad] }), bad).toThrow();
    }
    expect(() => metrics({ staticLabelNames: ['purpose', 'purpose'] })).toThrow();
    expect(() => metrics({ staticLabelNames: ['purpose'] }).setProxyLabels('p', { site: 'x' })).toThrow(/site/);
  });
});

describe('render', () => {
  /** The registry's own exposition (prom-client, after collect): what render() must equal byte for byte. */
  const promText = (m: DoctorMetrics) => m.registry.metrics();

  it('writes exactly what prom-client writes from the same series, through changes, moves and removals', async () => {
    const open: OpenConnectionCount[] = [{ proxy: 'ldap', service: 'ldaps', count: 2 }];
    const m = metrics({ staticLabelNames: ['purpose', 'site'], openConnections: () => open, maxSeriesPerMetric: 40 });
    // Before anything happened: label-less metrics at 0, labelled ones with no series.
    expect(await m.render()).toBe(await promText(m));
    m.setProxyLabels('ldap', { purpose: 'dir "main"\nline', site: 'a\\b' });
    m.onEvent(started('ldap', '5.68', '3.0.11'));
    m.accepted('ldap', 'ldaps');
    m.onEvent(certFailed('ldap', 'ldaps', 'expired'));
    m.onEvent(closed('ldap', 'ldaps', 1234, 567));
    m.onEvent(handshakeFailed('web', null, 'protocol_version', [0, 7]));
    m.onEvent(rejected('web', 'https'));
    m.onEvent(configFailed('web', 'reload'));
    m.lines('ldap', 'matched', 3);
    m.fileStats('ldap', 100, 250);
    m.rotation('web', 'copytruncate');
    m.checkpointFailure();
    m.diagnoseHeld(4);
    expect(await m.render()).toBe(await promText(m));
    // Values change after prom-client was brought up to date; a label change moves the proxy's series last.
    m.onEvent(certFailed('ldap', 'ldaps', 'expired'));
    m.onEvent(closed('ldap', 'ldaps', 1, 2));
    m.setProxyLabels('ldap', { purpose: 'directory' });
    m.onEvent(started('ldap', '5.70', '3.5.0'));
    m.accepted('ldap', 'ldaps');
    open.push({ proxy: 'web', service: null, count: 1 });
    const text = await m.render();
    expect(text).toBe(await promText(m));
    expect(text).toContain('stunnel_failures_total{proxy="ldap",service="ldaps",kind="cert_verify_failed",reason="expired",purpose="directory",site=""} 2');
    // A preset that gives way under the cap, a removed proxy, values that are not plain numbers.
    for (let i = 0; i < 40; i++) m.onEvent(connectFailed('web', `s${i}`, 'refused'));
    m.removeProxy('ldap');
    m.diagnoseHeld(Number.NaN);
    m.reading(Number.POSITIVE_INFINITY, 0);
    expect(await m.render()).toBe(await promText(m));
  });

  it('includes metrics registered by others into its registry, in the registry order', async () => {
    const m = metrics();
    const { Counter } = await import('../src/sinks/prom.js');
    const c = new Counter({ name: 'other_total', help: 'Other.', labelNames: ['x'], registers: [m.registry] });
    c.inc({ x: 'y' }, 2);
    m.lines('p', 'unmatched');
    const text = await m.render();
    expect(text).toContain('other_total{x="y"} 2');
    expect(text).toBe(await promText(m));
  });

  it('leaves a registry with default labels to prom-client', async () => {
    const m = metrics();
    m.registry.setDefaultLabels({ env: 'test' });
    m.lines('p', 'matched');
    const text = await m.render();
    expect(text).toContain('stunnel_doctor_lines_total{proxy="p",result="matched",env="test"} 1');
    expect(text).toBe(await promText(m));
  });
});
