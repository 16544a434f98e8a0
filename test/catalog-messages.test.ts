/**
 * Messages of the stunnel catalog (../shared/reference/stunnel-log-catalog.md) that the real stunnel 5.68 on a
 * test machine cannot be made to print: thread-creation failures, stunnel's internal errors, watchdogs. Each
 * case takes a real log of fixtures/ and puts the catalog's message text where stunnel prints it, in stunnel's
 * documented line format (catalog section 1.1: `YYYY.MM.DD HH:MM:SS LOGn[id]: text`). The message texts are
 * the catalog's literal format strings (no placeholder, or the placeholder filled from the surrounding real
 * lines); the spliced lines are marked as such in each case. Everything that can be produced has a fixture.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuleSet, scanFiles, type DoctorEvent } from '../src/index.js';
import { newRecord } from '../src/parse/line.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sd-catalog-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const real = (scenario: string, file = 'd5.log') => readFileSync(join(FIXTURES, scenario, file), 'utf8').split('\n');

let n = 0;
async function scan(lines: string[]): Promise<DoctorEvent[]> {
  const f = join(dir, `case-${n++}.log`);
  writeFileSync(f, lines.join('\n'));
  return (await scanFiles([f], { proxy: 'p' })).events;
}
const brief = (e: DoctorEvent) => `${e.kind}/${e.reason} ${e.rule}`;

/** The real lines up to and including the first one that contains `text`. */
function upTo(lines: string[], text: string): string[] {
  const i = lines.findIndex((l) => l.includes(text));
  expect(i).toBeGreaterThanOrEqual(0);
  return lines.slice(0, i + 1);
}
/** The stamp of a real line, for a spliced line that follows it. */
const stampOf = (line: string) => line.slice(0, 19);

describe('process exits the catalog documents (section 2.1)', () => {
  // §2.1: `Cron initialization failed` / `Failed to start exec+connect services` | 2 | daemon_loop | exit(1).
  // Spliced after the real `Configuration successful` of fixtures/success (daemon mode: id main).
  for (const [message, rule] of [
    ['Cron initialization failed', 'stopped-cron-init'],
    ['Failed to start exec+connect services', 'stopped-exec-connect'],
  ] as const) {
    it(`${message}: the process stops, critical`, async () => {
      const head = upTo(real('success'), 'Configuration successful');
      const events = await scan([...head, `${stampOf(head.at(-1)!)} LOG2[main]: ${message}`, '']);
      expect(events.map(brief)).toEqual(['proxy_started/ok config-successful', `proxy_stopped/other ${rule}`]);
      expect(events[1]!.severity).toBe('critical');
      expect(events[1]!.hint).toMatch(/thread/);
    });
  }
});

describe('connection-level internal errors (sections 1.3, 2.5)', () => {
  it('create_client failed (§2.5, LOG3 under main) is a rejected connection', async () => {
    // §2.5: `Connection rejected: create_client failed` | 3 | accept_connection | main/ui.
    const head = upTo(real('success'), 'Configuration successful');
    const events = await scan([...head, `${stampOf(head.at(-1)!)} LOG3[main]: Connection rejected: create_client failed`, '']);
    expect(events.map(brief)).toEqual(['proxy_started/ok config-successful', 'connection_rejected/other rejected-create-client']);
    expect(events[1]!.hint).toMatch(/thread/);
  });

  it('the transfer() watchdog (§1.3) decides the connection it resets', async () => {
    // §1.3: "the `transfer() loop executes not transferring any data` block (about 10 LOG3 lines)". Spliced,
    // with the first two lines of that block, before the real `Connection reset` of fixtures/idle-timeout
    // (which alone reads as an idle timeout).
    const lines = real('idle-timeout');
    const end = lines.findIndex((l) => l.includes('LOG5[0]: Connection reset: '));
    expect(end).toBeGreaterThan(0);
    const at = stampOf(lines[end]!);
    const spliced = [
      ...lines.slice(0, end),
      `${at} LOG3[0]: transfer() loop executes not transferring any data`,
      `${at} LOG3[0]: please report the problem to Michal.Trojnara@stunnel.org`,
      ...lines.slice(end),
    ];
    const events = (await scan(spliced)).filter((e) => e.connection === '0');
    expect(events.map(brief)).toEqual(['connection_closed/other transfer-stall']);
    expect(events[0]!.severity).toBe('error');
    expect(events[0]!.detail).toContain('please report the problem to Michal.Trojnara@stunnel.org');
  });

  it('s_connect: s_poll_wait %s: internal error (§2.5) is a failed connect', async () => {
    // §2.5: `s_connect: s_poll_wait %s: TIMEOUTconnect exceeded` / `... internal error` | 3 | s_connect. It takes
    // the place of the real `s_connect: connect <target>: Connection refused (111)` of fixtures/connect-refused,
    // with that line's target.
    const lines = real('connect-refused');
    const i = lines.findIndex((l) => /LOG3\[0\]: s_connect: connect \S+: Connection refused/.test(l));
    const target = /connect (\S+): /.exec(lines[i]!)![1]!;
    const spliced = [...lines.slice(0, i), `${stampOf(lines[i]!)} LOG3[0]: s_connect: s_poll_wait ${target}: internal error`, ...lines.slice(i + 1)];
    const events = (await scan(spliced)).filter((e) => e.connection === '0');
    expect(events.map(brief)).toEqual(['connect_failed/other connect-internal-error']);
    expect((events[0] as Extract<DoctorEvent, { kind: 'connect_failed' }>).target).toBe(target);
  });
});

describe('X509 verification strings the catalog lists (section 2.3)', () => {
  // §2.3 "Common X509 strings after `CERT: Pre-verification error: `" (OpenSSL 3.x), with the reason each
  // must give. The 5.73+ prefix `certificate not found in local repository: ` (errors 18/19) is checked too.
  const cases: [string, string][] = [
    ['unable to get local issuer certificate', 'unknown_issuer'],
    ['self-signed certificate in certificate chain', 'unknown_issuer'],
    ['self-signed certificate', 'self_signed'],
    ['self signed certificate', 'self_signed'], // OpenSSL 1.1.1 spelling
    ['unable to verify the first certificate', 'unknown_issuer'],
    ['certificate has expired', 'expired'],
    ['certificate is not yet valid', 'not_yet_valid'],
    ['certificate revoked', 'revoked'],
    ['unsuitable certificate purpose', 'wrong_purpose'],
    ['invalid CA certificate', 'invalid_chain'],
    ['certificate rejected', 'pin_mismatch'],
    ['application verification failure', 'ocsp_failed'],
    ['unable to get certificate CRL', 'crl_unavailable'],
    ['CRL has expired', 'crl_unavailable'],
    ['CRL is not yet valid', 'crl_unavailable'],
    ['CRL signature failure', 'crl_unavailable'],
    ['certificate not found in local repository: self-signed certificate in certificate chain', 'unknown_issuer'],
    ['certificate not found in local repository: self-signed certificate', 'self_signed'],
  ];
  it.each(cases)('%s -> %s', async (x509, reason) => {
    const rules = await loadRuleSet();
    const rec = Object.assign(newRecord(), {
      format: 'file' as const, level: 4, id: '0', idClass: 'connection' as const, message: `CERT: Pre-verification error: ${x509}`,
    });
    expect(rules.match(rec, () => true)?.rule.event?.reason).toBe(reason);
  });
});
