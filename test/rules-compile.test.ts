import { describe, expect, it } from 'vitest';
import { literalPrefix, groupLayout, groupsOf, RuleSet } from '../src/rules/compile.js';
import { loadRuleSet } from '../src/rules/index.js';
import { newRecord } from '../src/parse/line.js';

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

  it('gives every default rule positional groups, and matchExec the captures match() gives', async () => {
    const rules = await loadRuleSet();
    expect(rules.rules.filter((r) => r.positional === null).map((r) => r.id)).toEqual([]);
    const back = new RuleSet([{ id: 'b', file: 'x', line: 1, action: 'note', match: { scope: 'any', message: '^(?<w>\\w+) (?<rest>\\k<w>)$' } } as never]);
    const rec = { ...newRecord(), message: 'ab ab', level: 5, idClass: 'connection' as const };
    const r = back.matchExec(rec, () => true);
    expect(r?.positional).toBe(null);
    expect(groupsOf(r!, back.lastExec!)).toEqual(Object.assign(Object.create(null), { w: 'ab', rest: 'ab' }));
    expect(back.match(rec, () => true)?.groups).toEqual(Object.assign(Object.create(null), { w: 'ab', rest: 'ab' }));
  });
});
