import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { literalPrefix } from '../src/rules/compile.js';
import { loadRuleSet } from '../src/index.js';
import { newRecord, type LineRecord } from '../src/parse/line.js';

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
    expect(set.mayMatch(3, bytes, 0, bytes.length, 4, 1)).toBe(true);
  });
});
