/**
 * Fault: the log is rotated several times while the sidecar is down, with Debian's stunnel4 logrotate
 * settings (`compress` + `delaycompress`): the checkpoint's file is now `path.2.gz` (or older), the newest
 * rotated file `path.1` is plain. The restart must read the rest of the checkpoint's file from the
 * decompressed bytes (checkpoint offsets are offsets in the uncompressed file), then every newer rotated
 * file, compressed or not, then the file at the path: none skipped, none read twice.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { logrotateNames } from '../../src/tail/rotated-names.js';
import { Collector, Lines, Scratch, settle, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

/** What logrotate's `compress` does to a rotated file: `x` becomes `x.gz`. */
function compress(file: string): void {
  writeFileSync(`${file}.gz`, gzipSync(readFileSync(file)));
  rmSync(file);
}

/** One logrotate run with `delaycompress`: older copies move up, `.1` is compressed as it becomes `.2`. */
function rotate(p: string, keep = 5): void {
  for (let i = keep - 1; i >= 2; i--) {
    try {
      renameSync(`${p}.${i}.gz`, `${p}.${i + 1}.gz`);
    } catch {
      /* not there yet */
    }
  }
  try {
    renameSync(`${p}.1`, `${p}.2`);
    compress(`${p}.2`);
  } catch {
    /* first rotation */
  }
  renameSync(p, `${p}.1`);
}

/** The restart: following `p` again from its checkpoint in `state`, searching rotated copies as the sidecar does. */
async function resume(p: string, state: string) {
  const col = new Collector();
  const f = await s.follow({ path: p, store: await CheckpointStore.open(state), autoCommit: true, rotatedNames: logrotateNames }, col);
  return { col, f };
}

/** A log of `n` lines in a fresh directory, read and checkpointed by a first run of the follower. */
async function firstRun(n: number) {
  const lines = new Lines();
  const dir = s.dir();
  const p = path.join(dir, 'stunnel.log');
  const state = path.join(dir, 'state');
  const a = new Written().append(p, lines.take(n));
  await s.firstRun(p, state, n);
  return { lines, dir, p, state, a };
}

const ourTemps = (): string[] => readdirSync(tmpdir()).filter((n) => n.startsWith('stunnel-doctor-gz-'));

describe('rotated and compressed while down', () => {
  it('rotate twice (delaycompress): the rest of path.2.gz, all of path.1, then the new file', async () => {
    const { lines, p, state, a } = await firstRun(4);
    const tempsBefore = ourTemps();

    a.append(p, lines.take(3));
    rotate(p);
    const b = new Written().append(p, lines.take(2));
    rotate(p);
    const c = new Written().append(p, lines.take(2));

    const { col, f } = await resume(p, state);
    const expected = [...a.expected().slice(4), ...b.expected(), ...c.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got.map((g) => g.readFrom)).toEqual([...Array(3).fill(`${p}.2.gz`), ...Array(2).fill(`${p}.1`), ...Array(2).fill(p)]);
    expect(col.noticesOf('rotated')).toEqual([
      expect.objectContaining({ mode: 'rename', whileDown: true, readFrom: `${p}.2.gz`, fingerprint: a.fingerprint }),
      expect.objectContaining({ mode: 'rename', whileDown: true, readFrom: `${p}.1`, offset: 0, fingerprint: b.fingerprint }),
    ]);
    // The decompressed copy is a temporary file, gone once read.
    expect(ourTemps()).toEqual(tempsBefore);
  });

  it('rotate three times: path.3.gz from the checkpoint, path.2.gz and path.1 whole, then the new file', async () => {
    const { lines, p, state, a } = await firstRun(3);

    a.append(p, lines.take(1));
    rotate(p);
    const b = new Written().append(p, lines.take(2));
    rotate(p);
    const c = new Written().append(p, lines.take(2));
    rotate(p);
    const d = new Written().append(p, lines.take(1));

    const { col, f } = await resume(p, state);
    const expected = [...a.expected().slice(3), ...b.expected(), ...c.expected(), ...d.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got.map((g) => g.readFrom)).toEqual([`${p}.3.gz`, `${p}.2.gz`, `${p}.2.gz`, `${p}.1`, `${p}.1`, p]);
  });

  it('logrotate compresscmd xz, zstd or bzip2: the rest of path.2.xz (.zst, .bz2) through the tool, then path.1 and the new file', async () => {
    // Each tool as logrotate runs it: the file compressed in place, the original removed.
    for (const [tool, ext, args] of [['xz', '.xz', ['-q']], ['zstd', '.zst', ['-q', '--rm']], ['bzip2', '.bz2', ['-q']]] as const) {
      const { lines, dir, p, state, a } = await firstRun(4);

      a.append(p, lines.take(3));
      renameSync(p, `${p}.1`);
      const b = new Written().append(p, lines.take(2));
      // The second rotation: .1 becomes .2 and is compressed by the tool (its default suffix), .1 is plain.
      renameSync(`${p}.1`, `${p}.2`);
      expect(spawnSync(tool, [...args, `${p}.2`]).status, tool).toBe(0);
      expect(readdirSync(dir).filter((n) => n.startsWith('stunnel.log.2')), tool).toEqual([`stunnel.log.2${ext}`]);
      renameSync(p, `${p}.1`);
      const c = new Written().append(p, lines.take(2));

      const { col, f } = await resume(p, state);
      const expected = [...a.expected().slice(4), ...b.expected(), ...c.expected()];
      expect(await settle(f, col, expected.length), tool).toEqual(expected);
      expect(col.got.map((g) => g.readFrom), tool).toEqual([...Array(3).fill(`${p}.2${ext}`), ...Array(2).fill(`${p}.1`), ...Array(2).fill(p)]);
      await f.stop();
    }
  });

  it('logrotate dateext (Red Hat\'s default): the rest of path-YYYYMMDD.gz, the newer dated copy, then the new file', async () => {
    const { lines, dir, p, state, a } = await firstRun(4);

    a.append(p, lines.take(3));
    renameSync(p, `${p}-20261201`);
    const b = new Written().append(p, lines.take(2));
    renameSync(p, `${p}-20261202`);
    compress(`${p}-20261201`); // compress + delaycompress: the older copy is compressed at the next rotation
    const c = new Written().append(p, lines.take(2));
    new Written().append(path.join(dir, 'other.log-20261203'), lines.take(1)); // another log's copy: not ours

    expect(logrotateNames(p).slice(5)).toEqual([`${p}-20261202`, `${p}-20261201`]);
    const { col, f } = await resume(p, state);
    const expected = [...a.expected().slice(4), ...b.expected(), ...c.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got.map((g) => g.readFrom)).toEqual([...Array(3).fill(`${p}-20261201.gz`), ...Array(2).fill(`${p}-20261202`), ...Array(2).fill(p)]);
  });

  it('a compressed file with another first line is not taken for the checkpoint\'s', async () => {
    const { lines, dir, p, state } = await firstRun(3);

    // The checkpoint's file is gone (deleted, not rotated); an unrelated archive sits at path.2.gz.
    rmSync(p);
    const other = path.join(dir, 'other.log');
    new Written().append(other, lines.take(2));
    compress(other);
    renameSync(`${other}.gz`, `${p}.2.gz`);
    const c = new Written().append(p, lines.take(2));

    const { col, f } = await resume(p, state);
    expect(await settle(f, col, c.expected().length)).toEqual(c.expected());
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'replaced', whileDown: true })]);
  });
});
