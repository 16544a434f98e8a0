/**
 * The `scan` command: events (text or NDJSON) on stdout, then the report; `--since/--until` on log time, a
 * progress bar on a terminal's stderr, `--follow`. `--failures` and `--kind` choose the events printed; the report
 * and the exit status still cover every event in the time window.
 *
 * Where the report goes: after the text events on stdout (it is the answer; `scan -q log | mail` works), or on
 * stderr with `--json`, where stdout holds NDJSON only. Exit status: 0 when no event (inside the window) has
 * severity error or worse, 1 when some, 2 for a usage or input problem (thrown as ScanInputError).
 */
import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import { scanFiles, type ScanStats } from './scan.js';
import { RuleLoadError } from './rules/index.js';
import type { DoctorEvent } from './events.js';
import { formatEvent, safeText } from './sinks/text.js';
import { Report, formatReport, untimedOrigin } from './sinks/report.js';
import { ProgressBar } from './sinks/progress.js';
import { TimeWindow, TimeArgError } from './time-window.js';
import { eventFilter, parseKinds, unknownKindsMessage } from './sinks/filter.js';
import type { TailNotice } from './tail/follower.js';
import type { ScanMetrics } from './scan.js';

export class ScanInputError extends Error {}

/** Events wait at most this long for the batch they are written in (see runScanCommand's flush). */
const FLUSH_AFTER_MS = 200;

export interface ScanCommandOptions {
  json?: boolean;
  rules: string[];
  proxy?: string;
  quiet?: boolean;
  /** false with --no-color */
  color?: boolean;
  since?: string;
  until?: string;
  follow?: boolean;
  /** true: always on a terminal (from the start); false: never; undefined: on a terminal after half a second. */
  progress?: boolean;
  /** --stunnel-conf: the stunnel.conf the logs were written with (config-aware diagnosis). */
  stunnelConf?: string;
  /** --metrics: write the sidecar's metrics for what was read, in the Prometheus text format, to this file. */
  metrics?: string;
  /** --failures: print only the events of severity error or critical (the report still has every event). */
  failures?: boolean;
  /** --kind: print only the events of these kinds (each value may hold several, comma-separated). */
  kind?: string[];
}

const noColorEnv = (): boolean => Boolean(process.env.NO_COLOR);

export async function runScanCommand(files: string[], o: ScanCommandOptions): Promise<number> {
  const t0 = performance.now();
  let window: TimeWindow;
  try {
    window = TimeWindow.parse(o);
  } catch (e) {
    if (e instanceof TimeArgError) throw new ScanInputError(e.message);
    throw e;
  }
  const { kinds, unknown } = parseKinds(o.kind ?? []);
  if (unknown.length) throw new ScanInputError(`--kind: ${unknownKindsMessage(unknown)}`);
  /** Which events are printed (all are reported). */
  const shown = eventFilter({ kinds, failuresOnly: o.failures === true });
  const reportToStdout = !o.json;
  const reportStream = reportToStdout ? process.stdout : process.stderr;
  const eventColor = o.color !== false && process.stdout.isTTY === true && !noColorEnv();
  const reportColor = o.color !== false && reportStream.isTTY === true && !noColorEnv();

  let progress: ProgressBar | null = null;
  if (o.progress !== false && process.stderr.isTTY === true) {
    let total = 0;
    let known = true;
    for (const f of files) {
      if (f === '-') known = false;
      else {
        try {
          total += statSync(f).size;
        } catch {
          /* reported when it is read */
        }
      }
    }
    progress = new ProgressBar(process.stderr, { total: known ? total : null, delayMs: o.progress === true ? 0 : 500 });
  }

  // prom-client is loaded only when asked for.
  const metrics = o.metrics
    ? new (await import('./sinks/metrics.js')).DoctorMetrics({ version: (await import('./version.js')).VERSION })
    : undefined;

  const report = new Report();
  const out: string[] = [];
  /** A flush is due this long after the first event not yet written: a slow input (`journalctl -f | scan -`) shows
   * its events as they come, a fast one still writes them in batches. */
  let due: NodeJS.Timeout | null = null;
  const flush = (): void => {
    if (due) {
      clearTimeout(due);
      due = null;
    }
    if (!out.length) return;
    progress?.clear();
    process.stdout.write(out.join(''));
    out.length = 0;
  };
  const onEvent = (e: DoctorEvent): void => {
    const place = window.place(e.time);
    if (place === 'before') {
      report.window.before++;
      return;
    }
    if (place === 'after') {
      report.window.after++;
      return;
    }
    if (place === 'untimed') {
      report.window.untimed++;
      report.window.untimedFrom.add(untimedOrigin(e));
    }
    report.add(e);
    if (o.quiet || (shown && !shown(e))) return;
    out.push(o.json ? `${JSON.stringify(e)}\n` : formatEvent(e, eventColor));
    if (out.length >= 512) flush();
    else due ??= setTimeout(flush, FLUSH_AFTER_MS);
  };
  const onProgress = progress ? (file: string, bytes: number): void => progress!.update(bytes, file) : undefined;

  let stats: ScanStats;
  try {
    if (o.follow) stats = await follow(files, o, metrics, onEvent, onProgress, flush, progress);
    else {
      // A one-shot scan is a batch job: V8's incremental marking (short pauses, for the sidecar's latency) costs
      // it throughput. While marking runs, every young object that survives a scavenge is promoted; with the
      // report's and the metrics' long-lived state in the old generation, marking cycles follow one another and
      // ~100 MB of short-lived strings and events per million debug-5 lines went through the old generation
      // (1M debug-5 lines: 25% of the CPU in GC). Full collections without it are rare and short here.
      batchGc(true);
      // SIGINT (Ctrl-C) or SIGTERM ends the reading (`journalctl -f | scan -` never ends): what was read is
      // concluded and reported.
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        stats = (await scanFiles(files, {
          rules: o.rules,
          ...(o.proxy ? { proxy: o.proxy } : {}),
          ...(o.stunnelConf ? { stunnelConf: o.stunnelConf } : {}),
          ...(metrics ? { metrics } : {}),
          collect: false,
          onEvent,
          ...(onProgress ? { onProgress } : {}),
          signal: ac.signal,
        })).stats;
      } finally {
        batchGc(false);
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      }
      if (ac.signal.aborted) {
        progress?.clear();
        process.stderr.write('stunnel-doctor: interrupted: the report covers what was read until then\n');
      }
    }
  } catch (e) {
    flush();
    progress?.end();
    if (e instanceof RuleLoadError) throw new ScanInputError(`invalid rules:\n${e.message}`);
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EISDIR' && err.path) {
      throw new ScanInputError(`cannot read ${err.path}: EISDIR (a directory: give its log files, e.g. ${err.path.replace(/\/+$/, '')}/*.log)`);
    }
    const detail = (err as { detail?: string }).detail;
    if (err.code && err.path) throw new ScanInputError(`cannot read ${err.path}: ${err.code}${detail ? ` (${detail})` : ''}`);
    throw e;
  }
  flush();
  progress?.end();
  if (metrics) {
    try {
      await writeFile(o.metrics!, await metrics.render());
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ScanInputError(`cannot write ${o.metrics}: ${err.code ?? err.message}`);
    }
  }
  stats.events = report.events;
  if (reportToStdout && !o.quiet && report.events > 0) out.push('\n');
  out.push(formatReport(report, stats, { color: reportColor, elapsedMs: performance.now() - t0, window }));
  if (reportToStdout) flush();
  else {
    process.stderr.write(out.join(''));
    out.length = 0;
  }
  return report.failures > 0 ? 1 : 0;
}

/** The process was started with incremental marking off (node's flags or NODE_OPTIONS): leave it so. */
const startedWithout = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
  .some((a) => a === '--no-incremental-marking' || a === '--no-incremental_marking');

/**
 * V8's incremental marking off during a one-shot scan (`on`), back on after it (the process may go on: tests, a
 * library user), unless it was off from the start.
 */
function batchGc(on: boolean): void {
  if (startedWithout) return;
  setFlagsFromString(on ? '--no-incremental-marking' : '--incremental-marking');
}

async function follow(
  files: string[],
  o: ScanCommandOptions,
  metrics: ScanMetrics | undefined,
  onEvent: (e: DoctorEvent) => void,
  onProgress: ((file: string, bytes: number) => void) | undefined,
  flush: () => void,
  progress: ProgressBar | null,
): Promise<ScanStats> {
  const { followFiles } = await import('./follow-scan.js');
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const r = await followFiles(files, {
      rules: o.rules,
      ...(o.proxy ? { proxy: o.proxy } : {}),
      ...(o.stunnelConf ? { stunnelConf: o.stunnelConf } : {}),
      ...(metrics ? { metrics } : {}),
      signal: ac.signal,
      onEvent,
      ...(onProgress ? { onProgress } : {}),
      onBatch: flush,
      onCaughtUp: () => progress?.end(),
      onNotice: (n) => {
        const text = describeNotice(n);
        if (text === null) return;
        progress?.clear();
        process.stderr.write(`stunnel-doctor: ${safeText(text)}\n`);
      },
    });
    return r.stats;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

function describeNotice(n: TailNotice): string | null {
  switch (n.type) {
    case 'rotated':
      return `${n.path}: rotated (${n.mode})${n.mode === 'copytruncate' && n.readFrom ? `: ${n.gapBytes ?? 0} unread bytes read from ${n.readFrom}` : ''}`;
    case 'deleted':
      return `${n.path}: deleted; waiting for a new file`;
    case 'missing':
      return `${n.path}: missing; waiting for it`;
    case 'error':
      return `${n.path}: ${n.reason}${n.code ? ` (${n.code})` : ''}; retrying`;
    case 'recovered':
      return `${n.path}: readable again`;
    default:
      return null;
  }
}
