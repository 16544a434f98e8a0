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
import { Counter, Gauge, Registry } from 'prom-client';
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

interface SeriesEntry {
  labels: Labels;
  value: number;
  /** Pre-created at 0 and never touched since: the first to give way when the metric is full. */
  preset?: boolean;
}

/** One metric plus the series it holds, so the cap, removeProxy and relabelling work without prom-client internals. */
class Family {
  private readonly series = new Map<string, SeriesEntry>();
  /** Keys of the preset series, oldest first. */
  private readonly presets = new Set<string>();

  constructor(
    readonly spec: MetricSpec,
    readonly metric: Counter<string> | Gauge<string>,
    private readonly labelNames: readonly string[],
    private readonly cap: number,
    private readonly refused: () => void,
  ) {}

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
  private entry(labels: Labels): SeriesEntry | null {
    const key = this.key(labels);
    const s = this.series.get(key);
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
      this.metric.remove(gone.labels);
    }
    const created: SeriesEntry = { labels, value: 0 };
    this.series.set(key, created);
    return created;
  }

  add(labels: Labels, n: number): void {
    if (!(n >= 0 && Number.isFinite(n))) return;
    const s = this.entry(labels);
    if (!s) return;
    s.value += n;
    (this.metric as Counter<string>).inc(s.labels, n);
  }

  /**
   * A series at 0 created ahead of its first use, best effort: only while the metric has room (never counted
   * as a drop), and given up for any real series that finds the metric full.
   */
  preset(labels: Labels): void {
    const key = this.key(labels);
    if (this.series.has(key) || this.series.size >= this.cap) return;
    this.series.set(key, { labels, value: 0, preset: true });
    this.presets.add(key);
    (this.metric as Counter<string>).inc(labels, 0);
  }

  set(labels: Labels, v: number): void {
    const s = this.entry(labels);
    if (!s) return;
    s.value = v;
    (this.metric as Gauge<string>).set(s.labels, v);
  }

  /** Removes every series the predicate selects; returns them. */
  removeWhere(pred: (l: Labels) => boolean): SeriesEntry[] {
    const out: SeriesEntry[] = [];
    for (const [key, s] of this.series) {
      if (!pred(s.labels)) continue;
      this.series.delete(key);
      this.presets.delete(key);
      this.metric.remove(s.labels);
      out.push(s);
    }
    return out;
  }
}

function isConnectionEvent(e: DoctorEvent): e is EventOfKind<(typeof CONNECTION_KINDS)[number]> {
  return (CONNECTION_KINDS as readonly string[]).includes(e.kind);
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
      const metric = spec.type === 'counter'
        ? new Counter({ name: spec.name, help: spec.help, labelNames, registers })
        : new Gauge({ name: spec.name, help: spec.help, labelNames, registers });
      this.families.set(key, new Family(spec, metric, labelNames, cap, refused));
    }

    this.fam('buildInfo').set({ version: opts.version ?? 'unknown', node: process.version }, 1);
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

  /** The text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** One event of the contract. */
  onEvent(e: DoctorEvent): void {
    if (!isKind(e.kind)) return;
    const proxy = e.proxy;
    const service = e.service ?? '';
    if (isConnectionEvent(e) || e.kind === 'connection_rejected') this.knowService(proxy, service);
    if (isFailureKind(e.kind)) {
      const reason = isReasonOf(e.kind, e.reason) ? e.reason : 'other';
      this.fam('failures').add(this.proxyLabels(proxy, { service, kind: e.kind, reason }), 1);
      this.fam('lastFailureTimestamp').set(this.proxyLabels(proxy, { kind: e.kind }), this.now() / 1000);
    }
    if (isConnectionEvent(e)) {
      const outcome = e.kind === 'connection_closed' ? 'ok' : 'failed';
      this.fam('connectionsFinished').add(this.proxyLabels(proxy, { service, outcome }), 1);
      const bytes = this.fam('transferredBytes');
      if (e.bytesToTls !== null) bytes.add(this.proxyLabels(proxy, { service, direction: 'to_tls' }), e.bytesToTls);
      if (e.bytesToSocket !== null) {
        bytes.add(this.proxyLabels(proxy, { service, direction: 'to_socket' }), e.bytesToSocket);
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
    this.knowService(proxy, s);
    this.fam('connectionsAccepted').add(this.proxyLabels(proxy, { service: s }), 1);
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
