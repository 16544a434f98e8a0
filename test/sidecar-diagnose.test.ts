/**
 * The diagnose() contract: every failure is returned once, with its full reason (the kind, reason and detail
 * lines a one-shot scan gives), when its lines were split across reads, across clean restarts (checkpoint
 * with correlator state) and across a kill -9 after a durable checkpoint. Real stunnel 5.68 runs from
 * fixtures/, appended one after the other to one log as stunnel's `output =` does across restarts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDoctor, type Doctor } from '../src/doctor.js';
import { isFailure, scanFiles, type DoctorEvent } from '../src/index.js';
import { waitFor } from './helpers/wait.js';
import { getBody as get, get as getReply } from './helpers/http.js';

const ROOT = resolve(import.meta.dirname, '..');
const FIX = (p: string) => join(ROOT, 'fixtures', p);
/** Runs with failures of several kinds, each with detail lines (CERT, Rejected by CERT, SSL_connect...). */
const RUNS = ['multi-service', 'unknown-ca', 'expired', 'connect-refused', 'handshake-timeout', 'missing-intermediate'];
const log = (): Buffer => Buffer.concat(RUNS.map((r) => readFileSync(FIX(`${r}/d5.log`))));

const doctors: Doctor[] = [];
const dirs: string[] = [];
let child: ChildProcess | null = null;
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = null;
  await Promise.all(doctors.splice(0).map((d) => d.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sd-diagnose-'));
  dirs.push(d);
  return d;
}

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
}

/** The doctor has read every complete line of `path` (a partial last line waits for its newline). */
const caughtUp = (d: Doctor, proxy: string, path: string) => () =>
  d.status().find((s) => s.proxy === proxy)?.files[0]?.offset === readFileSync(path).lastIndexOf(10) + 1;

/** Each failure once, and exactly the scan's failures (whole events: reason, detail lines, offsets, hint). */
function expectOnceEach(got: DoctorEvent[], want: DoctorEvent[]): void {
  const ids = got.map((e) => e.id);
  expect(new Set(ids).size, 'a failure returned twice').toBe(ids.length);
  expect(got).toEqual(want);
}

describe('diagnose(): every failure once, with its full reason', () => {
  it('lines split across reads (pieces cutting lines, diagnose() called between pieces)', async () => {
    const dir = tmp();
    const path = join(dir, 'p.log');
    writeFileSync(path, '');
    const d = await createDoctor({ proxies: [{ name: 'p', log: path }], pollMs: 50 });
    doctors.push(d);
    const bytes = log();
    const rand = rng(7);
    const got: DoctorEvent[] = [];
    for (let at = 0; at < bytes.length;) {
      const n = 1 + Math.floor(rand() * 300);
      appendFileSync(path, bytes.subarray(at, at + n));
      at += n;
      if (rand() < 0.3) await waitFor(caughtUp(d, 'p', path), 'the doctor to read the piece');
      got.push(...d.diagnose('p').failures);
    }
    await waitFor(caughtUp(d, 'p', path), 'the doctor to read everything');
    got.push(...d.diagnose('p').failures);
    const want = (await scanFiles([path], { proxy: 'p' })).events.filter(isFailure);
    expect(want.length).toBeGreaterThanOrEqual(8);
    expect(new Set(want.map((e) => e.kind)).size).toBeGreaterThanOrEqual(3);
    expectOnceEach(got, want);
  });

  it('lines split across clean restarts (checkpoint with correlator state), one restart inside each failure', async () => {
    const dir = tmp();
    const path = join(dir, 'p.log');
    const state = join(dir, 'state');
    const bytes = log();
    // Cut in the middle of every failure: after the first detail line of each failing connection.
    const cuts: number[] = [];
    for (let i = bytes.indexOf('CERT: Pre-verification'); i >= 0; i = bytes.indexOf('CERT: Pre-verification', i + 1)) {
      cuts.push(bytes.indexOf('\n', i) + 1);
    }
    for (let i = bytes.indexOf('s_connect: connect '); i >= 0; i = bytes.indexOf('s_connect: connect ', i + 1)) {
      if (bytes.subarray(i, bytes.indexOf('\n', i)).includes('refused')) cuts.push(bytes.indexOf('\n', i) + 1);
    }
    cuts.sort((a, b) => a - b);
    expect(cuts.length).toBeGreaterThanOrEqual(6);
    writeFileSync(path, '');
    const got: DoctorEvent[] = [];
    let at = 0;
    for (const cut of [...cuts, bytes.length]) {
      appendFileSync(path, bytes.subarray(at, cut));
      at = cut;
      const d = await createDoctor({ proxies: [{ name: 'p', log: path }], pollMs: 50, stateDir: state });
      await waitFor(caughtUp(d, 'p', path), 'the doctor to read the segment');
      got.push(...d.diagnose('p').failures);
      await d.close();
    }
    const want = (await scanFiles([path], { proxy: 'p' })).events.filter(isFailure);
    expectOnceEach(got, want);
  });

  it('across a kill -9 after a durable checkpoint: the failure split by the crash comes once, whole', async () => {
    const dir = tmp();
    const path = join(dir, 'p.log');
    const state = join(dir, 'state');
    const bytes = readFileSync(FIX('multi-service/d5.log'));
    // The crash falls between the CERT line and the SSL_connect line of the first certificate failure.
    const cut = bytes.indexOf('\n', bytes.indexOf('CERT: Pre-verification')) + 1;
    writeFileSync(path, bytes.subarray(0, cut));
    const watch = (): Promise<string> => {
      let stderr = '';
      child = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', 'watch', '--log', `p=${path}`, '--state-dir', state, '--listen', '127.0.0.1:0'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (c: string) => (stderr += c));
      return waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr)?.[1], 'the sidecar to serve');
    };
    const checkpoint = (): { offset: number; state?: { conns: unknown[] } } | undefined => {
      const f = existsSync(state) ? readdirSync(state).find((n) => n.endsWith('.json')) : undefined;
      return f ? (JSON.parse(readFileSync(join(state, f), 'utf8')) as { record: { offset: number; state?: { conns: unknown[] } } }).record : undefined;
    };

    const url1 = await watch();
    // The checkpoint is on disk at the cut, with the open connection (its CERT line) in its state.
    const cp = await waitFor(() => checkpoint()?.offset === cut && checkpoint(), 'a durable checkpoint at the cut');
    expect(cp.state?.conns.length).toBeGreaterThan(0);
    const first = (JSON.parse(await get(`${url1}/diagnose/p`)) as { failures: DoctorEvent[] }).failures;
    // A wrong path is told what the sidecar serves, the status page included.
    const lost = await getReply(`${url1}/nope`);
    expect(lost.status).toBe(404);
    expect((JSON.parse(lost.body) as { endpoints: string[] }).endpoints).toEqual(['/', '/status.json', '/metrics', '/healthz', '/events', '/diagnose/<proxy>']);
    const c = child!;
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));

    appendFileSync(path, bytes.subarray(cut));
    const url2 = await watch();
    const second: DoctorEvent[] = [];
    const want = (await scanFiles([path], { proxy: 'p' })).events.filter(isFailure);
    await waitFor(async () => {
      second.push(...(JSON.parse(await get(`${url2}/diagnose/p`)) as { failures: DoctorEvent[] }).failures);
      return first.length + second.length >= want.length;
    }, 'the failures after the restart');
    expectOnceEach([...first, ...second], want);
    const split = second.find((e) => e.kind === 'cert_verify_failed')!;
    expect(split.detail.length).toBeGreaterThanOrEqual(3);
    expect(split.detail[0]).toMatch(/^CERT: Pre-verification error: /);
  });
});

