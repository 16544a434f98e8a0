#!/usr/bin/env node
/**
 * Where does `stunnel-doctor scan --metrics` spend its time? Runs it under `node --cpu-prof` on a synthetic log and
 * prints the functions with the most self time (from the .cpuprofile).
 *
 *   node bench/profile.mjs [--lines 1e6] [--debug 5] [--seed 42] [--top 10] [--doctor dist/bin.js] [--keep]
 *   node bench/profile.mjs --parse FILE.cpuprofile [--top 10]      (just summarise an existing profile)
 *
 * Writes bench/results/profile-latest.json (the top list) and, with --keep, leaves the .cpuprofile in
 * $TMPDIR/stunnel-doctor-bench for Chrome DevTools / speedscope.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync, renameSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_DIR, REPO_DIR, dataset, dataDir, removeDataset, fmtLines } from './common.mjs';

/** Self time per function (name + location), largest first. */
export function topSelfTime(profile, top = 10) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    // The time until the next sample belongs to this one (the last gets the average interval).
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : (profile.endTime - profile.startTime) / samples.length;
    const n = byId.get(samples[i]);
    const cf = n.callFrame;
    let url = cf.url || '';
    if (url.startsWith('file://')) url = relative(REPO_DIR, fileURLToPath(url));
    const key = `${cf.functionName || '(anonymous)'}\t${url ? `${url}:${cf.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  }
  return {
    totalMs: total / 1000,
    top: [...self.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => {
        const [fn, where] = k.split('\t');
        return { function: fn, location: where, selfMs: +(us / 1000).toFixed(1), percent: +((100 * us) / total).toFixed(1) };
      }),
  };
}

function print(res, title) {
  process.stdout.write(`${title}\n`);
  process.stdout.write(`total sampled: ${res.totalMs.toFixed(0)} ms\n`);
  process.stdout.write(`${'self ms'.padStart(9)} ${'%'.padStart(6)}  function (location)\n`);
  for (const t of res.top) {
    process.stdout.write(`${t.selfMs.toFixed(1).padStart(9)} ${t.percent.toFixed(1).padStart(6)}  ${t.function}${t.location ? ` (${t.location})` : ''}\n`);
  }
}

function parseArgs(argv) {
  const o = { lines: 1_000_000, debug: 5, seed: 42, top: 10, doctor: join(REPO_DIR, 'dist', 'bin.js'), keep: false, parse: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--lines') o.lines = Math.round(Number(v)), i++;
    else if (a === '--debug') o.debug = Number(v), i++;
    else if (a === '--seed') o.seed = Number(v), i++;
    else if (a === '--top') o.top = Number(v), i++;
    else if (a === '--doctor') o.doctor = resolve(v), i++;
    else if (a === '--parse') o.parse = resolve(v), i++;
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.parse) {
    print(topSelfTime(JSON.parse(readFileSync(o.parse, 'utf8')), o.top), o.parse);
    return;
  }
  const ds = dataset({ lines: o.lines, debug: o.debug, seed: o.seed });
  const dir = mkdtempSync(join(dataDir(), 'cpuprof-'));
  const t0 = performance.now();
  // As the backlog bench runs it: with the metrics sink.
  const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, o.doctor, 'scan', '--quiet', '--metrics', join(dir, 'scan.prom'), ds.file], {
    cwd: REPO_DIR, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'],
  });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0 && r.status !== 1) throw new Error(`scan failed (exit ${r.status}): ${r.stderr}`);
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  const res = topSelfTime(JSON.parse(readFileSync(join(dir, file), 'utf8')), o.top);
  const title = `node --cpu-prof ${relative(REPO_DIR, o.doctor)} scan --quiet --metrics FILE <${fmtLines(ds.truth.lines)} lines, debug ${o.debug}, ${(ds.truth.bytes / 1e6).toFixed(0)} MB> (${wall.toFixed(2)} s wall under the profiler)`;
  print(res, title);
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(join(BENCH_DIR, 'results', 'profile-latest.json'), `${JSON.stringify({ title, date: new Date().toISOString(), node: process.version, lines: ds.truth.lines, debug: o.debug, wall, ...res }, null, 2)}\n`);
  if (o.keep) {
    const kept = join(dataDir(), `scan-${o.lines}-d${o.debug}.cpuprofile`);
    renameSync(join(dir, file), kept);
    process.stdout.write(`profile kept: ${kept}\n`);
  } else if (ds.generated) {
    removeDataset(ds.file);
  }
  rmSync(dir, { recursive: true, force: true });
}

try {
  main();
} catch (e) {
  process.stderr.write(`profile: ${e.message}\n`);
  process.exitCode = 2;
}
