#!/usr/bin/env node
// The test command: installs the system packages the tests need, type-checks, runs every vitest suite,
// and ends with a plain "N passed, N failed" line.
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' });
let r = run('bash', ['scripts/ensure-system-deps.sh']);
if (r.status !== 0) process.exit(r.status ?? 1);
r = run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']);
if (r.status !== 0) {
  console.error('type check failed');
  process.exit(1);
}
const report = join(mkdtempSync(join(tmpdir(), 'sd-test-')), 'vitest.json');
r = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)]);
let passed = 0;
let failed = 0;
let skipped = 0;
try {
  const j = JSON.parse(readFileSync(report, 'utf8'));
  passed = j.numPassedTests;
  failed = j.numFailedTests;
  skipped = j.numPendingTests + (j.numTodoTests ?? 0);
  if (j.numTotalTests === 0) failed++;
} catch {
  failed++;
}
if (r.status !== 0 && failed === 0) failed = 1; // unhandled errors or a crashed run count as a failure
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
