/**
 * The prefilter (src/rules/prefilter.ts) skips a rule's regular expression when a cheap test shows it cannot
 * match. It must never skip a rule that would match: checked here on every line of every real fixture log and
 * every example line of the message catalog, against every rule, and on patterns written to trip it.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRuleSet } from '../src/index.js';
import { inCharSet, prefilterOf, requiredLiteral, type CharSet } from '../src/rules/prefilter.js';
import { RuleSet, type CompiledRule } from '../src/rules/compile.js';
import { DEFAULT_PARSE_OPTIONS, newRecord, parseLine, type LineRecord } from '../src/parse/line.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const CATALOG = new URL('../../shared/reference/stunnel-log-catalog.md', import.meta.url).pathname;
const CATALOG_COPY = new URL('./data/catalog-example-lines.txt', import.meta.url).pathname;

function chars(s: CharSet | null): string | null {
  if (s === null) return null;
  let out = '';
  for (let c = 32; c < 127; c++) if (inCharSet(s, c)) out += String.fromCharCode(c);
  return s.nonAscii ? `${out}+` : out;
}

/** Whether the prefilter lets `msg` through to the rule's pattern (what RuleSet.matchExec tests). */
function passes(r: Pick<CompiledRule, 'prefix' | 'follow' | 'alternatives' | 'required'>, msg: string): boolean {
  return msg.startsWith(r.prefix) && (r.follow === null || inCharSet(r.follow, msg.charCodeAt(r.prefix.length))) &&
    (r.alternatives === null || r.alternatives.some((a) => msg.startsWith(a))) && msg.includes(r.required);
}

/** Every line of every fixture log, parsed, and the catalog's example messages. */
function realMessages(): string[] {
  const out = new Set<string>();
  const rec: LineRecord = newRecord();
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (/\.(log|err|stderr)$/.test(d.name) || d.name.includes('.log.')) {
        const buf = readFileSync(p);
        let start = 0;
        while (start < buf.length) {
          let nl = buf.indexOf(10, start);
          if (nl < 0) nl = buf.length;
          if (parseLine(buf, start, nl, rec, DEFAULT_PARSE_OPTIONS, () => true) && rec.message) out.add(rec.message);
          start = nl + 1;
        }
      }
    }
  };
  walk(FIXTURES);
  const catalog = readFileSync(existsSync(CATALOG) ? CATALOG : CATALOG_COPY, 'utf8');
  for (const m of catalog.matchAll(/LOG[0-7]\[[^\]]+\]: (.*)$/gm)) out.add(m[1]!);
  return [...out];
}

describe('prefilter of a pattern', () => {
  it('reads the characters that may follow the prefix', () => {
    expect(chars(prefilterOf('^Connection (?<status>reset|reset/closed|closed/reset): x').follow)).toBe('cr');
    expect(chars(prefilterOf('^Connection (reset): x').follow)).toBe('r');
    expect(chars(prefilterOf('^SSL_(?:accept|connect): x').follow)).toBe('ac');
    expect(chars(prefilterOf('^depth=\\d+').follow)).toBe('0123456789');
    expect(chars(prefilterOf('^x[a-c_]y').follow)).toBe('_abc');
    expect(chars(prefilterOf('^x[\\]é]').follow)).toBe(']+');
    expect(chars(prefilterOf('^(?:(?:ab|c)d|e)').follow)).toBe('ace');
  });

  it('gives no follow set when the next element is optional, open-ended or not understood', () => {
    for (const p of [
      '^Service \\[(?<service>.*)\\]', '^x(?:a|b)?', '^x(?:a|)', '^x(?:a|.b)', '^x[^a]', '^x\\w', '^x\\s', '^x(?=a)', '^x(?<=x)a',
      '^xa*b', '^xa{0,2}b', '^x[a-c]*', '^x\\1', '^x$', '^x', 'unanchored', '^a|^b', '^x(a+|b)?', '^x(?:a|b){0,1}',
    ]) expect(chars(prefilterOf(p).follow), p).toBeNull();
  });

  it('reads the literal head of each alternative when there is no prefix', () => {
    const alts = (p: string) => prefilterOf(p).alternatives;
    expect(alts('^(?:Service \\[(?<service>.*)\\] REFUSED by libwrap from (?<peer>.+)|Connection from (?<peer2>.+) REFUSED by IDENT.*)$'))
      .toEqual(['Service [', 'Connection from ']);
    expect(alts('^CONNECT request rejected$|^Proxy-Authenticate: (?<x>.+)$')).toEqual(['CONNECT request rejected', 'Proxy-Authenticate: ']);
    expect(alts('^(?<x>ab)+c')).toEqual(['ab']);
    expect(alts('^(?:x[|]y|z\\.)')).toEqual(['x', 'z.']);
    expect(alts('^(?:ab?|cd)')).toEqual(['a', 'cd']);
    // A prefix of its own wins; and nothing when some alternative may start with anything.
    expect(alts('^Service \\[(?:a|b)')).toBeNull();
    for (const p of ['^(?:a|)b', '^(?:a|b)?c', '^(?:ab|cd)*e', '^(?:ab|cd){0,2}', '^(?=a)b', '^(a)|b', '^x|y', '^(?:a|.b)', '^(?:a*|b)', 'unanchored', '^(?<e>.+)$']) {
      expect(alts(p), p).toBeNull();
    }
  });

  it('reads the longest literal every match contains, outside groups, classes and quantified characters', () => {
    for (const [pattern, literal] of [
      ['^(?<config_file>.+?):(?<config_line>\\d+): "(?<option>.*)": (?<error>.+)$', ': "'],
      ['^Binding service \\[(?<service>.*)\\] to (?<target>.+): (?<error>.+)$', 'Binding service ['],
      ['x(?:abcdef)?yz\\.w', 'yz.w'],
      ['ab+cd', 'cd'],
      ['abc{2}d', 'ab'],
      ['abcd*e', 'abc'],
      ['abcd?ef', 'abc'],
      ['[xyz]{1,3}ab\\dcd', 'ab'],
      ['a.bc(?=xyz)', 'bc'],
      ['ab\\u0041cdefgh', 'ab'], // an escape it does not read ends the search
    ]) expect(requiredLiteral(pattern!), pattern).toBe(literal);
  });

  it('gives no required literal when none is certain', () => {
    for (const p of ['^a|^bcd', 'x(?:abc|abd)', '^(?<e>.+)$', 'a', '(abc)', '[abc]+', 'a?b?c?', '\\1ab', '\\x41\\x42', 'ab|cd']) {
      expect(requiredLiteral(p), p).toBe('');
    }
  });

  it('never rejects a real message that a rule of the shipped set matches (every fixture line and catalog example)', async () => {
    const rules = await loadRuleSet();
    const messages = realMessages();
    expect(messages.length).toBeGreaterThan(500);
    let matched = 0;
    let skipped = 0;
    for (const r of rules.rules) {
      for (const msg of messages) {
        const hit = r.regex.exec(msg) !== null;
        const pass = passes(r, msg);
        if (hit) {
          matched++;
          expect(pass, `${r.id} on ${JSON.stringify(msg)}`).toBe(true);
          // Every rule's required literal, not only those the engine checks (the linear-time engine's).
          expect(msg, r.id).toContain(requiredLiteral(r.spec.match.message));
        } else if (!pass) skipped++;
      }
    }
    expect(matched).toBeGreaterThan(500);
    // And it does skip: most rule/message pairs never reach the regex.
    expect(skipped).toBeGreaterThan(matched * 10);
  });
});

describe('rules with a prefilter', () => {
  it('still match what their pattern matches, through the rule index and its byte test', () => {
    const rule = (id: string, message: string, extra: object = {}) =>
      ({ id, file: 'inline', line: 1, action: 'note', match: { scope: 'connection', message }, ...extra }) as never;
    const set = new RuleSet([
      rule('either', '^Connection (?<status>reset|closed): (?<n>\\d+) bytes'),
      rule('after-any', '^Service \\[(?<service>.*)\\] accepted( connection)?$'),
      rule('same-pattern-1', '^Conn[ae]ction (x|y)$', { when: { verdict: 'any' } }),
      rule('same-pattern-2', '^Conn[ae]ction (x|y)$'),
    ]);
    const rec = (message: string, id = '3'): LineRecord =>
      Object.assign(newRecord(), { format: 'file' as const, level: 5, id, idClass: 'connection' as const, message });
    const tried: string[] = [];
    const first = (m: string) => set.matchExec(rec(m), (r) => {
      tried.push(r.id);
      return false; // same-pattern-1's condition fails: same-pattern-2 takes the line
    })?.id ?? null;
    expect(first('Connection reset: 12 bytes')).toBe('either');
    expect(first('Connection closed: 0 bytes')).toBe('either');
    expect(first('Connection lost: 0 bytes')).toBeNull();
    expect(first('Service [a] b] accepted')).toBe('after-any');
    expect(first('Service [a] accepted connection')).toBe('after-any');
    expect(first('Service [a] refused')).toBeNull();
    expect(first('Connaction y')).toBe('same-pattern-2');
    expect(set.lastExec?.[1]).toBe('y');
    expect(tried).toEqual(['same-pattern-1']);
    // The byte test before decoding agrees.
    const bytes = (m: string) => {
      const b = Buffer.from(m, 'latin1');
      return set.candidates(5, b, 0, b.length, 1, 1) > 0;
    };
    expect(bytes('Connection reset: 12 bytes')).toBe(true);
    expect(bytes('Connaction y')).toBe(true);
    // `Conn` fits same-pattern's prefix, but no rule allows an `o` (or nothing) after it.
    expect(bytes('Connoction y')).toBe(false);
    expect(bytes('Conn')).toBe(false);
  });

  it('with alternatives are tried only on messages that start with one (the linear-time engine too)', () => {
    const rule = (id: string, message: string) =>
      ({ id, file: 'inline', line: 1, action: 'note', match: { scope: 'connection', message } }) as never;
    const set = new RuleSet([
      // Nested quantifiers: this one runs on the linear-time engine, where a failed match costs ~10 µs.
      rule('group', '^(?:Service \\[(?<service>.*)\\] REFUSED by (?<how>(?:\\w+ ?)+) from (?<peer>.+)|Connection from (?<peer2>.+) REFUSED by IDENT.*)$'),
      rule('top', '^CONNECT request rejected$|^Proxy-Authenticate: (?<scheme>.+)$'),
      rule('other', '^C'),
    ]);
    expect(set.rules[0]!.engine).toBe('linear');
    const rec = (message: string): LineRecord =>
      Object.assign(newRecord(), { format: 'file' as const, level: 5, id: '3', idClass: 'connection' as const, message });
    const first = (m: string) => set.matchExec(rec(m), () => true)?.id ?? null;
    const bytes = (m: string) => {
      const b = Buffer.from(m, 'latin1');
      return set.candidates(5, b, 0, b.length, 1, 1) > 0;
    };
    expect(first('Service [imap] REFUSED by libwrap from 10.0.0.1:4242')).toBe('group');
    expect(set.lastExec?.[3]).toBe('10.0.0.1:4242');
    expect(first('Connection from 10.0.0.1:4242 REFUSED by IDENT')).toBe('group');
    expect(first('CONNECT request rejected')).toBe('top');
    expect(first('Proxy-Authenticate: Basic realm=x')).toBe('top');
    expect(first('CERT: Pre-verification error: certificate has expired')).toBe('other');
    expect(bytes('Proxy-Authenticate: Basic')).toBe(true);
    expect(bytes('Service [imap] REFUSED by libwrap from 10.0.0.1:4242')).toBe(true);
    // No alternative's head fits: no rule may match, before anything is decoded.
    expect(bytes('SSL_accept: Peer suddenly disconnected')).toBe(false);
    expect(bytes('Proxy-Auth')).toBe(false);
    expect(bytes('Rejected by CERT at depth=0')).toBe(false);
  });
});

describe('the byte candidates (the file format path: candidates, then matchCandidates)', () => {
  /** What matchExec gives for the message of `bytes`, and what the byte candidates give: rule id, captures, conditions asked. */
  function both(set: RuleSet, bytes: Buffer, level: number, id: string, idClass: LineRecord['idClass'], scopeBits: number) {
    const rec = Object.assign(newRecord(), { format: 'file' as const, level, id, idClass, message: bytes.toString('utf8') });
    // A condition that takes every other rule it is asked about: both paths must ask the same rules in the same order.
    const asked = (log: string[]) => (r: CompiledRule) => {
      log.push(r.id);
      return log.length % 2 === 1;
    };
    const logA: string[] = [];
    const a = set.matchExec(rec, asked(logA), asked(logA));
    const capA = a ? [...set.lastExec!] : null;
    const logB: string[] = [];
    const n = set.candidates(level, bytes, 0, bytes.length, scopeBits, 1);
    const b = set.matchCandidates(rec, n, asked(logB), asked(logB));
    const capB = b ? [...set.lastExec!] : null;
    return { a: [a?.id ?? null, capA, logA], b: [b?.id ?? null, capB, logB] };
  }

  it('give the rule and captures matchExec gives, on every fixture line and catalog example, at every level and scope', async () => {
    const rules = await loadRuleSet();
    const messages = realMessages();
    let matched = 0;
    for (const msg of messages) {
      const bytes = Buffer.from(msg, 'utf8');
      for (let level = 0; level < 8; level++) {
        // The scope bits the pipeline gives candidates(): exact for numeric and empty ids, every scope otherwise.
        for (const [id, idClass, bits] of [['3', 'connection', 1], ['main', 'process', 7], ['', 'none', 4]] as const) {
          const { a, b } = both(rules, bytes, level, id, idClass, bits);
          expect(b, `level ${level} [${id}] ${JSON.stringify(msg)}`).toEqual(a);
          if (a[0] !== null) matched++;
        }
      }
    }
    expect(matched).toBeGreaterThan(500);
  });

  it('test again on the decoded message the heads they cannot test as bytes (not ASCII), and agree on bytes that are not', () => {
    const rule = (id: string, message: string, extra: object = {}) =>
      ({ id, file: 'inline', line: 1, action: 'note', match: { scope: 'connection', message }, ...extra }) as never;
    const set = new RuleSet([
      // Conditions on the connection alone are asked before the pattern runs: only of rules whose head fits.
      rule('accent', '^Café (?<x>\\w+)$', { when: { verdict: 'none' } }),
      rule('accent-alt', '^(?:Zoë|Zoe) (?<y>.+)$', { when: { verdict: 'none' } }),
      rule('follow', '^Caf[eé]s? (?<z>.+)$'),
      rule('any', '^C(?<rest>.*)$', { when: { verdict: 'none' } }),
    ]);
    const cases = ['Café au', 'Cafe au', 'Cafés x', 'Cafx', 'Zoë a', 'Zoe b', 'Zoé c', 'C\u00e9', 'Caf\ufffd y'];
    const lines = [...cases.map((m) => Buffer.from(m, 'utf8')), Buffer.from([0x43, 0x61, 0x66, 0xe9, 0x20, 0x61]) /* latin1 é: invalid UTF-8 */];
    const ids: (string | null)[] = [];
    for (const bytes of lines) {
      const { a, b } = both(set, bytes, 5, '3', 'connection', 1);
      expect(b, JSON.stringify(bytes.toString('utf8'))).toEqual(a);
      ids.push(a[0] as string | null);
    }
    // Not vacuous: the cases reach each rule, and some reach none.
    expect(new Set(ids)).toEqual(new Set(['accent', 'accent-alt', 'follow', 'any', null]));
  });
});

describe('a conditional rule (`when`)', () => {
  const rule = (id: string, message: string, extra: object = {}) =>
    ({ id, file: 'inline', line: 1, action: 'note', match: { scope: 'connection', message }, ...extra }) as never;
  const rec = (message: string): LineRecord =>
    Object.assign(newRecord(), { format: 'file' as const, level: 5, id: '3', idClass: 'connection' as const, message });

  it('is decided before its pattern runs when its condition reads only the connection, after it when it reads captures', () => {
    // The shapes of the default rules: an OCSP responder's connect line is a backend's connect line elsewhere.
    const set = new RuleSet([
      rule('ocsp', '^s_connect: (?:connected|connecting) (?<responder_addr>.+)$', { when: { has: ['ocsp_query'] } }),
      rule('empty', '^Connection closed: (?<to_tls>\\d+) byte', { when: { bytes: 'zero' } }),
      rule('backend', '^s_connect: connected (?<target>.+)$'),
      rule('closed', '^Connection closed: (?<to_tls>\\d+) byte'),
    ]);
    const runs: string[] = [];
    for (const r of set.rules) {
      const p = r.positional!;
      const exec = p.exec.bind(p);
      p.exec = (t: string) => {
        runs.push(r.id);
        return exec(t);
      };
    }
    expect(set.rules.map((r) => r.whenReadsCaptures)).toEqual([false, true, false, false]);
    const first: string[] = [];
    const after: [string, string | undefined][] = [];
    const matchExec = (m: string) => set.matchExec(rec(m), (r, c) => {
      after.push([r.id, c[1]]);
      return false;
    }, (r) => {
      first.push(r.id);
      return false;
    })?.id;
    expect(matchExec('s_connect: connected 10.0.0.1:636')).toBe('backend');
    expect([runs.splice(0), first.splice(0), after.splice(0)]).toEqual([['backend'], ['ocsp'], []]);
    expect(matchExec('Connection closed: 0 byte(s) sent to TLS')).toBe('closed');
    expect([runs.splice(0), first.splice(0), after.splice(0)]).toEqual([['empty', 'closed'], [], [['empty', '0']]]);
    // Without that callback (match(), as before): every condition is given the captures of a match.
    const given: string[] = [];
    expect(set.match(rec('s_connect: connected 10.0.0.1:636'), (r, g) => {
      given.push(`${r.id} ${JSON.stringify(g)}`);
      return true;
    })?.rule.id).toBe('ocsp');
    expect(given).toEqual(['ocsp {"responder_addr":"10.0.0.1:636"}']);
  });
});
