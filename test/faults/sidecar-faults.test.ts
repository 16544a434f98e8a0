/**
 * Fault injection against the real sidecar (`stunnel-doctor watch` in a child process; uid 65534 when run as root
 * so that file modes bite) following real stunnel logs: the state directory unwritable (chmod), replaced by a file
 * and full (a 64 KiB tmpfs, when mount is permitted); a log unreadable (EACCES), deleted, replaced by a symlink and
 * by a directory; 200 files appearing at once in a globbed directory; kill -9 at random points; SIGTERM
 * while a checkpoint is being written. Every event a one-shot scan finds in everything ever written is delivered
 * on the NDJSON output (deduplicated by id): none is lost. `scripts/fault-trial.mjs` runs more rounds.
 */
import { describe, expect, it } from 'vitest';
import { runTrial } from './harness.js';

describe('the sidecar under injected faults', () => {
  it('keeps serving, counts each fault, recovers, and loses no event', async () => {
    const r = await runTrial({ seed: 11, kills: 2, terms: 1, globFiles: 200 });
    const names = r.faults.map((f) => f.fault);
    expect(names).toEqual(expect.arrayContaining([
      'state directory replaced by a file', 'log deleted', 'log replaced by a symlink, then by a directory',
      'thousands of files at once', 'kill -9 at random points', 'SIGTERM during a checkpoint write',
    ]));
    if (process.getuid?.() === 0) expect(names).toEqual(expect.arrayContaining(['state directory unwritable', 'log unreadable (EACCES)']));
    expect(r.expected).toBeGreaterThan(300);
    expect(r.lostExamples).toEqual([]);
    expect(r.lost).toBe(0);
    expect(r.unexpectedExamples).toEqual([]);
    // Not asserted yet: after a kill -9 an event can come again with the same id and a different classification
    // (README, Known issues; the end-to-end fix is under way). scripts/fault-trial.mjs reports r.mismatched.
    expect(r.metrics.stunnel_doctor_events_dropped_total).toBe(0);
  }, 300_000);
});
