#!/usr/bin/env node
/**
 * Sustained load trial (never part of `npm test`): N files written at a combined R lines/s for D seconds while
 * the real sidecar (`stunnel-doctor watch`, built dist/, a child process) follows them with a state directory
 * and NDJSON events on stdout. Every few seconds it samples the sidecar's RSS and CPU, the lag (bytes written
 * minus bytes checkpointed in the state directory) and the event delivery delay (wall time from the write of an
 * event's concluding line to the event's arrival on the NDJSON stream). At the end it compares the delivered
 * events (deduplicated by id) with a one-shot scan of the same files: lost must be 0.
 *
 * The lines are SYNTHETIC (bench/generate.mjs, seeded): stunnel-shaped, not captured from a real stunnel. Events go to
 * `--events-out FILE`, read back by this script as the file grows.
 *
 *   node scripts/sustained-load.mjs [--duration 600] [--files 100] [--rate 50000] [--sample 5] [--debug 5]
 *                                   [--seeds 25] [--keep] [--out bench/results/sustained-<stamp>.json]
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir, cpus, totalmem, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { generate } from '../bench/generate.mjs';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = args[i + 1];
  return typeof def === 'number' ? Number(v) : v;
};
const DURATION = flag('duration', 600);
const FILES = flag('files', 100);
const RATE = flag('rate', 50_000);
const SAMPLE = flag('sample', 5);
const DEBUG = flag('debug', 5);
const SEEDS = Math.min(flag('seeds', 25), FILES);
const KEEP = args.includes('--keep');
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
const OUT = flag('out', join(ROOT, 'bench/results', `sustained-${stamp}.json`));

const log = (...a) => process.stderr.write(`[sustained] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ build and data
if (!existsSync(join(ROOT, 'dist/bin.js')) || !args.includes('--no-build')) {
  log('building dist/');
  const b = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  if (b.status !== 0) process.exit(1);
}
const { scanFiles } = await import(pathToFileURL(join(ROOT, 'dist/index.js')).href);

const work = mkdtempSync(join(tmpdir(), 'sd-sustained-'));
const logDir = join(work, 'logs');
const stateDir = join(work, 'state');
mkdirSync(logDir);
// Per-file share of the load for the whole duration, capped: a data set is replayed when a file needs more.
const perFileLines = Math.ceil((RATE * DURATION) / FILES);
const datasetLines = Math.max(20_000, Math.min(perFileLines + 1000, 200_000));
log(`generating ${SEEDS} synthetic data sets of ${datasetLines} lines (debug ${DEBUG})`);
const datasets = [];
for (let k = 0; k < SEEDS; k++) {
  const f = join(work, `data-${k}.log`);
  generate({ lines: datasetLines, debug: DEBUG, seed: 7000 + k, out: f });
  const buf = readFileSync(f);
  rmSync(f);
  rmSync(`${f}.truth.json`, { force: true });
  const ends = []; // offset just past each line
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) ends.push(i + 1);
  datasets.push({ buf, ends });
}

// ------------------------------------------------------------------ files and the sidecar
const files = [];
for (let i = 0; i < FILES; i++) {
  const name = `p${String(i).padStart(3, '0')}`;
  const path = join(logDir, `${name}.log`);
  const fd = openSync(path, 'a');
  const ds = datasets[i % SEEDS];
  // Start each file at a different connection boundary-free point: the first line of its data set (a banner).
  files.push({ name, path, fd, ds, line: 0, bytes: 0, lines: 0, marks: [] /* [endOffset, wallMs] */ });
}
// Events go to a file (as a log shipper would read them), read back here as it grows.
const ndjson = join(work, 'events.ndjson');
writeFileSync(ndjson, '');
const watchArgs = ['dist/bin.js', 'watch', '--state-dir', stateDir, '--listen', '127.0.0.1:0', '--events-out', ndjson];
for (const f of files) watchArgs.push('--log', `${f.name}=${f.path}`);
const errFile = join(work, 'sidecar.stderr');
const errFd = openSync(errFile, 'w');
const child = spawn(process.execPath, [...(process.env.SIDECAR_NODE_ARGS ? process.env.SIDECAR_NODE_ARGS.split(" ") : []), ...watchArgs], { cwd: ROOT, stdio: ['ignore', 'ignore', errFd], env: { ...process.env, LOG_LEVEL: 'info' } });
let childExit = null;
child.once('exit', (code, signal) => (childExit = { code, signal }));

const byPath = new Map(files.map((f) => [f.path, f]));
const ids = new Set();
let delivered = 0;
let badLines = 0;
let windowDelays = [];
const allDelays = [];
const kinds = new Map();
const ndFd = openSync(ndjson, 'r');
let ndPos = 0;
let ndRest = '';
const ndBuf = Buffer.alloc(8 << 20);
function readEvents() {
  for (;;) {
    const n = readSync(ndFd, ndBuf, 0, ndBuf.length, ndPos);
    if (n <= 0) return;
    ndPos += n;
    const text = ndRest + ndBuf.toString('utf8', 0, n);
    const lines = text.split('\n');
    ndRest = lines.pop();
    for (const l of lines) if (l) onLine(l);
  }
}
setInterval(readEvents, 250);
function onLine(line) {
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    badLines++;
    return;
  }
  delivered++;
  ids.add(e.id);
  kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
  const f = byPath.get(e.source?.file);
  const offs = e.source?.offsets ?? [];
  if (f && offs.length) {
    const at = Math.max(...offs);
    // First write mark whose end offset passes the concluding line.
    const m = f.marks;
    let lo = 0;
    let hi = m.length - 1;
    let hit = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (m[mid][0] > at) {
        hit = mid;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    if (hit >= 0) {
      const d = Date.now() - m[hit][1];
      windowDelays.push(d);
      if (allDelays.length < 2_000_000) allDelays.push(d);
    }
  }
}

// ------------------------------------------------------------------ writer
let written = 0;
const t0 = Date.now();
let writing = true;
function writeTick() {
  const now = Date.now();
  const elapsed = Math.min(DURATION * 1000, now - t0) / 1000;
  const target = Math.floor(RATE * elapsed);
  let todo = target - written;
  if (todo <= 0) return;
  const per = Math.floor(todo / FILES);
  let extra = todo - per * FILES;
  for (const f of files) {
    let n = per + (extra-- > 0 ? 1 : 0);
    if (n === 0) continue;
    const parts = [];
    let size = 0;
    while (n > 0) {
      const { buf, ends } = f.ds;
      const from = f.line === 0 ? 0 : ends[f.line - 1];
      const take = Math.min(n, ends.length - f.line);
      const to = ends[f.line + take - 1];
      parts.push(buf.subarray(from, to));
      size += to - from;
      f.line = (f.line + take) % ends.length;
      n -= take;
      f.lines += take;
      written += take;
    }
    const chunk = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    writeSync(f.fd, chunk);
    f.bytes += size;
    f.marks.push([f.bytes, now]);
  }
}

function checkpointed() {
  let sum = 0;
  try {
    for (const n of readdirSync(stateDir)) {
      if (!n.endsWith('.json')) continue;
      try {
        sum += JSON.parse(readFileSync(join(stateDir, n), 'utf8')).record.offset;
      } catch {
        /* being replaced */
      }
    }
  } catch {
    /* not created yet */
  }
  return sum;
}
const CLK = 100; // USER_HZ
function proc(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0) * 1024;
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(st)?.[1] ?? 0) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const cpu = (Number(stat[11]) + Number(stat[12])) / CLK;
    return { rss, hwm, cpu };
  } catch {
    return { rss: 0, hwm: 0, cpu: 0 };
  }
}
const pct = (arr, p) => {
  if (arr.length === 0) return null;
  const s = Float64Array.from(arr).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const samples = [];
let lastCpu = 0;
let lastT = Date.now();
function sample(phase) {
  const now = Date.now();
  const p = proc(child.pid);
  const totalBytes = files.reduce((a, f) => a + f.bytes, 0);
  const cp = checkpointed();
  const s = {
    t: Math.round((now - t0) / 1000),
    phase,
    linesWritten: written,
    bytesWritten: totalBytes,
    bytesCheckpointed: cp,
    lagBytes: totalBytes - cp,
    rssMB: +(p.rss / 1048576).toFixed(1),
    load1: +loadavg()[0].toFixed(2),
    cpuPct: +((100 * (p.cpu - lastCpu)) / ((now - lastT) / 1000)).toFixed(1),
    eventsDelivered: delivered,
    delayP50ms: pct(windowDelays, 50),
    delayP99ms: pct(windowDelays, 99),
    delayMaxms: windowDelays.length ? windowDelays.reduce((a, b) => (b > a ? b : a), 0) : null,
  };
  lastCpu = p.cpu;
  lastT = now;
  windowDelays = [];
  samples.push(s);
  log(`t=${s.t}s ${phase} lines=${s.linesWritten} lag=${(s.lagBytes / 1048576).toFixed(2)}MB rss=${s.rssMB}MB cpu=${s.cpuPct}% load=${s.load1} events=${s.eventsDelivered} delay p50/p99/max=${s.delayP50ms}/${s.delayP99ms}/${s.delayMaxms}ms`);
  return s;
}

// Wait for the sidecar to be up (it logs nothing at warn; give it a moment, then start writing).
await sleep(1500);
if (childExit) {
  log('sidecar exited early:', JSON.stringify(childExit), readFileSync(errFile, 'utf8').slice(0, 2000));
  process.exit(1);
}
log(`writing ${FILES} files at ${RATE} lines/s for ${DURATION}s (work dir ${work})`);
const wt = setInterval(writeTick, 100);
const st = setInterval(() => sample('load'), SAMPLE * 1000);
while (Date.now() - t0 < DURATION * 1000 && !childExit) await sleep(200);
writeTick();
clearInterval(wt);
writing = false;
clearInterval(st);
for (const f of files) closeSync(f.fd);
const totalBytes = files.reduce((a, f) => a + f.bytes, 0);
log(`writing done: ${written} lines, ${(totalBytes / 1048576).toFixed(1)} MB; draining`);
// Drain: until everything is checkpointed and no event arrived for a while (the quiet sweep takes ~5 s).
const drainStart = Date.now();
let lastDelivered = -1;
let stableSince = Date.now();
while (Date.now() - drainStart < 900_000 && !childExit) {
  await sleep(1000);
  if (delivered !== lastDelivered) {
    lastDelivered = delivered;
    stableSince = Date.now();
  }
  if (checkpointed() === totalBytes && Date.now() - stableSince > 8000) break;
}
const drainSeconds = (Date.now() - drainStart) / 1000;
const final = sample('drained');
const peak = proc(child.pid);
// The sidecar's own counters (drops, cut lines, checkpoint failures) from its /metrics.
let sidecarMetrics = {};
try {
  const url = /"url":"([^"]+)"/.exec(readFileSync(errFile, 'utf8'))?.[1];
  if (url) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const name of ['stunnel_doctor_events_dropped_total', 'stunnel_doctor_checkpoint_failures_total', 'stunnel_doctor_lines_cut_total',
      'stunnel_doctor_state_dropped_total', 'stunnel_doctor_series_dropped_total', 'stunnel_doctor_file_errors_total', 'stunnel_doctor_lines_total']) {
      let sum = 0;
      for (const l of text.split('\n')) if (l.startsWith(name) && (l[name.length] === '{' || l[name.length] === ' ')) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
      sidecarMetrics[name] = sum;
    }
  }
} catch (e) {
  sidecarMetrics = { error: String(e) };
}
log(`sidecar metrics: ${JSON.stringify(sidecarMetrics)}`);
child.kill('SIGTERM');
await new Promise((r) => (childExit ? r() : child.once('exit', r)));
await new Promise((r) => setTimeout(r, 500));
readEvents();
const sidecarStderrTail = readFileSync(errFile, 'utf8').split('\n').filter((l) => !l.includes('"level":30')).join('\n').slice(-4000);

// ------------------------------------------------------------------ expected: one-shot scan of the same files
log('one-shot scan of the written files for the expected events');
let expected = 0;
let lost = 0;
const lostExamples = [];
const expectedIds = new Set();
for (const f of files) {
  const r = await scanFiles([f.path], { proxy: f.name });
  for (const e of r.events) {
    expected++;
    expectedIds.add(e.id);
    if (!ids.has(e.id)) {
      lost++;
      if (lostExamples.length < 10) lostExamples.push({ file: f.name, kind: e.kind, reason: e.reason, offsets: e.source.offsets });
    }
  }
}
let unexpected = 0;
for (const id of ids) if (!expectedIds.has(id)) unexpected++;
const duplicates = delivered - ids.size;

const loadSamples = samples.filter((s) => s.phase === 'load');
const maxOf = (k) => Math.max(...loadSamples.map((s) => s[k] ?? 0));
const half = Math.floor(loadSamples.length / 2);
const meanOf = (xs, k) => +(xs.reduce((a, s) => a + s[k], 0) / Math.max(1, xs.length)).toFixed(1);
const meanRss = (h) => meanOf(h === 0 ? loadSamples.slice(0, half) : loadSamples.slice(half), 'rssMB');
const loads = loadSamples.map((s) => s.load1);
const loadAverage = { min: Math.min(...loads), max: Math.max(...loads), mean: meanOf(loadSamples, 'load1') };
const result = {
  trial: 'sustained-load',
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, memMB: Math.round(totalmem() / 1048576), node: process.version, shared: true, loadAverage1m: loadAverage },
  sidecarNodeArgs: process.env.SIDECAR_NODE_ARGS ?? null,
  params: { durationSeconds: DURATION, files: FILES, rateLinesPerSecond: RATE, debug: DEBUG, sampleSeconds: SAMPLE, synthetic: true },
  written: { lines: written, bytes: totalBytes, linesPerSecond: Math.round(written / DURATION) },
  sidecar: {
    peakRssMB: +(peak.hwm / 1048576).toFixed(1),
    maxSampledRssMB: maxOf('rssMB'),
    meanCpuPct: +(loadSamples.reduce((a, s) => a + s.cpuPct, 0) / Math.max(1, loadSamples.length)).toFixed(1),
    meanRssMB: { firstHalf: meanRss(0), secondHalf: meanRss(1) },
    maxLagMB: +(maxOf('lagBytes') / 1048576).toFixed(2),
    finalLagBytes: final.lagBytes,
    drainSeconds,
    exit: childExit,
    metrics: sidecarMetrics,
    stderrTail: sidecarStderrTail,
  },
  delivery: {
    expected, delivered, unique: ids.size, duplicates, lost, unexpected, badLines,
    delayP50ms: pct(allDelays, 50), delayP99ms: pct(allDelays, 99), delayMaxms: allDelays.length ? allDelays.reduce((a, b) => (b > a ? b : a), 0) : null,
    byKind: Object.fromEntries(kinds),
    lostExamples,
  },
  samples,
};
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);

const row = (k, v) => `| ${k.padEnd(38)} | ${String(v).padStart(22)} |`;
const lines = [
  `| ${'sustained load'.padEnd(38)} | ${'value'.padStart(22)} |`,
  `|${'-'.repeat(40)}|${'-'.repeat(24)}|`,
  row('duration / files / target rate', `${DURATION}s / ${FILES} / ${RATE}/s`),
  row('lines written (rate achieved)', `${written} (${result.written.linesPerSecond}/s)`),
  row('bytes written', `${(totalBytes / 1048576).toFixed(1)} MB`),
  row('sidecar RSS: peak (VmHWM) / max sampled', `${result.sidecar.peakRssMB} / ${result.sidecar.maxSampledRssMB} MB`),
  row('sidecar RSS: mean 1st / 2nd half', `${result.sidecar.meanRssMB.firstHalf} / ${result.sidecar.meanRssMB.secondHalf} MB`),
  row('sidecar CPU (mean of samples)', `${result.sidecar.meanCpuPct}%`),
  row('1-min load average: min / mean / max', `${loadAverage.min} / ${loadAverage.mean} / ${loadAverage.max}`),
  row('lag written-checkpointed: max / final', `${result.sidecar.maxLagMB} MB / ${final.lagBytes} B`),
  row('delivery delay p50 / p99 / max', `${result.delivery.delayP50ms} / ${result.delivery.delayP99ms} / ${result.delivery.delayMaxms} ms`),
  row('events expected (one-shot scan)', expected),
  row('events delivered (unique ids)', `${delivered} (${ids.size})`),
  row('events lost', lost),
  row('duplicates / unexpected', `${duplicates} / ${unexpected}`),
];
process.stdout.write(`${lines.join('\n')}\n\nJSON: ${OUT}\n`);
if (!KEEP) rmSync(work, { recursive: true, force: true });
else log(`kept ${work}`);
process.exit(lost === 0 && unexpected === 0 ? 0 : 1);
