/**
 * `scan --since/--until`: a window on log time.
 *
 * stunnel writes its file-log times as local wall time without a zone (`2026.11.22 06:37:01`), and events carry
 * them as such (`2026-11-22T06:37:01`). They are read in the local time zone of the machine running
 * stunnel-doctor (the `TZ` environment variable), which is right when it runs where stunnel runs. Bounds given
 * without a zone are local time too; bounds with a zone (`Z`, `+01:00`) are exact instants; relative bounds
 * (`30m`, `2h`, `1d`, `1h30m`) are that long before now. Both bounds are inclusive.
 *
 * Events without a log time (stderr captures: `[!] ...` lines carry none) cannot be placed: they are never
 * filtered out, and the report says so.
 */

export class TimeArgError extends Error {}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const DURATION = /^(?:\d+(?:\.\d+)?[smhdw])+$/;
// 2026-11-22, 2026-11-22T06:37, 2026-11-22 06:37:01.5, 2026-11-22T06:37:01+01:00, ...Z, and stunnel's own
// `2026.11.22 06:37:01` (pasted from a log line).
const ISO =
  /^(\d{4})([-.])(\d{2})\2(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Milliseconds since the epoch for a `--since`/`--until` value; `now` for relative durations. */
export function parseTimeArg(value: string, option: string, now: number = Date.now()): number {
  const v = value.trim();
  const fail = (why: string): never => {
    throw new TimeArgError(
      `invalid ${option} value '${value}': ${why}; give an ISO 8601 time (2026-11-22T06:37:01, local time unless it ` +
        `has a zone such as Z or +01:00) or a duration before now (30m, 2h, 1d, 1h30m)`,
    );
  };
  if (DURATION.test(v)) {
    let s = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) s += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    return now - s * 1000;
  }
  const m = ISO.exec(v);
  if (!m) return fail('not a time');
  const [, ys, , mos, ds, hs, mis, ss, frac, zone] = m;
  const y = Number(ys), mo = Number(mos), d = Number(ds);
  const h = Number(hs ?? 0), mi = Number(mis ?? 0), s = Number(ss ?? 0);
  const ms = frac ? Math.floor(Number(`0.${frac}`) * 1000) : 0;
  // Reject what Date would roll over (2026-02-30, 25:00).
  const check = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d ||
    check.getUTCHours() !== h || check.getUTCMinutes() !== mi || check.getUTCSeconds() !== s) {
    return fail('no such date or time');
  }
  if (!zone) return new Date(y, mo - 1, d, h, mi, s, ms).getTime();
  let offsetMin = 0;
  if (zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)!;
    const zh = Number(z[2]), zm = Number(z[3] ?? 0);
    if (zh > 23 || zm > 59) return fail('bad zone offset');
    offsetMin = (z[1] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMin * 60_000;
}

/** The minute (`YYYY-MM-DDTHH:MM`) logTimeMs last converted, and its start: events come in log order. */
let lastMinute = '';
let lastMinuteMs = NaN;

/**
 * An event's `time` (`YYYY-MM-DDTHH:MM:SS`, local wall time) as milliseconds since the epoch; NaN for null.
 * A local time is converted once per minute (a time zone lookup; a sidecar's backlog has one per event): within
 * a minute the offset from UTC does not change, as zones change it only on whole minutes.
 */
export function logTimeMs(t: string | null): number {
  if (t === null || t.length < 19) return NaN;
  const tens = t.charCodeAt(17) - 48;
  const ones = t.charCodeAt(18) - 48;
  if (tens < 0 || tens > 9 || ones < 0 || ones > 9) return NaN;
  if (lastMinute === '' || !t.startsWith(lastMinute)) {
    lastMinute = t.slice(0, 16);
    lastMinuteMs = new Date(
      Number(t.slice(0, 4)), Number(t.slice(5, 7)) - 1, Number(t.slice(8, 10)), Number(t.slice(11, 13)), Number(t.slice(14, 16)), 0,
    ).getTime();
  }
  return lastMinuteMs + (tens * 10 + ones) * 1000;
}

export type WindowVerdict = 'in' | 'before' | 'after' | 'untimed';

export class TimeWindow {
  constructor(
    readonly since: number | null,
    readonly until: number | null,
  ) {}

  static parse(o: { since?: string; until?: string }, now: number = Date.now()): TimeWindow {
    const since = o.since !== undefined ? parseTimeArg(o.since, '--since', now) : null;
    const until = o.until !== undefined ? parseTimeArg(o.until, '--until', now) : null;
    if (since !== null && until !== null && since > until) {
      throw new TimeArgError(`--since ${o.since} is after --until ${o.until}: nothing can match`);
    }
    return new TimeWindow(since, until);
  }

  get active(): boolean {
    return this.since !== null || this.until !== null;
  }

  /** Where an event's log time falls. Untimed events (stderr captures) are kept. */
  place(time: string | null): WindowVerdict {
    if (!this.active) return 'in';
    const t = logTimeMs(time);
    if (Number.isNaN(t)) return 'untimed';
    // Log times have whole seconds: an event at 06:37:01 is inside `--until 06:37:01.5`.
    if (this.since !== null && t + 999 < this.since) return 'before';
    if (this.until !== null && t > this.until) return 'after';
    return 'in';
  }

  /** `2026-11-22T06:37:01` in local time, for the report. */
  static local(ms: number): string {
    const d = new Date(ms);
    const p = (n: number): string => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  describe(): string {
    const parts: string[] = [];
    if (this.since !== null) parts.push(`since ${TimeWindow.local(this.since)}`);
    if (this.until !== null) parts.push(`until ${TimeWindow.local(this.until)}`);
    return parts.join(', ');
  }
}
