/**
 * Every example line of the stunnel message catalog at levels 0-5 is classified on purpose: some rule of
 * rules/stunnel.yaml matches it (an event, a detail, a note, or a deliberate `ignore`), or it is in the
 * commented allow-list below. A new catalog example that no rule knows fails this test.
 *
 * Source: ../shared/reference/stunnel-log-catalog.md beside the repository (CI has it there), read at test time;
 * without it, test/data/catalog-example-lines.txt (the same lines, extracted from it).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { loadRuleSet, type RuleSet } from '../src/index.js';
import { classifyId, newRecord, type LineRecord } from '../src/parse/line.js';

const CATALOG = new URL('../../shared/reference/stunnel-log-catalog.md', import.meta.url).pathname;
const COPY = new URL('./data/catalog-example-lines.txt', import.meta.url).pathname;

/** `YYYY.MM.DD HH:MM:SS LOGn[id]: text` (section 1.6) and section 3's `* LOGn[id]: text` (visible at level 5). */
const STAMPED = /^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG([0-7])\[([^\]]+)\]: (.*)$/;
const STARRED = /^\* LOG([0-7])\[([^\]]+)\]: (.*)$/;

interface Example { line: string; level: number; id: string; message: string }

function extract(text: string): Example[] {
  const out: Example[] = [];
  for (const line of text.split('\n')) {
    const m = STAMPED.exec(line) ?? STARRED.exec(line);
    if (m) out.push({ line, level: Number(m[1]), id: m[2]!, message: m[3]! });
  }
  return out;
}

const fromCatalog = existsSync(CATALOG);
const examples = extract(readFileSync(fromCatalog ? CATALOG : COPY, 'utf8'));
const atLevels0to5 = examples.filter((e) => e.level <= 5);

/**
 * Example lines at levels 0-5 that no rule matches, deliberately. Each entry says why it carries no meaning for
 * diagnosis. Empty today: every such line has a rule (informational ones an `ignore` or `note` rule).
 */
const ALLOWED_UNCLASSIFIED: ReadonlyMap<string, string> = new Map<string, string>([
  // ['<message text>', '<why it is informational>'],
]);

/** The safety nets at the end of the rules catch any error or warning line: they classify nothing on purpose. */
const SAFETY_NETS: ReadonlySet<string> = new Set([
  'conn-unknown-error-before-tls', 'conn-unknown-error', 'process-unknown-error', 'conn-unknown-warning', 'process-unknown-warning',
]);

function anyRuleFor(rules: RuleSet, e: { level: number; id: string; message: string }): string | null {
  const rec: LineRecord = Object.assign(newRecord(), {
    format: 'file' as const, level: e.level, id: e.id, idClass: classifyId(e.id), message: e.message,
  });
  // Any rule whose level, scope and pattern fit: `when` conditions depend on the connection, not on the line.
  return rules.match(rec, () => true)?.rule.id ?? null;
}

/** The rule that classifies a line on purpose (a safety net does not count). */
function ruleFor(rules: RuleSet, e: { level: number; id: string; message: string }): string | null {
  const id = anyRuleFor(rules, e);
  return id !== null && SAFETY_NETS.has(id) ? null : id;
}

describe('catalog example lines (levels 0-5) are all classified', () => {
  it(`reads the examples (${fromCatalog ? 'from the catalog' : 'from test/data'})`, () => {
    // Section 1.6 alone has 16 lines at levels 0-5, section 3 nine more.
    expect(atLevels0to5.length).toBeGreaterThanOrEqual(20);
  });

  it.runIf(fromCatalog)('test/data/catalog-example-lines.txt is the same extraction as the catalog', () => {
    const copy = extract(readFileSync(COPY, 'utf8')).map((e) => e.line);
    expect(copy).toEqual(examples.map((e) => e.line));
  });

  it('every example is matched by a rule or deliberately allowed', async () => {
    const rules = await loadRuleSet();
    const unclassified = atLevels0to5
      .filter((e) => ruleFor(rules, e) === null && !ALLOWED_UNCLASSIFIED.has(e.message))
      .map((e) => e.line);
    expect(unclassified).toEqual([]);
  });

  it('the allow-list holds only lines that really are unmatched', async () => {
    const rules = await loadRuleSet();
    for (const message of ALLOWED_UNCLASSIFIED.keys()) {
      const e = atLevels0to5.find((x) => x.message === message);
      expect(e, `allow-listed line is not a catalog example: ${message}`).toBeDefined();
      expect(ruleFor(rules, e!)).toBeNull();
    }
  });

  it('the check can fail: an unknown message is not classified', async () => {
    const rules = await loadRuleSet();
    expect(ruleFor(rules, { level: 3, id: '7', message: 'no stunnel version writes this text' })).toBeNull();
    expect(ruleFor(rules, { level: 3, id: 'main', message: 'no stunnel version writes this text' })).toBeNull();
    // ... and only a safety net keeps it (see test/rules-safety-net.test.ts).
    expect(anyRuleFor(rules, { level: 3, id: '7', message: 'no stunnel version writes this text' })).toBe('conn-unknown-error-before-tls');
    expect(anyRuleFor(rules, { level: 3, id: 'main', message: 'no stunnel version writes this text' })).toBe('process-unknown-error');
  });

  it('classifies the failure examples as the failures they are', async () => {
    const rules = await loadRuleSet();
    const rule = (text: string) => {
      const e = atLevels0to5.find((x) => x.message.startsWith(text));
      expect(e, text).toBeDefined();
      return ruleFor(rules, e!);
    };
    expect(rule('s_connect: connect 127.0.0.1:9181: Connection refused')).toMatch(/refused|ocsp-responder-unreachable/);
    expect(rule('SSL_accept: ../ssl/record/ssl3_record.c:350:')).toBe('tls-peer-not-tls');
    expect(rule('SSL_accept: ssl3_read_bytes@')).toBe('tls-peer-rejected-cert');
    expect(rule('/etc/stunnel/reload.conf:9:')).toBe('config-option-invalid');
    expect(rule('Failed to reload the configuration file')).toBe('reload-failed');
    expect(rule('CERT: Pre-verification error: unable to get local issuer certificate')).toBe('cert-unknown-issuer');
    expect(rule('CERT: Subject checks failed')).toBe('cert-hostname-mismatch');
    expect(rule('Active connections:')).toBe('usr2-dump');
  });
});
