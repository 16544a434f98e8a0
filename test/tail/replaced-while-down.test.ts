/**
 * Fault: the file behind the checkpoint changed while the sidecar was down.
 * - replaced (deleted and recreated, no rotated copy): the new file is read from 0 and `replaced` reported;
 *   the old offset is never applied to the new content.
 * - renamed away (rotated to `.1` with lines we had not read, new file at the path): the rotated file is
 *   drained from the checkpoint offset first (found by fingerprint), then the new file from 0.
 * - copytruncated while down: the unread part comes from the copy, then the truncated file from 0.
 */
import { copyFileSync, renameSync, truncateSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { Collector, Lines, Scratch, settle, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

/** Runs a first follower over `n` lines, commits them all, stops it. */
async function firstRun(n: number) {
  const lines = new Lines();
  const dir = s.dir();
  const p = path.join(dir, 'stunnel.log');
  const store = await CheckpointStore.open(path.join(dir, 'state'), { debounceMs: 10 });
  const old = new Written().append(p, lines.take(n));
  const col = new Collector();
  const f = await s.follow({ path: p, store, autoCommit: true }, col);
  expect(await settle(f, col, n)).toEqual(old.expected());
  await f.stop();
  const checkpoint = store.get(f.key)!;
  expect(checkpoint.offset).toBe(old.end);
  return { lines, dir, p, store, old, checkpoint };
}

describe('file changed while we were down', () => {
  it('replaced: reads the new file from 0 and reports it', async () => {
    const { lines, p, store, old } = await firstRun(4);
    unlinkSync(p);
    // Larger than the checkpoint offset. On ext4 it usually even gets the freed inode number: identity is the
    // first line (and the birth time), not the inode.
    const neu = new Written().append(p, lines.take(6));
    expect(neu.size).toBeGreaterThan(old.end);

    const col = new Collector();
    const f = await s.follow({ path: p, store, autoCommit: true }, col);
    expect(await settle(f, col, 6)).toEqual(neu.expected());
    expect(col.noticesOf('rotated')).toEqual([
      expect.objectContaining({ mode: 'replaced', whileDown: true, offset: old.end, fingerprint: old.fingerprint }),
    ]);
    expect(f.metrics().rotations.replaced).toBe(1);
    await f.stop();
    expect(store.get(f.key)).toMatchObject({ fingerprint: neu.fingerprint, offset: neu.end });
  });

  it('renamed away: drains path.1 from the checkpoint offset, then the new file from 0', async () => {
    const { lines, p, store, old, checkpoint } = await firstRun(3);
    old.append(p, lines.take(2)); // written before the rotation, never read
    renameSync(p, p + '.1');
    old.append(p + '.1', lines.take(1)); // written before stunnel reopened
    const neu = new Written().append(p, lines.take(3));

    const col = new Collector();
    const f = await s.follow({ path: p, store, autoCommit: true }, col);
    const expected = [...old.expected(checkpoint.offset), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.chunks[0]!.chunk.baseOffset).toBe(checkpoint.offset);
    expect(col.got.slice(0, 3).map((g) => g.readFrom)).toEqual([p + '.1', p + '.1', p + '.1']);
    expect(col.noticesOf('rotated')).toEqual([
      expect.objectContaining({ mode: 'rename', whileDown: true, readFrom: p + '.1', offset: checkpoint.offset, gapBytes: old.end - checkpoint.offset }),
    ]);
  });

  it('renamed away with nothing left to read: the new file from 0, nothing repeated', async () => {
    const { lines, p, store, old } = await firstRun(3);
    renameSync(p, p + '.1');
    const neu = new Written().append(p, lines.take(2));
    const col = new Collector();
    const f = await s.follow({ path: p, store }, col);
    expect(await settle(f, col, 2)).toEqual(neu.expected());
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'rename', whileDown: true, gapBytes: 0, offset: old.end })]);
  });

  it('copytruncated: the unread part from the copy, then the truncated file from 0', async () => {
    const { lines, p, store, old, checkpoint } = await firstRun(3);
    old.append(p, lines.take(2));
    copyFileSync(p, p + '.1');
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(2));

    const col = new Collector();
    const f = await s.follow({ path: p, store }, col);
    const expected = [...old.expected(checkpoint.offset), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.chunks[0]!.chunk.baseOffset).toBe(checkpoint.offset);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'copytruncate', whileDown: true, readFrom: p + '.1' })]);
  });

  it('a crash while draining path.1: the next start resumes inside path.1', async () => {
    const { lines, p, store, old, checkpoint } = await firstRun(2);
    old.append(p, lines.take(4));
    renameSync(p, p + '.1');
    const neu = new Written().append(p, lines.take(2));

    // The consumer commits only the first line read from path.1, then the process dies.
    const col1 = new Collector();
    const f1 = await s.follow({ path: p, store, readChunkBytes: 32 }, col1);
    await settle(f1, col1, 6);
    const first = col1.chunks[0]!;
    expect(first.file.readFrom).toBe(p + '.1');
    expect(f1.commit(first.chunk.endOffset, undefined, first.file)).toBe(true);
    await f1.stop();
    expect(store.get(f1.key)).toMatchObject({ fingerprint: old.fingerprint, offset: first.chunk.endOffset });
    expect(first.chunk.baseOffset).toBe(checkpoint.offset);

    const col2 = new Collector();
    const f2 = await s.follow({ path: p, store }, col2);
    const expected = [...old.expected(first.chunk.endOffset), ...neu.expected()];
    expect(await settle(f2, col2, expected.length)).toEqual(expected);
  });
});
