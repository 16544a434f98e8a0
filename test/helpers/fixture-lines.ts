/**
 * The real stunnel logs of fixtures/, line by line, through the line grammar.
 */
import { copyFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PARSE_OPTIONS, newRecord, parseLine, type LineRecord } from '../../src/parse/line.js';

const FIXTURES = new URL('../../fixtures/', import.meta.url).pathname;

/**
 * Copies fixture files (`[path under fixtures/, name]`) into `dir` under the names given (a file's name is its proxy's
 * for `scan`), and returns the copies' paths in the same order.
 */
export function copyFixturesAs(dir: string, copies: readonly (readonly [string, string])[]): string[] {
  return copies.map(([from, to]) => {
    copyFileSync(join(FIXTURES, from), join(dir, to));
    return join(dir, to);
  });
}

/** Every `.log` and `.stderr` file of a scenario directory of fixtures/. */
export function fixtureLogs(): string[] {
  return readdirSync(FIXTURES)
    .filter((d) => statSync(join(FIXTURES, d)).isDirectory())
    .flatMap((d) => readdirSync(join(FIXTURES, d)).filter((f) => /\.(log|stderr)$/.test(f)).map((f) => join(FIXTURES, d, f)));
}

/**
 * Calls `fn` for every line of every fixture log that fits a stunnel grammar, with the record parseLine filled
 * (reused: copy what you keep) and `file@offset` naming the line.
 */
export function eachParsedFixtureLine(fn: (rec: LineRecord, where: string) => void): void {
  const rec = newRecord();
  for (const f of fixtureLogs()) {
    const buf = readFileSync(f);
    let start = 0;
    while (start < buf.length) {
      let nl = buf.indexOf(10, start);
      if (nl < 0) nl = buf.length;
      if (parseLine(buf, start, nl, rec, DEFAULT_PARSE_OPTIONS, () => true)) fn(rec, `${f}@${start}`);
      start = nl + 1;
    }
  }
}
