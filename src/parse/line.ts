/**
 * The stunnel line grammar, read from bytes. stunnel writes three shapes (see the catalog, section 1):
 *   file:    `YYYY.MM.DD HH:MM:SS LOG<n>[<id>]: <text>`
 *   syslog:  `[<pri>]<timestamp> [host ]<ident>[<pid>]: LOG<n>[<id>]: <text>` (header optional)
 *   stderr:  `[<c>] <text>` (error mode of a failed start; `*` 0-2, `!` 3, `:` 4, `.` 5, ` ` 6-7)
 * and captures mix them (a journal carries stderr lines behind a syslog header). The fast paths look at
 * fixed byte positions; only lines that fit neither fast path go through one regular expression.
 */
import { isUtf8 } from 'node:buffer';

export type LineFormat = 'file' | 'syslog' | 'stderr';
export type IdClass = 'connection' | 'process' | 'none';

/** One parsed line. The parser reuses a single instance: copy what you keep. */
export interface LineRecord {
  format: LineFormat;
  level: number;
  /** The `[id]` text; '' for stderr lines. */
  id: string;
  idClass: IdClass;
  /** Log time in seconds (local wall time read as UTC; for durations and display), NaN when unknown. */
  time: number;
  /** The message text after the prefix, decoded (invalid UTF-8 replaced), CR stripped, bounded. */
  message: string;
  /** Byte offset of the line in its file. */
  offset: number;
  /** The message held bytes >= 0x80 that are not valid UTF-8. */
  invalidUtf8: boolean;
  /**
   * The process that wrote the line, when a syslog header names it (`stunnel[730]:`, added by the journal or
   * rsyslog): several stunnel processes logging to one syslog file reuse the same connection ids. '' otherwise.
   */
  origin: string;
}

export function newRecord(): LineRecord {
  return { format: 'file', level: 0, id: '', idClass: 'none', time: NaN, message: '', offset: 0, invalidUtf8: false, origin: '' };
}

const PROCESS_IDS = new Set([
  'ui', 'main', 'cron', 'per-day', 'per-second', 'per-minute', 'log', 'alloc', 'unconfigured', 'libwrap',
  'service', 'control server', 'control instance', 'internal',
]);

/** Connection ids: decimal (`12`), exec retries (`0_1`), stunnel 4 `pid:tid`, `logId = unique` (22 base62). */
export function classifyId(id: string): IdClass {
  if (id === '') return 'none';
  const c = id.charCodeAt(0);
  if (c >= 48 && c <= 57) return 'connection';
  if (PROCESS_IDS.has(id)) return 'process';
  if (id.length === 22 && /^[A-Za-z0-9]{22}$/.test(id)) return 'connection';
  return 'process';
}

const D0 = 48;

/** buf.toString('latin1', from, to) without its encoding dispatch (Buffer's own latin1Slice). */
const latin1: (b: Buffer, from: number, to: number) => string =
  typeof (Buffer.prototype as { latin1Slice?: unknown }).latin1Slice === 'function'
    ? (b, from, to) => (b as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(from, to)
    : (b, from, to) => b.toString('latin1', from, to);
function digits(b: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = b[at + i]! - D0;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

let lastStampKey = -1;
let lastStampTime = NaN;

/** `YYYY.MM.DD HH:MM:SS ` at `at`: seconds, or NaN when the bytes are not a stunnel timestamp. */
function fileStamp(b: Buffer, at: number): number {
  if (b[at + 4] !== 46 || b[at + 7] !== 46 || b[at + 10] !== 32 || b[at + 13] !== 58 || b[at + 16] !== 58) return NaN;
  const y = digits(b, at, 4), mo = digits(b, at + 5, 2), d = digits(b, at + 8, 2);
  const h = digits(b, at + 11, 2), mi = digits(b, at + 14, 2), s = digits(b, at + 17, 2);
  if (y < 0 || mo < 1 || d < 0 || h < 0 || mi < 0 || s < 0) return NaN;
  // Consecutive lines mostly share their second: Date.UTC only when it changes.
  const key = ((((y * 100 + mo) * 100 + d) * 100 + h) * 100 + mi) * 100 + s;
  if (key !== lastStampKey) {
    lastStampKey = key;
    lastStampTime = Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
  }
  return lastStampTime;
}

/**
 * The file-format header of the line buf[start, end) (end excludes the newline and any CR): the level when
 * `YYYY.MM.DD HH:MM:SS LOG<n>[` is there with a valid timestamp (exactly the lines `parseLine` reads
 * through its file fast path), else -1. Nothing is decoded or allocated.
 */
export function fileLevel(b: Buffer, start: number, end: number): number {
  if (end - start < 27 || b[start + 20] !== 76 || b[start + 21] !== 79 || b[start + 22] !== 71 || b[start + 24] !== 91) return -1;
  const level = b[start + 23]! - D0;
  if (level < 0 || level > 7) return -1;
  if (b[start + 4] !== 46 || b[start + 7] !== 46 || b[start + 10] !== 32 || b[start + 13] !== 58 || b[start + 16] !== 58) return -1;
  if (digits(b, start, 4) < 0 || digits(b, start + 5, 2) < 1 || digits(b, start + 8, 2) < 0 || digits(b, start + 11, 2) < 0 ||
    digits(b, start + 14, 2) < 0 || digits(b, start + 17, 2) < 0) return -1;
  return level;
}

/**
 * parseLine() for a line the caller has already read as file format: `fileLevel()` gave `level` >= 0, the id
 * ends at `close` (followed by `:`), the message is buf[ms, me) (cut to the bound, CR stripped) and some rule
 * needs the level. Fills exactly what parseLine would, without reading the header twice; an ASCII message and
 * its id come from one decoded string.
 */
export function fillFileLine(buf: Buffer, start: number, close: number, ms: number, me: number, level: number, rec: LineRecord): void {
  rec.format = 'file';
  rec.level = level;
  rec.time = fileStampOf(buf, start);
  let ascii = true;
  for (let i = ms; i < me; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  const idStart = start + 25;
  if (ascii) {
    // The id holds no `]` and the message is ASCII: latin1 is exact for both (as parseLine decodes them).
    const s = latin1(buf, idStart, me);
    const id = s.slice(0, close - idStart);
    rec.id = id;
    rec.idClass = classifyId(id);
    rec.message = s.slice(ms - idStart);
    rec.invalidUtf8 = false;
    return;
  }
  const id = latin1(buf, idStart, close);
  rec.id = id;
  rec.idClass = classifyId(id);
  decodeBounded(buf, ms, me, rec);
}

/** fileStamp() of a timestamp fileLevel() has checked. */
function fileStampOf(b: Buffer, at: number): number {
  const y = digits(b, at, 4), mo = digits(b, at + 5, 2), d = digits(b, at + 8, 2);
  const h = digits(b, at + 11, 2), mi = digits(b, at + 14, 2), s = digits(b, at + 17, 2);
  const key = ((((y * 100 + mo) * 100 + d) * 100 + h) * 100 + mi) * 100 + s;
  if (key !== lastStampKey) {
    lastStampKey = key;
    lastStampTime = Date.UTC(y, mo - 1, d, h, mi, s) / 1000;
  }
  return lastStampTime;
}

const STDERR_LEVEL: Record<number, number> = { 42: 2, 33: 3, 58: 4, 46: 5, 32: 6 }; // * ! : . ' '

export interface ParseOptions {
  /** Bytes of message text that patterns see at most (stunnel 5.68+ cuts at 1024). */
  maxMessageBytes: number;
  /**
   * Year for syslog timestamps that carry none (`Nov 22 05:29:51`). Unset: the year that puts the stamp nearest
   * to the current time without being more than two days ahead of it (a sidecar running across New Year, a log
   * of December read in January).
   */
  syslogYear?: number;
  /** The current time in milliseconds (default Date.now), for the syslog year. */
  now?: () => number;
}

export const DEFAULT_PARSE_OPTIONS: ParseOptions = { maxMessageBytes: 4096 };

const DAY_MS = 86_400_000;

/** Seconds of a syslog stamp without year (see ParseOptions.syslogYear). */
export function syslogSeconds(mon: number, day: number, h: number, mi: number, s: number, opts: ParseOptions): number {
  if (opts.syslogYear !== undefined) return Date.UTC(opts.syslogYear, mon, day, h, mi, s) / 1000;
  const now = (opts.now ?? Date.now)();
  const y = new Date(now).getUTCFullYear();
  let best = NaN;
  for (let year = y + 1; year >= y - 1; year--) {
    const t = Date.UTC(year, mon, day, h, mi, s);
    if (t - now > 2 * DAY_MS) continue;
    if (Number.isNaN(best) || Math.abs(t - now) < Math.abs(best - now)) best = t;
  }
  return best / 1000;
}

/**
 * Fills `rec` from the line buf[start, end) (end excludes the newline) and returns true, or returns false
 * when the line fits no stunnel grammar. Only reads the level and id before `wantLevel` says whether the
 * message is needed: when it returns false, the message is not decoded and `rec.message` is ''.
 */
export function parseLine(
  buf: Buffer,
  start: number,
  end: number,
  rec: LineRecord,
  opts: ParseOptions,
  wantLevel: (level: number) => boolean,
): boolean {
  if (end > start && buf[end - 1] === 13) end--; // CRLF
  const len = end - start;
  rec.origin = '';
  // File format: fixed positions.
  if (len >= 27 && buf[start + 20] === 76 && buf[start + 21] === 79 && buf[start + 22] === 71 && buf[start + 24] === 91) {
    const time = fileStamp(buf, start);
    const level = buf[start + 23]! - D0;
    if (!Number.isNaN(time) && level >= 0 && level <= 7) {
      return fillLog(buf, start + 25, end, rec, 'file', level, time, opts, wantLevel);
    }
  }
  // stderr (error mode): `[c] text`
  if (len >= 3 && buf[start] === 91 && buf[start + 2] === 93 && (len === 3 || buf[start + 3] === 32)) {
    const level = STDERR_LEVEL[buf[start + 1]!];
    if (level !== undefined) return fillStderr(buf, start + 4, end, rec, level, opts, wantLevel);
  }
  return parseSlow(buf, start, end, rec, opts, wantLevel);
}

function fillLog(
  buf: Buffer, idStart: number, end: number, rec: LineRecord, format: LineFormat, level: number, time: number,
  opts: ParseOptions, wantLevel: (level: number) => boolean,
): boolean {
  // `<id>]: text`: the id never holds `]`; forged prefixes inside the text come after it.
  const close = buf.indexOf(93, idStart);
  if (close < 0 || close >= end || buf[close + 1] !== 58) return false;
  rec.format = format;
  rec.level = level;
  rec.time = time;
  rec.id = latin1(buf, idStart, close);
  rec.idClass = classifyId(rec.id);
  if (!wantLevel(level)) {
    rec.message = '';
    rec.invalidUtf8 = false;
    return true;
  }
  const msgStart = buf[close + 2] === 32 ? close + 3 : close + 2;
  decodeMessage(buf, msgStart, end, rec, opts);
  return true;
}

function fillStderr(
  buf: Buffer, msgStart: number, end: number, rec: LineRecord, level: number, opts: ParseOptions,
  wantLevel: (level: number) => boolean,
): boolean {
  rec.format = 'stderr';
  rec.level = level;
  rec.time = NaN;
  rec.id = '';
  rec.idClass = 'none';
  if (!wantLevel(level)) {
    rec.message = '';
    rec.invalidUtf8 = false;
    return true;
  }
  decodeMessage(buf, Math.min(msgStart, end), end, rec, opts);
  return true;
}

function decodeMessage(buf: Buffer, from: number, end: number, rec: LineRecord, opts: ParseOptions): void {
  let to = end;
  if (to - from > opts.maxMessageBytes) to = from + opts.maxMessageBytes;
  decodeBounded(buf, from, to, rec);
}

/** The message buf[from, to) (already cut to the bound). */
function decodeBounded(buf: Buffer, from: number, to: number, rec: LineRecord): void {
  // ASCII is by far the common case: latin1 is exact for it and much cheaper than utf8 decoding.
  let ascii = true;
  for (let i = from; i < to; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    rec.message = latin1(buf, from, to);
    rec.invalidUtf8 = false;
    return;
  }
  const slice = buf.subarray(from, to);
  rec.invalidUtf8 = !isUtf8(slice);
  rec.message = slice.toString('utf8');
}


const MONTHS: Record<string, number> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};

/**
 * Everything else: a syslog or journal header before a `LOG<n>[id]: ` or `[c] ` body, or a file-format line
 * behind such a header. The header ends at the first `: ` that is followed by one of the bodies, so text
 * forged inside a message (`CN=LOG3[99]: ...`) can only ever land in the message.
 */
const SLOW = /^(?:<\d{1,3}>)?(?:(?<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)|(?<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\S*)?[^\n]*?(?:\[(?<pid>\d{1,10})\])?: (?=\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG[0-7]\[|LOG[0-7]\[|\[[*!:. ]\](?: |$)|INTERNAL ERROR: )/;

const INTERNAL_ERROR = 'INTERNAL ERROR: ';

function isInternalError(buf: Buffer, start: number, end: number): boolean {
  return end - start >= 16 && buf.toString('latin1', start, start + 16) === INTERNAL_ERROR;
}

/** log.c:fatal_debug's line (`INTERNAL ERROR: %s at %s, line %d`): level 2 (LOG_CRIT), no id. */
function fillInternalError(
  buf: Buffer, start: number, end: number, rec: LineRecord, format: LineFormat, time: number, opts: ParseOptions,
  wantLevel: (level: number) => boolean,
): void {
  rec.format = format;
  rec.level = 2;
  rec.time = time;
  rec.id = 'internal';
  rec.idClass = 'process';
  if (wantLevel(2)) decodeMessage(buf, start, end, rec, opts);
  else rec.message = '';
}

function parseSlow(
  buf: Buffer, start: number, end: number, rec: LineRecord, opts: ParseOptions,
  wantLevel: (level: number) => boolean,
): boolean {
  // Only a bounded head is searched for the header.
  const headEnd = Math.min(end, start + 512);
  const head = buf.toString('latin1', start, headEnd);
  const m = SLOW.exec(head);
  if (!m) {
    if (isInternalError(buf, start, end)) {
      // log.c:fatal_debug writes this raw line before abort().
      fillInternalError(buf, start, end, rec, 'file', NaN, opts, wantLevel);
      return true;
    }
    return false;
  }
  const body = start + m[0].length;
  let time = NaN;
  const g = m.groups!;
  rec.origin = g.pid ?? '';
  if (g.bsd) {
    const mon = MONTHS[g.bsd.slice(0, 3)];
    const day = Number(g.bsd.slice(4, 6).trim());
    const [h, mi, s] = g.bsd.slice(7).split(':').map(Number) as [number, number, number];
    if (mon !== undefined) time = syslogSeconds(mon, day, h, mi, s, opts);
  } else if (g.iso) {
    time = Date.parse(`${g.iso}Z`) / 1000;
  }
  if (isInternalError(buf, body, end)) {
    // fatal_debug's syslog(LOG_CRIT) copy: the raw text, without `LOGn[id]: `.
    fillInternalError(buf, body, end, rec, 'syslog', time, opts, wantLevel);
    return true;
  }
  if (buf[body] === 91) {
    const level = STDERR_LEVEL[buf[body + 1]!]!;
    fillStderr(buf, body + 4, end, rec, level, opts, wantLevel);
    return true;
  }
  if (buf[body + 4] === 46) {
    // A file-format line behind a header: its own timestamp wins.
    const ok = parseLine(buf, body, end, rec, opts, wantLevel) && rec.format === 'file';
    rec.origin = g.pid ?? '';
    return ok;
  }
  const level = buf[body + 3]! - D0;
  if (!fillLog(buf, body + 5, end, rec, 'syslog', level, time, opts, wantLevel)) return false;
  return true;
}

/** `YYYY-MM-DDTHH:MM:SS` for a log time in seconds, null when unknown. */
let lastT = NaN;
let lastS: string | null = null;
export function formatTime(t: number): string | null {
  if (Number.isNaN(t)) return null;
  if (t !== lastT) {
    lastT = t;
    lastS = new Date(t * 1000).toISOString().slice(0, 19);
  }
  return lastS;
}
