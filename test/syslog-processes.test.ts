/**
 * Several stunnel processes logging to one syslog file (Debian's stunnel4 starts one process per
 * /etc/stunnel/*.conf, all with the ident `stunnel`): each numbers its connections from 0, so the ids collide.
 * The journal and rsyslog name the sender (`stunnel[730]:`), and connections are correlated per process.
 *
 * Inputs: the real syslog capture of fixtures/syslog (stunnel 5.68 sending to /dev/log) and the real output file
 * of fixtures/expired, each put behind the header a syslog daemon writes (`<pri>Mon DD HH:MM:SS host
 * stunnel[pid]: `) and interleaved line by line, as two processes writing at once would be.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRuleSet, Pipeline, scanFiles, type DoctorEvent } from '../src/index.js';
import { LineChunker } from '../src/tail/chunk.js';

const FIX = (p: string) => new URL(`../fixtures/${p}`, import.meta.url).pathname;
const lines = (p: string) => readFileSync(FIX(p), 'latin1').split('\n').filter(Boolean);

/** A real syslog datagram (`<29>Nov 22 06:37:45 stunnel: LOG5[0]: ...`) as a daemon that adds the pid stores it. */
const withPid = (line: string, pid: number) => line.replace(/^(<\d+>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) stunnel: /, `$1 gw stunnel[${pid}]: `);
/** A real output-file line (`2026.11.22 06:36:08 LOG5[0]: ...`) as the same process would have sent it to syslog. */
const asSyslog = (line: string, pid: number) => {
  const m = /^(\d{4})\.(\d\d)\.(\d\d) (\d\d:\d\d:\d\d) (LOG([0-7])\[.*)$/.exec(line)!;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][Number(m[2]) - 1];
  return `<${24 + Number(m[6])}>${mon} ${m[3]} ${m[4]} gw stunnel[${pid}]: ${m[5]}`;
};

const brief = (e: DoctorEvent) => `${e.kind}/${e.reason}/${e.service}/${e.connection}`;

describe('two stunnel processes in one syslog file', () => {
  it('are correlated apart: the same connection ids give each process its own events', async () => {
    const a = lines('syslog/syslog.log').map((l) => withPid(l, 730));
    const b = lines('expired/d5.log').map((l) => asSyslog(l, 1044));
    expect(a.every((l) => l.includes('stunnel[730]: LOG'))).toBe(true);
    const mixed: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (i < a.length) mixed.push(a[i]!);
      if (i < b.length) mixed.push(b[i]!);
    }
    const dir = mkdtempSync(join(tmpdir(), 'sd-syslog-'));
    const write = (name: string, ls: string[]) => {
      writeFileSync(join(dir, name), `${ls.join('\n')}\n`, 'latin1');
      return join(dir, name);
    };
    const alone = [
      ...(await scanFiles([write('a.log', a)], { proxy: 'gw' })).events,
      ...(await scanFiles([write('b.log', b)], { proxy: 'gw' })).events,
    ];
    // Both processes have a connection 0 and a connection 1.
    expect(alone.filter((e) => e.connection === '0').length).toBe(2);
    const { events } = await scanFiles([write('syslog', mixed)], { proxy: 'gw' });
    expect(events.map(brief).sort()).toEqual(alone.map(brief).sort());
    const expired = events.find((e) => e.kind === 'cert_verify_failed')!;
    expect(expired.reason).toBe('expired');
    expect(expired.detail[0]).toBe('CERT: Pre-verification error: certificate has expired');

    // Across a checkpoint (the sidecar restarted mid-file): every process's open state comes back.
    const bytes = Buffer.from(`${mixed.join('\n')}\n`, 'latin1');
    const rules = await loadRuleSet();
    for (let cut = bytes.indexOf('\n') + 1; cut < bytes.length; cut = bytes.indexOf('\n', cut) + 1) {
      const got: DoctorEvent[] = [];
      const sink = { event: (e: DoctorEvent) => got.push(e), accepted() {}, dropped() {} };
      const p1 = new Pipeline(rules, sink);
      const s1 = p1.source('gw', { proxy: 'gw', file: 'syslog' });
      new LineChunker(0).push(bytes.subarray(0, cut), (c) => p1.push(s1, c, 'fp'));
      const snap = JSON.parse(JSON.stringify(s1.snapshot()));
      const p2 = new Pipeline(rules, sink);
      const s2 = p2.source('gw', { proxy: 'gw', file: 'syslog' });
      s2.restore(snap);
      new LineChunker(cut).push(bytes.subarray(cut), (c) => p2.push(s2, c, 'fp'));
      p2.finish(s2);
      expect(got.map(brief).sort(), `cut at ${cut}`).toEqual(alone.map(brief).sort());
    }
  });
});
