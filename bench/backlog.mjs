/**
 * Backlog: one-shot scan of a whole synthetic stunnel 5.68 log (the `scan` of an existing file, or the
 * catch-up of a sidecar that starts late), side by side:
 *   stunnel-doctor  node dist/bin.js scan --quiet --metrics FILE.prom FILE   (the full pipeline: rules,
 *                   correlation, events, the report and the sidecar's Prometheus metrics, written at the end;
 *                   --doctor picks another build)
 *   mtail           mtail --one_shot --progs bench/stunnel.mtail --logs FILE (bound to 127.0.0.1, random port)
 *   bare-loop       node bench/bare-loop.mjs FILE         (the practical ceiling for Node)
 *   doctor-syslog   the same as stunnel-doctor, on the lines in rsyslog's traditional syslog format (FILE.syslog)
 *   cat             cat FILE > /dev/null                  (reference: reading the file)
 * Every contender's counts are checked against the generator's truth file, stunnel-doctor's both from its
 * report and from its metrics file.
 */
import { join } from 'node:path';
import { closeSync, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import {
  BENCH_DIR, dataset, measure, stats, diffCounts, fmtRate, fmtNum, fmtLines, removeDataset,
} from './common.mjs';

export const name = 'backlog';
export const title = 'Backlog scan (one-shot, whole file)';

const MTAIL_PROG = join(BENCH_DIR, 'stunnel.mtail');
const CONNECTION_KINDS = ['connect_failed', 'cert_verify_failed', 'tls_handshake_failed', 'connection_closed'];

/** `node dist/bin.js scan --quiet` report → counts (accepted = connections concluded, one event each). */
export function parseDoctorSummary(stderr) {
  const counts = {};
  let lines = null;
  for (const raw of stderr.split('\n')) {
    const l = raw.replace(/\x1b\[[0-9;]*m/g, '');
    const head = /, (\d+) lines \(/.exec(l);
    if (head) lines = Number(head[1]);
    // `    ERROR    connect_failed/refused     17x  since ...`, once per service: summed.
    const m = /^\s+[A-Z]+\s+([a-z_]+\/[a-z_]+)\s+(\d+)x\b/.exec(l);
    if (m) counts[m[1]] = (counts[m[1]] ?? 0) + Number(m[2]);
  }
  let accepted = 0;
  for (const [k, n] of Object.entries(counts)) if (CONNECTION_KINDS.includes(k.split('/')[0])) accepted += n;
  counts.accepted = accepted;
  return { lines, counts };
}

/**
 * The --metrics file (Prometheus text) → counts in the truth's keys: failures by kind/reason, connections
 * closed ok (finished{outcome="ok"} counts every connection_closed reason, so only the failures and the accepted
 * total are compared), accepted, starts.
 */
export function parseDoctorMetrics(text) {
  const counts = {};
  const add = (k, v) => {
    if (v) counts[k] = (counts[k] ?? 0) + v;
  };
  for (const l of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(l);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    const v = Number(m[3]);
    if (m[1] === 'stunnel_connections_accepted_total') add('accepted', v);
    else if (m[1] === 'stunnel_failures_total' && labels.kind !== 'config_failed') add(`${labels.kind}/${labels.reason}`, v);
    else if (m[1] === 'stunnel_proxy_starts_total') add('proxy_started/ok', v);
  }
  return counts;
}

const MTAIL_KEYS = {
  stunnel_connections_accepted_total: () => 'accepted',
  stunnel_connections_closed_total: () => 'connection_closed/ok',
  stunnel_cert_verify_failures_total: (l) => `cert_verify_failed/${l}`,
  stunnel_connect_failures_total: (l) => `connect_failed/${l}`,
  stunnel_handshake_failures_total: (l) => `tls_handshake_failed/${l}`,
  stunnel_config_warnings_total: (l) => `config_warning/${l}`,
  stunnel_starts_total: () => 'proxy_started/ok',
  stunnel_stops_total: () => 'proxy_stopped/terminated',
};

/** mtail --one_shot JSON → counts in the same keys. */
export function parseMtail(stdout) {
  const store = JSON.parse(stdout);
  const counts = {};
  for (const [metric, list] of Object.entries(store)) {
    const key = MTAIL_KEYS[metric];
    if (!key) continue;
    for (const m of list) {
      for (const lv of m.LabelValues ?? []) {
        const k = key((lv.Labels ?? []).join(','));
        const v = Number(lv.Value?.Value ?? 0);
        if (v) counts[k] = (counts[k] ?? 0) + v;
      }
    }
  }
  return { lines: null, counts };
}

const doctorParse = (file) => (r) => {
  // The report is on stdout (`scan -q`; stderr with --json, as before the scan command's report moved).
  const got = parseDoctorSummary(`${r.stdout}\n${r.stderr}`);
  got.metrics = parseDoctorMetrics(readFileSync(`${file}.prom`, 'utf8'));
  return got;
};

const CONTENDERS = [
  {
    id: 'stunnel-doctor',
    cmd: () => process.execPath,
    args: (f, ctx) => [ctx.doctor, 'scan', '--quiet', '--metrics', `${f}.prom`, f],
    okCodes: [0, 1],
    parse: (r, f) => doctorParse(f)(r),
  },
  {
    // The same lines as rsyslog's traditional file format writes them (`Jan  5 08:00:00 gw stunnel: LOG5[3]: ...`):
    // the syslog header read before the stunnel grammar. Compared with stunnel-doctor on the output-file format.
    id: 'doctor-syslog',
    cmd: () => process.execPath,
    args: (f, ctx) => [ctx.doctor, 'scan', '--quiet', '--metrics', `${syslogOf(f)}.prom`, syslogOf(f)],
    okCodes: [0, 1],
    parse: (r, f) => doctorParse(syslogOf(f))(r),
  },
  {
    id: 'mtail',
    cmd: () => 'mtail',
    // --address: mtail binds [::]:3903 even in one-shot mode otherwise; --logtostderr: no glog files in /tmp.
    args: (f) => ['--one_shot', '--one_shot_format', 'json', '--progs', MTAIL_PROG, '--logs', f, '--address', '127.0.0.1', '--port', '0', '--logtostderr'],
    okCodes: [0],
    parse: (r) => parseMtail(r.stdout),
  },
  {
    id: 'bare-loop',
    cmd: () => process.execPath,
    args: (f) => [join(BENCH_DIR, 'bare-loop.mjs'), f],
    okCodes: [0],
    parse: (r) => JSON.parse(r.stdout),
  },
  {
    id: 'cat',
    reference: true,
    cmd: () => 'sh',
    args: (f) => ['-c', 'cat "$1" > /dev/null', 'sh', f],
    okCodes: [0],
    parse: null,
  },
];

const syslogOf = (file) => `${file}.syslog`;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Writes the dataset's lines as rsyslog's RSYSLOG_TraditionalFileFormat would (stunnel's syslog = yes: no stamp
 * or pid of its own in the message, the daemon's `Mmm dd HH:MM:SS host ident: ` in front): synthetic, for the
 * benchmark only. Streams in pieces (a 5M-line file is ~0.5 GB).
 */
function writeSyslogCopy(file) {
  const out = syslogOf(file);
  const fd = openSync(out, 'w');
  const rd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  let rest = '';
  try {
    for (;;) {
      const n = readSync(rd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + buf.toString('latin1', 0, n);
      const cut = text.lastIndexOf('\n') + 1;
      rest = text.slice(cut);
      const lines = text.slice(0, cut).split('\n');
      lines.pop();
      const conv = lines.map((l) => {
        const mon = MONTHS[Number(l.slice(5, 7)) - 1];
        const day = l.slice(8, 10).replace(/^0/, ' ');
        return `${mon} ${day} ${l.slice(11, 19)} gw stunnel: ${l.slice(20)}`;
      });
      writeSync(fd, `${conv.join('\n')}\n`, null, 'latin1');
    }
  } finally {
    closeSync(rd);
    closeSync(fd);
  }
}

function caseLabel(lines, debug) {
  return `${fmtLines(lines)} d${debug}`;
}

export async function run(ctx) {
  const { sizes, debugs, runs, seed, keepData, log } = ctx;
  const rows = [];
  const mismatches = [];
  const cases = [];
  for (const lines of sizes) {
    for (const debug of debugs) {
      const label = caseLabel(lines, debug);
      log(`[backlog] ${label}: preparing data`);
      const ds = dataset({ lines, debug, seed });
      const { file, truth } = ds;
      const mb = truth.bytes / 1e6;
      log(`[backlog] ${label}: ${truth.lines} lines, ${mb.toFixed(1)} MB, ${truth.connections} connections, ${(truth.failureShare * 100).toFixed(1)}% failed, ${truth.restarts} restarts${ds.generated ? ` (generated in ${ds.seconds.toFixed(1)} s)` : ' (reused)'}`);
      cases.push({
        case: label, file, lines: truth.lines, bytes: truth.bytes, debug, connections: truth.connections,
        failureShare: truth.failureShare, restarts: truth.restarts, linesPerConnection: truth.linesPerConnection, truth: truth.counts,
      });
      writeSyslogCopy(file);
      const perContender = new Map(CONTENDERS.map((c) => [c.id, []]));
      const countsOf = new Map();
      // Round-robin, so slow drifts of a shared machine spread over every contender.
      for (let r = 0; r < runs; r++) {
        for (const c of CONTENDERS) {
          const m = measure(c.cmd(), c.args(file, ctx), { okCodes: c.okCodes });
          if (!m.ok) {
            throw new Error(`${c.id} failed on ${file} (exit ${m.code}):\n${m.stderr.split('\n').filter((l) => !/^I\d{4}/.test(l)).slice(-20).join('\n')}`);
          }
          perContender.get(c.id).push({ wall: m.wall, cpu: m.cpu, user: m.user, sys: m.sys, rssMB: m.rssMB });
          if (c.parse && !countsOf.has(c.id)) countsOf.set(c.id, c.parse(m, file));
          log(`[backlog] ${label} run ${r + 1}/${runs} ${c.id.padEnd(14)} ${m.wall.toFixed(2)} s wall, ${m.cpu.toFixed(2)} s CPU, ${m.rssMB.toFixed(0)} MB RSS, ${fmtRate(truth.lines / m.wall)} lines/s`);
        }
      }
      for (const c of CONTENDERS) {
        const rs = perContender.get(c.id);
        const wall = stats(rs.map((x) => x.wall));
        const cpu = stats(rs.map((x) => x.cpu));
        const rss = stats(rs.map((x) => x.rssMB));
        const got = countsOf.get(c.id);
        let check = 'n/a';
        let diffs = [];
        if (got) {
          diffs = diffCounts(truth.counts, got.counts);
          if (got.lines !== null && got.lines !== undefined && got.lines !== truth.lines) {
            diffs.push({ key: 'lines', expected: truth.lines, got: got.lines });
          }
          if (got.metrics) {
            // The metrics file counts what the report counts (failures, accepted, starts).
            const keys = Object.keys(truth.counts).filter((k) => k === 'accepted' || k === 'proxy_started/ok' ||
              /^(connect_failed|cert_verify_failed|tls_handshake_failed)\//.test(k));
            for (const d of diffCounts(truth.counts, got.metrics, keys)) diffs.push({ ...d, key: `metrics ${d.key}` });
          }
          check = diffs.length ? `MISMATCH (${diffs.length})` : 'ok';
          for (const d of diffs) mismatches.push({ case: label, contender: c.id, ...d });
        }
        rows.push({
          case: label, lines: truth.lines, bytes: truth.bytes, debug, contender: c.id, reference: !!c.reference,
          runs: rs,
          wall, cpu, rssMB: rss,
          linesPerSec: { best: truth.lines / wall.min, median: truth.lines / wall.median },
          mbPerSec: { best: mb / wall.min, median: mb / wall.median },
          counts: got?.counts ?? null,
          check,
        });
      }
      rmSync(`${file}.prom`, { force: true });
      for (const f of [syslogOf(file), `${syslogOf(file)}.prom`]) rmSync(f, { force: true });
      if (!keepData) removeDataset(file);
    }
  }

  const headers = ['case', 'contender', 'lines/s best', 'lines/s median', 'MB/s best', 'wall s min', 'wall s median', 'CPU s median', 'peak RSS MB', 'counts vs truth'];
  const tableRows = rows.map((r) => [
    r.case, r.contender, fmtRate(r.linesPerSec.best), fmtRate(r.linesPerSec.median), fmtNum(r.mbPerSec.best, 1),
    fmtNum(r.wall.min), fmtNum(r.wall.median), fmtNum(r.cpu.median), fmtNum(r.rssMB.max, 0), r.check,
  ]);

  const ratios = [];
  for (const cs of cases) {
    const get = (id) => rows.find((r) => r.case === cs.case && r.contender === id);
    const d = get('stunnel-doctor');
    const m = get('mtail');
    const b = get('bare-loop');
    ratios.push({
      case: cs.case,
      doctorOverMtail: { best: d.linesPerSec.best / m.linesPerSec.best, median: d.linesPerSec.median / m.linesPerSec.median },
      doctorOverBare: { best: d.linesPerSec.best / b.linesPerSec.best, median: d.linesPerSec.median / b.linesPerSec.median },
      syslogOverFile: { best: get('doctor-syslog').linesPerSec.best / d.linesPerSec.best },
      cpuDoctorOverMtail: d.cpu.median / m.cpu.median,
      rssDoctorOverMtail: d.rssMB.max / m.rssMB.max,
    });
  }
  const ratioHeaders = ['case', 'data', 'doctor/mtail (best)', 'doctor/mtail (median)', 'doctor/bare (best)', 'doctor/bare (median)', 'CPU doctor/mtail', 'RSS doctor/mtail', 'syslog/file (best)'];
  const ratioRows = ratios.map((r) => {
    const cs = cases.find((c) => c.case === r.case);
    return [
      r.case, `${(cs.bytes / 1e6).toFixed(0)} MB, ${cs.connections} conns`,
      `${fmtNum(r.doctorOverMtail.best)}x`, `${fmtNum(r.doctorOverMtail.median)}x`,
      `${fmtNum(r.doctorOverBare.best)}x`, `${fmtNum(r.doctorOverBare.median)}x`,
      `${fmtNum(r.cpuDoctorOverMtail)}x`, `${fmtNum(r.rssDoctorOverMtail)}x`, `${fmtNum(r.syslogOverFile.best)}x`,
    ];
  });

  // Per line past the smallest size: between two sizes of one debug level (the same seed: the larger data set
  // begins as the smaller one does), start-up and warm-up cancel out; what is left is each contender's cost per
  // further line, from the minimum wall times.
  const marginal = [];
  for (const debug of debugs) {
    const sized = cases.filter((c) => c.debug === debug).sort((a, b) => a.lines - b.lines);
    if (sized.length < 2) continue;
    const small = sized[0];
    const large = sized[sized.length - 1];
    const rate = (id) => {
      const a = rows.find((r) => r.case === small.case && r.contender === id);
      const b = rows.find((r) => r.case === large.case && r.contender === id);
      const dt = b.wall.min - a.wall.min;
      return dt > 0 ? (large.lines - small.lines) / dt : null;
    };
    const d = rate('stunnel-doctor');
    const m = rate('mtail');
    const b = rate('bare-loop');
    marginal.push({
      debug, from: small.case, to: large.case, doctor: d, mtail: m, bare: b,
      doctorOverMtail: d && m ? d / m : null, doctorOverBare: d && b ? d / b : null,
    });
  }
  const ratio = (x) => (x === null ? '-' : `${fmtNum(x)}x`);
  const marginalHeaders = ['debug', 'between', 'stunnel-doctor lines/s', 'mtail lines/s', 'bare loop lines/s', 'doctor/mtail', 'doctor/bare'];
  const marginalRows = marginal.map((r) => [
    `d${r.debug}`, `${r.from} and ${r.to}`, r.doctor === null ? '-' : fmtRate(r.doctor), r.mtail === null ? '-' : fmtRate(r.mtail),
    r.bare === null ? '-' : fmtRate(r.bare), ratio(r.doctorOverMtail), ratio(r.doctorOverBare),
  ]);

  const notes = [
    `Throughput ratios are lines/s of stunnel-doctor divided by the other contender's (> 1: stunnel-doctor is faster). Best = from the minimum wall time, median = from the median, of ${runs} run${runs === 1 ? '' : 's'} per contender, taken round-robin.`,
    'Wall time includes process start-up (node, mtail program compilation). CPU = user + sys of the child; peak RSS = GNU time %M.',
    "stunnel-doctor's `accepted` is the number of connection events in its summary (one per concluded connection); mtail and the bare loop count `accepted connection` lines.",
    'stunnel-doctor runs with `--metrics FILE`: the sidecar\'s metrics sink (DoctorMetrics, a prom-client registry) is fed every event, accepted connection and line count, and its text exposition written at the end; its counts (accepted, failures, starts) are checked against the truth too.',
    'Data: synthetic stunnel 5.68 lines (bench/generate.mjs), 8 services, 16-32 interleaved connections, ~5% failed connections, a few restarts.',
    '`doctor-syslog` is stunnel-doctor on the same lines in rsyslog\'s traditional syslog file format (`Jan  5 08:00:00 gw stunnel: LOG5[3]: ...`, written from the dataset before the runs); `syslog/file` is its throughput over stunnel-doctor\'s on the output-file format.',
    'Per line past the smaller size: the lines the larger data set has beyond the smaller one, over the difference of their minimum wall times (start-up and the first lines\' warm-up cancel out): each contender\'s steady cost per line.',
  ];
  return {
    name, title,
    params: { sizes, debugs, runs, seed },
    cases: cases.map(({ file, ...c }) => c),
    rows, ratios, marginal, mismatches,
    tables: [
      { title: 'Backlog scan: throughput, CPU and memory', headers, rows: tableRows },
      { title: 'Backlog scan: ratios', headers: ratioHeaders, rows: ratioRows },
      ...(marginalRows.length ? [{ title: 'Backlog scan: per line past the smaller size', headers: marginalHeaders, rows: marginalRows }] : []),
    ],
    notes,
  };
}
