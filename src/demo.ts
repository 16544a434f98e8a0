/**
 * The built-in demo of `npm start`: logs that replay the bundled real stunnel 5.68 fixtures at a human pace,
 * one file per demo proxy, so a newcomer sees events on /events and counters on /metrics at once. The lines
 * are stunnel's own, byte for byte; each replay of a fixture is a new stunnel run (it starts with the banner).
 */
import { openSync, writeSync, closeSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProxyConfig } from './config.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Demo proxies and the fixture logs they replay, in turn. */
const PLAN: { name: string; purpose: string; logs: string[]; stderr?: string[] }[] = [
  { name: 'billing', purpose: 'billing', logs: ['multi-service/d5.log', 'success/d5.log', 'checkhost-mismatch/d5.log'] },
  { name: 'ldaps', purpose: 'ldaps', logs: ['expired/d5.log', 'success/d6.log', 'unknown-ca/d5.log', 'revoked/d5.log'] },
  {
    name: 'licensing', purpose: 'licensing', logs: ['connect-refused/d5.log', 'handshake-timeout/d5.log', 'success/d5.log', 'dns-failure/d5.log'],
    stderr: ['config-missing-cafile/d5.stderr', 'config-bind-in-use/d5.stderr'],
  },
];

export interface Demo {
  proxies: ProxyConfig[];
  labels: string[];
  stop(): void;
}

export function fixturesAvailable(): boolean {
  return existsSync(join(FIXTURES, 'success', 'd5.log'));
}

/** Starts the replay into `dir`; `lineMs` is the pause between lines, `fileMs` between two replayed runs. */
export function startDemo(dir: string, lineMs = 120, fileMs = 2500): Demo {
  mkdirSync(dir, { recursive: true });
  const timers = new Map<string, NodeJS.Timeout>();
  const fds: number[] = [];
  let stopped = false;
  const replay = (path: string, files: string[]): void => {
    const fd = openSync(path, 'a');
    fds.push(fd);
    const sources = files.map((f) => join(FIXTURES, f)).filter((f) => existsSync(f));
    let file = 0;
    let lines: Buffer[] = [];
    let at = 0;
    const step = (): void => {
      if (stopped || sources.length === 0) return;
      if (at >= lines.length) {
        const bytes = readFileSync(sources[file % sources.length]!);
        file++;
        lines = [];
        let s = 0;
        while (s < bytes.length) {
          const nl = bytes.indexOf(10, s);
          const e = nl < 0 ? bytes.length : nl + 1;
          lines.push(bytes.subarray(s, e));
          s = e;
        }
        at = 0;
      }
      writeSync(fd, lines[at++]!);
      timers.set(path, setTimeout(step, at >= lines.length ? fileMs : lineMs));
    };
    step();
  };
  const proxies: ProxyConfig[] = [];
  for (const p of PLAN) {
    const log = join(dir, `${p.name}.log`);
    const proxy: ProxyConfig = { name: p.name, log, labels: { purpose: p.purpose } };
    replay(log, p.logs);
    if (p.stderr) {
      const err = join(dir, `${p.name}.err`);
      proxy.stderr = err;
      replay(err, p.stderr);
    }
    proxies.push(proxy);
  }
  return {
    proxies,
    labels: ['purpose'],
    stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      for (const fd of fds) closeSync(fd);
    },
  };
}
