/**
 * The web config file (exporter-toolkit format) is user input: every mistake is refused with file:line:col
 * before anything starts, by `web-config check` (exit 2) and by `watch --web.config.file` (exit 2). The
 * certificate, key and CA files are read and checked at load, relative to the web config file.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseWebConfig } from '../src/http/web-config.js';
import { ConfigError } from '../src/config.js';
import { cli } from './helpers/cli.js';
import { hash, makePki, type Pki } from './helpers/pki.js';

let pki: Pki;
beforeAll(() => {
  pki = makePki();
});

const problemsOf = (text: string): string[] => {
  try {
    parseWebConfig(text, join(pki.dir, 'web.yml'));
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => p.replace(`${pki.dir}/`, ''));
    throw e;
  }
  return [];
};

const TLS = 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n';

describe('web config file', () => {
  it('reads a complete file: TLS with client certificates, headers, users; paths relative to the file', () => {
    const h = hash('secret', '$2y$');
    const c = parseWebConfig(`${TLS}  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  client_allowed_sans: [prometheus.example]
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  prometheus: ${h}
`, join(pki.dir, 'web.yml'));
    expect(c.tls?.clientAuth).toBe('RequireAndVerifyClientCert');
    expect(c.tls?.allowedSans).toEqual(['prometheus.example']);
    expect(c.tls?.context.minVersion).toBe('TLSv1.3');
    expect(c.tls?.context.ecdhCurve).toBe('X25519:P-256');
    expect(c.tls?.context.ciphers).toMatch(/ECDHE-ECDSA-AES128-GCM-SHA256$/);
    expect(String(c.tls?.context.cert)).toContain('BEGIN CERTIFICATE');
    expect(c.headers).toEqual({ 'X-Frame-Options': 'deny', 'Strict-Transport-Security': 'max-age=31536000' });
    expect([...c.users]).toEqual([['prometheus', h]]);
    expect(c.warnings).toEqual([]);
  });

  it('an empty file is plain HTTP without authentication; http2 is accepted with a warning', () => {
    const c = parseWebConfig('', 'empty.yml');
    expect(c.tls).toBeNull();
    expect(c.users.size).toBe(0);
    expect(parseWebConfig('http_server_config:\n  http2: true\n', 'w.yml').warnings).toEqual([
      'w.yml:2:10: http2 is not supported: the endpoint serves HTTP/1.1 (Prometheus scrapes it fine)',
    ]);
  });

  const bad: [string, string, RegExp[]][] = [
    ['bad YAML', `${TLS}  client_auth_type: [unclosed\n`, [/^web\.yml:\d+:\d+: YAML: /]],
    ['an unknown top-level key (a typo)', `${TLS}basic_auth_user:\n  a: b\n`, [/^web\.yml:4:1: basic_auth_user: unknown key "basic_auth_user"$/]],
    ['an unknown key in tls_server_config', `${TLS}  client_ca_files: ca.crt\n`, [/^web\.yml:4:3: tls_server_config\.client_ca_files: unknown key "client_ca_files"$/]],
    ['an unknown header', 'http_server_config:\n  headers:\n    X-Powered-By: me\n', [/^web\.yml:3:5: http_server_config\.headers\.X-Powered-By: unknown key/]],
    ['a header value outside its set', 'http_server_config:\n  headers:\n    X-Frame-Options: allow\n', [/^web\.yml:3:22: .*X-Frame-Options must be one of deny, sameorigin/]],
    ['a plain-text password', 'basic_auth_users:\n  alice: hunter2\n', [/^web\.yml:2:10: basic_auth_users\.alice: not a bcrypt hash/]],
    ['a hash of another kind (SHA-512 crypt)', 'basic_auth_users:\n  alice: $6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.\n', [/^web\.yml:2:10: .*not a bcrypt hash/]],
    ['a user name with a colon', `basic_auth_users:\n  "a:b": ${'$2b$04$' + 'a'.repeat(53)}\n`, [/^web\.yml:2:10: .*cannot contain ":"/]],
    ['an unreadable certificate file', 'tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n', [/^web\.yml:2:14: tls_server_config\.cert_file: cannot read .*missing\.crt: ENOENT$/]],
    ['a key file that is a directory', 'tls_server_config:\n  cert_file: server.crt\n  key_file: adir\n', [/^web\.yml:3:13: tls_server_config\.key_file: cannot read .*adir: EISDIR$/]],
    ['a key that is not the certificate\'s', 'tls_server_config:\n  cert_file: server.crt\n  key_file: client.key\n', [/^web\.yml:3:13: tls_server_config\.key_file: the private key does not match/]],
    ['a certificate file that holds a key', 'tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n', [/^web\.yml:2:14: tls_server_config\.cert_file: not a PEM certificate/]],
    ['TLS without a key', 'tls_server_config:\n  cert_file: server.crt\n', [/^web\.yml:2:3: tls_server_config: missing one of "key_file" or "key"$/]],
    ['an unknown client_auth_type', `${TLS}  client_auth_type: RequireAndVerify\n`, [/^web\.yml:4:21: .*client_auth_type must be one of NoClientCert, /]],
    ['a client CA without a policy', `${TLS}  client_ca_file: ca.crt\n`, [/^web\.yml:4:19: .*client_auth_type is NoClientCert/]],
    ['verification without a CA', `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`, [/^web\.yml:4:21: .*needs "client_ca_file"/]],
    ['a client CA file without certificates', `${TLS}  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n`, [/^web\.yml:5:19: .*no PEM certificate/]],
    ['SANs without a required certificate', `${TLS}  client_allowed_sans: [x]\n`, [/^web\.yml:4:24: .*requires client_auth_type/]],
    ['an unknown TLS version', `${TLS}  min_version: TLS1.2\n`, [/^web\.yml:4:16: .*min_version must be one of TLS10, TLS11, TLS12, TLS13/]],
    ['min_version above max_version', `${TLS}  min_version: TLS13\n  max_version: TLS12\n`, [/^web\.yml:4:16: .*min_version TLS13 is above max_version TLS12/]],
    ['an invented cipher suite', `${TLS}  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n`, [/^web\.yml:4:19: tls_server_config\.cipher_suites\.0: a cipher suite must be one of/]],
    ['rate_limit (not supported)', 'rate_limit:\n  interval: 1s\n  burst: 5\n', [/^web\.yml:2:3: rate_limit: rate_limit is not supported/]],
    ['several mistakes at once', `${TLS}  bogus: 1\nbasic_auth_users:\n  bob: plain\n`, [/^web\.yml:4:3: .*unknown key "bogus"/, /^web\.yml:6:8: .*not a bcrypt hash/]],
  ];
  for (const [what, text, want] of bad) {
    it(`refuses ${what}, naming file:line:col`, () => {
      mkdirSync(join(pki.dir, 'adir'), { recursive: true });
      const got = problemsOf(text);
      expect(got).toHaveLength(want.length);
      want.forEach((re, i) => expect(got[i]).toMatch(re));
    });
  }
});

describe('stunnel-doctor web-config check / watch --web.config.file', () => {
  it('check: 0 and a summary for a valid file, 2 and file:line for a bad one', async () => {
    const good = join(pki.dir, 'good.yml');
    writeFileSync(good, `${TLS}basic_auth_users:\n  prometheus: ${hash('x')}\n`);
    const ok = await cli(['web-config', 'check', good]);
    expect(ok.code).toBe(0);
    expect(ok.out).toBe(`${good}: ok: TLS (TLSv1.2-TLSv1.3, client certificates: NoClientCert), basic auth (1 user)\n`);
    const badFile = join(pki.dir, 'bad.yml');
    writeFileSync(badFile, 'basic_auth_users:\n  alice: hunter2\n');
    const r = await cli(['web-config', 'check', good, badFile]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${badFile}:2:10: basic_auth_users.alice: not a bcrypt hash`);
    expect(r.err).toContain('1 problem found');
  });

  it('check: a file that cannot be read', async () => {
    const r = await cli(['web-config', 'check', join(pki.dir, 'nope.yml')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${join(pki.dir, 'nope.yml')}:0:0: cannot read: ENOENT`);
  });

  it('watch refuses to start with a bad web config (exit 2, file:line), from the flag or the YAML config', async () => {
    const badFile = join(pki.dir, 'bad-watch.yml');
    writeFileSync(badFile, `${TLS}  client_auth_type: RequireAndVerifyClientCert\n`);
    const r = await cli(['watch', '--log', `x=${join(pki.dir, 'x.log')}`, '--listen', '127.0.0.1:0', '--web.config.file', badFile]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`stunnel-doctor: invalid web config:\n${badFile}:4:21: tls_server_config.client_auth_type: RequireAndVerifyClientCert needs "client_ca_file"`);
    const conf = join(pki.dir, 'doctor.yaml');
    writeFileSync(conf, `webConfigFile: ${badFile}\nproxies:\n  - { name: x, log: ${join(pki.dir, 'x.log')} }\n`);
    const r2 = await cli(['watch', '--config', conf, '--listen', '127.0.0.1:0']);
    expect(r2.code).toBe(2);
    expect(r2.err).toContain(`${badFile}:4:21:`);
  });
});

describe('deploy/web-config.yml', () => {
  it('is valid once its certificate paths exist, and is the example in the README', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../deploy/web-config.yml', import.meta.url), 'utf8');
    const local = text
      .replace('/etc/stunnel-doctor/tls/server.crt', pki.serverCert)
      .replace('/etc/stunnel-doctor/tls/server.key', pki.serverKey)
      .replace('/etc/stunnel-doctor/tls/clients-ca.crt', pki.caCert);
    const c = parseWebConfig(local, 'web-config.yml');
    expect(c.tls?.clientAuth).toBe('RequireAndVerifyClientCert');
    expect([...c.users.keys()]).toEqual(['prometheus']);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`\`\`\`yaml\n${text}\`\`\``);
  });
});
