/**
 * Shared helpers for the fault-injection suite: a corpus of real stunnel 5.68 logs (fixtures/<scenario>/d5.log,
 * concatenated: every line was written by the real stunnel), one-shot expectations from `scanFiles`, a
 * Prometheus text reader, and generous waits (never a timing assertion).
 */
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DoctorEvent } from '../../src/events.js';
export { waitFor } from '../helpers/wait.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const FIXTURES = join(REPO, 'fixtures');

/** Scenarios with failures of every family, each a whole stunnel run (banner to exit). */
export const CORPUS_SCENARIOS = [
  'expired', 'unknown-ca', 'connect-refused', 'multi-service', 'dns-failure', 'self-signed', 'protocol-version',
  'too-many-clients', 'reload', 'restart-append', 'checkhost-mismatch', 'peer-disconnected', 'revoked', 'success',
];

/** The concatenated real logs (d5 of each scenario, or `level`). */
export function corpus(scenarios = CORPUS_SCENARIOS, level = 'd5'): Buffer {
  const parts: Buffer[] = [];
  for (const s of scenarios) {
    const p = join(FIXTURES, s, `${level}.log`);
    if (existsSync(p)) parts.push(readFileSync(p));
  }
  if (parts.length < 5) throw new Error('expected the captured stunnel logs in fixtures/*/d5.log');
  return Buffer.concat(parts);
}

/** Real lines of the fixtures matching `re` (whole lines, without LF). */
export function realLines(re: RegExp, level = 'd5'): string[] {
  const out: string[] = [];
  for (const s of readdirSync(FIXTURES)) {
    const p = join(FIXTURES, s, `${level}.log`);
    if (!existsSync(p)) continue;
    for (const l of readFileSync(p, 'latin1').split('\n')) if (re.test(l)) out.push(l);
  }
  return out;
}

export const tmp = (prefix = 'sd-faults-'): string => mkdtempSync(join(tmpdir(), prefix));

/** What must survive any fault: the event's classification and where it belongs. */
export const brief = (e: DoctorEvent): string => `${e.kind}/${e.reason}/${e.service}/${e.connection}`;
export const briefDetail = (e: DoctorEvent): string => `${brief(e)}|${e.detail.join(' | ')}`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sum of the samples of `name` in a Prometheus text exposition whose labels contain every `match` pair. */
export function metricSum(text: string, name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (!Object.entries(match).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Number of series of `name` in a text exposition. */
export function seriesCount(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `)).length;
}

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
