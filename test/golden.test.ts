/**
 * Golden pairs, mtail style: every log a real stunnel 5.68 wrote in fixtures/<scenario>/ and the events
 * the scenario was designed to produce (fixtures/<scenario>/expected.json, written by the generator from
 * the scenario's design, not by this tool).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { scanFiles, type DoctorEvent } from '../src/index.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

interface Expected {
  scenario: string;
  description?: string;
  files: Record<string, { kind: string; reason: string; service: string | null; connection: string | null }[]>;
}

const scenarios = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(FIXTURES, d.name, 'expected.json')))
  .map((d) => d.name)
  .sort();

const brief = (e: DoctorEvent) => ({ kind: e.kind, reason: e.reason, service: e.service, connection: e.connection });

describe('fixtures are present', () => {
  it('has real stunnel scenarios to replay', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(20);
  });
});

for (const scenario of scenarios) {
  const expected = JSON.parse(readFileSync(join(FIXTURES, scenario, 'expected.json'), 'utf8')) as Expected;
  describe(`${scenario}`, () => {
    for (const [file, want] of Object.entries(expected.files)) {
      it(`${file} yields the designed events`, async () => {
        const path = join(FIXTURES, scenario, file);
        const { events } = await scanFiles([path], { proxy: scenario });
        expect(events.map(brief)).toEqual(want);
      });

      it(`${file}: events point at real lines, ids are unique and stable`, async () => {
        const path = join(FIXTURES, scenario, file);
        const bytes = readFileSync(path);
        const a = await scanFiles([path], { proxy: scenario });
        const b = await scanFiles([path], { proxy: scenario });
        expect(b.events.map((e) => e.id)).toEqual(a.events.map((e) => e.id));
        expect(new Set(a.events.map((e) => e.id)).size).toBe(a.events.length);
        for (const e of a.events) {
          expect(e.source.file).toBe(path);
          for (const off of e.source.offsets) {
            expect(off === 0 || bytes[off - 1] === 10).toBe(true);
            expect(off).toBeLessThan(bytes.length);
          }
          // Every detail line is the text of one of the event's source lines.
          const lines = e.source.offsets.map((o) => bytes.subarray(o, bytes.indexOf(10, o)).toString('utf8'));
          for (const d of e.detail) expect(lines.some((l) => l.endsWith(d))).toBe(true);
          expect(e.hint.length).toBeGreaterThan(0);
        }
      });
    }
  });
}
