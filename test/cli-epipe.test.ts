/**
 * The reader of the command's output goes away (`scan --json log | head -1`): a one-shot command stops quietly
 * (no EPIPE stack trace), the sidecar says why it stops and exits 1 so that its supervisor restarts it.
 * Inputs: real stunnel logs of fixtures/.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs the CLI with its stdout's reading end closed at once; resolves with its exit code and stderr. */
function withClosedStdout(args: string[]): Promise<{ code: number | null; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), ...args], {
    cwd: REPO, env: { ...process.env, TZ: 'UTC', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  return new Promise((r) => child.on('exit', (code) => {
    clearTimeout(timer);
    r({ code, err });
  }));
}

describe('output closed by its reader (EPIPE)', () => {
  it('scan stops quietly', async () => {
    for (const args of [['scan', '--json'], ['scan']]) {
      const { code, err } = await withClosedStdout([...args, join(REPO, 'fixtures/multi-service/d5.log')]);
      expect(err, args.join(' ')).not.toMatch(/EPIPE|Unhandled|^\s+at \S+ \(/m);
      // The status it had when its output went away: 0, or 1 when failures were found before (scan's meaning).
      expect([0, 1], args.join(' ')).toContain(code);
    }
  });

  it('the sidecar says why it stops and exits 1 (for its supervisor)', async () => {
    const state = mkdtempSync(join(tmpdir(), 'sd-epipe-'));
    const { code, err } = await withClosedStdout([
      'watch', '--log', `billing=${join(REPO, 'fixtures/multi-service/d5.log')}`, '--state-dir', state, '--listen', '127.0.0.1:0',
      '--events-out', '-',
    ]);
    expect(err).toContain('stunnel-doctor: standard output was closed (EPIPE); stopping');
    expect(code).toBe(1);
  });
});
