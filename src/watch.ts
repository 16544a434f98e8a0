/**
 * `stunnel-doctor watch`: the sidecar. Loads the configuration (or runs the built-in demo), starts the
 * doctor and the HTTP endpoint, reloads on SIGHUP, flushes checkpoints on SIGTERM/SIGINT.
 */
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pino } from 'pino';
import { createDoctor, type Doctor } from './doctor.js';
import { checkedProxies, ConfigError, defaultConfig, mergeProxies, proxiesFromFlags, type DoctorConfig } from './config.js';
import { HttpServer } from './http/server.js';
import { startDemo, fixturesAvailable, type Demo } from './demo.js';
import { RuleLoadError } from './rules/index.js';
import { statusPage } from './http/status-page.js';
import { HttpMetrics } from './http/http-metrics.js';
import type { WebConfig } from './http/web-config.js';

export interface WatchFlags {
  config?: string;
  log: string[];
  stderr: string[];
  /** NAME=PATH: a proxy's stunnel configuration (config-aware diagnosis). */
  stunnelConf?: string[];
  stateDir?: string;
  listen?: string;
  eventsOut?: string;
  rules: string[];
  demo?: boolean;
  /** --web.config.file: TLS, client certificates, basic auth (exporter-toolkit format); wins over webConfigFile. */
  webConfigFile?: string;
}

async function resolveConfig(o: WatchFlags): Promise<DoctorConfig> {
  // The YAML parser and the schema library are loaded only for a file.
  const base = o.config ? await (await import('./config-file.js')).loadConfig(o.config) : defaultConfig();
  const flagProxies = proxiesFromFlags(o.log, o.stderr, o.stunnelConf ?? []);
  return {
    ...base,
    // Checked here as createDoctor() checks them (a name a stunnel configuration gives may be taken): exit 2, not a stack.
    proxies: checkedProxies(mergeProxies(base.proxies, flagProxies)),
    rules: [...base.rules, ...o.rules],
    ...(o.stateDir ? { stateDir: o.stateDir } : {}),
    ...(o.listen ? { listen: o.listen } : {}),
    ...(o.eventsOut ? { eventsOut: o.eventsOut } : {}),
  };
}

/** Settings a reload does not change (the process keeps what it started with). */
const RESTART_ONLY = ['listen', 'stateDir', 'eventsOut', 'pollMs', 'maxLineBytes', 'maxOpenConnections', 'maxSeriesPerMetric', 'webConfigFile',
  'diagnoseMaxFailures', 'diagnoseMaxFailuresPerProxy'] as const;

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(listen.slice(i + 1)) };
}

export async function runWatch(o: WatchFlags): Promise<number> {
  const log = pino({ name: 'stunnel-doctor', level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
  let cfg: DoctorConfig;
  try {
    cfg = await resolveConfig(o);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`stunnel-doctor: invalid configuration:\n${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // The web config is checked before anything starts: a bad one is refused with file:line, exit 2.
  const webFile = o.webConfigFile ?? cfg.webConfigFile;
  let webConfig: WebConfig | undefined;
  // The web config's modules (YAML, schema, bcrypt) are loaded only when there is one.
  const guard = webFile ? await import('./http/web-guard.js') : undefined;
  if (webFile) {
    try {
      webConfig = await (await import('./http/web-config.js')).loadWebConfig(webFile);
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`stunnel-doctor: invalid web config:\n${e.message}\n`);
        return 2;
      }
      throw e;
    }
  }
  let demo: Demo | null = null;
  if (o.demo || cfg.proxies.length === 0) {
    if (!fixturesAvailable()) {
      process.stderr.write('stunnel-doctor: nothing to watch: give --config or --log NAME=PATH (the demo fixtures are not installed)\n');
      return 2;
    }
    const dir = mkdtempSync(join(tmpdir(), 'stunnel-doctor-demo-'));
    demo = startDemo(dir);
    cfg = { ...cfg, proxies: demo.proxies, labels: [...new Set([...cfg.labels, ...demo.labels])] };
    log.info({ dir, proxies: demo.proxies.map((p) => p.name) }, 'demo: replaying real stunnel 5.68 logs at a human pace');
  }
  let eventsOut: Writable | undefined;
  if (cfg.eventsOut === '-') eventsOut = process.stdout;
  else if (cfg.eventsOut) eventsOut = createWriteStream(cfg.eventsOut, { flags: 'a' });

  let doctor: Doctor;
  try {
    doctor = await createDoctor({
      proxies: cfg.proxies,
      rules: cfg.rules,
      ...(cfg.stateDir ? { stateDir: cfg.stateDir } : {}),
      labels: cfg.labels,
      maxSeriesPerMetric: cfg.maxSeriesPerMetric,
      proxyGraceSeconds: cfg.proxyGraceSeconds,
      pollMs: cfg.pollMs,
      maxLineBytes: cfg.maxLineBytes,
      maxOpenConnections: cfg.maxOpenConnections,
      diagnoseMaxFailures: cfg.diagnoseMaxFailures,
      diagnoseMaxFailuresPerProxy: cfg.diagnoseMaxFailuresPerProxy,
      ...(eventsOut ? { eventsOut } : {}),
      logger: log,
    });
  } catch (e) {
    if (e instanceof RuleLoadError) {
      process.stderr.write(`stunnel-doctor: invalid rules:\n${e.message}\n`);
      demo?.stop();
      return 2;
    }
    throw e;
  }

  const httpMetrics = new HttpMetrics(doctor.metrics.registry);
  const web = webConfig && guard ? guard.startWebGuard(webConfig, httpMetrics, log) : undefined;
  const http = new HttpServer({
    hub: doctor.eventHub,
    metrics: async () => ({ contentType: doctor.metrics.contentType, body: await doctor.metrics.render() }),
    diagnose: (proxy) => (doctor.hasProxy(proxy) ? doctor.diagnose(proxy) : null),
    health: () => ({ ok: true, proxies: doctor.status().map((s) => ({ proxy: s.proxy, configOk: s.configOk, files: s.files })) }),
    extra: statusPage(doctor, demo ? { notice: demo.notice } : {}),
    extraPaths: ['/', '/status.json'],
  }, { ...(web ? { web } : {}), metrics: httpMetrics });
  const { host, port } = splitListen(cfg.listen);
  let url: string;
  try {
    url = await http.listen(host, port);
  } catch (e) {
    process.stderr.write(`stunnel-doctor: cannot listen on ${cfg.listen}: ${(e as Error).message}\n`);
    await doctor.close();
    demo?.stop();
    return 2;
  }
  log.info({ url, proxies: cfg.proxies.length, stateDir: cfg.stateDir ?? null }, `serving ${url}/ (metrics ${url}/metrics, events ${url}/events)`);
  if (process.stderr.isTTY) {
    process.stderr.write(`\nstunnel-doctor is serving ${url}/  (the status page; /status.json, /metrics, /events, /diagnose/<proxy>, /healthz)\n` +
      `${demo ? `${demo.notice}\n` : ''}\n`);
  }

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: flushing checkpoints');
      demo?.stop();
      void (async () => {
        await http.close();
        await doctor.close();
        if (eventsOut && eventsOut !== process.stdout) await new Promise<void>((r) => (eventsOut as Writable).end(r));
        resolve(0);
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    let running = cfg;
    // Reloads run one after the other (two quick SIGHUPs must not interleave their proxy changes).
    let reloading: Promise<void> = Promise.resolve();
    process.on('SIGHUP', () => {
      reloading = reloading.then(async () => {
        try {
          const next = await resolveConfig(o);
          await doctor.reload({
            rules: next.rules,
            labels: demo ? running.labels : next.labels, // the demo's proxies bring their own labels
            proxyGraceSeconds: next.proxyGraceSeconds,
            ...(demo ? {} : { proxies: next.proxies }),
          });
          const later = RESTART_ONLY.filter((k) => JSON.stringify(next[k]) !== JSON.stringify(running[k]));
          if (later.length) log.warn({ settings: later }, 'these settings take effect at the next start, not on reload');
          running = { ...next, labels: demo ? running.labels : next.labels, proxies: demo ? running.proxies : next.proxies };
          log.info('reloaded configuration and rules');
        } catch (e) {
          log.error({ err: (e as Error).message }, 'reload refused: the running configuration and rules are kept');
        }
        if (web && webFile && guard) await guard.reloadWebGuard(web, webFile, httpMetrics, log);
      });
    });
  });
}
