/**
 * Refuses regular expressions that backtrack catastrophically on a long line: a quantified group whose body
 * can itself repeat (`(a+)+`, `(\w*\s?)*`, `(?:x|y+){2,}`), and a quantified group with alternatives that
 * can match the same text (`(a|a)*`, `(\w|\d)+`). JavaScript's engine backtracks; with these refused and
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
      const quantified = next === '*' || next === '+' || (next === '{' && /^\{\d+,\d*\}/.test(source.slice(i + 1)));
      if (quantified) {
        if (g.hasQuant) return `nested quantifier in "${source.slice(g.start, i + 2)}"`;
        const alts = g.alts.map((a) => a.replace(/^\?(?::|<[A-Za-z_][A-Za-z0-9_]*>)/, ''));
        if (alts.length > 1 && new Set(alts).size < alts.length) return `repeated alternatives in "${source.slice(g.start, i + 2)}"`;
        if (alts.length > 1 && alts.some((a) => /^\\[wdsWDS.]|^\./.test(a)) && alts.some((a) => /^\\[wdsWDS]|^\w/.test(a) && a !== alts[0])) {
          return `overlapping alternatives in "${source.slice(g.start, i + 2)}"`;
        }
      }
      const parent = stack[stack.length - 1];
      if (parent && (g.hasQuant || quantified)) parent.hasQuant = true;
      continue;
    }
    if ((c === '*' || c === '+' || c === '{') && top) {
      if (c !== '{' || /^\{\d+,\d*\}/.test(source.slice(i))) top.hasQuant = true;
    }
  }
  return null;
}
