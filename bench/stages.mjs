#!/usr/bin/env node
/**
 * Where a backlog scan's time goes, stage by stage, against the bare loop: warm, in one process, on the same
 * chunks of one synthetic log held in memory (no file reads, no start-up), CPU time of each pass.
 *
 *   node bench/stages.mjs [--lines 1e6] [--debug 5,7] [--seed 42] [--runs 6] [--dist dist] [--file FILE]
 *
 * Prints a table per log and writes them to bench/results/stages-latest.{md,json}.
 *
 * Stages (each includes the ones before it):
 *   1 lines     split on \n, the header's bytes checked (fileLevel, the id's `]`), the level mask, the rules' byte
 *               tests (RuleSet.candidates): what decides, undecoded, that no rule can look at a line
 *   2 decode    + the id, the message and the time of every line some rule may want (fillFileLine)
 *   3 rules     + the rules run on it, their conditions asked of the open connection (matchCandidates)
 *   4 pipeline  Pipeline.push itself: + correlation, one typed event per connection, to a counting sink
 *   5 sinks     + the report and the metrics sink (what `scan --quiet --metrics` adds, but writing them out)
 *   bare        bench/bare-loop.mjs's per-line function over the same chunks (it only counts)
 * Stages 1-3 replay Pipeline.push's path for the output-file format with the library's own functions; the line
 * counts they reach are checked against the real pipeline's (a drift fails the run). Needs a build (`npm run build`).
 */
import { isAscii } from 'node:buffer';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, REPO_DIR, dataset, removeDataset, stats, textTable, markdownTable, machineInfo, fmtLines } from './common.mjs';
import { createCounter } from './bare-loop.mjs';

function parseArgs(argv) {
  const o = { lines: 1_000_000, debugs: [5, 7], seed: 42, runs: 6, dist: join(REPO_DIR, 'dist'), file: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--lines') o.lines = Math.round(Number(v)), i++;
    else if (a === '--debug') o.debugs = String(v).split(',').map(Number), i++;
    else if (a === '--seed') o.seed = Number(v), i++;
    else if (a === '--runs') o.runs = Math.max(1, Math.round(Number(v))), i++;
    else if (a === '--dist') o.dist = resolve(v), i++;
    else if (a === '--file') o.file = resolve(v), i++;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const runs = o.file ? [{ file: o.file, debug: null }] : o.debugs.map((debug) => ({ file: null, debug }));
  const out = [];
  for (const r of runs) out.push(await measureStages(o, r));
  const md = [
    `# Stages of a warm in-process scan`,
    '',
    `\`node bench/stages.mjs\` (${o.runs} passes each, CPU ms, min and median; ${JSON.stringify(machineInfo())}).`,
    '',
  ];
  for (const t of out) md.push(`## ${t.title}`, '', markdownTable(t.headers, t.rows), '', t.ratios, '');
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(join(BENCH_DIR, 'results', 'stages-latest.md'), `${md.join('\n')}`);
  writeFileSync(join(BENCH_DIR, 'results', 'stages-latest.json'), `${JSON.stringify({ machine: machineInfo(), runs: o.runs, results: out }, null, 2)}\n`);
  if (out.some((t) => t.problems.length)) process.exitCode = 1;
}

/** The stages of one log (a generated one of `debug`, or `file`). */
async function measureStages(o, { file: given, debug }) {
  const lib = (m) => import(pathToFileURL(join(o.dist, m)).href);
  const { loadRuleSet } = await lib('rules/index.js');
  const { Pipeline } = await lib('pipeline.js');
  const { LineChunker } = await lib('tail/chunk.js');
  const { fileLevel, fillFileLine, newRecord, DEFAULT_PARSE_OPTIONS } = await lib('parse/line.js');
  const { Report } = await lib('sinks/report.js');
  const { DoctorMetrics } = await lib('sinks/metrics.js');
  const rules = await loadRuleSet();

  const ds = given ? null : dataset({ lines: o.lines, debug, seed: o.seed });
  const file = given ?? ds.file;
  const data = readFileSync(file);
  // The chunks `scan` would push: 1 MiB reads cut at their last newline.
  const chunks = [];
  const chunker = new LineChunker(0, 64 * 1024);
  for (let i = 0; i < data.length; i += 1 << 20) chunker.push(Buffer.from(data.subarray(i, i + (1 << 20))), (c) => chunks.push(c));
  if (chunker.pendingBytes > 0) chunker.push(Buffer.from('\n'), (c) => chunks.push(c)); // a last line without its newline

  // Scope and format bits of the rule index (src/pipeline.ts).
  const SCOPE_CONNECTION = 1, SCOPE_NONE = 4, SCOPE_ANY = 7, FORMAT_FILE = 1;
  const max = DEFAULT_PARSE_OPTIONS.maxMessageBytes;
  const levelMask = rules.levelMask;

  /** Stages 1-3: Pipeline.push's file-format path cut after stage `upTo`; counts the lines each stage reached. */
  function replay(upTo, corr) {
    const rec = newRecord();
    const accept = (r, m) => corr.acceptsExec(r, m, rec);
    const acceptFirst = (r) => corr.acceptsExec(r, [], rec);
    let candidateLines = 0;
    let matched = 0;
    for (const chunk of chunks) {
      const buf = chunk.buf;
      const ascii = isAscii(buf);
      const len = buf.length;
      let start = 0;
      while (start < len) {
        let nl = buf.indexOf(10, start);
        if (nl < 0) nl = len;
        const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        const level = fileLevel(buf, start, end);
        if (level >= 0) {
          let close = start + 25;
          while (close < end && buf[close] !== 93) close++;
          if (close < end && buf[close + 1] === 58 && (levelMask & (1 << level)) !== 0) {
            const ms = buf[close + 2] === 32 ? close + 3 : close + 2;
            const me = end - ms > max ? ms + max : end;
            const id0 = buf[start + 25];
            const scope = close === start + 25 ? SCOPE_NONE : id0 >= 48 && id0 <= 57 ? SCOPE_CONNECTION : SCOPE_ANY;
            const n = rules.candidates(level, buf, ms, me, scope, FORMAT_FILE);
            if (n > 0) {
              candidateLines++;
              if (upTo >= 2) {
                rec.offset = chunk.baseOffset + start;
                fillFileLine(buf, start, close, ms, me, level, rec, ascii);
                if (upTo >= 3 && rules.matchCandidates(rec, n, accept, acceptFirst) !== null) matched++;
              }
            }
          }
        }
        start = nl + 1;
      }
    }
    return { candidateLines, matched };
  }

  const passes = {
    lines: () => replay(1, newPipeline(null).src.correlator),
    decode: () => replay(2, newPipeline(null).src.correlator),
    rules: () => replay(3, newPipeline(null).src.correlator),
    pipeline: () => push(newPipeline(null)),
    sinks: () => push(newPipeline({ report: new Report(), metrics: new DoctorMetrics({ version: 'bench' }) })),
    bare: () => {
      const { line, result } = createCounter();
      for (const chunk of chunks) {
        const buf = chunk.buf;
        let start = 0;
        let nl;
        while ((nl = buf.indexOf(10, start)) >= 0) {
          line(buf, start, nl);
          start = nl + 1;
        }
        if (start < buf.length) line(buf, start, buf.length);
      }
      return result();
    },
  };
  function newPipeline(sinks) {
    let events = 0;
    const sink = {
      event: (e) => {
        events++;
        sinks?.metrics.onEvent(e);
        sinks?.report.add(e);
      },
      accepted: (p, s) => sinks?.metrics.accepted(p, s),
      dropped() {},
    };
    const p = new Pipeline(rules, sink);
    const src = p.source('bench', { proxy: 'bench', file });
    return { p, src, events: () => events };
  }
  function push({ p, src, events }) {
    for (const c of chunks) p.push(src, c, 'bench');
    p.finish(src);
    return { ...src.counts, events: events() };
  }

  const names = Object.keys(passes);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  const results = {};
  // Passes interleaved, so that a busy moment of the machine weighs on all of them.
  for (let k = 0; k < o.runs; k++) {
    for (const n of names) {
      const u0 = process.cpuUsage();
      results[n] = passes[n]();
      const u = process.cpuUsage(u0);
      times[n].push((u.user + u.system) / 1000);
    }
  }

  // The replay must reach the lines the pipeline reaches: the same candidates, the same matches.
  const real = results.pipeline;
  const problems = [];
  if (results.rules.matched !== real.matched) problems.push(`stage 3 matched ${results.rules.matched} lines, the pipeline ${real.matched}`);
  if (results.lines.candidateLines < real.matched) problems.push(`stage 1 let ${results.lines.candidateLines} lines through, fewer than the ${real.matched} the pipeline matched`);
  if (real.invalid !== 0) problems.push(`the log has ${real.invalid} lines that are not stunnel's output-file lines: the replay only follows that path`);

  const lines = results.bare.lines;
  const headers = ['stage', 'min ms', 'median ms', 'added ms', 'ns/line'];
  const rows = [];
  let prev = 0;
  for (const n of names) {
    const s = stats(times[n]);
    const add = n === 'bare' ? '' : `+${(s.min - prev).toFixed(0)}`;
    if (n !== 'bare') prev = s.min;
    rows.push([n, s.min.toFixed(0), s.median.toFixed(0), add, ((s.min * 1e6) / lines).toFixed(0)]);
  }
  const what = given ?? `${fmtLines(lines)} lines, debug ${debug}`;
  const title = `${what}: ${results.rules.matched} lines matched, ${real.events} events`;
  const bare = stats(times.bare).min;
  const ratios = `The bare loop's time over each stage's (min): ${names.filter((n) => n !== 'bare').map((n) => `${n} ${(bare / stats(times[n]).min).toFixed(2)}x`).join(', ')}.`;
  process.stdout.write(`stages of a warm in-process scan (${title}; CPU ms, ${o.runs} passes)\n${textTable(headers, rows)}\n${ratios}\n\n`);
  if (ds?.generated) removeDataset(ds.file);
  if (problems.length) process.stderr.write(`stages: the replay differs from the pipeline (${what}):\n  ${problems.join('\n  ')}\n`);
  return { title, file: given ?? null, debug, lines, headers, rows, ratios, problems, times };
}

main().catch((e) => {
  process.stderr.write(`stages: ${e.message}\n`);
  process.exitCode = 2;
});
