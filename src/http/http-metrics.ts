/**
 * Metrics of the HTTP endpoint itself (SSE clients, refused requests, web config reloads). Registered into
 * the doctor's registry by the sidecar, so they are on /metrics beside the log metrics.
 */
import { Counter, Gauge, Registry } from '../sinks/prom.js';

export const AUTH_FAILURES = ['basic_auth', 'client_cert', 'tls_handshake'] as const;
export type AuthFailure = (typeof AUTH_FAILURES)[number];

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
    this.sseClients = new Gauge({ name: 'stunnel_doctor_http_sse_clients', help: 'Clients connected to /events.', registers });
    this.sseDropped = new Counter({
      name: 'stunnel_doctor_http_sse_dropped_total', registers,
      help: '/events clients disconnected because they did not read fast enough (their send buffer passed the bound).',
    });
    this.sseRefused = new Counter({
      name: 'stunnel_doctor_http_sse_refused_total', registers,
      help: '/events requests refused with 503 because the maximum number of event stream clients was reached.',
    });
    this.authFailures = new Counter({
      name: 'stunnel_doctor_http_auth_failures_total', labelNames: ['reason'], registers,
      help: 'Requests or connections refused: basic_auth (401), client_cert (certificate missing, unverified or SAN not allowed), tls_handshake (other TLS errors).',
    });
    for (const r of AUTH_FAILURES) this.authFailures.inc({ reason: r }, 0);
    this.webConfigReloadSuccess = new Gauge({
      name: 'stunnel_doctor_web_config_reload_success', registers,
      help: '1 if the last load of the web config file (--web.config.file) succeeded, 0 if it failed (the previous one is kept).',
    });
    this.webConfigReloadTimestamp = new Gauge({
      name: 'stunnel_doctor_web_config_reload_timestamp_seconds', registers,
      help: 'Unix time of the last successful load of the web config file.',
    });
  }
}
