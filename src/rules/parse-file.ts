/**
 * Parsing and checking one rule file's text: YAML → schema → semantic checks, with every problem named by file,
 * line and rule. The YAML parser and the schema library are loaded at its first call (deps.ts), not with it.
 */
import type { Node } from 'yaml';
import type { ZodError } from 'zod';
import { ruleSchemas, EVENT_FIELDS, type RuleSpec } from './schema.js';
import { yamlLib } from '../deps.js';
import { chooseEngine } from './engine.js';
import { captureNames, type LocatedRule, type RuleProblem } from './load.js';

/** Parses and checks one rule file's text. Problems are returned, never thrown. */
export function parseRuleFile(text: string, file: string): { rules: LocatedRule[]; problems: RuleProblem[] } {
  const { LineCounter, parseDocument, isSeq } = yamlLib();
  const { ruleFileSchema, ruleSchema } = ruleSchemas();
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
  // Every problem at once: the schema's issues, and the semantic checks of each rule the schema accepts.
  const parsed = ruleFileSchema.safeParse(raw);
  const rulesNode = doc.get('rules', true);
  const items = (raw as { rules?: unknown }).rules;
  const located = (r: RuleSpec, i: number): LocatedRule => {
    const node = isSeq(rulesNode) ? (rulesNode.items[i] as Node | undefined) : undefined;
    return { ...r, file, line: lc.linePos(node?.range?.[0] ?? 0).line };
  };
  /** Rules to check further, with their index in the file's list. */
  let indexed: { rule: LocatedRule; i: number }[];
  if (parsed.success) {
    indexed = parsed.data.rules.map((r, i) => ({ rule: located(r, i), i }));
  } else {
    const badItems = new Set<number>();
    for (const issue of (parsed.error as ZodError).issues) {
      const path = issue.path;
      const where = path.length > 2 ? `${path.slice(2).join('.')}: ` : '';
      let message = issue.message;
      if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      at(nodeAt(path)?.range?.[0], `${where}${message}`, path[0] === 'rules' ? ruleIdAt(path[1]) : undefined);
      if (path[0] === 'rules' && typeof path[1] === 'number') badItems.add(path[1]);
    }
    indexed = [];
    if (Array.isArray(items)) {
      items.forEach((item, i) => {
        const one = badItems.has(i) ? null : ruleSchema.safeParse(item);
        if (one?.success) {
          indexed.push({ rule: located(one.data, i), i });
          return;
        }
        // A rule the schema refused: its id and pattern are still checked, so that one pass lists everything.
        const id = ruleIdAt(i);
        const message = doc.getIn(['rules', i, 'match', 'message']);
        if (typeof message === 'string') {
          for (const m of checkPattern(message).problems) at(nodeAt(['rules', i, ...m.key])?.range?.[0], m.message, id);
        }
      });
    }
  }
  const rules = indexed.map((x) => x.rule);
  // Ids over every rule of the file, accepted by the schema or not, in order.
  const seen = new Map<string, number>();
  for (let i = 0; Array.isArray(items) && i < items.length; i++) {
    const id = ruleIdAt(i);
    if (id === undefined) continue;
    const prev = seen.get(id);
    if (prev !== undefined) at(nodeAt(['rules', i, 'id'])?.range?.[0], `duplicate id (first defined on line ${prev})`, id);
    else seen.set(id, located({} as RuleSpec, i).line);
  }
  for (const { rule: r, i } of indexed) {
    const here = (key: string[]): number | undefined => nodeAt(['rules', i, ...key])?.range?.[0];
    for (const m of checkRule(r)) at(here(m.key), m.message, r.id);
  }
  // A rule after an identical, unconditional one can never match.
  const byMatch = new Map<string, LocatedRule>();
  for (const { rule: r, i } of indexed) {
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

/** A pattern's checks: a valid JavaScript regular expression that some engine can run in bounded time. */
function checkPattern(source: string): { problems: Problem[]; re: RegExp | undefined } {
  const problems: Problem[] = [];
  let re: RegExp | undefined;
  try {
    re = new RegExp(source);
  } catch (e) {
    const inline = /\(\?[imsx]+(?:-[imsx]+)?[:)]/.exec(source);
    const why = inline
      ? ` (inline flags such as ${inline[0]} are not JavaScript syntax: spell the cases out, e.g. [Ee]rror, or (?:error|ERROR))`
      : '';
    problems.push({ key: ['match', 'message'], message: `invalid regular expression: ${(e as Error).message}${why}` });
  }
  const engine = re ? chooseEngine(source) : null;
  if (engine && engine.engine === null) problems.push({ key: ['match', 'message'], message: `refused: ${engine.error}` });
  return { problems, re };
}

/** Semantic checks of one rule that the schema cannot express. */
export function checkRule(r: RuleSpec): Problem[] {
  const { problems: out, re } = checkPattern(r.match.message);
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

