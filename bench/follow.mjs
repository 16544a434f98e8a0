/**
 * Follow latency: connections appended at a steady rate to one followed file; for each, the time from the
 * write to
 *   - the event on `events$` of the library (createDoctor in a child process: bench/lib-child.mjs),
 *   - the event on `/events` (SSE) of `stunnel-doctor watch`,
 *   - the counter moving on the sidecar's `/metrics` (stunnel_connections_finished_total),
 *   - the counter moving on mtail's `/metrics` (mtail following the same file, default --poll_interval),
 * side by side on the same writes. Both /metrics are scraped every 10 ms (that resolution is part of their
 * figures). Times: CLOCK_MONOTONIC in every process.
 */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { spawn } from 'node:child_process';
import { BENCH_DIR, fmtNum } from './common.mjs';
import {
  connectionLines, runHead, freePort, startSidecar, startMtail, sse, httpGet, promValue, nowMs, sleep, pct, writeYaml, waitFor,
} from './live.mjs';

export const name = 'follow';
export const title = 'Follow latency (write -> event / metric)';

export function startLibChild(dist, cfg) {
  const child = spawn(process.execPath, [join(BENCH_DIR, 'lib-child.mjs'), JSON.stringify({ dist, ...cfg })], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  const listeners = new Set();
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c) => {
    buf += c;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i).split(' ');
      buf = buf.slice(i + 1);
      lines.push(l);
      for (const fn of listeners) fn(l);
    }
  });
  const exited = new Promise((r) => child.on('exit', r));
  return {
    child, lines, onLine: (fn) => listeners.add(fn),
    stop: async () => {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function run(ctx) {
  const { quick, log } = ctx;
  const events = quick ? 60 : 300;
  const rate = 20; // per second
  const dist = dirname(ctx.doctor);
  const dir = mkdtempSync(join(os.tmpdir(), 'sd-bench-follow-'));
  const file = join(dir, 'bench.log');
  writeFileSync(file, runHead());
  const port = await freePort();
  const mport = await freePort();
  const cfgFile = join(dir, 'config.yaml');
  writeYaml(cfgFile, { listen: `127.0.0.1:${port}`, stateDir: join(dir, 'state'), proxies: [{ name: 'bench', log: file }] });
  const side = await startSidecar({ doctor: ctx.doctor, config: cfgFile, port });
  const lib = startLibChild(dist, { proxies: [{ name: 'bench', log: file }] });
  await waitFor(() => lib.lines.some((l) => l[0] === 'created'), 30_000, 'the library child');
  const mtail = await startMtail({ prog: join(BENCH_DIR, 'stunnel.mtail'), logs: file, port: mport });
  const recv = { library: new Map(), sse: new Map() };
  lib.onLine((l) => {
    if (l[0] === 'ev' && l[2] === 'connection_closed') recv.library.set(Number(l[3]), Number(l[1]));
  });
  const stream = sse(port, '/events?kind=connection_closed', (data, t) => {
    const e = JSON.parse(data);
    if (!recv.sse.has(Number(e.connection))) recv.sse.set(Number(e.connection), t);
  });
  await stream.ready;
  await sleep(1000); // mtail has opened the file (it starts at its end)

  // Scrapers: every 10 ms, the counter and the time its value was read.
  const scrapes = { metrics: [], mtail: [] };
  let scraping = true;
  const scrape = async (key, p, metric, match) => {
    while (scraping) {
      const t0 = nowMs();
      try {
        const r = await httpGet(p, '/metrics');
        scrapes[key].push([nowMs(), promValue(r.body, metric, match)]);
      } catch {
        /* a slow scrape: try again */
      }
      const wait = 10 - (nowMs() - t0);
      if (wait > 0) await sleep(wait);
    }
  };
  const sc = [
    scrape('metrics', port, 'stunnel_connections_finished_total', { proxy: 'bench' }),
    scrape('mtail', mport, 'stunnel_connections_closed_total'),
  ];
  await sleep(200);
  const base = { metrics: scrapes.metrics.at(-1)?.[1] ?? 0, mtail: scrapes.mtail.at(-1)?.[1] ?? 0 };

  log(`[follow] ${events} connections at ${rate}/s`);
  const written = new Map();
  const fd = openSync(file, 'a');
  const t0 = nowMs();
  for (let k = 1; k <= events; k++) {
    const due = t0 + (k - 1) * (1000 / rate);
    const wait = due - nowMs();
    if (wait > 0) await sleep(wait);
    const text = connectionLines(k);
    written.set(k, nowMs());
    writeSync(fd, text);
  }
  closeSync(fd);
  await sleep(2000);
  scraping = false;
  await Promise.all(sc);
  stream.close();

  const lat = {};
  for (const key of ['library', 'sse']) {
    const v = [];
    let missing = 0;
    for (const [k, tw] of written) {
      const tr = recv[key].get(k);
      if (tr === undefined) missing++;
      else v.push(tr - tw);
    }
    lat[key] = { ...pct(v), missing };
  }
  for (const key of ['metrics', 'mtail']) {
    const v = [];
    let missing = 0;
    const s = scrapes[key];
    let j = 0;
    for (const [k, tw] of written) {
      while (j < s.length && s[j][1] < base[key] + k) j++;
      if (j >= s.length) missing++;
      else v.push(Math.max(0, s[j][0] - tw));
    }
    lat[key] = { ...pct(v), missing };
  }
  await Promise.all([side.stop(), lib.stop(), mtail.stop()]);
  if (!ctx.keepData) rmSync(dir, { recursive: true, force: true });

  const labels = {
    library: 'stunnel-doctor library: events$',
    sse: 'stunnel-doctor watch: /events (SSE)',
    metrics: 'stunnel-doctor watch: /metrics counter',
    mtail: 'mtail (default poll): /metrics counter',
  };
  const rows = Object.entries(lat).map(([k, l]) => ({ path: k, label: labels[k], ...l }));
  const target = 50;
  return {
    name, title,
    params: { events, rate, scrapeMs: 10 },
    rows,
    mismatches: rows.filter((r) => r.missing).map((r) => ({ case: 'follow', contender: r.path, key: 'events seen', expected: events, got: events - r.missing })),
    tables: [{
      title: `Follow latency: ${events} connections at ${rate}/s, ms from write (target p99 <= ${target} ms)`,
      headers: ['path', 'where', 'n', 'p50 ms', 'p99 ms', 'max ms', 'target'],
      rows: rows.map((r) => [r.path, r.label, r.n, fmtNum(r.p50, 1), fmtNum(r.p99, 1), fmtNum(r.max, 1),
        r.path === 'mtail' ? '-' : r.p99 <= target ? 'met' : 'MISSED']),
    }],
    notes: ['/metrics figures include the 10 ms scrape interval and the scrape itself; SSE and events$ are pushed.'],
  };
}
