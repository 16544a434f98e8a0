/**
 * A throw-away PKI for the endpoint tests, made by Debian's openssl at test time: a CA, a server certificate
 * for localhost/127.0.0.1, a client certificate it signed (SAN DNS:prometheus.example), and a client
 * certificate from another CA (a stranger). EC P-256 keys: fast to make.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';

export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  /** A second server certificate (CN=localhost-renewed) from the same CA: a renewal. */
  renewedCert: string;
  renewedKey: string;
  clientCert: string;
  clientKey: string;
  /** Same CA, SAN DNS:other.example. */
  otherClientCert: string;
  otherClientKey: string;
  strangerCaCert: string;
  strangerCert: string;
  strangerKey: string;
}

const openssl = (dir: string, args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

function ca(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

function leaf(dir: string, name: string, caName: string, cn: string, ext: string): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`,
    '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'sd-pki-'));
  ca(dir, 'ca');
  ca(dir, 'stranger-ca');
  const server = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE';
  leaf(dir, 'server', 'ca', 'localhost', server);
  leaf(dir, 'renewed', 'ca', 'localhost-renewed', server);
  const client = (san: string) => `subjectAltName=${san}\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE`;
  leaf(dir, 'client', 'ca', 'prometheus', client('DNS:prometheus.example'));
  leaf(dir, 'other', 'ca', 'other', client('DNS:other.example'));
  leaf(dir, 'stranger', 'stranger-ca', 'prometheus', client('DNS:prometheus.example'));
  const p = (f: string) => join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    renewedCert: p('renewed.crt'),
    renewedKey: p('renewed.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    otherClientCert: p('other.crt'),
    otherClientKey: p('other.key'),
    strangerCaCert: p('stranger-ca.crt'),
    strangerCert: p('stranger.crt'),
    strangerKey: p('stranger.key'),
  };
}

/** A bcrypt hash at the lowest cost (4), so tests stay quick; `$2y$` like htpasswd makes when asked. */
export function hash(password: string, prefix: '$2b$' | '$2y$' = '$2b$', cost = 4): string {
  const h = bcrypt.hashSync(password, cost);
  return prefix + h.slice(4);
}
