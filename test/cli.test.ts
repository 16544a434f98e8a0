/** The command line's own options: the version it reports is the package's. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('stunnel-doctor --version', () => {
  it('prints the package version and exits 0 (-V too)', () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), flag], { cwd: REPO, encoding: 'utf8' });
      expect(r.stdout, flag).toBe(`${version}\n`);
      expect(r.status, flag).toBe(0);
    }
  });
});
