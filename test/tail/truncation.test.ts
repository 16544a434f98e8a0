/**
 * Fault: truncation in place (stunnel `log = overwrite` truncates its log when it (re)opens it). Same inode,
 * new content from offset 0, no rotated copy. The follower must notice (the file got shorter than our
 * offset, or it kept its size or grew but its first line changed) and read the new content from 0.
 */
import { copyFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

async function setup(initial: number) {
  const lines = new Lines();
  const dir = s.dir();
  const p = path.join(dir, 'stunnel.log');
  const old = new Written().append(p, lines.take(initial));
  const col = new Collector();
  const f = await s.follow({ path: p }, col);
  await waitFor(() => col.got.length === initial, 'initial lines');
  return { lines, dir, p, old, col, f };
}

describe('truncation in place', () => {
  it('restarts at 0 when the file got shorter than our offset', async () => {
    const { lines, p, old, col, f } = await setup(5);
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(1));
    expect(neu.size).toBeLessThan(old.size);

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'truncate', offset: old.end })]);
    expect(f.metrics().rotations.truncate).toBe(1);
  });

  it('detects a rewrite to exactly the same size by the first line', async () => {
    const { lines, p, old, col, f } = await setup(0);
    const [a, b, c] = lines.take(3) as [Buffer, Buffer, Buffer];
    old.append(p, [a, b, c]);
    await settle(f, col, 3);
    // Overwrite with the same lines in another order: same size, different first line.
    writeFileSync(p, Buffer.concat([c, a, b]));
    const neu = new Written().note([c, a, b]);

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated').map((n) => n.mode)).toEqual(['truncate']);
  });

  it('is not fooled by a rotated file with another fingerprint (no copytruncate without our content)', async () => {
    const { lines, p, old, col, f } = await setup(3);
    new Written().append(p + '.1', lines.take(4)); // yesterday's rotation, larger than our offset
    old.append(p, lines.take(1));
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(2));

    // The line appended just before the truncation was never read: it is gone (no copy holds it).
    const expected = [...old.expected(0, old.lines[3]!.offset), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'truncate' })]);
  });

  it('truncated while we were down: same inode, new first line, starts at 0', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const store = await CheckpointStore.open(path.join(dir, 'state'), { debounceMs: 10 });
    const old = new Written().append(p, lines.take(4));
    const col1 = new Collector();
    const f1 = await s.follow({ path: p, store, autoCommit: true }, col1);
    await settle(f1, col1, 4);
    await f1.stop();
    expect(store.get(f1.key)?.offset).toBe(old.end);

    truncateSync(p, 0); // stunnel restarted with `log = overwrite`
    const neu = new Written().append(p, lines.take(3));
    const col2 = new Collector();
    const f2 = await s.follow({ path: p, store, autoCommit: true }, col2);
    expect(await settle(f2, col2, 3)).toEqual(neu.expected());
    expect(col2.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'truncate', whileDown: true, offset: old.end })]);
    expect(col1.lines).toEqual(old.expected());
  });

  it('copies do not count when they are smaller than what we had read', async () => {
    const { lines, p, old, col, f } = await setup(4);
    copyFileSync(p, p + '.1');
    truncateSync(p + '.1', old.lines[2]!.offset); // an older copy of our content, shorter than our offset
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(1));
    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated').map((n) => n.mode)).toEqual(['truncate']);
  });
});
