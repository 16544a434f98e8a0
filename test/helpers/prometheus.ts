/**
 * Debian's Prometheus for the tests that scrape a real sidecar: started on a free loopback port with a
 * configuration the test writes (its `scrape_configs:` and more), a TSDB in the test's folder, queried through
 * its HTTP API. Waits are on conditions; a timeout's message carries the end of Prometheus' own log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';

export interface QueryResult {
  status: string;
  data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
  error?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Polls `fn` until it returns something other than undefined; a throw counts as "not yet" (a server still
 * starting). On timeout the error names `what` and ends with `diagnostics()` (the logs of the processes involved).
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30_000, diagnostics: () => string = () => ''): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out: ${what}\n${diagnostics()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface Prometheus {
  url: string;
  /** What Prometheus wrote on stderr so far. */
  log(): string;
  query(expr: string): Promise<QueryResult>;
  /** The value of the first series `expr` returns, or undefined. */
  value(expr: string): Promise<string | undefined>;
  stop(): void;
}

/**
 * Starts Prometheus with `global: { scrape_interval: 1s, ... }` followed by `config` (YAML: `scrape_configs:`,
 * `rule_files:`, ...), its files in `dir`; resolves once it is ready.
 */
export async function startPrometheus(dir: string, config: string, global = 'scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s'): Promise<Prometheus> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const cfg = join(dir, 'prometheus.yml');
  writeFileSync(cfg, `global: { ${global} }\n${config}`);
  let log = '';
  const child: ChildProcess = spawn(PROMETHEUS, [`--config.file=${cfg}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const query = async (expr: string): Promise<QueryResult> =>
    (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as QueryResult;
  const prom: Prometheus = {
    url,
    log: () => log,
    query,
    value: async (expr) => (await query(expr)).data?.result[0]?.value[1],
    stop: () => {
      child.kill('SIGTERM');
    },
  };
  try {
    await until('prometheus ready', async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 30_000, () => log.slice(-2000));
  } catch (e) {
    prom.stop();
    throw e;
  }
  return prom;
}
