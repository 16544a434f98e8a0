/**
 * The real thing end to end: `stunnel-doctor watch --web.config.file` (a child process) serves HTTPS with a
 * client certificate required and basic auth; Debian's Prometheus scrapes it (`scheme: https`,
 * `tls_config.ca_file`, a client certificate, `basic_auth`) and reports up == 1, while jobs with a wrong
 * password or without a client certificate report up == 0. Then SIGHUP: a changed password applies, a
 * broken file is refused and the running config kept.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from './helpers/http.js';
import { hash, makePki, type Pki } from './helpers/pki.js';
import { startPrometheus, until as untilWith, type Prometheus } from './helpers/prometheus.js';

const REPO = new URL('..', import.meta.url).pathname;

let pki: Pki;
let sidecar: ChildProcess;
let sidecarLog = '';
let prom: Prometheus | undefined;
let target = '';
let webFile = '';

const until = <T>(what: string, fn: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> =>
  untilWith(what, fn, ms, () => `sidecar:\n${sidecarLog.slice(-2000)}\nprometheus:\n${prom?.log().slice(-2000) ?? ''}`);

const up = (job: string): Promise<string | undefined> => prom!.value(`up{job="${job}"}`);

const mtls = () => ({ ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey });
const webConfig = (password: string) => `tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
basic_auth_users:
  prometheus: ${hash(password)}
`;

beforeAll(async () => {
  pki = makePki();
  webFile = join(pki.dir, 'web-config.yml');
  writeFileSync(webFile, webConfig('scrape-me'));
  const log = join(pki.dir, 'ldaps.log');
  writeFileSync(log, '');
  sidecar = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'watch', '--log', `ldaps=${log}`,
    '--listen', '127.0.0.1:0', '--web.config.file', webFile], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  sidecar.stderr!.on('data', (b: Buffer) => (sidecarLog += b.toString()));
  const url = await until('sidecar serving', () => /serving (https:\/\/[^/\s]+)\//.exec(sidecarLog)?.[1]);
  target = url.replace('https://', '');
  appendFileSync(log, readFileSync(new URL('../fixtures/expired/d5.log', import.meta.url)));

  const job = (name: string, extra: string) => `  - job_name: ${name}
    scheme: https
    static_configs: [{ targets: ['${target}'] }]
${extra}`;
  prom = await startPrometheus(pki.dir, `scrape_configs:
${job('secured', `    tls_config: { ca_file: ${pki.caCert}, cert_file: ${pki.clientCert}, key_file: ${pki.clientKey} }
    basic_auth: { username: prometheus, password: scrape-me }
`)}${job('wrong-password', `    tls_config: { ca_file: ${pki.caCert}, cert_file: ${pki.clientCert}, key_file: ${pki.clientKey} }
    basic_auth: { username: prometheus, password: guess }
`)}${job('no-client-cert', `    tls_config: { ca_file: ${pki.caCert} }
    basic_auth: { username: prometheus, password: scrape-me }
`)}`, 'scrape_interval: 1s, scrape_timeout: 1s');
}, 90_000);

afterAll(async () => {
  prom?.stop();
  if (sidecar && sidecar.exitCode === null) {
    const exited = new Promise((r) => sidecar.once('exit', r));
    sidecar.kill('SIGTERM');
    await exited;
  }
});

describe('Prometheus scraping the sidecar over TLS with a client certificate and basic auth', () => {
  it('up == 1 with the right CA, certificate and password; 0 with a wrong password or no client certificate', async () => {
    expect(await until('secured scraped', () => up('secured'))).toBe('1');
    expect(await until('wrong-password scraped', () => up('wrong-password'))).toBe('0');
    expect(await until('no-client-cert scraped', () => up('no-client-cert'))).toBe('0');
    // The sidecar's own metrics went through: the failure from the log and the refusals it counted.
    const expired = await until('the failure scraped', async () =>
      (await prom!.value('stunnel_failures_total{job="secured",proxy="ldaps",kind="cert_verify_failed",reason="expired"}')) === '1' ? true : undefined);
    expect(expired).toBe(true);
    const m = await get(`https://${target}/metrics`, { ...mtls(), auth: 'prometheus:scrape-me' });
    expect(m.status).toBe(200);
    expect(m.body).toMatch(/^stunnel_doctor_http_auth_failures_total\{reason="basic_auth"\} [1-9]/m);
    expect(m.body).toMatch(/^stunnel_doctor_http_auth_failures_total\{reason="client_cert"\} [1-9]/m);
    expect(m.body).toContain('stunnel_doctor_web_config_reload_success 1');
    expect(m.body).toMatch(/^stunnel_failures_total\{[^}]*reason="expired"[^}]*\} 1$/m);
  });

  it('SIGHUP: a new password applies; a broken file is refused, logged with file:line, and the running config kept', async () => {
    writeFileSync(webFile, webConfig('rotated'));
    sidecar.kill('SIGHUP');
    await until('new password accepted', async () => ((await get(`https://${target}/healthz`, { ...mtls(), auth: 'prometheus:rotated' })).status === 200 ? true : undefined));
    expect((await get(`https://${target}/healthz`, { ...mtls(), auth: 'prometheus:scrape-me' })).status).toBe(401);

    writeFileSync(webFile, `${webConfig('third')}  extra: key\n`);
    sidecar.kill('SIGHUP');
    await until('reload refused', () => (sidecarLog.includes('web config reload refused') ? true : undefined));
    expect(sidecarLog).toContain(`${webFile}:8:10: basic_auth_users.extra: not a bcrypt hash`);
    expect((await get(`https://${target}/healthz`, { ...mtls(), auth: 'prometheus:rotated' })).status).toBe(200);
    const m = await get(`https://${target}/metrics`, { ...mtls(), auth: 'prometheus:rotated' });
    expect(m.body).toContain('stunnel_doctor_web_config_reload_success 0');
  });
});
