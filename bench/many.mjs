/**
 * Many proxies: `stunnel-doctor watch` following N files (one proxy each, default 1,000), mostly idle.
 *   idle:    CPU (% of one core, /proc/<pid>/stat over the window) and RSS once every file has been read;
 *            mtail following the same files (a glob) is sampled over the same window;
 *   traffic: connections appended to a tenth of the files at a steady total rate: write -> SSE /events
 *            latency, CPU and RSS.
 */
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { BENCH_DIR, fmtNum } from './common.mjs';
import {
  connectionLines, runHead, freePort, startSidecar, startMtail, sse, httpGet, promValue, nowMs, sleep, pct, writeYaml, waitFor, procSample,
} from './live.mjs';

export const name = 'many';
export const title = 'Many proxies (1,000 followed files)';

export async function run(ctx) {
  const { quick, log } = ctx;
  const files = quick ? 200 : 1000;
  const idleS = quick ? 10 : 30;
  const trafficS = quick ? 10 : 30;
  const rate = 50; // connections per second, over the busy tenth of the files
  const dir = mkdtempSync(join(os.tmpdir(), 'sd-bench-many-'));
  const logs = join(dir, 'logs');
  const paths = [];
  const { mkdirSync } = await import('node:fs');
  mkdirSync(logs);
  for (let i = 0; i < files; i++) {
    const p = join(logs, `p${String(i).padStart(4, '0')}.log`);
    writeFileSync(p, runHead() + connectionLines(1) + connectionLines(2));
    paths.push(p);
  }
  const port = await freePort();
  const mport = await freePort();
  const cfgFile = join(dir, 'config.yaml');
  writeYaml(cfgFile, {
    listen: `127.0.0.1:${port}`, stateDir: join(dir, 'state'),
    proxies: paths.map((p, i) => ({ name: `p${String(i).padStart(4, '0')}`, log: p })),
  });
  log(`[many] ${files} files: starting the sidecar and mtail`);
  const t0 = nowMs();
  const side = await startSidecar({ doctor: ctx.doctor, config: cfgFile, port });
  await waitFor(async () => promValue((await httpGet(port, '/metrics', 10_000)).body, 'stunnel_proxy_starts_total') >= files, 120_000, 'every file read');
  const readyMs = nowMs() - t0;
  const mtail = await startMtail({ prog: join(BENCH_DIR, 'stunnel.mtail'), logs: join(logs, '*.log'), port: mport });
  await sleep(5000); // settle (first checkpoints, mtail's first polls)

  log(`[many] idle ${idleS} s`);
  const a = [procSample(side.child.pid), procSample(mtail.child.pid)];
  await sleep(idleS * 1000);
  const b = [procSample(side.child.pid), procSample(mtail.child.pid)];
  const idle = {
    doctorCpuPct: (100 * (b[0].cpuS - a[0].cpuS)) / ((b[0].at - a[0].at) / 1000),
    doctorRssMB: b[0].rssMB,
    mtailCpuPct: (100 * (b[1].cpuS - a[1].cpuS)) / ((b[1].at - a[1].at) / 1000),
    mtailRssMB: b[1].rssMB,
  };
  log(`[many] idle: doctor ${idle.doctorCpuPct.toFixed(2)}% CPU, ${idle.doctorRssMB.toFixed(0)} MB; mtail ${idle.mtailCpuPct.toFixed(2)}% CPU, ${idle.mtailRssMB.toFixed(0)} MB`);
  await mtail.stop();

  log(`[many] traffic ${trafficS} s: ${rate} connections/s over ${Math.ceil(files / 10)} files`);
  const recv = new Map();
  const stream = sse(port, '/events?kind=connection_closed', (data, t) => {
    const e = JSON.parse(data);
    recv.set(`${e.proxy}/${e.connection}`, t);
  });
  await stream.ready;
  const busy = paths.slice(0, Math.ceil(files / 10));
  const fds = busy.map((p) => openSync(p, 'a'));
  const written = new Map();
  const c0 = procSample(side.child.pid);
  let rssMax = c0.rssMB;
  const total = rate * trafficS;
  const start = nowMs();
  for (let k = 0; k < total; k++) {
    const due = start + k * (1000 / rate);
    const wait = due - nowMs();
    if (wait > 0) await sleep(wait);
    const f = k % busy.length;
    const id = 1000 + k;
    written.set(`p${String(f).padStart(4, '0')}/${id}`, nowMs());
    writeSync(fds[f], connectionLines(id));
    if (k % rate === 0) rssMax = Math.max(rssMax, procSample(side.child.pid).rssMB);
  }
  const c1 = procSample(side.child.pid);
  for (const fd of fds) closeSync(fd);
  await sleep(2000);
  stream.close();
  const v = [];
  let missing = 0;
  for (const [k, tw] of written) {
    const tr = recv.get(k);
    if (tr === undefined) missing++;
    else v.push(tr - tw);
  }
  const traffic = {
    ...pct(v), missing,
    cpuPct: (100 * (c1.cpuS - c0.cpuS)) / ((c1.at - c0.at) / 1000),
    rssMaxMB: Math.max(rssMax, c1.rssMB),
  };
  await side.stop();
  if (!ctx.keepData) rmSync(dir, { recursive: true, force: true });

  const ok = (x) => (x ? 'met' : 'MISSED');
  return {
    name, title,
    params: { files, idleS, trafficS, rate, busyFiles: busy.length },
    rows: [{ files, readyMs, idle, traffic }],
    mismatches: missing ? [{ case: 'many', contender: 'stunnel-doctor', key: 'events seen', expected: total, got: total - missing }] : [],
    tables: [{
      title: `Many proxies: ${files} followed files (${idleS} s idle, then ${rate} connections/s over ${busy.length} files for ${trafficS} s)`,
      headers: ['measure', 'stunnel-doctor', 'mtail (same files)', 'target', ''],
      rows: [
        ['idle CPU, % of one core', fmtNum(idle.doctorCpuPct), fmtNum(idle.mtailCpuPct), '< 2%', ok(idle.doctorCpuPct < 2)],
        ['idle RSS, MB', fmtNum(idle.doctorRssMB, 0), fmtNum(idle.mtailRssMB, 0), '< 200 MB', ok(idle.doctorRssMB < 200)],
        ['traffic CPU, % of one core', fmtNum(traffic.cpuPct), '-', '', ''],
        ['traffic RSS max, MB', fmtNum(traffic.rssMaxMB, 0), '-', '< 200 MB', ok(traffic.rssMaxMB < 200)],
        ['write -> SSE p50 / p99 / max, ms', `${fmtNum(traffic.p50, 1)} / ${fmtNum(traffic.p99, 1)} / ${fmtNum(traffic.max, 1)}`, '-', 'p99 <= 100 ms', ok(traffic.p99 <= 100)],
        ['start-up until every file was read, s', fmtNum(readyMs / 1000, 1), '-', '', ''],
      ],
    }],
    notes: ['CPU: utime + stime of the process from /proc/<pid>/stat over the window, divided by the window.'],
  };
}
