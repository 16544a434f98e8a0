/**
 * Fault: the log is not readable by the sidecar's user (EACCES: stunnel creates it 0600 as another user, or
 * a logrotate `create 0600 stunnel stunnel`). Counted, reported as a notice, retried with backoff, never
 * fatal and never stopping other files; once readable, read from 0 with nothing lost. After a rotation to an
 * unreadable new file, the old file keeps being followed until the new one can be opened.
 *
 * Root ignores file modes, so as root the scenario runs in a child process as uid/gid 65534 (nobody).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureLines, REPO } from './helpers.js';
import { runPermissionScenario, type PermissionScenarioResult } from './permission-scenario.js';

async function runAsNobody(source: Buffer[]): Promise<PermissionScenarioResult> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/tail/child.ts'), 'permission'], {
    cwd: REPO,
    uid: 65534,
    gid: 65534,
    env: { ...process.env, HOME: '/tmp' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  proc.stdin!.end(JSON.stringify(source.map((l) => l.toString('latin1'))));
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('latin1').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  if (code !== 0) throw new Error(`permission scenario child failed (${code}): ${err}`);
  return JSON.parse(out) as PermissionScenarioResult;
}

describe('permission denied', () => {
  it('reports, retries with backoff, does not disturb other files, and reads everything once readable', async () => {
    const source = fixtureLines();
    const r = process.getuid?.() === 0 ? await runAsNobody(source) : await runPermissionScenario(source);
    expect(r.uid).not.toBe(0);
    expect(r.got).toEqual(r.expected);
    expect(r.otherGot).toEqual(r.otherExpected);
    expect(r.deniedWhileOtherDelivered).toBe(true);
    expect(r.errors).toBeGreaterThanOrEqual(4);

    const relevant = r.notices.filter((n) => n.type === 'error' || n.type === 'recovered' || n.type === 'rotated');
    expect(relevant.map((n) => [n.type, n.reason ?? n.mode, n.code])).toEqual([
      ['error', 'permission-denied', 'EACCES'], // at start
      ['recovered', undefined, undefined],
      ['error', 'permission-denied', 'EACCES'], // the new file after the rotation
      ['recovered', undefined, undefined],
      ['rotated', 'rename', undefined],
    ]);
    const denied = r.notices.find((n) => n.type === 'error')!;
    expect(denied).toMatchObject({ path: expect.stringMatching(/stunnel\.log$/), retryInMs: expect.any(Number) });
    expect(JSON.parse(JSON.stringify(denied))).toEqual(denied); // loggable as is
  });
});
