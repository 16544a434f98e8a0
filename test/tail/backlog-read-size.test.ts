/**
 * Read sizes of the tail source: small reads for a live file's appends, bigger ones while a backlog is read in
 * bounded polls (each read is a thread-pool round trip the line processing waits for). Every byte still arrives
 * once, in order. The file is a real fixture log repeated to a few MiB.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogdnaTailSource } from '../../src/tail/source.js';

const REAL = readFileSync(new URL('../../fixtures/multi-service/d7.log', import.meta.url));

let dir = '';
let fh: FileHandle | null = null;
afterEach(async () => {
  await fh?.close();
  fh = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('read sizes of the tail source', () => {
  it('reads a backlog in backlogChunkBytes pieces after a poll stopped at its bound, and appends in readChunkBytes ones', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-readsize-'));
    const p = join(dir, 'proxy.log');
    const copies = Math.ceil((3 << 20) / REAL.length);
    writeFileSync(p, Buffer.concat(Array.from({ length: copies }, () => REAL)));
    fh = await open(p, 'r');
    const got: Buffer[] = [];
    let sizes: number[] = [];
    const src = new LogdnaTailSource(
      { fh, startPos: 0, readChunkBytes: 16 * 1024, backlogChunkBytes: 128 * 1024, maxPollBytes: 1 << 20 },
      {
        data: (b) => {
          got.push(Buffer.from(b));
          sizes.push(b.length);
        },
        truncated: () => {
          throw new Error('not truncated');
        },
        error: (e) => {
          throw e;
        },
      },
    );
    try {
      // The first poll does not know it is behind: small reads, and it stops at its bound.
      await src.poll();
      expect(src.limited).toBe(true);
      expect(Math.max(...sizes)).toBe(16 * 1024);
      const perPoll: number[][] = [];
      while (src.limited) {
        sizes = [];
        await src.poll();
        perPoll.push(sizes);
      }
      // Behind: 128 KiB reads (the last poll reads what is left, at most that).
      expect(perPoll.length).toBeGreaterThanOrEqual(3);
      for (const s of perPoll.slice(0, -1)) expect(Math.max(...s)).toBe(128 * 1024);
      expect(Math.max(...perPoll.at(-1)!)).toBeLessThanOrEqual(128 * 1024);
      expect(Buffer.concat(got).equals(readFileSync(p))).toBe(true);

      // Caught up: an append of ~100 KiB is read in small pieces again.
      const tail = Buffer.concat([REAL, REAL, REAL, REAL, REAL]);
      appendFileSync(p, tail);
      sizes = [];
      await src.poll();
      expect(src.limited).toBe(false);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(tail.length);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(16 * 1024);
      expect(Buffer.concat(got).equals(readFileSync(p))).toBe(true);
    } finally {
      await src.close();
    }
  });
});
