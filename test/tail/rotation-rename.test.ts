/**
 * Fault: rename + create rotation (logrotate `create`, then stunnel reopens its log on SIGUSR1). Until the
 * reopen, stunnel keeps appending to the renamed file. The follower must drain the old file to its end,
 * then follow the new one from offset 0: every line once, in order, none lost.
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('rotation: rename + create', () => {
  it('drains the renamed file (including lines written to it after the rename) before the new file', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const old = new Written().append(p, lines.take(5));
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    await waitFor(() => col.got.length === 5, 'initial lines');

    old.append(p, lines.take(2));
    // logrotate: rename; stunnel still has the old file open and writes one more line before the reopen.
    renameSync(p, p + '.1');
    old.append(p + '.1', lines.take(1));
    // stunnel reopens (SIGUSR1): a new file at the path.
    const neu = new Written().append(p, lines.take(2));
    neu.append(p, lines.take(1));

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got.slice(0, 8).every((g) => g.fp === old.fingerprint)).toBe(true);
    expect(col.got.slice(8).map((g) => g.offset)).toEqual([0, neu.lines[1]!.offset, neu.lines[2]!.offset]);
    const rot = col.noticesOf('rotated');
    expect(rot).toEqual([expect.objectContaining({ mode: 'rename', offset: old.end, fingerprint: old.fingerprint })]);
    expect(f.metrics().rotations.rename).toBe(1);
  });

  it('keeps reading the old file while the new one (logrotate `create`) is still empty', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const old = new Written().append(p, lines.take(3));
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    await waitFor(() => col.got.length === 3, 'initial lines');

    renameSync(p, p + '.1');
    writeFileSync(p, ''); // logrotate `create`: an empty file, stunnel not reopened yet
    await f.check();
    old.append(p + '.1', lines.take(2)); // stunnel still writes to the renamed file
    await waitFor(() => col.got.length === 5, 'lines written to the renamed file');
    expect(col.noticesOf('rotated')).toEqual([]);

    const neu = new Written().append(p, lines.take(3)); // after SIGUSR1: the new file
    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'rename', offset: old.end })]);
  });

  it('needs no poll: the directory watch wakes reading for appends, the rename and the renamed file', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const old = new Written().append(p, lines.take(2));
    const col = new Collector();
    const f = await s.follow({ path: p, pollMs: 600_000 }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');
    old.append(p, lines.take(1));
    await waitFor(() => col.got.length === 3, 'an appended line, woken by the watch');
    renameSync(p, p + '.1');
    writeFileSync(p, '');
    old.append(p + '.1', lines.take(1));
    await waitFor(() => col.got.length === 4, 'a line appended to the renamed file, woken by the watch');
    const neu = new Written().append(p, lines.take(2));
    await waitFor(() => col.got.length === 6, 'the new file, woken by the watch');
    expect(col.lines).toEqual([...old.expected(), ...neu.expected()]);
    await f.check();
    expect(col.lines).toHaveLength(6);
  });

  it('rotates twice in a row without losing or repeating a line', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const a = new Written().append(p, lines.take(2));
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');

    renameSync(p, p + '.1');
    const b = new Written().append(p, lines.take(2));
    await settle(f, col, 4, 'first rotation');
    renameSync(p, p + '.1');
    b.append(p + '.1', lines.take(1));
    const c = new Written().append(p, lines.take(2));

    const expected = [...a.expected(), ...b.expected(), ...c.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated').map((n) => n.mode)).toEqual(['rename', 'rename']);
  });
});
