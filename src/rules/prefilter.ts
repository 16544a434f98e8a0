/**
 * Cheap tests that tell, before a rule's regular expression runs, that it cannot match a message: what RE2 and
 * Hyperscan call a prefilter, read off the pattern's source once at compile time. Three facts about a
 * `^`-anchored pattern:
 *   - its literal prefix (`^Service \[` → `Service [`): the message must start with it;
 *   - the characters that may follow the prefix (`^Connection (?:reset|closed)` → `r` or `c`);
 *   - without a prefix, when it starts with a group of alternatives, each alternative's literal prefix
 *     (`^(?:Service \[.*\] REFUSED|Connection from .+ REFUSED)` → `Service [` or `Connection from `): the message
 *     must start with one of them. The same for anchored alternatives at the top (`^CONNECT request rejected$|^Proxy`).
 * A fourth is kept for patterns on the linear-time engine only: a literal every match contains (`: "` in
 * `^(?<file>.+?):(?<line>\d+): "(?<option>.*)": (?<error>.+)$`), searched with `includes` before the pattern runs.
 * RE2JS is slow to fail, and is loaded at its first run: every stunnel 5.68 start writes `No trusted certificates
 * found` at level 3, which a pattern like this one would otherwise run on. (On V8's engine such a search was tried
 * and dropped: on stunnel's messages it cost more than the failed matches it saved, V8's matcher being quick to fail.)
 * Each analysis is conservative: when it cannot tell (a class it does not read, an optional or repeated
 * element, an alternative without a literal head), it gives nothing, and the pattern alone decides.
 */

/** Characters allowed at one position: a bit per ASCII code, and one flag for every other character. */
export interface CharSet {
  /** 128 bits: bit (c & 31) of ascii[c >> 5]. */
  readonly ascii: Uint32Array;
  readonly nonAscii: boolean;
}

export interface Prefilter {
  /** Literal text every match starts with ('' when the pattern has none). */
  prefix: string;
  /** The characters a match may have right after the prefix; null when any (or unknown). */
  follow: CharSet | null;
  /**
   * When the prefix is '': the literal prefix of each alternative of the group the pattern starts with, or of each
   * `^`-anchored alternative at its top; every match starts with one of them. null when unknown (some alternative
   * has none).
   */
  alternatives: string[] | null;
}

/** Whether `c` (a char code, NaN past the end) is in `s`. */
export function inCharSet(s: CharSet, c: number): boolean {
  if (c < 128) return (s.ascii[c >> 5]! & (1 << (c & 31))) !== 0;
  return c >= 128 && s.nonAscii;
}

const META = '.[]()*+?{}|^$';

/** The literal character of an escape (`\[` → `[`), null for a class or assertion escape (`\d`, `\b`, `\u`...). */
function escapedLiteral(n: string | undefined): string | null {
  return n !== undefined && !/[A-Za-z0-9]/.test(n) ? n : null;
}

/** The literal prefix of a `^`-anchored pattern and the source index where it ends. */
function prefixOf(source: string): { text: string; end: number } {
  if (!source.startsWith('^') || topLevelAlternation(source)) return { text: '', end: -1 };
  let out = '';
  let i = 1;
  for (; i < source.length; i++) {
    const c = source[i]!;
    let lit: string | null = null;
    let width = 1;
    if (c === '\\') {
      lit = escapedLiteral(source[i + 1]);
      width = 2;
    } else if (!META.includes(c)) lit = c;
    if (lit === null) break;
    const after = source[i + width];
    if (after === '*' || after === '?' || after === '{') break; // optional: not part of the prefix
    out += lit;
    i += width - 1;
  }
  return { text: out, end: i };
}

/** The literal text a `^`-anchored pattern must start with. */
export function literalPrefix(source: string): string {
  return prefixOf(source).text;
}

function topLevelAlternation(source: string): boolean {
  return alternativesOf(source, 0, source.length).length > 1;
}

/** Index just past the `)` closing the group opened at `open`, or -1. */
function groupEnd(source: string, open: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = open; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (inClass) inClass = c !== ']';
    else if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return -1;
}

/** Index just past the `]` closing the class opened at `open`, or -1. */
function classEnd(source: string, open: number): number {
  for (let i = open + 1; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === ']' && i > open + 1) return i + 1;
  }
  return -1;
}

/** The alternatives of a group's body source[body, close) (close: its `)`), as [from, to) ranges. */
function alternativesOf(source: string, body: number, close: number): [number, number][] {
  const out: [number, number][] = [];
  let from = body;
  let depth = 0;
  let inClass = false;
  for (let i = body; i < close; i++) {
    const ch = source[i];
    if (ch === '\\') i++;
    else if (inClass) inClass = ch !== ']';
    else if (ch === '[') inClass = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) {
      out.push([from, i]);
      from = i + 1;
    }
  }
  out.push([from, close]);
  return out;
}

class Builder {
  readonly ascii = new Uint32Array(4);
  nonAscii = false;
  add(code: number): void {
    if (code < 128) this.ascii[code >> 5]! |= 1 << (code & 31);
    else this.nonAscii = true;
  }
  range(from: number, to: number): void {
    for (let c = from; c <= Math.min(to, 127); c++) this.add(c);
    if (to >= 128) this.nonAscii = true;
  }
  union(s: CharSet): void {
    for (let k = 0; k < 4; k++) this.ascii[k]! |= s.ascii[k]!;
    this.nonAscii ||= s.nonAscii;
  }
  done(): CharSet {
    return { ascii: this.ascii, nonAscii: this.nonAscii };
  }
}

/** The characters of a class `[...]` opened at `open` (null: negated, or an escape it does not read). */
function classSet(source: string, open: number, close: number): CharSet | null {
  if (source[open + 1] === '^') return null;
  const b = new Builder();
  for (let i = open + 1; i < close - 1; i++) {
    let code: number;
    if (source[i] === '\\') {
      const n = source[i + 1];
      if (n === 'd') {
        b.range(48, 57);
        i++;
        continue;
      }
      const lit = escapedLiteral(n);
      if (lit === null) return null;
      code = lit.charCodeAt(0);
      i++;
    } else code = source.charCodeAt(i);
    if (source[i + 1] === '-' && i + 2 < close - 1) {
      const hi = source[i + 2] === '\\' ? escapedLiteral(source[i + 3]) : source[i + 2]!;
      if (hi === null) return null;
      b.range(code, hi.charCodeAt(0));
      i += source[i + 2] === '\\' ? 3 : 2;
      continue;
    }
    b.add(code);
  }
  return b.done();
}

/**
 * The characters a match of source[at, stop) may start with, when the element at `at` is required (not made
 * optional by a quantifier). null when any character may come first, or the element is not understood.
 */
function firstSet(source: string, at: number, stop: number): CharSet | null {
  if (at >= stop) return null;
  const c = source[at]!;
  let next: number;
  let set: CharSet | null;
  if (c === '(') {
    const end = groupEnd(source, at);
    if (end < 0 || end > stop) return null;
    const body = groupBody(source, at);
    if (body < 0) return null; // lookaround
    const b = new Builder();
    // Each alternative of the group must start with a known character.
    for (const [from, to] of alternativesOf(source, body, end - 1)) {
      const s = firstSet(source, from, to);
      if (s === null) return null;
      b.union(s);
    }
    next = end;
    set = b.done();
  } else if (c === '[') {
    const end = classEnd(source, at);
    if (end < 0 || end > stop) return null;
    set = classSet(source, at, end);
    next = end;
  } else if (c === '\\') {
    const n = source[at + 1];
    if (n === 'd') {
      const b = new Builder();
      b.range(48, 57);
      set = b.done();
    } else {
      const lit = escapedLiteral(n);
      if (lit === null) return null;
      const b = new Builder();
      b.add(lit.charCodeAt(0));
      set = b.done();
    }
    next = at + 2;
  } else if (META.includes(c)) {
    return null; // `.`, anchors, a stray quantifier
  } else {
    const b = new Builder();
    b.add(c.charCodeAt(0));
    set = b.done();
    next = at + 1;
  }
  const q = source[next];
  // `?`, `*` and `{0,...}` make the element optional; `+` and `{1,...}` do not, but a `{` is not worth reading.
  if (q === '?' || q === '*' || q === '{') return null;
  return set;
}

/** The body of the group opened at `open` (after `(`, `(?:` or `(?<name>`), or -1 for a lookaround. */
function groupBody(source: string, open: number): number {
  const body = open + 1;
  if (source[body] !== '?') return body;
  if (source[body + 1] === ':') return body + 2;
  if (source[body + 1] === '<' && source[body + 2] !== '=' && source[body + 2] !== '!') {
    const close = source.indexOf('>', body);
    return close < 0 ? -1 : close + 1;
  }
  return -1;
}

/**
 * The literal prefixes of the alternatives of a pattern whose every top-level alternative is `^`-anchored
 * (`^A$|^B`), or of the group a `^`-anchored pattern starts with (see Prefilter).
 */
function alternativePrefixes(source: string): string[] | null {
  if (topLevelAlternation(source)) {
    const out: string[] = [];
    for (const [from, to] of alternativesOf(source, 0, source.length)) {
      const p = prefixOf(source.slice(from, to)).text; // '' unless the alternative is `^`-anchored
      if (p === '') return null;
      out.push(p);
    }
    return out;
  }
  if (!source.startsWith('^(')) return null;
  const end = groupEnd(source, 1);
  if (end < 0) return null;
  const q = source[end];
  if (q === '?' || q === '*' || q === '{') return null; // the group may be absent
  const body = groupBody(source, 1);
  if (body < 0) return null;
  const out: string[] = [];
  for (const [from, to] of alternativesOf(source, body, end - 1)) {
    const p = prefixOf(`^${source.slice(from, to)}`).text;
    if (p === '') return null;
    out.push(p);
  }
  return out;
}

/**
 * The longest literal text (2 characters or more; '' when none is known) that every match of the pattern contains:
 * a run of literal characters at its top level, none of them made optional or repeated by a quantifier. Groups,
 * classes, `.`, anchors and class escapes end a run; a pattern with alternatives at its top level has none, and an
 * escape it does not read (`\u`, `\x`, `\c`, `\p`, `\k`, a backreference) ends the search.
 */
export function requiredLiteral(source: string): string {
  if (topLevelAlternation(source)) return '';
  let best = '';
  let run = '';
  const cut = (): void => {
    if (run.length > best.length) best = run;
    run = '';
  };
  scan: for (let i = 0; i < source.length; ) {
    const c = source[i]!;
    let skipTo = -1;
    if (c === '(') skipTo = groupEnd(source, i);
    else if (c === '[') skipTo = classEnd(source, i);
    else if (c === '{') skipTo = source.indexOf('}', i) + 1; // a quantifier's bounds
    if (skipTo !== -1) {
      cut();
      if (skipTo <= 0) break;
      i = skipTo;
      continue;
    }
    let lit: string | null = null;
    if (c === '\\') {
      const n = source[i + 1];
      lit = escapedLiteral(n);
      if (lit === null && (n === undefined || !'dDwWsSbB'.includes(n))) break scan;
    } else if (!META.includes(c)) lit = c;
    const width = c === '\\' ? 2 : 1;
    const after = source[i + width];
    if (lit === null || after === '*' || after === '?' || after === '+' || after === '{') cut();
    else run += lit;
    i += width;
  }
  cut();
  return best.length >= 2 ? best : '';
}

/** The prefilter of a pattern (see the module comment). */
export function prefilterOf(source: string): Prefilter {
  const { text, end } = prefixOf(source);
  if (end < 0) return { prefix: '', follow: null, alternatives: alternativePrefixes(source) };
  return { prefix: text, follow: firstSet(source, end, source.length), alternatives: text === '' ? alternativePrefixes(source) : null };
}
