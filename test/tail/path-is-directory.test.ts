/**
 * Fault: the configured path is a directory (a config mistake, or `output =` pointing at a directory that a
 * deployment created). Reported (error, reason not-a-file, EISDIR), retried with backoff, never fatal; when
 * a regular file takes its place it is read from 0. If the path turns into a directory while we follow the
 * file, the old file keeps being read until a file is back.
 */
import { mkdirSync, renameSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('path is a directory', () => {
  it('reports it, retries, and reads the file that replaces it from 0', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    mkdirSync(p);
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    expect(col.noticesOf('error')).toEqual([expect.objectContaining({ reason: 'not-a-file', code: 'EISDIR', path: p })]);
    await waitFor(() => f.metrics().errors >= 3, 'retries');
    expect(f.metrics().state).toBe('error');

    rmdirSync(p);
    const w = new Written().append(p, lines.take(3));
    expect(await settle(f, col, 3)).toEqual(w.expected());
    expect(col.noticesOf('error')).toHaveLength(1);
    expect(col.noticesOf('recovered')).toHaveLength(1);
  });

  it('keeps reading the old file while the path is a directory', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const old = new Written().append(p, lines.take(2));
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');

    renameSync(p, p + '.1');
    mkdirSync(p);
    await waitFor(() => col.noticesOf('error').length === 1, 'not-a-file notice');
    old.append(p + '.1', lines.take(2));
    await settle(f, col, 4, 'lines appended to the old file');

    rmdirSync(p);
    const neu = new Written().append(p, lines.take(2));
    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'rename', offset: old.end })]);
  });
});
