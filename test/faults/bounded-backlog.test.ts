/**
 * A backlog (the sidecar behind by megabytes: a restart after downtime, CPU starvation under load) is read in
 * bounded turns: at most `maxReadBytes` of one file per turn and at most `readSlots` turns at once, over all
 * files. Before, the read of one file delivered all of it in one go, so memory grew with the lag (550 MB in
 * the sustained-load trial). The backlog here is real stunnel output (the fixture logs, repeated); the bound
 * is asserted on the reading counters (the gate's high-water mark, each follower's largest turn), never on
 * timing or RSS, and every event still equals a one-shot scan, ids included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDoctor, type Doctor } from '../../src/doctor.js';
import { FileFollower } from '../../src/tail/follower.js';
import { scanFiles, type DoctorEvent } from '../../src/index.js';
import { corpus, metricSum, sleep, tmp, waitFor } from './helpers.js';

const doctors: Doctor[] = [];
afterEach(async () => {
  await Promise.all(doctors.splice(0).map((d) => d.close()));
});

const TURN = 256 * 1024;
const SLOTS = 2;

describe('a big backlog', () => {
  it('is read in bounded turns, a few at once, with every event of a one-shot scan', async () => {
    const one = corpus();
    const dir = tmp();
    const files: { name: string; path: string; size: number }[] = [];
    for (let i = 0; i < 3; i++) {
      // ~4 MB each: 16 or more turns per file.
      const copies = Math.ceil((4 << 20) / one.length) + i;
      const buf = Buffer.concat(Array.from({ length: copies }, () => one));
      const path = join(dir, `p${i}.log`);
      writeFileSync(path, buf);
      files.push({ name: `p${i}`, path, size: buf.length });
    }
    const expected = new Map<string, string[]>();
    for (const f of files) expected.set(f.name, (await scanFiles([f.path], { proxy: f.name })).events.map((e) => e.id));

    const got = new Map<string, string[]>(files.map((f) => [f.name, []]));
    const d = await createDoctor({
      proxies: files.map((f) => ({ name: f.name, log: f.path })), stateDir: tmp(), pollMs: 50,
      maxReadBytes: TURN, readSlots: SLOTS, onEvent: (e: DoctorEvent) => got.get(e.proxy)!.push(e.id),
    });
    doctors.push(d);
    await waitFor(() => files.every((f) => d.status().find((p) => p.proxy === f.name)?.files[0]?.offset === f.size), 'the backlog to be read', 120_000);

    for (const f of files) expect(got.get(f.name), f.name).toEqual(expected.get(f.name));
    const followers = (d as unknown as { followed: Map<string, { follower: FileFollower }> }).followed;
    for (const { follower } of followers.values()) {
      const m = follower.metrics();
      expect(m.maxTurnBytes).toBeGreaterThan(0);
      expect(m.maxTurnBytes).toBeLessThanOrEqual(TURN);
      expect(m.turns).toBeGreaterThanOrEqual(Math.floor(m.bytesRead / TURN));
    }
    expect(d.readGate.maxBusy).toBeLessThanOrEqual(SLOTS);
    expect(d.readGate.maxBytes).toBeGreaterThan(0);
    expect(d.readGate.maxBytes).toBeLessThanOrEqual(SLOTS * TURN);
    let gauge = 0;
    for (let i = 0; i < 100 && gauge === 0; i++) {
      gauge = metricSum(await d.metrics.render(), 'stunnel_doctor_read_turn_bytes_max'); // set by housekeeping
      if (gauge === 0) await sleep(100);
    }
    expect(gauge).toBeGreaterThan(0);
    expect(gauge).toBeLessThanOrEqual(SLOTS * TURN);
  });
});
