/**
 * `scan --follow`: a temp file gets the lines of a real stunnel log in two appends (the second completes a
 * connection whose CERT lines came in the first), then is rotated (rename + a new file with another real log);
 * the events printed are exactly a one-shot scan's of each file; SIGINT ends it with the report and exit 1.
 * With `--stunnel-conf`, a followed hostname mismatch names the name checkHost expected.
 * Waits are on output, with generous timeouts; nothing asserts on timing.
 */
import { describe, expect, it, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scanFiles, type DoctorEvent } from '../src/index.js';
import { waitFor } from './helpers/wait.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'sd-follow-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ndjson = async (path: string, proxy = 'svc', stunnelConf?: string): Promise<string> =>
  (await scanFiles([path], { proxy, ...(stunnelConf ? { stunnelConf } : {}) })).events.map((e) => `${JSON.stringify(e)}\n`).join('');

/** `stunnel-doctor scan ARGS...` as a child process (TZ=UTC): its output so far, its exit code, a kill switch. */
function startScan(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', ...args], {
    cwd: REPO, env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const io = { out: '', err: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (io.out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (io.err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { io, exited, kill: (signal: NodeJS.Signals) => child.kill(signal) };
}

/** A real log cut after the line that holds `marker`'s line start: the first part, and the rest. */
function cutBefore(path: string, marker: string): [Buffer, Buffer] {
  const bytes = readFileSync(path);
  const at = bytes.lastIndexOf(10, bytes.indexOf(marker)) + 1;
  expect(at).toBeGreaterThan(0);
  return [bytes.subarray(0, at), bytes.subarray(at)];
}

describe('scan --follow', () => {
  it('prints events as lines are appended, follows a rename rotation, reports on SIGINT', async () => {
    const log = join(dir, 'svc.log');
    // Cut before connection #2's `Rejected by CERT` line: its verdict and end line come later.
    const [head, rest] = cutBefore(join(REPO, 'fixtures/multi-service/d5.log'), 'LOG4[2]: Rejected by CERT');
    writeFileSync(log, head);

    const { io, exited, kill } = startScan(['--follow', '--json', log]);
    const kinds = (): string[] => io.out.split('\n').filter(Boolean).map((l) => `${JSON.parse(l).kind}/${JSON.parse(l).connection}`);
    try {
      await waitFor(() => kinds().includes('connect_failed/1'), 'the events of the first part', 45_000);
      expect(kinds()).not.toContain('cert_verify_failed/2');

      appendFileSync(log, rest);
      await waitFor(() => kinds().includes('proxy_stopped/null'), 'the events of the appended part', 45_000);
      const first = await ndjson(log);
      expect(io.out).toBe(first);
      expect(kinds()).toContain('cert_verify_failed/2');

      // logrotate `create`: the log is renamed and stunnel writes a new one.
      renameSync(log, `${log}.1`);
      writeFileSync(log, readFileSync(join(REPO, 'fixtures/restart-append/d5.log')));
      await waitFor(() => kinds().filter((k) => k === 'proxy_stopped/null').length === 3, 'the events of the new file', 45_000);
      expect(io.out).toBe(first + (await ndjson(log)));
      expect(io.err).toContain(`stunnel-doctor: ${log}: rotated (rename)\n`);
      expect(io.err).not.toContain('== stunnel-doctor report ==');

      kill('SIGINT');
      expect(await exited).toBe(1);
    } finally {
      kill('SIGKILL');
    }
    const err = io.err;
    expect(err).toContain('== stunnel-doctor report ==\n5 failures in 1 proxy, worst first: svc (critical)\n');
    expect(err).toContain('  service [tls-refused]\n    ERROR    connect_failed/refused              1x  at 2026-11-22T06:37:29\n');
    expect(err).toContain('    INFO     proxy_started/ok                    3x  since 2026-11-22T06:37:01, last 06:37:29\n');
    expect(err).toMatch(/\n1 file, 6\.\d kB, 74 lines \(\d+ matched, \d+ unmatched, 0 not stunnel lines\), 16 events, [\d.]+ s\n$/);
  });

  it('text mode: the report on stdout after SIGINT, exit 0 without failures', async () => {
    const log = join(dir, 'ok.log');
    writeFileSync(log, readFileSync(join(REPO, 'fixtures/success/d5.log')));
    const { io, exited, kill } = startScan(['-f', log]);
    try {
      await waitFor(() => io.out.includes('INFO     proxy_stopped/'), 'the events', 45_000);
      expect(io.out).not.toContain('== stunnel-doctor report ==');
      kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      kill('SIGKILL');
    }
    const { out, err } = io;
    expect(err).toBe('');
    expect(out).toContain('\n\n== stunnel-doctor report ==\nNo failures: 1 proxy seen.\n');
    expect(out).toContain('    INFO     connection_closed/ok');
  });

  it('--stunnel-conf: a hostname mismatch read while following names the name checkHost expected', async () => {
    const log = join(dir, 'checkhost.log');
    const conf = join(REPO, 'fixtures/checkhost-mismatch/stunnel.conf');
    // The run's start first; the failing connection's lines are appended while following.
    const [head, rest] = cutBefore(join(REPO, 'fixtures/checkhost-mismatch/d5.log'), 'LOG4[0]: CERT: Subject checks failed');
    writeFileSync(log, head);
    const { io, exited, kill } = startScan(['--follow', '--json', '--stunnel-conf', conf, log]);
    const events = (): DoctorEvent[] => io.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as DoctorEvent);
    try {
      await waitFor(() => events().some((e) => e.kind === 'proxy_started'), 'the start', 45_000);
      expect(events().some((e) => e.kind === 'cert_verify_failed')).toBe(false);
      appendFileSync(log, rest);
      await waitFor(() => events().some((e) => e.kind === 'proxy_stopped'), 'the appended failure', 45_000);
      kill('SIGINT');
      expect(await exited).toBe(1);
    } finally {
      kill('SIGKILL');
    }
    // The same events as a one-shot scan with the configuration: the mismatch carries the expected name.
    expect(io.out).toBe(await ndjson(log, 'checkhost', conf));
    const mismatch = events().find((e) => e.kind === 'cert_verify_failed')!;
    expect(mismatch.reason).toBe('hostname_mismatch');
    expect(mismatch.kind === 'cert_verify_failed' && mismatch.expectedNames).toEqual(['localhost']);
    expect(mismatch.hint).toContain(`[tls-client] expects "localhost" (checkHost at ${conf}:14)`);
    expect(io.err).toContain('    ERROR    cert_verify_failed/hostname_mismatch');
    expect(io.err).toContain(`expects "localhost" (checkHost at ${conf}:14)`);
    expect(io.err).toContain('    INFO     config_warning/log_level_too_low         1x  no log time (stunnel.conf)\n');
  });

  it('scan - shows the events of a slow stdin (journalctl -f | scan -) as they come; SIGINT ends it with the report', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'scan', '--json', '-'], {
      cwd: REPO, env: { ...process.env, TZ: 'UTC' }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const kinds = (): string[] => out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as DoctorEvent).kind);
    try {
      // A real log's first run, then nothing: stdin stays open, as a followed journal's does.
      const [first] = cutBefore(join(REPO, 'fixtures/multi-service/d5.log'), 'LOG4[2]: Rejected by CERT');
      child.stdin.write(first);
      await waitFor(() => kinds().includes('connect_failed'), 'the first events while stdin is open', 45_000);
      expect(child.exitCode).toBeNull();
      // Ctrl-C, stdin still open: what was read is reported, the exit status says failures were found.
      child.kill('SIGINT');
      expect(await exited).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
    expect(kinds()[0]).toBe('config_warning');
    expect(err).toContain('stunnel-doctor: interrupted: the report covers what was read until then');
    expect(err).toContain('== stunnel-doctor report ==');
    expect(err).toContain('    ERROR    connect_failed/refused');
  });
});
