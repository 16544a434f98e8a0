/**
 * The wall clock jumps (NTP step, a VM resumed) while a failing connection is half read: its CERT lines are
 * processed, its end line is not written yet. The jump must not conclude the connection early (a second,
 * incomplete event with another id): the events equal a one-shot scan, ids included. The clock is mocked
 * (Date.now) in-process; scripts/fault-trial.mjs can jump the child's clock with libfaketime.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
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

describe('clock jumps', () => {
  it('a jump forward then back while a failure is half read changes no event', async () => {
    const real = readFileSync(join(FIXTURES, 'expired', 'd5.log'));
    const text = real.toString('latin1');
    // Cut right after the `Rejected by CERT` line: the verdict is known, the end line is still to come.
    const cut = text.indexOf('\n', text.indexOf('Rejected by CERT')) + 1;
    expect(cut).toBeGreaterThan(0);
    const p = join(tmp(), 'clock.log');
    writeFileSync(p, real.subarray(0, cut));
    const expected = (await scanFiles([join(FIXTURES, 'expired', 'd5.log')], { proxy: 'p' })).events;
    const events: DoctorEvent[] = [];
    const d = await createDoctor({ proxies: [{ name: 'p', log: p }], stateDir: tmp(), pollMs: 50, quietMs: 5000, onEvent: (e) => events.push(e) });
    doctors.push(d);
    await waitFor(() => d.status()[0]?.files[0]?.offset === cut, 'the first part to be read');
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 86_400_000); // +1 day
    await sleep(1600); // housekeeping runs (every second) on the jumped clock, well within the 5 s quiet period
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000); // then 1 hour back
    await sleep(1100);
    appendFileSync(p, real.subarray(cut));
    await waitFor(() => d.status()[0]?.files[0]?.offset === real.length, 'the rest to be read');
    await sleep(200);
    expect(events.map(briefDetail)).toEqual(expected.map(briefDetail));
    expect(events.map((e) => e.id)).toEqual(expected.map((e) => e.id));
  });
});
