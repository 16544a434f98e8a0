#!/usr/bin/env node
/**
 * Fault-injection trial (the long version of test/faults/sidecar-faults.test.ts; never part of `npm test`):
 * runs the real sidecar (`stunnel-doctor watch`, a child process, uid 65534 when run as root) on real stunnel
 * logs for several rounds with different seeds, each injecting every fault of test/faults/harness.ts, and prints
 * a report: faults injected, events expected (one-shot scan of everything written), delivered (NDJSON, deduped
 * by id), lost (must be 0). JSON to bench/results/fault-trial-<stamp>.json.
 *
 *   node scripts/fault-trial.mjs [--rounds 5] [--kills 6] [--terms 4] [--glob-files 2000] [--seed 1]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
if (!process.env.FAULT_TRIAL_CHILD) {
  // The harness is TypeScript (shared with the tests): run this file again under tsx.
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    cwd: ROOT, stdio: 'inherit', env: { ...process.env, FAULT_TRIAL_CHILD: '1' },
  });
  process.exit(r.status ?? 1);
}

const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? def : Number(args[i + 1]);
};
const rounds = flag('rounds', 5);
const kills = flag('kills', 6);
const terms = flag('terms', 4);
const globFiles = flag('glob-files', 2000);
const seed0 = flag('seed', 1);
const { runTrial } = await import(join(ROOT, 'test/faults/harness.ts'));

const started = Date.now();
const results = [];
for (let i = 0; i < rounds; i++) {
  const seed = seed0 + i;
  process.stderr.write(`\n[fault-trial] round ${i + 1}/${rounds} (seed ${seed})\n`);
  const r = await runTrial({ seed, kills, terms, globFiles, log: (s) => process.stderr.write(`[fault-trial]   ${s}\n`) });
  results.push({ seed, ...r });
  process.stderr.write(`[fault-trial]   expected ${r.expected}, delivered ${r.delivered} (${r.unique} unique), lost ${r.lost}, unexpected ${r.unexpected}, mismatched ${r.mismatched}\n`);
  for (const x of r.unexpectedExamples) process.stderr.write(`[fault-trial]   unexpected: ${x}\n`);
  for (const x of r.mismatchedExamples) process.stderr.write(`[fault-trial]   mismatched: ${x}\n`);
}
const sum = (k) => results.reduce((a, r) => a + r[k], 0);
const faultCount = results.reduce((a, r) => a + r.faults.length + (r.faults.some((f) => f.fault.startsWith('kill -9')) ? kills - 1 : 0)
  + (r.faults.some((f) => f.fault.startsWith('SIGTERM')) ? terms - 1 : 0), 0);
const byFault = new Map();
for (const r of results) for (const f of r.faults) byFault.set(f.fault, { technique: f.technique, rounds: (byFault.get(f.fault)?.rounds ?? 0) + 1, last: f.observed });
const summary = {
  trial: 'fault-injection', date: new Date().toISOString(), minutes: +((Date.now() - started) / 60000).toFixed(1),
  params: { rounds, kills, terms, globFiles, seed0 },
  rounds: results.length, faultsInjected: faultCount, restarts: sum('restarts'),
  expected: sum('expected'), delivered: sum('delivered'), unique: sum('unique'), lost: sum('lost'), unexpected: sum('unexpected'), mismatched: sum('mismatched'),
  sigtermMidWrite: sum('sigtermMidWrite'),
  faults: Object.fromEntries(byFault), results,
};
const out = join(ROOT, 'bench/results', `fault-trial-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);

const lines = ['| fault | technique | rounds | last observation |', '|---|---|---:|---|'];
for (const [f, v] of byFault) lines.push(`| ${f} | ${v.technique} | ${v.rounds} | ${v.last} |`);
lines.push('', `rounds ${summary.rounds}, faults injected ${summary.faultsInjected}, sidecar restarts ${summary.restarts}, ${summary.minutes} min`);
lines.push(`events expected (one-shot scan) ${summary.expected}, delivered ${summary.delivered} (${summary.unique} unique ids), lost ${summary.lost}, unexpected ${summary.unexpected}, mismatched kind/reason ${summary.mismatched}`);
lines.push(`SIGTERM sent while a checkpoint temp file existed: ${summary.sigtermMidWrite}/${rounds * terms}`, '', `JSON: ${out}`);
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(summary.lost === 0 ? 0 : 1);
