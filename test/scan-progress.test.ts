/**
 * The progress bar of `scan`: drawn on stderr only when stderr is a terminal (a real pseudo-terminal from
 * util-linux `script`), throttled, erased at the end, never in stdout or NDJSON.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProgressBar } from '../src/sinks/progress.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CMD = `${process.execPath} --import tsx ${join(REPO, 'src/bin.ts')}`;
// eslint-disable-next-line no-control-regex
const FRAME = /\r\[[#.]+\] [\d.]+ [kMG]B\/[\d.]+ [kMG]B +\d+% [\d.]+ [kMG]B\/s ETA [\d:-]+/;

/** Runs a shell command line under a pseudo-terminal; returns what the terminal received. */
function inPty(cmdline: string): { code: number | null; tty: string } {
  const r = spawnSync('script', ['-qfec', cmdline, '/dev/null'], {
    cwd: REPO, encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, maxBuffer: 1 << 26,
  });
  return { code: r.status, tty: r.stdout };
}

let dir: string;
let big: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-progress-'));
  // A larger log: real stunnel logs (a failing and a succeeding run) one after another, many times over.
  const a = readFileSync(join(REPO, 'fixtures/expired/d7.log'));
  const b = readFileSync(join(REPO, 'fixtures/success/d7.log'));
  const parts: Buffer[] = [];
  let n = 0;
  while (n < 3e6) {
    parts.push(a, b);
    n += a.length + b.length;
  }
  big = join(dir, 'big.log');
  writeFileSync(big, Buffer.concat(parts));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('progress bar', () => {
  it('throttles redraws (simulated clock) and is erased for good at the end', () => {
    const writes: string[] = [];
    let now = 0;
    const bar = new ProgressBar({ write: (s) => writes.push(s), columns: 100 }, { total: 10_000, now: () => now });
    for (let i = 1; i <= 10_000; i++) {
      now = i; // one update per simulated millisecond, 10 s in all
      bar.update(i, 'x.log');
    }
    expect(bar.draws).toBeLessThanOrEqual(101);
    expect(bar.draws).toBeGreaterThanOrEqual(90);
    expect(writes.at(-1)).toMatch(/^\r\[#+\] 9\.\d kB\/10\.0 kB +\d+% 1\.0 kB\/s ETA 0:0\d +x\.log\x1b\[K$/);
    bar.end();
    expect(writes.at(-1)).toBe('\r\x1b[K');
    const n = writes.length;
    bar.update(10_000);
    bar.clear();
    expect(writes.length).toBe(n);
  });

  it('draws nothing before its delay (small scans show no bar)', () => {
    const writes: string[] = [];
    let now = 0;
    const bar = new ProgressBar({ write: (s) => writes.push(s) }, { total: null, delayMs: 500, now: () => now });
    for (now = 0; now < 500; now += 10) bar.update(now * 100);
    expect(writes).toEqual([]);
    bar.update(60_000);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\r60\.0 kB read, [\d.]+ kB\/s\x1b\[K$/);
  });

  it('on a terminal: bar frames on stderr, erased before the report; NDJSON on stdout untouched', () => {
    const ndjson = join(dir, 'out.ndjson');
    const r = inPty(`${CMD} scan --json --progress ${big} > ${ndjson}`);
    expect(r.code).toBe(1);
    expect(r.tty).toMatch(FRAME);
    expect(r.tty).toContain('big.log');
    // The last frame is erased, then the report (coloured: stderr is a terminal).
    const report = r.tty.indexOf('== stunnel-doctor report ==');
    expect(report).toBeGreaterThan(0);
    expect(r.tty.slice(0, report)).toMatch(/\r\x1b\[K\x1b\[1m$/);
    const plain = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', '--json', big], {
      cwd: REPO, encoding: 'utf8', maxBuffer: 1 << 28,
    });
    expect(plain.stderr).not.toContain('\r');
    expect(readFileSync(ndjson, 'utf8')).toBe(plain.stdout);
  });

  it('never when stderr is not a terminal, even with --progress and stdout on a terminal', () => {
    const err = join(dir, 'err.txt');
    const r = inPty(`${CMD} scan -q --progress ${big} 2> ${err}`);
    expect(r.code).toBe(1);
    expect(r.tty).toContain('== stunnel-doctor report ==');
    expect(r.tty).not.toMatch(FRAME);
    expect(readFileSync(err, 'utf8')).toBe('');
  });
});
