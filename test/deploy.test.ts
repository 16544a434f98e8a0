/**
 * Deployment as a user meets it: the packed tarball installs into an empty folder (from the local npm cache,
 * no network) and its `stunnel-doctor` command diagnoses a real log; the example Prometheus configuration
 * passes `promtool check config`.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

describe('deployment', () => {
  it('npm pack gives a package whose stunnel-doctor command works when installed elsewhere', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-pack-'));
    const pack = spawnSync('npm', ['pack', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    const app = join(dir, 'app');
    spawnSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), '{"name":"app","version":"1.0.0","private":true}');
    const inst = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', join(dir, tgz)], { cwd: app, encoding: 'utf8' });
    expect(inst.status, inst.stderr).toBe(0);
    const run = spawnSync(join(app, 'node_modules/.bin/stunnel-doctor'), ['scan', '--json', join(ROOT, 'fixtures/expired/d5.log')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(1); // an error-severity event was found
    const kinds = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; reason: string }).map((e) => `${e.kind}/${e.reason}`);
    expect(kinds).toContain('cert_verify_failed/expired');
    const check = spawnSync(join(app, 'node_modules/.bin/stunnel-doctor'), ['rules', 'check', join(app, 'node_modules/stunnel-doctor/rules/stunnel.yaml')], { encoding: 'utf8' });
    expect(check.status, check.stderr).toBe(0);
  }, 120_000);

  it('the example Prometheus scrape configuration passes promtool check config', () => {
    const r = spawnSync(process.env.PROMTOOL ?? 'promtool', ['check', 'config', join(ROOT, 'deploy/prometheus.yml')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
