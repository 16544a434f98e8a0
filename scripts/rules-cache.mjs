#!/usr/bin/env node
/**
 * Build step (after tsc): parses and checks rules/stunnel.yaml with the built loader and writes
 * dist/rules/stunnel.rules.json ({ sha256 of the YAML text, rules, groupCounts, linearSources, facts }), which loadRuleSet uses
 * instead of parsing the YAML again while the text is unchanged. groupCounts holds V8's count of capturing groups of each
 * rule's positional pattern (compile.ts checks its own count against it; measuring compiles the pattern) and
 * linearSources the patterns RE2JS compiled (engine.ts then loads and compiles it only when one first runs), and facts
 * what compileRule reads off each pattern's source by scanning it (compile.ts PatternFacts). Fails the build when the
 * default rules have problems.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { rulesTextHash, DEFAULT_RULES_FILE, DEFAULT_RULES_CACHE } from '../dist/rules/load.js';
import { parseRuleFile } from '../dist/rules/parse-file.js';
import { patternFactsJson, positionalSources } from '../dist/rules/compile.js';
import { chooseEngine, groupCount } from '../dist/rules/engine.js';

const text = readFileSync(DEFAULT_RULES_FILE, 'utf8');
const r = parseRuleFile(text, DEFAULT_RULES_FILE);
if (r.problems.length) {
  process.stderr.write(`rules/stunnel.yaml has problems:\n${r.problems.map((p) => `${p.file}:${p.line}: ${p.message}`).join('\n')}\n`);
  process.exit(1);
}
const groupCounts = {};
for (const source of positionalSources(r.rules.map((x) => x.match.message))) groupCounts[source] = groupCount(source);
// Patterns on the linear-time engine that RE2JS compiled here (parseRuleFile refuses the others).
const linearSources = r.rules.map((x) => x.match.message).filter((source) => chooseEngine(source).engine === 'linear');
const facts = Object.fromEntries(r.rules.map((x) => [x.match.message, patternFactsJson(x.match.message)]));
writeFileSync(DEFAULT_RULES_CACHE, `${JSON.stringify({ sha256: rulesTextHash(text), rules: r.rules, groupCounts, linearSources, facts })}\n`);
