/**
 * The sidecar's configuration: its defaults, the flags for the simple case, and what both forms share. The
 * configuration file (YAML, `--config`) is read by config-file.ts.
 */
import { logOfStunnelConf, proxyNameOfConf, type LogOfConf } from './stunnel-conf/log-path.js';
import type { DoctorConfig, ProxyConfig } from './config-file.js';

export type { DoctorConfig, ProxyConfig };

/** The defaults of the settings (configSchema applies them to a file; defaultConfig() is the configuration without one). */
export const CONFIG_DEFAULTS = {
  listen: '127.0.0.1:9577',
  maxSeriesPerMetric: 10_000,
  proxyGraceSeconds: 300,
  pollMs: 1000,
  maxLineBytes: 64 * 1024,
  maxOpenConnections: 10_000,
  diagnoseMaxFailures: 10_000,
  diagnoseMaxFailuresPerProxy: 1_000,
} as const;

/** The configuration of an empty file (`configSchema.parse({})`), without loading the schema. */
export function defaultConfig(): DoctorConfig {
  return { ...CONFIG_DEFAULTS, rules: [], labels: [], proxies: [] };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/**
 * Proxies given by their stunnel configuration alone get its `output =` file as their log, and a name from its
 * file name when they have none. Every proxy that cannot is a problem (ConfigError, all at once).
 */
export function resolveLogs(proxies: readonly ProxyConfig[], logOf: (path: string) => LogOfConf = logOfStunnelConf): ProxyConfig[] {
  const problems: string[] = [];
  const out = proxies.map((p) => {
    if (p.log || p.glob || !p.stunnelConfig) return p;
    const r = logOf(p.stunnelConfig);
    if ('problem' in r) {
      problems.push(`proxy ${p.name ?? proxyNameOfConf(p.stunnelConfig)}: ${r.problem}`);
      return p;
    }
    return { ...p, name: p.name ?? proxyNameOfConf(p.stunnelConfig), log: r.log };
  });
  if (problems.length) throw new ConfigError(problems);
  return out;
}

/** `NAME=PATH` flags → proxies. */
export function proxiesFromFlags(logs: readonly string[], stderr: readonly string[], stunnelConfs: readonly string[] = []): ProxyConfig[] {
  const problems: string[] = [];
  const out = new Map<string, ProxyConfig>();
  const split = (flag: string, v: string): [string, string] | null => {
    const i = v.indexOf('=');
    if (i <= 0 || i === v.length - 1) {
      problems.push(`${flag} ${v}: expected NAME=PATH`);
      return null;
    }
    return [v.slice(0, i), v.slice(i + 1)];
  };
  for (const v of logs) {
    const p = split('--log', v);
    if (!p) continue;
    const [name, path] = p;
    out.set(name, path.includes('*') ? { glob: path } : { name, log: path });
  }
  for (const v of stderr) {
    const p = split('--stderr', v);
    if (!p) continue;
    const proxy = out.get(p[0]);
    if (!proxy || !proxy.log) problems.push(`--stderr ${v}: no --log ${p[0]}=PATH to attach it to`);
    else proxy.stderr = p[1];
  }
  for (const v of stunnelConfs) {
    // NAME=PATH, or PATH alone (the proxy named after the file: /etc/stunnel/ldaps.conf is "ldaps").
    const p = v.includes('=') ? split('--stunnel-conf', v) : [proxyNameOfConf(v), v] as [string, string];
    if (!p) continue;
    const proxy = out.get(p[0]);
    if (!proxy) out.set(p[0], { name: p[0], stunnelConfig: p[1] }); // its log is the configuration's output (resolveLogs)
    else if (!proxy.log) problems.push(`--stunnel-conf ${v}: ${p[0]} is a glob; a stunnel configuration goes with one log`);
    else proxy.stunnelConfig = p[1];
  }
  if (problems.length) throw new ConfigError(problems);
  return [...out.values()];
}
