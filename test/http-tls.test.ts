/**
 * The endpoint secured by a web config file, against real TLS: a CA, server and client certificates made by
 * openssl at test time. HTTPS; client certificates required and verified (refused without, from another
 * CA, or with a SAN not on the list); basic auth (401 with WWW-Authenticate; bcrypt checks cached after a
 * success, never after a failure); configured headers; reload: a renewed certificate and new users apply to
 * new connections, a bad file is refused and the running config kept.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseWebConfig } from '../src/http/web-config.js';
import { reloadWebGuard, WebGuard } from '../src/http/web-guard.js';
import { HttpMetrics } from '../src/http/http-metrics.js';
import type { HttpServer } from '../src/http/server.js';
import { counter, get, makeServer } from './helpers/http.js';
import { hash, makePki, type Pki } from './helpers/pki.js';

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});

const servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(yaml: string): Promise<{ url: string; guard: WebGuard; metrics: HttpMetrics; file: string }> {
  const file = join(pki.dir, `web-${servers.length}-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, yaml);
  const metrics = new HttpMetrics();
  const guard = new WebGuard(parseWebConfig(yaml, file), metrics);
  const { http } = makeServer({ web: guard, metrics });
  servers.push(http);
  const url = await http.listen('127.0.0.1', 0);
  return { url, guard, metrics, file };
}

const TLS = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';
const MTLS = `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n`;

describe('HTTPS', () => {
  it('serves over TLS with the configured certificate and headers; plain HTTP on that port gets nothing', async () => {
    const { url } = await serve(`${TLS}http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n    X-Frame-Options: deny\n`);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await get(`${url}/healthz`, { ca: pki.caCert });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ ok: true });
    expect(r.serverCN).toBe('localhost');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('deny');
    // A client that does not trust the CA refuses the server.
    await expect(get(`${url}/healthz`)).rejects.toThrow(/self-signed|unable to get local issuer|certificate/i);
    const plain = await get(`${url.replace('https:', 'http:')}/healthz`).then((x) => x.status, () => 'refused');
    expect(plain).not.toBe(200);
  });

  it('min_version TLS13: a TLS 1.2-only client is refused', async () => {
    const { url, metrics } = await serve(`${TLS}  min_version: TLS13\n`);
    expect((await get(`${url}/healthz`, { ca: pki.caCert })).status).toBe(200);
    const { request } = await import('node:https');
    const err = await new Promise<Error>((resolve) => {
      const req = request(`${url}/healthz`, { agent: false, ca: pki.caCert, maxVersion: 'TLSv1.2', servername: 'localhost' } as never, () => resolve(new Error('answered')));
      req.on('error', resolve);
      req.end();
    });
    expect(err.message).toMatch(/protocol version|alert/i);
    expect(await counter(metrics, 'stunnel_doctor_http_auth_failures_total', { reason: 'tls_handshake' })).toBe(1);
  });
});

describe('cipher suites', () => {
  it('cipher_suites (Go names) restrict TLS 1.2: the named suite is used, a client without it is refused', async () => {
    const { url } = await serve(`${TLS}  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]\n`);
    const { request } = await import('node:https');
    const { readFileSync } = await import('node:fs');
    const attempt = (ciphers?: string): Promise<string> => new Promise((resolve) => {
      const req = request(`${url}/healthz`, { agent: false, ca: readFileSync(pki.caCert), servername: 'localhost', ...(ciphers ? { ciphers } : {}) }, (res) => {
        resolve((res.socket as import('node:tls').TLSSocket).getCipher().name);
        res.resume();
      });
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end();
    });
    expect(await attempt()).toBe('ECDHE-ECDSA-AES256-GCM-SHA384');
    expect(await attempt('ECDHE-ECDSA-AES128-GCM-SHA256')).toMatch(/^error: /);
  });
});

describe('client certificates (RequireAndVerifyClientCert)', () => {
  it('refuses a client without a certificate or with one from another CA; accepts the CA\'s client', async () => {
    const { url, metrics } = await serve(MTLS);
    await expect(get(`${url}/metrics`, { ca: pki.caCert })).rejects.toThrow();
    await expect(get(`${url}/metrics`, { ca: pki.caCert, cert: pki.strangerCert, key: pki.strangerKey })).rejects.toThrow();
    const ok = await get(`${url}/metrics`, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('stunnel_doctor_http_auth_failures_total');
    expect(await counter(metrics, 'stunnel_doctor_http_auth_failures_total', { reason: 'client_cert' })).toBe(2);
  });

  it('client_allowed_sans: a certificate of the same CA without an allowed SAN is refused', async () => {
    const { url, metrics } = await serve(`${MTLS}  client_allowed_sans: [prometheus.example]\n`);
    await expect(get(`${url}/healthz`, { ca: pki.caCert, cert: pki.otherClientCert, key: pki.otherClientKey })).rejects.toThrow();
    expect((await get(`${url}/healthz`, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey })).status).toBe(200);
    expect(await counter(metrics, 'stunnel_doctor_http_auth_failures_total', { reason: 'client_cert' })).toBe(1);
  });

  it('RequireAnyClientCert wants a certificate but does not verify it; VerifyClientCertIfGiven verifies only a given one', async () => {
    const any = await serve(`${TLS}  client_auth_type: RequireAnyClientCert\n`);
    await expect(get(`${any.url}/healthz`, { ca: pki.caCert })).rejects.toThrow();
    expect((await get(`${any.url}/healthz`, { ca: pki.caCert, cert: pki.strangerCert, key: pki.strangerKey })).status).toBe(200);
    const ifGiven = await serve(`${TLS}  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n`);
    expect((await get(`${ifGiven.url}/healthz`, { ca: pki.caCert })).status).toBe(200);
    await expect(get(`${ifGiven.url}/healthz`, { ca: pki.caCert, cert: pki.strangerCert, key: pki.strangerKey })).rejects.toThrow();
    expect((await get(`${ifGiven.url}/healthz`, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey })).status).toBe(200);
  });
});

describe('basic auth', () => {
  it('401 with WWW-Authenticate without or with wrong credentials; 200 with the right ones, on every path', async () => {
    const { url, metrics } = await serve(`basic_auth_users:\n  prometheus: ${hash('s3cret: with colon', '$2y$')}\n  other: ${hash('x')}\n`);
    for (const path of ['/metrics', '/healthz', '/events', '/diagnose/x', '/']) {
      const r = await get(`${url}${path}`);
      expect(r.status).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Basic realm="stunnel-doctor", charset="UTF-8"');
    }
    expect((await get(`${url}/metrics`, { auth: 'prometheus:wrong' })).status).toBe(401);
    expect((await get(`${url}/metrics`, { auth: 'nobody:s3cret: with colon' })).status).toBe(401);
    expect((await get(`${url}/metrics`, { auth: 'other:s3cret: with colon' })).status).toBe(401);
    const ok = await get(`${url}/metrics`, { auth: 'prometheus:s3cret: with colon' });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('stunnel_doctor_http_auth_failures_total{reason="basic_auth"} 8');
  });

  it('caches successful checks (bcrypt runs once per user and password), never failed ones', async () => {
    const { url, guard } = await serve(`basic_auth_users:\n  prometheus: ${hash('pw')}\n`);
    for (let i = 0; i < 5; i++) expect((await get(`${url}/metrics`, { auth: 'prometheus:pw' })).status).toBe(200);
    expect(guard.bcryptChecks).toBe(1);
    for (let i = 0; i < 3; i++) expect((await get(`${url}/metrics`, { auth: 'prometheus:pW' })).status).toBe(401);
    expect(guard.bcryptChecks).toBe(4);
    // An unknown user costs a bcrypt check too (against a dummy hash of the same cost): no user enumeration by timing.
    expect((await get(`${url}/metrics`, { auth: 'ghost:pw' })).status).toBe(401);
    expect(guard.bcryptChecks).toBe(5);
  });

  it('TLS, a client certificate and basic auth together', async () => {
    const { url } = await serve(`${MTLS}basic_auth_users:\n  prometheus: ${hash('pw')}\n`);
    const mtls = { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey };
    expect((await get(`${url}/metrics`, mtls)).status).toBe(401);
    expect((await get(`${url}/metrics`, { ...mtls, auth: 'prometheus:pw' })).status).toBe(200);
    await expect(get(`${url}/metrics`, { ca: pki.caCert, auth: 'prometheus:pw' })).rejects.toThrow();
  });
});

describe('reload (SIGHUP)', () => {
  it('a renewed certificate and changed users apply to new connections; a bad file is refused and the running config kept', async () => {
    const { url, guard, metrics, file } = await serve(`${TLS}basic_auth_users:\n  prometheus: ${hash('old')}\n`);
    const log = { info() {}, warn() {}, error() {} };
    const before = await get(`${url}/healthz`, { ca: pki.caCert, auth: 'prometheus:old' });
    expect([before.status, before.serverCN]).toEqual([200, 'localhost']);

    writeFileSync(file, `tls_server_config:\n  cert_file: renewed.crt\n  key_file: renewed.key\nbasic_auth_users:\n  prometheus: ${hash('new')}\n`);
    expect(await reloadWebGuard(guard, file, metrics, log)).toBe(true);
    const after = await get(`${url}/healthz`, { ca: pki.caCert, auth: 'prometheus:new' });
    expect([after.status, after.serverCN]).toEqual([200, 'localhost-renewed']);
    expect((await get(`${url}/healthz`, { ca: pki.caCert, auth: 'prometheus:old' })).status).toBe(401);
    expect(await counter(metrics, 'stunnel_doctor_web_config_reload_success')).toBe(1);

    const errors: unknown[] = [];
    writeFileSync(file, `tls_server_config:\n  cert_file: renewed.crt\n  key_file: missing.key\nbasic_auth_users:\n  prometheus: ${hash('newer')}\n`);
    expect(await reloadWebGuard(guard, file, metrics, { ...log, error: (o: object) => errors.push(o) })).toBe(false);
    expect(JSON.stringify(errors)).toContain(`${file}:3:13: tls_server_config.key_file: cannot read`);
    expect(await counter(metrics, 'stunnel_doctor_web_config_reload_success')).toBe(0);
    const kept = await get(`${url}/healthz`, { ca: pki.caCert, auth: 'prometheus:new' });
    expect([kept.status, kept.serverCN]).toEqual([200, 'localhost-renewed']);

    // Turning TLS off cannot happen on a running server: refused, kept.
    writeFileSync(file, `basic_auth_users:\n  prometheus: ${hash('plain')}\n`);
    expect(await reloadWebGuard(guard, file, metrics, log)).toBe(false);
    expect((await get(`${url}/healthz`, { ca: pki.caCert, auth: 'prometheus:new' })).status).toBe(200);
  });

  it('a client certificate policy switched on by a reload applies to the next connection', async () => {
    const { url, guard, metrics, file } = await serve(TLS);
    expect((await get(`${url}/healthz`, { ca: pki.caCert })).status).toBe(200);
    writeFileSync(file, MTLS);
    expect(await reloadWebGuard(guard, file, metrics, { info() {}, warn() {}, error() {} })).toBe(true);
    await expect(get(`${url}/healthz`, { ca: pki.caCert })).rejects.toThrow();
    expect((await get(`${url}/healthz`, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey })).status).toBe(200);
  });
});
