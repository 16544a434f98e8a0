/**
 * Fault: a connection with a verdict (its CERT line read) but no end line yet is in the checkpoint when the
 * sidecar stops; it starts again a minute later. The quiet-connection sweep (for debug <= 4 logs, whose
 * connections may never get an end line) measured the quiet time from the verdict's wall time in the old
 * process, so the downtime counted as quiet: the first sweep after the restart (before the backlog was read,
 * e.g. with many files to open) concluded the connection early, with a different id and without its
 * SSL_connect line, and its end line then made a second, reason-less event. Quiet time is now counted from
 * the restore (on the monotonic clock the sweep uses).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadRuleSet, Pipeline, scanFiles, type DoctorEvent } from '../src/index.js';
import { LineChunker } from '../src/tail/chunk.js';
import { fingerprintOf } from '../src/tail/identity.js';

const LOG = new URL('../fixtures/unknown-ca/d5.log', import.meta.url).pathname;

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('a restored verdict is not swept for the downtime', () => {
  it('the connection waits for its end line after the restart and concludes with its full reason', async () => {
    const rules = await loadRuleSet();
    const bytes = readFileSync(LOG);
    const fp = fingerprintOf(bytes.subarray(0, 1024));
    const cut = bytes.indexOf('\n', bytes.indexOf('CERT: Pre-verification')) + 1;
    const events: DoctorEvent[] = [];
    const sink = { event: (e: DoctorEvent) => events.push(e), accepted() {}, dropped() {} };
    const feed = (p: Pipeline, src: ReturnType<Pipeline['source']>, from: number, to: number) =>
      new LineChunker(from).push(bytes.subarray(from, to), (c) => p.push(src, c, fp));

    vi.useFakeTimers({ toFake: ['Date', 'performance'] });
    vi.setSystemTime(new Date('2026-11-22T06:00:00Z'));
    const p1 = new Pipeline(rules, sink);
    const s1 = p1.source('p', { proxy: 'p', file: LOG });
    feed(p1, s1, 0, cut);
    const snapshot = JSON.parse(JSON.stringify(s1.correlator.snapshot()));

    vi.advanceTimersByTime(60_000); // down for a minute (wall and monotonic clocks)
    const p2 = new Pipeline(rules, sink);
    const s2 = p2.source('p', { proxy: 'p', file: LOG });
    s2.correlator.restore(snapshot);
    // The sidecar's first housekeeping, before the backlog is read (the sweep runs on the monotonic clock).
    s2.correlator.sweep(performance.now(), 5000);
    expect(events.filter((e) => e.kind === 'cert_verify_failed')).toEqual([]);
    feed(p2, s2, cut, bytes.length);
    p2.finish(s2);
    const want = (await scanFiles([LOG], { proxy: 'p' })).events;
    expect(events).toEqual(want);
  });
});

describe('an end line read just after the quiet-period sweep concluded its connection', () => {
  // The race left in the sidecar: its sweep saw the file read to its end (a fresh fstat), concluded the quiet
  // failing connection, and stunnel wrote the end line in that instant.
  it('joins the event already emitted instead of making a second one', async () => {
    const rules = await loadRuleSet();
    const bytes = readFileSync(LOG);
    const fp = fingerprintOf(bytes.subarray(0, 1024));
    const end = bytes.indexOf('LOG5[0]: Connection ', bytes.indexOf('CERT: Pre-verification'));
    const cut = bytes.lastIndexOf('\n', end) + 1;
    const events: DoctorEvent[] = [];
    const sink = { event: (e: DoctorEvent) => events.push(e), accepted() {}, dropped() {} };
    const p = new Pipeline(rules, sink);
    const src = p.source('p', { proxy: 'p', file: LOG });
    const chunker = new LineChunker(0);
    chunker.push(bytes.subarray(0, cut), (c) => p.push(src, c, fp));
    expect(src.correlator.sweep(performance.now() + 60_000, 5000)).toBe(1);
    const failure = events.filter((e) => e.kind === 'cert_verify_failed');
    expect(failure.map((e) => e.reason)).toEqual(['unknown_issuer']);
    chunker.push(bytes.subarray(cut), (c) => p.push(src, c, fp));
    p.finish(src);
    // The scan of the whole file has one event for that connection; so does the swept read.
    const whole = (await scanFiles([LOG], { proxy: 'p' })).events;
    const conn = failure[0]!.connection;
    expect(events.filter((e) => e.connection === conn).map((e) => `${e.kind}/${e.reason}`))
      .toEqual(whole.filter((e) => e.connection === conn).map((e) => `${e.kind}/${e.reason}`));
    expect(events.map((e) => e.kind)).toEqual(whole.map((e) => e.kind));
  });
});
