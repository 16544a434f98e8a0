/**
 * Fault: the sidecar is stopped by SIGTERM/SIGINT while a checkpoint write is still pending (the write
 * period is long). The helper installed by the sidecar flushes before the process exits with 128+signal.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { REPO, Scratch } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

async function runUntilSignal(stateDir: string, key: string, offset: number, signal: NodeJS.Signals) {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/tail/child.ts'), 'signal', stateDir, key, String(offset)], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.setEncoding('utf8');
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: string) => {
      out += d;
      if (out.includes('"ready":true')) resolve();
    });
    proc.once('exit', () => reject(new Error(`child exited before ready: ${out}`)));
  });
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await ready;
  expect(JSON.parse(out.trim())).toEqual({ ready: true, dirty: 1 });
  proc.kill(signal);
  return exit;
}

describe('shutdown signal', () => {
  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('%s flushes the pending checkpoint, then exits with %i', async (signal, code) => {
    const stateDir = path.join(s.dir(), 'state');
    const key = '/var/log/stunnel4/stunnel.log';
    expect(await runUntilSignal(stateDir, key, 4242, signal)).toBe(code);
    const store = await CheckpointStore.open(stateDir);
    expect(store.get(key)).toMatchObject({ offset: 4242, fingerprint: 'abc', state: { open: 1 } });
  });
});
