/**
 * The report `scan` prints after the events (or alone with `-q`): what broke, where, since when, how often and
 * what to do, grouped by proxy, then service, then kind/reason, the worst first; then a totals line.
 */
import { CONNECTION_KINDS, type DoctorEvent, type Severity } from '../events.js';
import type { ScanStats } from '../scan.js';
import { safeText } from './text.js';
import type { TimeWindow } from '../time-window.js';
import { CONF_RULE } from '../stunnel-conf/enrich.js';

const RANK: Record<Severity, number> = { critical: 3, error: 2, warning: 1, info: 0 };
const SGR: Record<Severity, string> = { critical: '1;31', error: '31', warning: '33', info: '2' };
/** Distinct values kept per field of a group (peers are only counted, up to a bound). */
const MAX_SHOWN = 3;
const MAX_COUNTED = 1000;

interface Group {
  kind: string;
  reason: string;
  severity: Severity;
  count: number;
  first: string | null;
  last: string | null;
  untimed: number;
  /** Where the untimed events came from: stderr captures, or the stunnel configuration (its warnings). */
  untimedFrom: Set<string>;
  hint: string;
  targets: Distinct;
  subjects: Distinct;
  peers: Distinct;
  configs: Distinct;
}

interface ServiceGroups {
  byKind: Map<string, Map<string, Group>>;
  list: Group[];
}

class Distinct {
  readonly shown: string[] = [];
  private readonly seen = new Set<string>();
  overflow = false;
  add(v: string | null | undefined): void {
    // Once over the bound nothing changes any more (a value is either seen or overflows again).
    if (this.overflow || v === null || v === undefined || v === '' || this.seen.has(v)) return;
    if (this.seen.size >= MAX_COUNTED) {
      this.overflow = true;
      return;
    }
    this.seen.add(v);
    if (this.shown.length < MAX_SHOWN) this.shown.push(v);
  }
  get size(): number {
    return this.seen.size;
  }
  list(noun: string): string | null {
    if (!this.size) return null;
    const more = this.size - this.shown.length;
    return `${noun} ${this.shown.join(', ')}${more > 0 ? ` and ${more}${this.overflow ? '+' : ''} more` : ''}`;
  }
}

interface Counted {
  severity: Severity;
  worstCount: number;
}

/** Orders by severity, then by the number of events at that severity (descending), then by name. */
function worse(a: Counted & { name: string }, b: Counted & { name: string }): number {
  return RANK[b.severity] - RANK[a.severity] || b.worstCount - a.worstCount || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export interface WindowCounts {
  before: number;
  after: number;
  untimed: number;
  untimedFrom: Set<string>;
}

/** Why an event has no log time: a stderr capture line (`[!] ...`), or a warning about the stunnel configuration. */
export function untimedOrigin(e: DoctorEvent): string {
  return e.rule === CONF_RULE ? 'stunnel.conf' : 'stderr';
}

/** Collects the events of a scan (only those inside the time window) into groups. Memory: one entry per group. */
export class Report {
  /** proxy → service ('' for process-level events) → its groups (kind → reason → group, and in order of creation) */
  private readonly proxies = new Map<string, Map<string, ServiceGroups>>();
  readonly window: WindowCounts = { before: 0, after: 0, untimed: 0, untimedFrom: new Set() };
  events = 0;
  failures = 0;

  add(e: DoctorEvent): void {
    this.events++;
    if (RANK[e.severity] >= RANK.error) this.failures++;
    let services = this.proxies.get(e.proxy);
    if (!services) this.proxies.set(e.proxy, (services = new Map()));
    const svc = e.service ?? '';
    let groups = services.get(svc);
    if (!groups) services.set(svc, (groups = { byKind: new Map(), list: [] }));
    let byReason = groups.byKind.get(e.kind);
    if (!byReason) groups.byKind.set(e.kind, (byReason = new Map()));
    let g = byReason.get(e.reason);
    if (!g) {
      g = {
        kind: e.kind, reason: e.reason, severity: e.severity, count: 0, first: null, last: null, untimed: 0, untimedFrom: new Set(), hint: e.hint,
        targets: new Distinct(), subjects: new Distinct(), peers: new Distinct(), configs: new Distinct(),
      };
      byReason.set(e.reason, g);
      groups.list.push(g);
    }
    g.count++;
    if (RANK[e.severity] > RANK[g.severity]) g.severity = e.severity;
    if (e.time === null) {
      g.untimed++;
      g.untimedFrom.add(untimedOrigin(e));
    } else {
      if (g.first === null || e.time < g.first) g.first = e.time;
      if (g.last === null || e.time >= g.last) {
        g.last = e.time;
        g.hint = e.hint;
      }
    }
    if (g.last === null) g.hint = e.hint;
    if ('target' in e) g.targets.add(e.target);
    if ('subject' in e) g.subjects.add(e.subject === null ? null : `${e.subject}${e.depth !== null ? ` (depth ${e.depth})` : ''}`);
    if ('peer' in e) g.peers.add(e.peer);
    if ('configFile' in e) g.configs.add(e.configFile === null ? null : `${e.configFile}${e.configLine !== null ? `:${e.configLine}` : ''}`);
  }

  /** The groups, worst first at every level. */
  sorted(): { proxy: string; severity: Severity; counts: Record<Severity, number>; services: { service: string; groups: Group[] }[] }[] {
    const out = [];
    for (const [proxy, services] of this.proxies) {
      const counts: Record<Severity, number> = { critical: 0, error: 0, warning: 0, info: 0 };
      const svcs = [];
      for (const [service, groups] of services) {
        const list = groups.list.map((g) => ({ ...g, name: `${g.kind}/${g.reason}`, worstCount: g.count }));
        list.sort(worse);
        let sev: Severity = 'info';
        let worstCount = 0;
        for (const g of list) {
          counts[g.severity] += g.count;
          if (RANK[g.severity] > RANK[sev]) {
            sev = g.severity;
            worstCount = 0;
          }
          if (g.severity === sev) worstCount += g.count;
        }
        // Process-level events ('' service) sort after services of the same standing.
        svcs.push({ service, groups: list, severity: sev, worstCount, name: service === '' ? '\uffff' : service });
      }
      svcs.sort(worse);
      const severity = svcs[0]!.severity;
      out.push({ proxy, severity, counts, services: svcs, worstCount: counts[severity], name: proxy });
    }
    out.sort(worse);
    return out;
  }
}

function paint(on: boolean, code: string, s: string): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

/** `since 2026-11-22T06:37:01, last 06:37:03` (the date of `last` only when it differs). */
function when(g: Group): string {
  const parts: string[] = [];
  if (g.first !== null && g.last !== null) {
    if (g.first === g.last) parts.push(`at ${g.first}`);
    else parts.push(`since ${g.first}, last ${g.last.slice(0, 10) === g.first.slice(0, 10) ? g.last.slice(11) : g.last}`);
  }
  const from = [...g.untimedFrom].sort().join(', ');
  if (g.untimed) parts.push(g.untimed === g.count ? `no log time (${from})` : `${g.untimed} without log time (${from})`);
  return parts.join('; ');
}

export function formatBytes(n: number): string {
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;

export interface ReportOptions {
  color: boolean;
  /** Wall time the scan took, in milliseconds. */
  elapsedMs: number;
  window?: TimeWindow;
}

export function formatReport(r: Report, stats: ScanStats, o: ReportOptions): string {
  const c = o.color;
  const out: string[] = [];
  const proxies = r.sorted();
  const failing = proxies.filter((p) => RANK[p.severity] >= RANK.error);
  out.push(paint(c, '1', '== stunnel-doctor report =='));
  if (!proxies.length) out.push(o.window?.active ? 'No events in the time window.' : 'No events.');
  else if (!failing.length) out.push(`No failures: ${plural(proxies.length, 'proxy').replace(/ys$/, 'ies')} seen.`);
  else {
    const names = failing.map((p) => `${p.proxy} (${p.severity})`).join(', ');
    out.push(`${plural(r.failures, 'failure')} in ${plural(failing.length, 'proxy').replace(/ys$/, 'ies')}, worst first: ${safeText(names)}`);
  }
  let width = 0;
  for (const p of proxies) for (const s of p.services) for (const g of s.groups) width = Math.max(width, g.kind.length + g.reason.length + 1);
  for (const p of proxies) {
    const n = p.counts;
    const tally = [
      n.critical ? `${n.critical} critical` : '', n.error ? plural(n.error, 'error') : '',
      n.warning ? plural(n.warning, 'warning') : '', n.info ? `${n.info} info` : '',
    ].filter(Boolean).join(', ');
    out.push('');
    out.push(`${paint(c, '1', `proxy ${safeText(p.proxy)}`)}: ${tally}`);
    for (const s of p.services) {
      // Connection events without a service: their `accepted connection` line was not read (before the log began).
      const unnamed = s.groups.some((g) => (CONNECTION_KINDS as readonly string[]).includes(g.kind))
        ? '(no service: the stunnel process, and connections that began before the log)'
        : '(stunnel process)';
      out.push(`  ${s.service === '' ? unnamed : `service [${safeText(s.service)}]`}`);
      for (const g of s.groups) {
        const name = `${g.kind}/${g.reason}`.padEnd(width);
        const head = `    ${g.severity.toUpperCase().padEnd(8)} ${name} ${`${g.count}x`.padStart(6)}  ${when(g)}`;
        out.push(g.severity === 'info' ? paint(c, '2', head) : paint(c, SGR[g.severity], head));
        if (g.severity === 'info') continue;
        const facts = [
          g.subjects.list('subject'), g.targets.list('target'), g.configs.list('config'),
          g.peers.size ? (g.peers.size === 1 ? `peer ${g.peers.shown[0]}` : `${g.peers.size}${g.peers.overflow ? '+' : ''} peers`) : null,
        ].filter((x): x is string => x !== null);
        if (facts.length) out.push(`             ${safeText(facts.join('; '))}`);
        if (g.hint) out.push(`             > ${safeText(g.hint)}`);
      }
    }
  }
  out.push('');
  if (o.window?.active) {
    const w = r.window;
    const left = [w.before ? `${w.before} before` : '', w.after ? `${w.after} after` : ''].filter(Boolean).join(', ');
    out.push(
      `Window ${o.window.describe()} (log times read as local time): ` +
        `${left ? `${left} it, not shown or counted` : 'no event outside it'}` +
        `${w.untimed ? `; ${plural(w.untimed, 'event')} without log time (${[...w.untimedFrom].sort().join(', ')}) kept` : ''}`,
    );
  }
  const l = stats.lines;
  const total = l.matched + l.unmatched + l.invalid;
  out.push(
    `${plural(stats.files, 'file')}, ${formatBytes(stats.bytes)}, ${plural(total, 'line')} (${l.matched} matched, ` +
      `${l.unmatched} unmatched, ${l.invalid} not stunnel lines${l.cut ? `, ${l.cut} cut` : ''}` +
      `${l.invalidUtf8 ? `, ${l.invalidUtf8} invalid UTF-8` : ''}), ${plural(r.events, 'event')}, ` +
      `${(o.elapsedMs / 1000).toFixed(2)} s`,
  );
  const dropped = Object.entries(stats.dropped).filter(([, v]) => v > 0);
  if (dropped.length) out.push(`Dropped correlation state: ${dropped.map(([k, v]) => `${v} ${k}`).join(', ')}`);
  return `${out.join('\n')}\n`;
}
