/**
 * Fault: a line longer than the bound (a runaway peer-supplied string in a log line). The follower passes
 * `maxLineBytes` to the LineChunker: the line is delivered once, cut to the bound and flagged, with its true
 * end as `endOffset`; the lines around it are untouched, and a partial overlong line is not buffered whole.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('overlong lines', () => {
  it('delivers a line over maxLineBytes once, cut and flagged, written in pieces', async () => {
    const lines = new Lines();
    const long = lines.longest();
    const max = 100;
    expect(long.length).toBeGreaterThan(max + 20);
    const p = path.join(s.dir(), 'stunnel.log');
    const w = new Written().append(p, lines.takeShorter(2, max));
    const before = w.lines.length;
    const col = new Collector();
    const f = await s.follow({ path: p, maxLineBytes: max }, col);
    await waitFor(() => col.got.length === before, 'initial lines');

    const start = w.size;
    w.appendRaw(p, long.subarray(0, max + 5));
    await waitFor(() => f.metrics().readOffset === w.size, 'first piece read');
    w.appendRaw(p, long.subarray(max + 5));
    const after = lines.takeShorter(3, max);
    w.append(p, after);

    const n = before + 1 + after.length;
    await settle(f, col, n);
    expect(col.got).toHaveLength(n);
    const cut = col.got[before]!;
    expect(cut).toMatchObject({ offset: start, cut: true });
    expect(cut.text).toBe(long.subarray(0, max - 1).toString('latin1') + '\n');
    expect(col.chunks.find((c) => c.chunk.cut)!.chunk.endOffset).toBe(start + long.length);
    expect(col.lines.filter((_, i) => i !== before)).toEqual(w.expected().filter((e) => e.offset !== start));
    expect(f.metrics().cutLines).toBe(1);
  });
});
