/**
 * Fault: the log file is deleted while stunnel still has it open (rm by an operator or a cleanup job).
 * What stunnel writes after the deletion is read through our open handle; then the follower waits for the
 * path to come back and reads the new file from 0.
 */
import { closeSync, openSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

describe('deletion', () => {
  it('reads what the writer appends after the deletion, then the recreated file from 0', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const fd = openSync(p, 'a'); // stunnel's descriptor
    try {
      const old = new Written().append(fd, lines.take(3));
      const col = new Collector();
      const f = await s.follow({ path: p }, col);
      await waitFor(() => col.got.length === 3, 'initial lines');

      unlinkSync(p);
      old.append(fd, lines.take(2)); // written into the deleted file
      await waitFor(() => col.noticesOf('deleted').length === 1, 'deleted notice');
      await settle(f, col, 5, 'lines written after the deletion');
      old.append(fd, lines.take(1));
      await settle(f, col, 6, 'more lines written after the deletion');
      expect(f.metrics().state).toBe('following');

      const neu = new Written().append(p, lines.take(2)); // the path comes back
      const expected = [...old.expected(), ...neu.expected()];
      expect(await settle(f, col, expected.length)).toEqual(expected);
      expect(col.noticesOf('deleted')).toEqual([expect.objectContaining({ readFrom: p })]);
      expect(col.noticesOf('rotated')).toEqual([expect.objectContaining({ mode: 'replaced', offset: old.end })]);
    } finally {
      closeSync(fd);
    }
  });

  it('deleted and recreated between two looks: drains the deleted file, then reads the new one', async () => {
    const lines = new Lines();
    const p = path.join(s.dir(), 'stunnel.log');
    const fd = openSync(p, 'a');
    try {
      const old = new Written().append(fd, lines.take(2));
      const col = new Collector();
      const f = await s.follow({ path: p }, col);
      await waitFor(() => col.got.length === 2, 'initial lines');
      unlinkSync(p);
      old.append(fd, lines.take(2));
      const neu = new Written().append(p, lines.take(2));
      const expected = [...old.expected(), ...neu.expected()];
      expect(await settle(f, col, expected.length)).toEqual(expected);
    } finally {
      closeSync(fd);
    }
  });
});
