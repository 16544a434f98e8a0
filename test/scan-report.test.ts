/**
 * `scan` as a report for humans: the report text on real fixtures (golden), --since/--until on log time (with the
 * correlation still seeing every line), stderr captures without log time, NDJSON unchanged, bad input → exit 2.
 * The CLI runs as a child process (`node --import tsx src/bin.ts`), so stdout/stderr/exit status are the real ones.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanFiles } from '../src/index.js';
import { copyFixturesAs } from './helpers/fixture-lines.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIX = (p: string): string => join(REPO, 'fixtures', p);
const GOLDEN = join(REPO, 'test/golden/scan-report.txt');

function cli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), ...args], {
    cwd: REPO, encoding: 'utf8', env: { ...process.env, TZ: 'UTC', ...env }, maxBuffer: 1 << 26,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Timing figures vary: the time taken on the totals line. */
const mask = (s: string): string => s.replace(/, \d+\.\d\d s$/m, ', N s');

let dir: string;
let files: string[];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-report-'));
  // Real logs, copied under names that give each its proxy (the file name is the proxy name).
  files = copyFixturesAs(dir, [
    ['multi-service/d5.log', 'multi-service.log'],
    ['restart-append/d5.log', 'restart-append.log'],
    ['expired/d5.log', 'expired.log'],
    ['config-missing-cafile/d5.stderr', 'config-missing-cafile.err'],
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scan report', () => {
  it('matches the golden report on real fixtures (colours off, timing masked)', () => {
    const r = cli(['scan', '-q', ...files], { NO_COLOR: '1' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const got = mask(r.stdout);
    if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, got);
    expect(existsSync(GOLDEN)).toBe(true);
    expect(got).toBe(readFileSync(GOLDEN, 'utf8'));
    expect(got).not.toMatch(/\x1b/);
  });

  it('puts the events first, then the same report, on stdout', () => {
    const quiet = cli(['scan', '-q', ...files]).stdout;
    const full = cli(['scan', ...files]);
    expect(full.code).toBe(1);
    expect(full.stderr).toBe('');
    const at = full.stdout.indexOf('== stunnel-doctor report ==');
    expect(at).toBeGreaterThan(0);
    expect(mask(full.stdout.slice(at))).toBe(mask(quiet));
    expect(full.stdout.slice(0, at)).toContain('CRITICAL cert_verify_failed/expired multi-service [svc-badcert] #2');
  });

  it('keeps --json stdout exactly the NDJSON of the events; the report goes to stderr', async () => {
    const r = cli(['scan', '--json', ...files]);
    expect(r.code).toBe(1);
    const want: string[] = [];
    for (const f of files) {
      const proxy = f.slice(dir.length + 1).replace(/\.(log|err)$/, '');
      for (const e of (await scanFiles([f], { proxy })).events) want.push(`${JSON.stringify(e)}\n`);
    }
    expect(r.stdout).toBe(want.join(''));
    expect(mask(r.stderr)).toBe(readFileSync(GOLDEN, 'utf8'));
  });

  it('--since keeps a connection that started before it whole; events before it are neither shown nor counted', () => {
    // connect-timeout: accepted at 06:36:20, TIMEOUTconnect at 06:36:22.
    const r = cli(['scan', '--since', '2026-11-22T06:36:21', FIX('connect-timeout/d5.log')]);
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('proxy_started');
    expect(r.stdout).toContain('2026-11-22T06:36:22 ERROR    connect_failed/timeout d5 [tls-client] #0\n    peer 127.0.0.1:45592\n');
    expect(r.stdout).toContain('    | s_connect: s_poll_wait 127.0.0.1:21043: TIMEOUTconnect exceeded\n');
    expect(r.stdout).toContain('Window since 2026-11-22T06:36:21 (log times read as local time): 1 before it, not shown or counted\n');
    expect(r.stdout).toMatch(/^1 file, 1\.0 kB, 13 lines \(13 matched, 0 unmatched, 0 not stunnel lines\), 2 events, /m);
  });

  it('--until drops the failure after it, and the exit status follows what is left', () => {
    const r = cli(['scan', '--until', '2026-11-22T06:36:21', FIX('connect-timeout/d5.log')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('INFO     proxy_started/ok d5');
    expect(r.stdout).not.toContain('connect_failed');
    expect(r.stdout).toContain('No failures: 1 proxy seen.');
    expect(r.stdout).toContain('2 after it, not shown or counted');
  });

  it('reads zone-less log times as local time (TZ) and honours a zone on the bound', () => {
    // 06:36:21 in Tokyo (UTC+9, no DST) is 21:36:21Z the day before.
    const a = cli(['scan', '--json', '--since', '2026-11-21T21:36:21Z', FIX('connect-timeout/d5.log')], { TZ: 'Asia/Tokyo' });
    const b = cli(['scan', '--json', '--since', '2026-11-22T06:36:21+09:00', FIX('connect-timeout/d5.log')], { TZ: 'Asia/Tokyo' });
    const c = cli(['scan', '--json', '--since', '2026-11-22 06:36:21', FIX('connect-timeout/d5.log')], { TZ: 'Asia/Tokyo' });
    const kinds = (s: string): string[] => s.trim().split('\n').map((l) => JSON.parse(l).kind);
    expect(kinds(a.stdout)).toEqual(['connect_failed', 'proxy_stopped']);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
    // The same instant in UTC is 9 hours before every line of the log: nothing is dropped.
    const d = cli(['scan', '--json', '--since', '2026-11-21T21:36:21Z', FIX('connect-timeout/d5.log')], { TZ: 'UTC' });
    expect(kinds(d.stdout)).toEqual(['proxy_started', 'connect_failed', 'proxy_stopped']);
  });

  it('a relative --since before every line leaves no event; stderr captures (no log time) are kept', () => {
    const r = cli(['scan', '-q', '--since', '2h', FIX('connect-timeout/d5.log'), FIX('config-missing-cafile/d5.stderr')]);
    // The connect-timeout lines were logged long before now; the stderr capture cannot be placed in time.
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('CRITICAL config_failed/no_trusted_ca');
    expect(r.stdout).toContain('no log time (stderr)');
    expect(r.stdout).not.toContain('connect_failed');
    expect(r.stdout).toMatch(/3 before it, not shown or counted; 1 event without log time \(stderr\) kept/);
  });

  it('a log whose beginning was rotated away: a failing connection without its accepted line says so', () => {
    const text = readFileSync(FIX('expired/d5.log'), 'latin1');
    const tail = join(dir, 'tail.log');
    writeFileSync(tail, text.slice(text.indexOf('\n', text.indexOf('accepted connection')) + 1), 'latin1');
    const r = cli(['scan', '-q', '--no-color', tail]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  (no service: the stunnel process, and connections that began before the log)\n    CRITICAL cert_verify_failed/expired');
  });

  it('bad --since/--until values and unreadable files: a message naming them, exit 2', () => {
    const bad = cli(['scan', '--since', 'yesterday', FIX('expired/d5.log')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("invalid --since value 'yesterday'");
    expect(bad.stdout).toBe('');
    const nodate = cli(['scan', '--until', '2026-02-30T10:00', FIX('expired/d5.log')]);
    expect(nodate.code).toBe(2);
    expect(nodate.stderr).toContain("invalid --until value '2026-02-30T10:00': no such date or time");
    const order = cli(['scan', '--since', '1h', '--until', '2h', FIX('expired/d5.log')]);
    expect(order.code).toBe(2);
    expect(order.stderr).toContain('--since 1h is after --until 2h');
    const missing = join(dir, 'no-such.log');
    for (const args of [['scan', missing], ['scan', '-f', missing]]) {
      const r = cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`stunnel-doctor: cannot read ${missing}: ENOENT\n`);
    }
    for (const args of [['scan', dir], ['scan', '-f', dir]]) {
      const r = cli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`stunnel-doctor: cannot read ${dir}: EISDIR (a directory: give its log files, e.g. ${dir}/*.log)\n`);
    }
  });
});
