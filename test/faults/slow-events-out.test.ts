/**
 * A slow reader of the NDJSON output (a log shipper that stalls, a full pipe): the sidecar must not drop events
 * it has already moved the checkpoint past. It pauses reading while the output is congested and delivers every
 * event of the real logs, in order; nothing is counted as dropped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDoctor, type Doctor } from '../../src/doctor.js';
import { scanFiles, type DoctorEvent } from '../../src/index.js';
import { corpus, metricSum, tmp, waitFor } from './helpers.js';

const doctors: Doctor[] = [];
afterEach(async () => {
  await Promise.all(doctors.splice(0).map((d) => d.close()));
});

describe('a slow NDJSON reader', () => {
  it('pauses the reading instead of dropping events; every event is delivered once the reader catches up', async () => {
    const real = Buffer.concat([corpus(), corpus()]);
    const p = join(tmp(), 'slow.log');
    writeFileSync(p, real);
    const expected = (await scanFiles([p], { proxy: 'p' })).events;
    const got: DoctorEvent[] = [];
    let congested = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) got.push(JSON.parse(l) as DoctorEvent);
        setTimeout(cb, 2); // a reader far slower than the sidecar
      },
    });
    const d = await createDoctor({ proxies: [{ name: 'p', log: p }], pollMs: 50, eventsOut: slow, eventsOutMaxBuffered: 2048 });
    doctors.push(d);
    slow.on('drain', () => congested++);
    await waitFor(() => got.length >= expected.length && d.status()[0]?.files[0]?.offset === real.length, 'every event through the slow reader', 30_000);
    expect(got.map((e) => e.id)).toEqual(expected.map((e) => e.id));
    expect(congested).toBeGreaterThan(0); // the output really was congested
    expect(metricSum(await d.metrics.render(), 'stunnel_doctor_events_dropped_total')).toBe(0);
  });
});
