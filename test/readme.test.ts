/**
 * The README says what the code does: its Events table lists every kind's closed set of reasons exactly as
 * src/events.ts defines it (in order), its endpoint table every path the sidecar serves, and it names every
 * metric of the HTTP endpoint (their meanings are in grafana/README.md, checked in monitoring-bundle.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { KINDS, REASONS, type Kind } from '../src/events.js';
import { HTTP_METRICS } from '../src/http/http-metrics.js';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The rows of the Markdown table whose header line is `header`, as arrays of cells. */
function tableAfter(header: string): string[][] {
  const lines = README.split('\n');
  const at = lines.indexOf(header);
  expect(at, `README table ${header}`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(' | ').map((c) => c.trim()));
  }
  return rows;
}

const ticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

describe('README', () => {
  it('Events: every kind with exactly its reasons, in the order of src/events.ts', () => {
    const rows = tableAfter('| kind | reasons |');
    const listed: Kind[] = [];
    for (const [kinds, reasons] of rows) {
      const ks = ticked(kinds!) as Kind[];
      listed.push(...ks);
      if (ks.length === 1) expect(ticked(reasons!), ks[0]).toEqual([...REASONS[ks[0]!]]);
      // The life-cycle row lists the kinds together and their reasons once each.
      else expect(new Set(ticked(reasons!)), ks.join(', ')).toEqual(new Set(ks.flatMap((k) => [...REASONS[k]])));
    }
    expect(listed.sort()).toEqual([...KINDS].sort());
  });

  it('the sidecar: every path it serves', () => {
    const paths = tableAfter('| path | what |').map(([p]) => ticked(p!)[0]);
    expect(paths).toEqual(['/', '/status.json', '/metrics', '/events', '/diagnose/<proxy>', '/healthz']);
  });

  it('names every metric of the HTTP endpoint', () => {
    for (const m of Object.values(HTTP_METRICS)) expect(README, m.name).toContain(`\`${m.name}`);
  });
});
