/**
 * SIGHUP reload of `stunnel-doctor watch --config`: rules and configuration are reloaded without losing the
 * correlator state (a failure whose CERT line was read before the reload and its end after it keeps its full
 * reason) or resetting counters; a bad configuration or rule file is refused with an error naming the file
 * and line, and the running configuration and rules are kept. Real stunnel 5.68 logs from fixtures/, the
 * real command in a child process, its endpoint on loopback.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { DoctorEvent } from '../src/index.js';
import { waitFor } from './helpers/wait.js';
import { getBody as get } from './helpers/http.js';

const ROOT = resolve(import.meta.dirname, '..');
const FIX = (p: string) => join(ROOT, 'fixtures', p);

let child: ChildProcess | null = null;
let dir = '';
afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The value of the one series of `name` whose labels include every `labels` pair (NaN when none). */
function value(metrics: string, name: string, labels: Record<string, string>): number {
  const line = metrics.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A user rule file that overrides the default rule `connect-refused` by id (its pattern on line 4). */
const overrideRefused = (message: string, hint: string): string => `version: 1
rules:
  - id: connect-refused
    match: { scope: connection, level: [3], message: '${message}' }
    event: { kind: connect_failed, reason: refused }
    severity: error
    hint: ${hint}
`;

describe('watch: SIGHUP reload', () => {
  it('reloads rules and proxies keeping state and counters; refuses a bad config or rule file and keeps running', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-reload-'));
    const cfg = join(dir, 'stunnel-doctor.yaml');
    const local = join(dir, 'local-rules.yaml');
    const ldaps = join(dir, 'ldaps.log');
    const billing = join(dir, 'billing.log');
    const events = join(dir, 'events.ndjson');
    const config = (extra: { rules?: string[]; billing?: boolean; labels?: string; broken?: string } = {}) =>
      `listen: 127.0.0.1:0
stateDir: ${join(dir, 'state')}
eventsOut: ${events}
pollMs: 100
labels: [${extra.labels ?? 'purpose'}]
rules: [${(extra.rules ?? []).join(', ')}]
proxies:
  - name: ldaps
    log: ${ldaps}
    labels: { ${extra.labels ?? 'purpose'}: ldaps }
${extra.billing ? `  - name: billing\n    log: ${billing}\n    labels: { ${extra.labels ?? 'purpose'}: licensing }\n` : ''}${extra.broken ?? ''}`;

    // The unknown-CA failure: its CERT line before the reload, its end after it.
    const unknownCa = readFileSync(FIX('unknown-ca/d5.log'));
    const cut = unknownCa.indexOf('Rejected by CERT');
    writeFileSync(ldaps, unknownCa.subarray(0, cut));
    writeFileSync(billing, readFileSync(FIX('multi-service/d5.log')));
    writeFileSync(cfg, config());

    let stderr = '';
    child = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', 'watch', '--config', cfg], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (c: string) => (stderr += c));
    const url = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr)?.[1], 'the sidecar to serve');
    const ndjson = (): DoctorEvent[] =>
      existsSync(events) ? readFileSync(events, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as DoctorEvent) : [];
    const metrics = () => get(`${url}/metrics`);
    const hup = async (what: RegExp, n: number): Promise<void> => {
      child!.kill('SIGHUP');
      await waitFor(() => (stderr.match(new RegExp(what.source, 'g')) ?? []).length >= n, `${what} after SIGHUP`);
    };

    await waitFor(async () => value(await metrics(), 'stunnel_proxy_starts_total', { proxy: 'ldaps' }) === 1, 'the start of ldaps');
    const m1 = await metrics();
    const matched1 = value(m1, 'stunnel_doctor_lines_total', { proxy: 'ldaps', result: 'matched' });
    expect(matched1).toBeGreaterThan(0);
    expect(value(m1, 'stunnel_proxy_starts_total', { proxy: 'billing' })).toBeNaN();

    // 1. A good reload: a user rule file overriding a default's hint by id, and a second proxy.
    writeFileSync(local, overrideRefused(String.raw`^s_connect: connect (?<target>.+): Connection refused \(111\)$`, '"LOCAL: start the backend behind {target}."'));
    writeFileSync(cfg, config({ rules: [local], billing: true }));
    await hup(/reloaded configuration and rules/, 1);
    appendFileSync(ldaps, unknownCa.subarray(cut));
    const failure = await waitFor(() => ndjson().find((e) => e.proxy === 'ldaps' && e.kind === 'cert_verify_failed'), 'the unknown-CA failure');
    // The correlator state of the connection open across the reload was kept: its full reason.
    expect(failure).toMatchObject({ proxy: 'ldaps', reason: 'unknown_issuer', service: 'tls-client', connection: '0' });
    expect(failure.detail[0]).toContain('unable to get local issuer certificate');
    // The new rules apply to the new proxy's lines.
    const refused = await waitFor(() => ndjson().filter((e) => e.proxy === 'billing' && e.kind === 'connect_failed'), 'billing events');
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) expect(e.hint).toMatch(/^LOCAL: start the backend behind 127\.0\.0\.1:\d+\.$/);
    const m2 = await waitFor(async () => {
      const m = await metrics();
      return value(m, 'stunnel_failures_total', { proxy: 'ldaps', reason: 'unknown_issuer' }) === 1 && m;
    }, 'the ldaps failure counted');
    // Counters were not reset (and the start was not counted twice).
    expect(value(m2, 'stunnel_proxy_starts_total', { proxy: 'ldaps', purpose: 'ldaps' })).toBe(1);
    expect(value(m2, 'stunnel_doctor_lines_total', { proxy: 'ldaps', result: 'matched' })).toBeGreaterThan(matched1);
    expect(value(m2, 'stunnel_proxy_starts_total', { proxy: 'billing', purpose: 'licensing' })).toBe(1);
    expect(value(m2, 'stunnel_doctor_rules_reload_success', {})).toBe(1);
    const events2 = ndjson().length;

    // 2. A bad configuration (an unknown key on line 14): refused, named by file and line; nothing changes.
    writeFileSync(cfg, config({ rules: [local], billing: true, broken: '    colour: blue\n' }));
    await hup(/reload refused/, 1);
    expect(stderr).toContain(`${cfg}:14:`);
    expect(stderr).toMatch(/unknown key \\"colour\\"/);
    // 3. Static label names cannot change on reload (their series exist): refused with a clear error.
    writeFileSync(cfg, config({ rules: [local], billing: true, labels: 'team' }));
    await hup(/reload refused/, 2);
    expect(stderr).toMatch(/labels.*restart/);
    // 4. A bad rule file (an invalid regular expression on line 4): refused with file and line.
    writeFileSync(local, overrideRefused('^s_connect: (unclosed', 'broken'));
    writeFileSync(cfg, config({ rules: [local], billing: true }));
    await hup(/reload refused/, 3);
    expect(stderr).toContain(`${local}:4`);
    const m3 = await metrics();
    expect(value(m3, 'stunnel_doctor_rules_reload_success', {})).toBe(0);

    // The running configuration and rules are still in force: both proxies followed, the LOCAL hint, the
    // counters continue.
    appendFileSync(billing, readFileSync(FIX('multi-service/d5.log')));
    appendFileSync(ldaps, readFileSync(FIX('success/d5.log')));
    await waitFor(async () => value(await metrics(), 'stunnel_proxy_starts_total', { proxy: 'ldaps', purpose: 'ldaps' }) === 2, 'the second start of ldaps');
    await waitFor(async () => value(await metrics(), 'stunnel_proxy_starts_total', { proxy: 'billing', purpose: 'licensing' }) === 2, 'the second start of billing');
    const later = await waitFor(() => {
      const all = ndjson().slice(events2).filter((e) => e.proxy === 'billing' && e.kind === 'connect_failed');
      return all.length >= refused.length && all;
    }, 'billing events after the refused reloads');
    for (const e of later) expect(e.hint).toMatch(/^LOCAL: /);
    expect(stderr).not.toMatch(/TypeError|unhandled/i);
  });
});

describe('watch: SIGHUP reload of the built-in demo', () => {
  it('is accepted, twice (the demo\'s own labels are kept)', async () => {
    const demo = spawn(process.execPath, ['--import', 'tsx', 'src/bin.ts', 'watch', '--listen', '127.0.0.1:0'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    demo.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    try {
      await waitFor(() => /"msg":"serving /.test(stderr), 'the demo sidecar to serve');
      for (let n = 1; n <= 2; n++) {
        demo.kill('SIGHUP');
        await waitFor(() => (stderr.match(/reloaded configuration and rules|reload refused/g) ?? []).length >= n, `reload ${n}`);
      }
      expect(stderr).not.toContain('reload refused');
    } finally {
      demo.kill('SIGKILL');
    }
  });
});
