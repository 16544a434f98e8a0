/**
 * The demo of `npm start`, sped up: every line it writes is a line of a real stunnel log in fixtures/, the
 * running proxies never show a stop (no false outage) while their fixtures' connections go round, the proxy that
 * cannot start is down, and the hostname mismatch names the name checkHost expected (its fixture's stunnel.conf).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDoctor, type Doctor } from '../src/doctor.js';
import { DEMO_PLAN, startDemo, type Demo } from '../src/demo.js';
import { statusView } from '../src/http/status-page.js';
import { scanFiles, type DoctorEvent } from '../src/index.js';
import { waitFor } from './helpers/wait.js';

const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const lineSet = (files: readonly string[]): Set<string> =>
  new Set(files.flatMap((f) => readFileSync(FIX(f), 'latin1').split('\n').filter(Boolean)));

describe('the built-in demo', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-demo-'));
  let demo: Demo | undefined;
  let doctor: Doctor | undefined;
  afterAll(async () => {
    demo?.stop();
    await doctor?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replays real stunnel lines as running proxies, without a false outage', async () => {
    demo = startDemo(dir, { lineMs: 2, blockMs: 10, restartMs: 100 });
    const events: DoctorEvent[] = [];
    doctor = await createDoctor({ proxies: demo.proxies, labels: demo.labels, pollMs: 100, onEvent: (e) => events.push(e) });
    const running = DEMO_PLAN.filter((p) => p.logs);
    // What each running proxy's fixtures hold: its connection failures, by kind/reason.
    const expected = new Map<string, Set<string>>();
    const perLoop = new Map<string, number>();
    for (const p of running) {
      const evs = (await scanFiles(p.logs!.map(FIX), { proxy: p.name })).events.filter((e) => e.connection !== null);
      expected.set(p.name, new Set(evs.filter((e) => e.severity !== 'info').map((e) => `${e.kind}/${e.reason}`)));
      perLoop.set(p.name, evs.length);
    }
    const connections = (proxy: string) => events.filter((e) => e.proxy === proxy && e.connection !== null);
    const seen = (proxy: string) => new Set(connections(proxy).filter((e) => e.severity !== 'info').map((e) => `${e.kind}/${e.reason}`));
    // Twice round each loop: every connection of its fixtures, twice.
    await waitFor(() => running.every((p) => connections(p.name).length >= 2 * perLoop.get(p.name)!), 'every demo proxy to go round its fixtures twice', 60_000);
    await waitFor(() => events.filter((e) => e.proxy === 'licensing' && e.kind === 'config_failed').length >= 2,
      'the failed start to be replayed again', 60_000);

    // Running proxies: one start each, never a stop; the proxy that cannot start: failed starts, no start.
    for (const p of running) {
      expect(events.filter((e) => e.proxy === p.name && e.kind === 'proxy_started').length, p.name).toBe(1);
      expect(events.filter((e) => e.proxy === p.name && e.kind === 'proxy_stopped'), p.name).toEqual([]);
      expect(seen(p.name), p.name).toEqual(expected.get(p.name));
    }
    expect(events.filter((e) => e.proxy === 'licensing' && e.kind === 'proxy_started')).toEqual([]);

    const v = statusView(doctor);
    const state = Object.fromEntries(v.proxies.map((p) => [p.proxy, p.state]));
    expect(state.licensing).toBe('down');
    for (const p of running) expect(['ok', 'degraded', 'failing'], p.name).toContain(state[p.name]);

    // With billing's stunnel.conf (the checkhost-mismatch fixture's), the mismatch names the expected name.
    const mismatch = events.find((e) => e.kind === 'cert_verify_failed' && e.reason === 'hostname_mismatch');
    expect(mismatch?.proxy).toBe('billing');
    expect(mismatch?.kind === 'cert_verify_failed' && mismatch.expectedNames).toEqual(['localhost']);

    // Every line written is a line stunnel wrote (fixtures/), byte for byte.
    demo.stop();
    for (const p of DEMO_PLAN) {
      const real = lineSet([...(p.logs ?? []), ...(p.failedStarts ?? [])]);
      for (const file of [`${p.name}.log`, `${p.name}.err`]) {
        let text: string;
        try {
          text = readFileSync(join(dir, file), 'latin1');
        } catch {
          continue;
        }
        const written = text.split('\n').filter(Boolean);
        for (const l of written) expect(real.has(l), `${file}: ${l}`).toBe(true);
      }
    }
    // The page says what it shows.
    expect(demo.notice).toContain('real stunnel 5.68 logs');
  });
});
