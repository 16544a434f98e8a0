/**
 * A compiled rule set: the rules in evaluation order, indexed by level and by the first character of their
 * pattern's literal prefix, so a line is tried only against the few rules that can match it, and levels
 * no rule needs are skipped before their message is decoded.
 */
import type { IdClass, LineFormat, LineRecord } from '../parse/line.js';
import type { Kind, Severity } from '../events.js';
import type { Action, RuleSpec } from './schema.js';
import type { LocatedRule } from './load.js';
import { captureNamesOf, compilePattern, groupCount, linearReason, type Engine, type Pattern } from './engine.js';
import { inCharSet, prefilterOf, requiredLiteral, type CharSet, type Prefilter } from './prefilter.js';

export { literalPrefix } from './prefilter.js';

export interface CompiledRule {
  readonly spec: LocatedRule;
  readonly id: string;
  readonly action: Action;
  /** On V8's engine, or on the linear-time engine when the pattern could backtrack badly (engine.ts). */
  readonly regex: Pattern;
  readonly engine: Engine;
  /**
   * The pattern with its named groups made plain groups (same groups, same numbers, same matches): exec()
   * then builds no `groups` object. Captures are read by number (`groupIndex`, `fieldGroups`). null when the
   * pattern uses a named backreference (`\k<name>`) or runs on the linear-time engine: `regex` is used and its
   * groups renumbered.
   */
  readonly positional: RegExp | null;
  /** The group number of each name in `captures`. */
  readonly groupIndex: readonly number[];
  /** Per FIELDS entry, the group number that captures it, or -1. */
  readonly fieldGroups: Int8Array;
  /** Pairs (FIELDS index, group number) of the fields this rule captures, for the correlator. */
  readonly fieldSlots: readonly number[];
  /** The hint has `{name}` placeholders. */
  readonly hintHasVars: boolean;
  /** Literal text every match starts with ('' when the pattern has none). */
  readonly prefix: string;
  /** Without a prefix: literal texts one of which every match starts with (null: unknown). See prefilter.ts. */
  readonly alternatives: readonly string[] | null;
  /**
   * The characters a match may have right after `prefix` (null: any): see prefilter.ts. Only for patterns on
   * V8's engine (RE2's syntax is not read).
   */
  readonly follow: CharSet | null;
  /** For a pattern on the linear-time engine: literal text every match contains ('' when none is known). */
  readonly required: string;
  readonly levels: number;
  readonly scopes: number;
  readonly formats: number;
  readonly captures: readonly string[];
  readonly event: { kind: Kind; reason: string; priority: number } | null;
  readonly severity: Severity;
  readonly hint: string;
  readonly marks: readonly string[];
  readonly clears: readonly Kind[];
  readonly when: RuleSpec['when'] | null;
  /** Its condition reads its captures (`bytes`); otherwise only the connection's state, and it can be decided first. */
  readonly whenReadsCaptures: boolean;
}

/** The captures with a meaning for the correlator's fields, in a fixed order (their index is a field code). */
export const FIELDS = [
  'service', 'peer', 'target', 'subject', 'depth', 'status', 'to_tls', 'to_socket', 'config_file', 'config_line',
] as const;
export const F_SERVICE = 0;
export const F_PEER = 1;
export const F_TARGET = 2;
export const F_SUBJECT = 3;
export const F_DEPTH = 4;
export const F_STATUS = 5;
export const F_TO_TLS = 6;
export const F_TO_SOCKET = 7;
export const F_CONFIG_FILE = 8;
export const F_CONFIG_LINE = 9;

/** The capturing groups of a pattern (groupLayout). */
export interface GroupLayout {
  names: string[];
  indices: number[];
  plain: string;
  count: number;
  namedBackref: boolean;
}

/**
 * The capturing groups of a pattern, in order: their number, the names of the named ones, and the source with
 * `(?<name>` written `(`. A scan of the source that knows escapes, character classes, lookbehinds (`(?<=`,
 * `(?<!`) and non-capturing groups; `namedBackref` when the source has `\k<`.
 */
export function groupLayout(source: string): GroupLayout {
  const names: string[] = [];
  const indices: number[] = [];
  let plain = '';
  let count = 0;
  let inClass = false;
  let namedBackref = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      if (source[i + 1] === 'k' && source[i + 2] === '<') namedBackref = true;
      plain += source.slice(i, i + 2);
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      plain += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      plain += c;
      continue;
    }
    if (c === '(') {
      if (source[i + 1] !== '?') {
        count++;
      } else if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
        const close = source.indexOf('>', i + 3);
        count++;
        names.push(source.slice(i + 3, close));
        indices.push(count);
        plain += '(';
        i = close;
        continue;
      }
    }
    plain += c;
  }
  return { names, indices, plain, count, namedBackref };
}

/**
 * What compileRule reads off a pattern's source by scanning it: pure functions of the source, which the build's rules
 * cache records for the default rules (scripts/rules-cache.mjs), so that a start-up does not run these scans (in
 * V8's interpreter, that early: ~15 ms for the 149 default rules).
 */
export interface PatternFacts {
  /** Why the pattern needs the linear-time engine (engine.ts linearReason); null: V8's engine runs it. */
  why: string | null;
  layout: GroupLayout;
  prefilter: Prefilter;
  /** Only for a pattern on the linear-time engine (see prefilter.ts): '' otherwise. */
  required: string;
}

const knownFacts = new Map<string, PatternFacts>();

export function patternFacts(source: string): PatternFacts {
  const known = knownFacts.get(source);
  if (known !== undefined) return known;
  const why = linearReason(source);
  return { why, layout: groupLayout(source), prefilter: prefilterOf(source), required: why === null ? '' : requiredLiteral(source) };
}

/** PatternFacts as JSON (a CharSet's bits as an array of numbers). */
export type PatternFactsJson = Omit<PatternFacts, 'prefilter'> & {
  prefilter: Omit<Prefilter, 'follow'> & { follow: { ascii: number[]; nonAscii: boolean } | null };
};

export function patternFactsJson(source: string): PatternFactsJson {
  const f = patternFacts(source);
  const follow = f.prefilter.follow;
  return { ...f, prefilter: { ...f.prefilter, follow: follow && { ascii: [...follow.ascii], nonAscii: follow.nonAscii } } };
}

/** Believes the facts the build recorded (see PatternFacts); an entry of another shape is ignored. */
export function rememberPatternFacts(facts: Record<string, unknown>): void {
  for (const [source, v] of Object.entries(facts)) {
    const f = v as PatternFactsJson;
    const follow = f?.prefilter?.follow;
    if (typeof f?.layout?.plain !== 'string' || typeof f.required !== 'string' || typeof f.prefilter.prefix !== 'string') continue;
    if (follow != null && (!Array.isArray(follow.ascii) || follow.ascii.length !== 4)) continue;
    knownFacts.set(source, { ...f, prefilter: { ...f.prefilter, follow: follow ? { ascii: Uint32Array.from(follow.ascii), nonAscii: follow.nonAscii === true } : null } });
  }
}

/** The positional sources of patterns whose group count compileRule checks (for the build-time cache). */
export function positionalSources(messages: readonly string[]): string[] {
  return messages.map((m) => groupLayout(m)).filter((l) => !l.namedBackref).map((l) => l.plain);
}

const SCOPE_BIT: Record<IdClass, number> = { connection: 1, process: 2, none: 4 };
const FORMAT_BIT: Record<LineFormat, number> = { file: 1, syslog: 2, stderr: 4 };

const DEFAULT_SEVERITY: Record<Kind, Severity> = {
  config_failed: 'critical',
  config_warning: 'warning',
  connect_failed: 'error',
  cert_verify_failed: 'error',
  tls_handshake_failed: 'error',
  connection_rejected: 'warning',
  connection_closed: 'info',
  proxy_started: 'info',
  proxy_stopped: 'info',
  config_reloaded: 'info',
};

export function compileRule(spec: LocatedRule): CompiledRule {
  const m = spec.match;
  const lv = m.level === undefined ? [0, 1, 2, 3, 4, 5, 6, 7] : Array.isArray(m.level) ? m.level : [m.level];
  const scopes = m.scope === 'connection' ? SCOPE_BIT.connection : m.scope === 'process' ? SCOPE_BIT.process | SCOPE_BIT.none : 7;
  const formats = m.format ? m.format.reduce((a, f) => a | FORMAT_BIT[f], 0) : 7;
  const facts = patternFacts(m.message);
  const { pattern: regex, engine } = compilePattern(m.message, facts.why);
  const event = spec.event ? { kind: spec.event.kind, reason: spec.event.reason, priority: spec.event.priority } : null;
  const captures = captureNamesOf(regex.source);
  // Positional groups when the scan of the source agrees with the engine (same group count, same names).
  const layout = facts.layout;
  let positional: RegExp | null = null;
  let groupIndex: number[] = captures.map((_, i) => i + 1);
  // Never for a pattern on the linear-time engine: V8 would run it.
  if (engine === 'backtracking' && !layout.namedBackref && layout.names.join('\0') === captures.join('\0')) {
    try {
      const p = new RegExp(layout.plain);
      // A group the scan missed, or a `(?<` it rewrote inside a class, changes the count.
      if (groupCount(layout.plain) === layout.count) {
        positional = p;
        groupIndex = layout.indices;
      }
    } catch {
      positional = null;
    }
  }
  const fieldGroups = new Int8Array(FIELDS.length).fill(-1);
  const fieldSlots: number[] = [];
  FIELDS.forEach((f, code) => {
    const j = captures.indexOf(f);
    if (j >= 0) {
      fieldGroups[code] = groupIndex[j]!;
      fieldSlots.push(code, groupIndex[j]!);
    }
  });
  const hint = spec.hint ?? '';
  const pre = facts.prefilter;
  return {
    spec,
    id: spec.id,
    action: spec.action,
    regex,
    engine,
    positional,
    groupIndex,
    fieldGroups,
    fieldSlots,
    hintHasVars: hint.includes('{'),
    prefix: pre.prefix,
    alternatives: pre.alternatives,
    follow: engine === 'backtracking' ? pre.follow : null,
    required: facts.required,
    levels: lv.reduce((a, l) => a | (1 << l), 0),
    scopes,
    formats,
    captures,
    event,
    severity: spec.severity ?? (event ? DEFAULT_SEVERITY[event.kind] : 'info'),
    hint,
    marks: spec.marks ?? [],
    clears: spec.clears ?? [],
    when: spec.when ?? null,
    whenReadsCaptures: spec.when?.bytes !== undefined,
  };
}

interface ByteCandidate {
  rule: CompiledRule;
  scopes: number;
  formats: number;
  /**
   * The byte tests below decide exactly what matchExec's tests of the decoded message's head decide (its literal
   * prefix, the character after it, its alternatives' heads): all of them are ASCII.
   */
  exact: boolean;
  prefix: Buffer | null;
  /** prefix.length when `follow` is set (the byte after the prefix must be in it), else -1. */
  followAt: number;
  follow: CharSet | null;
  /** The ASCII bytes of the rule's `alternatives` (null: none, or one is not ASCII). */
  alternatives: Buffer[] | null;
}

export interface RuleMatch {
  rule: CompiledRule;
  groups: Record<string, string | undefined>;
}

const NO_GROUPS: Record<string, string | undefined> = Object.freeze({}) as Record<string, string | undefined>;

export class RuleSet {
  readonly rules: readonly CompiledRule[];
  /** Bit l set when some rule looks at level l. */
  readonly levelMask: number;
  /** [level][first char code or 128 for others] → rules in evaluation order. */
  private readonly index: CompiledRule[][][];
  /**
   * The same buckets as byte tests, for rejecting a line before its message is decoded: per rule its scope
   * and format bits and the ASCII bytes of its literal prefix (null: the prefix cannot reject).
   */
  private readonly byteIndex: ByteCandidate[][][];

  constructor(specs: readonly LocatedRule[]) {
    this.rules = specs.map(compileRule);
    this.levelMask = this.rules.reduce((a, r) => a | r.levels, 0);
    // One pass per level, in evaluation order: a rule with a prefix goes to the bucket of its first character
    // (128: non-ASCII), one with alternatives' heads to theirs, any other rule to every bucket. Its byte test is one
    // object shared by its buckets.
    const byteOf = new Map<CompiledRule, ByteCandidate>();
    const isAscii = (t: string): boolean => /^[\x00-\x7f]*$/.test(t);
    for (const r of this.rules) {
      const ascii = isAscii(r.prefix);
      const altAscii = r.alternatives === null || r.alternatives.every(isAscii);
      byteOf.set(r, {
        rule: r,
        scopes: r.scopes,
        formats: r.formats,
        // A one-character prefix is the bucket's; a longer one, its follow set and the alternatives are tested as bytes
        // when ASCII (the byte tests then agree with the string tests: see candidates).
        exact: (r.prefix.length <= 1 || ascii) && (r.follow === null || ascii) && altAscii,
        prefix: r.prefix.length > 1 && ascii ? Buffer.from(r.prefix, 'latin1') : null,
        ...(r.follow !== null && ascii ? { followAt: r.prefix.length, follow: r.follow } : { followAt: -1, follow: null }),
        alternatives: r.alternatives !== null && altAscii ? r.alternatives.map((a) => Buffer.from(a, 'latin1')) : null,
      });
    }
    this.index = [];
    this.byteIndex = [];
    for (let l = 0; l < 8; l++) {
      const buckets: CompiledRule[][] = Array.from({ length: 129 }, () => []);
      for (const r of this.rules) {
        if ((r.levels & (1 << l)) === 0) continue;
        const heads = r.prefix !== '' ? [r.prefix] : r.alternatives;
        if (heads === null) for (const b of buckets) b.push(r);
        else {
          for (const c of new Set(heads.map((h) => Math.min(h.charCodeAt(0), 128)))) buckets[c]!.push(r);
        }
      }
      this.index.push(buckets);
      this.byteIndex.push(buckets.map((b) => b.map((r) => byteOf.get(r)!)));
    }
  }

  /** The byte tests candidates() let through, in evaluation order: the first `n` (its result) are valid. */
  private readonly cand: ByteCandidate[] = [];

  /**
   * How many rules may match a message whose bytes are buf[from, to) (already cut to the bound, CR stripped), at
   * `level`, for an id of the given scope bits (a conservative superset when unknown) and format bit; 0 means none
   * can: the message need not be decoded. A byte >= 0x80 never equals an ASCII prefix byte and decodes to a character
   * >= 0x80, so these byte tests agree with the string tests of `matchExec`. The rules are kept for matchCandidates(),
   * which does not test their heads on the decoded message again.
   */
  candidates(level: number, buf: Buffer, from: number, to: number, scope: number, format: number): number {
    const c = from < to ? buf[from]! : 128;
    const bucket = this.byteIndex[level]![c < 128 ? c : 128]!;
    const n = to - from;
    const cand = this.cand;
    let k = 0;
    outer: for (let i = 0; i < bucket.length; i++) {
      const r = bucket[i]!;
      if ((r.scopes & scope) === 0 || (r.formats & format) === 0) continue;
      const p = r.prefix;
      if (p !== null) {
        const pl = p.length;
        if (pl > n) continue;
        for (let j = 1; j < pl; j++) if (buf[from + j] !== p[j]) continue outer;
      }
      // A byte >= 0x80 starts a non-ASCII character (or an invalid one, decoded as U+FFFD: non-ASCII too).
      if (r.followAt >= 0 && !inCharSet(r.follow!, r.followAt < n ? buf[from + r.followAt]! : NaN)) continue;
      if (r.alternatives !== null && !startsWithOne(buf, from, n, r.alternatives)) continue;
      cand[k++] = r;
    }
    return k;
  }

  /**
   * matchExec() over the first `n` rules of the last candidates() call, made on this record's line (its message
   * decoded from the same bytes, its format): the same rule and captures matchExec gives. Only the scope is tested
   * again, exactly now that the id is decoded.
   */
  matchCandidates(
    rec: LineRecord,
    n: number,
    accept: (r: CompiledRule, m: RegExpExecArray | string[]) => boolean,
    acceptFirst?: (r: CompiledRule) => boolean,
  ): CompiledRule | null {
    const msg = rec.message;
    const scope = SCOPE_BIT[rec.idClass];
    const cand = this.cand;
    for (let i = 0; i < n; i++) {
      const b = cand[i]!;
      const r = b.rule;
      if ((r.scopes & scope) === 0) continue;
      if (!b.exact && !headFits(r, msg)) continue;
      if (this.tryRule(r, msg, accept, acceptFirst)) return r;
    }
    return null;
  }

  wantsLevel(level: number): boolean {
    return (this.levelMask & (1 << level)) !== 0;
  }

  /**
   * The first rule that matches the record and whose condition holds (`accept` decides rules with `when`).
   * Returns null when no rule matches.
   */
  match(rec: LineRecord, accept: (r: CompiledRule, groups: Record<string, string | undefined>) => boolean): RuleMatch | null {
    const r = this.matchExec(rec, (rule, m) => accept(rule, groupsOf(rule, m)));
    return r === null ? null : { rule: r, groups: groupsOf(r, this.lastExec!) };
  }

  /**
   * The captures of the last rule matchExec returned: group numbers as in the rule's `groupIndex` and
   * `fieldGroups`; an entry is undefined when its group did not take part. Valid until the next call.
   */
  lastExec: RegExpExecArray | string[] | null = null;

  /**
   * As match(), without building any object: the rule, and its captures in `lastExec`. `accept` gets the
   * captures of the rule it decides. With `acceptFirst`, a rule whose condition does not read its captures
   * (whenReadsCaptures false) is decided by it before its pattern runs, and not given to `accept`: a line that a
   * conditional rule's pattern matches but its condition refuses (`s_connect: connected ...` outside an OCSP query)
   * costs no match.
   */
  matchExec(
    rec: LineRecord,
    accept: (r: CompiledRule, m: RegExpExecArray | string[]) => boolean,
    acceptFirst?: (r: CompiledRule) => boolean,
  ): CompiledRule | null {
    const msg = rec.message;
    const c = msg.charCodeAt(0);
    const bucket = this.index[rec.level]![c < 128 ? c : 128]!;
    const scope = SCOPE_BIT[rec.idClass];
    const format = FORMAT_BIT[rec.format];
    for (let i = 0; i < bucket.length; i++) {
      const r = bucket[i]!;
      if ((r.scopes & scope) === 0 || (r.formats & format) === 0) continue;
      if (!headFits(r, msg)) continue;
      if (this.tryRule(r, msg, accept, acceptFirst)) return r;
    }
    return null;
  }

  /** A rule whose head fits the message: its required literal, its condition and its pattern; true (captures in lastExec) when it matches. */
  private tryRule(
    r: CompiledRule,
    msg: string,
    accept: (r: CompiledRule, m: RegExpExecArray | string[]) => boolean,
    acceptFirst?: (r: CompiledRule) => boolean,
  ): boolean {
    if (r.required !== '' && !msg.includes(r.required)) return false;
    const early = r.when !== null && acceptFirst !== undefined && !r.whenReadsCaptures;
    if (early && !acceptFirst(r)) return false;
    const m = execRule(r, msg);
    if (m === null) return false;
    if (r.when !== null && !early && !accept(r, m)) return false;
    this.lastExec = m;
    return true;
  }
}

/** The tests of a message's head (the first character is the bucket's): the rule's literal prefix, the character after it, its alternatives. */
function headFits(r: CompiledRule, msg: string): boolean {
  const pl = r.prefix.length;
  if (pl > 1 && !msg.startsWith(r.prefix)) return false;
  if (r.follow !== null && !inCharSet(r.follow, msg.charCodeAt(pl))) return false;
  if (r.alternatives !== null && !startsWithOneOf(msg, r.alternatives)) return false;
  return true;
}

/** Whether buf[from, from + n) starts with one of `heads` (ASCII bytes). */
function startsWithOne(buf: Buffer, from: number, n: number, heads: readonly Buffer[]): boolean {
  outer: for (let k = 0; k < heads.length; k++) {
    const h = heads[k]!;
    if (h.length > n) continue;
    for (let j = 0; j < h.length; j++) if (buf[from + j] !== h[j]) continue outer;
    return true;
  }
  return false;
}

function startsWithOneOf(msg: string, heads: readonly string[]): boolean {
  for (let k = 0; k < heads.length; k++) if (msg.startsWith(heads[k]!)) return true;
  return false;
}

/** exec() of a rule's pattern: captures by the rule's group numbers. */
export function execRule(r: CompiledRule, msg: string): RegExpExecArray | string[] | null {
  if (r.positional !== null) return r.positional.exec(msg);
  const m = r.regex.exec(msg);
  if (m === null) return null;
  // Named backreferences: the named pattern, its captures renumbered 1..n in `captures` order.
  const out: string[] = [m[0]];
  for (const n of r.captures) out.push(m.groups![n]!);
  return out;
}

/** The captures of a match as exec() would give them in `groups` (an object without prototype). */
export function groupsOf(r: CompiledRule, m: RegExpExecArray | string[]): Record<string, string | undefined> {
  if (r.captures.length === 0) return NO_GROUPS;
  const g = Object.create(null) as Record<string, string | undefined>;
  for (let i = 0; i < r.captures.length; i++) g[r.captures[i]!] = m[r.groupIndex[i]!];
  return g;
}
