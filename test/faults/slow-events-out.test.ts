/**
 * A slow reader of the NDJSON output (a log shipper that stalls, a full pipe): the sidecar must not drop events
 * it has already moved the checkpoint past. It pauses reading while the output is congested and delivers every
 * event of the real logs, in order, once the reader goes on; nothing is counted as dropped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDoctor, type Doctor } from '../../src/doctor.js';
import { scanFiles, type DoctorEvent } from '../../src/index.js';
import { corpus, metricSum, sleep, tmp, waitFor } from './helpers.js';

const doctors: Doctor[] = [];
afterEach(async () => {
  await Promise.all(doctors.splice(0).map((d) => d.close()));
});

describe('a slow NDJSON reader', () => {
  it('pauses the reading while the reader stalls; every event is delivered once it goes on', async () => {
    const real = Buffer.concat([corpus(), corpus()]);
    const p = join(tmp(), 'slow.log');
    writeFileSync(p, real);
    const expected = (await scanFiles([p], { proxy: 'p' })).events;
    const got: DoctorEvent[] = [];
    // A reader that takes nothing until released, then is slow.
    let stalled = true;
    const held: (() => void)[] = [];
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) got.push(JSON.parse(l) as DoctorEvent);
        if (stalled) held.push(cb);
        else setTimeout(cb, 2);
      },
    });
    // Small read turns, so that the reading has to wait for the output between them.
    const d = await createDoctor({
      proxies: [{ name: 'p', log: p }], pollMs: 50, eventsOut: slow, eventsOutMaxBuffered: 2048, maxReadBytes: 8192,
    });
    doctors.push(d);
    const offset = (): number => d.status()[0]?.files[0]?.offset ?? 0;
    await waitFor(() => slow.writableLength > 2048, 'the stalled output to fill', 30_000);
    // The reading has stopped: a stall of the reader holds it, at a bounded amount unwritten (one read turn's events
    // past the bound), not the whole file.
    await sleep(500);
    const pausedAt = offset();
    expect(pausedAt).toBeLessThan(real.length);
    expect(slow.writableLength).toBeLessThan(2048 + 8 * 8192);
    await sleep(300);
    expect(offset()).toBe(pausedAt);
    // The reader goes on: everything arrives, in order, nothing dropped.
    stalled = false;
    held.splice(0).forEach((cb) => cb());
    await waitFor(() => got.length >= expected.length && offset() === real.length, 'every event through the slow reader', 30_000);
    expect(got.map((e) => e.id)).toEqual(expected.map((e) => e.id));
    expect(metricSum(await d.metrics.render(), 'stunnel_doctor_events_dropped_total')).toBe(0);
  });
});
