/**
 * Fault: the checkpoint cannot be written (state directory unwritable, disk full; simulated by turning the
 * target path into a directory, which makes the atomic rename fail even for root, or by a state "directory"
 * that is a file). The failure never reaches the pipeline: it is counted, logged, the record stays in memory
 * and is retried at the next period; once the disk is fixed the checkpoint lands, atomically.
 */
import { mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { Collector, Lines, recordingLogger, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('checkpoint write failure', () => {
  it('counts, logs and retries; delivery and the in-memory checkpoint are unaffected', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const stateDir = path.join(dir, 'state');
    const { logger, records } = recordingLogger();
    const failedKeys: string[] = [];
    const store = await CheckpointStore.open(stateDir, { debounceMs: 20, logger, onFailure: (_e, key) => failedKeys.push(key) });
    mkdirSync(store.fileFor(p)); // rename(tmp, target) now fails with EISDIR

    const w = new Written().append(p, lines.take(3));
    const col = new Collector();
    const f = await s.follow({ path: p, store, autoCommit: true }, col);
    expect(await settle(f, col, 3)).toEqual(w.expected());
    await waitFor(() => store.failures >= 2, 'a failed write and its retry at the next period');
    await expect(store.flush()).resolves.toBe(false);
    expect(store.get(f.key)).toMatchObject({ offset: w.end, fingerprint: w.fingerprint });
    expect(failedKeys.every((k) => k === f.key)).toBe(true);
    expect(records).toContainEqual(
      expect.objectContaining({ level: 'error', obj: expect.objectContaining({ file: store.fileFor(p), code: 'EISDIR' }) }),
    );

    // The pipeline keeps going while the disk is broken.
    w.append(p, lines.take(2));
    expect(await settle(f, col, 5)).toEqual(w.expected());
    expect(store.get(f.key)!.offset).toBe(w.end);

    // The disk is fixed: the next period writes the latest record.
    rmdirSync(store.fileFor(p));
    await waitFor(() => store.stats().dirty === 0, 'the retried write succeeded');
    const reopened = await CheckpointStore.open(stateDir);
    expect(reopened.get(f.key)).toMatchObject({ offset: w.end, fingerprint: w.fingerprint, path: p });
    expect(reopened.corrupt).toEqual([]);
    expect(readdirSync(stateDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(store.stats()).toMatchObject({ records: 1, dirty: 0 });
  });

  it('a state directory that cannot be created: open() still works, writes fail and are counted', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const stateDir = path.join(dir, 'state');
    writeFileSync(stateDir, 'not a directory');
    const { logger, records } = recordingLogger();
    const store = await CheckpointStore.open(stateDir, { debounceMs: 20, logger });
    expect(records).toContainEqual(expect.objectContaining({ level: 'error', obj: expect.objectContaining({ dir: stateDir }) }));

    const w = new Written().append(p, lines.take(4));
    const col = new Collector();
    const f = await s.follow({ path: p, store, autoCommit: true }, col);
    expect(await settle(f, col, 4)).toEqual(w.expected());
    await waitFor(() => store.failures >= 1, 'a failed write');
    expect(store.get(f.key)!.offset).toBe(w.end);

    rmSync(stateDir);
    mkdirSync(stateDir);
    await waitFor(() => store.stats().dirty === 0, 'the retried write succeeded');
    expect((await CheckpointStore.open(stateDir)).get(f.key)!.offset).toBe(w.end);
  });
});
