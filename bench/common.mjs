/**
 * Shared pieces of the benchmarks (bench/run.mjs runs them): tools, synthetic data sets, measuring a
 * child process (wall, CPU, peak RSS), statistics, count checks, machine info and table rendering.
 *
 * Every benchmark module (bench/<name>.mjs) exports `name`, `title` and `run(ctx)`, and resolves to a
 * BenchResult:
 *   { name, title, params, rows: [...raw measurements...], tables: [{ title, headers, rows, notes? }],
 *     mismatches: [{ case, contender, key, expected, got }], notes: [string] }
 * `tables` are what run.mjs prints and writes to results/latest.md; `rows` are the data in latest.json.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, mkdtempSync, statSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, GENERATOR_VERSION } from './generate.mjs';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = dirname(BENCH_DIR);
export const TIME_BIN = '/usr/bin/time';

// ------------------------------------------------------------------ tools

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function aptInstall(pkg) {
  const root = process.getuid?.() === 0;
  if (!root && !have('sudo')) throw new Error(`${pkg} is missing and neither root nor sudo is available to install it`);
  const pre = root ? [] : ['sudo'];
  process.stderr.write(`installing Debian package ${pkg}\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync(pre.length ? 'sudo' : 'apt-get', [...(pre.length ? ['apt-get'] : []), 'install', '-y', '-qq', pkg], { stdio: 'inherit', env });
  if (r.status !== 0) {
    // The package lists may be missing on a fresh machine.
    spawnSync(pre.length ? 'sudo' : 'apt-get', [...(pre.length ? ['apt-get'] : []), 'update', '-qq'], { stdio: 'inherit', env });
    r = spawnSync(pre.length ? 'sudo' : 'apt-get', [...(pre.length ? ['apt-get'] : []), 'install', '-y', '-qq', pkg], { stdio: 'inherit', env });
  }
  if (r.status !== 0) throw new Error(`apt-get install ${pkg} failed`);
}

/** mtail (Debian 3.0.0~rc50) and GNU time, installed with apt-get when missing. */
export function ensureTools() {
  if (!have('mtail')) aptInstall('mtail');
  if (!existsSync(TIME_BIN)) aptInstall('time');
  const v = spawnSync('mtail', ['--version'], { encoding: 'utf8' });
  const mtailVersion = (v.stdout || v.stderr || '').split('\n')[0].trim();
  return { mtailVersion };
}

/** Compiles the mtail program (fails loudly: a broken competitor would make the comparison meaningless). */
export function checkMtailProgram(prog) {
  const r = spawnSync('mtail', ['--compile_only', '--progs', prog, '--logtostderr'], { encoding: 'utf8' });
  if (r.status !== 0) {
    const errs = (r.stderr ?? '').split('\n').filter((l) => !/^I\d{4}/.test(l)).join('\n');
    throw new Error(`mtail --compile_only --progs ${prog} failed:\n${errs}`);
  }
}

// ------------------------------------------------------------------ data sets

export function dataDir() {
  const d = join(os.tmpdir(), 'stunnel-doctor-bench');
  mkdirSync(d, { recursive: true });
  return d;
}

/** A synthetic log (generated once per lines/debug/seed/generator version; reused while it exists). */
export function dataset({ lines, debug, seed }) {
  const file = join(dataDir(), `synthetic-v${GENERATOR_VERSION}-${lines}-d${debug}-s${seed}.log`);
  const truthFile = `${file}.truth.json`;
  if (existsSync(file) && existsSync(truthFile)) {
    const truth = JSON.parse(readFileSync(truthFile, 'utf8'));
    if (truth.bytes === statSync(file).size) return { file, truth, generated: false, seconds: 0 };
  }
  const t0 = performance.now();
  const truth = generate({ lines, debug, seed, out: file });
  return { file, truth, generated: true, seconds: (performance.now() - t0) / 1000 };
}

export function removeDataset(file) {
  for (const f of [file, `${file}.truth.json`]) if (existsSync(f)) unlinkSync(f);
}

// ------------------------------------------------------------------ measuring

/**
 * Runs a command to completion under GNU time: wall seconds (hrtime around the child), CPU seconds
 * (user + sys of the child and its children) and peak RSS (KB, the largest process).
 */
export function measure(cmd, args, { cwd = REPO_DIR, okCodes = [0] } = {}) {
  const tmp = mkdtempSync(join(os.tmpdir(), 'sd-bench-time-'));
  const timeFile = join(tmp, 'time');
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(TIME_BIN, ['-o', timeFile, '-f', '%e %U %S %M', cmd, ...args], {
      cwd, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const t = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    const [, user, sys, rssKB] = t;
    const code = r.status;
    return {
      ok: okCodes.includes(code), code, wall, user, sys, cpu: user + sys, rssMB: rssKB / 1024,
      stdout: r.stdout ?? '', stderr: r.stderr ?? '',
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function stats(values) {
  const v = [...values].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return { min: NaN, median: NaN, max: NaN };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { min: v[0], median, max: v[v.length - 1] };
}

// ------------------------------------------------------------------ counts

/** Keys whose counts differ between the truth and a contender (only keys in `keys`, or all of both). */
export function diffCounts(expected, got, keys = null) {
  const all = keys ?? [...new Set([...Object.keys(expected), ...Object.keys(got)])].sort();
  const out = [];
  for (const k of all) {
    const e = expected[k] ?? 0;
    const g = got[k] ?? 0;
    if (e !== g) out.push({ key: k, expected: e, got: g });
  }
  return out;
}

// ------------------------------------------------------------------ machine

export function machineInfo(extra = {}) {
  const cpus = os.cpus();
  let git = null;
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'rules'], { cwd: REPO_DIR, encoding: 'utf8' }).trim() !== '';
    git = `${rev}${dirty ? '+dirty(src/rules)' : ''}`;
  } catch {
    /* not a git checkout */
  }
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism ? os.availableParallelism() : cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    git,
    ...extra,
  };
}

// ------------------------------------------------------------------ formatting

export const fmtRate = (n) => {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}k`;
  return n.toFixed(0);
};
export const fmtNum = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '-');
export const fmtLines = (n) => (n >= 1e6 ? `${+(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(n));

export function textTable(headers, rows) {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(headers, rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [
    `| ${headers.map(esc).join(' | ')} |`,
    `|${headers.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}
