/**
 * Fault: the followed path is a symlink and it is swapped to another file (a deployment switching
 * `current/` releases, or a per-day log behind a stable name). Reported (symlink-changed), the old target is
 * drained, the new target read from 0. A symlink swapped to something unusable (a directory, a dangling
 * target) is reported and retried without losing the old file.
 */
import { mkdirSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

/** Atomically points `link` at `target` (like `ln -sfn` through a rename). */
function swap(link: string, target: string): void {
  const tmp = link + '.new';
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

describe('symlink swapped', () => {
  it('drains the old target, then reads the new one from 0', async () => {
    const lines = new Lines();
    const dir = s.dir();
    mkdirSync(path.join(dir, 'a'));
    mkdirSync(path.join(dir, 'b'));
    const t1 = path.join(dir, 'a', 'stunnel.log');
    const t2 = path.join(dir, 'b', 'stunnel.log');
    const link = path.join(dir, 'stunnel.log');
    const one = new Written().append(t1, lines.take(2));
    symlinkSync(t1, link);
    const col = new Collector();
    const f = await s.follow({ path: link }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');
    one.append(t1, lines.take(1)); // appended through the target's directory watch
    await waitFor(() => col.got.length === 3, 'appended line');

    one.append(t1, lines.take(1));
    const two = new Written().append(t2, lines.take(2));
    swap(link, t2);
    const expected = [...one.expected(), ...two.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    two.append(t2, lines.take(1));
    expect(await settle(f, col, expected.length + 1)).toEqual([...one.expected(), ...two.expected()]);
    expect(col.noticesOf('symlink-changed')).toEqual([expect.objectContaining({ previousTarget: t1, target: t2 })]);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'rename', offset: one.end })]);
  });

  it('a symlink to a directory or to nothing is reported; the old target keeps being read', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const t1 = path.join(dir, 'one.log');
    const t2 = path.join(dir, 'two.log');
    const link = path.join(dir, 'stunnel.log');
    const one = new Written().append(t1, lines.take(2));
    symlinkSync(t1, link);
    const col = new Collector();
    const f = await s.follow({ path: link }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');

    swap(link, dir); // now a directory
    await waitFor(() => col.noticesOf('error').length === 1, 'not-a-file notice');
    expect(col.noticesOf('error')[0]).toMatchObject({ reason: 'not-a-file' });
    one.append(t1, lines.take(1));
    await settle(f, col, 3, 'the old target is still read');

    swap(link, path.join(dir, 'missing.log')); // dangling
    await f.check();
    one.append(t1, lines.take(1));
    await settle(f, col, 4, 'still read while the link dangles');

    const two = new Written().append(t2, lines.take(2));
    unlinkSync(link);
    symlinkSync(t2, link);
    const expected = [...one.expected(), ...two.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('symlink-changed').map((n) => n.target)).toEqual([dir, path.join(dir, 'missing.log'), t2]);
  });
});
