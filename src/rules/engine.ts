/**
 * Which regular-expression engine runs a rule's pattern. JavaScript's own engine (V8's irregexp) backtracks:
 * fast, but some patterns take exponential or high-polynomial time on a long line, and the text of a line
 * partly comes from the network (certificate subjects, peer names). Such patterns run on RE2JS, a pure
 * JavaScript port of RE2 whose matching time is linear in the line's length; every other pattern runs on V8.
 * A pattern that needs the linear engine but uses what RE2 lacks (lookaround, backreferences) is refused.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import { catastrophicReason, polynomialReason } from './safety.js';

/**
 * RE2JS, loaded on first use (synchronously, its CommonJS build): few patterns need it, and a start-up whose rules
 * are all known to compile on it (the default rules, checked at build time) does not load it at all (~20 ms).
 */
let re2: typeof RE2JS | null = null;
function re2js(): typeof RE2JS {
  return (re2 ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JS }).RE2JS);
}

/** Whether RE2JS has been loaded (by a pattern that needed it, compiled or run). */
export function linearEngineLoaded(): boolean {
  return re2 !== null;
}

/**
 * Sources RE2JS is known to compile (the default rules' linear patterns, compiled when the rules cache was built,
 * see scripts/rules-cache.mjs): their linear engine is compiled on their first match, not at start-up.
 */
const knownLinear = new Set<string>();

export function rememberLinearSources(sources: readonly unknown[]): void {
  for (const s of sources) if (typeof s === 'string') knownLinear.add(s);
}

/** What the rule engine needs of a compiled pattern: RegExp satisfies it, so does the linear engine's wrapper. */
export interface Pattern {
  readonly source: string;
  exec(text: string): PatternMatch | null;
}

/** What the rule engine reads of a match: the whole match and the named groups. */
export interface PatternMatch {
  readonly 0: string;
  readonly groups?: Record<string, string | undefined>;
}

export type Engine = 'backtracking' | 'linear';

export type EngineChoice =
  | { engine: 'backtracking' }
  /** `compiled` is null for a source known to compile (compiled when first run). */
  | { engine: 'linear'; why: string; compiled: RE2JS | null }
  | { engine: null; error: string };

/** Named groups of a pattern's source, in order (`(?<name>`; lookbehinds are `(?<=` / `(?<!`). */
export function captureNamesOf(source: string): string[] {
  return [...source.matchAll(/\(\?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]!);
}

/** Why a pattern could backtrack badly on V8's engine (then it needs the linear-time one); null when it cannot. */
export function linearReason(source: string): string | null {
  return catastrophicReason(source) ?? polynomialReason(source);
}

/** Decides the engine of a pattern that V8 accepts (`why`: its linearReason, when known already). */
export function chooseEngine(source: string, why: string | null = linearReason(source)): EngineChoice {
  if (!why) return { engine: 'backtracking' };
  if (knownLinear.has(source)) return { engine: 'linear', why, compiled: null };
  let compiled: RE2JS;
  try {
    compiled = re2js().compile(source);
  } catch (e) {
    return { engine: null, error: `${why} needs the linear-time engine, which cannot run it: ${(e as Error).message}` };
  }
  return { engine: 'linear', why, compiled };
}

/** A pattern on the linear-time engine, with RegExp's `exec(...).groups` shape. */
class LinearPattern implements Pattern {
  private re: RE2JS | null;
  private readonly names: string[];
  constructor(readonly source: string, compiled: RE2JS | null) {
    this.re = compiled;
    this.names = captureNamesOf(source);
  }
  exec(text: string): PatternMatch | null {
    const m = (this.re ??= re2js().compile(this.source)).matcher(text);
    if (!m.find()) return null;
    const whole = m.group(0) ?? '';
    if (this.names.length === 0) return { 0: whole }; // as RegExp: no `groups` without named groups
    const groups: Record<string, string | undefined> = {};
    for (const n of this.names) groups[n] = m.group(n) ?? undefined;
    return { 0: whole, groups };
  }
}

/** Compiles `source` on the engine chooseEngine picks (the caller checked it with chooseEngine first). */
export function compilePattern(source: string, why: string | null = linearReason(source)): { pattern: Pattern; engine: Engine } {
  const c = chooseEngine(source, why);
  if (c.engine === 'linear') return { pattern: new LinearPattern(source, c.compiled), engine: 'linear' };
  return { pattern: new RegExp(source), engine: 'backtracking' };
}

/** Number of capturing groups of a pattern, as V8 counts them (it compiles the pattern: a third of a RuleSet's cost). */
export function groupCount(source: string): number {
  const known = knownGroupCounts.get(source);
  return known ?? new RegExp(`${source}|`).exec('')!.length - 1;
}

/**
 * Group counts measured by V8 at build time for the default rules' positional patterns (kept in the rules cache
 * with the text they were measured on, see scripts/rules-cache.mjs): start-up need not compile each pattern.
 */
const knownGroupCounts = new Map<string, number>();

export function rememberGroupCounts(counts: Record<string, number>): void {
  for (const [source, n] of Object.entries(counts)) if (Number.isInteger(n)) knownGroupCounts.set(source, n);
}
