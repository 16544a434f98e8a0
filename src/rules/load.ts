/**
 * Loading rule files: YAML → schema → semantic checks (parse-file.ts), with every problem named by file, line
 * and rule. Nothing here throws on the first mistake: all problems of all files are collected and reported
 * together. The YAML parser and the schema library are loaded only when a file has to be parsed: the default
 * rules come from the build's checked cache.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { RuleSpec } from './schema.js';
import { captureNamesOf, rememberGroupCounts, rememberLinearSources } from './engine.js';
import { rememberPatternFacts } from './compile.js';

export interface RuleProblem {
  file: string;
  line: number;
  column: number;
  rule?: string;
  message: string;
}

export function formatProblem(p: RuleProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.rule ? `rule "${p.rule}": ` : ''}${p.message}`;
}

export class RuleLoadError extends Error {
  constructor(readonly problems: RuleProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'RuleLoadError';
  }
}

/** A rule with where it was written. */
export interface LocatedRule extends RuleSpec {
  file: string;
  line: number;
}

export const DEFAULT_RULES_FILE = fileURLToPath(new URL('../../rules/stunnel.yaml', import.meta.url));

export function captureNames(re: { source: string }): string[] {
  return captureNamesOf(re.source);
}

/** Reads and checks rule files; throws one RuleLoadError listing every problem of every file. */
export async function loadRuleFiles(files: readonly string[]): Promise<LocatedRule[][]> {
  const problems: RuleProblem[] = [];
  const out: LocatedRule[][] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      problems.push({ file, line: 0, column: 0, message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    const cached = file === DEFAULT_RULES_FILE ? await cachedDefaultRules(text) : null;
    if (cached) {
      out.push(cached);
      continue;
    }
    const { parseRuleFile } = await import('./parse-file.js');
    const r = parseRuleFile(text, file);
    problems.push(...r.problems);
    out.push(r.rules);
  }
  if (problems.length) throw new RuleLoadError(problems);
  return out;
}

/**
 * The default rules as checked at build time (`dist/rules/stunnel.rules.json`, written by
 * scripts/rules-cache.mjs): used when its hash is that of the default file's text, so a start-up does not
 * pay for YAML parsing and schema validation (about a third of the start-up time of `scan`). Absent or stale:
 * null, and the file is parsed as usual.
 */
export const DEFAULT_RULES_CACHE = fileURLToPath(new URL('./stunnel.rules.json', import.meta.url));

export function rulesTextHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function cachedDefaultRules(text: string): Promise<LocatedRule[] | null> {
  let c: { sha256?: unknown; rules?: unknown; groupCounts?: unknown; linearSources?: unknown; facts?: unknown };
  try {
    c = JSON.parse(await readFile(DEFAULT_RULES_CACHE, 'utf8')) as typeof c;
  } catch {
    return null;
  }
  if (c.sha256 !== rulesTextHash(text) || !Array.isArray(c.rules)) return null;
  if (c.groupCounts && typeof c.groupCounts === 'object') rememberGroupCounts(c.groupCounts as Record<string, number>);
  if (Array.isArray(c.linearSources)) rememberLinearSources(c.linearSources);
  if (c.facts && typeof c.facts === 'object') rememberPatternFacts(c.facts as Record<string, unknown>);
  return (c.rules as LocatedRule[]).map((r) => ({ ...r, file: DEFAULT_RULES_FILE }));
}

/**
 * Defaults first, user files after: a user rule with an existing id replaces it in place; a new id is
 * placed before all defaults, so users can specialise a default without repeating it.
 */
export function mergeRules(defaults: readonly LocatedRule[], ...user: (readonly LocatedRule[])[]): LocatedRule[] {
  const merged = [...defaults];
  const front: LocatedRule[] = [];
  for (const file of user) {
    for (const r of file) {
      const i = merged.findIndex((d) => d.id === r.id);
      if (i >= 0) merged[i] = r;
      else {
        const j = front.findIndex((d) => d.id === r.id);
        if (j >= 0) front[j] = r;
        else front.push(r);
      }
    }
  }
  return [...front, ...merged];
}

/** Checks across the merged set: marks that `when` tests must be set by some rule. */
export function checkMerged(rules: readonly LocatedRule[]): RuleProblem[] {
  const marks = new Set(rules.flatMap((r) => r.marks ?? []));
  const out: RuleProblem[] = [];
  for (const r of rules) {
    for (const m of [...(r.when?.has ?? []), ...(r.when?.lacks ?? [])]) {
      if (!marks.has(m)) out.push({ file: r.file, line: r.line, column: 1, rule: r.id, message: `when tests mark "${m}", which no rule sets` });
    }
  }
  return out;
}
