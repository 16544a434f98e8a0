/**
 * Fault: the log is rotated more than once while the sidecar is down (or before its first commit after a
 * restart), as in the end-to-end trial: `create` + SIGUSR1, then `copytruncate`. The checkpoint's file is
 * found two rotations back (`path.2`); the files rotated after it (`path.1`) hold lines the sidecar never
 * read. The restart must read the rest of the checkpoint's file, then every newer rotated file from its
 * start, then the file at the path: none skipped, none read twice.
 */
import { copyFileSync, renameSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { Collector, Lines, Scratch, settle, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('rotated twice while down', () => {
  it('rename, rename: the rest of path.2, all of path.1, then the new file', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const state = path.join(dir, 'state');
    const a = new Written().append(p, lines.take(4));
    await s.firstRun(p, state, 4);

    a.append(p, lines.take(2));
    renameSync(p, `${p}.1`);
    const b = new Written().append(p, lines.take(3));
    renameSync(`${p}.1`, `${p}.2`);
    renameSync(p, `${p}.1`);
    const c = new Written().append(p, lines.take(2));

    const col = new Collector();
    const rotatedNames = [1, 2, 3].map((i) => `${p}.${i}`);
    const f = await s.follow({ path: p, store: await CheckpointStore.open(state), autoCommit: true, rotatedNames }, col);
    const from = a.expected().length - 2;
    const expected = [...a.expected().slice(from), ...b.expected(), ...c.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got.map((g) => g.readFrom)).toEqual([
      ...Array(2).fill(`${p}.2`), ...Array(3).fill(`${p}.1`), ...Array(2).fill(p),
    ]);
    expect(col.noticesOf('rotated')).toEqual([
      expect.objectContaining({ mode: 'rename', whileDown: true, readFrom: `${p}.2`, fingerprint: a.fingerprint }),
      expect.objectContaining({ mode: 'rename', whileDown: true, readFrom: `${p}.1`, offset: 0, fingerprint: b.fingerprint }),
    ]);
    expect(f.metrics().rotations.rename).toBe(2);
  });

  it('create, then copytruncate (the end-to-end trial\'s sequence): path.2, path.1, then the truncated file', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const state = path.join(dir, 'state');
    const a = new Written().append(p, lines.take(4));
    await s.firstRun(p, state, 4);

    a.append(p, lines.take(1));
    renameSync(p, `${p}.1`); // create
    const b = new Written().append(p, lines.take(3));
    renameSync(`${p}.1`, `${p}.2`); // copytruncate: older files move up, the log is copied, then truncated
    copyFileSync(p, `${p}.1`);
    truncateSync(p, 0);
    const c = new Written().append(p, lines.take(2));

    const col = new Collector();
    const rotatedNames = [1, 2, 3].map((i) => `${p}.${i}`);
    const f = await s.follow({ path: p, store: await CheckpointStore.open(state), autoCommit: true, rotatedNames }, col);
    const expected = [...a.expected().slice(4), ...b.expected(), ...c.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got.map((g) => g.readFrom)).toEqual([`${p}.2`, ...Array(3).fill(`${p}.1`), ...Array(2).fill(p)]);
  });

  it('a copy not truncated yet (copytruncate in progress) is not read twice: the file at the path is read', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const state = path.join(dir, 'state');
    const a = new Written().append(p, lines.take(3));
    await s.firstRun(p, state, 3);

    renameSync(p, `${p}.1`);
    const b = new Written().append(p, lines.take(3));
    renameSync(`${p}.1`, `${p}.2`);
    copyFileSync(p, `${p}.1`); // copied, not truncated yet

    const col = new Collector();
    const rotatedNames = [1, 2, 3].map((i) => `${p}.${i}`);
    const f = await s.follow({ path: p, store: await CheckpointStore.open(state), autoCommit: true, rotatedNames }, col);
    expect(await settle(f, col, b.expected().length)).toEqual(b.expected());
    expect(col.got.every((g) => g.readFrom === p)).toBe(true);
    expect(a.expected()).toHaveLength(3);
  });

  it('while running: two renames between two checks are read in order, path.1 included', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const a = new Written().append(p, lines.take(3));
    const col = new Collector();
    // No filesystem events and a long poll: the follower sees both rotations at its next check.
    const rotatedNames = [1, 2, 3].map((i) => `${p}.${i}`);
    const f = await s.follow({ path: p, watch: false, pollMs: 3_600_000, rotatedNames }, col);
    await settle(f, col, 3);

    a.append(p, lines.take(1));
    renameSync(p, `${p}.1`);
    const b = new Written().append(p, lines.take(2));
    renameSync(`${p}.1`, `${p}.2`);
    renameSync(p, `${p}.1`);
    const c = new Written().append(p, lines.take(2));
    await f.check();
    const expected = [...a.expected(), ...b.expected(), ...c.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated').map((n) => [n.mode, n.readFrom])).toEqual([['rename', p], ['rename', `${p}.1`]]);
  });
});
