/**
 * Fault: the sidecar is killed (-9) after it read lines but before its first checkpoint was written (the
 * doctor commits about once a second and the store writes about once a second after that), and the log is
 * rotated (rename + create) before it starts again.
 *
 * The root cause of the end-to-end trial's failures: with no checkpoint on disk, the restart took the file
 * at the path for a first start and read it from offset 0. The rest of the renamed file was never read,
 * and a connection that began in it and ended in the new file was concluded without its beginning: the
 * same event id as before (same file, same concluding line), but with service and peer null.
 *
 * The follower now makes the position it starts from durable (file identity, start offset) before it
 * delivers the first line, so a restart always resumes somewhere it can find again.
 */
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { FileFollower } from '../../src/tail/follower.js';
import { Pipeline } from '../../src/pipeline.js';
import { loadRuleSet } from '../../src/rules/index.js';
import { scanFiles } from '../../src/scan.js';
import type { DoctorEvent } from '../../src/events.js';
import { Collector, Lines, REPO, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

/** A store that never writes on its own within a test (the commit/write delay of the sidecar, stretched). */
const slowStore = (dir: string) => CheckpointStore.open(dir, { debounceMs: 3_600_000 });

describe('crash before the first checkpoint, then a rotation', () => {
  it('the start position is on disk before the first line is delivered', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const state = path.join(dir, 'state');
    const w = new Written().append(p, lines.take(4));
    const col = new Collector();
    let onDiskAtFirstChunk: unknown = 'not read';
    const f = new FileFollower({
      path: p,
      store: await slowStore(state),
      pollMs: 50,
      onChunk: (chunk, file) => {
        col.onChunk(chunk, file);
        // What a process started now would find (the follower's store never wrote by itself: 1 h period).
        if (onDiskAtFirstChunk === 'not read') onDiskAtFirstChunk = readStateDir(state);
      },
    });
    await f.start();
    await settle(f, col, 4);
    expect(onDiskAtFirstChunk).toEqual([expect.objectContaining({ path: p, fingerprint: w.fingerprint, offset: 0 })]);
    await f.stop();
  });

  it('a restart after the crash and a rename reads the rest of the renamed file, then the new one', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const state = path.join(dir, 'state');
    const old = new Written().append(p, lines.take(5));
    const col1 = new Collector();
    // The consumer reads but never commits: it is killed before its first commit.
    const f1 = await s.follow({ path: p, store: await slowStore(state) }, col1);
    await settle(f1, col1, 5);
    const afterCrash = await CheckpointStore.open(state); // what a restarted process finds on disk
    await f1.stop();

    old.append(p, lines.take(2)); // written while the sidecar is down
    renameSync(p, `${p}.1`); // logrotate `create`
    old.append(`${p}.1`, lines.take(1)); // stunnel writes once more before its SIGUSR1 reopen
    const neu = new Written().append(p, lines.take(3));

    const col2 = new Collector();
    const f2 = await s.follow({ path: p, store: afterCrash }, col2);
    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f2, col2, expected.length)).toEqual(expected);
    expect(col2.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'rename', whileDown: true, readFrom: `${p}.1`, offset: 0 })]);
  });

  it('a connection split across the rotation keeps its service and peer (real stunnel log)', async () => {
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const state = path.join(dir, 'state');
    const bytes = readFileSync(path.join(REPO, 'fixtures/unknown-ca/d5.log'));
    // The failing connection's accept/connect lines before the rotation, its CERT verdict and end after it.
    const cut = bytes.indexOf('\n', bytes.indexOf('Rejected by CERT') - 40) + 1;
    expect(cut).toBeGreaterThan(0);
    writeFileSync(p, bytes.subarray(0, cut));

    const rules = await loadRuleSet();
    const run = async (store: CheckpointStore, got: DoctorEvent[], commit: boolean): Promise<FileFollower> => {
      const pipeline = new Pipeline(rules, { event: (e) => got.push(e), accepted() {}, dropped() {} });
      const src = pipeline.source('p', { proxy: 'p', file: p });
      const cp = store.get(p);
      if (cp?.state) src.correlator.restore(cp.state as never);
      const f = new FileFollower({
        path: p, store, pollMs: 50,
        onChunk: (chunk, file) => {
          pipeline.push(src, chunk, file.fingerprint);
          if (commit) f.commit(chunk.endOffset, src.correlator.snapshot(), file);
        },
      });
      await f.start();
      return f;
    };
    const first: DoctorEvent[] = [];
    const f1 = await run(await slowStore(state), first, false);
    await waitFor(() => first.some((e) => e.kind === 'proxy_started'), 'the start event');
    const afterCrash = await CheckpointStore.open(state);
    await f1.stop();

    renameSync(p, `${p}.1`);
    writeFileSync(p, bytes.subarray(cut));
    const want = (await scanFiles([`${p}.1`, p], { proxy: 'p' })).events.filter((e) => e.kind === 'cert_verify_failed');
    expect(want).toHaveLength(1);
    expect(want[0]).toMatchObject({ service: expect.any(String), peer: expect.any(String) });

    const second: DoctorEvent[] = [];
    const f2 = await run(afterCrash, second, true);
    await waitFor(() => second.some((e) => e.kind === 'cert_verify_failed'), 'the certificate failure');
    await f2.stop();
    const failure = second.find((e) => e.kind === 'cert_verify_failed')!;
    // The same event as the one-shot scan's (whose source.file names the rotated file it read).
    expect({ ...failure, source: { ...failure.source, file: want[0]!.source.file } }).toEqual(want[0]);
    expect(failure.detail[0]).toContain('unable to get local issuer certificate');
  });
});

function readStateDir(dir: string): unknown[] {
  // Every record file in the directory, read synchronously (inside onChunk).
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => (JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as { record: unknown }).record);
}
