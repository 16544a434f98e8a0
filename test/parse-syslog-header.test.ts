/**
 * The syslog header is read from the bytes (src/parse/line.ts, syslogHeader) as the regular expression of its
 * comment reads it on the line's first 512 bytes decoded as latin1: the same end of header, pid and stamp. The
 * expression is the oracle here, run on every real line of fixtures/ put behind the headers syslog daemons and
 * the journal write, and on seeded variants of them that a hostile or odd log may hold (forged bodies, brackets,
 * colons, non-ASCII bytes, stamps glued to text, a header across the 512th byte). RFC 5424 lines, which that
 * expression does not read, are checked on what Debian's rsyslogd wrote (fixtures/rsyslog).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { rfc5424Header, syslogHeader, SYSLOG_HEAD_BYTES, type SyslogHeader } from '../src/parse/line.js';

const ORACLE = /^(?:<\d{1,3}>)?(?:(?<bsd>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)|(?<iso>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\S*)?[^\n]*?(?:\[(?<pid>\d{1,10})\])?: (?=\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG[0-7]\[|LOG[0-7]\[|\[[*!:. ]\](?: |$)|INTERNAL ERROR: )/;

interface Read { body: number; pid: string | null; stamp: string | null }

function byOracle(line: Buffer): Read | null {
  const head = line.toString('latin1', 0, Math.min(line.length, SYSLOG_HEAD_BYTES));
  const m = ORACLE.exec(head);
  if (!m) return null;
  const g = m.groups!;
  return { body: m[0].length, pid: g.pid ?? null, stamp: g.bsd ?? g.iso ?? null };
}

const out: SyslogHeader = { body: -1, pidStart: -1, pidEnd: -1, stamp: 'none', stampAt: 0 };
function byBytes(line: Buffer): Read | null {
  // Inside a bigger buffer, as the pipeline reads it: nothing may be read past the line.
  const buf = Buffer.concat([Buffer.from('x: LOG5[1]: before\n'), line, Buffer.from('\n: LOG5[2]: [!] 2026.11.22 after')]);
  const start = 19;
  if (!syslogHeader(buf, start, start + line.length, out)) return null;
  const stampLen = out.stamp === 'bsd' ? 15 : out.stamp === 'iso' ? 19 : 0;
  return {
    body: out.body - start,
    pid: out.pidStart < 0 ? null : buf.toString('latin1', out.pidStart, out.pidEnd),
    stamp: stampLen ? buf.toString('latin1', out.stampAt, out.stampAt + stampLen) : null,
  };
}

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const realLines = readdirSync(FIXTURES)
  .filter((d) => statSync(join(FIXTURES, d)).isDirectory())
  .flatMap((d) => readdirSync(join(FIXTURES, d)).filter((f) => /\.(log|stderr)$/.test(f)).map((f) => join(FIXTURES, d, f)))
  .flatMap((f) => readFileSync(f, 'latin1').split('\n').filter(Boolean));

/** A real line's body (what follows a daemon's header): the output file's `LOGn[id]: text` or a stderr line. */
const bodyOf = (l: string) => l.replace(/^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d (?=LOG)/, '').replace(/^<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d stunnel: /, '');

/** The headers syslog daemons and the journal put before stunnel's text. */
const HEADERS = [
  '<29>Nov 22 06:37:45 stunnel: ',
  'Nov 22 06:37:45 gw stunnel[730]: ',
  'Nov  2 06:37:45 gw stunnel4[1044]: ',
  '2026-11-22T06:37:45+01:00 gw stunnel[730]: ',
  '2026-11-22T06:37:45.123456+0100 gw stunnel[730]: ',
  '<30>2026-11-22T06:37:45Z stunnel[7]: ',
  'gw stunnel[730]: ',
  '',
];

/** Seeded xorshift32. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const PIECES = [
  ': ', ':', '[', ']', '[123]', '[12345678901]', '[]', 'stunnel[730]: ', 'LOG3[99]: ', 'LOG8[1]', ': LOG5[', ': [!] ', ': [!]',
  ': [x] ', 'INTERNAL ERROR: ', ': INTERNAL ERROR: ', ': 2026.11.22 06:37:45 LOG5[3]: ', '2026-11-22T06:37:45', 'Nov 22 06:37:45',
  '<29>', '\t', '\u00a0', '\u0085', '\u00ff', ' ', '5', 'x',
];

function variants(base: string, r: () => number): string[] {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const outList: string[] = [];
  for (let k = 0; k < 3; k++) {
    let s = base;
    const edits = 1 + Math.floor(r() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(r() * (s.length + 1));
      const what = r();
      if (what < 0.7) s = s.slice(0, at) + pick(PIECES) + s.slice(at);
      else if (what < 0.85) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 4));
      else s = s.slice(0, at);
    }
    outList.push(s);
  }
  return outList;
}

describe('syslog header from bytes', () => {
  it('reads every real line behind every daemon header as the expression does', () => {
    expect(realLines.length).toBeGreaterThan(5000);
    let found = 0;
    let withPid = 0;
    const bodies = [...new Set(realLines.map(bodyOf))];
    for (const h of HEADERS) {
      for (const b of bodies) {
        const line = Buffer.from(h + b, 'latin1');
        const want = byOracle(line);
        expect(byBytes(line), h + b).toEqual(want);
        if (want) found++;
        if (want?.pid) withPid++;
      }
    }
    // Most are headers with a body; the file lines themselves (no header: '') are not.
    expect(found).toBeGreaterThan(bodies.length * 6);
    expect(withPid).toBeGreaterThan(bodies.length * 4);
  });

  it('agrees with the expression on seeded hostile variants of real lines', () => {
    const r = rng(20261203);
    const bodies = [...new Set(realLines.map(bodyOf))];
    let compared = 0;
    let found = 0;
    for (let i = 0; i < 4000; i++) {
      const base = (r() < 0.8 ? HEADERS[Math.floor(r() * HEADERS.length)]! : '') + bodies[Math.floor(r() * bodies.length)]!;
      for (const v of variants(base, r)) {
        const line = Buffer.from(v, 'latin1');
        const want = byOracle(line);
        expect(byBytes(line), JSON.stringify(v)).toEqual(want);
        compared++;
        if (want) found++;
      }
    }
    expect(compared).toBe(12_000);
    expect(found).toBeGreaterThan(3000);
    expect(compared - found).toBeGreaterThan(1000);
  });

  it('bounds the search to the first 512 bytes, as the expression is given them', () => {
    // A real line's body (what stunnel sent to syslog), behind headers padded up to and past the 512th byte.
    const body = realLines.map(bodyOf).find((b) => /^LOG5\[\d+\]: Service \[.+\] accepted connection/.test(b))!;
    expect(body).toBeDefined();
    for (let pad = 440; pad <= 520; pad++) {
      for (const h of ['Nov 22 06:37:45 gw stunnel[730]: ', 'Nov 22 06:37:45 ', '2026-11-22T06:37:45+01:00: ']) {
        const line = Buffer.from(`${h}${'y'.repeat(pad)}: ${body}`, 'latin1');
        expect(byBytes(line), `${h} pad ${pad}`).toEqual(byOracle(line));
        const stderrAtEdge = Buffer.from(`${h}${'y'.repeat(pad)}: [!] rest`, 'latin1');
        expect(byBytes(stderrAtEdge), `${h} pad ${pad} [!]`).toEqual(byOracle(stderrAtEdge));
      }
    }
  });

  it('ends an ISO stamp glued to its text where the expression backtracks into it', () => {
    // Shapes, not stunnel's lines: headers no daemon writes, with a bare body, to pin the expression's backtracking.
    for (const v of [
      '2026-11-22T06:37:45+01:00: LOG5[1]: x',
      '2026-11-22T06:37:45stunnel[12]: LOG5[1]: x',
      '2026-11-22T06:37:45+01:00: LOG5[1]: a: LOG3[2]: b',
      '2026-11-22T06:37:45x: [!] y',
      '2026-11-22T06:37:45\u00a0gw stunnel[9]: LOG5[1]: x',
      '2026-11-22T06:37:45\u0085gw stunnel[9]: LOG5[1]: x',
      // NBSP ends the stamp's run (JavaScript's \s), U+0085 does not: the pid is the header's in the first only.
      '2026-11-22T06:37:45\u00a0stunnel[9]: LOG5[1]: x',
      '2026-11-22T06:37:45\u0085stunnel[9]: LOG5[1]: x',
    ]) {
      const line = Buffer.from(v, 'latin1');
      const want = byOracle(line);
      expect(want, v).not.toBeNull();
      expect(byBytes(line), v).toEqual(want);
    }
  });
});

describe('RFC 5424 header (rsyslog RSYSLOG_SyslogProtocol23Format)', () => {
  const real = readFileSync(join(FIXTURES, 'rsyslog', 'rsyslog-rfc5424-d7.log'), 'latin1').split('\n').filter(Boolean);
  const h: SyslogHeader = { body: -1, pidStart: -1, pidEnd: -1, stamp: 'none', stampAt: 0 };
  const read = (line: string) => {
    const b = Buffer.from(line, 'latin1');
    if (!rfc5424Header(b, 0, b.length, h)) return null;
    return {
      body: b.toString('latin1', h.body, h.body + 8), stamp: h.stamp, pid: h.pidStart < 0 ? null : b.toString('latin1', h.pidStart, h.pidEnd),
    };
  };

  it('finds stunnel\'s message in every line rsyslogd wrote for it, and not in rsyslogd\'s own', () => {
    expect(real.length).toBeGreaterThan(100);
    for (const l of real) {
      const r = read(l);
      if (l.includes(' rsyslogd ')) expect(r, l).toBeNull();
      else expect(r, l).toEqual({ body: l.slice(l.indexOf('LOG'), l.indexOf('LOG') + 8), stamp: 'iso', pid: null });
    }
  });

  it('takes a numeric PROCID as the pid, skips structured data (escapes included) and a BOM', () => {
    const l = real.find((x) => x.includes('LOG5[0]: Service [tls-client] accepted connection'))!;
    const [head, msg] = [l.slice(0, l.indexOf(' - - - ')), l.slice(l.indexOf(' - - - ') + 7)];
    expect(read(`${head} 730 - - ${msg}`)).toMatchObject({ pid: '730', body: 'LOG5[0]:' });
    expect(read(`${head} stunnel4 ID47 - ${msg}`)).toMatchObject({ pid: null, body: 'LOG5[0]:' });
    expect(read(`${head} 730 - [ex@32473 a="x\\"]y" b="]"][origin ip="127.0.0.1"] ${msg}`)).toMatchObject({ pid: '730', body: 'LOG5[0]:' });
    expect(read(`${head} 730 - - \u00ef\u00bb\u00bf${msg.trimStart()}`)).toMatchObject({ body: 'LOG5[0]:' });
    expect(read(`<29>1 - vm stunnel 730 - - ${msg}`)).toMatchObject({ stamp: 'none', pid: '730' });
  });

  it('refuses what is not an RFC 5424 header with stunnel\'s message', () => {
    const l = real.find((x) => x.includes('LOG5[0]: Service [tls-client] accepted connection'))!;
    for (const bad of [
      l.replace('<29>1 ', '<29>0 '), l.replace('<29>1 ', '<29> '), l.replace(' - - -  LOG', ' - -  LOG'),
      l.replace(' - - -  LOG', ' - - [unclosed a="]" LOG'), l.replace('LOG5[0]:', 'LOG9[0]:'), l.replace('<29>1 2026', '<29>1 20x6'),
    ]) expect(read(bad), bad).toBeNull();
  });
});
