/**
 * Fault: the consumer (parser/rules/correlator) throws on a chunk. The follower reports it (error, reason
 * consumer-error), counts it, and goes on with the next lines: one bad chunk never stops the file.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Chunk } from '../../src/tail/chunk.js';
import type { FileRef } from '../../src/tail/follower.js';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('consumer error', () => {
  it('reports a throwing consumer and keeps delivering', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const w = new Written().append(p, lines.take(2));
    const col = new Collector();
    let calls = 0;
    const onChunk = (chunk: Chunk, file: FileRef) => {
      col.onChunk(chunk, file);
      if (++calls === 2) throw new Error('rule blew up');
    };
    const f = await s.follow({ path: p, onChunk }, col);
    await waitFor(() => col.got.length === 2, 'initial lines');
    w.append(p, lines.take(1));
    await waitFor(() => col.noticesOf('error').length === 1, 'consumer-error notice');
    w.append(p, lines.take(2));
    expect(await settle(f, col, 5)).toEqual(w.expected());
    expect(col.noticesOf('error')).toEqual([
      expect.objectContaining({ reason: 'consumer-error', error: 'rule blew up', offset: w.lines[2]!.offset }),
    ]);
    expect(f.metrics().errors).toBe(1);
  });
});
