/**
 * The per-proxy status model behind the status page: fed every event synchronously by the doctor, kept by
 * the server (so it survives page reloads) and bounded: the last `maxFailures` problems per proxy and
 * connection / failure counts per minute over the last `minutes` minutes. `view()` turns it into plain, already
 * formatted text that the server-side renderer and the page's live script both draw without any logic of their own.
 *
 * Which minute an event counts in: an event read live (the sidecar had caught up with its file) counts when it
 * was read, by the sidecar's own clock: it was written a moment before, and no time zone or clock difference
 * between stunnel's host and the sidecar can misplace it. An event of the backlog (lines already in the file when
 * the sidecar started following it) counts at its log time, read as local time like `scan --since`: reading a
 * week of log at start does not make "the last 15 minutes" look busy. A backlog event without a log time (a
 * stderr capture) cannot be placed and is not counted; one whose log time is ahead of the clock counts now.
 */
import { CONNECTION_KINDS, isFailure, severityAtLeast, type ConfigFailedEvent, type DoctorEvent, type Severity } from '../events.js';
import { logTimeMs } from '../time-window.js';

export interface StatusOptions {
  /** Problems (events of severity warning or worse) kept per proxy. */
  maxFailures: number;
  /** Minutes of per-minute counts. */
  minutes: number;
  /** Wall clock (tests). */
  now: () => number;
}

const DEFAULTS: StatusOptions = { maxFailures: 50, minutes: 15, now: Date.now };

interface Recorded {
  seq: number;
  /** Wall time the sidecar read the event (ms). */
  seenAt: number;
  event: DoctorEvent;
}

interface Bucket {
  minute: number;
  connections: number;
  failures: number;
}

interface ProxyBook {
  configOk: boolean | null;
  configFailure: Recorded | null;
  /** The first of the configuration failures since the last good start or reload (a restart loop stays down since it). */
  downSince: Recorded | null;
  lastStart: string | null;
  version: string | null;
  /** The latest run ended (proxy_stopped) and no new start was seen since. */
  stopped: Recorded | null;
  /** The first failure (error or worse) since the last successful connection. */
  failingSince: Recorded | null;
  lastOk: string | null;
  buckets: Bucket[];
  failures: Recorded[];
  /** The ids of `failures`. */
  failureIds: Set<string>;
  seenEvents: number;
}

/** The proxy's condition, worst first. */
export const STATES = ['down', 'failing', 'no_log', 'stopped', 'degraded', 'ok', 'unknown'] as const;
export type State = (typeof STATES)[number];
const BADGES: Record<State, string> = {
  down: 'DOWN', failing: 'FAILING', no_log: 'NO LOG', stopped: 'STOPPED', degraded: 'DEGRADED', ok: 'OK', unknown: 'UNKNOWN',
};

/** What the page shows for one proxy: display text only. */
export interface ProxyView {
  proxy: string;
  labels: string;
  state: State;
  /** The state as a short badge text. */
  badge: string;
  /** What is wrong (or right): a kind/reason where there is one. */
  stateText: string;
  /** A second, smaller line about the state. */
  stateNote: string;
  /** `since <time>`: when the current state began, as log time (or read time for lines without one); '' when not known. */
  since: string;
  lastStart: string;
  open: number;
  connections: number;
  failures: number;
  /** Per-minute sparklines, oldest minute first, and the counts they draw. */
  connectionsSpark: string;
  failuresSpark: string;
  sparkTitle: string;
  /** The latest problem and what to do about it. */
  lastProblem: string;
  hint: string;
  files: string[];
}

/** One problem (failure or warning) as the page shows it. */
export interface ProblemView {
  id: string;
  severity: Severity;
  proxy: string;
  what: string;
  when: string;
  where: string;
  facts: string;
  detail: string[];
  hint: string;
}

export interface StatusView {
  generatedAt: string;
  minutes: number;
  /** One line for the top of the page: which proxies need attention. */
  summary: string;
  summaryLevel: 'ok' | 'warn' | 'bad';
  proxies: ProxyView[];
  problems: ProblemView[];
}

/** What the doctor knows about a proxy besides its events: its files and its open connections. */
export interface ProxyFacts {
  proxy: string;
  labels: Record<string, string>;
  files: { path: string; role: 'log' | 'stderr'; error: string | null }[];
  openConnections: number;
}

const CONNECTION = new Set<string>([...CONNECTION_KINDS, 'connection_rejected']);
const SPARK = '▁▂▃▄▅▆▇█';

export class StatusBook {
  private readonly books = new Map<string, ProxyBook>();
  private seq = 0;
  private readonly opts: StatusOptions;

  constructor(opts: Partial<StatusOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  private book(proxy: string): ProxyBook {
    let b = this.books.get(proxy);
    if (!b) {
      b = {
        configOk: null, configFailure: null, downSince: null, lastStart: null, version: null, stopped: null, failingSince: null,
        lastOk: null, buckets: [], failures: [], failureIds: new Set(), seenEvents: 0,
      };
      this.books.set(proxy, b);
    }
    return b;
  }

  /**
   * One event, in the order read. `backlog`: its line was already in the file when the sidecar began to follow
   * it (counted at its log time, see above); otherwise it was read live (counted now).
   */
  record(e: DoctorEvent, opts: { backlog?: boolean } = {}): void {
    const b = this.book(e.proxy);
    const problem = e.severity !== 'info';
    // The same event read twice (a restart before its checkpoint) has the same id: count it once.
    if (problem && b.failureIds.has(e.id)) return;
    const now = this.opts.now();
    // Kept only by the events a book holds on to (most events are successful connections, counted only).
    const r: Recorded | null =
      problem || e.kind === 'config_failed' || e.kind === 'proxy_stopped' ? { seq: ++this.seq, seenAt: now, event: e } : null;
    b.seenEvents++;
    switch (e.kind) {
      case 'proxy_started':
        b.configOk = true;
        b.configFailure = null;
        b.lastStart = e.time;
        b.version = e.version;
        b.stopped = null;
        break;
      case 'config_reloaded':
        b.configOk = true;
        b.configFailure = null;
        break;
      case 'config_failed':
        if (b.configOk !== false) b.downSince = r;
        b.configOk = false;
        b.configFailure = r;
        break;
      case 'proxy_stopped':
        b.stopped = r;
        break;
      case 'connection_closed':
        b.failingSince = null;
        b.lastOk = e.time;
        break;
      default:
        if (isFailure(e) && severityAtLeast(e.severity, 'error')) b.failingSince ??= r;
    }
    if (CONNECTION.has(e.kind) || isFailure(e)) {
      const at = opts.backlog ? Math.min(logTimeMs(e.time), now) : now;
      const bucket = Number.isNaN(at) ? null : this.bucket(b, at, now);
      if (bucket && CONNECTION.has(e.kind)) bucket.connections++;
      if (bucket && isFailure(e)) bucket.failures++;
    }
    if (r !== null && problem) {
      b.failures.push(r);
      b.failureIds.add(e.id);
      if (b.failures.length > this.opts.maxFailures) {
        for (const old of b.failures.splice(0, b.failures.length - this.opts.maxFailures)) b.failureIds.delete(old.event.id);
      }
    }
  }

  forget(proxy: string): void {
    this.books.delete(proxy);
  }

  /** What the log said of a proxy's stunnel: its configuration, its last start, its latest problems (oldest first). */
  facts(proxy: string): { configOk: boolean | null; lastStart: string | null; version: string | null; problems: DoctorEvent[] } {
    const b = this.books.get(proxy);
    if (!b) return { configOk: null, lastStart: null, version: null, problems: [] };
    return { configOk: b.configOk, lastStart: b.lastStart, version: b.version, problems: b.failures.map((r) => r.event) };
  }

  /** The bucket of `at`'s minute (buckets stay sorted, at most `minutes` of them); null when it is before the window. */
  private bucket(b: ProxyBook, at: number, now: number): Bucket | null {
    const oldest = Math.floor(now / 60_000) - this.opts.minutes + 1;
    while (b.buckets.length && b.buckets[0]!.minute < oldest) b.buckets.shift();
    const minute = Math.floor(at / 60_000);
    if (minute < oldest) return null;
    let i = b.buckets.length;
    while (i > 0 && b.buckets[i - 1]!.minute > minute) i--;
    const prev = b.buckets[i - 1];
    if (prev && prev.minute === minute) return prev;
    const fresh = { minute, connections: 0, failures: 0 };
    b.buckets.splice(i, 0, fresh);
    return fresh;
  }

  /** Per-minute counts over the window, oldest first (zeros where nothing happened). */
  private series(b: ProxyBook, now: number): { connections: number[]; failures: number[] } {
    const n = this.opts.minutes;
    const first = Math.floor(now / 60_000) - n + 1;
    const connections = new Array<number>(n).fill(0);
    const failures = new Array<number>(n).fill(0);
    for (const x of b.buckets) {
      const i = x.minute - first;
      if (i >= 0 && i < n) {
        connections[i] = x.connections;
        failures[i] = x.failures;
      }
    }
    return { connections, failures };
  }

  /** The page's view: proxies worst first, then by name; the latest problems of all proxies, newest first. */
  view(facts: ProxyFacts[], filter?: { proxy?: string }): StatusView {
    const now = this.opts.now();
    const proxies = facts.map((f) => this.proxyView(f, this.books.get(f.proxy) ?? this.book(f.proxy), now));
    proxies.sort((a, b) => STATES.indexOf(a.state) - STATES.indexOf(b.state) || a.proxy.localeCompare(b.proxy));
    const known = new Set(facts.map((f) => f.proxy));
    const all: Recorded[] = [];
    for (const [proxy, b] of this.books) {
      if (known.has(proxy) && (!filter?.proxy || filter.proxy === proxy)) all.push(...b.failures);
    }
    all.sort((a, b) => b.seq - a.seq);
    const problems = all.slice(0, this.opts.maxFailures).map((r) => problemView(r));
    const bad = proxies.filter((p) => p.state === 'down' || p.state === 'failing');
    const warn = proxies.filter((p) => p.state === 'no_log' || p.state === 'stopped' || p.state === 'degraded');
    const name = (p: ProxyView): string => `${p.proxy} (${p.badge.toLowerCase()}${p.since ? ` ${p.since}` : ''})`;
    let summary: string;
    if (proxies.length === 0) summary = 'No proxies configured.';
    else if (bad.length) summary = `${bad.length} of ${proxies.length} ${plural(proxies.length, 'proxy', 'proxies')} broken: ${bad.map(name).join('; ')}`;
    else if (warn.length) summary = `No proxy is broken; ${warn.length} of ${proxies.length} need a look: ${warn.map(name).join('; ')}`;
    else summary = `All ${proxies.length} ${plural(proxies.length, 'proxy', 'proxies')} OK.`;
    return {
      generatedAt: new Date(now).toISOString(),
      minutes: this.opts.minutes,
      summary,
      summaryLevel: bad.length ? 'bad' : warn.length ? 'warn' : 'ok',
      proxies,
      problems,
    };
  }

  private proxyView(f: ProxyFacts, b: ProxyBook, now: number): ProxyView {
    const s = this.series(b, now);
    const connections = sum(s.connections);
    const failures = sum(s.failures);
    const latest = b.failures[b.failures.length - 1];
    const fileErrors = f.files.filter((x) => x.error);
    let state: State;
    let stateText: string;
    let stateNote = '';
    let since = '';
    /** The problem whose reason and hint the row shows. */
    let shown: Recorded | undefined = latest;
    let hint = '';
    if (b.configOk === false && b.configFailure) {
      const e = b.configFailure.event as ConfigFailedEvent;
      state = 'down';
      stateText = `config_failed/${e.reason}`;
      stateNote = `stunnel ${e.phase === 'reload' ? 'refused to reload its' : 'did not start: bad'} configuration`;
      since = when(b.downSince ?? b.configFailure);
      shown = b.configFailure;
    } else if (b.failingSince) {
      const streak = b.failures.filter((r) => r.seq >= b.failingSince!.seq && isFailure(r.event) && severityAtLeast(r.event.severity, 'error'));
      const current = (streak[streak.length - 1] ?? b.failingSince).event;
      state = 'failing';
      stateText = `${current.kind}/${current.reason}`;
      stateNote = `${streak.length} failed ${plural(streak.length, 'connection', 'connections')} since ` +
        (b.lastOk ? `the last good one (${display(b.lastOk)})` : 'reading began, none succeeded');
      since = when(b.failingSince);
      shown = streak[streak.length - 1] ?? b.failingSince;
    } else if (fileErrors.length) {
      state = 'no_log';
      stateText = `cannot read ${fileErrors.map((x) => `${x.role} (${x.error})`).join(', ')}`;
      shown = undefined;
      hint = 'Check that the path is stunnel\'s "output =" file (or its stderr capture) and that the sidecar may read it.';
    } else if (b.stopped) {
      state = 'stopped';
      stateText = `proxy_stopped/${b.stopped.event.reason}`;
      stateNote = 'stunnel is not running';
      since = when(b.stopped);
      shown = b.stopped;
    } else if (failures > 0) {
      state = 'degraded';
      stateText = 'the latest connection succeeded';
      stateNote = `${failures} ${plural(failures, 'failure', 'failures')} in the last ${this.opts.minutes} min`;
    } else if (b.seenEvents > 0 || b.configOk) {
      state = 'ok';
      stateText = b.configOk ? 'running' : 'running (start not seen)';
      if (b.lastStart) since = display(b.lastStart);
    } else {
      state = 'unknown';
      stateText = 'nothing read yet';
    }
    return {
      proxy: f.proxy,
      labels: Object.entries(f.labels).map(([k, v]) => `${k}=${v}`).join(' '),
      state,
      badge: BADGES[state],
      stateText,
      stateNote,
      since: since ? `since ${since}` : '',
      lastStart: b.lastStart ? `started ${display(b.lastStart)}${b.version ? ` · stunnel ${b.version}` : ''}` : 'no start seen',
      open: f.openConnections,
      connections,
      failures,
      connectionsSpark: spark(s.connections),
      failuresSpark: spark(s.failures),
      sparkTitle: `per minute, oldest first: connections ${s.connections.join(' ')}; failures ${s.failures.join(' ')}`,
      lastProblem: shown ? `${shown.event.kind}/${shown.event.reason} at ${when(shown)}` : '',
      hint: shown ? shown.event.hint : hint,
      files: f.files.map((x) => `${x.role} ${x.path}${x.error ? ` (${x.error})` : ''}`),
    };
  }
}

function problemView(r: Recorded): ProblemView {
  const e = r.event;
  const facts: string[] = [];
  if ('peer' in e && e.peer) facts.push(`peer ${e.peer}`);
  if ('target' in e && e.target) facts.push(`target ${e.target}`);
  if ('subject' in e && e.subject) facts.push(`subject ${e.subject}${e.depth !== null ? ` (depth ${e.depth})` : ''}`);
  if (e.kind === 'config_failed' && e.configFile) facts.push(`${e.configFile}${e.configLine !== null ? `:${e.configLine}` : ''}`);
  return {
    id: e.id,
    severity: e.severity,
    proxy: e.proxy,
    what: `${e.kind}/${e.reason}`,
    when: when(r),
    where: [e.proxy, e.service ? `[${e.service}]` : '', e.connection !== null ? `#${e.connection}` : ''].filter(Boolean).join(' '),
    facts: facts.join(', '),
    detail: e.detail,
    hint: e.hint,
  };
}

/** Log time as written (local to stunnel), or the read time in UTC for lines without one (stderr). */
function when(r: Recorded): string {
  return r.event.time ? display(r.event.time) : `${new Date(r.seenAt).toISOString().slice(0, 19).replace('T', ' ')} UTC (read)`;
}

function display(t: string): string {
  return t.replace('T', ' ');
}

function spark(xs: number[]): string {
  const max = Math.max(...xs);
  return xs.map((x) => (max === 0 || x === 0 ? '·' : SPARK[Math.min(SPARK.length - 1, Math.ceil((x / max) * (SPARK.length - 1)))]!)).join('');
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}
