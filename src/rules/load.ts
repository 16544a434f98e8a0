/**
 * Loading rule files: YAML → schema → semantic checks, with every problem named by file, line and rule.
 * Nothing here throws on the first mistake: all problems of all files are collected and reported together.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument, isSeq, type Node } from 'yaml';
import type { ZodError } from 'zod';
import { ruleFileSchema, EVENT_FIELDS, type RuleSpec } from './schema.js';
import { captureNamesOf, chooseEngine } from './engine.js';

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

/** Parses and checks one rule file's text. Problems are returned, never thrown. */
export function parseRuleFile(text: string, file: string): { rules: LocatedRule[]; problems: RuleProblem[] } {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false });
  const problems: RuleProblem[] = [];
  const at = (offset: number | undefined, message: string, rule?: string): void => {
    const pos = lc.linePos(offset ?? 0);
    problems.push({ file, line: pos.line, column: pos.col, message, ...(rule ? { rule } : {}) });
  };
  for (const e of doc.errors) at(e.pos[0], `YAML: ${e.message.split('\n')[0]}`);
  if (doc.errors.length) return { rules: [], problems };
  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) {
    at(0, 'the file is empty: expected a mapping with a `rules:` list');
    return { rules: [], problems };
  }
  const nodeAt = (path: readonly PropertyKey[]): Node | undefined => {
    // Walk down as far as the path exists, so a missing key points at its parent.
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as (string | number)[], true) as Node | undefined;
      if (node && typeof node === 'object' && 'range' in node) return node;
    }
    return undefined;
  };
  const ruleIdAt = (index: unknown): string | undefined => {
    if (typeof index !== 'number') return undefined;
    const id = doc.getIn(['rules', index, 'id']);
    return typeof id === 'string' ? id : undefined;
  };
  const parsed = ruleFileSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of (parsed.error as ZodError).issues) {
      const path = issue.path;
      const where = path.length > 2 ? `${path.slice(2).join('.')}: ` : '';
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      at(nodeAt(path)?.range?.[0], `${where}${message}`, path[0] === 'rules' ? ruleIdAt(path[1]) : undefined);
    }
    return { rules: [], problems };
  }
  const rulesNode = doc.get('rules', true);
  const rules: LocatedRule[] = parsed.data.rules.map((r, i) => {
    const node = isSeq(rulesNode) ? (rulesNode.items[i] as Node | undefined) : undefined;
    return { ...r, file, line: lc.linePos(node?.range?.[0] ?? 0).line };
  });
  const seen = new Map<string, number>();
  rules.forEach((r, i) => {
    const here = (key: string[]): number | undefined => nodeAt(['rules', i, ...key])?.range?.[0];
    const prev = seen.get(r.id);
    if (prev !== undefined) at(here(['id']), `duplicate id (first defined on line ${prev})`, r.id);
    else seen.set(r.id, r.line);
    for (const m of checkRule(r)) at(here(m.key), m.message, r.id);
  });
  // A rule after an identical, unconditional one can never match.
  const byMatch = new Map<string, LocatedRule>();
  for (const [i, r] of rules.entries()) {
    const key = JSON.stringify([r.match.level, r.match.scope, r.match.format, r.match.message]);
    const earlier = byMatch.get(key);
    if (earlier && !earlier.when) {
      at(nodeAt(['rules', i, 'match'])?.range?.[0], `can never match: rule "${earlier.id}" on line ${earlier.line} matches the same lines first`, r.id);
    } else if (!earlier) byMatch.set(key, r);
  }
  problems.sort((a, b) => a.line - b.line || a.column - b.column);
  return { rules: problems.length ? [] : rules, problems };
}

interface Problem {
  key: string[];
  message: string;
}

/** Semantic checks of one rule that the schema cannot express. */
export function checkRule(r: RuleSpec): Problem[] {
  const out: Problem[] = [];
  let re: RegExp | undefined;
  try {
    re = new RegExp(r.match.message);
  } catch (e) {
    out.push({ key: ['match', 'message'], message: `invalid regular expression: ${(e as Error).message}` });
  }
  const engine = re ? chooseEngine(r.match.message) : null;
  if (engine && engine.engine === null) out.push({ key: ['match', 'message'], message: `refused: ${engine.error}` });
  const captures = re ? captureNames(re) : [];
  if (re && re.test('') && re.test('Zq9 ~') && r.action !== 'ignore') {
    out.push({ key: ['match', 'message'], message: 'the pattern matches every line: anchor it or make it specific' });
  }
  if (r.match.scope === 'connection' && r.match.format?.length === 1 && r.match.format[0] === 'stderr') {
    out.push({ key: ['match'], message: 'can never match: stderr lines carry no connection id' });
  }
  if (r.hint) {
    for (const m of r.hint.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
      const name = m[1]!;
      if (!captures.includes(name) && !(EVENT_FIELDS as readonly string[]).includes(name)) {
        out.push({ key: ['hint'], message: `uses {${name}}, which the pattern does not capture (captures: ${captures.join(', ') || 'none'})` });
      }
    }
  }
  const needsEvent: Partial<Record<RuleSpec['action'], true>> = { emit: true };
  if (needsEvent[r.action] && !r.event) out.push({ key: ['action'], message: `action "${r.action}" needs an event` });
  const kindFor: Partial<Record<RuleSpec['action'], string>> = { stop: 'proxy_stopped', config_fail: 'config_failed' };
  const want = kindFor[r.action];
  if (want && r.event && r.event.kind !== want) {
    out.push({ key: ['event', 'kind'], message: `action "${r.action}" concludes a ${want} event, not ${r.event.kind}` });
  }
  if (r.when && r.action !== 'end' && r.action !== 'detail' && r.action !== 'note') {
    out.push({ key: ['when'], message: `"when" applies to connection rules (end, detail, note), not to "${r.action}"` });
  }
  if (r.when && r.match.scope !== 'connection') {
    out.push({ key: ['when'], message: '"when" tests a connection: set match.scope to connection' });
  }
  if (r.event && !r.hint) {
    out.push({ key: ['event'], message: 'a rule that decides an event needs a hint for operators' });
  }
  return out;
}

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
  let c: { sha256?: unknown; rules?: unknown };
  try {
    c = JSON.parse(await readFile(DEFAULT_RULES_CACHE, 'utf8')) as typeof c;
  } catch {
    return null;
  }
  if (c.sha256 !== rulesTextHash(text) || !Array.isArray(c.rules)) return null;
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
