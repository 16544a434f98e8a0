/**
 * Fault: a line is being written when we read (stunnel's write lands in pieces, or we poll between two
 * writes). A partial line is never delivered early, is delivered whole once its newline arrives, is never
 * committed (a restart resumes at its start, not in its middle), and a partial last line of a file we leave
 * is never glued to the next file's first line.
 */
import { renameSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('partial lines', () => {
  it('holds a partial line until its newline arrives, then delivers it once, whole', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const w = new Written().append(p, lines.take(2));
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');

    const line = lines.one();
    for (const [from, to] of [[0, 7], [7, 30], [30, line.length - 1]] as const) {
      w.appendRaw(p, line.subarray(from, to));
      await waitFor(() => f.metrics().readOffset === w.size, `read up to ${w.size}`);
      await f.check();
      expect(col.got.length).toBe(2);
    }
    w.appendRaw(p, line.subarray(line.length - 1));
    w.append(p, lines.take(1));

    const expected = w.expected();
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.got[2]!.text).toBe(line.toString('latin1'));
  });

  it('never commits a partial line: a restart resumes at its start and delivers it whole', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const store = await CheckpointStore.open(path.join(dir, 'state'), { debounceMs: 10 });
    const w = new Written().append(p, lines.take(3));
    const line = lines.one();
    w.appendRaw(p, line.subarray(0, 25));
    const col1 = new Collector();
    const f1 = await s.follow({ path: p, store, autoCommit: true }, col1);
    await waitFor(() => f1.metrics().readOffset === w.size, 'partial line read');
    await f1.stop();
    const checkpoint = store.get(f1.key)!.offset;
    expect(checkpoint).toBe(w.end);
    expect(col1.lines).toEqual(w.expected());

    w.appendRaw(p, line.subarray(25));
    w.append(p, lines.take(1));
    const col2 = new Collector();
    const f2 = await s.follow({ path: p, store, autoCommit: true }, col2);
    expect(await settle(f2, col2, 2)).toEqual(w.expected(checkpoint));
    expect(col2.chunks[0]!.chunk.baseOffset).toBe(checkpoint);
  });

  it('drops the unterminated last line of a rotated file instead of gluing it to the new file', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const old = new Written().append(p, lines.take(2));
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');
    const half = lines.one().subarray(0, 30);
    old.appendRaw(p, half);
    await waitFor(() => f.metrics().readOffset === old.size, 'partial line read');
    renameSync(p, p + '.1');
    const neu = new Written().append(p, lines.take(2));

    const expected = [...old.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('partial-line-dropped')).toEqual([
      expect.objectContaining({ readFrom: p, offset: old.end, bytes: half.length }),
    ]);
  });
});
