/**
 * The sidecar as a library: real stunnel logs appended to followed files over time; events$ delivers the
 * one-shot scan's events, diagnose() returns every failure once with its full reason, waitForStart settles
 * like xapi's wait_for_configuration_success, a restart resumes from the checkpoint without losing a
 * reason, and the HTTP endpoint serves /metrics, /events (SSE, with Last-Event-ID) and /diagnose.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { createDoctor, type Doctor } from '../src/doctor.js';
import { scanFiles, type DoctorEvent } from '../src/index.js';
import { HttpServer } from '../src/http/server.js';
import { waitFor } from './helpers/wait.js';

const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), 'sd-sidecar-'));
const brief = (e: DoctorEvent) => `${e.kind}/${e.reason}/${e.service}/${e.connection}`;

const doctors: Doctor[] = [];
afterEach(async () => {
  await Promise.all(doctors.splice(0).map((d) => d.close()));
});

/** Appends a real log to `path` in pieces that cut lines in the middle, pausing between pieces. */
async function appendInPieces(path: string, bytes: Buffer, pieces = 7): Promise<void> {
  const step = Math.ceil(bytes.length / pieces);
  for (let at = 0; at < bytes.length; at += step) {
    appendFileSync(path, bytes.subarray(at, at + step));
    await new Promise((r) => setTimeout(r, 60));
  }
}

async function start(logs: Record<string, string>, stateDir?: string, extra: Partial<Parameters<typeof createDoctor>[0]> = {}) {
  const d = await createDoctor({
    proxies: Object.entries(logs).map(([name, log]) => ({ name, log })),
    pollMs: 100,
    ...(stateDir ? { stateDir } : {}),
    ...extra,
  });
  doctors.push(d);
  return d;
}

describe('sidecar', () => {
  it('events$ delivers what a one-shot scan finds, for lines appended in pieces', async () => {
    const dir = tmp();
    const src = FIX('multi-service/d5.log');
    const log = join(dir, 'billing.log');
    writeFileSync(log, '');
    const d = await start({ billing: log });
    const got: DoctorEvent[] = [];
    d.events$.subscribe((e) => got.push(e));
    await appendInPieces(log, readFileSync(src));
    const want = (await scanFiles([src], { proxy: 'billing' })).events;
    // The one-shot scan also concludes at end of input; the follower sees the same end lines.
    await waitFor(() => got.length >= want.length, 'every event of the scan');
    expect(got.map(brief)).toEqual(want.map(brief));
  });

  it('events$ is an RxJS Observable that rxjs\'s own operators take', async () => {
    const { Observable, filter, firstValueFrom, take, toArray } = await import('rxjs');
    const dir = tmp();
    const log = join(dir, 'billing.log');
    writeFileSync(log, readFileSync(FIX('multi-service/d5.log')));
    const d = await start({ billing: log });
    expect(d.events$).toBeInstanceOf(Observable);
    const failures = firstValueFrom(d.events$.pipe(filter((e) => e.severity === 'error' || e.severity === 'critical'), take(2), toArray()));
    const want = (await scanFiles([log], { proxy: 'billing' })).events.filter((e) => e.severity === 'error' || e.severity === 'critical');
    expect((await failures).map(brief)).toEqual(want.slice(0, 2).map(brief));
  });

  it('--events-out gets every event as one NDJSON line, in order, gathered into few writes', async () => {
    const dir = tmp();
    // A real log, as stunnel would write it over 60 restarts: a backlog of some hundred events at once.
    const one = readFileSync(FIX('multi-service/d5.log'));
    const log = join(dir, 'billing.log');
    writeFileSync(log, Buffer.concat(Array.from({ length: 60 }, () => one)));
    const want = (await scanFiles([log], { proxy: 'billing' })).events;
    const writes: string[] = [];
    const eventsOut = new Writable({
      write(chunk: Buffer, _enc, done) {
        writes.push(chunk.toString('utf8'));
        done();
      },
    });
    const d = await start({ billing: log }, tmp(), { eventsOut });
    const lines = () => writes.join('').split('\n').filter(Boolean);
    // The scan also concludes at end of input what the follower keeps open: all but those.
    await waitFor(() => lines().length >= want.length - 5, 'the backlog\'s events on the NDJSON output');
    const got = lines().map((l) => JSON.parse(l) as DoctorEvent);
    expect(got.map((e) => e.id)).toEqual(want.slice(0, got.length).map((e) => e.id));
    expect(got.length).toBeGreaterThan(300);
    // Not one write per event (a system call each on a pipe): the events of one read go out together.
    expect(writes.length).toBeLessThan(got.length / 20);
    await d.close();
  });

  it('diagnose() returns each failure once, with its reason, since the previous call', async () => {
    const dir = tmp();
    const log = join(dir, 'ldaps.log');
    writeFileSync(log, '');
    const d = await start({ ldaps: log });
    expect(d.diagnose('ldaps').ok).toBe(true);
    await appendInPieces(log, readFileSync(FIX('expired/d5.log')));
    const first = await waitFor(() => {
      const r = d.diagnose('ldaps');
      return r.failures.length ? r : undefined;
    }, 'the failure from diagnose()');
    expect(first.ok).toBe(false);
    expect(first.failures.map(brief)).toEqual(['cert_verify_failed/expired/tls-client/0']);
    expect(first.failures[0]!.detail.some((l) => l.includes('certificate has expired'))).toBe(true);
    expect(d.diagnose('ldaps')).toMatchObject({ ok: true, failures: [] });
  });

  it('waitForStart resolves on a successful start and rejects with the config_failed event', async () => {
    const dir = tmp();
    const ok = join(dir, 'ok.log');
    const bad = join(dir, 'bad.err');
    writeFileSync(ok, '');
    writeFileSync(bad, '');
    const d = await start({ ok, bad });
    const started = d.waitForStart('ok', { timeout: 8000 });
    const failed = d.waitForStart('bad', { timeout: 8000 }).then(
      () => new Error('resolved'),
      (e: unknown) => e,
    );
    appendFileSync(ok, readFileSync(FIX('success/d5.log')));
    appendFileSync(bad, readFileSync(FIX('config-missing-cafile/d5.stderr')));
    await expect(started).resolves.toMatchObject({ kind: 'proxy_started', version: '5.68' });
    expect(await failed).toMatchObject({ name: 'ConfigFailedError', event: { kind: 'config_failed', reason: 'no_trusted_ca' } });
    await expect(d.waitForStart('ok', { timeout: 200 })).rejects.toMatchObject({ name: 'StartTimeoutError' });
  });

  it('a restart resumes at the checkpoint: a reason split across the restart is not lost, nothing is lost', async () => {
    const dir = tmp();
    const state = join(dir, 'state');
    const log = join(dir, 'p.log');
    const bytes = readFileSync(FIX('unknown-ca/d5.log'));
    // Cut between the CERT line and the SSL_connect line of the failing connection.
    const cut = bytes.indexOf('Rejected by CERT');
    expect(cut).toBeGreaterThan(0);
    writeFileSync(log, bytes.subarray(0, cut));
    const want = (await scanFiles([FIX('unknown-ca/d5.log')], { proxy: 'p' })).events;

    const a = await start({ p: log }, state);
    const got: DoctorEvent[] = [];
    a.events$.subscribe((e) => got.push(e));
    await waitFor(() => got.length >= 1, 'the first event');
    await new Promise((r) => setTimeout(r, 1500)); // let a checkpoint be written
    await a.close();
    doctors.splice(doctors.indexOf(a), 1);

    appendFileSync(log, bytes.subarray(cut));
    const b = await start({ p: log }, state);
    b.events$.subscribe((e) => got.push(e));
    await waitFor(() => new Set(got.map((e) => e.id)).size >= want.length, 'every event, by id');
    const byId = new Map(got.map((e) => [e.id, e]));
    expect([...byId.values()].map(brief)).toEqual(want.map(brief));
    const failure = [...byId.values()].find((e) => e.kind === 'cert_verify_failed')!;
    expect(failure.reason).toBe('unknown_issuer');
    expect(failure.detail[0]).toContain('unable to get local issuer certificate');
  });
});

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function sse(url: string, headers: Record<string, string>, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (until(text)) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
    req.end();
  });
}

describe('HTTP endpoint', () => {
  it('serves /metrics, /diagnose/<proxy>, /healthz and /events with filters and Last-Event-ID resume', async () => {
    const dir = tmp();
    const log = join(dir, 'billing.log');
    writeFileSync(log, '');
    const d = await start({ billing: log });
    const http = new HttpServer({
      hub: d.eventHub,
      metrics: async () => ({ contentType: d.metrics.contentType, body: await d.metrics.render() }),
      diagnose: (p) => (d.hasProxy(p) ? d.diagnose(p) : null),
      health: () => ({ ok: true }),
    });
    const url = await http.listen('127.0.0.1', 0);
    try {
      const live = sse(`${url}/events?kind=connect_failed`, {}, (t) => t.includes('event: connect_failed'));
      appendFileSync(log, readFileSync(FIX('multi-service/d5.log')));
      const text = await live;
      expect(text).toMatch(/event: connect_failed\ndata: \{.*"reason":"refused"/);
      expect(text).not.toContain('event: connection_closed');
      await waitFor(() => d.eventHub.seq >= 5, 'five events on the hub');

      const metrics = await get(`${url}/metrics`);
      expect(metrics.body).toMatch(/stunnel_failures_total\{proxy="billing",service="svc-refused",kind="connect_failed",reason="refused"\} [1-9]/);

      // Resume after event 2: the stream replays events 3.. from the window.
      const resumed = await sse(`${url}/events`, { 'last-event-id': '2' }, (t) => /\nid: 4\n/.test(t));
      expect(resumed).toMatch(/\nid: 3\n/);
      expect(resumed).not.toMatch(/\nid: 2\n/);

      const diag = JSON.parse((await get(`${url}/diagnose/billing`)).body);
      expect(diag.ok).toBe(false);
      expect(diag.failures.map((e: DoctorEvent) => e.kind)).toContain('connect_failed');
      expect((await get(`${url}/diagnose/nope`)).status).toBe(404);
      expect((await get(`${url}/healthz`)).status).toBe(200);
    } finally {
      await http.close();
    }
  });
});
