/**
 * Helpers of the live benchmarks (follow latency, many proxies, restart, churn): synthetic stunnel 5.68
 * connection lines written on demand, the sidecar (`stunnel-doctor watch`) and mtail as child processes,
 * their /metrics, the SSE stream of /events, and /proc sampling (CPU, RSS) of a child.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

const pad = (n, w = 2) => String(n).padStart(w, '0');
export function stamp(d = new Date()) {
  return `${d.getFullYear()}.${pad(d.getMonth() + 1)}.${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
/** The first lines of a stunnel 5.68 run (banner, configuration) for a fresh synthetic log. */
export function runHead(d = new Date()) {
  const t = stamp(d);
  return [
    `${t} LOG5[ui]: stunnel 5.68 on x86_64-pc-linux-gnu platform`,
    `${t} LOG5[ui]: Compiled/running with OpenSSL 3.0.15 3 Sep 2024`,
    `${t} LOG5[ui]: Reading configuration from file /etc/stunnel/bench.conf`,
    `${t} LOG5[ui]: Configuration successful`,
  ].join('\n') + '\n';
}
/** One connection that closes normally (debug 5): accepted, backend connected, closed. */
export function connectionLines(id, service = 'svc', d = new Date()) {
  const t = stamp(d);
  return `${t} LOG5[${id}]: Service [${service}] accepted connection from 10.1.${(id >> 8) & 255}.${id & 255}:${40000 + (id % 20000)}\n` +
    `${t} LOG5[${id}]: s_connect: connected 127.0.0.1:8080\n` +
    `${t} LOG5[${id}]: Connection closed: 1234 byte(s) sent to TLS, 567 byte(s) sent to socket\n`;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export function httpGet(port, path, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Sum of the samples of `metric` in a Prometheus text exposition whose labels contain every `match` pair. */
export function promValue(text, metric, match = {}) {
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const rest = line.slice(metric.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const ok = Object.entries(match).every(([k, v]) => rest.includes(`${k}="${v}"`));
    if (!ok) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    seen = true;
  }
  return seen ? sum : 0;
}

export async function waitFor(fn, timeoutMs, what) {
  const t0 = Date.now();
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** `stunnel-doctor watch --config FILE` as a child; resolves once /healthz answers. */
export async function startSidecar({ doctor, config, port, env = {}, stdout = 'ignore', nodeArgs = [] }) {
  const child = spawn(process.execPath, [...nodeArgs, doctor, 'watch', '--config', config], {
    stdio: ['ignore', stdout, 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
    if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
  });
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  await Promise.race([
    waitFor(async () => (await httpGet(port, '/healthz')).status < 500, 60_000, 'the sidecar /healthz'),
    exited.then((e) => {
      throw new Error(`sidecar exited (${e.code ?? e.sig}): ${stderr.slice(-2000)}`);
    }),
  ]);
  return { child, exited, stderr: () => stderr, stop: () => stopChild(child, exited) };
}

export async function stopChild(child, exited) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

/** mtail following `logs` with the benchmark program; resolves once its /metrics answers. */
export async function startMtail({ prog, logs, port, pollMs }) {
  const args = ['--progs', prog, '--logs', logs, '--address', '127.0.0.1', '--port', String(port), '--logtostderr'];
  if (pollMs) args.push('--poll_interval', `${pollMs}ms`);
  const child = spawn('mtail', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  await waitFor(async () => (await httpGet(port, '/metrics')).status === 200, 30_000, 'mtail /metrics');
  return { child, exited, stop: () => stopChild(child, exited) };
}

/** Parsed Server-Sent Events from `port` `path`: calls onEvent(data, receivedMs) for each `data:` record. */
export function sse(port, path, onEvent) {
  let req;
  const ready = new Promise((resolve, reject) => {
    req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE ${path}: HTTP ${res.statusCode}`));
        return;
      }
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (c) => {
        const t = nowMs();
        buf += c;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const rec = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = rec.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          if (data) onEvent(data, t);
        }
      });
      resolve();
    });
    req.on('error', reject);
  });
  return { ready, close: () => req.destroy() };
}

/** CPU seconds (user + sys) and RSS (MB) of a process, from /proc. */
export function procSample(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  return { cpuS: ticks / CLK_TCK, rssMB: rss, at: nowMs() };
}
const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** Percentiles of a list of numbers (ms). */
export function pct(values) {
  const v = [...values].sort((a, b) => a - b);
  const q = (p) => (v.length ? v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)] : NaN);
  return { n: v.length, p50: q(50), p99: q(99), max: v.length ? v[v.length - 1] : NaN };
}

export function writeYaml(file, cfg) {
  const lines = [];
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'proxies') continue;
    lines.push(`${k}: ${JSON.stringify(v)}`);
  }
  lines.push('proxies:');
  for (const p of cfg.proxies) lines.push(`  - { name: ${JSON.stringify(p.name)}, log: ${JSON.stringify(p.log)} }`);
  writeFileSync(file, `${lines.join('\n')}\n`);
}
