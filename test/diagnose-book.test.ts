/**
 * The diagnose() books are bounded in total, whatever the number of proxies: when no caller takes the
 * failures, the proxy holding the most loses its oldest, each drop is counted (by the bound that dropped it)
 * and reported, by kind/reason, in that proxy's next diagnose() answer.
 */
import { describe, expect, it } from 'vitest';
import { DiagnoseBook, type DropCap } from '../src/sinks/diagnose.js';
import { parseConfig } from '../src/config-file.js';
import type { CertVerifyFailedEvent, ConnectionClosedEvent, DoctorEvent } from '../src/events.js';

// Events built by hand (no stunnel log text): these tests are about the book.
let seq = 0;
function failure(proxy: string, reason: CertVerifyFailedEvent['reason'] = 'expired', id?: string): CertVerifyFailedEvent {
  seq++;
  return {
    id: id ?? `${proxy}-${seq}`, severity: 'error', proxy, service: 'svc', connection: String(seq), time: '2024-05-01T10:00:00',
    detail: ['CERT: Certificate expired'], source: { file: `/var/log/stunnel4/${proxy}.log`, offsets: [seq * 100] }, hint: '',
    rule: 'test', peer: null, target: null, bytesToTls: null, bytesToSocket: null, closeStatus: null, durationSeconds: null,
    kind: 'cert_verify_failed', reason, depth: 0, subject: '/CN=x',
  };
}
function closed(proxy: string): ConnectionClosedEvent {
  seq++;
  return {
    id: `${proxy}-${seq}`, severity: 'info', proxy, service: 'svc', connection: String(seq), time: '2024-05-01T10:00:00',
    detail: [], source: { file: `/var/log/stunnel4/${proxy}.log`, offsets: [seq * 100] }, hint: '', rule: 'test',
    peer: null, target: null, bytesToTls: 1, bytesToSocket: 1, closeStatus: 'closed', durationSeconds: 0,
    kind: 'connection_closed', reason: 'ok',
  };
}

function counting(): { drops: Record<DropCap, number>; onDrop: (cap: DropCap) => void } {
  const drops: Record<DropCap, number> = { per_proxy: 0, total: 0 };
  return { drops, onDrop: (cap) => drops[cap]++ };
}

describe('diagnose() books: a total bound over all proxies', () => {
  it('200 proxies x 300 failures nobody takes: the total stays within the budget, each proxy keeps its latest', () => {
    const { drops, onDrop } = counting();
    const book = new DiagnoseBook({ maxTotal: 10_000, maxPerProxy: 1_000, onDrop });
    const proxies = Array.from({ length: 200 }, (_, i) => `p${i}`);
    const recorded = new Map<string, DoctorEvent[]>(proxies.map((p) => [p, []]));
    let maxHeld = 0;
    for (let round = 0; round < 300; round++) {
      for (const p of proxies) {
        // The first 100 failures of each proxy are "expired", the later ones "unknown_issuer".
        const e = failure(p, round < 100 ? 'expired' : 'unknown_issuer');
        recorded.get(p)!.push(e);
        book.record(e);
        book.record(closed(p)); // not a failure: not kept
        maxHeld = Math.max(maxHeld, book.size);
      }
    }
    expect(maxHeld).toBe(10_000);
    expect(drops).toEqual({ per_proxy: 0, total: 200 * 300 - 10_000 });
    let returned = 0;
    for (const p of proxies) {
      const d = book.diagnose(p);
      // An equal share each, and the oldest are the ones dropped: what is left is the latest, in log order.
      expect(d.failures).toEqual(recorded.get(p)!.slice(-50));
      expect(d.ok).toBe(false);
      expect(d.dropped).toBe(250);
      expect(d.droppedByReason).toEqual({ 'cert_verify_failed/expired': 100, 'cert_verify_failed/unknown_issuer': 150 });
      returned += d.failures.length;
    }
    expect(returned).toBe(10_000);
    expect(book.size).toBe(0);
    // Taken: the next answer starts afresh.
    expect(book.diagnose('p0')).toMatchObject({ ok: true, failures: [], dropped: 0, droppedByReason: {} });
  });

  it('a noisy proxy cannot push out a quiet one\'s failures', () => {
    const { drops, onDrop } = counting();
    const book = new DiagnoseBook({ maxTotal: 100, maxPerProxy: 1_000, onDrop });
    const quiet = [failure('quiet'), failure('quiet'), failure('quiet')];
    for (const e of quiet) book.record(e);
    const noisy: DoctorEvent[] = [];
    for (let i = 0; i < 5_000; i++) {
      const e = failure('noisy');
      noisy.push(e);
      book.record(e);
      expect(book.size).toBeLessThanOrEqual(100);
    }
    expect(book.diagnose('quiet')).toMatchObject({ failures: quiet, dropped: 0 });
    const d = book.diagnose('noisy');
    expect(d.failures).toEqual(noisy.slice(-97));
    expect(d.dropped).toBe(5_000 - 97);
    expect(drops.total).toBe(5_000 - 97);
  });

  it('the proxy holding the most gives way when another proxy fails', () => {
    const book = new DiagnoseBook({ maxTotal: 10, maxPerProxy: 1_000 });
    const a: DoctorEvent[] = [];
    for (let i = 0; i < 10; i++) {
      a.push(failure('a'));
      book.record(a.at(-1)!);
    }
    const b = [failure('b'), failure('b'), failure('b')];
    for (const e of b) book.record(e);
    expect(book.size).toBe(10);
    expect(book.diagnose('a')).toMatchObject({ failures: a.slice(3), dropped: 3 });
    expect(book.diagnose('b')).toMatchObject({ failures: b, dropped: 0 });
  });

  it('keeps the per-proxy bound, counted apart', () => {
    const { drops, onDrop } = counting();
    const book = new DiagnoseBook({ maxTotal: 10_000, maxPerProxy: 10, onDrop });
    const all: DoctorEvent[] = [];
    for (let i = 0; i < 25; i++) {
      all.push(failure('p'));
      book.record(all.at(-1)!);
    }
    expect(drops).toEqual({ per_proxy: 15, total: 0 });
    expect(book.diagnose('p')).toMatchObject({ failures: all.slice(-10), dropped: 15, droppedByReason: { 'cert_verify_failed/expired': 15 } });
  });

  it('a failure delivered again (same id) is returned once, and a forgotten proxy frees its share', () => {
    const book = new DiagnoseBook({ maxTotal: 5 });
    const e = failure('p', 'expired', 'same-id');
    book.record(e);
    book.record({ ...e });
    expect(book.diagnose('p').failures).toEqual([e]);
    book.record({ ...e });
    expect(book.diagnose('p').failures).toEqual([]);

    for (let i = 0; i < 5; i++) book.record(failure('gone'));
    expect(book.size).toBe(5);
    book.forget('gone');
    expect(book.size).toBe(0);
    const kept = [failure('q'), failure('q')];
    for (const x of kept) book.record(x);
    expect(book.diagnose('q')).toMatchObject({ failures: kept, dropped: 0 });
  });

  it('the remembered ids are bounded over all proxies', () => {
    const book = new DiagnoseBook({ idMemory: 100 });
    const first = failure('p0', 'expired', 'first');
    book.record(first);
    book.diagnose('p0');
    book.record({ ...first });
    expect(book.diagnose('p0').failures).toEqual([]); // remembered
    for (let i = 0; i < 100; i++) book.record(failure(`p${i % 7}`));
    book.record({ ...first });
    expect(book.diagnose('p0').failures.map((x) => x.id)).toContain('first'); // forgotten: 100 newer ids
  });

  it('is configured by diagnoseMaxFailures and diagnoseMaxFailuresPerProxy (defaults 10,000 and 1,000)', () => {
    expect(parseConfig('{}', 'c.yaml')).toMatchObject({ diagnoseMaxFailures: 10_000, diagnoseMaxFailuresPerProxy: 1_000 });
    expect(parseConfig('diagnoseMaxFailures: 500\ndiagnoseMaxFailuresPerProxy: 50\n', 'c.yaml'))
      .toMatchObject({ diagnoseMaxFailures: 500, diagnoseMaxFailuresPerProxy: 50 });
    expect(() => parseConfig('diagnoseMaxFailures: 0\n', 'c.yaml')).toThrow(/c\.yaml:1:\d+: diagnoseMaxFailures/);
  });
});
