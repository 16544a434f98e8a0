/**
 * Config-aware diagnosis: what the stunnel configuration says and the log never does. Pure functions over
 * the settings of src/stunnel-conf/settings.ts (enrichEvent, confWarnings; the one look at the file system,
 * fileStateOnThisHost, is a parameter), and a small per-proxy holder
 * (StunnelConfAwareness) that the scan and the sidecar call where events leave the correlator.
 *
 *  - hostname mismatch: the names checkHost/checkIP/checkEmail expected (`expectedNames`, and the hint);
 *  - unknown issuer / self-signed: the hint names the service's CAfile/CApath, or says none is configured;
 *    revoked / CRL unavailable: its CRLfile/CRLpath;
 *  - a failed start for want of trusted CAs: the CAfile/CApath configured, and what that path is on this host;
 *  - a handshake timeout or idle timeout inferred at debug 5 (no explicit line) is compared with the
 *    configured TIMEOUTbusy / TIMEOUTidle: a connection that ended sooner cannot have timed out, so it is a
 *    peer disconnect (tls_handshake_failed/peer_disconnected) or a reset (connection_closed/reset);
 *  - config_warning/log_level_too_low when `debug` hides what the rules need (connections need 5, timeouts 6);
 *  - config_warning/stunnel_conf_unreadable for every problem reading the configuration (file and line).
 */
import { accessSync, constants, statSync } from 'node:fs';
import type {
  CertVerifyFailedEvent, ConfigFailedEvent, ConfigWarningEvent, ConnectionClosedEvent, DoctorEvent, TlsHandshakeFailedEvent,
} from '../events.js';
import { eventId } from '../tail/identity.js';
import { readStunnelConf } from './parse.js';
import { levelName, settingsOf, where, type ServiceSettings, type Setting, type StunnelSettings, type LogLevel } from './settings.js';

/** stunnel logs connections (`accepted connection`, `Connection closed`) and `Configuration successful` at 5. */
export const LEVEL_FOR_CONNECTIONS = 5;
/** TIMEOUTbusy/TIMEOUTidle expiry, peer resets during transfer and `TLS accepted` are logged at 6. */
export const LEVEL_FOR_TIMEOUTS = 6;
/** At most this many stunnel_conf_unreadable events per load (the first problems, in file order). */
export const MAX_PROBLEM_EVENTS = 20;
/** The `rule` of events decided or made by config-aware diagnosis. */
export const CONF_RULE = 'stunnel-conf';

export function findService(s: StunnelSettings, name: string | null): ServiceSettings | undefined {
  if (name === null) return undefined;
  return s.services.find((x) => x.name === name);
}

const list = (xs: Setting<string>[], opt: string): string[] => xs.map((x) => `${opt} at ${where(x)}`);

/**
 * The event with what the configuration adds; the same object when there is nothing to add. Never
 * changes kind; changes the reason only where the log alone could not tell (an inferred timeout that ended
 * before the configured timeout).
 */
export function enrichEvent(e: DoctorEvent, s: StunnelSettings, fileState: FileState = fileStateOnThisHost): DoctorEvent {
  switch (e.kind) {
    case 'cert_verify_failed':
      return enrichCert(e, s);
    case 'tls_handshake_failed':
      return e.reason === 'timeout' ? enrichBusy(e, s) : e;
    case 'connection_closed':
      return e.reason === 'idle_timeout' ? enrichIdle(e, s) : e;
    case 'config_failed':
      return e.reason === 'no_trusted_ca' ? enrichNoTrustedCa(e, s, fileState) : e;
    default:
      return e;
  }
}

function enrichCert(e: CertVerifyFailedEvent, s: StunnelSettings): DoctorEvent {
  const svc = findService(s, e.service);
  if (!svc) return e;
  if (e.reason === 'hostname_mismatch') {
    const names = [...svc.checkHost, ...svc.checkIP, ...svc.checkEmail].map((x) => x.value);
    if (names.length === 0) {
      return { ...e, hint: `${e.hint} [${svc.name}] has no checkHost, checkIP or checkEmail in ${s.path} now: was it changed since stunnel read it?` };
    }
    const how = [...list(svc.checkHost, 'checkHost'), ...list(svc.checkIP, 'checkIP'), ...list(svc.checkEmail, 'checkEmail')];
    const quoted = names.map((n) => `"${n}"`).join(' or ');
    return { ...e, expectedNames: names, hint: `${e.hint} [${svc.name}] expects ${quoted} (${how.join(', ')}).` };
  }
  if (e.reason === 'unknown_issuer' || e.reason === 'self_signed') {
    const trust = [
      ...(svc.caFile ? [`CAfile = ${svc.caFile.value} (${where(svc.caFile)})`] : []),
      ...(svc.caPath ? [`CApath = ${svc.caPath.value} (${where(svc.caPath)})`] : []),
    ];
    const said = trust.length
      ? `[${svc.name}] trusts only ${trust.join(' and ')}.`
      : `[${svc.name}] has no CAfile or CApath in ${s.path}: it trusts no CA.`;
    return { ...e, hint: `${e.hint} ${said}` };
  }
  if (e.reason === 'revoked' || e.reason === 'crl_unavailable') {
    const crl = [
      ...(svc.crlFile ? [`CRLfile = ${svc.crlFile.value} (${where(svc.crlFile)})`] : []),
      ...(svc.crlPath ? [`CRLpath = ${svc.crlPath.value} (${where(svc.crlPath)})`] : []),
    ];
    const said = crl.length
      ? `[${svc.name}] checks revocation with ${crl.join(' and ')}.`
      : `[${svc.name}] has no CRLfile or CRLpath in ${s.path} (revocation by OCSP, if any).`;
    return { ...e, hint: `${e.hint} ${said}` };
  }
  return e;
}

/** What a path is on this host, in a few words ('' when it looks usable), e.g. "does not exist on this host". */
export type FileState = (path: string, kind: 'file' | 'dir') => string;

export function fileStateOnThisHost(path: string, kind: 'file' | 'dir'): string {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'does not exist on this host' : `cannot be read here (${code ?? 'error'})`;
  }
  if (kind === 'file' && !st.isFile()) return 'is not a file';
  if (kind === 'dir' && !st.isDirectory()) return 'is not a directory';
  if (kind === 'file' && st.size === 0) return 'is empty';
  try {
    accessSync(path, constants.R_OK);
  } catch {
    return 'is not readable by this process';
  }
  return '';
}

/**
 * A verifying service without usable trust anchors: stunnel does not say which file, the configuration does,
 * and the sidecar next to stunnel can look at it (a scan on another host says what it sees there).
 */
function enrichNoTrustedCa(e: ConfigFailedEvent, s: StunnelSettings, fileState: FileState): DoctorEvent {
  const svc = findService(s, e.service);
  if (!svc) return e;
  const told = (opt: string, x: Setting<string>, kind: 'file' | 'dir'): string => {
    const state = fileState(x.value, kind);
    return `${opt} = ${x.value} (${where(x)})${state ? `: ${state}` : ''}`;
  };
  const trust = [
    ...(svc.caFile ? [told('CAfile', svc.caFile, 'file')] : []),
    ...(svc.caPath ? [told('CApath', svc.caPath, 'dir')] : []),
  ];
  const said = trust.length
    ? `[${svc.name}] ${trust.join('; ')}.`
    : `[${svc.name}] has no CAfile or CApath in ${s.path}: set one (verifyChain and verifyPeer need trust anchors).`;
  return { ...e, hint: `${e.hint} ${said}` };
}

/** A detail line of stunnel's own timeout message: then the log said it, the configuration only adds the value. */
const said = (e: DoctorEvent, what: string): boolean => e.detail.some((d) => d.includes(`${what} exceeded`));

function enrichBusy(e: TlsHandshakeFailedEvent, s: StunnelSettings): DoctorEvent {
  const svc = findService(s, e.service);
  if (!svc) return e;
  const t = svc.timeoutBusy;
  const d = e.durationSeconds;
  if (said(e, 'TIMEOUTbusy') || d === null) {
    return { ...e, timeoutSeconds: t.value, hint: `${e.hint} TIMEOUTbusy = ${t.value} s (${where(t)}).` };
  }
  // Log times have whole seconds: a connection that timed out after T seconds shows a duration >= T.
  if (d < t.value) {
    return {
      ...e,
      reason: 'peer_disconnected',
      rule: CONF_RULE,
      timeoutSeconds: t.value,
      hint: `The connection ended after ${d} s without a TLS handshake and without an error line, before TIMEOUTbusy = ${t.value} s (${where(t)}): not a timeout. The peer ${e.peer ?? '?'} closed or reset the connection before the handshake (a port probe, a health check, or a client that gave up). Debug 6 logs the cause.`,
    };
  }
  return {
    ...e,
    timeoutSeconds: t.value,
    hint: `${e.hint} The connection lasted ${d} s; TIMEOUTbusy = ${t.value} s (${where(t)}).`,
  };
}

function enrichIdle(e: ConnectionClosedEvent, s: StunnelSettings): DoctorEvent {
  const svc = findService(s, e.service);
  if (!svc) return e;
  const t = svc.timeoutIdle;
  const d = e.durationSeconds;
  if (said(e, 'TIMEOUTidle') || d === null) {
    return { ...e, timeoutSeconds: t.value, hint: `${e.hint} TIMEOUTidle = ${t.value} s (${where(t)}).` };
  }
  if (d < t.value) {
    return {
      ...e,
      reason: 'reset',
      rule: CONF_RULE,
      timeoutSeconds: t.value,
      hint: `stunnel reset the connection after ${d} s, before TIMEOUTidle = ${t.value} s (${where(t)}): not an idle timeout. The peer or the network reset it; debug 6 logs the socket error.`,
    };
  }
  return { ...e, timeoutSeconds: t.value, hint: `${e.hint} TIMEOUTidle = ${t.value} s (${where(t)}).` };
}

export interface WarningContext {
  proxy: string;
  /** The event that made stunnel load its configuration (proxy_started, config_reloaded), if any. */
  trigger?: DoctorEvent | null;
}

/** The config_warning events of one load of a proxy's stunnel configuration. */
export function confWarnings(s: StunnelSettings, ctx: WarningContext): ConfigWarningEvent[] {
  const out: ConfigWarningEvent[] = [];
  const fp = `${CONF_RULE}\0${s.path}\0${s.digest}\0${ctx.trigger?.id ?? 'load'}`;
  const time = ctx.trigger?.time ?? null;
  // The field order of the correlator's events.
  const warning = (
    reason: ConfigWarningEvent['reason'], severity: ConfigWarningEvent['severity'], service: string | null,
    detail: string[], hint: string, configFile: string | null, configLine: number | null,
  ): ConfigWarningEvent => ({
    id: eventId(ctx.proxy, fp, out.length), kind: 'config_warning', reason, severity, proxy: ctx.proxy, service,
    connection: null, time, detail, source: { file: s.path, offsets: [] }, hint, rule: CONF_RULE, configFile, configLine,
  });
  for (const p of s.problems.slice(0, MAX_PROBLEM_EVENTS)) {
    const at = p.line === null ? p.file : `${p.file}:${p.line}`;
    out.push(warning('stunnel_conf_unreadable', 'warning', null, [`${at}: ${p.message}`], p.line === null
      ? `stunnel-doctor cannot read the stunnel configuration ${p.file} (${p.message}): check the path given as stunnelConfig/--stunnel-conf and that this process may read it. Diagnosis goes on without it.`
      : `${at}: ${p.message}. stunnel refuses this at its next start or reload; fix the line. Config-aware hints may be incomplete until then.`,
    p.file, p.line));
  }
  if (s.problems.length > MAX_PROBLEM_EVENTS) {
    out[out.length - 1]!.detail.push(`... and ${s.problems.length - MAX_PROBLEM_EVENTS} more problems`);
  }
  const low = s.files.length > 0 ? logLevelWarning(s) : null;
  if (low) {
    out.push(warning('log_level_too_low', low.level < LEVEL_FOR_CONNECTIONS ? 'warning' : 'info', low.service, low.detail,
      low.hint, low.setting.file, low.setting.line));
  }
  return out;
}

interface LowLevel {
  level: number;
  service: string | null;
  setting: Setting<LogLevel>;
  detail: string[];
  hint: string;
}

/** The lowest `debug` of the configuration (global and per service), when it is below what the rules need. */
export function logLevelWarning(s: StunnelSettings): LowLevel | null {
  const scopes: { service: string | null; setting: Setting<LogLevel> }[] = [
    { service: null, setting: s.global.debug },
    ...s.services.map((x) => ({ service: x.name, setting: x.debug })),
  ];
  const below = scopes.filter((x) => x.setting.value.level < LEVEL_FOR_TIMEOUTS);
  if (below.length === 0) return null;
  let min = below[0]!;
  for (const b of below) if (b.setting.value.level < min.setting.value.level) min = b;
  const level = min.setting.value.level;
  const g = s.global.debug;
  // A service that inherits the global level is said once, with the global section.
  const own = below.filter((b) => b.service === null || b.setting.file !== g.file || b.setting.line !== g.line);
  const detail = own.map((b) => {
    const v = b.setting.value;
    const scope = b.service === null ? 'global (and every service without its own debug)' : `[${b.service}]`;
    return `${scope}: debug = ${v.level} (${levelName(v.level)}), ${where(b.setting)}`;
  });
  const fix = min.setting.file
    ? `Set debug = info (6) at ${min.setting.file}:${min.setting.line}.`
    : `Add debug = info (6) to the global section of ${s.path}.`;
  const hint = level < LEVEL_FOR_CONNECTIONS
    ? `At debug ${level} (${levelName(level)}) stunnel does not log connections or "Configuration successful" (level 5, notice): stunnel-doctor sees failures without their service, peer or duration, and no successful connections or starts. TIMEOUTbusy/TIMEOUTidle expiry needs level 6. ${fix}`
    : `At debug 5 (notice, stunnel's default) stunnel does not log TIMEOUTbusy/TIMEOUTidle expiry or peer resets during transfer (level 6, info): stunnel-doctor infers timeouts from what a connection lacks and checks them against the configured timeouts. ${fix}`;
  return { level, service: below.length === 1 ? min.service : null, setting: min.setting, detail, hint };
}

/** Reads and interprets a stunnel configuration (never throws). */
export function loadStunnelSettings(path: string): StunnelSettings {
  return settingsOf(readStunnelConf(path));
}

interface ProxyConf {
  path: string;
  settings: StunnelSettings | null;
  /** Digest whose warnings were last emitted. */
  warned: string | null;
  /** The last load was ours (start, SIGHUP), not stunnel's: the next run start with the same content does not warn again. */
  ours: boolean;
}

/**
 * Per proxy, the path and current settings of its stunnel configuration. process() is the one call where
 * events leave the correlator: it enriches them and, after a run start or reload, re-reads the
 * configuration and delivers its warnings right after the event.
 */
export class StunnelConfAwareness {
  private readonly byProxy = new Map<string, ProxyConf>();

  constructor(private readonly read: (path: string) => StunnelSettings = loadStunnelSettings) {}

  get size(): number {
    return this.byProxy.size;
  }

  has(proxy: string): boolean {
    return this.byProxy.has(proxy);
  }

  settings(proxy: string): StunnelSettings | null {
    return this.byProxy.get(proxy)?.settings ?? null;
  }

  /** Sets (or, with undefined, forgets) a proxy's configuration path; true when it changed. Does not read. */
  setPath(proxy: string, path: string | undefined): boolean {
    const cur = this.byProxy.get(proxy);
    if (!path) return this.byProxy.delete(proxy);
    if (cur?.path === path) return false;
    this.byProxy.set(proxy, { path, settings: null, warned: null, ours: false });
    return true;
  }

  forget(proxy: string): void {
    this.byProxy.delete(proxy);
  }

  /**
   * Our own load (at start, on SIGHUP): re-reads the configuration; its warnings are returned on the first
   * load and whenever the content changed since the last warning (`always` for every load).
   */
  load(proxy: string, always = false): ConfigWarningEvent[] {
    const p = this.byProxy.get(proxy);
    if (!p) return [];
    p.settings = this.read(p.path);
    if (!always && p.warned === p.settings.digest) return [];
    p.warned = p.settings.digest;
    p.ours = true;
    return confWarnings(p.settings, { proxy });
  }

  /** Enriches an event and delivers it, then (after a run start or reload) the warnings of the new load. */
  process(e: DoctorEvent, deliver: (e: DoctorEvent) => void): void {
    const p = this.byProxy.size === 0 ? undefined : this.byProxy.get(e.proxy);
    if (!p) {
      deliver(e);
      return;
    }
    if (e.kind === 'proxy_started' || e.kind === 'config_reloaded') {
      deliver(e);
      // stunnel loaded its configuration: so do we.
      const s = this.read(p.path);
      p.settings = s;
      const dup = p.ours && p.warned === s.digest;
      p.ours = false;
      if (dup) return;
      p.warned = s.digest;
      for (const w of confWarnings(s, { proxy: e.proxy, trigger: e })) deliver(w);
      return;
    }
    if (p.settings === null) p.settings = this.read(p.path);
    deliver(enrichEvent(e, p.settings));
  }
}
