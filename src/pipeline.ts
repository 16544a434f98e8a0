/**
 * parse → rules → correlate for chunks of complete lines. One Pipeline serves many sources (proxies and
 * their stderr captures); each source keeps its own correlation state. The per-line loop allocates only
 * the decoded message of lines whose level some rule needs; events and their objects exist only for the
 * few lines that conclude something.
 */
import { isAscii } from 'node:buffer';
import type { Chunk } from './tail/chunk.js';
import {
  DEFAULT_PARSE_OPTIONS, fileLevel, fillFileLine, newRecord, parseLine, type ParseOptions,
} from './parse/line.js';
import { RuleSet, type CompiledRule } from './rules/compile.js';
import {
  SourceCorrelator, DEFAULT_LIMITS, type CorrelatorLimits, type CorrelatorSink, type CorrelatorSnapshot, type SourceInfo,
} from './correlate/correlator.js';

/** Scope and format bits of the rule index (see rules/compile.ts). */
const SCOPE_CONNECTION = 1;
const SCOPE_NONE = 4;
const SCOPE_ANY = 7;
const FORMAT_FILE = 1;
/** The captures acceptsExec is given for a condition that does not read them (CompiledRule.whenReadsCaptures). */
const NO_CAPTURES: readonly string[] = [];

export interface LineCounts {
  matched: number;
  unmatched: number;
  invalid: number;
  /** Lines longer than the bound (cut before matching). */
  cut: number;
  /** Lines whose message was decoded (some rule could match it) and held bytes that are not valid UTF-8 (replaced). */
  invalidUtf8: number;
}

export interface PipelineOptions {
  parse?: Partial<ParseOptions>;
  limits?: Partial<CorrelatorLimits>;
}

/** Processes of one syslog file correlated apart at most (the least recently seen is concluded beyond). */
export const MAX_ORIGINS = 32;

/** A source's state with the processes of a syslog file apart (see LineRecord.origin). */
export interface SourceSnapshot extends CorrelatorSnapshot {
  origins?: Record<string, CorrelatorSnapshot>;
}

export class Source {
  readonly counts: LineCounts = { matched: 0, unmatched: 0, invalid: 0, cut: 0, invalidUtf8: 0 };
  /**
   * Correlation per writing process, for syslog lines whose header names it (`stunnel[730]:`): several stunnel
   * processes logging to one syslog file use the same connection ids and each has its own runs. Lines without
   * one (the `output =` file, headers without a pid) use `correlator`. Least recently seen first.
   */
  private readonly origins = new Map<string, SourceCorrelator>();

  /** `make` gives a new correlator for the same proxy and file, sink and limits (Pipeline.source). */
  constructor(
    readonly info: SourceInfo,
    private readonly make: () => SourceCorrelator,
    readonly correlator: SourceCorrelator = make(),
  ) {}

  /** The correlator of the process `origin` ('' is `correlator`), created on first sight. */
  correlatorFor(origin: string): SourceCorrelator {
    if (origin === '') return this.correlator;
    // Runs of lines from one process are the common case: no map work for them.
    if (origin === this.lastOrigin && this.lastCorrelator) return this.lastCorrelator;
    let c = this.origins.get(origin);
    if (c) {
      if (this.origins.size > 1) {
        this.origins.delete(origin);
        this.origins.set(origin, c);
      }
      return this.remember(origin, c);
    }
    if (this.origins.size >= MAX_ORIGINS) {
      const [oldest, gone] = this.origins.entries().next().value as [string, SourceCorrelator];
      this.origins.delete(oldest);
      gone.endRun();
    }
    c = this.make();
    this.origins.set(origin, c);
    return this.remember(origin, c);
  }

  private lastOrigin = '';
  private lastCorrelator: SourceCorrelator | null = null;

  private remember(origin: string, c: SourceCorrelator): SourceCorrelator {
    this.lastOrigin = origin;
    this.lastCorrelator = c;
    return c;
  }

  private all(): SourceCorrelator[] {
    return this.origins.size === 0 ? [this.correlator] : [this.correlator, ...this.origins.values()];
  }

  get openConnections(): number {
    let n = 0;
    for (const c of this.all()) n += c.openConnections;
    return n;
  }

  openByService(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of this.all()) for (const [k, v] of c.openByService()) out.set(k, (out.get(k) ?? 0) + v);
    return out;
  }

  sweep(now: number, quietMs: number, caughtUp?: () => boolean): number {
    // Called for every file every second: no list made (all()) for the usual single correlator.
    let n = this.correlator.sweep(now, quietMs, caughtUp);
    for (const c of this.origins.values()) n += c.sweep(now, quietMs, caughtUp);
    return n;
  }

  endRun(): void {
    for (const c of this.all()) c.endRun();
  }

  snapshot(): SourceSnapshot {
    const s: SourceSnapshot = this.correlator.snapshot();
    if (this.origins.size) s.origins = Object.fromEntries([...this.origins].map(([o, c]) => [o, c.snapshot()]));
    return s;
  }

  restore(s: SourceSnapshot): void {
    this.correlator.restore(s);
    this.origins.clear();
    this.lastCorrelator = null;
    for (const [o, snap] of Object.entries(s.origins ?? {})) this.correlatorFor(o).restore(snap);
  }
}

export class Pipeline {
  private rules: RuleSet;
  private byId = new Map<string, CompiledRule>();
  private readonly rec = newRecord();
  private readonly parseOpts: ParseOptions;
  private readonly limits: CorrelatorLimits;
  private readonly sources = new Map<string, Source>();
  private wantLevel: (l: number) => boolean;

  constructor(
    rules: RuleSet,
    private readonly sink: CorrelatorSink,
    opts: PipelineOptions = {},
  ) {
    this.rules = rules;
    this.wantLevel = (l) => rules.wantsLevel(l);
    this.indexRules();
    this.parseOpts = { ...DEFAULT_PARSE_OPTIONS, ...opts.parse };
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  private indexRules(): void {
    this.byId = new Map(this.rules.rules.map((r) => [r.id, r]));
  }

  /** Swaps the rule set; correlation state and counters are kept. */
  setRules(rules: RuleSet): void {
    this.rules = rules;
    this.wantLevel = (l) => rules.wantsLevel(l);
    this.indexRules();
  }

  get ruleSet(): RuleSet {
    return this.rules;
  }

  /** The source for a key (proxy + path), created on first use. */
  source(key: string, info: SourceInfo): Source {
    let s = this.sources.get(key);
    if (!s) {
      s = new Source(info, () => new SourceCorrelator(info, this.sink, this.limits, (id) => this.byId.get(id)));
      this.sources.set(key, s);
    }
    return s;
  }

  getSource(key: string): Source | undefined {
    return this.sources.get(key);
  }

  removeSource(key: string): void {
    this.sources.delete(key);
  }

  allSources(): IterableIterator<Source> {
    return this.sources.values();
  }

  /** Processes every line of a chunk (complete lines only), in order, synchronously. */
  push(src: Source, chunk: Chunk, fingerprint: string): void {
    const main = src.correlator;
    main.fingerprint = fingerprint;
    /** The correlator of the line at hand: `main`, or that of the process a syslog header names. */
    let corr = main;
    const counts = src.counts;
    const buf = chunk.buf;
    const rec = this.rec;
    const rules = this.rules;
    const want = this.wantLevel;
    const levelMask = rules.levelMask;
    const opts = this.parseOpts;
    const max = opts.maxMessageBytes;
    const accept = (r: CompiledRule, m: ArrayLike<string | undefined>): boolean => corr.acceptsExec(r, m, rec);
    // A condition that does not read the rule's captures is decided before its pattern runs.
    const acceptFirst = (r: CompiledRule): boolean => corr.acceptsExec(r, NO_CAPTURES, rec);
    // One native pass over the chunk (stunnel's lines are nearly always ASCII): then no message is scanned for a
    // byte >= 0x80 before it is decoded.
    const ascii = isAscii(buf);
    if (chunk.cut) counts.cut++;
    let start = 0;
    const len = buf.length;
    while (start < len) {
      let nl = buf.indexOf(10, start);
      if (nl < 0) nl = len;
      if (nl - start > max + 64) counts.cut++;
      // Fast path for the file format: the level and the first bytes of the message decide, without
      // decoding or allocating anything, whether any rule can look at the line (debug-7 lines, and lines
      // no rule's literal prefix fits, are counted unmatched here). Exactly what parseLine + match decide.
      const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
      const level = fileLevel(buf, start, end);
      if (level >= 0) {
        // The `]` closing the id (ids are short: a loop beats a native call per line).
        let close = start + 25;
        while (close < end && buf[close] !== 93) close++;
        if (close >= end || buf[close + 1] !== 58) {
          counts.invalid++;
          start = nl + 1;
          continue;
        }
        if ((levelMask & (1 << level)) === 0) {
          counts.unmatched++;
          start = nl + 1;
          continue;
        }
        const ms = buf[close + 2] === 32 ? close + 3 : close + 2;
        const me = end - ms > max ? ms + max : end;
        const id0 = buf[start + 25]!;
        const scope = close === start + 25 ? SCOPE_NONE : id0 >= 48 && id0 <= 57 ? SCOPE_CONNECTION : SCOPE_ANY;
        // The rules whose level, scope and head fit the line's bytes; their heads are not tested again on the decoded message.
        const n = rules.candidates(level, buf, ms, me, scope, FORMAT_FILE);
        if (n === 0) {
          counts.unmatched++;
          start = nl + 1;
          continue;
        }
        // What parseLine would fill, from what is known already.
        rec.offset = chunk.cut ? chunk.baseOffset : chunk.baseOffset + start;
        fillFileLine(buf, start, close, ms, me, level, rec, ascii);
        if (rec.invalidUtf8) counts.invalidUtf8++;
        const r = rules.matchCandidates(rec, n, accept, acceptFirst);
        if (r === null) counts.unmatched++;
        else {
          counts.matched++;
          corr.applyExec(rec, r, rules.lastExec!);
        }
        start = nl + 1;
        continue;
      }
      rec.offset = chunk.cut ? chunk.baseOffset : chunk.baseOffset + start;
      if (!parseLine(buf, start, nl, rec, opts, want, ascii)) {
        if (nl > start) counts.invalid++;
      } else if (rec.message === '' && !want(rec.level)) {
        counts.unmatched++;
      } else {
        corr = rec.origin === '' ? main : src.correlatorFor(rec.origin);
        corr.fingerprint = fingerprint;
        if (rec.invalidUtf8) counts.invalidUtf8++;
        const r = rules.matchExec(rec, accept, acceptFirst);
        if (r === null) counts.unmatched++;
        else {
          counts.matched++;
          corr.applyExec(rec, r, rules.lastExec!);
        }
        corr = main;
      }
      start = nl + 1;
    }
  }

  /** End of input (one-shot scan): unconcluded failures of every source are emitted. */
  finish(src: Source): void {
    src.endRun();
  }
}
