/**
 * The sidecar core: follows many proxies' logs (and their stderr captures) from durable checkpoints, runs
 * them through one pipeline, and feeds every sink (events$, NDJSON, metrics, diagnose). Library users get
 * it from createDoctor(); `stunnel-doctor watch` is a thin layer over it.
 */
import type { Observable } from 'rxjs';
import { stat } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { readdir } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { DoctorEvent, ProxyStartedEvent } from './events.js';
import { Pipeline, type Source, type SourceSnapshot } from './pipeline.js';
import { logrotateNames } from './tail/rotated-names.js';
import { loadRuleSet, type RuleSet } from './rules/index.js';
import { DoctorMetrics, type RotationMode } from './sinks/metrics.js';
import { EventHub } from './sinks/hub.js';
import { DiagnoseBook, type Diagnosis } from './sinks/diagnose.js';
import { StatusBook } from './sinks/status.js';
import { CheckpointStore } from './tail/checkpoint.js';
import { FileFollower, type FileRef, type FollowerNotice } from './tail/follower.js';
import { ReadGate } from './tail/gate.js';
import { proxyNameFromPath } from './scan.js';
import { VERSION } from './version.js';
import { checkedProxies, type ProxyConfig } from './config.js';
import { StunnelConfAwareness } from './stunnel-conf/enrich.js';

export interface DoctorOptions {
  proxies: ProxyConfig[];
  /** Extra rule files (extend or override the defaults by id). */
  rules?: string[];
  /** Checkpoints are kept here; without it every file is read from its start at every start. */
  stateDir?: string;
  /** Static per-proxy label names (a bounded set, e.g. ['purpose']). */
  labels?: string[];
  maxSeriesPerMetric?: number;
  /** A proxy whose file is gone for this long is forgotten (its series removed). */
  proxyGraceSeconds?: number;
  pollMs?: number;
  maxLineBytes?: number;
  maxOpenConnections?: number;
  /**
   * diagnose(): failures kept until a caller takes them, by all proxies together (default 10,000, about 1 KiB
   * each); when reached, the oldest failure of the proxy holding the most is dropped (counted in
   * `stunnel_doctor_diagnose_dropped_total{cap="total"}` and in the proxy's next diagnose() answer).
   */
  diagnoseMaxFailures?: number;
  /** diagnose(): failures kept per proxy until a caller takes them (default 1,000). */
  diagnoseMaxFailuresPerProxy?: number;
  /** NDJSON event output (a log shipper's input). */
  eventsOut?: Writable;
  /** Reading pauses while the NDJSON output holds more than this many bytes unwritten (default 16 MiB). */
  eventsOutMaxBuffered?: number;
  logger?: Logger;
  /** Verdict-bearing connections with no end line for this long are concluded (debug <= 4 logs). */
  quietMs?: number;
  /** A file behind is read in turns of at most this many bytes (default 2 MiB). */
  maxReadBytes?: number;
  /** At most this many read turns at once, over all files (default 4). */
  readSlots?: number;
  /** Called synchronously for every event, before any other sink (registered before reading starts). */
  onEvent?: (e: DoctorEvent) => void;
}

export interface ProxyStatus {
  proxy: string;
  labels: Record<string, string>;
  files: { path: string; role: 'log' | 'stderr'; offset: number; size: number; error: string | null }[];
  configOk: boolean | null;
  lastStart: string | null;
  version: string | null;
  openConnections: number;
  /** The latest problems (warning or worse, the last 50, oldest first): the status page's list for this proxy. */
  recentFailures: DoctorEvent[];
}

interface Followed {
  key: string;
  proxy: string;
  role: 'log' | 'stderr';
  path: string;
  source: Source;
  follower: FileFollower;
  offset: number;
  size: number;
  error: string | null;
  lastCounts: { matched: number; unmatched: number; invalid: number; cut: number; invalidUtf8: number };
  goneSince: number | null;
  fromGlob: boolean;
  /** The file and end offset of the last chunk processed (the next commit). */
  lastFile: FileRef | null;
  /** The file at the path was opened (reading it has begun). */
  opened: boolean;
  /**
   * Reading what the file held when following began (the backlog), until the first time its end is reached;
   * the status page counts these lines' events at their log time, the later ones when they are read.
   */
  catchingUp: boolean;
  /** follower.caughtUp, bound once (the sweep of every file every second takes it). */
  caughtUp: () => boolean;
}

interface ProxyState {
  name: string;
  labels: Record<string, string>;
}

export class Doctor {
  readonly events$: Observable<DoctorEvent>;
  readonly metrics: DoctorMetrics;
  private readonly hub = new EventHub();
  private readonly book: DiagnoseBook;
  /** The status page's per-proxy model (bounded; kept across page loads). */
  readonly statusBook = new StatusBook();
  /** Per proxy, its stunnel configuration (`stunnelConfig`): enriches events, warns about it. */
  private readonly stunnelConf = new StunnelConfAwareness();
  private pipeline!: Pipeline;
  private rules!: RuleSet;
  private store: CheckpointStore | null = null;
  private readonly followed = new Map<string, Followed>();
  private readonly proxies = new Map<string, ProxyState>();
  private readonly log: Logger;
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  private opts: DoctorOptions;
  private eventsOutBlocked = 0;
  /** Shared by every follower: a backlog is read in bounded turns, a few at once. */
  readonly readGate: ReadGate;

  private constructor(opts: DoctorOptions) {
    this.opts = opts;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.readGate = new ReadGate(opts.readSlots ?? 4);
    this.events$ = this.hub.events$;
    this.metrics = new DoctorMetrics({
      staticLabelNames: opts.labels ?? [],
      maxSeriesPerMetric: opts.maxSeriesPerMetric ?? 10_000,
      version: VERSION,
      openConnections: () => this.openConnections(),
    });
    this.hub.onDrop = (n) => this.metrics.eventsDropped(n);
    this.book = new DiagnoseBook({
      ...(opts.diagnoseMaxFailures !== undefined ? { maxTotal: opts.diagnoseMaxFailures } : {}),
      ...(opts.diagnoseMaxFailuresPerProxy !== undefined ? { maxPerProxy: opts.diagnoseMaxFailuresPerProxy } : {}),
      onDrop: (cap) => this.metrics.diagnoseDropped(cap),
    });
  }

  static async create(opts: DoctorOptions): Promise<Doctor> {
    // A program's proxies are checked as a configuration file's are (a proxy without a name would fail later, in a timer).
    opts = { ...opts, proxies: checkedProxies(opts.proxies) };
    const d = new Doctor(opts);
    d.rules = await loadRuleSet(opts.rules ?? []);
    d.metrics.rulesReloaded(true);
    d.pipeline = new Pipeline(d.rules, {
      event: (e) => d.stunnelConf.process(e, (x) => d.onEvent(x)),
      accepted: (proxy, service) => d.metrics.accepted(proxy, service),
      dropped: (proxy, what, n) => d.metrics.stateDropped(proxy, what, n),
    }, { limits: { maxOpenConnections: opts.maxOpenConnections ?? 10_000 }, parse: {} });
    if (opts.stateDir) {
      d.store = await CheckpointStore.open(opts.stateDir, { logger: d.log.child({ component: 'checkpoint' }), onFailure: () => d.metrics.checkpointFailure() });
    }
    await d.applyProxies(opts.proxies);
    setImmediate(() => void d.startFollowing());
    d.timers.push(setInterval(() => void d.discover(), Math.max(1000, (opts.pollMs ?? 1000) * 2)));
    d.timers.push(setInterval(() => d.housekeeping(), 1000));
    for (const t of d.timers) t.unref();
    return d;
  }

  // ------------------------------------------------------------------ events

  private onEvent(e: DoctorEvent): void {
    this.opts.onEvent?.(e);
    this.metrics.onEvent(e);
    this.book.record(e);
    this.statusBook.record(e, { backlog: this.readingBacklog });
    this.hub.publish(e);
    // Never dropped: the offset moves past these lines at the next commit. A slow reader of the NDJSON output
    // pauses the reading instead (outReady), so what waits in memory is bounded by what one read delivers.
    if (this.opts.eventsOut) {
      this.outPending += `${JSON.stringify(e)}\n`;
      if (this.outPending.length >= OUT_BATCH) this.flushOut();
      else if (!this.outScheduled) {
        this.outScheduled = true;
        queueMicrotask(this.flushOut);
      }
    }
  }

  /**
   * NDJSON lines not yet handed to the output. They are written together once the current turn's lines are
   * processed (or every OUT_BATCH characters), not one write per event: stdout to a pipe is written
   * synchronously, a system call per write, and a backlog of 223,000 events took 5 s in them.
   */
  private outPending = '';
  private outScheduled = false;
  private readonly flushOut = (): void => {
    this.outScheduled = false;
    if (this.outPending === '') return;
    const s = this.outPending;
    this.outPending = '';
    this.opts.eventsOut?.write(s);
  };

  /** Backpressure for the followers: a promise while the NDJSON output holds more than its bound unwritten. */
  private outReady(): Promise<void> | undefined {
    const out = this.opts.eventsOut;
    if (!out || this.closed || out.writableLength <= (this.opts.eventsOutMaxBuffered ?? 16 << 20)) return undefined;
    this.eventsOutBlocked++;
    this.outWait ??= new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done);
        out.off('close', done);
        out.off('error', done);
        this.outWait = null;
        resolve();
      };
      out.on('drain', done);
      out.on('close', done);
      out.on('error', done);
    });
    return this.outWait;
  }

  private outWait: Promise<void> | null = null;
  /** True while the lines being processed are a file's backlog (see Followed.catchingUp). */
  private readingBacklog = false;

  private openConnections(): { proxy: string; service: string; count: number }[] {
    const out: { proxy: string; service: string; count: number }[] = [];
    for (const f of this.followed.values()) {
      for (const [service, count] of f.source.openByService()) out.push({ proxy: f.proxy, service, count });
    }
    return out;
  }

  // ------------------------------------------------------------------ proxies and files

  /** Globbed paths already warned about a proxy-name clash (discovery runs every poll period). */
  private readonly clashWarned = new Set<string>();

  private async applyProxies(list: ProxyConfig[]): Promise<void> {
    const wanted = new Map<string, { proxy: string; role: 'log' | 'stderr'; path: string; labels: Record<string, string>; glob: boolean }>();
    for (const p of list) {
      if (p.log) {
        wanted.set(`${p.name}\0log`, { proxy: p.name!, role: 'log', path: p.log, labels: p.labels ?? {}, glob: false });
        if (p.stderr) wanted.set(`${p.name}\0stderr`, { proxy: p.name!, role: 'stderr', path: p.stderr, labels: p.labels ?? {}, glob: false });
      } else if (p.glob) {
        for (const path of await expandGlob(p.glob)) {
          // A rotated copy (`x.log.1`, `x.log.2.gz`, `x.log-20261202`) is read by the follower of `x.log`.
          if (isRotatedName(path)) continue;
          const proxy = proxyNameFromPath(path);
          const taken = wanted.get(`${proxy}\0log`);
          if (taken) {
            // Two files would be one proxy (same name in two globbed directories, or a static proxy's name):
            // the first keeps it, the other is not followed, and said once.
            if (taken.path !== path && !this.clashWarned.has(path)) {
              this.clashWarned.add(path);
              this.log.warn({ proxy, path, followed: taken.path }, 'globbed file not followed: its proxy name is taken by another file');
            }
            continue;
          }
          wanted.set(`${proxy}\0log`, { proxy, role: 'log', path, labels: p.labels ?? {}, glob: true });
        }
      }
    }
    this.applyStunnelConfigs(list);
    for (const [key, w] of wanted) {
      const cur = this.followed.get(key);
      if (cur && cur.path === w.path) {
        this.setProxy(w.proxy, w.labels);
        continue;
      }
      if (cur) {
        // Another file for this proxy: the checkpoint (and correlator state) of the old one does not apply.
        await this.unfollow(key, false);
        this.store?.delete(key);
      }
      this.setProxy(w.proxy, w.labels);
      await this.follow(key, w.proxy, w.role, w.path, w.glob);
    }
    for (const key of [...this.followed.keys()]) {
      if (!wanted.has(key) && !this.followed.get(key)!.fromGlob) await this.unfollow(key, true);
    }
  }

  /**
   * Proxies' stunnel configurations: a new or changed path is read (its warnings delivered once reading has
   * started, so that a subscriber attached after createDoctor sees them); a removed one is forgotten.
   */
  private applyStunnelConfigs(list: ProxyConfig[]): void {
    const paths = new Map(list.filter((p) => p.log && p.name).map((p) => [p.name!, p.stunnelConfig]));
    for (const [name, path] of paths) {
      if (this.stunnelConf.setPath(name, path) && path) this.pendingConfLoads.add(name);
    }
    for (const name of [...this.pendingConfLoads]) if (!paths.get(name)) this.pendingConfLoads.delete(name);
    if (this.started) this.loadStunnelConfigs();
  }

  private readonly pendingConfLoads = new Set<string>();

  private loadStunnelConfigs(all = false): void {
    const names = all ? [...this.proxies.keys()].filter((n) => this.stunnelConf.has(n)) : [...this.pendingConfLoads];
    this.pendingConfLoads.clear();
    for (const name of names) for (const w of this.stunnelConf.load(name)) this.onEvent(w);
  }

  private setProxy(name: string, labels: Record<string, string>): void {
    let p = this.proxies.get(name);
    if (!p) {
      p = { name, labels };
      this.proxies.set(name, p);
    }
    p.labels = labels;
    this.metrics.setProxyLabels(name, labels);
  }

  private async follow(key: string, proxy: string, role: 'log' | 'stderr', path: string, fromGlob: boolean): Promise<void> {
    const source = this.pipeline.source(key, { proxy, file: path });
    const cp = this.store?.get(key);
    if (cp?.state) {
      try {
        source.restore(cp.state as SourceSnapshot);
      } catch (e) {
        this.log.warn({ proxy, path, err: (e as Error).message }, 'checkpoint state not restored');
      }
    }
    const f: Followed = {
      key, proxy, role, path, source, offset: cp?.offset ?? 0, size: 0, error: null,
      lastCounts: { matched: 0, unmatched: 0, invalid: 0, cut: 0, invalidUtf8: 0 }, goneSince: null, fromGlob, lastFile: null,
      opened: false, catchingUp: true, follower: undefined as unknown as FileFollower,
      caughtUp: () => f.follower.caughtUp(),
    };
    f.follower = new FileFollower({
      path,
      key,
      // A checkpoint's file may be several rotations back after downtime: numbered or dated (dateext) copies.
      rotatedNames: logrotateNames,
      ...(this.store ? { store: this.store } : {}),
      maxLineBytes: this.opts.maxLineBytes ?? 64 * 1024,
      pollMs: this.opts.pollMs ?? 1000,
      logger: this.log.child({ proxy, path }),
      onChunk: (chunk, file) => {
        this.readingBacklog = f.catchingUp;
        try {
          this.pipeline.push(source, chunk, file.fingerprint);
        } finally {
          this.readingBacklog = false;
        }
        if (f.catchingUp && f.opened && file.readFrom === path && chunk.endOffset >= f.follower.metrics().fileSize) f.catchingUp = false;
        f.offset = chunk.endOffset;
        f.lastFile = file;
        f.error = null;
        f.goneSince = null;
        this.countLines(f);
        this.dirty.add(f);
      },
      onNotice: (n) => this.onNotice(f, n),
      ready: () => this.outReady(),
      readGate: this.readGate,
      ...(this.opts.maxReadBytes !== undefined ? { maxReadBytes: this.opts.maxReadBytes } : {}),
    });
    this.followed.set(key, f);
    // Reading starts on the next turn of the event loop: a subscriber attached right after
    // `await createDoctor()` sees the events of the backlog too.
    if (this.started) await f.follower.start();
    else this.pendingStarts.push(f);
  }

  private started = false;
  private pendingStarts: Followed[] = [];

  private async startFollowing(): Promise<void> {
    this.started = true;
    this.loadStunnelConfigs();
    const list = this.pendingStarts.splice(0);
    await Promise.all(list.map((f) => f.follower.start()));
  }

  private readonly dirty = new Set<Followed>();

  private countLines(f: Followed): void {
    const c = f.source.counts;
    const l = f.lastCounts;
    if (c.matched !== l.matched) this.metrics.lines(f.proxy, 'matched', c.matched - l.matched);
    if (c.unmatched !== l.unmatched) this.metrics.lines(f.proxy, 'unmatched', c.unmatched - l.unmatched);
    if (c.invalid !== l.invalid) this.metrics.lines(f.proxy, 'invalid', c.invalid - l.invalid);
    if (c.cut !== l.cut) this.metrics.cutLines(f.proxy, c.cut - l.cut);
    if (c.invalidUtf8 !== l.invalidUtf8) this.metrics.invalidUtf8Lines(f.proxy, c.invalidUtf8 - l.invalidUtf8);
    l.invalidUtf8 = c.invalidUtf8;
    l.matched = c.matched;
    l.unmatched = c.unmatched;
    l.invalid = c.invalid;
    l.cut = c.cut;
  }

  private onNotice(f: Followed, n: FollowerNotice): void {
    switch (n.type) {
      case 'rotated':
        this.metrics.rotation(f.proxy, n.mode as RotationMode);
        this.log.info({ proxy: f.proxy, path: f.path, mode: n.mode }, 'log rotated');
        break;
      case 'missing':
      case 'deleted':
        f.goneSince ??= Date.now();
        f.error = n.type;
        break;
      case 'error':
        f.error = n.reason ?? n.error ?? 'error';
        this.metrics.fileError(f.proxy, n.reason ?? 'internal-error');
        this.log.warn({ proxy: f.proxy, path: f.path, reason: n.reason, error: n.error }, 'cannot read log');
        break;
      case 'opened':
        f.opened = true;
      // falls through
      case 'recovered':
        // 'opened': the file is there again (a new file at the path after a deletion, before any line).
        f.error = null;
        f.goneSince = null;
        break;
      case 'stats':
        f.size = n.size ?? f.size;
        this.metrics.fileStats(f.proxy, f.offset, f.size);
        break;
      default:
        this.log.debug({ proxy: f.proxy, path: f.path, notice: n }, 'follower notice');
    }
  }

  private async unfollow(key: string, forget: boolean): Promise<void> {
    const f = this.followed.get(key);
    if (!f) return;
    this.followed.delete(key);
    this.dirty.delete(f);
    await f.follower.stop();
    this.pipeline.removeSource(key);
    // A forgotten file's checkpoint goes too: a sidecar running for months does not keep one per instance
    // that ever ran (a file that comes back later is read from its start).
    if (forget) this.store?.delete(key);
    if (forget && ![...this.followed.values()].some((o) => o.proxy === f.proxy)) {
      this.metrics.removeProxy(f.proxy);
      this.book.forget(f.proxy);
      this.statusBook.forget(f.proxy);
      this.proxies.delete(f.proxy);
      this.stunnelConf.forget(f.proxy);
    }
  }

  /** New files matching a glob appear as new proxies. */
  private async discover(): Promise<void> {
    if (this.closed) return;
    if (this.opts.proxies.some((p) => p.glob)) {
      try {
        await this.applyProxies(this.opts.proxies);
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'discovery failed');
      }
    }
  }

  private housekeeping(): void {
    if (this.closed) return;
    const now = Date.now();
    const grace = (this.opts.proxyGraceSeconds ?? 300) * 1000;
    for (const f of this.followed.values()) {
      const fl = f.follower; // its getters, not metrics(): no record made per file per second
      const fileSize = fl.fileSize;
      // A file that was empty or missing when following began has no backlog.
      if (f.catchingUp && ((f.opened && fl.deliveredOffset >= fileSize) || fl.followState === 'waiting')) f.catchingUp = false;
      // Quiet connections are concluded only when the file is read to its end at this moment (a fresh fstat,
      // not the size of the last check): while the sidecar is behind (a backlog, starved of CPU, paused by a
      // slow NDJSON reader), the end line may be waiting in the unread part.
      f.source.sweep(performance.now(), this.opts.quietMs ?? 5000, f.caughtUp);
      f.size = fileSize;
      const committed = fl.committedOffset;
      this.metrics.fileStats(f.proxy, committed, Math.max(fileSize, committed));
      if (f.fromGlob && f.goneSince !== null && now - f.goneSince > grace) void this.unfollow(f.key, true);
    }
    this.metrics.reading(this.readGate.maxBytes, this.opts.eventsOut?.writableLength ?? 0);
    this.metrics.diagnoseHeld(this.book.size);
    void this.commitCheckpoints();
  }

  /**
   * Commits each file's offset together with the correlator state at that offset, once the events of the
   * lines before it are delivered: handed to every subscriber's queue and written to the NDJSON output.
   */
  private async commitCheckpoints(): Promise<void> {
    if (this.dirty.size === 0) return;
    const batch = [...this.dirty].map((f) => ({ f, file: f.lastFile, offset: f.offset, state: f.source.snapshot() }));
    this.dirty.clear();
    const out = this.opts.eventsOut;
    this.flushOut();
    if (out && out.writable) await new Promise<void>((resolve) => out.write('', () => resolve()));
    for (const b of batch) {
      if (b.file) b.f.follower.commit(b.offset, b.state, b.file);
    }
  }

  // ------------------------------------------------------------------ public API

  diagnose(proxy: string): Diagnosis {
    return this.book.diagnose(proxy);
  }

  hasProxy(proxy: string): boolean {
    return this.proxies.has(proxy);
  }

  waitForStart(proxy: string, opts: { timeout?: number } = {}): Promise<ProxyStartedEvent> {
    return this.book.waitForStart(proxy, opts.timeout ?? 3000);
  }

  status(): ProxyStatus[] {
    return [...this.proxies.values()].map((p) => {
      const files = [...this.followed.values()].filter((f) => f.proxy === p.name);
      const seen = this.statusBook.facts(p.name);
      return {
        proxy: p.name,
        labels: p.labels,
        files: files.map((f) => ({ path: f.path, role: f.role, offset: f.offset, size: f.size, error: f.error })),
        configOk: seen.configOk,
        lastStart: seen.lastStart,
        version: seen.version,
        openConnections: files.reduce((a, f) => a + f.source.openConnections, 0),
        recentFailures: seen.problems,
      };
    });
  }

  get eventHub(): EventHub {
    return this.hub;
  }

  /**
   * Reloads rules (and proxies, when given) without losing state or resetting counters. Everything is
   * checked before anything is applied: a bad rule file (RuleLoadError) or a proxy with a label outside the
   * running static label names (ReloadError) leaves the running rules and proxies as they were.
   */
  async reload(next?: Partial<DoctorOptions>): Promise<void> {
    if (next?.proxies) next = { ...next, proxies: checkedProxies(next.proxies) };
    let rules: RuleSet | undefined;
    if (next?.rules) {
      try {
        rules = await loadRuleSet(next.rules);
      } catch (e) {
        this.metrics.rulesReloaded(false);
        throw e;
      }
    }
    const running = this.opts.labels ?? [];
    if (next?.labels && (next.labels.length !== running.length || next.labels.some((l, i) => l !== running[i]))) {
      throw new ReloadError(`labels: [${next.labels.join(', ')}] differs from the running [${running.join(', ')}]: static label names change only with a restart`);
    }
    for (const p of next?.proxies ?? []) {
      const bad = Object.keys(p.labels ?? {}).filter((l) => !running.includes(l));
      if (bad.length) throw new ReloadError(`proxy ${p.name ?? p.glob}: label ${bad.join(', ')} is not among the running static label names [${running.join(', ')}] (they change only with a restart)`);
    }
    if (rules && next?.rules) {
      this.rules = rules;
      this.pipeline.setRules(rules);
      this.opts = { ...this.opts, rules: next.rules };
      this.metrics.rulesReloaded(true);
    }
    if (next?.proxyGraceSeconds !== undefined) this.opts = { ...this.opts, proxyGraceSeconds: next.proxyGraceSeconds };
    if (next?.proxies) {
      this.opts = { ...this.opts, proxies: next.proxies };
      await this.applyProxies(next.proxies);
    }
    // Re-read every stunnel configuration (SIGHUP): warnings again only where the content changed.
    if (this.started) this.loadStunnelConfigs(true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    await this.hub.settled();
    await this.commitCheckpoints();
    await Promise.all([...this.followed.values()].map((f) => f.follower.stop()));
    await this.store?.flush();
    await this.store?.close();
  }
}

/** Characters of NDJSON gathered at most before they are written (see Doctor.flushOut). */
const OUT_BATCH = 64 * 1024;

/** A reload that cannot be applied while running (the running configuration is kept). */
export class ReloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReloadError';
  }
}

export async function createDoctor(opts: DoctorOptions): Promise<Doctor> {
  return Doctor.create(opts);
}

/** `*` and `?` in the last path component (the usual `/var/log/stunnel4/*.log`). */
/** A rotated copy's name: `.1`, a compression suffix, or a date suffix (logrotate `dateext`) after the log's name. */
export function isRotatedName(path: string): boolean {
  return /(\.\d+|-\d{8,10})(\.(gz|xz|bz2|zst))?$|\.(gz|xz|bz2|zst)$/.test(basename(path));
}

export async function expandGlob(pattern: string): Promise<string[]> {
  const dir = dirname(pattern);
  const base = basename(pattern);
  if (!/[*?]/.test(base)) return [pattern];
  const re = new RegExp(`^${base.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names.sort()) {
    if (!re.test(n)) continue;
    const p = join(dir, n);
    try {
      if ((await stat(p)).isFile()) out.push(p);
    } catch {
      // gone between readdir and stat
    }
  }
  return out;
}
