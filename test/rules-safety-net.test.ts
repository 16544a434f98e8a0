/**
 * The safety nets at the end of rules/stunnel.yaml: an error line (levels 0-3) that no rule knows is never lost.
 * A real stunnel error that a newer stunnel or OpenSSL might word differently is simulated on real fixtures by
 * replacing the rules that know it with rules that match nothing (a user rule file replaces a default by id).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanFiles, type DoctorEvent } from '../src/index.js';

const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;

/** A rule file that disables the default rules `ids` (same id, a pattern that matches no stunnel message). */
function disabling(ids: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd-net-'));
  const f = join(dir, 'disable.yaml');
  writeFileSync(f, `rules:\n${ids.map((id) => `  - id: ${id}\n    match: { message: '^never-${id}$' }\n    action: ignore\n`).join('')}`);
  return f;
}

const brief = (e: DoctorEvent) => `${e.kind}/${e.reason}/${e.rule}`;

describe('an error no rule knows', () => {
  it('on a connection: a failure with the line in its detail and hint, not a clean close', async () => {
    const known = (await scanFiles([FIX('connect-refused/d5.log')])).events.filter((e) => e.connection !== null);
    expect(known.map(brief)).toEqual(['connect_failed/refused/connect-refused']);

    const rules = [disabling(['connect-refused', 'connect-other', 'connect-no-more-addresses'])];
    const { events } = await scanFiles([FIX('connect-refused/d5.log')], { rules });
    const conn = events.filter((e) => e.connection !== null);
    expect(conn.map(brief)).toEqual(['tls_handshake_failed/other/conn-unknown-error-before-tls']);
    const e = conn[0]!;
    expect(e.severity).toBe('error');
    expect(e.detail).toEqual(['s_connect: connect 127.0.0.1:21039: Connection refused (111)', 'No more addresses to connect']);
    expect(e.hint).toContain('no rule for: "s_connect: connect 127.0.0.1:21039: Connection refused (111)"');
    expect(e.connection).toBe(known[0]!.connection);
  });

  it('in a failed start: the config_failed event carries it', async () => {
    const rules = [disabling(['config-no-trusted-ca', 'config-tls-context-failed', 'config-service-invalid'])];
    const { events } = await scanFiles([FIX('config-missing-cafile/d5.stderr')], { rules });
    expect(events.map((e) => `${e.kind}/${e.reason}`)).toEqual(['config_failed/other']);
    expect(events[0]!.detail).toEqual(['No trusted certificates found', 'Service [tls-client]: Failed to initialize TLS context', 'Configuration failed']);
    expect(events[0]!.hint).toContain('no rule for: "No trusted certificates found"');
  });

  it('a warning no rule knows is kept as a detail of its connection', async () => {
    const rules = [disabling(['cert-expired', 'cert-other-error'])];
    const { events } = await scanFiles([FIX('expired/d5.log')], { rules });
    const e = events.find((x) => x.connection !== null)!;
    expect(e.kind).toBe('cert_verify_failed');
    expect(e.detail[0]).toBe('CERT: Pre-verification error: certificate has expired');
  });

  it('leaves every real fixture as designed (no safety net fires where a rule knows the line)', async () => {
    const files = ['expired/d5.log', 'expired/d7.log', 'connect-refused/d5.log', 'reload/d5.log', 'config-missing-cafile/d5.stderr'];
    for (const f of files) {
      const { events } = await scanFiles([FIX(f)]);
      expect(events.filter((e) => /unknown-error/.test(e.rule)).map(brief), f).toEqual([]);
    }
  });
});
