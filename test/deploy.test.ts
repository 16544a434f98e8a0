/**
 * Deployment as a user meets it: the packed tarball installs into an empty folder (production dependencies from the
 * lockfile and the local npm cache, no network) and its `stunnel-doctor` command diagnoses a real log; the example Prometheus configuration
 * passes `promtool check config`.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

describe('deployment', () => {
  it('npm pack gives a package whose stunnel-doctor command works when installed elsewhere', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-pack-'));
    const pack = spawnSync('npm', ['pack', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    // Installed as an operator installs a release: the tarball unpacked into node_modules, its production
    // dependencies from the lockfile (`npm ci --omit=dev`). Offline: the lockfile names every tarball by
    // integrity, so npm's cache from the repo's own `npm ci` serves them without a registry.
    const app = join(dir, 'app');
    const pkg = join(app, 'node_modules/stunnel-doctor');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(app, 'package.json'), '{"name":"app","version":"1.0.0","private":true}');
    const untar = spawnSync('tar', ['-xzf', join(dir, tgz), '-C', pkg, '--strip-components=1'], { encoding: 'utf8' });
    expect(untar.status, untar.stderr).toBe(0);
    copyFileSync(join(ROOT, 'package-lock.json'), join(pkg, 'package-lock.json'));
    const inst = spawnSync('npm', ['ci', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: pkg, encoding: 'utf8' });
    expect(inst.status, inst.stderr).toBe(0);
    mkdirSync(join(app, 'node_modules/.bin'), { recursive: true });
    symlinkSync('../stunnel-doctor/dist/bin.js', join(app, 'node_modules/.bin/stunnel-doctor'));
    chmodSync(join(pkg, 'dist/bin.js'), 0o755); // as npm does for a package's bin
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
