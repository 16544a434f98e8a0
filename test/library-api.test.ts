/**
 * The library as a program uses it: through the package's entry (src/index.ts, what `import ... from
 * 'stunnel-doctor'` resolves to), with the README's example, and with proxies a program got wrong, which are refused
 * at createDoctor() or reload() with the configuration file's messages instead of failing later in a timer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as api from '../src/index.js';
import { ConfigError, ConfigFailedError, createDoctor, ReloadError, StartTimeoutError, type Doctor, type DoctorEvent } from '../src/index.js';

const FIX = (p: string): string => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

const dirs: string[] = [];
const doctors: Doctor[] = [];
afterEach(async () => {
  for (const d of doctors.splice(0)) await d.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'sd-library-'));
  dirs.push(d);
  return d;
};

async function waitFor(ok: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(ok(), what).toBe(true);
}

describe('the package entry', () => {
  it('exports every value the README imports from stunnel-doctor, and the error classes its example names', () => {
    const imported = [...README.matchAll(/import \{([^}]+)\} from 'stunnel-doctor'/g)].flatMap((m) => m[1]!.split(',').map((s) => s.trim()));
    expect(imported).toContain('createDoctor');
    for (const name of imported) expect(api, name).toHaveProperty(name);
    for (const name of ['ConfigFailedError', 'StartTimeoutError', 'ConfigError', 'ReloadError']) {
      expect(README, name).toContain(name);
      expect(api, name).toHaveProperty(name);
    }
    expect(new ConfigError(['x'])).toBeInstanceOf(Error);
    expect([ConfigFailedError, StartTimeoutError, ReloadError].every((c) => typeof c === 'function')).toBe(true);
  });

  it('loads neither the YAML parser nor the schema library until a rule file is parsed (parseRuleFile is exported)', () => {
    // A fresh process: every `import` of yaml or zod (a resolve hook) and every `require` (the CommonJS cache), once
    // the package entry is imported, then once parseRuleFile() ran.
    const hook = 'export async function resolve(s, c, next) { if (/^(yaml|zod)(\\/|$)/.test(s)) console.log("import " + s); return next(s, c); }';
    const script = `
      import { createRequire, register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
      const required = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules\\/(yaml|zod)\\//.test(k)).length;
      const api = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).pathname)});
      console.log('entry imported, required ' + required());
      const r = api.parseRuleFile('rules:\\n  - id: x\\n    match: { message: "^a" }\\n', 'x.yaml');
      console.log('rule file parsed: ' + r.rules.length + ' rule, ' + r.problems.length + ' problems, required ' + (required() > 0));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual(['entry imported, required 0', 'rule file parsed: 1 rule, 0 problems, required true']);
  });

  it("runs the README's example on a real log: events$, diagnose() since the last call, the metrics", async () => {
    const dir = tmp();
    const log = join(dir, 'ldaps.log');
    copyFileSync(FIX('expired/d5.log'), log);
    const doctor = await createDoctor({ proxies: [{ name: 'ldaps', log }], stateDir: join(dir, 'state') });
    doctors.push(doctor);
    const got: DoctorEvent[] = [];
    doctor.events$.subscribe((e) => got.push(e));
    await waitFor(() => got.some((e) => e.kind === 'cert_verify_failed'), 'the backlog read');
    const first = doctor.diagnose('ldaps');
    expect(first.ok).toBe(false);
    expect(first.failures.map((e) => `${e.kind}/${e.reason}`)).toContain('cert_verify_failed/expired');
    expect(doctor.diagnose('ldaps').failures).toEqual([]);
    expect(await doctor.metrics.render()).toMatch(/^stunnel_failures_total\{proxy="ldaps",.*kind="cert_verify_failed",reason="expired"\} [1-9]/m);
  });
});

describe('waitForStart, as the README tells it', () => {
  it('resolves on a start, rejects with ConfigFailedError for a failed one and StartTimeoutError without one', async () => {
    const dir = tmp();
    const ok = join(dir, 'ok.log');
    copyFileSync(FIX('expired/d5.log'), ok);
    const quiet = join(dir, 'quiet.log');
    writeFileSync(quiet, '');
    const failedLog = join(dir, 'failed.log');
    writeFileSync(failedLog, '');
    const failedErr = join(dir, 'failed.err');
    copyFileSync(FIX('config-unknown-option/d5.stderr'), failedErr);
    const doctor = await createDoctor({
      proxies: [{ name: 'ok', log: ok }, { name: 'quiet', log: quiet }, { name: 'failed', log: failedLog, stderr: failedErr }],
    });
    doctors.push(doctor);
    await expect(doctor.waitForStart('ok', { timeout: 5000 })).resolves.toMatchObject({ kind: 'proxy_started', proxy: 'ok' });
    const failed = await doctor.waitForStart('failed', { timeout: 5000 }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(ConfigFailedError);
    expect((failed as ConfigFailedError).event).toMatchObject({ kind: 'config_failed', reason: 'invalid_option' });
    const none = await doctor.waitForStart('quiet', { timeout: 300 }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(StartTimeoutError);
    expect((none as StartTimeoutError).proxy).toBe('quiet');
  });
});

describe('proxies given by a program', () => {
  it('are refused at createDoctor with every problem named, as a configuration file would be', async () => {
    const log = join(tmp(), 'x.log');
    writeFileSync(log, '');
    const refused = async (proxies: unknown[]): Promise<string> => {
      const e = await createDoctor({ proxies: proxies as never }).then((d) => {
        doctors.push(d);
        return null;
      }, (x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).message;
    };
    expect(await refused([{ log }])).toBe('proxies[0].name: "name" is required with "log"');
    expect(await refused([{ proxy: 'p', log }])).toBe('proxies[0]: unknown key "proxy"\nproxies[0].name: "name" is required with "log"');
    expect(await refused([{ name: 'a', log }, { name: 'a b', glob: '/x/*.log', stderr: log }, { name: 'a', log: 7 }])).toBe([
      'proxies[1].name: proxy names are letters, digits, ".", "_" and "-"',
      'proxies[1].stderr: "stderr" goes with one "log", not a glob',
      'proxies[2].log: expected a non-empty string',
      'proxies[2].name: duplicate proxy name "a"',
    ].join('\n'));
    expect(await refused([{ name: 'a' }])).toBe('proxies[0]: give "log" (one file), "glob" (many), or "stunnelConfig" alone (its "output =" is the log)');
  });

  it('given by their stunnel configuration alone follow its output file; a bad reload keeps the running proxies', async () => {
    const dir = tmp();
    const conf = join(dir, 'ldaps.conf');
    const log = join(dir, 'out.log');
    copyFileSync(FIX('expired/d5.log'), log);
    // The real fixture's configuration, its `output =` pointed at this copy of its log.
    writeFileSync(conf, readFileSync(FIX('expired/stunnel.conf'), 'utf8').replace(/^output = .*$/m, `output = ${log}`));
    const doctor = await createDoctor({ proxies: [{ stunnelConfig: conf }] });
    doctors.push(doctor);
    const got: DoctorEvent[] = [];
    doctor.events$.subscribe((e) => got.push(e));
    await waitFor(() => got.some((e) => e.kind === 'cert_verify_failed'), 'the output file read');
    expect(got[0]!.proxy).toBe('ldaps');
    expect(doctor.status().map((s) => [s.proxy, s.files.map((f) => f.path)])).toEqual([['ldaps', [log]]]);

    await expect(doctor.reload({ proxies: [{ log } as never] })).rejects.toThrow('proxies[0].name: "name" is required with "log"');
    expect(doctor.status().map((s) => s.proxy)).toEqual(['ldaps']);
  });
});
