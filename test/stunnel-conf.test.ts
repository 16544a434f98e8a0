/**
 * Config-aware diagnosis. The reader on hand-written stunnel.conf inputs (sections, comments, include
 * directories, bad lines with file:line); the enrichment on the real fixtures: each real log with the real
 * stunnel.conf it was written with (fixtures/<scenario>/stunnel.conf is the debug-5 run's; the debug-6/7
 * runs differ only in `debug =` and `output =`, so their configuration is that file with those two lines
 * changed).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStunnelConf } from '../src/stunnel-conf/parse.js';
import { settingsOf, parseLogLevel } from '../src/stunnel-conf/settings.js';
import { confWarnings, CONF_RULE, StunnelConfAwareness, loadStunnelSettings } from '../src/stunnel-conf/enrich.js';
import { scanFiles, type DoctorEvent } from '../src/index.js';
import { createDoctor, type Doctor } from '../src/doctor.js';
import { ConfigError, mergeProxies, proxiesFromFlags, resolveLogs } from '../src/config.js';
import { cli } from './helpers/cli.js';
import { parseConfig } from '../src/config-file.js';
import { main } from '../src/cli.js';
import { isReasonOf } from '../src/events.js';
import { waitFor } from './helpers/wait.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const FIX = (p: string) => join(FIXTURES, p);
const tmp = () => mkdtempSync(join(tmpdir(), 'sd-stunnelconf-'));
const brief = (e: DoctorEvent) => ({ kind: e.kind, reason: e.reason, service: e.service, connection: e.connection });
const fromConf = (e: DoctorEvent) => e.kind === 'config_warning' && e.rule === CONF_RULE;

/** The configuration of the debug-`level` run of a scenario: its stunnel.conf with `debug =` and `output =` changed. */
function confForLevel(scenario: string, level: number): string {
  const text = readFileSync(FIX(`${scenario}/stunnel.conf`), 'utf8');
  if (level === 5) return FIX(`${scenario}/stunnel.conf`);
  const out = join(tmp(), 'stunnel.conf');
  writeFileSync(out, text.replace(/^debug = 5$/m, `debug = ${level}`).replace(/\/d5\.log$/m, `/d${level}.log`));
  return out;
}

async function scanWithConf(scenario: string, file: string, conf?: string) {
  const level = Number(/^d(\d)/.exec(file)?.[1] ?? 5);
  const r = await scanFiles([FIX(`${scenario}/${file}`)], { proxy: scenario, stunnelConf: conf ?? confForLevel(scenario, level) });
  return r.events;
}

function write(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, text);
  }
}

describe('stunnel.conf reader', () => {
  it('reads global options, [service] sections, ; and # comments, blanks, a BOM and CRLF; names are case-insensitive', () => {
    const dir = tmp();
    write(dir, {
      'stunnel.conf': '\ufeff; a comment\n  # another\n\ndebug = info\r\noutput = /var/log/stunnel.log\nTIMEOUTbusy = 20\n' +
        '[ldaps]\nclient = yes\naccept=127.0.0.1:389\nCONNECT = ldap.example:636\nconnect = ldap2.example:636\n' +
        'checkHost = ldap.example\ncheckhost = ldap2.example\nCAfile = /etc/ssl/ca.pem\nverifyChain = yes\n' +
        '[ web ]\naccept = 443\nconnect = 8080\ncert = /etc/ssl/web.pem\ndebug = daemon.notice\nTIMEOUTbusy = 5\nverify = 3\n',
    });
    const conf = readStunnelConf(join(dir, 'stunnel.conf'));
    expect(conf.problems).toEqual([]);
    expect(conf.services.map((s) => [s.name, s.line])).toEqual([['ldaps', 7], ['web', 16]]);
    const s = settingsOf(conf);
    expect(s.global.debug.value.level).toBe(6);
    expect(s.global.output?.value).toBe('/var/log/stunnel.log');
    const [ldaps, web] = s.services;
    expect(ldaps!.client.value).toBe(true);
    expect(ldaps!.connect.map((c) => c.value)).toEqual(['ldap.example:636', 'ldap2.example:636']);
    expect(ldaps!.checkHost.map((c) => [c.value, c.line])).toEqual([['ldap.example', 12], ['ldap2.example', 13]]);
    expect(ldaps!.caFile).toMatchObject({ value: '/etc/ssl/ca.pem', line: 14 });
    expect(ldaps!.verifyChain.value).toBe(true);
    // Service-level options of the global section are every service's defaults.
    expect(ldaps!.timeoutBusy).toMatchObject({ value: 20, line: 6 });
    expect(ldaps!.debug.value.level).toBe(6);
    expect(ldaps!.timeoutIdle).toEqual({ value: 43200, file: null, line: null });
    expect(web!.name).toBe('web');
    expect(web!.client.value).toBe(false);
    expect(web!.timeoutBusy.value).toBe(5);
    expect(web!.debug.value).toEqual({ level: 5, facility: 'daemon' });
    expect(web!.key?.value).toBe('/etc/ssl/web.pem');
    // verify = 3: chain and peer.
    expect([web!.verifyChain.value, web!.verifyPeer.value]).toEqual([true, true]);
    expect(web!.timeoutConnect.value).toBe(10);
    expect(web!.timeoutClose.value).toBe(60);
  });

  it('debug levels: names, numbers, FACILITY.LEVEL, case ignored; default notice (5)', () => {
    expect(parseLogLevel('notice')).toEqual({ level: 5, facility: null });
    expect(parseLogLevel('LOCAL0.Info')).toEqual({ level: 6, facility: 'local0' });
    expect(parseLogLevel('3')).toEqual({ level: 3, facility: null });
    expect(parseLogLevel('debug')?.level).toBe(7);
    expect(parseLogLevel('loud')).toBeNull();
    expect(parseLogLevel('8')).toBeNull();
    const dir = tmp();
    write(dir, { 'a.conf': '[x]\naccept = 1\n' });
    expect(settingsOf(readStunnelConf(join(dir, 'a.conf'))).services[0]!.debug.value.level).toBe(5);
  });

  it('include = DIR reads every regular file of the directory in name order, in the current section', () => {
    const dir = tmp();
    write(dir, {
      'stunnel.conf': 'pid = /run/s.pid\ninclude = conf.d\n[last]\naccept = 9\n',
      'conf.d/10-b.conf': '[b]\naccept = 2\n',
      'conf.d/00-global.conf': 'debug = 4\n',
      'conf.d/02-a.conf': '[a]\naccept = 1\n',
      'conf.d/20-more-b.conf': 'connect = 3\n', // still in [b]: a section stays current after its file
      'conf.d/sub/ignored.conf': '[ignored]\n',
    });
    const conf = readStunnelConf(join(dir, 'stunnel.conf'));
    expect(conf.problems).toEqual([]);
    expect(conf.files.map((f) => f.slice(dir.length + 1))).toEqual([
      'stunnel.conf', 'conf.d/00-global.conf', 'conf.d/02-a.conf', 'conf.d/10-b.conf', 'conf.d/20-more-b.conf',
    ]);
    expect(conf.services.map((s) => s.name)).toEqual(['a', 'b', 'last']);
    const s = settingsOf(conf);
    expect(s.global.debug).toMatchObject({ value: { level: 4 }, file: join(dir, 'conf.d/00-global.conf'), line: 1 });
    expect(s.services[1]!.connect[0]).toMatchObject({ value: '3', file: join(dir, 'conf.d/20-more-b.conf'), line: 1 });
  });

  it('reports bad lines, bad values, a missing include directory and an include loop with file and line, and reads on', () => {
    const dir = tmp();
    write(dir, {
      'stunnel.conf': 'debug = loud\nthis line has no equals sign\n[svc]\naccept = 1\nTIMEOUTbusy = soon\nverifyChain = maybe\n' +
        'include = missing.d\ninclude = loop.d\n= value\ncheckHost = still.read\n',
      'loop.d/a.conf': 'include = loop.d\n', // relative paths are taken from the main file's directory
    });
    const conf = readStunnelConf(join(dir, 'stunnel.conf'));
    const s = settingsOf(conf);
    const at = s.problems.map((p) => `${p.file.slice(dir.length + 1)}:${p.line}: ${p.message}`);
    expect(at).toEqual([
      `stunnel.conf:1: "debug = loud": Illegal debug level`,
      `stunnel.conf:2: "this line has no equals sign": No '=' found`,
      `stunnel.conf:5: "TIMEOUTbusy = soon": Illegal number`,
      `stunnel.conf:6: "verifyChain = maybe": The argument needs to be either 'yes' or 'no'`,
      expect.stringMatching(/^stunnel\.conf:7: "include": Failed to include directory "missing\.d": ENOENT$/),
      `stunnel.conf:9: "= value": option name missing before '='`,
      expect.stringMatching(/^loop\.d\/a\.conf:1: include loop: .*loop\.d\/a\.conf is already being read/),
    ]);
    expect(s.services[0]!.checkHost.map((c) => c.value)).toEqual(['still.read']);
    expect(s.services[0]!.timeoutBusy.value).toBe(300);
  });

  it('a file that cannot be read is a problem without a line, never an exception', () => {
    const dir = tmp();
    const conf = readStunnelConf(join(dir, 'nope.conf'));
    expect(conf.problems).toEqual([{ file: join(dir, 'nope.conf'), line: null, message: 'cannot read: ENOENT' }]);
    expect(readStunnelConf(dir).problems[0]!.message).toBe('cannot read: EISDIR');
    expect(readStunnelConf('/dev/zero').problems[0]!.message).toBe('cannot read: not a regular file');
    const w = confWarnings(settingsOf(conf), { proxy: 'p' });
    expect(w.map((e) => [e.kind, e.reason, e.configFile, e.configLine])).toEqual([
      ['config_warning', 'stunnel_conf_unreadable', join(dir, 'nope.conf'), null],
    ]);
    expect(w[0]!.hint).toContain(join(dir, 'nope.conf'));
  });

  it('a symlinked include directory that points back is a loop, not a stack overflow', () => {
    const dir = tmp();
    write(dir, { 'stunnel.conf': 'include = d\n', 'd/x.conf': 'include = d2\n' });
    symlinkSync(join(dir, 'd'), join(dir, 'd2'));
    const conf = readStunnelConf(join(dir, 'stunnel.conf'));
    expect(conf.problems).toHaveLength(1);
    expect(conf.problems[0]!.message).toMatch(/include loop/);
    expect(conf.problems[0]!.line).toBe(1);
  });
});

describe('config-aware diagnosis on the real fixtures', () => {
  it('checkhost-mismatch: the event says which name checkHost expected', async () => {
    for (const file of ['d5.log', 'd7.log']) {
      const e = (await scanWithConf('checkhost-mismatch', file)).find((x) => x.kind === 'cert_verify_failed')!;
      expect(e.reason).toBe('hostname_mismatch');
      expect(e.kind === 'cert_verify_failed' && e.expectedNames).toEqual(['localhost']);
      expect(e.hint).toContain('[tls-client] expects "localhost" (checkHost at ');
      expect(e.hint).toContain('stunnel.conf:14');
      expect(e.hint).toContain('CN=wrong.example');
    }
  });

  it('checkip-mismatch: the expected address from checkIP', async () => {
    const e = (await scanWithConf('checkip-mismatch', 'd5.log')).find((x) => x.kind === 'cert_verify_failed')!;
    expect(e.kind === 'cert_verify_failed' && e.expectedNames).toEqual(['127.0.0.1']);
    expect(e.hint).toContain('checkIP at ');
  });

  it('unknown-ca and self-signed: the hint names the configured CAfile', async () => {
    for (const [scenario, reason] of [['unknown-ca', 'unknown_issuer'], ['self-signed', 'self_signed']] as const) {
      const e = (await scanWithConf(scenario, 'd5.log')).find((x) => x.kind === 'cert_verify_failed')!;
      expect(e.reason).toBe(reason);
      expect(e.hint).toContain('[tls-client] trusts only CAfile = /tmp/stunnel-doctor-fixtures/pki/root.pem (');
      expect(e.hint).toContain(`${scenario}/stunnel.conf:13)`);
    }
  });

  it('revoked: the hint names the configured CRLfile', async () => {
    const e = (await scanWithConf('revoked', 'd5.log')).find((x) => x.kind === 'cert_verify_failed')!;
    expect(e.reason).toBe('revoked');
    expect(e.hint).toContain('[tls-client] checks revocation with CRLfile = /tmp/stunnel-doctor-fixtures/pki/crl.pem (');
  });

  it('config-missing-cafile: the failed start names the CAfile stunnel could not use, and what it is on this host', async () => {
    const e = (await scanWithConf('config-missing-cafile', 'd5.stderr')).find((x) => x.kind === 'config_failed')!;
    expect(e.reason).toBe('no_trusted_ca');
    expect(e.hint).toContain('[tls-client] CAfile = /tmp/stunnel-doctor-fixtures/config-missing-cafile/no-such-ca.pem (');
    expect(e.hint).toContain('config-missing-cafile/stunnel.conf:13): does not exist on this host.');
    // The same configuration where the file exists but is empty, then where it is usable.
    const dir = tmp();
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '');
    const text = readFileSync(FIX('config-missing-cafile/stunnel.conf'), 'utf8').replace(/^CAfile = .*$/m, `CAfile = ${ca}`);
    writeFileSync(join(dir, 'stunnel.conf'), text); // a hand-edited input: the log was written with another CAfile
    const empty = (await scanWithConf('config-missing-cafile', 'd5.stderr', join(dir, 'stunnel.conf'))).find((x) => x.kind === 'config_failed')!;
    expect(empty.hint).toContain(`CAfile = ${ca} (`);
    expect(empty.hint).toMatch(/stunnel\.conf:13\): is empty\.$/);
    writeFileSync(ca, readFileSync(FIX('config-missing-cafile/stunnel.conf')));
    const present = (await scanWithConf('config-missing-cafile', 'd5.stderr', join(dir, 'stunnel.conf'))).find((x) => x.kind === 'config_failed')!;
    expect(present.hint).toMatch(/stunnel\.conf:13\)\.$/);
  });

  it('without CAfile or CApath the hint says that none is configured', async () => {
    const dir = tmp();
    const text = readFileSync(FIX('unknown-ca/stunnel.conf'), 'utf8').replace(/^CAfile = .*\n/m, '');
    writeFileSync(join(dir, 'stunnel.conf'), text); // a hand-edited input: the log was written with a CAfile
    const e = (await scanWithConf('unknown-ca', 'd5.log', join(dir, 'stunnel.conf'))).find((x) => x.kind === 'cert_verify_failed')!;
    expect(e.hint).toContain('[tls-client] has no CAfile or CApath in');
  });

  it('handshake-timeout: the inferred timeout (debug 5) and the logged one (debug 6, 7) carry TIMEOUTbusy = 2', async () => {
    for (const file of ['d5.log', 'd6.log', 'd7.log']) {
      const e = (await scanWithConf('handshake-timeout', file)).find((x) => x.kind === 'tls_handshake_failed')!;
      expect(e.reason).toBe('timeout');
      expect(e.kind === 'tls_handshake_failed' && e.timeoutSeconds).toBe(2);
      expect(e.durationSeconds).toBe(2);
      expect(e.hint).toMatch(/TIMEOUTbusy = 2 s \(.*stunnel\.conf:13\)/);
    }
  });

  it('peer-disconnected stays a peer disconnect; a handshake that ends before TIMEOUTbusy is not a timeout', async () => {
    const pd = (await scanWithConf('peer-disconnected', 'd5.log')).filter((x) => x.kind === 'tls_handshake_failed');
    expect(pd.map((e) => e.reason)).toEqual(['peer_disconnected', 'peer_disconnected']);
    // The same real debug-5 log of handshake-timeout, read against a hand-edited configuration with
    // stunnel's default TIMEOUTbusy (300 s): a connection reset after 2 s cannot be a busy timeout.
    const dir = tmp();
    const text = readFileSync(FIX('handshake-timeout/stunnel.conf'), 'utf8').replace(/^TIMEOUTbusy = 2\n?/m, '');
    writeFileSync(join(dir, 'stunnel.conf'), text);
    const e = (await scanWithConf('handshake-timeout', 'd5.log', join(dir, 'stunnel.conf'))).find((x) => x.kind === 'tls_handshake_failed')!;
    expect(e.reason).toBe('peer_disconnected');
    expect(e.rule).toBe(CONF_RULE);
    expect(e.kind === 'tls_handshake_failed' && e.timeoutSeconds).toBe(300);
    expect(e.hint).toContain("before TIMEOUTbusy = 300 s (stunnel's default)");
    // At debug 6 stunnel says it was TIMEOUTbusy: the log wins over the configuration read now.
    const d6 = (await scanWithConf('handshake-timeout', 'd6.log', join(dir, 'stunnel.conf'))).find((x) => x.kind === 'tls_handshake_failed')!;
    expect(d6.reason).toBe('timeout');
  });

  it('idle-timeout: the inferred idle timeout (debug 5) is checked against TIMEOUTidle = 2', async () => {
    const e = (await scanWithConf('idle-timeout', 'd5.log')).find((x) => x.kind === 'connection_closed' && x.reason !== 'ok')!;
    expect(e.reason).toBe('idle_timeout');
    expect(e.kind === 'connection_closed' && e.timeoutSeconds).toBe(2);
  });

  it('a debug-5 configuration warns once that timeouts need debug 6; debug 6 and 7 do not', async () => {
    const d5 = await scanWithConf('handshake-timeout', 'd5.log');
    const w = d5.filter(fromConf);
    expect(w.map(brief)).toEqual([{ kind: 'config_warning', reason: 'log_level_too_low', service: null, connection: null }]);
    const e = w[0]!;
    expect(e.kind === 'config_warning' && [e.configFile, e.configLine]).toEqual([FIX('handshake-timeout/stunnel.conf'), 4]);
    expect(e.severity).toBe('info');
    expect(e.hint).toContain('TIMEOUTbusy/TIMEOUTidle expiry');
    expect(e.hint).toContain('debug = info (6)');
    expect(e.detail[0]).toContain('debug = 5 (notice)');
    for (const f of ['d6.log', 'd7.log']) expect((await scanWithConf('handshake-timeout', f)).filter(fromConf)).toEqual([]);
  });

  it('below debug 5 the warning is a warning: connections are not logged', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'stunnel.conf'), readFileSync(FIX('success/stunnel.conf'), 'utf8').replace(/^debug = 5$/m, 'debug = warning'));
    const w = (await scanWithConf('success', 'd5.log', join(dir, 'stunnel.conf'))).filter(fromConf);
    expect(w.map((e) => [e.reason, e.severity])).toEqual([['log_level_too_low', 'warning']]);
    expect(w[0]!.hint).toMatch(/^At debug 4 \(warning\) stunnel does not log connections/);
  });

  it('an unparsable stunnel.conf is a config_warning naming file and line; the scan goes on', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'stunnel.conf'), `${readFileSync(FIX('checkhost-mismatch/stunnel.conf'), 'utf8')}oops\n`);
    const events = await scanWithConf('checkhost-mismatch', 'd5.log', join(dir, 'stunnel.conf'));
    const bad = events.filter((e) => e.reason === 'stunnel_conf_unreadable');
    expect(bad).toHaveLength(1);
    expect(bad[0]!.kind === 'config_warning' && [bad[0]!.configFile, bad[0]!.configLine]).toEqual([join(dir, 'stunnel.conf'), 16]);
    expect(bad[0]!.detail).toEqual([`${join(dir, 'stunnel.conf')}:16: "oops": No '=' found`]);
    expect(events.find((e) => e.kind === 'cert_verify_failed')!.hint).toContain('"localhost"');
    const none = await scanWithConf('checkhost-mismatch', 'd5.log', join(dir, 'missing.conf'));
    expect(none.filter(fromConf).map((e) => e.reason)).toEqual(['stunnel_conf_unreadable']);
    expect(none.filter((e) => !fromConf(e)).map(brief)).toEqual((await scanFiles([FIX('checkhost-mismatch/d5.log')], { proxy: 'checkhost-mismatch' })).events.map(brief));
  });

  it('every fixture with its real configuration: the designed kinds and reasons are unchanged, warnings are bounded', async () => {
    const scenarios = readdirSync(FIXTURES).filter((s) => existsSync(FIX(`${s}/expected.json`)) && existsSync(FIX(`${s}/stunnel.conf`)));
    expect(scenarios.length).toBeGreaterThanOrEqual(20);
    for (const scenario of scenarios) {
      const expected = JSON.parse(readFileSync(FIX(`${scenario}/expected.json`), 'utf8')) as { files: Record<string, unknown[]> };
      for (const [file, want] of Object.entries(expected.files)) {
        const events = await scanWithConf(scenario, file);
        expect(events.filter((e) => !fromConf(e)).map(brief), `${scenario}/${file}`).toEqual(want);
        for (const e of events) expect(isReasonOf(e.kind, e.reason)).toBe(true);
        expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
      }
    }
  });
});

describe('warnings once per load', () => {
  it('our load warns; stunnel\'s next load of the same content does not warn again, a later one does', async () => {
    const { events } = await scanFiles([FIX('restart-append/d5.log')], { proxy: 'ra' });
    const starts = events.filter((e) => e.kind === 'proxy_started');
    expect(starts).toHaveLength(2);
    let reads = 0;
    const dir = tmp();
    const conf = join(dir, 'stunnel.conf');
    copyFileSync(FIX('restart-append/stunnel.conf'), conf);
    const a = new StunnelConfAwareness((p) => {
      reads++;
      return loadStunnelSettings(p);
    });
    const out: DoctorEvent[] = [];
    const push = (e: DoctorEvent) => out.push(e);
    a.setPath('ra', conf);
    expect(a.load('ra').map((e) => e.reason)).toEqual(['log_level_too_low']); // the sidecar's start
    expect(a.load('ra')).toEqual([]); // SIGHUP, nothing changed
    a.process(starts[0]!, push); // the backlog's first run: the same content, just warned about
    a.process(starts[1]!, push); // a restart: stunnel loaded it again
    expect(out.map((e) => `${e.kind}/${e.reason}`)).toEqual(['proxy_started/ok', 'proxy_started/ok', 'config_warning/log_level_too_low']);
    expect(out[2]!.time).toBe(starts[1]!.time);
    expect(reads).toBe(4);
    writeFileSync(conf, readFileSync(conf, 'utf8').replace('debug = 5', 'debug = 6'));
    expect(a.load('ra')).toEqual([]); // changed, and now nothing to warn about
    writeFileSync(conf, `${readFileSync(conf, 'utf8')}[broken\n`);
    expect(a.load('ra').map((e) => e.kind === 'config_warning' && `${e.reason}:${e.configLine}`)).toEqual([
      `stunnel_conf_unreadable:${readFileSync(conf, 'utf8').split('\n').length - 1}`,
    ]);
  });
});

describe('sidecar and configuration', () => {
  const doctors: Doctor[] = [];
  afterEach(async () => {
    await Promise.all(doctors.splice(0).map((d) => d.close()));
  });
  it('stunnelConfig per proxy: enriched events, warnings once per load, re-read on SIGHUP (reload) when changed', async () => {
    const dir = tmp();
    const log = join(dir, 'checkhost.log');
    const conf = join(dir, 'stunnel.conf');
    copyFileSync(FIX('checkhost-mismatch/stunnel.conf'), conf);
    copyFileSync(FIX('checkhost-mismatch/d5.log'), log);
    const events: DoctorEvent[] = [];
    const proxies = [{ name: 'checkhost', log, stunnelConfig: conf }];
    const d = await createDoctor({ proxies, pollMs: 100, onEvent: (e) => events.push(e) });
    doctors.push(d);
    await waitFor(() => events.some((e) => e.kind === 'proxy_stopped'), 'the run to be read');
    // Our load at start warns; stunnel's load in the backlog (the same content) does not warn again.
    expect(events.map((e) => `${e.kind}/${e.reason}`)).toEqual([
      'config_warning/log_level_too_low', 'proxy_started/ok', 'cert_verify_failed/hostname_mismatch', 'proxy_stopped/terminated',
    ]);
    const mismatch = events[2]!;
    expect(mismatch.kind === 'cert_verify_failed' && mismatch.expectedNames).toEqual(['localhost']);
    // SIGHUP with nothing changed: no new warning; with a broken line: the problem, by file and line.
    await d.reload({ proxies });
    expect(events).toHaveLength(4);
    writeFileSync(conf, `${readFileSync(conf, 'utf8')}checkHost\n`);
    await d.reload({ proxies });
    const w = events.slice(4);
    expect(w.map((e) => `${e.reason}:${e.kind === 'config_warning' ? e.configLine : ''}`)).toEqual(['stunnel_conf_unreadable:16', 'log_level_too_low:4']);
    // A new stunnel run (the same real log appended: restart-append style) re-reads and warns for that load.
    writeFileSync(conf, readFileSync(FIX('checkhost-mismatch/stunnel.conf'), 'utf8').replace('checkHost = localhost', 'checkHost = ldap.example'));
    const n = events.length;
    writeFileSync(log, Buffer.concat([readFileSync(log), readFileSync(FIX('checkhost-mismatch/d5.log'))]));
    await waitFor(() => events.slice(n).some((e) => e.kind === 'proxy_stopped'), 'the second run to be read');
    const again = events.slice(n).map((e) => `${e.kind}/${e.reason}`);
    expect(again).toEqual(['proxy_started/ok', 'config_warning/log_level_too_low', 'cert_verify_failed/hostname_mismatch', 'proxy_stopped/terminated']);
    const m2 = events.slice(n).find((e) => e.kind === 'cert_verify_failed')!;
    expect(m2.kind === 'cert_verify_failed' && m2.expectedNames).toEqual(['ldap.example']);
    expect(d.diagnose('checkhost').failures.map((e) => e.reason)).toEqual(['hostname_mismatch', 'hostname_mismatch']);
  });

  it('the YAML configuration takes stunnelConfig per proxy, with one log only', () => {
    const c = parseConfig('proxies:\n  - name: a\n    log: /var/log/a.log\n    stunnelConfig: /etc/stunnel/a.conf\n', 'x.yaml');
    expect(c.proxies[0]!.stunnelConfig).toBe('/etc/stunnel/a.conf');
    expect(() => parseConfig('proxies:\n  - glob: /var/log/*.log\n    stunnelConfig: /etc/stunnel/a.conf\n', 'x.yaml')).toThrow(ConfigError);
    try {
      parseConfig('proxies:\n  - glob: /var/log/*.log\n    stunnelConfig: /etc/stunnel/a.conf\n', 'x.yaml');
    } catch (e) {
      expect((e as Error).message).toMatch(/^x\.yaml:3:\d+: proxies\.0\.stunnelConfig: "stunnelConfig" goes with one "log", not a glob$/);
    }
  });

  it('watch --stunnel-conf NAME=PATH attaches to the --log of that name; alone, it is a proxy of its own', () => {
    expect(proxiesFromFlags(['a=/var/log/a.log'], [], ['a=/etc/stunnel/a.conf'])).toEqual([
      { name: 'a', log: '/var/log/a.log', stunnelConfig: '/etc/stunnel/a.conf' },
    ]);
    expect(proxiesFromFlags(['a=/var/log/a.log'], [], ['b=/etc/stunnel/b.conf', '/etc/stunnel/ldaps.conf'])).toEqual([
      { name: 'a', log: '/var/log/a.log' },
      { name: 'b', stunnelConfig: '/etc/stunnel/b.conf' },
      { name: 'ldaps', stunnelConfig: '/etc/stunnel/ldaps.conf' },
    ]);
    expect(() => proxiesFromFlags(['g=/var/log/*.log'], [], ['g=/etc/stunnel/g.conf'])).toThrow(/g is a glob/);
  });

  it('watch: a flag\'s proxy replaces the configuration file\'s proxy of the same name, its own name or its configuration\'s', () => {
    const dir = tmp();
    const conf = join(dir, 'ldaps.conf');
    const log = join(dir, 'ldaps.log');
    writeFileSync(conf, readFileSync(FIX('checkhost-mismatch/stunnel.conf'), 'utf8').replace(/^output = .*$/m, `output = ${log}`));
    const file = parseConfig('labels: [tier]\nproxies:\n  - name: a\n    log: /var/log/a.log\n    labels: { tier: x }\n  - glob: /run/stunnel/*.log\n  - name: ldaps\n    log: /var/log/old.log\n  - name: b\n    log: /var/log/b.log\n', 'x.yaml').proxies;
    expect(mergeProxies(file, proxiesFromFlags(['a=/srv/a.log'], [], [conf]))).toEqual([
      { glob: '/run/stunnel/*.log' },
      { name: 'b', log: '/var/log/b.log' },
      { name: 'a', log: '/srv/a.log' },
      { name: 'ldaps', stunnelConfig: conf, log },
    ]);
    expect(mergeProxies(file, [])).toEqual(file);
    // Two proxies of one name in the file, the second named by its stunnel configuration: refused before anything starts.
    const twice = join(dir, 'twice.yaml');
    writeFileSync(twice, `proxies:\n  - name: ldaps\n    log: ${join(dir, 'other.log')}\n  - stunnelConfig: ${conf}\n`);
    return cli(['watch', '--config', twice, '--listen', '127.0.0.1:0']).then((r) => {
      expect(r.code).toBe(2);
      expect(r.err).toBe('stunnel-doctor: invalid configuration:\nproxies[1].name: duplicate proxy name "ldaps"\n');
    });
  });

  it('a proxy given by its stunnel configuration alone follows the configuration\'s output file', () => {
    const dir = tmp();
    // The fixture's real configuration, its output moved here (a hand-edited input).
    const conf = join(dir, 'ldaps.conf');
    const log = join(dir, 'ldaps.log');
    writeFileSync(conf, readFileSync(FIX('checkhost-mismatch/stunnel.conf'), 'utf8').replace(/^output = .*$/m, `output = ${log}`));
    expect(resolveLogs(proxiesFromFlags([], [], [conf]))).toEqual([{ name: 'ldaps', stunnelConfig: conf, log }]);
    expect(resolveLogs(parseConfig(`proxies:\n  - stunnelConfig: ${conf}\n`, 'x.yaml').proxies)).toEqual([{ name: 'ldaps', stunnelConfig: conf, log }]);
    // No output (syslog only), a relative output, an unreadable file: each named, all at once.
    const syslogOnly = join(dir, 'syslog-only.conf');
    writeFileSync(syslogOnly, readFileSync(conf, 'utf8').replace(/^output = .*\n/m, ''));
    const relative = join(dir, 'relative.conf');
    writeFileSync(relative, readFileSync(conf, 'utf8').replace(/^output = .*$/m, 'output = stunnel.log'));
    try {
      resolveLogs(proxiesFromFlags([], [], [syslogOnly, relative, join(dir, 'missing.conf')]));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems).toEqual([
        `proxy syslog-only: ${syslogOnly} has no "output =": this stunnel logs to syslog only; give the file syslog writes it to`,
        `proxy relative: ${relative}: output = stunnel.log (${relative}:3) is relative to stunnel's working directory; give the log file`,
        `proxy missing: ${join(dir, 'missing.conf')}: cannot read: ENOENT`,
      ]);
    }
    expect(() => parseConfig('proxies:\n  - name: x\n', 'x.yaml')).toThrow(/give "log" \(one file\), "glob" \(many\), or "stunnelConfig" alone/);
  });
});

describe('scan --stunnel-conf', () => {
  it('without files scans the log the configuration names (output =), as the proxy named after it', async () => {
    const dir = tmp();
    const conf = join(dir, 'ldaps.conf');
    const log = join(dir, 'somewhere.log');
    copyFileSync(FIX('checkhost-mismatch/d5.log'), log);
    writeFileSync(conf, readFileSync(FIX('checkhost-mismatch/stunnel.conf'), 'utf8').replace(/^output = .*$/m, `output = ${log}`));
    const out: string[] = [];
    const err: string[] = [];
    const so = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const se = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    try {
      expect(await main(['scan', '--json', '--stunnel-conf', conf])).toBe(1);
      const events = out.join('').trim().split('\n').map((l) => JSON.parse(l) as DoctorEvent);
      const e = events.find((x) => x.kind === 'cert_verify_failed')!;
      expect(e.proxy).toBe('ldaps');
      expect(e.source.file).toBe(log);
      expect((e as { expectedNames?: string[] }).expectedNames).toEqual(['localhost']);
      err.length = 0;
      expect(await main(['scan'])).toBe(2);
      expect(err.join('')).toContain('give the log files to scan, or --stunnel-conf FILE');
    } finally {
      so.mockRestore();
      se.mockRestore();
    }
  });

  it('prints the enriched events and the warning; a missing configuration is an event, not exit status 2', async () => {
    const out: string[] = [];
    const so = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const se = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = await main(['scan', '--json', '--proxy', 'ch', '--stunnel-conf', FIX('checkhost-mismatch/stunnel.conf'), FIX('checkhost-mismatch/d5.log')]);
      expect(code).toBe(1);
      const events = out.join('').trim().split('\n').map((l) => JSON.parse(l) as DoctorEvent);
      expect(events.map((e) => `${e.kind}/${e.reason}`)).toEqual([
        'config_warning/log_level_too_low', 'proxy_started/ok', 'cert_verify_failed/hostname_mismatch', 'proxy_stopped/terminated',
      ]);
      expect((events[2] as { expectedNames?: string[] }).expectedNames).toEqual(['localhost']);
      out.length = 0;
      const code2 = await main(['scan', '--json', '--stunnel-conf', join(tmp(), 'none.conf'), FIX('success/d5.log')]);
      expect(code2).toBe(0);
      expect(out.join('')).toContain('"reason":"stunnel_conf_unreadable"');
    } finally {
      so.mockRestore();
      se.mockRestore();
    }
  });
});
