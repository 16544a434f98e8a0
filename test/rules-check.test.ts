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
import { spawnSync } from 'node:child_process';
import { scanFiles } from '../src/index.js';

const REPO = new URL('..', import.meta.url).pathname;

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

  it('lists every problem in one pass, also those of rules that the schema refused', () => {
    const p = problems(`rules:
  - id: mine
    match: { level: 3, message: '^Foo (?<x>\\d+' }
    event: { kind: cert_verify_failed, reason: bogus }
    hint: Check {y}.
  - id: mine
    match: { level: 3, message: '^Bar' }
    event: { kind: cert_verify_failed, reason: expired }
    hint: Check {y}.
`);
    expect(p).toEqual([
      expect.stringMatching(/^3:mine:invalid regular expression: .*Unterminated group/),
      expect.stringMatching(/^4:mine:event\.reason: reason "bogus" is not one of cert_verify_failed's reasons/),
      expect.stringMatching(/^6:mine:duplicate id \(first defined on line 2\)/),
      expect.stringMatching(/^9:mine:uses \{y\}, which the pattern does not capture/),
    ]);
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

  it('runs patterns that could backtrack badly on the linear-time engine; refuses those it cannot run', async () => {
    const text = `rules:
  - id: nested
    match: { message: '^(a+)+$' }
  - id: counted
    match: { message: '^(.*?,){11}P' }
  - id: overlap
    match: { message: '^(a|aa)*$' }
  - id: wildcards
    match: { message: '^(.*) (.*) (.*)x$' }
  - id: plain
    match: { message: '^Service \\[(?<service>.*)\\] accepted' }
  - id: lookahead
    match: { message: '^(?=x)(a+)+$' }
`;
    expect(problems(text)).toEqual([expect.stringMatching(/^13:lookahead:refused: nested quantifier in "\(a\+\)\+" needs the linear-time engine, which cannot run it: .*\(\?=/)]);
    const dir = mkdtempSync(join(tmpdir(), 'sd-rules-'));
    const f = join(dir, 'engines.yaml');
    writeFileSync(f, text.slice(0, text.indexOf('  - id: lookahead')));
    const set = await loadRuleSet([f]);
    const engine = Object.fromEntries(set.rules.filter((r) => r.spec.file === f).map((r) => [r.id, r.engine]));
    expect(engine).toEqual({ nested: 'linear', counted: 'linear', overlap: 'linear', wildcards: 'linear', plain: 'backtracking' });
    // Same matches and captures on either engine.
    const rule = (id: string) => set.rules.find((r) => r.id === id)!;
    expect(rule('nested').regex.exec('aaaa')).not.toBeNull();
    expect(rule('wildcards').regex.exec('a b cx')?.groups).toBeUndefined();
    expect(rule('plain').regex.exec('Service [tls-client] accepted connection')?.groups).toEqual({ service: 'tls-client' });
  });

  it('takes stunnel\'s level names as well as numbers; a wrong name lists both', () => {
    const r = parseRuleFile(`rules:
  - id: named
    match: { level: [err, warning], message: '^x' }
    action: note
  - id: one
    match: { level: debug, message: '^y' }
    action: note
`, 'user.yaml');
    expect(r.problems).toEqual([]);
    expect(r.rules.map((x) => x.match.level)).toEqual([[3, 4], 7]);
    expect(problems(`rules:\n  - id: typo\n    match: { level: warn, message: '^x' }\n`)).toEqual([
      '3:typo:match.level: levels are 0 to 7 or their names: 0 emerg, 1 alert, 2 crit, 3 err, 4 warning, 5 notice, 6 info, 7 debug',
    ]);
  });

  it('explains inline flags, which JavaScript patterns lack', () => {
    expect(problems(`rules:\n  - id: ci\n    match: { message: '(?i)^bar' }\n`)[0]).toMatch(/^3:ci:invalid regular expression: .*inline flags such as \(\?i\) are not JavaScript syntax/);
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

  it('a user pattern that would backtrack for ages on a hostile line does not stall a scan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-rules-'));
    const rules = join(dir, 'words.yaml');
    // Nested quantifier: V8 would try 2^n ways to split a long run of words before failing on the `?`.
    writeFileSync(rules, `rules:
  - id: service-words
    match: { level: [5], message: '^Service \\[(?:\\w+\\s?)+\\]!' }
    action: ignore
`);
    const real = readFileSync(new URL('../fixtures/connect-refused/d5.log', import.meta.url));
    const log = join(dir, 'hostile.log');
    // A synthetic hostile line (not stunnel output) between two real logs, each with its own run.
    const hostile = `2026.11.22 06:00:00 LOG5[99]: Service [${'a'.repeat(3000)}?\n`;
    writeFileSync(log, Buffer.concat([real, Buffer.from(hostile), real]));
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', '--json', '--rules', rules, log], {
      cwd: REPO, encoding: 'utf8', timeout: 120_000, maxBuffer: 1 << 26,
    });
    expect(run.signal).toBeNull(); // not killed by the guard
    const got = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; reason: string });
    const once = (await scanFiles([new URL('../fixtures/connect-refused/d5.log', import.meta.url).pathname])).events;
    expect(got.map((e) => `${e.kind}/${e.reason}`)).toEqual([...once, ...once].map((e) => `${e.kind}/${e.reason}`));
  });

  it('the CLI exits 2 and names file and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-rules-'));
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, `rules:\n  - id: ok\n    match: { message: '^ok' }\n  - id: bad\n    match: { message: '^(?=a)(a|a)*$' }\n`);
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
