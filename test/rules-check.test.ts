/**
 * Rule files are data, checked at load: every mistake is reported with file, line and rule, and a bad file
 * is refused as a whole. These rule files are user input, so they are written here by hand.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRuleFile, loadRuleSet, RuleLoadError } from '../src/index.js';
import { DEFAULT_RULES_FILE } from '../src/rules/load.js';
import { readFileSync } from 'node:fs';
import { main } from '../src/cli.js';

const problems = (text: string) => parseRuleFile(text, 'user.yaml').problems.map((p) => `${p.line}:${p.rule ?? ''}:${p.message}`);

describe('rules check', () => {
  it('accepts the default rule set', () => {
    const r = parseRuleFile(readFileSync(DEFAULT_RULES_FILE, 'utf8'), DEFAULT_RULES_FILE);
    expect(r.problems).toEqual([]);
    expect(r.rules.length).toBeGreaterThan(60);
  });

  it('accepts the issue example rule (a user rule overriding nothing)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-rules-'));
    const f = join(dir, 'mine.yaml');
    writeFileSync(f, `rules:
  - id: my-backend-refused
    match: { level: [3], message: '^s_connect: connect (?<target>\\S+): Connection refused' }
    event: { kind: connect_failed, reason: refused }
    severity: error
    hint: The backend is not listening.
`);
    const set = await loadRuleSet([f]);
    expect(set.rules[0]!.id).toBe('my-backend-refused');
  });

  it('reports malformed YAML with its line', () => {
    expect(problems('rules:\n  - id: a\n    match: { level: [3], message: "x"\n')[0]).toMatch(/^[34]:.*YAML/);
  });

  it('names unknown keys, with the rule and the line', () => {
    const p = problems(`rules:
  - id: ok-rule
    match: { message: '^x' }
    severity: error
  - id: typo
    match: { mesage: '^y' }
`);
    expect(p.some((l) => /^6:typo:.*unknown key "mesage"/.test(l))).toBe(true);
  });

  it('refuses duplicate ids', () => {
    const p = problems(`rules:
  - id: dup
    match: { message: '^a' }
  - id: dup
    match: { message: '^b' }
`);
    expect(p).toEqual([expect.stringMatching(/^4:dup:duplicate id \(first defined on line 2\)/)]);
  });

  it('refuses invalid regular expressions', () => {
    expect(problems(`rules:\n  - id: bad-re\n    match: { message: '^(unclosed' }\n`)[0]).toMatch(/^3:bad-re:match\.message|^3:bad-re:invalid regular expression/);
  });

  it('refuses a reason outside the kind\'s closed set', () => {
    const p = problems(`rules:
  - id: r
    match: { message: '^a' }
    event: { kind: connect_failed, reason: expired }
    hint: h
`);
    expect(p[0]).toMatch(/^4:r:.*reason "expired" is not one of connect_failed's reasons/);
  });

  it('refuses a hint that uses a capture the pattern does not define', () => {
    const p = problems(`rules:
  - id: r
    match: { message: '^s_connect: connect (?<target>\\S+)' }
    event: { kind: connect_failed, reason: refused }
    hint: backend {backend} is down
`);
    expect(p[0]).toMatch(/^5:r:uses \{backend\}, which the pattern does not capture \(captures: target\)/);
  });

  it('refuses a rule that can never match', () => {
    const p = problems(`rules:
  - id: first
    match: { level: [3], message: '^a' }
  - id: shadowed
    match: { level: [3], message: '^a' }
  - id: stderr-conn
    match: { scope: connection, format: [stderr], message: '^b' }
`);
    expect(p).toEqual([
      expect.stringMatching(/^5:shadowed:can never match: rule "first"/),
      expect.stringMatching(/^7:stderr-conn:can never match: stderr lines carry no connection id/),
    ]);
  });

  it('refuses catastrophic patterns', () => {
    expect(problems(`rules:\n  - id: slow\n    match: { message: '^(a+)+$' }\n`)[0]).toMatch(/^3:slow:refused: nested quantifier/);
  });

  it('refuses levels out of range and an empty file', () => {
    expect(problems(`rules:\n  - id: l\n    match: { level: [9], message: '^a' }\n`)[0]).toMatch(/levels are 0 to 7/);
    expect(problems('')[0]).toMatch(/empty/);
  });

  it('loadRuleSet lists the problems of every file and keeps nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-rules-'));
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    writeFileSync(a, `rules:\n  - id: x\n    match: { message: '^(' }\n`);
    writeFileSync(b, `rules:\n  - id: y\n    match: { message: '^y' }\n    when: { has: [nope] }\n    action: end\n`);
    const err = await loadRuleSet([a, b]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuleLoadError);
    const msg = (err as RuleLoadError).message;
    expect(msg).toContain(`${a}:3:`);
    expect(msg).toContain(`${b}:`);
  });

  it('the CLI exits 2 and names file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-rules-'));
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, `rules:\n  - id: ok\n    match: { message: '^ok' }\n  - id: bad\n    match: { message: '^(a|a)*$' }\n`);
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (writes.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['rules', 'check', f])).toBe(2);
      expect(await main(['scan', '--rules', f, DEFAULT_RULES_FILE])).toBe(2);
    } finally {
      process.stderr.write = orig;
    }
    expect(writes.join('')).toContain(`${f}:5:`);
    expect(writes.join('')).toContain('rule "bad"');
  });
});
