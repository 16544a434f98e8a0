/**
 * Parsing and checking one rule file's text: YAML → schema → semantic checks, with every problem named by file,
 * line and rule (loaded on demand by load.ts: the YAML parser and the schema library cost start-up time).
 */
import { LineCounter, parseDocument, isSeq, type Node } from 'yaml';
import type { ZodError } from 'zod';
import { ruleFileSchema, EVENT_FIELDS, type RuleSpec } from './schema.js';
import { chooseEngine } from './engine.js';
import { captureNames, type LocatedRule, type RuleProblem } from './load.js';

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

