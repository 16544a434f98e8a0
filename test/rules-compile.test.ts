import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  literalPrefix, groupLayout, groupsOf, patternFacts, patternFactsJson, positionalSources, rememberPatternFacts, RuleSet,
} from '../src/rules/compile.js';
import { chooseEngine, groupCount, rememberGroupCounts, rememberLinearSources } from '../src/rules/engine.js';
import { loadRuleSet } from '../src/rules/index.js';
import { newRecord, type LineRecord } from '../src/parse/line.js';
import { eachParsedFixtureLine } from './helpers/fixture-lines.js';

describe('literal prefixes used to skip rules', () => {
  it('takes the literal head of an anchored pattern', () => {
    expect(literalPrefix('^Service \\[(?<service>.*)\\] accepted')).toBe('Service [');
    expect(literalPrefix('^s_connect: connect (?<target>.+)')).toBe('s_connect: connect ');
    expect(literalPrefix('^CERT: Pre-verification error: x')).toBe('CERT: Pre-verification error: x');
  });
  it('drops a character made optional by a quantifier', () => {
    expect(literalPrefix('^abc?d')).toBe('ab');
    expect(literalPrefix('^ab*')).toBe('a');
  });
  it('has none for unanchored patterns or top-level alternatives', () => {
    expect(literalPrefix('Connection refused')).toBe('');
    expect(literalPrefix('^s_connect: connect x|^s_connect: s_poll_wait y')).toBe('');
    expect(literalPrefix('^(?:a|b)c')).toBe('');
    expect(literalPrefix('^x[|]y')).toBe('x');
  });
});

describe('rule dispatch on the first character of the message', () => {
  // A user rule (user input, written by hand) whose literal prefix starts with a non-ASCII character; the
  // messages are synthetic: only the rule engine is under test.
  it('tries a rule whose prefix starts with a non-ASCII character on messages that start with it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-rules-'));
    const f = join(dir, 'umlaut.yaml');
    writeFileSync(f, `rules:
  - id: umlaut-prefix
    match: { level: [3], message: '^Überprüfung (?<what>\\S+) fehlgeschlagen' }
    event: { kind: config_warning, reason: other }
    severity: warning
    hint: Check the thing.
`);
    const set = await loadRuleSet([f]);
    const rec = (message: string): LineRecord => Object.assign(newRecord(), { level: 3, message });
    expect(set.match(rec('Überprüfung Zertifikat fehlgeschlagen'), () => true)?.rule.id).toBe('umlaut-prefix');
    expect(set.match(rec('Ärger'), () => true)?.rule.id).not.toBe('umlaut-prefix');
    const bytes = Buffer.from('Überprüfung x fehlgeschlagen');
    expect(set.candidates(3, bytes, 0, bytes.length, 4, 1)).toBeGreaterThan(0);
  });
});

describe('positional groups (named groups read by number)', () => {
  it('numbers groups as the engine does, past escapes, classes, lookbehinds and non-capturing groups', () => {
    const cases = [
      '^a(?<x>b)(c)(?<y>d)$',
      '^\\((?<x>[^)(]*)\\)(?:(?<y>z)|q)',
      '^[(?<n>](?<x>a)',
      '^(?<=a)(?<!b)(?<x>c)',
      '^[\\]((?<x>y)](?<z>w)',
      '^[]](?<x>a)([^](?<y>b))',
      '^(?<outer>a(?<inner>b))c',
    ];
    for (const src of cases) {
      const named = new RegExp(src);
      const layout = groupLayout(src);
      const plain = new RegExp(layout.plain);
      expect(layout.names, src).toEqual(Object.keys(new RegExp(`${src}|`).exec('')!.groups ?? {}));
      expect(new RegExp(`${layout.plain}|`).exec('')!.length - 1, src).toBe(layout.count);
      expect(new RegExp(`${src}|`).exec('')!.length - 1, src).toBe(layout.count);
      expect(new RegExp(`${layout.plain}|`).exec('')!.groups, src).toBe(undefined);
      for (const text of ['abcd', '(ab)z', '(q)q', 'ac', ']ab', '(a', 'abc', ']a(b', 'ayw']) {
        const m = named.exec(text);
        const p = plain.exec(text);
        expect(p === null, `${src} ${text}`).toBe(m === null);
        if (!m || !p) continue;
        expect([...p], `${src} ${text}`).toEqual([...m]);
        layout.names.forEach((n, i) => expect(p[layout.indices[i]!], `${src} ${text} ${n}`).toBe(m.groups![n]));
      }
    }
  });

  it('flags named backreferences (the named pattern is used then)', () => {
    expect(groupLayout('^(?<a>x)\\k<a>$').namedBackref).toBe(true);
    expect(groupLayout('^(?<a>x)\\1$').namedBackref).toBe(false);
  });

  it('gives every default rule on V8 positional groups, and matchExec the captures match() gives', async () => {
    const rules = await loadRuleSet();
    const linear = rules.rules.filter((r) => r.engine === 'linear').map((r) => r.id);
    expect(rules.rules.filter((r) => r.positional === null).map((r) => r.id)).toEqual(linear);
    const back = new RuleSet([{ id: 'b', file: 'x', line: 1, action: 'note', match: { scope: 'any', message: '^(?<w>\\w+) (?<rest>\\k<w>)$' } } as never]);
    const rec = { ...newRecord(), message: 'ab ab', level: 5, idClass: 'connection' as const };
    const r = back.matchExec(rec, () => true);
    expect(r?.positional).toBe(null);
    expect(groupsOf(r!, back.lastExec!)).toEqual(Object.assign(Object.create(null), { w: 'ab', rest: 'ab' }));
    expect(back.match(rec, () => true)?.groups).toEqual(Object.assign(Object.create(null), { w: 'ab', rest: 'ab' }));
  });
});

describe('group counts remembered from the build', () => {
  it('are what V8 counts, and a remembered count is believed without compiling', async () => {
    const { readFileSync } = await import('node:fs');
    const { parseRuleFile } = await import('../src/rules/parse-file.js');
    const { DEFAULT_RULES_FILE } = await import('../src/rules/load.js');
    const { rules } = parseRuleFile(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE);
    // What scripts/rules-cache.mjs records: V8's count, which must agree with the source scan's.
    for (const source of positionalSources(rules.map((r) => r.match.message))) expect(groupCount(source), source).toBe(groupLayout(source).count);
    // A pattern given a wrong remembered count (a stale cache would) keeps its named groups: no positional copy.
    rememberGroupCounts({ '^unique-(x)(y)$': 5 });
    expect(groupCount('^unique-(x)(y)$')).toBe(5);
    const set = new RuleSet([{ id: 'u', file: 'x', line: 1, action: 'note', match: { scope: 'any', message: '^unique-(?<a>x)(y)$' } } as never]);
    expect(set.rules[0]!.positional).toBe(null);
    expect(set.match({ ...newRecord(), message: 'unique-xy', level: 5, idClass: 'connection' as const }, () => true)?.groups.a).toBe('x');
  });
});

describe('pattern facts remembered from the build', () => {
  // scripts/rules-cache.mjs records, per default pattern, what compileRule reads off its source by scanning it.
  it('are what the scans give, through JSON, for every default rule; and a remembered fact is believed', async () => {
    const { parseRuleFile } = await import('../src/rules/parse-file.js');
    const { DEFAULT_RULES_FILE } = await import('../src/rules/load.js');
    const { rules } = parseRuleFile(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE);
    const sources = [...new Set(rules.map((r) => r.match.message))];
    const scanned = sources.map((s) => patternFacts(s));
    expect(scanned.filter((f) => f.prefilter.follow !== null).length).toBeGreaterThan(10);
    expect(scanned.filter((f) => f.why !== null && f.required !== '').length).toBeGreaterThan(0);
    const fromScans = new RuleSet(rules);
    const cache = JSON.parse(JSON.stringify(Object.fromEntries(sources.map((s) => [s, patternFactsJson(s)])))) as Record<string, unknown>;
    rememberPatternFacts(cache);
    sources.forEach((s, i) => expect(patternFacts(s), s).toEqual(scanned[i]));
    const fromCache = new RuleSet(rules);
    fromCache.rules.forEach((r, i) => {
      const { regex: a, positional: b, ...cached } = r;
      const { regex: c, positional: d, ...fresh } = fromScans.rules[i]!;
      expect(cached, r.id).toEqual(fresh);
      expect([a.source, b?.source], r.id).toEqual([c.source, d?.source]);
    });

    // Believed without scanning (a stale cache would be): and an entry of another shape is ignored.
    const fake = patternFactsJson('^zzz(?<a>y)');
    rememberPatternFacts({ '^believed-(?<a>x)$': fake, '^ignored-(?<a>x)$': { ...fake, layout: null } });
    const set = new RuleSet([
      { id: 'b', file: 'x', line: 1, action: 'note', match: { scope: 'any', message: '^believed-(?<a>x)$' } } as never,
      { id: 'i', file: 'x', line: 2, action: 'note', match: { scope: 'any', message: '^ignored-(?<a>x)$' } } as never,
    ]);
    expect(set.rules[0]!.prefix).toBe('zzz');
    expect(set.rules[1]!.prefix).toBe('ignored-');
  });
});

describe('a rule on the linear-time engine', () => {
  // A user rule (written by hand) whose pattern could backtrack badly on V8.
  it('is never given a positional V8 pattern, and still gives its captures by name and by number', () => {
    const set = new RuleSet([{ id: 'nested', file: 'x', line: 1, action: 'note', match: { scope: 'any', message: '^(?<word>(a+)+)b$' } } as never]);
    const r = set.rules[0]!;
    expect(r.engine).toBe('linear');
    expect(r.positional).toBe(null);
    const rec = { ...newRecord(), message: 'aaab', level: 5, idClass: 'connection' as const };
    const hit = set.matchExec(rec, () => true);
    expect(hit?.id).toBe('nested');
    expect(groupsOf(hit!, set.lastExec!)).toEqual(Object.assign(Object.create(null), { word: 'aaa' }));
    expect(set.match(rec, () => true)?.groups).toEqual(Object.assign(Object.create(null), { word: 'aaa' }));
    expect(set.match({ ...rec, message: `${'a'.repeat(5000)}!` }, () => true)).toBe(null);
  });
});

describe('linear patterns remembered from the build', () => {
  // scripts/rules-cache.mjs records the default rules' patterns that RE2JS compiled; a start-up from the cache
  // neither loads RE2JS nor compiles them until one first runs. They must match exactly as compiled ones do.
  it('are compiled on first use, and match every real fixture line as patterns compiled at load do', async () => {
    const { parseRuleFile } = await import('../src/rules/parse-file.js');
    const { DEFAULT_RULES_FILE } = await import('../src/rules/load.js');
    const { rules } = parseRuleFile(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE);
    const linear = rules.map((r) => r.match.message).filter((s) => chooseEngine(s).engine === 'linear');
    expect(linear.length).toBeGreaterThan(0);
    for (const s of linear) expect((chooseEngine(s) as { compiled: unknown }).compiled, s).not.toBe(null);
    const eager = new RuleSet(rules);

    rememberLinearSources(linear);
    for (const s of linear) expect(chooseEngine(s)).toMatchObject({ engine: 'linear', compiled: null });
    // Others are still compiled (and refused) at load.
    expect((chooseEngine('^(?<word>(a+)+)b$') as { compiled: unknown }).compiled).not.toBe(null);
    expect(chooseEngine('^((a+)+)\\2$').engine).toBe(null);
    const lazy = new RuleSet(rules);
    expect(lazy.rules.filter((r) => r.engine === 'linear').map((r) => r.spec.match.message)).toEqual(linear);

    let linearHits = 0;
    eachParsedFixtureLine((rec, where) => {
      const a = eager.match(rec, () => true);
      const b = lazy.match(rec, () => true);
      expect(b?.rule.id, where).toBe(a?.rule.id);
      expect(b?.groups, where).toEqual(a?.groups);
      if (b?.rule.engine === 'linear') linearHits++;
    });
    expect(linearHits).toBeGreaterThan(0);
  });
});
