/**
 * The options that matter for diagnosis, per service, with where each came from (file:line, or stunnel's
 * default). Service-level options of the global section are every service's defaults, as in stunnel.
 * Defaults are stunnel 5.68's (`stunnel -version`): debug = daemon.notice, logId = sequential,
 * TIMEOUTbusy = 300, TIMEOUTclose = 60, TIMEOUTconnect = 10, TIMEOUTidle = 43200, no verification.
 */
import type { ConfOption, ConfProblem, ConfSection, StunnelConf } from './parse.js';

/** A value and where it was set; `file` and `line` are null for stunnel's default. */
export interface Setting<T> {
  value: T;
  file: string | null;
  line: number | null;
}

export const LOG_LEVEL_NAMES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;

export interface LogLevel {
  level: number;
  facility: string | null;
}

export interface ServiceSettings {
  name: string;
  file: string | null;
  line: number | null;
  client: Setting<boolean>;
  accept: Setting<string> | null;
  connect: Setting<string>[];
  caFile: Setting<string> | null;
  caPath: Setting<string> | null;
  crlFile: Setting<string> | null;
  crlPath: Setting<string> | null;
  checkHost: Setting<string>[];
  checkIP: Setting<string>[];
  checkEmail: Setting<string>[];
  verifyChain: Setting<boolean>;
  verifyPeer: Setting<boolean>;
  /** The obsolete `verify = 0..4`, when given. */
  verify: Setting<number> | null;
  timeoutBusy: Setting<number>;
  timeoutIdle: Setting<number>;
  timeoutClose: Setting<number>;
  timeoutConnect: Setting<number>;
  sslVersion: Setting<string> | null;
  sslVersionMin: Setting<string> | null;
  sslVersionMax: Setting<string> | null;
  ciphers: Setting<string> | null;
  ciphersuites: Setting<string> | null;
  cert: Setting<string> | null;
  key: Setting<string> | null;
  sni: Setting<string> | null;
  debug: Setting<LogLevel>;
  logId: Setting<string>;
}

export interface GlobalSettings {
  /** The level of process-level lines (`[ui]`, `[main]`), and the services' default. */
  debug: Setting<LogLevel>;
  output: Setting<string> | null;
  syslog: Setting<boolean> | null;
  foreground: Setting<string> | null;
  pid: Setting<string> | null;
}

export interface StunnelSettings {
  path: string;
  /** The files read (none when the configuration itself could not be read). */
  files: string[];
  digest: string;
  global: GlobalSettings;
  services: ServiceSettings[];
  /** The reader's problems and values that cannot be used, with file and line. */
  problems: ConfProblem[];
}

const def = <T>(value: T): Setting<T> => ({ value, file: null, line: null });

/** `[FACILITY.]LEVEL`: a name or a number 0-7, case ignored. */
export function parseLogLevel(v: string): LogLevel | null {
  const s = v.trim().toLowerCase();
  const dot = s.lastIndexOf('.');
  const facility = dot >= 0 ? s.slice(0, dot) : null;
  const lvl = dot >= 0 ? s.slice(dot + 1) : s;
  if (facility === '') return null;
  let level: number;
  if (/^[0-7]$/.test(lvl)) level = Number(lvl);
  else {
    level = (LOG_LEVEL_NAMES as readonly string[]).indexOf(lvl);
    if (level < 0) return null;
  }
  return { level, facility };
}

export function levelName(level: number): string {
  return LOG_LEVEL_NAMES[level] ?? String(level);
}

/** Where a setting was made, for messages: `file:line`, or `default`. */
export function where(s: Setting<unknown>): string {
  return s.file === null ? "stunnel's default" : `${s.file}:${s.line}`;
}

class Reader {
  constructor(private readonly problems: ConfProblem[]) {}

  private last(opts: ConfOption[], key: string): ConfOption | undefined {
    for (let i = opts.length - 1; i >= 0; i--) if (opts[i]!.key === key) return opts[i];
    return undefined;
  }

  str(opts: ConfOption[], key: string): Setting<string> | null {
    const o = this.last(opts, key);
    return o ? { value: o.value, file: o.file, line: o.line } : null;
  }

  all(opts: ConfOption[], key: string): Setting<string>[] {
    return opts.filter((o) => o.key === key).map((o) => ({ value: o.value, file: o.file, line: o.line }));
  }

  bool(opts: ConfOption[], key: string, dflt: boolean): Setting<boolean> {
    let out = def(dflt);
    for (const o of opts) {
      if (o.key !== key) continue;
      const v = o.value.toLowerCase();
      if (v === 'yes' || v === 'no') out = { value: v === 'yes', file: o.file, line: o.line };
      else this.problems.push({ file: o.file, line: o.line, message: `"${o.name} = ${o.value}": The argument needs to be either 'yes' or 'no'` });
    }
    return out;
  }

  int(opts: ConfOption[], key: string, dflt: number, max = Number.MAX_SAFE_INTEGER): Setting<number> {
    let out = def(dflt);
    for (const o of opts) {
      if (o.key !== key) continue;
      if (/^\d+$/.test(o.value) && Number(o.value) <= max) out = { value: Number(o.value), file: o.file, line: o.line };
      else this.problems.push({ file: o.file, line: o.line, message: `"${o.name} = ${o.value}": Illegal ${key === 'verify' ? 'verify level' : 'number'}` });
    }
    return out;
  }

  level(opts: ConfOption[], dflt: Setting<LogLevel>): Setting<LogLevel> {
    let out = dflt;
    for (const o of opts) {
      if (o.key !== 'debug') continue;
      const l = parseLogLevel(o.value);
      if (l) out = { value: l, file: o.file, line: o.line };
      else this.problems.push({ file: o.file, line: o.line, message: `"${o.name} = ${o.value}": Illegal debug level` });
    }
    return out;
  }
}

/** The settings of every service (global defaults applied), and the problems found on the way. */
export function settingsOf(conf: StunnelConf): StunnelSettings {
  const problems: ConfProblem[] = [...conf.problems];
  const r = new Reader(problems);
  const g = conf.global.options;
  const globalDebug = r.level(g, def({ level: 5, facility: 'daemon' }));
  const global: GlobalSettings = {
    debug: globalDebug,
    output: r.str(g, 'output'),
    syslog: g.some((o) => o.key === 'syslog') ? r.bool(g, 'syslog', true) : null,
    foreground: r.str(g, 'foreground'),
    pid: r.str(g, 'pid'),
  };
  // Bad values are reported once where they are written, not once per service that inherits them.
  validate(r, g, false);
  for (const s of conf.services) validate(r, s.options, true);
  const quiet = new Reader([]);
  const services = conf.services.map((s) => service(s, g, quiet));
  // In reading order: by file (as first read), then line.
  const order = (f: string) => {
    const i = conf.files.indexOf(f);
    return i < 0 ? conf.files.length : i;
  };
  problems.sort((a, b) => order(a.file) - order(b.file) || (a.line ?? 0) - (b.line ?? 0));
  return { path: conf.path, files: conf.files, digest: conf.digest, global, services, problems };
}

/** Reports the values of the service-level options we use that stunnel would refuse. */
function validate(r: Reader, o: ConfOption[], withDebug: boolean): void {
  if (o.some((v) => v.key === 'verify')) r.int(o, 'verify', 0, 4);
  for (const k of ['client', 'verifychain', 'verifypeer']) r.bool(o, k, false);
  for (const k of ['timeoutbusy', 'timeoutidle', 'timeoutclose', 'timeoutconnect']) r.int(o, k, 0);
  if (withDebug) r.level(o, def({ level: 5, facility: 'daemon' }));
}

function service(s: ConfSection, g: ConfOption[], q: Reader): ServiceSettings {
  // Defaults from the global section, then the section's own (last one wins).
  const opts = [...g, ...s.options];
  const verify = opts.some((v) => v.key === 'verify') ? q.int(opts, 'verify', 0, 4) : null;
  let verifyChain = q.bool(opts, 'verifychain', false);
  let verifyPeer = q.bool(opts, 'verifypeer', false);
  // The obsolete levels: 1 and 2 verify the chain (1 only if a certificate is sent), 3 chain and peer, 4 peer only.
  if (verify && verifyChain.file === null && verify.value >= 1 && verify.value <= 3) verifyChain = { ...verify, value: true };
  if (verify && verifyPeer.file === null && verify.value >= 3) verifyPeer = { ...verify, value: true };
  return {
    name: s.name!,
    file: s.file,
    line: s.line,
    client: q.bool(opts, 'client', false),
    accept: q.str(opts, 'accept'),
    connect: q.all(opts, 'connect'),
    caFile: q.str(opts, 'cafile'),
    caPath: q.str(opts, 'capath'),
    crlFile: q.str(opts, 'crlfile'),
    crlPath: q.str(opts, 'crlpath'),
    checkHost: q.all(opts, 'checkhost'),
    checkIP: q.all(opts, 'checkip'),
    checkEmail: q.all(opts, 'checkemail'),
    verifyChain,
    verifyPeer,
    verify,
    timeoutBusy: q.int(opts, 'timeoutbusy', 300),
    timeoutIdle: q.int(opts, 'timeoutidle', 43200),
    timeoutClose: q.int(opts, 'timeoutclose', 60),
    timeoutConnect: q.int(opts, 'timeoutconnect', 10),
    sslVersion: q.str(opts, 'sslversion'),
    sslVersionMin: q.str(opts, 'sslversionmin'),
    sslVersionMax: q.str(opts, 'sslversionmax'),
    ciphers: q.str(opts, 'ciphers'),
    ciphersuites: q.str(opts, 'ciphersuites'),
    cert: q.str(opts, 'cert'),
    key: q.str(opts, 'key') ?? q.str(opts, 'cert'),
    sni: q.str(opts, 'sni'),
    debug: q.level(opts, def({ level: 5, facility: 'daemon' })),
    logId: q.str(opts, 'logid') ?? def('sequential'),
  };
}
