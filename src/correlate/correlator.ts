/**
 * The stateful core: per source (one proxy's log, or its stderr capture), the current stunnel run, its
 * configuration attempt and its open connections. Matched lines update that state; concluding lines turn
 * it into typed events. All state is bounded: connections end, are dropped at a new run, or are evicted by
 * a cap, and every drop is counted.
 */
import {
  type DoctorEvent, type Kind, type Severity, CONNECTION_KINDS,
} from '../events.js';
import { eventId } from '../tail/identity.js';
import { formatTime, type LineRecord } from '../parse/line.js';
import {
  groupsOf, F_SERVICE, F_PEER, F_TARGET, F_SUBJECT, F_DEPTH, F_STATUS, F_TO_TLS, F_TO_SOCKET, F_CONFIG_FILE, F_CONFIG_LINE,
  type CompiledRule, type RuleMatch,
} from '../rules/compile.js';

export interface CorrelatorLimits {
  /** Open connections kept per source; the oldest is evicted beyond it (a verdict is still emitted). */
  maxOpenConnections: number;
  /** Detail lines kept per connection or configuration attempt. */
  maxDetailLines: number;
}

export const DEFAULT_LIMITS: CorrelatorLimits = { maxOpenConnections: 10_000, maxDetailLines: 64 };

export interface CorrelatorSink {
  event(e: DoctorEvent): void;
  /** A connection was accepted (its first `start` line). */
  accepted(proxy: string, service: string | null): void;
  /** State dropped without an event: `run_end` (a new run or a stop), `connection_cap`, `detail_cap`. */
  dropped(proxy: string, what: 'run_end' | 'connection_cap' | 'detail_cap', n: number): void;
}

type Groups = Record<string, string | undefined>;

interface Verdict {
  rule: CompiledRule;
  kind: Kind;
  reason: string;
  priority: number;
  groups: Groups;
}

interface Fields {
  service: string | null;
  peer: string | null;
  target: string | null;
  subject: string | null;
  depth: number | null;
  status: string | null;
  toTls: number | null;
  toSocket: number | null;
  configFile: string | null;
  configLine: number | null;
}

interface Conn extends Fields {
  id: string;
  verdict: Verdict | null;
  marks: string[];
  detail: string[];
  offsets: number[];
  firstTime: number;
  lastTime: number;
  counted: boolean;
  /** Monotonic ms (performance.now) when a verdict was set: a connection that never ends is concluded by
   *  sweep(). Not the wall clock: a clock step (NTP, a VM resumed) must not conclude open connections. */
  verdictAt: number;
}

interface Attempt extends Fields {
  phase: 'start' | 'reload';
  verdict: Verdict | null;
  detail: string[];
  offsets: number[];
  time: number;
  /** `Configuration successful` seen in stderr error mode: a failure may still follow (binding). */
  okPending: boolean;
  concluded: 'ok' | 'failed' | null;
}

interface Run {
  version: string | null;
  platform: string | null;
  openssl: string | null;
  configured: boolean;
  attempt: Attempt | null;
  stopped: boolean;
}

/** Ids remembered per source as concluded before their end line (see Correlator.concludedEarly). */
const MAX_CONCLUDED_EARLY = 4096;

function emptyFields(): Fields {
  return {
    service: null, peer: null, target: null, subject: null, depth: null, status: null, toTls: null, toSocket: null,
    configFile: null, configLine: null,
  };
}

function newRun(): Run {
  return { version: null, platform: null, openssl: null, configured: false, attempt: null, stopped: false };
}

function num(s: string | undefined): number | null {
  if (s === undefined) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/** Copies the captures with a meaning into the fields (only those present). */
function absorb(f: Fields, g: Groups, firstServiceWins: boolean): void {
  if (g.service !== undefined && !(firstServiceWins && f.service !== null)) f.service = g.service;
  if (g.peer !== undefined) f.peer = g.peer;
  if (g.target !== undefined) f.target = g.target;
  if (g.subject !== undefined) f.subject = g.subject;
  if (g.depth !== undefined) f.depth = num(g.depth);
  if (g.status !== undefined) f.status = g.status;
  if (g.to_tls !== undefined) f.toTls = num(g.to_tls);
  if (g.to_socket !== undefined) f.toSocket = num(g.to_socket);
  if (g.config_file !== undefined && f.configFile === null) f.configFile = g.config_file;
  if (g.config_line !== undefined && f.configLine === null) f.configLine = num(g.config_line);
}

/** absorb() from a rule's captures by number (its fieldSlots), without a groups object. */
function absorbExec(f: Fields, r: CompiledRule, m: ArrayLike<string | undefined>, firstServiceWins: boolean): void {
  const slots = r.fieldSlots;
  for (let i = 0; i < slots.length; i += 2) {
    const v = m[slots[i + 1]!];
    if (v === undefined) continue;
    switch (slots[i]) {
      case F_SERVICE:
        if (!(firstServiceWins && f.service !== null)) f.service = v;
        break;
      case F_PEER:
        f.peer = v;
        break;
      case F_TARGET:
        f.target = v;
        break;
      case F_SUBJECT:
        f.subject = v;
        break;
      case F_DEPTH:
        f.depth = num(v);
        break;
      case F_STATUS:
        f.status = v;
        break;
      case F_TO_TLS:
        f.toTls = num(v);
        break;
      case F_TO_SOCKET:
        f.toSocket = num(v);
        break;
      case F_CONFIG_FILE:
        if (f.configFile === null) f.configFile = v;
        break;
      case F_CONFIG_LINE:
        if (f.configLine === null) f.configLine = num(v);
        break;
      default:
        break;
    }
  }
}

/** The capture of field `code` by rule `r` in `m`, undefined when the rule has none or it did not take part. */
function field(r: CompiledRule, m: ArrayLike<string | undefined>, code: number): string | undefined {
  const g = r.fieldGroups[code]!;
  return g < 0 ? undefined : m[g];
}

const EMPTY_GROUPS: Groups = Object.freeze({}) as Groups;

const CONNECTION_KIND_SET = new Set<string>(CONNECTION_KINDS);

export interface SourceInfo {
  proxy: string;
  /** The path shown in events' `source.file`. */
  file: string;
}

/** Serializable state (kept in the checkpoint so a reason split across a crash is not lost). */
export interface CorrelatorSnapshot {
  run: Omit<Run, 'attempt'> & { attempt: (Omit<Attempt, 'verdict'> & { verdict: SnapVerdict | null }) | null };
  conns: (Omit<Conn, 'verdict'> & { verdict: SnapVerdict | null })[];
}
interface SnapVerdict {
  rule: string;
  kind: Kind;
  reason: string;
  priority: number;
  groups: Groups;
}

/** Connections opened between two renewals of the open-connection map (at least; see openConn). */
const RENEW_AFTER = 1024;

export class SourceCorrelator {
  private run: Run = newRun();
  /** Open connections by id, oldest first (renewed now and then: see openConn). */
  private conns = new Map<string, Conn>();
  /** Connections opened since `conns` was last renewed. */
  private opened = 0;
  /** Fingerprint of the file the current lines come from (for event ids). */
  fingerprint = '';
  /** Verdict-bearing connections waiting for their end line. */
  private waiting = 0;

  constructor(
    readonly source: SourceInfo,
    private readonly sink: CorrelatorSink,
    private readonly limits: CorrelatorLimits = DEFAULT_LIMITS,
    private readonly rulesById: (id: string) => CompiledRule | undefined = () => undefined,
  ) {}

  get openConnections(): number {
    return this.conns.size;
  }

  /** Open connections by service (for the open-connections gauge). */
  openByService(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.conns.values()) {
      const k = c.service ?? '';
      out.set(k, (out.get(k) ?? 0) + 1);
    }
    return out;
  }

  /** The `when` test of a rule against the connection of `rec`, with the rule's captures by number (RuleSet.matchExec). */
  acceptsExec(rule: CompiledRule, m: ArrayLike<string | undefined>, rec: LineRecord): boolean {
    const w = rule.when!;
    const c = rec.idClass === 'connection' ? this.conns.get(rec.id) : undefined;
    if (w.verdict === 'none' && c?.verdict) return false;
    if (w.verdict === 'any' && !c?.verdict) return false;
    if (w.has && !w.has.every((x) => c?.marks.includes(x))) return false;
    if (w.lacks && w.lacks.some((x) => c?.marks.includes(x))) return false;
    if (w.bytes) {
      const tls = num(field(rule, m, F_TO_TLS)) ?? c?.toTls ?? null;
      const sock = num(field(rule, m, F_TO_SOCKET)) ?? c?.toSocket ?? null;
      const zero = tls === 0 && sock === 0;
      if ((w.bytes === 'zero') !== zero) return false;
    }
    if (w.min_duration !== undefined) {
      if (!c || Number.isNaN(rec.time) || Number.isNaN(c.firstTime) || rec.time - c.firstTime < w.min_duration) return false;
    }
    return true;
  }

  /**
   * apply() with the rule's captures by number (RuleSet.matchExec): a connection's lines take the path that
   * builds no groups object; the rest (process-level lines, runs, configuration) go through apply().
   */
  applyExec(rec: LineRecord, r: CompiledRule, m: ArrayLike<string | undefined>): void {
    const a = r.action;
    if (rec.idClass === 'connection' && (a === 'start' || a === 'note' || a === 'detail' || a === 'end')) {
      this.connectionLineExec(rec, r, m);
      return;
    }
    this.apply(rec, { rule: r, groups: groupsOf(r, m as RegExpExecArray) });
  }

  private apply(rec: LineRecord, m: RuleMatch): void {
    const r = m.rule;
    switch (r.action) {
      case 'ignore':
        return;
      case 'run_start':
        this.endRun();
        this.run = newRun();
        this.run.version = m.groups.version ?? null;
        this.run.platform = m.groups.platform ?? null;
        // A run opens its start attempt at once: errors before `Reading configuration` belong to it.
        this.run.attempt = this.newAttempt('start', rec.time);
        return;
      case 'run_info':
        if (m.groups.openssl !== undefined) this.run.openssl = m.groups.openssl;
        if (m.groups.version !== undefined) this.run.version = m.groups.version;
        return;
      case 'config_begin': {
        const a = this.run.attempt;
        // An earlier attempt that failed without a concluding line is reported before the new one starts.
        if (a && a.concluded === null && a.verdict) this.concludeAttempt(a, null, rec, null);
        if (a && a.concluded === null && a.phase === 'start' && !this.run.configured) {
          a.time = rec.time;
          absorb(a, m.groups, true);
          return;
        }
        this.run.attempt = this.newAttempt(this.run.configured ? 'reload' : 'start', rec.time);
        absorb(this.run.attempt, m.groups, true);
        return;
      }
      case 'config_ok':
        return this.configOk(rec, r);
      case 'config_fail':
        return this.configFail(rec, m);
      case 'stop':
        this.run.stopped = true;
        this.emitProcess(r, m.groups, rec, [rec.message], [rec.offset], emptyFields(), null);
        return;
      case 'emit': {
        const f = emptyFields();
        absorb(f, m.groups, false);
        const connection = rec.idClass === 'connection' ? rec.id : null;
        this.emit(r.event!.kind, r.event!.reason, r, m.groups, rec, [rec.message], [rec.offset], f, connection, null, rec.time);
        return;
      }
      default:
        // start, note, detail, end: a connection's lines went to connectionLineExec (applyExec).
        this.processLine(rec, m);
    }
  }

  private newAttempt(phase: 'start' | 'reload', time: number): Attempt {
    return { ...emptyFields(), phase, verdict: null, detail: [], offsets: [], time, okPending: false, concluded: null };
  }

  /** A connection's line, with the captures by number; the groups object is built only where it is kept or shown. */
  private connectionLineExec(rec: LineRecord, r: CompiledRule, m: ArrayLike<string | undefined>): void {
    let c = this.conns.get(rec.id);
    if (!c) {
      if (r.action === 'note') return; // nothing to remember for a connection we never saw start
      if (this.concludedEarly.size !== 0 && this.concludedEarly.has(rec.id)) {
        // A late line of a connection already reported (see concludedEarly).
        if (r.action === 'end') this.concludedEarly.delete(rec.id);
        return;
      }
      c = this.openConn(rec);
    }
    c.lastTime = rec.time;
    absorbExec(c, r, m, false);
    if (r.action === 'start' && !c.counted) {
      c.counted = true;
      this.sink.accepted(this.source.proxy, c.service);
    }
    for (let i = 0; i < r.marks.length; i++) if (!c.marks.includes(r.marks[i]!)) c.marks.push(r.marks[i]!);
    if (c.verdict && r.clears.length && r.clears.includes(c.verdict.kind)) {
      c.verdict = null;
      this.waiting--;
    }
    if (r.action === 'detail') {
      if (c.detail.length < this.limits.maxDetailLines) {
        c.detail.push(rec.message);
        c.offsets.push(rec.offset);
      } else this.sink.dropped(this.source.proxy, 'detail_cap', 1);
      if (r.event && (!c.verdict || r.event.priority > c.verdict.priority)) {
        if (!c.verdict) this.waiting++;
        c.verdict = {
          rule: r, kind: r.event.kind, reason: r.event.reason, priority: r.event.priority, groups: groupsOf(r, m as RegExpExecArray),
        };
        c.verdictAt = performance.now();
      }
      return;
    }
    if (r.action === 'start') {
      if (c.offsets.length < this.limits.maxDetailLines) c.offsets.push(rec.offset);
      return;
    }
    if (r.action === 'end') {
      c.offsets.push(rec.offset);
      this.conns.delete(c.id);
      if (c.verdict) this.waiting--;
      const v = c.verdict;
      // The end line's captures matter only to a hint with placeholders (emit uses groups for nothing else).
      const g = v || !r.hintHasVars ? EMPTY_GROUPS : groupsOf(r, m as RegExpExecArray);
      if (v) this.emitConn(c, v.kind, v.reason, v.rule, v.groups, rec);
      else if (r.event) this.emitConn(c, r.event.kind, r.event.reason, r, g, rec);
      else this.emitConn(c, 'connection_closed', 'other', r, g, rec);
    }
  }

  private openConn(rec: LineRecord): Conn {
    if (this.conns.size >= this.limits.maxOpenConnections) {
      const oldest = this.conns.values().next().value as Conn;
      this.conns.delete(oldest.id);
      if (oldest.verdict) {
        this.concludeUnended(oldest);
        this.rememberConcluded(oldest.id);
      } else this.sink.dropped(this.source.proxy, 'connection_cap', 1);
    }
    const c: Conn = {
      service: null, peer: null, target: null, subject: null, depth: null, status: null, toTls: null, toSocket: null,
      configFile: null, configLine: null,
      id: rec.id, verdict: null, marks: [], detail: [], offsets: [], firstTime: rec.time,
      lastTime: rec.time, counted: false, verdictAt: 0,
    };
    this.conns.set(rec.id, c);
    // A Map that keeps taking and losing entries rebuilds its table again and again, and V8 links each old table
    // to its successor. Once one table has reached the old generation (the map sat still across two young
    // collections: start-up, an idle sidecar), that dead table keeps every later table, and through them every
    // connection, alive until the next full collection: a 1M-line scan in-process promoted 127 MB of garbage and
    // spent a quarter of its time in the collector. A fresh Map now and then ends the chain; copying it costs at
    // most one entry per connection opened.
    if (++this.opened >= RENEW_AFTER + this.conns.size) {
      this.opened = 0;
      this.conns = new Map(this.conns);
    }
    return c;
  }

  private concludeUnended(c: Conn): void {
    const v = c.verdict!;
    this.waiting--;
    const last = c.offsets[c.offsets.length - 1] ?? 0;
    // Every caller has removed the connection (or clears them all next): its arrays are handed over.
    this.emit(v.kind, v.reason, v.rule, v.groups, null, c.detail, c.offsets, c, c.id, this.duration(c, c.lastTime), c.lastTime, last, undefined, true);
  }

  private duration(c: Conn, end: number): number | null {
    return Number.isNaN(end) || Number.isNaN(c.firstTime) ? null : end - c.firstTime;
  }

  /** The end line of `c`, already removed from the open connections: its arrays are handed over. */
  private emitConn(c: Conn, kind: Kind, reason: string, rule: CompiledRule, groups: Groups, rec: LineRecord): void {
    this.emit(kind, reason, rule, groups, rec, c.detail, c.offsets, c, c.id, this.duration(c, rec.time), rec.time, undefined, undefined, true);
  }

  private processLine(rec: LineRecord, m: RuleMatch): void {
    const r = m.rule;
    if (r.action !== 'detail') return; // start/end/note are about connections
    let a = this.run.attempt;
    if (!a || a.concluded !== null) {
      if (!r.event) return;
      if (r.event.kind !== 'config_failed') {
        const f = emptyFields();
        absorb(f, m.groups, false);
        this.emit(r.event.kind, r.event.reason, r, m.groups, rec, [rec.message], [rec.offset], f, null, null, rec.time);
        return;
      }
      // A configuration failure outside an attempt (a bind retried after a reload): it opens one.
      a = this.run.attempt = this.newAttempt(this.run.configured ? 'reload' : 'start', rec.time);
    }
    if (a.detail.length < this.limits.maxDetailLines) {
      a.detail.push(rec.message);
      a.offsets.push(rec.offset);
    } else this.sink.dropped(this.source.proxy, 'detail_cap', 1);
    absorb(a, m.groups, true);
    if (r.event && (!a.verdict || r.event.priority > a.verdict.priority)) {
      a.verdict = { rule: r, kind: r.event.kind, reason: r.event.reason, priority: r.event.priority, groups: m.groups };
    }
  }

  private configOk(rec: LineRecord, r: CompiledRule): void {
    const a = this.run.attempt ?? (this.run.attempt = this.newAttempt(this.run.configured ? 'reload' : 'start', rec.time));
    if (rec.format === 'stderr' && a.phase === 'start') {
      // Error mode only prints when the start fails; binding may still fail after this line.
      a.okPending = true;
      a.offsets.push(rec.offset);
      return;
    }
    this.succeed(a, r, rec.time, [...a.offsets, rec.offset], rec);
  }

  private succeed(a: Attempt, r: CompiledRule, time: number, offsets: number[], rec: LineRecord | null): void {
    a.concluded = 'ok';
    const kind = a.phase === 'reload' ? 'config_reloaded' : 'proxy_started';
    this.run.configured = true;
    this.emit(kind, 'ok', r, {}, rec, [], offsets.slice(-1), emptyFields(), null, null, time);
  }

  private configFail(rec: LineRecord, m: RuleMatch): void {
    let a = this.run.attempt;
    if (a && a.concluded === 'failed') return; // `Failed to reload` after `Configuration failed`: one event
    if (!a || a.concluded === 'ok') a = this.run.attempt = this.newAttempt(this.run.configured ? 'reload' : 'start', rec.time);
    this.concludeAttempt(a, m, rec, m.groups);
  }

  /** Emits the config_failed event of an attempt; `m` is the concluding rule, if a line concluded it. */
  private concludeAttempt(a: Attempt, m: RuleMatch | null, rec: LineRecord | null, groups: Groups | null): void {
    a.concluded = 'failed';
    const detail = rec && m ? [...a.detail, rec.message] : a.detail;
    const offsets = rec && m ? [...a.offsets, rec.offset] : a.offsets;
    if (groups) absorb(a, groups, true);
    const v = a.verdict;
    const r = v?.rule ?? m?.rule;
    if (!r) return;
    const reason = v?.reason ?? (m?.rule.event?.kind === 'config_failed' ? m.rule.event.reason : 'other');
    const time = rec && m ? rec.time : a.time;
    this.emit('config_failed', reason, r, v?.groups ?? groups ?? {}, rec && m ? rec : null, detail, offsets, a, null, null, time,
      offsets[offsets.length - 1], a.phase);
  }

  private emitProcess(r: CompiledRule, g: Groups, rec: LineRecord, detail: string[], offsets: number[], f: Fields, conn: string | null): void {
    if (!r.event) return;
    absorb(f, g, false);
    this.emit(r.event.kind, r.event.reason, r, g, rec, detail, offsets, f, conn, null, rec.time);
  }

  /** Ends the current run: unconcluded failures are emitted, other open state is dropped and counted. */
  endRun(): void {
    const a = this.run.attempt;
    if (a && a.concluded === null) {
      if (a.verdict) this.concludeAttempt(a, null, null, null);
      else if (a.okPending) this.succeed(a, this.rulesById('config-successful') ?? this.anyRule(), a.time, a.offsets, null);
    }
    let dropped = 0;
    for (const c of this.conns.values()) {
      if (c.verdict) this.concludeUnended(c);
      else dropped++;
    }
    this.conns.clear();
    this.concludedEarly.clear(); // ids start again at 0 in the next run
    this.waiting = 0;
    if (dropped) this.sink.dropped(this.source.proxy, 'run_end', dropped);
  }

  /**
   * Ids of connections concluded without their end line (a quiet period, the connection cap), in this run, oldest
   * first: a late line of theirs (the end line written just after the sweep looked) belongs to an event already
   * emitted, and must not open a connection of its own (a second event, with another id).
   */
  private readonly concludedEarly = new Set<string>();

  private rememberConcluded(id: string): void {
    this.concludedEarly.add(id);
    if (this.concludedEarly.size > MAX_CONCLUDED_EARLY) this.concludedEarly.delete(this.concludedEarly.values().next().value as string);
  }

  private anyRule(): CompiledRule {
    throw new Error('rule set has no config-successful rule');
  }

  /**
   * Emits verdict-bearing connections that got no end line for `quietMs` (monotonic, from performance.now()).
   * `caughtUp` is asked, once and only when some connection is due, right before anything is concluded: false
   * (the file holds bytes not read yet, which may be the end line) concludes nothing. Returns how many were
   * concluded.
   */
  sweep(now: number, quietMs: number, caughtUp?: () => boolean): number {
    if (this.waiting <= 0) return 0;
    let due = false;
    for (const c of this.conns.values()) {
      if (c.verdict && now - c.verdictAt >= quietMs) {
        due = true;
        break;
      }
    }
    if (!due || (caughtUp && !caughtUp())) return 0;
    let n = 0;
    for (const c of [...this.conns.values()]) {
      if (c.verdict && now - c.verdictAt >= quietMs) {
        this.conns.delete(c.id);
        this.concludeUnended(c);
        this.rememberConcluded(c.id);
        n++;
      }
    }
    return n;
  }

  private emit(
    kind: Kind, reason: string, rule: CompiledRule, groups: Groups, rec: LineRecord | null, detail: string[],
    offsets: number[], f: Fields, connection: string | null, durationSeconds: number | null, time: number,
    concludingOffset?: number, phase?: 'start' | 'reload', owned = false,
  ): void {
    const at = concludingOffset ?? rec?.offset ?? offsets[offsets.length - 1] ?? 0;
    const service = f.service;
    const hint = fillHint(rule.hint, groups, f, this.source.proxy, connection);
    const severity: Severity = rule.event && rule.event.kind !== kind ? defaultSeverity(kind) : rule.severity;
    // Plain literals per kind: object spread is slow on the hot path (one event per connection).
    const id = eventId(this.source.proxy, this.fingerprint, at);
    const proxy = this.source.proxy;
    const t = formatTime(time);
    // `owned`: the arrays belong to a connection that is gone; the event takes them without a copy.
    const src = { file: this.source.file, offsets: owned ? offsets : offsets.slice() };
    const d = owned ? detail : detail.slice();
    let e: DoctorEvent;
    if (CONNECTION_KIND_SET.has(kind)) {
      e = (kind === 'cert_verify_failed'
        ? {
          id, kind, reason, severity, proxy, service, connection, time: t, detail: d, source: src, hint, rule: rule.id,
          peer: f.peer, target: f.target, bytesToTls: f.toTls, bytesToSocket: f.toSocket, closeStatus: f.status, durationSeconds,
          depth: f.depth, subject: f.subject,
        }
        : {
          id, kind, reason, severity, proxy, service, connection, time: t, detail: d, source: src, hint, rule: rule.id,
          peer: f.peer, target: f.target, bytesToTls: f.toTls, bytesToSocket: f.toSocket, closeStatus: f.status, durationSeconds,
        }) as DoctorEvent;
    } else if (kind === 'connection_rejected') {
      e = { id, kind, reason, severity, proxy, service, connection, time: t, detail: d, source: src, hint, rule: rule.id, peer: f.peer } as DoctorEvent;
    } else if (kind === 'config_failed') {
      e = {
        id, kind, reason, severity, proxy, service, connection, time: t, detail: d, source: src, hint, rule: rule.id,
        phase: phase ?? (this.run.configured ? 'reload' : 'start'), configFile: f.configFile, configLine: f.configLine,
      } as DoctorEvent;
    } else if (kind === 'proxy_started') {
      e = { id, kind, reason, severity, proxy, service, connection, time: t, detail: d, source: src, hint, rule: rule.id, version: this.run.version, openssl: this.run.openssl } as DoctorEvent;
    } else {
      e = { id, kind, reason, severity, proxy, service, connection, time: t, detail: d, source: src, hint, rule: rule.id } as DoctorEvent;
    }
    this.sink.event(e);
  }

  snapshot(): CorrelatorSnapshot {
    const sv = (v: Verdict | null): SnapVerdict | null =>
      v && { rule: v.rule.id, kind: v.kind, reason: v.reason, priority: v.priority, groups: { ...v.groups } };
    const a = this.run.attempt;
    return {
      run: { ...this.run, attempt: a && { ...a, verdict: sv(a.verdict) } },
      conns: [...this.conns.values()].map((c) => ({ ...c, verdict: sv(c.verdict) })),
    };
  }

  restore(s: CorrelatorSnapshot): void {
    const rv = (v: SnapVerdict | null): Verdict | null => {
      if (!v) return null;
      const rule = this.rulesById(v.rule);
      return rule ? { ...v, rule } : null;
    };
    const a = s.run.attempt;
    this.run = { ...s.run, attempt: a && { ...a, verdict: rv(a.verdict) } };
    this.conns.clear();
    this.waiting = 0;
    // Quiet time (sweep) counts from now: the time the sidecar was down is not time the log was quiet, and
    // verdictAt was another process's monotonic clock.
    const now = performance.now();
    for (const c of s.conns) {
      const conn: Conn = { ...c, verdict: rv(c.verdict), verdictAt: now };
      if (conn.verdict) this.waiting++;
      this.conns.set(c.id, conn);
    }
  }
}

function defaultSeverity(kind: Kind): Severity {
  return kind === 'connection_closed' || kind === 'proxy_started' || kind === 'config_reloaded' || kind === 'proxy_stopped'
    ? 'info'
    : 'error';
}

function fillHint(t: string, g: Groups, f: Fields, proxy: string, connection: string | null): string {
  if (!t.includes('{')) return t;
  return t.replace(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (all, name: string) => {
    const v =
      g[name] ??
      (name === 'proxy' ? proxy : name === 'connection' ? connection : name === 'config_file' ? f.configFile
        : name === 'depth' ? (f.depth === null ? null : String(f.depth))
        : (f as unknown as Record<string, string | null>)[name]);
    return v === null || v === undefined ? '?' : v;
  });
}
