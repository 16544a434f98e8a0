/**
 * CPU starvation (sustained load, issue #6): a failing connection's verdict lines are read, its end line is
 * already written, but the follower has not read it yet (starved, or paused by a congested --events-out). The
 * 5 s quiet-period sweep must not conclude the connection then: that gave an incomplete event with another id,
 * and a second one when the end line was read. Deterministic: the follower is held back by a stalled NDJSON
 * output (the `ready` hook), and the monotonic clock (performance.now) is moved an hour forward instead of
 * waiting, so every housekeeping turn sees the quiet period long elapsed. The events equal a one-shot scan,
 * ids included.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDoctor, type Doctor } from '../../src/doctor.js';
import { scanFiles, type DoctorEvent } from '../../src/index.js';
import { briefDetail, FIXTURES, sleep, tmp, waitFor } from './helpers.js';

const doctors: Doctor[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(doctors.splice(0).map((d) => d.close()));
});

describe('quiet-period sweep while the follower is held back', () => {
  it('does not conclude a failure whose end line is written but not read yet', async () => {
    const real = readFileSync(join(FIXTURES, 'expired', 'd5.log'));
    const text = real.toString('latin1');
    // Cut right after the `Rejected by CERT` line: the verdict is known, the end line comes later.
    const cut = text.indexOf('\n', text.indexOf('Rejected by CERT')) + 1;
    expect(cut).toBeGreaterThan(0);
    const p = join(tmp(), 'starved.log');
    writeFileSync(p, real.subarray(0, cut));
    const expected = (await scanFiles([join(FIXTURES, 'expired', 'd5.log')], { proxy: 'p' })).events;
    expect(expected.some((e) => e.kind === 'cert_verify_failed')).toBe(true);

    // An NDJSON output that accepts writes but completes none until released: once the first event is written
    // the output is congested and the follower waits (ready) before its next check-and-read.
    let held: (() => void)[] = [];
    let hold = true;
    const out = new Writable({
      highWaterMark: 1,
      write(_chunk, _enc, cb) {
        if (hold) held.push(cb);
        else cb();
      },
    });
    const events: DoctorEvent[] = [];
    const d = await createDoctor({
      proxies: [{ name: 'p', log: p }], stateDir: tmp(), pollMs: 50, quietMs: 5000, eventsOut: out, eventsOutMaxBuffered: 1,
      onEvent: (e) => events.push(e),
    });
    doctors.push(d);
    await waitFor(() => d.status()[0]?.files[0]?.offset === cut, 'the first part to be read');
    await waitFor(() => held.length > 0, 'the output to be congested');

    appendFileSync(p, real.subarray(cut)); // the end line is written; the follower may not read it
    await sleep(300); // inotify and the poll fire; the follower waits on the output
    expect(d.status()[0]?.files[0]?.offset).toBe(cut);
    const realNow = performance.now.bind(performance);
    vi.spyOn(performance, 'now').mockImplementation(() => realNow() + 3_600_000); // an hour of "quiet"
    await sleep(2300); // two housekeeping turns (every second) while the follower is still held back
    expect(d.status()[0]?.files[0]?.offset).toBe(cut);
    vi.restoreAllMocks();

    hold = false;
    const release = held;
    held = [];
    for (const cb of release) cb();
    await waitFor(() => d.status()[0]?.files[0]?.offset === real.length, 'the rest to be read');
    await sleep(200);
    expect(events.map(briefDetail)).toEqual(expected.map(briefDetail));
    expect(events.map((e) => e.id)).toEqual(expected.map((e) => e.id));
  });
});
