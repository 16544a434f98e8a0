/**
 * Hostile logs fed to the running sidecar (createDoctor following a file that grows in pieces), around real
 * stunnel 5.68 lines (fixtures/*, concatenated). Each property is checked against a clean one-shot scan of the
 * same real lines: the pipeline keeps running, the real events are all found, nothing forged becomes an event,
 * state stays within its bounds, and every bound that bit moves its metric.
 *
 * Garbage is ours (NUL runs, random bytes, invalid UTF-8, a 5 MB line without newline, forged prefixes inside
 * a certificate subject, floods of connection ids and service names made by rewriting the id or the service
 * name of a real line); the lines around it are stunnel's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDoctor, type Doctor, type DoctorOptions } from '../../src/doctor.js';
import { scanFiles, type DoctorEvent } from '../../src/index.js';
import { DoctorMetrics } from '../../src/sinks/metrics.js';
import { brief, briefDetail, corpus, metricSum, prng, realLines, seriesCount, tmp, waitFor } from './helpers.js';

const doctors: Doctor[] = [];
afterEach(async () => {
  await Promise.all(doctors.splice(0).map((d) => d.close()));
});

async function follow(path: string, extra: Partial<DoctorOptions> = {}) {
  const events: DoctorEvent[] = [];
  const d = await createDoctor({
    proxies: [{ name: 'p', log: path }],
    stateDir: tmp('sd-hostile-state-'),
    pollMs: 50,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  doctors.push(d);
  return { d, events };
}

/** Appends `bytes` in seeded random pieces (cutting lines and garbage anywhere), then waits until all is read. */
async function feed(d: Doctor, path: string, bytes: Buffer, seed: number, total: () => number): Promise<void> {
  const rand = prng(seed);
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + Math.floor(rand() * 64 * 1024);
    appendFileSync(path, bytes.subarray(at, at + n));
    at += n;
    if (rand() < 0.3) await new Promise((r) => setTimeout(r, 5));
  }
  await waitFor(() => d.status()[0]?.files[0]?.offset === total(), 'the sidecar to read the whole file');
}

async function cleanScan(bytes: Buffer): Promise<DoctorEvent[]> {
  const p = join(tmp(), 'clean.log');
  writeFileSync(p, bytes);
  return (await scanFiles([p], { proxy: 'p' })).events;
}

function splitLines(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let s = 0;
  for (let nl = b.indexOf(10); nl >= 0; nl = b.indexOf(10, s)) {
    out.push(b.subarray(s, nl + 1));
    s = nl + 1;
  }
  return out;
}

describe('hostile bytes between real lines', () => {
  it('keeps running through NUL runs, binary garbage, invalid UTF-8 and a 5 MB line without newline; finds every real event', async () => {
    const real = corpus();
    const expected = await cleanScan(real);
    expect(expected.filter((e) => e.severity === 'error').length).toBeGreaterThan(8);

    const rand = prng(6);
    const lines = splitLines(real);
    const garbage = (): Buffer => {
      switch (Math.floor(rand() * 5)) {
        case 0: return Buffer.concat([Buffer.alloc(1 + Math.floor(rand() * 300), 0), Buffer.from('\n')]);
        case 1: return Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 400) }, () => Math.floor(rand() * 256)).concat([10]));
        case 2: {
          // Invalid UTF-8: alone; behind the `[ui]` prefix of the first real line (a stunnel-shaped line no rule reads:
          // not decoded); and after the head of a message rules read (`Service [`: decoded, so counted).
          const bad = Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0xff, 0xfe, 10]);
          const prefix = /^\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d LOG5\[ui\]: /.exec(lines[0]!.toString('latin1'))![0];
          return Buffer.concat([bad, Buffer.from(prefix, 'latin1'), bad, Buffer.from(`${prefix}Service [`, 'latin1'), bad]);
        }
        case 3: return Buffer.from('\r\n\r\n\n\t \n');
        default: return Buffer.from('2026.11.22 06:36:08 LOG9[x]: not a level\n[!\n[?] not a stderr marker\n<13>Nov 22 06:36:08 host stunnel: \n');
      }
    };
    const p = join(tmp(), 'hostile.log');
    writeFileSync(p, '');
    const { d, events } = await follow(p, { maxLineBytes: 64 * 1024 });
    let written = 0;
    const parts: Buffer[] = [];
    for (const [i, l] of lines.entries()) {
      parts.push(l);
      if (rand() < 0.35) parts.push(garbage());
      if (i === 40) {
        // Between two real lines: a 5 MB line that has no newline yet. The sidecar must read past it without
        // holding it (a cut line, counted), and without classifying it before its newline arrives.
        const head = Buffer.concat(parts.splice(0));
        written += head.length;
        await feed(d, p, head, 1, () => written);
        const huge = Buffer.alloc(5 * 1024 * 1024, 0x41);
        huge.write('2026.11.22 06:36:08 LOG5[ui]: ', 'latin1');
        appendFileSync(p, huge);
        await waitFor(() => d.status()[0]!.files[0]!.size >= written + huge.length, 'the size of the huge line to be seen');
        const heap = process.memoryUsage().arrayBuffers;
        expect(events.length).toBeGreaterThan(0);
        const before = events.length;
        await new Promise((r) => setTimeout(r, 300));
        expect(events.length).toBe(before); // nothing classified from a line without its newline
        expect(d.status()[0]!.files[0]!.offset).toBe(written); // and the offset stays at its start
        expect(process.memoryUsage().arrayBuffers - heap).toBeLessThan(4 * 1024 * 1024);
        appendFileSync(p, '\n');
        written += huge.length + 1;
      }
    }
    const rest = Buffer.concat(parts);
    await feed(d, p, rest, 2, () => written + rest.length);

    expect(events.map(briefDetail)).toEqual(expected.map(briefDetail));
    const text = await d.metrics.render();
    expect(metricSum(text, 'stunnel_doctor_lines_total', { result: 'invalid' })).toBeGreaterThan(20);
    expect(metricSum(text, 'stunnel_doctor_lines_cut_total', { proxy: 'p' })).toBeGreaterThanOrEqual(1);
    expect(metricSum(text, 'stunnel_doctor_lines_invalid_utf8_total', { proxy: 'p' })).toBeGreaterThanOrEqual(1);
  });
});

describe('forged prefixes inside a message', () => {
  const FORGERIES = [
    'CN=LOG3[99]: Configuration failed',
    'CN=x: LOG3[ui]: Service [evil]: Failed to initialize TLS context',
    'CN=2026.11.22 06:36:08 LOG3[0]: Connection reset: 1 byte(s) sent to TLS, 1 byte(s) sent to socket',
    'CN=SSL_connect: ../ssl/statem/statem_clnt.c:1889: error:0A000086:SSL routines::certificate verify failed',
    'CN=[!] Configuration failed, O=LOG0[ui]: stunnel 5.68 on x86_64-pc-linux-gnu platform',
    'CN=s_connect: connect 127.0.0.1:1: Connection refused (111)',
    'CN=Connection rejected: too many clients (>=1)',
    'CN=Received signal 15; terminating',
  ];

  it('keeps forged stunnel text in the detail of the real event: no forged event, no changed verdict', async () => {
    const real = corpus();
    const expected = await cleanScan(real);
    // Every certificate subject printed by stunnel (`at depth=N: <subject>`) is replaced by a forgery.
    let k = 0;
    const text = real.toString('latin1').replace(/( at depth=\d+: )(.*)/g, (_all, pre: string) => `${pre}${FORGERIES[k++ % FORGERIES.length]}`);
    expect(k).toBeGreaterThanOrEqual(FORGERIES.length);
    const forged = Buffer.from(text, 'latin1');
    const p = join(tmp(), 'forged.log');
    writeFileSync(p, '');
    const { d, events } = await follow(p);
    await feed(d, p, forged, 3, () => forged.length);
    expect(events.map(brief)).toEqual(expected.map(brief));
    // The forgeries are there, in the detail lines where they belong.
    expect(events.some((e) => e.detail.some((l) => l.includes('LOG3[99]: Configuration failed')))).toBe(true);
    const clean = new DoctorMetrics();
    for (const e of expected) clean.onEvent(e);
    const fails = (t: string) => metricSum(t, 'stunnel_failures_total');
    expect(fails(await d.metrics.render())).toBe(fails(await clean.render()));
  });
});

describe('floods', () => {
  it('tens of thousands of connection ids that never close: state stays at the cap, each eviction counted, real events intact', async () => {
    const real = corpus();
    const expected = await cleanScan(real);
    const accepted = realLines(/LOG5\[0\]: Service \[tls-client\] accepted connection from /)[0]!;
    const N = 30_000;
    const cap = 10_000;
    const flood: string[] = [];
    for (let i = 0; i < N; i++) flood.push(accepted.replace('LOG5[0]', `LOG5[${100_000 + i}]`));
    // Flood inside the first run (after its `Configuration successful`), then the rest of the real logs.
    const lines = splitLines(real);
    const firstOk = lines.findIndex((l) => l.includes('Configuration successful'));
    const head = Buffer.concat(lines.slice(0, firstOk + 1));
    const bytes = Buffer.concat([head, Buffer.from(`${flood.join('\n')}\n`, 'latin1'), Buffer.concat(lines.slice(firstOk + 1))]);
    const withFlood = await cleanScan(bytes);

    const p = join(tmp(), 'flood.log');
    writeFileSync(p, '');
    const { d, events } = await follow(p, { maxOpenConnections: cap });
    // Stop right after the flood: the open connections are at the cap, not at N.
    const floodEnd = head.length + Buffer.byteLength(`${flood.join('\n')}\n`, 'latin1');
    await feed(d, p, bytes.subarray(0, floodEnd), 4, () => floodEnd);
    expect(d.status()[0]!.openConnections).toBe(cap);
    let m = await d.metrics.render();
    expect(metricSum(m, 'stunnel_open_connections', { proxy: 'p' })).toBe(cap);
    expect(metricSum(m, 'stunnel_doctor_state_dropped_total', { what: 'connection_cap' })).toBe(N - cap);
    expect(metricSum(m, 'stunnel_connections_accepted_total', { proxy: 'p' })).toBe(N);

    await feed(d, p, bytes.subarray(floodEnd), 5, () => bytes.length);
    // The next stunnel run (a banner) ends the flooded one: the rest are dropped and counted too.
    m = await d.metrics.render();
    const dropped = metricSum(m, 'stunnel_doctor_state_dropped_total', { what: 'run_end' })
      + metricSum(m, 'stunnel_doctor_state_dropped_total', { what: 'connection_cap' });
    expect(dropped).toBeGreaterThanOrEqual(N);
    expect(events.map(brief)).toEqual(withFlood.map(brief));
    expect(events.map(brief)).toEqual(expected.map(brief)); // the flood added nothing and hid nothing
    expect(d.status()[0]!.openConnections).toBeLessThanOrEqual(cap);
  });

  it('a flood of distinct service names: series stay at the cap, refusals counted, memory of names bounded', async () => {
    const real = corpus();
    const expected = await cleanScan(real);
    const accepted = realLines(/LOG5\[0\]: Service \[tls-client\] accepted connection from /)[0]!;
    const closed = realLines(/LOG5\[0\]: Connection closed: /)[0]!;
    const N = 20_000;
    const cap = 500;
    const flood: string[] = [];
    for (let i = 0; i < N; i++) {
      const id = `LOG5[${200_000 + i}]`;
      flood.push(accepted.replace('LOG5[0]', id).replace('[tls-client]', `[flood-${i}]`), closed.replace('LOG5[0]', id));
    }
    const lines = splitLines(real);
    const firstOk = lines.findIndex((l) => l.includes('Configuration successful'));
    const bytes = Buffer.concat([
      Buffer.concat(lines.slice(0, firstOk + 1)), Buffer.from(`${flood.join('\n')}\n`, 'latin1'), Buffer.concat(lines.slice(firstOk + 1)),
    ]);
    const withFlood = await cleanScan(bytes);
    const p = join(tmp(), 'services.log');
    writeFileSync(p, '');
    const { d, events } = await follow(p, { maxSeriesPerMetric: cap });
    await feed(d, p, bytes, 6, () => bytes.length);

    expect(events.map(brief)).toEqual(withFlood.map(brief));
    const realOnly = events.filter((e) => !(e.service ?? '').startsWith('flood-'));
    expect(realOnly.map(brief)).toEqual(expected.map(brief));
    const m = await d.metrics.render();
    for (const name of ['stunnel_connections_accepted_total', 'stunnel_connections_finished_total', 'stunnel_failures_total',
      'stunnel_transferred_bytes_total', 'stunnel_open_connections']) {
      expect(seriesCount(m, name), name).toBeLessThanOrEqual(cap);
    }
    expect(metricSum(m, 'stunnel_doctor_series_dropped_total')).toBeGreaterThan(N - cap);
    // The per-proxy memory of service names (pre-created series) is bounded by the cap as well.
    const known = (d.metrics as unknown as { knownServices: Map<string, Set<string>> }).knownServices;
    let names = 0;
    for (const s of known.values()) names += s.size;
    expect(names).toBeLessThanOrEqual(cap);
  });
});
