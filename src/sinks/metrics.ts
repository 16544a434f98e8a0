/**
 * Prometheus metrics sink: one prom-client Registry, every metric named once in METRICS (the catalogue the
 * code, the tests, the alert rules and the dashboard share).
 *
 * Labels only come from bounded sets: proxy and service names from the configuration, the closed kind and
 * reason sets of the event contract, and the fixed enums below. Network text (peers, subjects, targets) is
 * never a label. Every labelled metric is capped at `maxSeriesPerMetric` series; a series refused by the cap
 * increments stunnel_doctor_series_dropped_total instead. Series pre-created at 0 (so that a known service's
 * first failure is an increase) only fill room that nothing else uses: a real series that finds its metric
 * full takes the place of the oldest of them, and only a metric full of real series refuses (and counts).
 */
import { Counter, Gauge, Registry } from './prom.js';
import {
  CONNECTION_KINDS, REASONS, isFailureKind, isKind, isReasonOf,
  type DoctorEvent, type EventOfKind,
} from '../events.js';

export type MetricType = 'counter' | 'gauge';

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  /** Base label names. Metrics with a `proxy` label also carry the configured static labels. */
  readonly labels: readonly string[];
}

export const LINE_RESULTS = ['matched', 'unmatched', 'invalid'] as const;
export type LineResult = (typeof LINE_RESULTS)[number];
export const ROTATION_MODES = ['rename', 'copytruncate', 'truncate', 'replaced'] as const;
export type RotationMode = (typeof ROTATION_MODES)[number];
export const DIRECTIONS = ['to_tls', 'to_socket'] as const;
export const OUTCOMES = ['ok', 'failed'] as const;
export const DIAGNOSE_CAPS = ['per_proxy', 'total'] as const;

/** The metric catalogue. */
export const METRICS = {
  connectionsAccepted: {
    name: 'stunnel_connections_accepted_total', type: 'counter', labels: ['proxy', 'service'],
    help: 'Connections stunnel accepted (Service [x] accepted connection).',
  },
  connectionsFinished: {
    name: 'stunnel_connections_finished_total', type: 'counter', labels: ['proxy', 'service', 'outcome'],
    help: 'Connections that ended: outcome ok (connection_closed) or failed (connect, verify or handshake failure).',
  },
  failures: {
    name: 'stunnel_failures_total', type: 'counter', labels: ['proxy', 'service', 'kind', 'reason'],
    help: 'Failure events by kind and reason (service is empty for process-level failures).',
  },
  transferredBytes: {
    name: 'stunnel_transferred_bytes_total', type: 'counter', labels: ['proxy', 'service', 'direction'],
    help: 'Bytes stunnel reported when a connection ended, sent to TLS (to_tls) or to the socket (to_socket).',
  },
  openConnections: {
    name: 'stunnel_open_connections', type: 'gauge', labels: ['proxy', 'service'],
    help: 'Connections accepted and not yet ended, as tracked by the sidecar.',
  },
  proxyConfigOk: {
    name: 'stunnel_proxy_config_ok', type: 'gauge', labels: ['proxy'],
    help: '1 after a successful stunnel start or reload, 0 after a failed one.',
  },
  proxyStarts: {
    name: 'stunnel_proxy_starts_total', type: 'counter', labels: ['proxy'],
    help: 'stunnel starts seen in the log.',
  },
  proxyInfo: {
    name: 'stunnel_proxy_info', type: 'gauge', labels: ['proxy', 'version', 'openssl'],
    help: 'stunnel and OpenSSL versions from the last start banner (value is always 1).',
  },
  lastFailureTimestamp: {
    name: 'stunnel_last_failure_timestamp_seconds', type: 'gauge', labels: ['proxy', 'kind'],
    help: 'Unix time at which the sidecar processed the last failure of this kind.',
  },
  lines: {
    name: 'stunnel_doctor_lines_total', type: 'counter', labels: ['proxy', 'result'],
    help: 'Log lines read: matched by a rule, unmatched, or invalid (not a stunnel log line).',
  },
  linesCut: {
    name: 'stunnel_doctor_lines_cut_total', type: 'counter', labels: ['proxy'],
    help: 'Log lines longer than the line bound, cut before matching.',
  },
  linesInvalidUtf8: {
    name: 'stunnel_doctor_lines_invalid_utf8_total', type: 'counter', labels: ['proxy'],
    help: 'Log lines holding bytes that are not valid UTF-8 (decoded with replacement characters).',
  },
  fileErrors: {
    name: 'stunnel_doctor_file_errors_total', type: 'counter', labels: ['proxy', 'reason'],
    help: 'Problems reading a followed file, counted when each starts (permission-denied, not-a-file, open-error, read-error, consumer-error, internal-error); retried.',
  },
  readOffset: {
    name: 'stunnel_doctor_read_offset_bytes', type: 'gauge', labels: ['proxy'],
    help: 'Byte offset up to which the sidecar has processed the log file.',
  },
  fileSize: {
    name: 'stunnel_doctor_file_size_bytes', type: 'gauge', labels: ['proxy'],
    help: 'Size of the followed log file; minus the read offset this is the lag.',
  },
  rotations: {
    name: 'stunnel_doctor_rotations_total', type: 'counter', labels: ['proxy', 'mode'],
    help: 'Log rotations detected, by mode (rename, copytruncate, truncate, replaced).',
  },
  stateDropped: {
    name: 'stunnel_doctor_state_dropped_total', type: 'counter', labels: ['proxy', 'what'],
    help: 'Correlation state discarded without an event (run_end, connection_cap, detail_cap).',
  },
  checkpointFailures: {
    name: 'stunnel_doctor_checkpoint_failures_total', type: 'counter', labels: [],
    help: 'Failed writes of the read-offset checkpoint.',
  },
  seriesDropped: {
    name: 'stunnel_doctor_series_dropped_total', type: 'counter', labels: [],
    help: 'Series not created (or not exported at scrape) because their metric reached the series cap.',
  },
  eventsDropped: {
    name: 'stunnel_doctor_events_dropped_total', type: 'counter', labels: [],
    help: 'Events dropped because a consumer could not keep up.',
  },
  diagnoseDropped: {
    name: 'stunnel_doctor_diagnose_dropped_total', type: 'counter', labels: ['cap'],
    help: 'Failures not kept for diagnose() because no caller took them in time: more than the per-proxy bound (per_proxy) or the books of all proxies reached their total (total; the proxy holding the most loses its oldest).',
  },
  diagnoseHeld: {
    name: 'stunnel_doctor_diagnose_failures', type: 'gauge', labels: [],
    help: 'Failures held for diagnose() by all proxies together, until a caller takes them (at most diagnoseMaxFailures).',
  },
  readTurnBytesMax: {
    name: 'stunnel_doctor_read_turn_bytes_max', type: 'gauge', labels: [],
    help: 'The most bytes read by the read turns in progress at once since start: a backlog is read in bounded turns (at most 2 MiB of one file each, 4 at once).',
  },
  eventsOutBuffered: {
    name: 'stunnel_doctor_events_out_buffered_bytes', type: 'gauge', labels: [],
    help: 'NDJSON event bytes written to --events-out and not yet taken by it; reading pauses while it is above its bound (16 MiB).',
  },
  rulesReloadSuccess: {
    name: 'stunnel_doctor_rules_reload_success', type: 'gauge', labels: [],
    help: '1 if the last load of the classification rules succeeded, 0 if it failed.',
  },
  rulesReloadTimestamp: {
    name: 'stunnel_doctor_rules_reload_timestamp_seconds', type: 'gauge', labels: [],
    help: 'Unix time of the last successful load of the classification rules.',
  },
  buildInfo: {
    name: 'stunnel_doctor_build_info', type: 'gauge', labels: ['version', 'node'],
    help: 'stunnel-doctor version and Node.js version (value is always 1).',
  },
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;
export const METRIC_NAMES: readonly string[] = Object.values(METRICS).map((m) => m.name);

/** Label names a static label may not take: the catalogue's own and the ones Prometheus attaches. */
export const RESERVED_LABEL_NAMES: ReadonlySet<string> = new Set<string>([
  'job', 'instance', ...Object.values(METRICS).flatMap((m) => m.labels),
]);
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Failure kinds whose series are created at 0 for each (proxy, service) pair, so that the first failure of a
 *  known service is an increase and not a new series (which increase() cannot see). */
const PREINIT_FAILURE_KINDS = ['connect_failed', 'cert_verify_failed', 'tls_handshake_failed'] as const;

export interface OpenConnectionCount {
  proxy: string;
  service: string | null;
  count: number;
}

export interface DoctorMetricsOptions {
  /** Called at every scrape for stunnel_open_connections. */
  openConnections?: () => Iterable<OpenConnectionCount>;
  /** Extra labels on every per-proxy series, values set with setProxyLabels() ('' when not set). */
  staticLabelNames?: readonly string[];
  /** Series cap per metric (default 10000). */
  maxSeriesPerMetric?: number;
  /** stunnel-doctor version for stunnel_doctor_build_info (default 'unknown'). */
  version?: string;
  /** Clock in milliseconds (default Date.now), for the timestamp gauges. */
  now?: () => number;
  /** Registry to register into (default: a new one). */
  registry?: Registry;
}

type Labels = Record<string, string>;

/** One series: its labels, its value, and what prom-client has not been told yet. */
interface Series {
  readonly labels: Labels;
  value: number;
  /** Counter increments not yet given to prom-client. */
  pending: number;
  /** Waiting in its family's list of series to hand to prom-client at the next collect. */
  dirty: boolean;
  /** Removed from the family (a cached reference to it must not be used). */
  removed: boolean;
  /** Pre-created at 0 and never touched since: the first to give way when the metric is full. */
  preset: boolean;
  /** Its exposition line up to the value (`\nname{labels} `), made at its first render (a field from the
   *  start: added later it would move the object's fields out of line). */
  line: string | undefined;
}

/** prom-client's escaping of metric names and help text (registry.js escapeString). */
function escapeText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** prom-client's escaping of a label value. */
function escapeLabelValue(s: string): string {
  return escapeText(s).replace(/"/g, '\\"');
}

/** prom-client's text for a sample value (util.js getValueAsString). */
function valueText(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (!Number.isFinite(v)) return v < 0 ? '-Inf' : '+Inf';
  return `${v}`;
}

/**
 * One metric plus the series it holds, so the cap, removeProxy and relabelling work without prom-client internals.
 * Values change here, cheaply (no label hashing per event); prom-client is brought up to date when it collects
 * (every scrape, `registry.metrics()`, `metric.get()`).
 */
class Family {
  private readonly series = new Map<string, Series>();
  private readonly dirty: Series[] = [];
  /** Keys of the preset series, oldest first. */
  private readonly presets = new Set<string>();
  readonly metric: Counter<string> | Gauge<string>;

  constructor(
    readonly spec: MetricSpec,
    private readonly labelNames: readonly string[],
    registers: Registry[],
    private readonly cap: number,
    private readonly refused: () => void,
  ) {
    const self = this;
    const cfg = {
      name: spec.name, help: spec.help, labelNames, registers,
      collect() {
        self.sync();
      },
    };
    this.metric = spec.type === 'counter' ? new Counter(cfg) : new Gauge(cfg);
  }

  private key(labels: Labels): string {
    return JSON.stringify(this.labelNames.map((n) => labels[n]));
  }

  /** Series held (presets included). */
  get size(): number {
    return this.series.size;
  }

  /**
   * The series entry, created when under the cap, or in place of the oldest preset series for a real one;
   * null (and counted) when refused.
   */
  entry(labels: Labels): Series | null {
    const key = this.key(labels);
    let s = this.series.get(key);
    if (s) {
      if (s.preset) {
        s.preset = false;
        this.presets.delete(key);
      }
      return s;
    }
    if (this.series.size >= this.cap) {
      const oldest = this.presets.values().next();
      if (oldest.done) {
        this.refused();
        return null;
      }
      const gone = this.series.get(oldest.value)!;
      this.presets.delete(oldest.value);
      this.series.delete(oldest.value);
      gone.removed = true;
      this.metric.remove(gone.labels);
    }
    s = { labels, value: 0, pending: 0, dirty: false, removed: false, preset: false, line: undefined };
    this.series.set(key, s);
    this.touch(s); // a new series shows at 0 at once
    return s;
  }

  private touch(s: Series): void {
    if (s.dirty) return;
    s.dirty = true;
    this.dirty.push(s);
  }

  add(labels: Labels, n: number): void {
    if (!(n >= 0 && Number.isFinite(n))) return;
    const s = this.entry(labels);
    if (s) this.addTo(s, n);
  }

  /** add() on a series already looked up (the hot paths keep them). */
  addTo(s: Series, n: number): void {
    if (!(n >= 0 && Number.isFinite(n))) return;
    s.value += n;
    s.pending += n;
    this.touch(s);
  }

  /**
   * A series at 0 created ahead of its first use, best effort: only while the metric has room (never counted
   * as a drop), and given up for any real series that finds the metric full.
   */
  preset(labels: Labels): void {
    const key = this.key(labels);
    if (this.series.has(key) || this.series.size >= this.cap) return;
    const s: Series = { labels, value: 0, pending: 0, dirty: false, removed: false, preset: true, line: undefined };
    this.series.set(key, s);
    this.presets.add(key);
    this.touch(s);
  }

  set(labels: Labels, v: number): void {
    const s = this.entry(labels);
    if (s) this.setTo(s, v);
  }

  setTo(s: Series, v: number): void {
    s.value = v;
    this.touch(s);
  }

  /**
   * This metric in the text exposition, exactly as prom-client's Registry.getMetricsAsString writes it from
   * the same series (same order: creation, a moved series last), without going through prom-client: no label
   * hashing, no copy of every series into prom-client's map, and each series' label text made once. A scrape
   * of 1,000 proxies (~22,000 series) used to allocate ~30 MB and take ~100 ms; the parts pushed here are the
   * cached line heads and the value texts.
   */
  renderTo(out: string[]): void {
    const name = escapeText(this.spec.name);
    out.push(`# HELP ${name} ${escapeText(this.spec.help)}\n# TYPE ${name} ${this.spec.type}`);
    // prom-client holds the label-less series at 0 from the start.
    if (this.labelNames.length === 0 && this.series.size === 0) out.push(`\n${name} 0`);
    for (const s of this.series.values()) {
      let line = s.line;
      if (line === undefined) {
        // One flat string (join), not a tree of concatenations: it is kept for the series' lifetime.
        const parts: string[] = ['\n', name];
        let sep = '{';
        for (const k in s.labels) {
          parts.push(sep, k, '="', escapeLabelValue(s.labels[k]!), '"');
          sep = ',';
        }
        parts.push(sep === '{' ? ' ' : '} ');
        line = s.line = parts.join('');
      }
      out.push(line, valueText(s.value));
    }
  }

  /** Hands the changed series to prom-client. */
  sync(): void {
    const list = this.dirty;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      s.dirty = false;
      if (s.removed) continue;
      if (this.spec.type === 'counter') {
        (this.metric as Counter<string>).inc(s.labels, s.pending);
        s.pending = 0;
      } else (this.metric as Gauge<string>).set(s.labels, s.value);
    }
    list.length = 0;
  }

  /** Removes every series the predicate selects; returns them. */
  removeWhere(pred: (l: Labels) => boolean): Series[] {
    const out: Series[] = [];
    for (const [key, s] of this.series) {
      if (!pred(s.labels)) continue;
      this.series.delete(key);
      this.presets.delete(key);
      s.removed = true;
      this.metric.remove(s.labels);
      out.push(s);
    }
    return out;
  }
}

/** The series the per-event paths of one (proxy, service) use, looked up once (see DoctorMetrics.handles). */
interface ServiceHandles {
  /** knowService() was called for it. */
  known: boolean;
  accepted: Series | null;
  finishedOk: Series | null;
  finishedFailed: Series | null;
  bytesToTls: Series | null;
  bytesToSocket: Series | null;
  /** kind → reason as given → series */
  failures: Map<string, Map<string, Series>>;
}

const CONNECTION_KIND_SET: ReadonlySet<string> = new Set(CONNECTION_KINDS);

function isConnectionEvent(e: DoctorEvent): e is EventOfKind<(typeof CONNECTION_KINDS)[number]> {
  return CONNECTION_KIND_SET.has(e.kind);
}

export class DoctorMetrics {
  readonly registry: Registry;
  private readonly families = new Map<MetricKey, Family>();
  private readonly staticNames: readonly string[];
  private readonly staticValues = new Map<string, Labels>();
  private readonly emptyStatic: Labels;
  /** Current stunnel_proxy_info labels per proxy. */
  private readonly info = new Map<string, Labels>();
  /** proxy → services whose series were pre-created (at most `cap` names in all: a flood of names is bounded). */
  private readonly knownServices = new Map<string, Set<string>>();
  private knownServiceCount = 0;
  private readonly cap: number;
  private readonly now: () => number;

  constructor(opts: DoctorMetricsOptions = {}) {
    this.registry = opts.registry ?? new Registry();
    this.now = opts.now ?? Date.now;
    const cap = opts.maxSeriesPerMetric ?? 10_000;
    if (!(cap >= 1)) throw new RangeError(`maxSeriesPerMetric must be at least 1, got ${cap}`);
    this.cap = cap;
    this.staticNames = [...(opts.staticLabelNames ?? [])];
    for (const n of this.staticNames) {
      if (!LABEL_NAME.test(n) || n.startsWith('__') || RESERVED_LABEL_NAMES.has(n)) {
        throw new Error(`invalid static label name ${JSON.stringify(n)}`);
      }
    }
    if (new Set(this.staticNames).size !== this.staticNames.length) throw new Error('duplicate static label names');
    this.emptyStatic = Object.fromEntries(this.staticNames.map((n) => [n, '']));

    const registers = [this.registry];
    const refused = () => this.fam('seriesDropped').add({}, 1);
    const openConnections = opts.openConnections;

    for (const key of Object.keys(METRICS) as MetricKey[]) {
      const spec: MetricSpec = METRICS[key];
      const labelNames = this.labelNamesOf(spec);
      if (key === 'openConnections') {
        // Scrape-time gauge: rebuilt from the callback on every collect, capped like the others.
        const gauge: Gauge<string> = new Gauge({
          name: spec.name, help: spec.help, labelNames, registers,
          collect: () => {
            gauge.reset();
            if (!openConnections) return;
            const seen = new Set<string>();
            // Known services show 0 when nothing is open, so the panel and `sum()` have data.
            for (const [proxy, services] of this.knownServices) {
              for (const service of services) {
                if (seen.size >= cap) break;
                const labels = this.proxyLabels(proxy, { service });
                seen.add(JSON.stringify(labelNames.map((n) => labels[n])));
                gauge.set(labels, 0);
              }
            }
            for (const c of openConnections()) {
              const labels = this.proxyLabels(c.proxy, { service: c.service ?? '' });
              const k = JSON.stringify(labelNames.map((n) => labels[n]));
              if (!seen.has(k)) {
                if (seen.size >= cap) {
                  refused();
                  continue;
                }
                seen.add(k);
              }
              gauge.inc(labels, c.count);
            }
          },
        });
        continue;
      }
      this.families.set(key, new Family(spec, labelNames, registers, cap, refused));
    }

    this.fam('buildInfo').set({ version: opts.version ?? 'unknown', node: process.version }, 1);
    // Both bounds exported from the start (0), so that the first drop is an increase.
    for (const cap of DIAGNOSE_CAPS) this.fam('diagnoseDropped').preset({ cap });
    this.fam('diagnoseHeld').set({}, 0);
    // The sidecar constructs its metrics after loading its rules; call rulesReloaded() on every later load.
    this.rulesReloaded(true);
  }

  private labelNamesOf(spec: MetricSpec): string[] {
    return spec.labels.includes('proxy') ? [...spec.labels, ...this.staticNames] : [...spec.labels];
  }

  private fam(key: MetricKey): Family {
    return this.families.get(key)!;
  }

  private proxyLabels(proxy: string, rest: Labels = {}): Labels {
    return { proxy, ...rest, ...(this.staticValues.get(proxy) ?? this.emptyStatic) };
  }

  /** The exposition content type of the registry. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The text exposition of every metric of the registry, in its order: the metrics of this sink written from
   * their own series (Family.renderTo), any other (stunnel_open_connections, the HTTP endpoint's, a caller's) by
   * prom-client. Byte for byte what `registry.metrics()` returns; that is what it falls back to when the
   * registry is not a plain Prometheus one (OpenMetrics, default labels).
   */
  async render(): Promise<string> {
    const reg = this.registry;
    const defaults = (reg as unknown as { _defaultLabels?: object })._defaultLabels;
    if (reg.contentType !== Registry.PROMETHEUS_CONTENT_TYPE || defaults === undefined || Object.keys(defaults).length > 0) {
      return reg.metrics();
    }
    const byMetric = new Map<unknown, Family>();
    for (const f of this.families.values()) byMetric.set(f.metric, f);
    const out: string[] = [];
    let first = true;
    for (const metric of reg.getMetricsAsArray()) {
      if (!first) out.push('\n\n');
      first = false;
      const f = byMetric.get(metric);
      if (f) f.renderTo(out);
      else out.push(await reg.getSingleMetricAsString(metric.name));
    }
    out.push('\n');
    return out.join('');
  }

  /**
   * proxy → service → the series its events and accepted connections use: looked up (labels built, keyed)
   * once instead of at every event. Forgotten whenever series are removed or relabelled.
   */
  private handleCache = new Map<string, Map<string, ServiceHandles>>();
  /** proxy → kind → its stunnel_last_failure_timestamp_seconds series (same lifetime as handleCache). */
  private lastFailureCache = new Map<string, Map<string, Series>>();

  private forgetHandles(): void {
    this.handleCache = new Map();
    this.lastFailureCache = new Map();
  }

  private handles(proxy: string, service: string): ServiceHandles {
    let byService = this.handleCache.get(proxy);
    if (!byService) this.handleCache.set(proxy, (byService = new Map()));
    let h = byService.get(service);
    if (!h) {
      h = {
        known: false, accepted: null, finishedOk: null, finishedFailed: null, bytesToTls: null, bytesToSocket: null,
        failures: new Map(),
      };
      byService.set(service, h);
    }
    return h;
  }

  /** A series of `fam` kept in a handle: looked up when missing (a refused one is looked up, and counted, again). */
  private held(cached: Series | null, key: MetricKey, proxy: string, rest: Labels): Series | null {
    if (cached !== null && !cached.removed) return cached;
    return this.fam(key).entry(this.proxyLabels(proxy, rest));
  }

  /** One event of the contract. */
  onEvent(e: DoctorEvent): void {
    if (!isKind(e.kind)) return;
    const proxy = e.proxy;
    const service = e.service ?? '';
    const connection = isConnectionEvent(e);
    const h = this.handles(proxy, service);
    if ((connection || e.kind === 'connection_rejected') && !h.known) {
      this.knowService(proxy, service);
      h.known = true;
    }
    if (isFailureKind(e.kind)) {
      let byReason = h.failures.get(e.kind);
      if (!byReason) h.failures.set(e.kind, (byReason = new Map()));
      let f = byReason.get(e.reason);
      if (f === undefined || f.removed) {
        const reason = isReasonOf(e.kind, e.reason) ? e.reason : 'other';
        const got = this.fam('failures').entry(this.proxyLabels(proxy, { service, kind: e.kind, reason }));
        if (got) byReason.set(e.reason, (f = got));
        else f = undefined;
      }
      if (f) this.fam('failures').addTo(f, 1);
      let byKind = this.lastFailureCache.get(proxy);
      if (!byKind) this.lastFailureCache.set(proxy, (byKind = new Map()));
      let t = byKind.get(e.kind);
      if (t === undefined || t.removed) {
        const got = this.fam('lastFailureTimestamp').entry(this.proxyLabels(proxy, { kind: e.kind }));
        if (got) byKind.set(e.kind, (t = got));
        else t = undefined;
      }
      if (t) this.fam('lastFailureTimestamp').setTo(t, this.now() / 1000);
    }
    if (connection) {
      const ok = e.kind === 'connection_closed';
      const fin = ok
        ? (h.finishedOk = this.held(h.finishedOk, 'connectionsFinished', proxy, { service, outcome: 'ok' }))
        : (h.finishedFailed = this.held(h.finishedFailed, 'connectionsFinished', proxy, { service, outcome: 'failed' }));
      if (fin) this.fam('connectionsFinished').addTo(fin, 1);
      const bytes = this.fam('transferredBytes');
      // As add(): a value that is not a count creates no series.
      if (e.bytesToTls !== null && e.bytesToTls >= 0 && Number.isFinite(e.bytesToTls)) {
        h.bytesToTls = this.held(h.bytesToTls, 'transferredBytes', proxy, { service, direction: 'to_tls' });
        if (h.bytesToTls) bytes.addTo(h.bytesToTls, e.bytesToTls);
      }
      if (e.bytesToSocket !== null && e.bytesToSocket >= 0 && Number.isFinite(e.bytesToSocket)) {
        h.bytesToSocket = this.held(h.bytesToSocket, 'transferredBytes', proxy, { service, direction: 'to_socket' });
        if (h.bytesToSocket) bytes.addTo(h.bytesToSocket, e.bytesToSocket);
      }
      return;
    }
    switch (e.kind) {
      case 'proxy_started': {
        this.fam('proxyStarts').add(this.proxyLabels(proxy), 1);
        this.fam('proxyConfigOk').set(this.proxyLabels(proxy), 1);
        const info = this.proxyLabels(proxy, { version: e.version ?? '', openssl: e.openssl ?? '' });
        const prev = this.info.get(proxy);
        if (prev && (prev.version !== info.version || prev.openssl !== info.openssl)) {
          this.fam('proxyInfo').removeWhere((l) => l.proxy === proxy);
        }
        this.info.set(proxy, info);
        this.fam('proxyInfo').set(info, 1);
        break;
      }
      case 'config_reloaded':
        this.fam('proxyConfigOk').set(this.proxyLabels(proxy), 1);
        break;
      case 'config_failed':
        this.fam('proxyConfigOk').set(this.proxyLabels(proxy), 0);
        break;
      default:
        break;
    }
  }

  /** A `Service [x] accepted connection` line. */
  accepted(proxy: string, service: string | null): void {
    const s = service ?? '';
    const h = this.handles(proxy, s);
    if (!h.known) {
      this.knowService(proxy, s);
      h.known = true;
    }
    h.accepted = this.held(h.accepted, 'connectionsAccepted', proxy, { service: s });
    if (h.accepted) this.fam('connectionsAccepted').addTo(h.accepted, 1);
  }

  /** First sight of (proxy, service): its connection series start at 0 (best effort, not counted as drops). */
  private knowService(proxy: string, service: string): void {
    let set = this.knownServices.get(proxy);
    if (!set) this.knownServices.set(proxy, (set = new Set()));
    if (set.has(service)) return;
    // Beyond the cap no series could be created anyway: do not remember more names.
    if (this.knownServiceCount >= this.cap) return;
    set.add(service);
    this.knownServiceCount++;
    this.fam('connectionsAccepted').preset(this.proxyLabels(proxy, { service }));
    for (const outcome of OUTCOMES) {
      this.fam('connectionsFinished').preset(this.proxyLabels(proxy, { service, outcome }));
    }
    const failures = this.fam('failures');
    for (const kind of PREINIT_FAILURE_KINDS) {
      for (const reason of REASONS[kind]) failures.preset(this.proxyLabels(proxy, { service, kind, reason }));
    }
  }

  lines(proxy: string, result: LineResult, n = 1): void {
    this.fam('lines').add(this.proxyLabels(proxy, { result }), n);
  }

  invalidUtf8Lines(proxy: string, n = 1): void {
    this.fam('linesInvalidUtf8').add(this.proxyLabels(proxy), n);
  }

  fileError(proxy: string, reason: string): void {
    this.fam('fileErrors').add(this.proxyLabels(proxy, { reason }), 1);
  }

  cutLines(proxy: string, n = 1): void {
    this.fam('linesCut').add(this.proxyLabels(proxy), n);
  }

  /** Last values given to fileStats per proxy: called every second for every file, mostly unchanged. */
  private readonly lastFileStats = new Map<string, { readOffset: number; size: number }>();

  fileStats(proxy: string, readOffset: number, size: number): void {
    const last = this.lastFileStats.get(proxy);
    if (last && last.readOffset === readOffset && last.size === size) return;
    this.fam('readOffset').set(this.proxyLabels(proxy), readOffset);
    this.fam('fileSize').set(this.proxyLabels(proxy), size);
    if (last) {
      last.readOffset = readOffset;
      last.size = size;
    } else this.lastFileStats.set(proxy, { readOffset, size });
  }

  rotation(proxy: string, mode: RotationMode): void {
    this.fam('rotations').add(this.proxyLabels(proxy, { mode }), 1);
  }

  stateDropped(proxy: string, what: string, n = 1): void {
    this.fam('stateDropped').add(this.proxyLabels(proxy, { what }), n);
  }

  checkpointFailure(): void {
    this.fam('checkpointFailures').add({}, 1);
  }

  eventsDropped(n = 1): void {
    this.fam('eventsDropped').add({}, n);
  }

  diagnoseDropped(cap: (typeof DIAGNOSE_CAPS)[number], n = 1): void {
    this.fam('diagnoseDropped').add({ cap }, n);
  }

  diagnoseHeld(n: number): void {
    this.fam('diagnoseHeld').set({}, n);
  }

  /** Reading gauges (housekeeping): the read gate's high-water mark, the NDJSON output's unwritten bytes. */
  reading(turnBytesMax: number, eventsOutBuffered: number): void {
    this.fam('readTurnBytesMax').set({}, turnBytesMax);
    this.fam('eventsOutBuffered').set({}, eventsOutBuffered);
  }

  rulesReloaded(ok: boolean): void {
    this.fam('rulesReloadSuccess').set({}, ok ? 1 : 0);
    if (ok) this.fam('rulesReloadTimestamp').set({}, this.now() / 1000);
  }

  /**
   * Sets the static label values of a proxy. Existing series of the proxy move to the new values with
   * their current values, so totals stay continuous.
   */
  setProxyLabels(proxy: string, labels: Record<string, string>): void {
    this.lastFileStats.delete(proxy);
    for (const n of Object.keys(labels)) {
      if (!this.staticNames.includes(n)) throw new Error(`unknown static label ${JSON.stringify(n)}`);
    }
    const next: Labels = { ...this.emptyStatic, ...labels };
    const prev = this.staticValues.get(proxy) ?? this.emptyStatic;
    this.staticValues.set(proxy, next);
    if (this.staticNames.every((n) => prev[n] === next[n])) return;
    this.forgetHandles();
    for (const f of this.families.values()) {
      if (!f.spec.labels.includes('proxy')) continue;
      const moved = f.removeWhere((l) => l.proxy === proxy);
      for (const s of moved) {
        const labels2 = { ...s.labels, ...next };
        if (s.preset) f.preset(labels2);
        else if (f.spec.type === 'counter') f.add(labels2, s.value);
        else f.set(labels2, s.value);
      }
    }
    const info = this.info.get(proxy);
    if (info) this.info.set(proxy, { ...info, ...next });
  }

  /** Removes every series carrying this proxy label, from every metric, and forgets the proxy. */
  removeProxy(proxy: string): void {
    this.forgetHandles();
    for (const f of this.families.values()) {
      if (f.spec.labels.includes('proxy')) f.removeWhere((l) => l.proxy === proxy);
    }
    this.staticValues.delete(proxy);
    this.info.delete(proxy);
    this.knownServiceCount -= this.knownServices.get(proxy)?.size ?? 0;
    this.knownServices.delete(proxy);
    this.lastFileStats.delete(proxy);
  }
}
