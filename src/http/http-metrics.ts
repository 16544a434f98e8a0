/**
 * Metrics of the HTTP endpoint itself (SSE clients, refused requests, web config reloads). Registered into
 * the doctor's registry by the sidecar, so they are on /metrics beside the log metrics. HTTP_METRICS is their
 * catalogue (grafana/README.md lists it; test/monitoring-bundle.test.ts fails when they differ).
 */
import { Counter, Gauge, Registry } from '../sinks/prom.js';
import type { MetricSpec } from '../sinks/metrics.js';

export const AUTH_FAILURES = ['basic_auth', 'client_cert', 'tls_handshake'] as const;
export type AuthFailure = (typeof AUTH_FAILURES)[number];

export const HTTP_METRICS = {
  sseClients: { name: 'stunnel_doctor_http_sse_clients', type: 'gauge', labels: [], help: 'Clients connected to /events.' },
  sseDropped: {
    name: 'stunnel_doctor_http_sse_dropped_total', type: 'counter', labels: [],
    help: '/events clients disconnected because they did not read fast enough (their send buffer passed the bound).',
  },
  sseRefused: {
    name: 'stunnel_doctor_http_sse_refused_total', type: 'counter', labels: [],
    help: '/events requests refused with 503 because the maximum number of event stream clients was reached.',
  },
  authFailures: {
    name: 'stunnel_doctor_http_auth_failures_total', type: 'counter', labels: ['reason'],
    help: 'Requests or connections refused: basic_auth (401), client_cert (certificate missing, unverified or SAN not allowed), tls_handshake (other TLS errors).',
  },
  webConfigReloadSuccess: {
    name: 'stunnel_doctor_web_config_reload_success', type: 'gauge', labels: [],
    help: '1 if the last load of the web config file (--web.config.file) succeeded, 0 if it failed (the previous one is kept).',
  },
  webConfigReloadTimestamp: {
    name: 'stunnel_doctor_web_config_reload_timestamp_seconds', type: 'gauge', labels: [],
    help: 'Unix time of the last successful load of the web config file.',
  },
} as const satisfies Record<string, MetricSpec>;

export class HttpMetrics {
  readonly registry: Registry;
  readonly sseClients: Gauge<string>;
  readonly sseDropped: Counter<string>;
  readonly sseRefused: Counter<string>;
  readonly authFailures: Counter<string>;
  readonly webConfigReloadSuccess: Gauge<string>;
  readonly webConfigReloadTimestamp: Gauge<string>;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    const spec = (m: MetricSpec) => ({ name: m.name, help: m.help, labelNames: [...m.labels], registers });
    const M = HTTP_METRICS;
    this.sseClients = new Gauge(spec(M.sseClients));
    this.sseDropped = new Counter(spec(M.sseDropped));
    this.sseRefused = new Counter(spec(M.sseRefused));
    this.authFailures = new Counter(spec(M.authFailures));
    for (const r of AUTH_FAILURES) this.authFailures.inc({ reason: r }, 0);
    this.webConfigReloadSuccess = new Gauge(spec(M.webConfigReloadSuccess));
    this.webConfigReloadTimestamp = new Gauge(spec(M.webConfigReloadTimestamp));
  }
}
