/**
 * The stunnel line grammar, read from bytes. stunnel writes three shapes (see the catalog, section 1):
 *   file:    `YYYY.MM.DD HH:MM:SS LOG<n>[<id>]: <text>`
 *   syslog:  `[<pri>]<timestamp> [host ]<ident>[<pid>]: LOG<n>[<id>]: <text>` (header optional: `journalctl -o cat`)
 *   stderr:  `[<c>] <text>` (error mode of a failed start; `*` 0-2, `!` 3, `:` 4, `.` 5, ` ` 6-7)
 * and captures mix them (a journal carries stderr lines behind a syslog header; rsyslog also writes RFC 5424).
 * Everything is read from the bytes: fixed positions for the file and stderr shapes, a byte scan for the syslog
 * header (syslogHeader, rfc5424Header); nothing is decoded before the level says a rule may want the line.
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
 * its id come from one decoded string. `knownAscii`: the caller knows buf holds no byte >= 0x80 (the message is not
 * scanned for one).
 */
export function fillFileLine(
  buf: Buffer, start: number, close: number, ms: number, me: number, level: number, rec: LineRecord, knownAscii = false,
): void {
  rec.format = 'file';
  rec.level = level;
  rec.time = fileStampOf(buf, start);
  const idStart = start + 25;
  if (knownAscii || asciiBytes(buf, ms, me)) {
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
  decodeUtf8(buf, ms, me, rec);
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
 * when the line fits no stunnel grammar. Reads the level before `wantLevel` says whether the line is needed:
 * when it returns false, neither id nor message is decoded (`rec.id` and `rec.message` are ''). `knownAscii`: the
 * caller knows buf holds no byte >= 0x80 (the message is not scanned for one before it is decoded).
 */
export function parseLine(
  buf: Buffer,
  start: number,
  end: number,
  rec: LineRecord,
  opts: ParseOptions,
  wantLevel: (level: number) => boolean,
  knownAscii = false,
): boolean {
  if (end > start && buf[end - 1] === 13) end--; // CRLF
  const len = end - start;
  rec.origin = '';
  // File format: fixed positions.
  if (len >= 27 && buf[start + 20] === 76 && buf[start + 21] === 79 && buf[start + 22] === 71 && buf[start + 24] === 91) {
    const time = fileStamp(buf, start);
    const level = buf[start + 23]! - D0;
    if (!Number.isNaN(time) && level >= 0 && level <= 7) {
      return fillLog(buf, start + 25, end, rec, 'file', level, time, opts, wantLevel, knownAscii);
    }
  }
  // stderr (error mode): `[c] text`
  if (len >= 3 && buf[start] === 91 && buf[start + 2] === 93 && (len === 3 || buf[start + 3] === 32)) {
    const level = STDERR_LEVEL[buf[start + 1]!];
    if (level !== undefined) return fillStderr(buf, start + 4, end, rec, level, opts, wantLevel, knownAscii);
  }
  return parseSlow(buf, start, end, rec, opts, wantLevel, knownAscii);
}

function fillLog(
  buf: Buffer, idStart: number, end: number, rec: LineRecord, format: LineFormat, level: number, time: number,
  opts: ParseOptions, wantLevel: (level: number) => boolean, knownAscii: boolean,
): boolean {
  // `<id>]: text`: the id never holds `]`; forged prefixes inside the text come after it. Ids are short: a loop
  // beats a native call per line (and stops at the line's end).
  let close = idStart;
  while (close < end && buf[close] !== 93) close++;
  if (close >= end || buf[close + 1] !== 58) return false;
  rec.format = format;
  rec.level = level;
  rec.time = time;
  if (!wantLevel(level)) {
    rec.id = '';
    rec.idClass = 'none';
    rec.message = '';
    rec.invalidUtf8 = false;
    return true;
  }
  rec.id = latin1(buf, idStart, close);
  rec.idClass = classifyId(rec.id);
  const msgStart = buf[close + 2] === 32 ? close + 3 : close + 2;
  decodeMessage(buf, msgStart, end, rec, opts, knownAscii);
  return true;
}

function fillStderr(
  buf: Buffer, msgStart: number, end: number, rec: LineRecord, level: number, opts: ParseOptions,
  wantLevel: (level: number) => boolean, knownAscii: boolean,
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
  decodeMessage(buf, Math.min(msgStart, end), end, rec, opts, knownAscii);
  return true;
}

function decodeMessage(buf: Buffer, from: number, end: number, rec: LineRecord, opts: ParseOptions, knownAscii: boolean): void {
  let to = end;
  if (to - from > opts.maxMessageBytes) to = from + opts.maxMessageBytes;
  decodeBounded(buf, from, to, rec, knownAscii);
}

/** buf[from, to) holds no byte >= 0x80. */
function asciiBytes(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i]! >= 0x80) return false;
  return true;
}

/** The message buf[from, to) (already cut to the bound); `knownAscii`: buf holds no byte >= 0x80. */
function decodeBounded(buf: Buffer, from: number, to: number, rec: LineRecord, knownAscii: boolean): void {
  // ASCII is by far the common case: latin1 is exact for it and much cheaper than utf8 decoding.
  if (knownAscii || asciiBytes(buf, from, to)) {
    rec.message = latin1(buf, from, to);
    rec.invalidUtf8 = false;
    return;
  }
  decodeUtf8(buf, from, to, rec);
}

/** A message with bytes >= 0x80: UTF-8, invalid sequences replaced (and said). */
function decodeUtf8(buf: Buffer, from: number, to: number, rec: LineRecord): void {
  const slice = buf.subarray(from, to);
  rec.invalidUtf8 = !isUtf8(slice);
  rec.message = slice.toString('utf8');
}


const MONTHS: Record<string, number> = {
  Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11,
};

/**
 * Everything else: a syslog or journal header before a `LOG<n>[id]: ` or `[c] ` body, or a file-format line
 * behind such a header. The header is, as this expression on the line's first 512 bytes would read it:
 *
 *   ^(?:<\d{1,3}>)?(?:(?<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)|(?<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\S*)?
 *   [^\n]*?(?:\[(?<pid>\d{1,10})\])?: (?=\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG[0-7]\[|LOG[0-7]\[|\[[*!:. ]\](?: |$)|INTERNAL ERROR: )
 *
 * It ends at the first `: ` followed by one of the bodies, so text forged inside a message (`CN=LOG3[99]: ...`)
 * can only ever land in the message. syslogHeader() reads it from the bytes, without decoding the line or running
 * the expression (test/parse-syslog-header.test.ts checks the two agree).
 */
export interface SyslogHeader {
  /** Offset of the body (just past the header's `: `), -1 when the line has no such header. */
  body: number;
  /** The pid's digits are buf[pidStart, pidEnd) (`stunnel[730]: `); -1 when there is none. */
  pidStart: number;
  pidEnd: number;
  /** The stamp: none, BSD (`Nov 22 05:29:51`, 15 bytes) or ISO (`2026-11-22T05:29:51`, 19 bytes), at `stampAt`. */
  stamp: 'none' | 'bsd' | 'iso';
  stampAt: number;
}

/** The bytes of the syslog head searched for the header (as many as the expression above is given). */
export const SYSLOG_HEAD_BYTES = 512;

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 48 && c <= 57;
const isUpper = (c: number | undefined): boolean => c !== undefined && c >= 65 && c <= 90;
const isLower = (c: number | undefined): boolean => c !== undefined && c >= 97 && c <= 122;
/** JavaScript's \s among the characters a latin1 decoding gives (U+0085 is not one). */
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || c === 0xa0;

/** `[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d` at `at`, within `end`. */
function bsdAt(b: Buffer, at: number, end: number): boolean {
  return at + 15 <= end && isUpper(b[at]) && isLower(b[at + 1]) && isLower(b[at + 2]) && b[at + 3] === 32 &&
    (b[at + 4] === 32 || isDigit(b[at + 4])) && isDigit(b[at + 5]) && b[at + 6] === 32 && isDigit(b[at + 7]) &&
    isDigit(b[at + 8]) && b[at + 9] === 58 && isDigit(b[at + 10]) && isDigit(b[at + 11]) && b[at + 12] === 58 &&
    isDigit(b[at + 13]) && isDigit(b[at + 14]);
}

/** `\d{4}D\d\dD\d\dM\d\d:\d\d:\d\d` at `at`, within `end`: a date with `D` (byte) between its parts, `M` before the time. */
function dateTimeAt(b: Buffer, at: number, end: number, dateSep: number, mid: number): boolean {
  if (at + 19 > end) return false;
  for (let i = 0; i < 19; i++) {
    const c = b[at + i]!;
    const want = i === 4 || i === 7 ? dateSep : i === 10 ? mid : i === 13 || i === 16 ? 58 : -1;
    if (want >= 0 ? c !== want : c < 48 || c > 57) return false;
  }
  return true;
}

/** `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d` at `at`, within `end`. */
function isoAt(b: Buffer, at: number, end: number): boolean {
  return dateTimeAt(b, at, end, 45, 84);
}

/** Whether one of the bodies starts at `at` (the lookahead of the expression, within the head's `end`). */
function bodyAt(b: Buffer, at: number, end: number): boolean {
  const c = b[at];
  if (c === 76) return at + 5 <= end && b[at + 1] === 79 && b[at + 2] === 71 && b[at + 3]! >= 48 && b[at + 3]! <= 55 && b[at + 4] === 91;
  if (c === 91) {
    if (at + 3 > end || b[at + 2] !== 93) return false;
    const k = b[at + 1];
    if (k !== 42 && k !== 33 && k !== 58 && k !== 46 && k !== 32) return false;
    return at + 3 === end || b[at + 3] === 32;
  }
  if (c === 73) return isInternalError(b, at, end);
  if (isDigit(c)) {
    // `\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG[0-7]\[`
    if (at + 25 > end || !dateTimeAt(b, at, end, 46, 32)) return false;
    return b[at + 19] === 32 && b[at + 20] === 76 && b[at + 21] === 79 && b[at + 22] === 71 && b[at + 23]! >= 48 &&
      b[at + 23]! <= 55 && b[at + 24] === 91;
  }
  return false;
}

/** A valid header end `: ` at p (within the head): its pid, if `[digits]` ends right before it (from `from` on). */
function headerEndAt(b: Buffer, p: number, end: number, from: number, out: SyslogHeader): boolean {
  if (b[p] !== 58 || p + 1 >= end || b[p + 1] !== 32 || !bodyAt(b, p + 2, end)) return false;
  out.body = p + 2;
  out.pidStart = out.pidEnd = -1;
  if (b[p - 1] === 93) {
    let i = p - 2;
    while (i >= from && i > p - 12 && isDigit(b[i])) i--;
    if (i >= from && b[i] === 91 && i < p - 2) {
      out.pidStart = i + 1;
      out.pidEnd = p - 1;
    }
  }
  return true;
}

/** Reads the syslog header of buf[start, end) into `out` (see SyslogHeader); returns out.body >= 0. */
export function syslogHeader(b: Buffer, start: number, end: number, out: SyslogHeader): boolean {
  const head = Math.min(end, start + SYSLOG_HEAD_BYTES);
  out.body = out.pidStart = out.pidEnd = -1;
  out.stamp = 'none';
  let at = start;
  if (b[at] === 60) {
    let i = at + 1;
    while (i < head && i < at + 4 && isDigit(b[i])) i++;
    if (i > at + 1 && b[i] === 62 && i < head) at = i + 1;
  }
  out.stampAt = at;
  let from = at;
  /** ISO: the end of its `\S*` run (the expression gives it back only to end the header on its last byte). */
  let run = -1;
  if (bsdAt(b, at, head)) {
    out.stamp = 'bsd';
    from = at + 15;
  } else if (isoAt(b, at, head)) {
    out.stamp = 'iso';
    run = at + 19;
    while (run < head && !isSpace(b[run]!)) run++;
    from = run;
  }
  for (let p = from; p + 1 < head; p++) {
    if (b[p] === 58 && headerEndAt(b, p, head, from, out)) return true;
  }
  // Backtracking into the ISO stamp's `\S*`: its last byte may be the header's `:` (no pid then).
  if (run > at + 19 && headerEndAt(b, run - 1, head, run - 1, out)) {
    out.pidStart = out.pidEnd = -1;
    return true;
  }
  out.body = -1;
  out.stamp = 'none';
  return false;
}

const INTERNAL_ERROR = 'INTERNAL ERROR: ';
const INTERNAL_ERROR_BYTES = Buffer.from(INTERNAL_ERROR, 'latin1');

function isInternalError(buf: Buffer, start: number, end: number): boolean {
  if (end - start < 16) return false;
  for (let i = 0; i < 16; i++) if (buf[start + i] !== INTERNAL_ERROR_BYTES[i]) return false;
  return true;
}

/** log.c:fatal_debug's line (`INTERNAL ERROR: %s at %s, line %d`): level 2 (LOG_CRIT), no id. */
function fillInternalError(
  buf: Buffer, start: number, end: number, rec: LineRecord, format: LineFormat, time: number, opts: ParseOptions,
  wantLevel: (level: number) => boolean, knownAscii: boolean,
): void {
  rec.format = format;
  rec.level = 2;
  rec.time = time;
  rec.id = 'internal';
  rec.idClass = 'process';
  if (wantLevel(2)) decodeMessage(buf, start, end, rec, opts, knownAscii);
  else rec.message = '';
}

/** The space ending the token at `from` (one or more non-space bytes, then a space); -1 when there is none. */
function tokenEnd(b: Buffer, from: number, end: number): number {
  let i = from;
  while (i < end && b[i] !== 32) i++;
  return i > from && i < end ? i : -1;
}

/**
 * An RFC 5424 header (`<29>1 2026-12-03T08:51:23.528861+00:00 host stunnel 730 - - LOG5[0]: ...`, rsyslog's
 * RSYSLOG_SyslogProtocol23Format): PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA, then the
 * message, whose leading spaces (rsyslog keeps the one after the legacy tag's colon) and UTF-8 BOM are skipped. A
 * numeric PROCID is the pid. Filled into `out` as syslogHeader() does; false when the message is not stunnel's.
 */
export function rfc5424Header(b: Buffer, start: number, end: number, out: SyslogHeader): boolean {
  out.body = out.pidStart = out.pidEnd = -1;
  out.stamp = 'none';
  if (b[start] !== 60) return false;
  let at = start + 1;
  while (at < end && at < start + 4 && isDigit(b[at])) at++;
  if (at === start + 1 || b[at] !== 62) return false;
  // VERSION: a digit not 0, up to two more.
  at++;
  const v = at;
  if (!isDigit(b[at]) || b[at] === 48) return false;
  while (at < end && at < v + 3 && isDigit(b[at])) at++;
  if (b[at] !== 32) return false;
  at++;
  // TIMESTAMP: `-`, or a date-time (its first 19 bytes are the wall time, as in `-o short-iso`).
  const stampAt = at;
  const iso = isoAt(b, at, end);
  if (!iso && !(b[at] === 45 && b[at + 1] === 32)) return false;
  let e = tokenEnd(b, at, end);
  if (e < 0) return false;
  // HOSTNAME, APP-NAME, PROCID, MSGID.
  let pidStart = -1;
  let pidEnd = -1;
  for (let field = 0; field < 4; field++) {
    const from = e + 1;
    e = tokenEnd(b, from, end);
    if (e < 0) return false;
    if (field === 2 && e - from <= 10) {
      let digitsOnly = true;
      for (let i = from; i < e; i++) if (!isDigit(b[i])) digitsOnly = false;
      if (digitsOnly) {
        pidStart = from;
        pidEnd = e;
      }
    }
  }
  // STRUCTURED-DATA: `-`, or `[...]` elements whose quoted values may hold `\]` and `]`.
  at = e + 1;
  if (b[at] === 45) at++;
  else {
    if (b[at] !== 91) return false;
    while (b[at] === 91) {
      let quoted = false;
      at++;
      for (; at < end; at++) {
        const c = b[at];
        if (quoted) {
          if (c === 92) at++;
          else if (c === 34) quoted = false;
        } else if (c === 34) quoted = true;
        else if (c === 93) break;
      }
      if (at >= end) return false;
      at++;
    }
  }
  // The message: after the separating space, rsyslog's leading space and a UTF-8 BOM.
  while (at < end && b[at] === 32) at++;
  if (b[at] === 0xef && b[at + 1] === 0xbb && b[at + 2] === 0xbf) at += 3;
  if (!bodyAt(b, at, end)) return false;
  out.body = at;
  out.pidStart = pidStart;
  out.pidEnd = pidEnd;
  out.stamp = iso ? 'iso' : 'none';
  out.stampAt = stampAt;
  return true;
}

const header: SyslogHeader = { body: -1, pidStart: -1, pidEnd: -1, stamp: 'none', stampAt: 0 };

function parseSlow(
  buf: Buffer, start: number, end: number, rec: LineRecord, opts: ParseOptions,
  wantLevel: (level: number) => boolean, knownAscii: boolean,
): boolean {
  const h = header;
  if (!syslogHeader(buf, start, end, h) && !rfc5424Header(buf, start, end, h)) {
    if (isInternalError(buf, start, end)) {
      // log.c:fatal_debug writes this raw line before abort().
      fillInternalError(buf, start, end, rec, 'file', NaN, opts, wantLevel, knownAscii);
      return true;
    }
    // A syslog message without its header: `LOG5[3]: text`, as `journalctl -o cat` prints the journal's MESSAGE
    // (no log time then).
    if (buf[start] === 76 && bodyAt(buf, start, end)) {
      return fillLog(buf, start + 5, end, rec, 'syslog', buf[start + 3]! - D0, NaN, opts, wantLevel, knownAscii);
    }
    return false;
  }
  const body = h.body;
  const origin = h.pidStart < 0 ? '' : pidOf(buf, h.pidStart, h.pidEnd);
  rec.origin = origin;
  let time = NaN;
  if (h.stamp === 'bsd') time = bsdSeconds(buf, h.stampAt, opts);
  else if (h.stamp === 'iso') time = isoSeconds(buf, h.stampAt);
  if (isInternalError(buf, body, end)) {
    // fatal_debug's syslog(LOG_CRIT) copy: the raw text, without `LOGn[id]: `.
    fillInternalError(buf, body, end, rec, 'syslog', time, opts, wantLevel, knownAscii);
    return true;
  }
  if (buf[body] === 91) {
    const level = STDERR_LEVEL[buf[body + 1]!]!;
    fillStderr(buf, body + 4, end, rec, level, opts, wantLevel, knownAscii);
    return true;
  }
  if (buf[body + 4] === 46) {
    // A file-format line behind a header: its own timestamp wins.
    const ok = parseLine(buf, body, end, rec, opts, wantLevel, knownAscii) && rec.format === 'file';
    rec.origin = origin;
    return ok;
  }
  const level = buf[body + 3]! - D0;
  if (!fillLog(buf, body + 5, end, rec, 'syslog', level, time, opts, wantLevel, knownAscii)) return false;
  return true;
}

/**
 * The time of the ISO stamp at `at` (`YYYY-MM-DDTHH:MM:SS`, checked by isoAt) read as UTC, as Date.parse gives it. Lines of
 * one second share it: the stamp is decoded and parsed when its digits change (its 14 digits are one exact number).
 */
let lastIsoKey = -1;
let lastIsoTime = NaN;
function isoSeconds(b: Buffer, at: number): number {
  const key = ((((digits(b, at, 4) * 100 + digits(b, at + 5, 2)) * 100 + digits(b, at + 8, 2)) * 100 + digits(b, at + 11, 2)) * 100 +
    digits(b, at + 14, 2)) * 100 + digits(b, at + 17, 2);
  if (key !== lastIsoKey) {
    lastIsoKey = key;
    lastIsoTime = Date.parse(`${latin1(b, at, at + 19)}Z`) / 1000;
  }
  return lastIsoTime;
}

/** The pid of a header as a string; the same pid as the line before gives the same string (no decoding). */
let lastPid = '';
let lastPidBytes = -1;
function pidOf(b: Buffer, from: number, to: number): string {
  // Up to 10 digits: their value (< 2^34) names them exactly.
  const v = to - from > 10 ? -1 : digits(b, from, to - from) * 16 + (to - from);
  if (v >= 0 && v === lastPidBytes) return lastPid;
  lastPidBytes = v;
  lastPid = latin1(b, from, to);
  return lastPid;
}

const MONTH_BY_KEY = new Map<number, number>(
  Object.entries(MONTHS).map(([name, m]) => [name.charCodeAt(0) * 65536 + name.charCodeAt(1) * 256 + name.charCodeAt(2), m]),
);

/**
 * syslogSeconds() of the BSD stamp at `at` (NaN for a month name that is none). Lines of one second share it: the
 * stamp is converted, and the clock read for its year, when the stamp (or the options) change.
 */
let lastBsdKey = -1;
let lastBsdOpts: ParseOptions | null = null;
let lastBsdTime = NaN;
function bsdSeconds(b: Buffer, at: number, opts: ParseOptions): number {
  const m = b[at]! * 65536 + b[at + 1]! * 256 + b[at + 2]!;
  const day = (b[at + 4] === 32 ? 0 : b[at + 4]! - D0) * 10 + b[at + 5]! - D0;
  const h = digits(b, at + 7, 2), mi = digits(b, at + 10, 2), s = digits(b, at + 13, 2);
  // Month bytes (24 bits) and the rest (< 2^25) in one exact number.
  const key = m * 2 ** 25 + (((day * 24 + h) * 60 + mi) * 60 + s);
  if (key !== lastBsdKey || opts !== lastBsdOpts) {
    lastBsdKey = key;
    lastBsdOpts = opts;
    const mon = MONTH_BY_KEY.get(m);
    lastBsdTime = mon === undefined ? NaN : syslogSeconds(mon, day, h, mi, s, opts);
  }
  return lastBsdTime;
}

/**
 * `YYYY-MM-DDTHH:MM:SS` for a log time in seconds, null when unknown. Called for every event: the date is formatted
 * once per minute of log time, the seconds appended (1M debug-5 lines: 223k events, 56k distinct seconds).
 */
let lastT = NaN;
let lastS: string | null = null;
let lastMinute = NaN;
let minuteHead = '';
export function formatTime(t: number): string | null {
  if (Number.isNaN(t)) return null;
  if (t !== lastT) {
    lastT = t;
    const minute = Math.floor(t / 60);
    const sec = t - minute * 60;
    if (!Number.isInteger(sec)) return (lastS = new Date(t * 1000).toISOString().slice(0, 19));
    if (minute !== lastMinute) {
      lastMinute = minute;
      minuteHead = new Date(minute * 60_000).toISOString().slice(0, 17);
    }
    lastS = sec < 10 ? `${minuteHead}0${sec}` : `${minuteHead}${sec}`;
  }
  return lastS;
}
