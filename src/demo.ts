/**
 * The built-in demo of `npm start`: logs that replay the bundled real stunnel 5.68 fixtures at a human pace,
 * one file per demo proxy, so a newcomer sees proxies and failures arrive on the status page, /events and
 * /metrics at once. Every line written is a line stunnel wrote, byte for byte (fixtures/); the demo only
 * chooses which lines and when, so that the proxies look like a running installation:
 *
 * - a running proxy is one stunnel run: the start lines of its first fixture (banner to `Configuration
 *   successful`) once, then the connection lines (numeric connection ids) of its fixtures in turn, in a loop.
 *   The start and shutdown lines of the other runs (`Terminated`) are left out: replayed, they would show a
 *   proxy stopping and restarting every few seconds, an outage that is only the replay's. Connection ids
 *   start again at 0 with every fixture (a real run numbers on); nothing reads them across connections.
 * - a proxy that cannot start replays the stderr capture of a failed start again and again (as a service
 *   manager restarting it would), and its log stays empty.
 *
 * Log times are those of the recordings (fixtures/ were made on 2026-11-22): the page says so in its banner.
 */
import { openSync, writeSync, closeSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProxyConfig } from './config.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

interface DemoProxy {
  name: string;
  purpose: string;
  /** Running: the first fixture's start, then the connection lines of all of them, in a loop. */
  logs?: string[];
  /** Not starting: these stderr captures of failed starts in turn, in a loop (the log stays empty). */
  failedStarts?: string[];
  /** The stunnel configuration the first log was written with (config-aware diagnosis), when it is there. */
  stunnelConfig?: string;
}

/**
 * Demo proxies and the fixtures they replay, each list in the order the fixtures were recorded, so that log times
 * rise within a loop (they go back once per loop, when it starts again).
 */
export const DEMO_PLAN: readonly DemoProxy[] = [
  { name: 'billing', purpose: 'billing', logs: ['checkhost-mismatch/d5.log', 'multi-service/d5.log'], stunnelConfig: 'checkhost-mismatch/stunnel.conf' },
  { name: 'ldaps', purpose: 'ldaps', logs: ['success/d5.log', 'unknown-ca/d5.log', 'expired/d5.log', 'revoked/d5.log'] },
  { name: 'mail', purpose: 'mail', logs: ['success/d5.log', 'connect-refused/d5.log', 'dns-failure/d5.log', 'handshake-timeout/d5.log'] },
  { name: 'licensing', purpose: 'licensing', failedStarts: ['config-missing-cafile/d5.stderr', 'config-bind-in-use/d5.stderr'] },
];

/** What the status page says above the proxies while the demo runs. */
export const DEMO_NOTICE =
  'Demo: real stunnel 5.68 logs (fixtures/, recorded 2026-11-22) replayed in a loop, so times shown are the recorded log ' +
  'times. Give --config or --log NAME=PATH to watch your own stunnel.';

export interface Demo {
  proxies: ProxyConfig[];
  labels: string[];
  notice: string;
  stop(): void;
}

export interface DemoPacing {
  /** Pause between two lines of one connection or start. */
  lineMs: number;
  /** Pause between two connections' blocks of lines. */
  blockMs: number;
  /** Pause between two failed starts (a service manager's restart delay). */
  restartMs: number;
}

const PACE: DemoPacing = { lineMs: 120, blockMs: 2500, restartMs: 20_000 };

export function fixturesAvailable(): boolean {
  return existsSync(join(FIXTURES, 'success', 'd5.log'));
}

function lines(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let s = 0;
  while (s < bytes.length) {
    const nl = bytes.indexOf(10, s);
    const e = nl < 0 ? bytes.length : nl + 1;
    out.push(bytes.subarray(s, e));
    s = e;
  }
  return out;
}

const CONNECTION_LINE = /^\S+ \S+ LOG\d\[\d+\]: /;

/** A file-format log of one stunnel run: its start lines, and its connections' lines grouped by connection id. */
export function splitRun(bytes: Buffer): { start: Buffer[]; connections: Buffer[][] } {
  const all = lines(bytes);
  const ok = all.findIndex((l) => l.includes(']: Configuration successful'));
  const byId = new Map<string, Buffer[]>();
  for (const l of all.slice(ok + 1)) {
    const m = CONNECTION_LINE.exec(l.toString('latin1'));
    if (!m) continue;
    const id = m[0];
    const id0 = id.slice(id.indexOf('[') + 1, id.indexOf(']'));
    if (!byId.has(id0)) byId.set(id0, []);
    byId.get(id0)!.push(l);
  }
  return { start: all.slice(0, ok + 1), connections: [...byId.values()] };
}

/** Starts the replay into `dir`. */
export function startDemo(dir: string, pace: Partial<DemoPacing> = {}): Demo {
  const p = { ...PACE, ...pace };
  mkdirSync(dir, { recursive: true });
  const timers = new Set<NodeJS.Timeout>();
  const fds: number[] = [];
  let stopped = false;
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  /** Writes `blocks` in turn, one line every lineMs, blockMs between blocks; then the loop from `loopFrom`. */
  const play = (path: string, blocks: Buffer[][], loopFrom: number, gapMs: number): void => {
    const fd = openSync(path, 'a');
    fds.push(fd);
    let b = 0;
    let l = 0;
    const step = (): void => {
      writeSync(fd, blocks[b]![l++]!);
      if (l < blocks[b]!.length) return later(p.lineMs, step);
      l = 0;
      b = b + 1 < blocks.length ? b + 1 : loopFrom;
      later(gapMs, step);
    };
    if (blocks.length) step();
  };
  const proxies: ProxyConfig[] = [];
  for (const d of DEMO_PLAN) {
    const log = join(dir, `${d.name}.log`);
    const proxy: ProxyConfig = { name: d.name, log, labels: { purpose: d.purpose } };
    const conf = d.stunnelConfig ? join(FIXTURES, d.stunnelConfig) : null;
    if (conf && existsSync(conf)) proxy.stunnelConfig = conf;
    const runs = (d.logs ?? []).map((f) => join(FIXTURES, f)).filter(existsSync).map((f) => splitRun(readFileSync(f)));
    if (runs.length) {
      // The first run's start, its connections, the others' connections; then the connections again.
      play(log, [runs[0]!.start, ...runs.flatMap((r) => r.connections)], 1, p.blockMs);
    } else {
      closeSync(openSync(log, 'a'));
    }
    const failed = (d.failedStarts ?? []).map((f) => join(FIXTURES, f)).filter(existsSync).map((f) => lines(readFileSync(f)));
    if (failed.length) {
      const err = join(dir, `${d.name}.err`);
      proxy.stderr = err;
      play(err, failed, 0, p.restartMs);
    }
    proxies.push(proxy);
  }
  return {
    proxies,
    labels: ['purpose'],
    notice: DEMO_NOTICE,
    stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const fd of fds.splice(0)) closeSync(fd);
    },
  };
}
