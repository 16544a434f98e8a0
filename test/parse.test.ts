/**
 * The line grammar on real stunnel output: every line of every fixture fits a grammar; the same log with
 * CRLF endings, behind a syslog/journal header, or concatenated across formats gives the same events.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { newRecord, parseLine, DEFAULT_PARSE_OPTIONS, classifyId, formatTime } from '../src/parse/line.js';
import { scanFiles } from '../src/index.js';
import { eachParsedFixtureLine } from './helpers/fixture-lines.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const logs: string[] = [];
for (const d of readdirSync(FIXTURES, { withFileTypes: true })) {
  if (!d.isDirectory() || d.name === 'lib') continue;
  for (const f of readdirSync(join(FIXTURES, d.name))) {
    if (/\.(log|stderr)$/.test(f)) logs.push(join(FIXTURES, d.name, f));
  }
}
const all = () => true;
const parseAll = (path: string) => {
  const buf = readFileSync(path);
  const out: { ok: boolean; format: string; level: number; id: string; message: string }[] = [];
  const rec = newRecord();
  let s = 0;
  while (s < buf.length) {
    let nl = buf.indexOf(10, s);
    if (nl < 0) nl = buf.length;
    const ok = parseLine(buf, s, nl, rec, DEFAULT_PARSE_OPTIONS, all);
    out.push({ ok, format: rec.format, level: rec.level, id: rec.id, message: rec.message });
    s = nl + 1;
  }
  return out;
};
const brief = (events: { kind: string; reason: string; service: string | null; connection: string | null }[]) =>
  events.map((e) => `${e.kind}/${e.reason}/${e.service}/${e.connection}`);
const tmp = () => mkdtempSync(join(tmpdir(), 'sd-parse-'));

describe('line grammar on real stunnel output', () => {
  it('has fixture logs', () => expect(logs.length).toBeGreaterThan(10));

  it('parses every line of every fixture (in rsyslog\'s files, every line but rsyslogd\'s own)', () => {
    for (const path of logs) {
      const raw = readFileSync(path, 'latin1').split('\n');
      const bad = parseAll(path).map((l, i) => ({ ...l, raw: raw[i]! })).filter((l) => !l.ok && l.raw !== '');
      if (/\/rsyslog-[^/]+$/.test(path)) {
        expect(bad.map((l) => l.raw.includes('rsyslogd') && l.raw.includes('start')), path).toEqual([true]);
      } else expect(bad, path).toEqual([]);
    }
  });

  it('reads file-format lines at fixed positions', () => {
    const success = join(FIXTURES, 'success', 'd5.log');
    const first = parseAll(success)[0]!;
    expect(first).toMatchObject({ format: 'file', level: 5, id: 'ui' });
    expect(first.message).toMatch(/^stunnel 5\.68 on \S+ platform$/);
  });

  it('reads the error-mode stderr format of a failed start', () => {
    const stderr = logs.filter((p) => p.endsWith('.stderr'));
    expect(stderr.length).toBeGreaterThan(0);
    for (const p of stderr) {
      const lines = parseAll(p).filter((l) => l.format === 'stderr');
      expect(lines.length, p).toBeGreaterThan(0);
      expect(lines.some((l) => l.level === 3), p).toBe(true);
    }
  });

  it('classifies ids', () => {
    expect(classifyId('12')).toBe('connection');
    expect(classifyId('0_1')).toBe('connection');
    expect(classifyId('ui')).toBe('process');
    expect(classifyId('main')).toBe('process');
    expect(classifyId('per-day')).toBe('process');
    expect(classifyId('cron')).toBe('process');
    expect(classifyId('Abcdefghij0123456789XY')).toBe('connection');
  });

  it('gives the same events for CRLF line endings', async () => {
    for (const path of logs.filter((p) => p.endsWith('d5.log')).slice(0, 10)) {
      const crlf = join(tmp(), 'x.log');
      writeFileSync(crlf, readFileSync(path, 'latin1').replace(/\n/g, '\r\n'), 'latin1');
      const a = await scanFiles([path], { proxy: 'p' });
      const b = await scanFiles([crlf], { proxy: 'p' });
      expect(brief(b.events), path).toEqual(brief(a.events));
    }
  });

  it('gives the same events behind a journal header (journalctl -o short)', async () => {
    for (const path of logs.filter((p) => p.endsWith('d5.log')).slice(0, 10)) {
      const j = join(tmp(), 'journal.log');
      // journalctl prints the captured line after its own prefix; the stunnel line itself is unchanged.
      writeFileSync(j, readFileSync(path, 'latin1').split('\n').filter(Boolean)
        .map((l) => `Nov 22 06:26:04 host stunnel4[4242]: ${l}`).join('\n') + '\n', 'latin1');
      const a = await scanFiles([path], { proxy: 'p' });
      const b = await scanFiles([j], { proxy: 'p' });
      expect(brief(b.events), path).toEqual(brief(a.events));
    }
  });

  it('gives the same events, untimed, for syslog messages without their header (journalctl -o cat)', async () => {
    const path = join(FIXTURES, 'syslog', 'syslog-d7.log');
    const bare = join(tmp(), 'cat.log');
    const lines = readFileSync(path, 'latin1').split('\n').filter(Boolean);
    // The journal's MESSAGE of each real datagram: what follows `stunnel: `.
    const messages = lines.map((l) => l.replace(/^<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d stunnel: /, ''));
    expect(messages.every((m, i) => m !== lines[i] && m.startsWith('LOG'))).toBe(true);
    writeFileSync(bare, `${messages.join('\n')}\n`, 'latin1');
    const a = await scanFiles([path], { proxy: 'p' });
    const b = await scanFiles([bare], { proxy: 'p' });
    expect(a.events.length).toBeGreaterThan(2);
    expect(brief(b.events)).toEqual(brief(a.events));
    expect(b.events.every((e) => e.time === null)).toBe(true);
    expect(b.stats.lines).toEqual(a.stats.lines);
  });

  it('reads a stderr capture that mixes a failed start and a later run', async () => {
    const stderr = logs.filter((p) => p.endsWith('.stderr'))[0]!;
    const good = join(FIXTURES, 'success', 'd5.log');
    const mixed = join(tmp(), 'mixed.log');
    writeFileSync(mixed, Buffer.concat([readFileSync(stderr), readFileSync(good)]));
    const a = brief((await scanFiles([stderr], { proxy: 'p' })).events);
    const b = brief((await scanFiles([good], { proxy: 'p' })).events);
    const m = brief((await scanFiles([mixed], { proxy: 'p' })).events);
    expect(m).toEqual([...a, ...b]);
  });
});

describe('hostile input', () => {
  it('survives binary garbage, NUL bytes, invalid UTF-8 and a huge line, and still finds the real events', async () => {
    const path = existsSync(join(FIXTURES, 'unknown-ca', 'd5.log')) ? join(FIXTURES, 'unknown-ca', 'd5.log') : join(FIXTURES, 'success', 'd5.log');
    const real = readFileSync(path);
    const lines = real.toString('latin1').split('\n');
    const garbage = Buffer.from([0, 1, 2, 0xff, 0xfe, 0xc3, 0x28, 10, 0x80, 0x80, 0, 10]);
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x41);
    const parts: Buffer[] = [];
    lines.forEach((l, i) => {
      parts.push(Buffer.from(`${l}${i < lines.length - 1 ? '\n' : ''}`, 'latin1'));
      if (i === 3) parts.push(garbage, huge, Buffer.from('\n'));
    });
    const dir = tmp();
    const hostile = join(dir, 'hostile.log');
    writeFileSync(hostile, Buffer.concat(parts));
    const a = await scanFiles([path], { proxy: 'p' });
    const b = await scanFiles([hostile], { proxy: 'p' });
    expect(brief(b.events)).toEqual(brief(a.events));
    expect(b.stats.lines.invalid).toBeGreaterThanOrEqual(3);
  });

  it('refuses a line cut inside its id without reading into the next line (output file, syslog, journal without header)', () => {
    // Real lines (`LOGn[<id>]: ...`, an id of two characters or more), each cut right before the `]` closing its id and
    // followed in the buffer by the next real line, whose `]:` a search running past the cut would find.
    for (const [file, strip] of [['success/d5.log', false], ['syslog/syslog.log', false], ['syslog/syslog.log', true]] as const) {
      const lines = readFileSync(join(FIXTURES, file), 'latin1').split('\n').filter(Boolean);
      const i = lines.findIndex((l, k) => /LOG\d\[[^\]]{2,}\]: /.test(l) && k + 1 < lines.length);
      expect(i, file).toBeGreaterThanOrEqual(0);
      // strip: the header removed, as `journalctl -o cat` prints the message.
      const body = (l: string): string => (strip ? l.slice(l.indexOf('LOG')) : l);
      const line = body(lines[i]!);
      const next = body(lines[i + 1]!);
      const cut = line.slice(0, line.indexOf(']', line.search(/LOG\d\[/)));
      const buf = Buffer.from(`${cut}\n${next}\n`, 'latin1');
      const rec = newRecord();
      expect(parseLine(buf, 0, cut.length, rec, DEFAULT_PARSE_OPTIONS, all), `${file}: ${cut}`).toBe(false);
      expect(parseLine(buf, cut.length + 1, buf.length - 1, rec, DEFAULT_PARSE_OPTIONS, all), `${file}: ${next}`).toBe(true);
      expect(`${rec.id}]: ${rec.message}`, file).toBe(next.slice(next.search(/LOG\d\[/) + 5));
    }
  });

  it('never turns text forged inside a message into an event', async () => {
    // A certificate subject can hold `LOG3[99]: Configuration failed` (catalog section 5). Here the subject
    // of a real rejected-certificate line is replaced by such text; the forged part must stay in the detail.
    const path = join(FIXTURES, 'success', 'd5.log');
    const text = readFileSync(path, 'latin1');
    const forged = text.replace(/(Certificate accepted at depth=0: )(.*)/, '$1O=Lab, CN=x LOG3[ui]: Configuration failed');
    const f = join(tmp(), 'forged.log');
    writeFileSync(f, forged, 'latin1');
    const a = await scanFiles([path], { proxy: 'p' });
    const b = await scanFiles([f], { proxy: 'p' });
    expect(brief(b.events)).toEqual(brief(a.events));
  });
});

describe('UTF-8 text', () => {
  it('is decoded as UTF-8 in a chunk of ASCII lines (a real log, one service renamed to a non-ASCII name)', async () => {
    // The pipeline tests a whole chunk for bytes >= 0x80 once; this log's one non-ASCII name makes its chunk mixed.
    const path = join(FIXTURES, 'multi-service', 'd5.log');
    const text = readFileSync(path, 'utf8');
    expect(text).toContain('[svc-ok]');
    const f = join(tmp(), 'utf8.log');
    writeFileSync(f, text.replaceAll('[svc-ok]', '[svc-café→ok]'), 'utf8');
    const { events, stats } = await scanFiles([f], { proxy: 'p' });
    expect(events.filter((e) => e.kind === 'connection_closed').map((e) => e.service)).toEqual(['svc-café→ok']);
    expect(stats.lines.invalidUtf8).toBe(0);
  });

  it('is decoded as UTF-8 behind a syslog header too (rsyslogd\'s real file, one service renamed)', async () => {
    const text = readFileSync(join(FIXTURES, 'rsyslog', 'rsyslog-traditional-d5.log'), 'utf8');
    expect(text).toContain('[tls-client]');
    const f = join(tmp(), 'utf8-syslog.log');
    writeFileSync(f, text.replaceAll('[tls-client]', '[tls-clïent]'), 'utf8');
    const { events } = await scanFiles([f], { proxy: 'p' });
    expect(events.filter((e) => e.kind === 'connection_closed').map((e) => e.service)).toEqual(['tls-clïent']);
  });
});

describe('event times', () => {
  it('are formatted as Date does, for the log times of every fixture line and across minute, day and year ends', () => {
    const ref = (t: number) => new Date(t * 1000).toISOString().slice(0, 19);
    const times: number[] = [];
    eachParsedFixtureLine((rec) => {
      if (!Number.isNaN(rec.time)) times.push(rec.time);
    });
    expect(times.length).toBeGreaterThan(1000);
    // Consecutive seconds over the ends of a minute, an hour, a day, a (leap) year, and before 1970.
    for (const end of [Date.UTC(2026, 10, 22, 6, 37), Date.UTC(2026, 11, 31, 23, 59, 59), Date.UTC(2028, 1, 29, 23, 59, 59), 0]) {
      for (let d = -125; d <= 125; d++) times.push(end / 1000 + d);
    }
    // In order, backwards, shuffled (the memo sees every kind of step), and not whole seconds.
    let seed = 7;
    const shuffled = [...times].sort(() => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5);
    for (const t of [...times, ...[...times].reverse(), ...shuffled, 1.5, 59.999, -0.25, 1_764_000_000.5]) expect(formatTime(t), String(t)).toBe(ref(t));
    expect(formatTime(NaN)).toBeNull();
  });
});

describe('ISO stamps (rsyslog\'s file format, RFC 5424)', () => {
  it('give each line its own time, line after line, as Date.parse reads the stamp (its zone aside)', () => {
    const seen = new Set<number>();
    for (const f of ['rsyslog-iso-d7.log', 'rsyslog-rfc5424-d7.log', 'rsyslog-iso-d5.log', 'rsyslog-rfc5424-d5.log']) {
      const buf = readFileSync(join(FIXTURES, 'rsyslog', f));
      const rec = newRecord();
      let s = 0;
      let n = 0;
      while (s < buf.length) {
        let nl = buf.indexOf(10, s);
        if (nl < 0) nl = buf.length;
        const line = buf.toString('latin1', s, nl);
        if (parseLine(buf, s, nl, rec, DEFAULT_PARSE_OPTIONS, all) && rec.format === 'syslog') {
          const stamp = /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.exec(line)![0];
          expect(rec.time, `${f}: ${line}`).toBe(Date.parse(`${stamp}Z`) / 1000);
          seen.add(rec.time);
          n++;
        }
        s = nl + 1;
      }
      expect(n, f).toBeGreaterThan(10);
    }
    // The lines span several seconds (those of debug 7 within one file): a time kept from an earlier line would show.
    expect(seen.size).toBeGreaterThan(2);
  });
});

describe('syslog stamps without a year', () => {
  // The first line of a real syslog capture (fixtures/syslog/syslog.log: stunnel 5.68 writing to a syslog socket).
  const line = readFileSync(join(FIXTURES, 'syslog', 'syslog.log'), 'latin1').split('\n')[0]!;
  const month = /^(?:<\d+>)?([A-Z][a-z]{2}) /.exec(line)![1]!;
  const yearOf = (now: string, fixed?: number): number => {
    const rec = newRecord();
    const buf = Buffer.from(line, 'latin1');
    const opts = { ...DEFAULT_PARSE_OPTIONS, now: () => Date.parse(now), ...(fixed ? { syslogYear: fixed } : {}) };
    expect(parseLine(buf, 0, buf.length, rec, opts, all)).toBe(true);
    return new Date(rec.time * 1000).getUTCFullYear();
  };

  it('takes the year that puts the stamp nearest to now, never days ahead of it', () => {
    expect(month).toBe('Nov');
    expect(yearOf('2026-11-22T12:00:00Z')).toBe(2026);
    // A sidecar still running after New Year, or a November log read in the next spring: last year's November.
    expect(yearOf('2027-01-02T00:00:00Z')).toBe(2026);
    expect(yearOf('2027-05-01T00:00:00Z')).toBe(2026);
    // Read two weeks before that November: not a stamp in the future, the November before.
    expect(yearOf('2026-11-08T00:00:00Z')).toBe(2025);
    // A year given in the options wins.
    expect(yearOf('2027-01-02T00:00:00Z', 2020)).toBe(2020);
  });
});

describe('fatal_debug\'s INTERNAL ERROR line', () => {
  // stunnel cannot be made to abort on purpose: the line is built from the catalog's format string
  // (log.c:fatal_debug, `INTERNAL ERROR: %s at %s, line %d`), written raw to the output file and sent to syslog
  // at LOG_CRIT without `LOGn[id]: `. The syslog header is a real one (fixtures/syslog/syslog.log).
  const text = 'INTERNAL ERROR: Uninitialized TLS at log.c, line 263';
  const header = /^(<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d stunnel: )/.exec(readFileSync(join(FIXTURES, 'syslog', 'syslog.log'), 'latin1'))![1]!;

  it('is read in the output file and behind a syslog header, as a level-2 process line', () => {
    for (const [line, format] of [[text, 'file'], [`${header.replace(/^<\d+>/, '<26>')}${text}`, 'syslog']] as const) {
      const buf = Buffer.from(line, 'latin1');
      const rec = newRecord();
      expect(parseLine(buf, 0, buf.length, rec, DEFAULT_PARSE_OPTIONS, all), line).toBe(true);
      expect({ format: rec.format, level: rec.level, idClass: rec.idClass, message: rec.message }).toEqual({ format, level: 2, idClass: 'process', message: text });
    }
  });

  it('stops the run: proxy_stopped/internal_error, also from syslog', async () => {
    const dir = tmp();
    const log = readFileSync(join(FIXTURES, 'syslog', 'syslog.log'), 'latin1').split('\n').filter((l) => !/Terminated|Deallocat|exiting/.test(l));
    const f = join(dir, 'crashed.log');
    writeFileSync(f, `${[...log.filter(Boolean), `${header}${text}`].join('\n')}\n`, 'latin1');
    const { events } = await scanFiles([f]);
    expect(events.filter((e) => e.kind === 'proxy_stopped').map((e) => `${e.reason}/${e.severity}`)).toEqual(['internal_error/critical']);
  });
});
