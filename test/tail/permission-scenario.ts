/**
 * The permission-denied scenario, run in a process WITHOUT root privileges (root ignores file modes, so
 * permission-denied.test.ts runs it as uid 65534 through child.ts when the tests run as root, in-process
 * otherwise). Not a test file: it returns what happened, the test asserts.
 */
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileFollower, type TailNotice } from '../../src/tail/follower.js';
import { Collector, Lines, waitFor, Written, type Expected } from './helpers.js';

export interface PermissionScenarioResult {
  uid: number;
  /** Lines of the denied file, as delivered and as written. */
  got: Expected[];
  expected: Expected[];
  notices: TailNotice[];
  errors: number;
  /** Lines of another file followed meanwhile. */
  otherGot: Expected[];
  otherExpected: Expected[];
  deniedWhileOtherDelivered: boolean;
}

/** `source`: the fixture lines to write (the unprivileged child can't read fixtures/, which stunnel made 0600). */
export async function runPermissionScenario(source: Buffer[]): Promise<PermissionScenarioResult> {
  const lines = new Lines(source);
  const dir = mkdtempSync(path.join(tmpdir(), 'sd-tail-perm-'));
  const followers: FileFollower[] = [];
  const follow = async (p: string, col: Collector) => {
    const f = new FileFollower({ path: p, pollMs: 50, retryMinMs: 20, retryMaxMs: 100, onChunk: col.onChunk, onNotice: col.onNotice });
    followers.push(f);
    await f.start();
    return f;
  };
  try {
    const p = path.join(dir, 'stunnel.log');
    const q = path.join(dir, 'other.log');
    const old = new Written().append(p, lines.take(3));
    chmodSync(p, 0o000);
    const other = new Written().append(q, lines.take(1));

    const col = new Collector();
    const f = await follow(p, col);
    const colQ = new Collector();
    const fq = await follow(q, colQ);

    // Denied at start: reported, retried with backoff, and the other file is unaffected.
    await waitFor(() => f.metrics().errors >= 3, 'retries of the denied open');
    other.append(q, lines.take(2));
    await waitFor(() => colQ.got.length === 3, 'the other file delivered while the first is denied');
    const deniedWhileOtherDelivered = col.got.length === 0 && f.metrics().state === 'error';
    await fq.stop();

    chmodSync(p, 0o644);
    await waitFor(() => col.got.length === 3, 'lines once readable');

    // Rotation to a new file that is not readable yet: the old one is still followed.
    renameSync(p, p + '.1');
    const neuLines = lines.take(2);
    writeFileSync(p, Buffer.concat(neuLines), { mode: 0o000 });
    const neu = new Written().note(neuLines);
    await waitFor(() => col.noticesOf('error').length === 2, 'the new file is denied');
    old.append(p + '.1', lines.take(1));
    await waitFor(() => col.got.length === 4, 'the renamed file is still read');
    chmodSync(p, 0o644);
    await waitFor(() => col.got.length === 6, 'the new file once readable');
    await f.check();

    return {
      uid: process.getuid?.() ?? -1,
      got: col.lines,
      expected: [...old.expected(), ...neu.expected()],
      notices: col.notices,
      errors: f.metrics().errors,
      otherGot: colQ.lines,
      otherExpected: other.expected(),
      deniedWhileOtherDelivered,
    };
  } finally {
    await Promise.all(followers.map((f) => f.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}
