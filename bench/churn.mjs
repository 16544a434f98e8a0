/**
 * Memory under churn: 10 M lines (--quick: 1 M) with 10,000 connections open at once, fed to
 * `stunnel-doctor scan --quiet -` through a pipe as they are generated: each step closes the oldest open
 * connection and opens a new one (accepted, backend connected), so the correlator holds 10,000 connections
 * the whole run (its default cap). RSS is sampled from /proc every 250 ms: it must stay flat.
 */
import { spawn } from 'node:child_process';
import { fmtNum } from './common.mjs';
import { nowMs, procSample } from './live.mjs';

export const name = 'churn';
export const title = 'Memory under churn (10,000 open connections)';

export async function run(ctx) {
  const { quick, log } = ctx;
  const total = quick ? 1_000_000 : 10_000_000;
  const open = 10_000;
  const child = spawn(process.execPath, [ctx.doctor, 'scan', '--quiet', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  // `scan --quiet` prints the report on stdout (errors on stderr).
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  const samples = [];
  let written = 0;
  const timer = setInterval(() => {
    try {
      samples.push({ ...procSample(child.pid), lines: written });
    } catch {
      /* exited */
    }
  }, 250);
  const t0 = nowMs();
  const day = Date.UTC(2026, 0, 1) / 1000;
  const pad = (n) => String(n).padStart(2, '0');
  const stampOf = (s) => {
    const d = new Date((day + s) * 1000);
    return `${d.getUTCFullYear()}.${pad(d.getUTCMonth() + 1)}.${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  };
  const write = (s) => new Promise((resolve) => {
    if (child.stdin.write(s)) resolve();
    else child.stdin.once('drain', resolve);
  });
  let parts = [`${stampOf(0)} LOG5[ui]: stunnel 5.68 on x86_64-pc-linux-gnu platform\n${stampOf(0)} LOG5[ui]: Configuration successful\n`];
  let lines = 2;
  let next = 0;
  let oldest = 0;
  let closed = 0;
  const flushEvery = 3000;
  while (lines < total) {
    const t = stampOf(Math.floor(lines / 2000));
    if (next - oldest >= open) {
      parts.push(`${t} LOG5[${oldest}]: Connection closed: 100 byte(s) sent to TLS, 200 byte(s) sent to socket\n`);
      oldest++;
      closed++;
      lines++;
    }
    parts.push(`${t} LOG5[${next}]: Service [svc${next & 7}] accepted connection from 10.0.${(next >> 8) & 255}.${next & 255}:${1024 + (next % 60000)}\n${t} LOG5[${next}]: s_connect: connected 127.0.0.1:8080\n`);
    next++;
    lines += 2;
    if (parts.length >= flushEvery) {
      const s = parts.join('');
      parts = [];
      written = lines;
      await write(s);
    }
  }
  await write(parts.join(''));
  written = lines;
  child.stdin.end();
  const code = await exited;
  clearInterval(timer);
  const wall = (nowMs() - t0) / 1000;
  if (code !== 0 && code !== 1) throw new Error(`scan exited ${code}: ${stderr.slice(-1000)}`);
  // The report lists connection_closed/ok once per service (`INFO  connection_closed/ok  416666x  ...`).
  let got = 0;
  for (const m of stdout.matchAll(/connection_closed\/ok\s+(\d+)x/g)) got += Number(m[1]);
  const rss = samples.map((s) => s.rssMB);
  const at = (f) => samples[Math.min(samples.length - 1, Math.floor(f * samples.length))]?.rssMB ?? NaN;
  const half = Math.floor(samples.length / 2);
  const firstHalfMax = Math.max(...rss.slice(0, half));
  const secondHalfMax = Math.max(...rss.slice(half));
  const growth = secondHalfMax / firstHalfMax;
  log(`[churn] ${lines} lines in ${wall.toFixed(1)} s; RSS 10% ${at(0.1).toFixed(0)} MB, 50% ${at(0.5).toFixed(0)} MB, 90% ${at(0.9).toFixed(0)} MB, max ${Math.max(...rss).toFixed(0)} MB`);
  return {
    name, title,
    params: { lines, open, closed },
    rows: [{ lines, wall, samples: samples.map((s) => [+(s.at - t0).toFixed(0), s.lines, +s.rssMB.toFixed(1)]) }],
    mismatches: got === closed ? [] : [{ case: 'churn', contender: 'stunnel-doctor', key: 'connection_closed/ok', expected: closed, got }],
    tables: [{
      title: `Memory under churn: ${(lines / 1e6).toFixed(0)}M lines through \`scan -\`, ${open.toLocaleString('en')} connections open at once (cap 10,000)`,
      headers: ['RSS MB at 10%', 'at 25%', 'at 50%', 'at 75%', 'at 90%', 'max 1st half', 'max 2nd half', '2nd/1st', 'lines/s', 'flat'],
      rows: [[fmtNum(at(0.1), 0), fmtNum(at(0.25), 0), fmtNum(at(0.5), 0), fmtNum(at(0.75), 0), fmtNum(at(0.9), 0),
        fmtNum(firstHalfMax, 0), fmtNum(secondHalfMax, 0), `${fmtNum(growth)}x`, fmtNum(lines / wall / 1e3, 0) + 'k', growth <= 1.15 ? 'yes' : 'NO']],
    }],
    notes: ['Flat: the largest RSS of the second half of the run is within 15% of that of the first half.'],
  };
}
