/**
 * Fault: copytruncate rotation (logrotate copies stunnel.log to stunnel.log.1, then truncates stunnel.log
 * in place; stunnel keeps writing, now from offset 0). Lines appended after our last read and before the
 * truncation exist only in the copy: the follower must read that gap from `.1` (our offset → its end),
 * then the truncated file from 0. Detection must also work when the file has grown back past our offset
 * before we look (same inode, new first line).
 */
import { copyFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
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
  return { lines, p, old, col, f };
}

describe('rotation: copytruncate', () => {
  it('reads the unread gap from the rotated copy, then the truncated file from 0', async () => {
    const { lines, p, old, col, f } = await setup(3);
    const readTo = old.end;
    // All synchronous: the follower cannot read the two new lines before the truncation.
    old.append(p, lines.take(2));
    copyFileSync(p, p + '.1');
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(1));

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got.slice(3, 5).map((g) => g.readFrom)).toEqual([p + '.1', p + '.1']);
    expect(col.got[5]!.readFrom).toBe(p);
    expect(col.noticesOf('rotated')).toEqual([
      expect.objectContaining({ mode: 'copytruncate', readFrom: p + '.1', offset: readTo, gapBytes: old.end - readTo }),
    ]);
    expect(f.metrics().rotations.copytruncate).toBe(1);
  });

  it('detects the truncation by fingerprint when the file grew back past our offset', async () => {
    const { lines, p, old, col, f } = await setup(2);
    old.append(p, lines.take(1));
    copyFileSync(p, p + '.1');
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(12));
    expect(neu.size).toBeGreaterThan(old.size);

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated').map((n) => n.mode)).toEqual(['copytruncate']);
  });

  it('reports a copytruncate with an empty gap when everything was already read', async () => {
    const { lines, p, old, col, f } = await setup(4);
    copyFileSync(p, p + '.1');
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(2));

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'copytruncate', gapBytes: 0, offset: old.end })]);
  });

  it('drops a partial last line of the copy instead of gluing it to the new file', async () => {
    const { lines, p, old, col, f } = await setup(2);
    const cutLine = lines.one();
    old.append(p, lines.take(1));
    old.appendRaw(p, cutLine.subarray(0, 20)); // the copy was taken in the middle of a write
    copyFileSync(p, p + '.1');
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(2));

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('partial-line-dropped')).toEqual([
      expect.objectContaining({ readFrom: p + '.1', offset: old.end, bytes: 20 }),
    ]);
  });

  it('uses the configured rotated names', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const rotated = path.join(dir, 'stunnel.log-20261122');
    const old = new Written().append(p, lines.take(2));
    const col = new Collector();
    const f = await s.follow({ path: p, rotatedNames: [p + '.1', rotated] }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');
    old.append(p, lines.take(2));
    copyFileSync(p, rotated);
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(1));

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'copytruncate', readFrom: rotated })]);
  });
});
