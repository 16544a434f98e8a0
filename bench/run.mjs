#!/usr/bin/env node
/**
 * stunnel-doctor benchmarks (`npm run bench`, never part of the unit tests).
 *
 *   npm run bench                          every benchmark: backlog scan (1M and 5M lines, debug 5 and 7, 3 runs
 *                                          each), follow latency, many proxies, restart, memory under churn
 *   npm run bench -- --quick               small sizes, 1 run (a smoke test of the harness)
 *   npm run bench -- --sizes 1e6,5e6 --runs 5 --debug 5,7 --seed 42 --keep-data --only backlog
 *   node bench/run.mjs --doctor ../other-build/dist/bin.js   (benchmark another build of stunnel-doctor)
 *
 * Each benchmark is a module bench/<name>.mjs (see common.mjs for the result shape); this runner installs
 * the tools (mtail, GNU time) when missing, runs the selected benchmarks, prints their tables and writes
 * bench/results/latest.json (raw numbers + machine info) and bench/results/latest.md (the tables).
 * Synthetic data goes to $TMPDIR/stunnel-doctor-bench and is removed afterwards unless --keep-data.
 * The machines are shared and noisy: compare contenders within one run, as ratios.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  BENCH_DIR, REPO_DIR, ensureTools, checkMtailProgram, machineInfo, textTable, markdownTable,
} from './common.mjs';
import * as backlog from './backlog.mjs';
import * as follow from './follow.mjs';
import * as many from './many.mjs';
import * as restart from './restart.mjs';
import * as churn from './churn.mjs';

/** Registered benchmarks, in run order. */
const BENCHMARKS = [backlog, follow, many, restart, churn];

function parseArgs(argv) {
  const o = { quick: false, sizes: null, runs: null, debugs: [5, 7], seed: 42, keepData: false, only: null, doctor: join(REPO_DIR, 'dist', 'bin.js') };
  const num = (s) => {
    const n = Math.round(Number(s));
    if (!(n > 0)) throw new Error(`not a positive number: ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--sizes': o.sizes = v.split(',').map(num); i++; break;
      case '--runs': o.runs = num(v); i++; break;
      case '--debug': o.debugs = v.split(',').map(Number); i++; break;
      case '--seed': o.seed = Number(v); i++; break;
      case '--keep-data': o.keepData = true; break;
      case '--only': o.only = v.split(','); i++; break;
      case '--doctor': o.doctor = resolve(v); i++; break;
      case '-h': case '--help':
        process.stdout.write('usage: npm run bench -- [--quick] [--sizes 1e6,5e6] [--runs N] [--debug 5,7] [--seed S] [--keep-data] [--only backlog,follow,many,restart,churn] [--doctor path/to/dist/bin.js]\n');
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (o.debugs.some((d) => d !== 5 && d !== 7)) throw new Error('--debug takes 5 and/or 7');
  o.sizes ??= o.quick ? [200_000] : [1_000_000, 5_000_000];
  o.runs ??= o.quick ? 1 : 3;
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!existsSync(o.doctor)) throw new Error(`${o.doctor} is missing: run \`npm run build\` (npm run bench does)`);
  const { mtailVersion } = ensureTools();
  checkMtailProgram(join(BENCH_DIR, 'stunnel.mtail'));
  const machine = machineInfo({ mtail: mtailVersion, doctorBin: o.doctor });
  const log = (s) => process.stderr.write(`${s}\n`);
  log(`machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGB} GB, node ${machine.node}, ${machine.mtail}`);

  const selected = BENCHMARKS.filter((b) => !o.only || o.only.includes(b.name));
  if (!selected.length) throw new Error(`no benchmark named ${o.only.join(', ')} (have: ${BENCHMARKS.map((b) => b.name).join(', ')})`);
  const results = [];
  for (const b of selected) {
    log(`== ${b.title}`);
    results.push(await b.run({ ...o, log }));
  }

  const md = [
    '# stunnel-doctor benchmarks',
    '',
    `${machine.date.slice(0, 10)}: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGB} GB RAM, ${machine.os}, Node ${machine.node}, ${machine.mtail}` +
      `${machine.git ? `, stunnel-doctor ${machine.git}` : ''}. Command: \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`.`,
    'Shared, noisy machine: compare contenders within one run, as ratios.',
  ];
  for (const r of results) {
    for (const t of r.tables) {
      process.stdout.write(`\n${t.title}\n${textTable(t.headers, t.rows)}\n`);
      md.push('', `## ${t.title}`, '', markdownTable(t.headers, t.rows));
    }
    if (r.mismatches.length) {
      process.stdout.write(`\nCOUNT MISMATCHES (${r.name}):\n`);
      md.push('', `**Count mismatches (${r.name})**:`, '');
      for (const m of r.mismatches) {
        const s = `${m.case} ${m.contender}: ${m.key} expected ${m.expected}, got ${m.got}`;
        process.stdout.write(`  ${s}\n`);
        md.push(`- ${s}`);
      }
    }
    if (r.notes.length) {
      md.push('');
      for (const n of r.notes) md.push(`- ${n}`);
    }
  }
  const outDir = join(BENCH_DIR, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify({ machine, args: o, results }, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.md'), `${md.join('\n')}\n`);
  log(`\nwrote bench/results/latest.json and bench/results/latest.md`);
  return results.some((r) => r.mismatches.length) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`bench: ${e.message}\n`);
    process.exitCode = 2;
  },
);
