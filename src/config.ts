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

/** What a proxy's name may be made of (it is a metric label value and part of every event id). */
export const PROXY_NAME = /^[A-Za-z0-9_.-]+$/;
export const PROXY_NAME_RULE = 'proxy names are letters, digits, ".", "_" and "-"';
const PROXY_KEYS = new Set(['name', 'log', 'glob', 'stderr', 'labels', 'stunnelConfig']);

/** The checks of one proxy that its fields' types do not make: the configuration file's schema and createDoctor() share them. */
export function proxyProblems(p: ProxyConfig): { key?: keyof ProxyConfig; message: string }[] {
  const out: { key?: keyof ProxyConfig; message: string }[] = [];
  if (p.log && p.glob) out.push({ message: 'give one of "log" (one file) or "glob" (many), not both' });
  if (!p.log && !p.glob && !p.stunnelConfig) {
    out.push({ message: 'give "log" (one file), "glob" (many), or "stunnelConfig" alone (its "output =" is the log)' });
  }
  if (p.log && !p.name) out.push({ key: 'name', message: '"name" is required with "log"' });
  if (p.glob && p.stderr) out.push({ key: 'stderr', message: '"stderr" goes with one "log", not a glob' });
  if (p.glob && p.stunnelConfig) out.push({ key: 'stunnelConfig', message: '"stunnelConfig" goes with one "log", not a glob' });
  return out;
}

/**
 * The proxies given to createDoctor() or reload() by a program, checked as a configuration file's are (its schema
 * is not loaded for this) and resolved (resolveLogs): every problem at once, as a ConfigError naming the entry.
 */
export function checkedProxies(list: readonly ProxyConfig[]): ProxyConfig[] {
  const problems: string[] = [];
  const names = new Set<string>();
  list.forEach((p, i) => {
    const at = `proxies[${i}]`;
    if (p === null || typeof p !== 'object') {
      problems.push(`${at}: expected an object with "name" and "log", "glob" or "stunnelConfig"`);
      return;
    }
    for (const k of Object.keys(p)) if (!PROXY_KEYS.has(k)) problems.push(`${at}: unknown key "${k}"`);
    for (const k of ['name', 'log', 'glob', 'stderr', 'stunnelConfig'] as const) {
      const v: unknown = p[k];
      if (v !== undefined && (typeof v !== 'string' || v === '')) problems.push(`${at}.${k}: expected a non-empty string`);
    }
    if (typeof p.name === 'string' && p.name !== '' && !PROXY_NAME.test(p.name)) problems.push(`${at}.name: ${PROXY_NAME_RULE}`);
    for (const x of proxyProblems(p)) problems.push(`${at}${x.key ? `.${x.key}` : ''}: ${x.message}`);
    if (p.name && names.has(p.name)) problems.push(`${at}.name: duplicate proxy name "${p.name}"`);
    if (p.name) names.add(p.name);
  });
  if (problems.length) throw new ConfigError(problems);
  return resolveLogs(list);
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

/**
 * The configuration file's proxies and the flags' (`--log`, `--stderr`, `--stunnel-conf`), resolved (resolveLogs,
 * every problem of both at once): a flag's proxy replaces the file's proxy of the same name, as a flag wins over the
 * file's settings (and two definitions of one proxy are not both followed).
 */
export function mergeProxies(file: readonly ProxyConfig[], flags: readonly ProxyConfig[]): ProxyConfig[] {
  const all = resolveLogs([...file, ...flags]);
  const fromFlags = all.slice(file.length);
  const named = new Set(fromFlags.map((p) => p.name));
  return [...all.slice(0, file.length).filter((p) => p.name === undefined || !named.has(p.name)), ...fromFlags];
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
