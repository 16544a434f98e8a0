/**
 * `scan --follow`: a temp file gets the lines of a real stunnel log in two appends (the second completes a
 * connection whose CERT lines came in the first), then is rotated (rename + a new file with another real log);
 * the events printed are exactly a one-shot scan's of each file; SIGINT ends it with the report and exit 1.
 * Waits are on output, with generous timeouts; nothing asserts on timing.
 */
import { describe, expect, it, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanFiles } from '../src/index.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'sd-follow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function waitFor(what: string, ok: () => boolean, timeoutMs = 45_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const ndjson = async (path: string): Promise<string> =>
  (await scanFiles([path], { proxy: 'svc' })).events.map((e) => `${JSON.stringify(e)}\n`).join('');

describe('scan --follow', () => {
  it('prints events as lines are appended, follows a rename rotation, reports on SIGINT', async () => {
    const log = join(dir, 'svc.log');
    const multi = readFileSync(join(REPO, 'fixtures/multi-service/d5.log'));
    // Cut after connection #2's `CERT: Pre-verification error` line: its verdict and end line come later.
    const cut = multi.indexOf('LOG4[2]: Rejected by CERT');
    const cutAt = multi.lastIndexOf(10, cut) + 1;
    expect(cutAt).toBeGreaterThan(0);
    writeFileSync(log, multi.subarray(0, cutAt));

    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', '--follow', '--json', log], {
      cwd: REPO, env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const kinds = (): string[] => out.split('\n').filter(Boolean).map((l) => `${JSON.parse(l).kind}/${JSON.parse(l).connection}`);
    try {
      await waitFor('the events of the first part', () => kinds().includes('connect_failed/1'));
      expect(kinds()).not.toContain('cert_verify_failed/2');

      appendFileSync(log, multi.subarray(cutAt));
      await waitFor('the events of the appended part', () => kinds().includes('proxy_stopped/null'));
      const first = await ndjson(log);
      expect(out).toBe(first);
      expect(kinds()).toContain('cert_verify_failed/2');

      // logrotate `create`: the log is renamed and stunnel writes a new one.
      renameSync(log, `${log}.1`);
      writeFileSync(log, readFileSync(join(REPO, 'fixtures/restart-append/d5.log')));
      await waitFor('the events of the new file', () => kinds().filter((k) => k === 'proxy_stopped/null').length === 3);
      expect(out).toBe(first + (await ndjson(log)));
      expect(err).toContain(`stunnel-doctor: ${log}: rotated (rename)\n`);
      expect(err).not.toContain('== stunnel-doctor report ==');

      child.kill('SIGINT');
      expect(await exited).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
    expect(err).toContain('== stunnel-doctor report ==\n5 failures in 1 proxy, worst first: svc (critical)\n');
    expect(err).toContain('  service [tls-refused]\n    ERROR    connect_failed/refused              1x  at 2026-11-22T06:37:29\n');
    expect(err).toContain('    INFO     proxy_started/ok                    3x  since 2026-11-22T06:37:01, last 06:37:29\n');
    expect(err).toMatch(/\n1 file, 6\.\d kB, 74 lines \(\d+ matched, \d+ unmatched, 0 not stunnel lines\), 16 events, [\d.]+ s\n$/);
  });

  it('text mode: the report on stdout after SIGINT, exit 0 without failures', async () => {
    const log = join(dir, 'ok.log');
    writeFileSync(log, readFileSync(join(REPO, 'fixtures/success/d5.log')));
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', '-f', log], {
      cwd: REPO, env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await waitFor('the events', () => out.includes('INFO     proxy_stopped/'));
      expect(out).not.toContain('== stunnel-doctor report ==');
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    expect(err).toBe('');
    expect(out).toContain('\n\n== stunnel-doctor report ==\nNo failures: 1 proxy seen.\n');
    expect(out).toContain('    INFO     connection_closed/ok');
  });
});
