/**
 * Refuses regular expressions that backtrack catastrophically on a long line: a quantified group whose body
 * can itself repeat (`(a+)+`, `(\w*\s?)*`, `(?:x|y+){2,}`), and a quantified group with alternatives that
 * can match the same text (`(a|a)*`, `(\w|\d)+`, `(a|aa)*`, `(a|a?)+`); a group repeated by a count (`(.*a){12}`)
 * counts as quantified. JavaScript's engine backtracks; with these refused and
 * the text that patterns see bounded, no rule can stall the pipeline.
 */
export function catastrophicReason(source: string): string | null {
  interface Group { start: number; hasQuant: boolean; alts: string[]; altStart: number }
  const stack: Group[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(') {
      stack.push({ start: i, hasQuant: false, alts: [], altStart: i + 1 });
      continue;
    }
    const top = stack[stack.length - 1];
    if (c === '|' && top) {
      top.alts.push(source.slice(top.altStart, i));
      top.altStart = i + 1;
      continue;
    }
    if (c === ')') {
      const g = stack.pop();
      if (!g) continue;
      g.alts.push(source.slice(g.altStart, i));
      const next = source[i + 1];
      const quantified = next === '*' || next === '+' || (next === '{' && repeatsMoreThanOnce(source.slice(i + 1)));
      if (quantified) {
        const shown = source.slice(g.start, next === '{' ? source.indexOf('}', i) + 1 : i + 2);
        if (g.hasQuant) return `nested quantifier in "${shown}"`;
        const alts = g.alts.map((a) => a.replace(/^\?(?::|<[A-Za-z_][A-Za-z0-9_]*>)/, ''));
        if (alts.length > 1 && new Set(alts).size < alts.length) return `repeated alternatives in "${shown}"`;
        // `(a|aa)*`, `(a|a?)+`: one alternative is a literal start of another, or can match empty text.
        if (alts.length > 1 && alts.some((a) => a === '' || /^(?:\\.|[^\\()[\]])[?*]$/.test(a))) {
          return `an alternative that can match empty text in "${shown}"`;
        }
        // `(a|aa)*`: a longer alternative is a shorter one followed by text another alternative can start
        // (`(a|ab)*` is fine: after `a`, `b` starts no alternative).
        const overlaps = (a: string, b: string): boolean =>
          isLiteral(a) && b.length > a.length && b.startsWith(a) && alts.some((x) => x !== '' && b[a.length] === x[0]);
        if (alts.length > 1 && alts.some((a, j) => alts.some((b, k) => k !== j && overlaps(a, b)))) {
          return `overlapping alternatives in "${shown}"`;
        }
        if (alts.length > 1 && alts.some((a) => /^\\[wdsWDS.]|^\./.test(a)) && alts.some((a) => /^\\[wdsWDS]|^\w/.test(a) && a !== alts[0])) {
          return `overlapping alternatives in "${shown}"`;
        }
      }
      const parent = stack[stack.length - 1];
      if (parent && (g.hasQuant || quantified)) parent.hasQuant = true;
      continue;
    }
    if ((c === '*' || c === '+' || c === '{') && top) {
      if (c !== '{' || repeatsMoreThanOnce(source.slice(i))) top.hasQuant = true;
    }
  }
  return null;
}

/** `{n}`, `{n,}`, `{n,m}` at the start of `s` allowing more than one repetition (`(.*a){12}` backtracks as badly as `+`). */
function repeatsMoreThanOnce(s: string): boolean {
  const m = /^\{(\d+)(,(\d*))?\}/.exec(s);
  if (!m) return false;
  if (m[2] === undefined) return Number(m[1]) > 1;
  return m[3] === '' || Number(m[3]) > 1;
}

/** Plain text (letters, digits, spaces, escaped punctuation): no class, group, quantifier or alternation. */
function isLiteral(a: string): boolean {
  return a !== '' && /^(?:\\[^A-Za-z0-9]|[^\\()[\]{}|.*+?^$])+$/.test(a);
}

/**
 * Three or more unbounded wildcards (`.*`, `.+`, `\S*`, `[^x]+`, ...) in one branch can each take any share of
 * the line: a failing match tries them all, O(n^3) and worse (`^(.*) (.*) (.*)x$` takes seconds on 4 KB).
 */
export function polynomialReason(source: string): string | null {
  const branches: string[] = [];
  let depth = 0;
  let inClass = false;
  let start = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === '|' && depth === 0) {
      branches.push(source.slice(start, i));
      start = i + 1;
    }
  }
  branches.push(source.slice(start));
  for (const b of branches) {
    const n = [...b.matchAll(/(?<!\\)(?:\.|\\[SWD]|\[\^(?:\\.|[^\]\\])*\])(?:\*|\+|\{\d+,\})/g)].length;
    if (n >= 3) return `${n} unbounded wildcards in one branch`;
  }
  return null;
}
