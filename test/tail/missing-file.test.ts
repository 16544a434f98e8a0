/**
 * Fault: the log does not exist yet (stunnel not started, or its directory not created yet). The follower
 * reports it once, waits (directory watch + poll), and reads the file from offset 0 when it appears, even
 * when configured to start existing files at their end.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('missing file', () => {
  it('waits for the file and reads it from 0 when it appears', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const col = new Collector();
    const f = await s.follow({ path: p, pollMs: 60_000 }, col); // the directory watch must wake it
    expect(col.noticesOf('missing')).toEqual([expect.objectContaining({ path: p })]);
    expect(f.metrics().state).toBe('waiting');

    const w = new Written().append(p, lines.take(3));
    w.append(p, lines.take(2));
    expect(await settle(f, col, 5)).toEqual(w.expected());
    expect(col.noticesOf('opened')).toEqual([expect.objectContaining({ offset: 0, resume: 'beginning' })]);
    expect(col.noticesOf('missing')).toHaveLength(1);
    expect(f.metrics().errors).toBe(0);
  });

  it('waits for a directory that does not exist yet (poll fallback)', async () => {
    const lines = new Lines();
    const dir = path.join(s.dir(), 'not', 'yet');
    const p = path.join(dir, 'stunnel.log');
    const col = new Collector();
    const f = await s.follow({ path: p }, col);
    expect(col.noticesOf('missing')).toHaveLength(1);
    mkdirSync(dir, { recursive: true });
    const w = new Written().append(p, lines.take(4));
    expect(await settle(f, col, 4)).toEqual(w.expected());
  });

  it('reads a file that appears later from 0 even with startAt: end', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const col = new Collector();
    const f = await s.follow({ path: p, startAt: 'end' }, col);
    await waitFor(() => col.noticesOf('missing').length === 1, 'missing notice');
    const w = new Written().append(p, lines.take(3));
    expect(await settle(f, col, 3)).toEqual(w.expected());
  });

  it('startAt: end skips the history of a file that exists at start (control case)', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const w = new Written().append(p, lines.take(3));
    const col = new Collector();
    const f = await s.follow({ path: p, startAt: 'end' }, col);
    const start = w.size;
    w.append(p, lines.take(2));
    expect(await settle(f, col, 2)).toEqual(w.expected(start));
  });
});
