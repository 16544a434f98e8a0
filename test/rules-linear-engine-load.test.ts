/**
 * RE2JS (the linear-time engine) is loaded only when a pattern that needs it has to run. Every stunnel 5.68 start
 * writes `LOG3[ui]: No trusted certificates found` for each service without verification, and the default rule
 * for invalid options (`^(?<config_file>.+?):(?<config_line>\d+): "(?<option>.*)": (?<error>.+)$`, on RE2JS) reads
 * every level-3 process line: its required literal (`: "`) keeps such lines from loading and running RE2JS.
 * This file has a module graph of its own (vitest isolates test files), so nothing else loaded RE2JS before it.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_RULES_FILE, loadRuleFiles } from '../src/rules/load.js';
import { linearEngineLoaded, rememberLinearSources } from '../src/rules/engine.js';
import { catastrophicReason, polynomialReason } from '../src/rules/safety.js';
import { RuleSet } from '../src/rules/compile.js';
import { scanFiles } from '../src/scan.js';

const fixture = (p: string): string => new URL(`../fixtures/${p}`, import.meta.url).pathname;

describe('the linear-time engine, loaded on demand', () => {
  it('is not loaded by real logs whose level-3 lines lack the literal, and is loaded by a real invalid option', async () => {
    // What the build's rules cache tells a start-up (scripts/rules-cache.mjs): which default patterns need RE2JS,
    // known to compile on it (else loading the rule file would compile them to check them).
    const { rules } = parse(readFileSync(DEFAULT_RULES_FILE, 'utf8')) as { rules: { match: { message: string } }[] };
    const linear = rules.map((r) => r.match.message).filter((s) => (catastrophicReason(s) ?? polynomialReason(s)) !== null);
    expect(linear.length).toBeGreaterThan(0);
    rememberLinearSources(linear);
    const [defaults] = await loadRuleFiles([DEFAULT_RULES_FILE]);
    const ruleSet = new RuleSet(defaults!);
    const option = ruleSet.rules.find((r) => r.id === 'config-option-invalid')!;
    expect(option.engine).toBe('linear');
    expect(option.required).toBe(': "');
    expect(linearEngineLoaded()).toBe(false);

    const logs = ['psk-mismatch/d5.log', 'renegotiation-refused/d5.log', 'exec-fails/d5.log', 'idle-timeout/d7.log'].map(fixture);
    for (const log of logs) expect(readFileSync(log, 'utf8'), log).toMatch(/LOG3\[ui\]: No trusted certificates found/);
    const { events } = await scanFiles(logs, { ruleSet });
    expect(events.length).toBeGreaterThan(10);
    expect(events.filter((e) => e.kind === 'config_failed')).toEqual([]);
    expect(linearEngineLoaded()).toBe(false);

    // A line with the literal runs the pattern: RE2JS is loaded, and the line concludes as before.
    const { events: failed } = await scanFiles([fixture('config-unknown-option/d5.stderr')], { ruleSet });
    expect(linearEngineLoaded()).toBe(true);
    const e = failed.find((x) => x.kind === 'config_failed');
    expect(e).toMatchObject({ reason: 'invalid_option' });
    expect(JSON.stringify(e)).toContain('verifyHostname = yes');
  });
});
