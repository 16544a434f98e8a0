/**
 * The web configuration file (`--web.config.file`, `webConfigFile:`), in the format of Prometheus'
 * exporter-toolkit: `tls_server_config` (HTTPS, client certificates), `http_server_config` (extra response
 * headers) and `basic_auth_users` (bcrypt hashes). Every problem (YAML, unknown keys, bad values, unreadable or
 * invalid certificate and key files, hashes that are not bcrypt) is reported as `file:line:col: ...`.
 *
 * Relative file names are resolved against the web config file's directory, as exporter-toolkit does.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions, type SecureVersion } from 'node:tls';
import type { Document, Node } from 'yaml';
import type * as Zod from 'zod';
import { yamlLib, zodLib } from '../deps.js';
import { ConfigError } from '../config.js';
import { parseYamlFile } from '../yaml-file.js';

// This module is loaded only for a web config file.
const { z } = zodLib();
const { isMap, isScalar } = yamlLib();

/** Go's names (crypto/tls) → OpenSSL's, for the suites Go's tls.CipherSuites() offers. */
export const CIPHER_SUITES: Readonly<Record<string, string>> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  // TLS 1.3 suites: Go ignores them in cipher_suites; Node can restrict them, so they are honoured.
  TLS_AES_128_GCM_SHA256: 'TLS_AES_128_GCM_SHA256',
  TLS_AES_256_GCM_SHA384: 'TLS_AES_256_GCM_SHA384',
  TLS_CHACHA20_POLY1305_SHA256: 'TLS_CHACHA20_POLY1305_SHA256',
};
const TLS13_DEFAULT = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

const CURVES: Readonly<Record<string, string>> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };
const VERSIONS: Readonly<Record<string, SecureVersion>> = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' };
const VERSION_ORDER = ['TLS10', 'TLS11', 'TLS12', 'TLS13'];

export const CLIENT_AUTH_TYPES = [
  'NoClientCert', 'RequestClientCert', 'RequireAnyClientCert', 'RequireClientCert', 'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert',
] as const;
export type ClientAuthType = Exclude<(typeof CLIENT_AUTH_TYPES)[number], 'RequireClientCert'>;

/** bcrypt's modular crypt format: $2a$, $2b$, $2y$ (and the old $2$), a two-digit cost 4-31, 53 characters. */
const BCRYPT = /^\$2[aby]?\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
/** Header values: visible ASCII, space and tab (no CR/LF: no header injection). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

const oneOf = <T extends string>(values: readonly T[], what: string) =>
  z.string().refine((v): v is T => (values as readonly string[]).includes(v), { message: `${what} must be one of ${values.join(', ')}` });

const headerValue = z.string().regex(HEADER_VALUE, 'header values are printable ASCII on one line');

const tlsSchema = z
  .object({
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    client_ca: z.string().min(1).optional(),
    cert_file: z.string().min(1).optional(),
    key_file: z.string().min(1).optional(),
    client_auth_type: oneOf(CLIENT_AUTH_TYPES, 'client_auth_type').optional(),
    client_ca_file: z.string().min(1).optional(),
    client_allowed_sans: z.array(z.string().min(1)).optional(),
    min_version: oneOf(VERSION_ORDER, 'min_version').optional(),
    max_version: oneOf(VERSION_ORDER, 'max_version').optional(),
    cipher_suites: z.array(oneOf(Object.keys(CIPHER_SUITES), 'a cipher suite')).min(1).optional(),
    prefer_server_cipher_suites: z.boolean().optional(),
    curve_preferences: z.array(oneOf(Object.keys(CURVES), 'a curve')).min(1).optional(),
  })
  .strict();

const httpSchema = z
      .object({
        http2: z.boolean().optional(),
        headers: z
          .object({
            'Content-Security-Policy': headerValue.optional(),
            'X-Frame-Options': oneOf(['deny', 'sameorigin'], 'X-Frame-Options').optional(),
            'X-Content-Type-Options': oneOf(['nosniff'], 'X-Content-Type-Options').optional(),
            'X-XSS-Protection': headerValue.optional(),
            'Strict-Transport-Security': headerValue.optional(),
          })
          .strict()
          .nullish(),
      })
      .strict();

/** Sections are checked one by one, so that a mistake in one does not hide those in another. */
const topSchema = z
  .object({ tls_server_config: z.unknown(), http_server_config: z.unknown(), basic_auth_users: z.unknown(), rate_limit: z.unknown() })
  .partial()
  .strict();
const usersSchema = z.record(z.string(), z.string({ error: 'a bcrypt hash (a string)' }));

export interface TlsSettings {
  /** For tls.createSecureContext / https.createServer. */
  context: SecureContextOptions;
  clientAuth: ClientAuthType;
  /** Client certificates must carry one of these SANs (DNS, IP, e-mail or URI); null: no SAN check. */
  allowedSans: readonly string[] | null;
}

export interface WebConfig {
  file: string;
  /** null: plain HTTP. */
  tls: TlsSettings | null;
  headers: Readonly<Record<string, string>>;
  /** user → bcrypt hash; empty: no basic authentication. */
  users: ReadonlyMap<string, string>;
  /** Accepted but without effect (e.g. http2). */
  warnings: string[];
}

/** Reads and validates a web config file (and the certificate, key and CA files it names). */
export async function loadWebConfig(file: string): Promise<WebConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}:0:0: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
  return parseWebConfig(text, file);
}

/** Validates web config text; file names inside are read relative to `file`'s directory. */
export function parseWebConfig(text: string, file: string): WebConfig {
  const { doc, at } = parseYamlFile(text, file);
  const where = (path: readonly PropertyKey[]): string => at(nodeAt(doc, path)?.range?.[0]);
  const problems: string[] = [];
  const problem = (path: readonly PropertyKey[], msg: string): void => {
    problems.push(`${where(path)}: ${path.length ? `${path.join('.')}: ` : ''}${msg}`);
  };

  const zodProblems = (issues: Zod.core.$ZodIssue[], prefix: PropertyKey[]): void => {
    for (const i of issues) {
      const path = [...prefix, ...i.path];
      if (i.code === 'unrecognized_keys') {
        for (const k of i.keys) {
          const keyNode = keyNodeAt(doc, path, k);
          problems.push(`${at(keyNode?.range?.[0] ?? nodeAt(doc, path)?.range?.[0])}: ${[...path, k].join('.')}: unknown key "${k}"`);
        }
      } else {
        problem(path, i.message);
      }
    }
  };
  const section = <T>(schema: Zod.ZodType<T>, value: unknown, key: string): T | undefined => {
    if (value === undefined || value === null) return undefined;
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    zodProblems(r.error.issues, [key]);
    return undefined;
  };
  const raw: unknown = doc.toJS() ?? {};
  const top = topSchema.safeParse(raw);
  if (!top.success) {
    zodProblems(top.error.issues, []);
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(problems);
  }
  const rawTop = raw as Record<string, unknown>;
  const c = {
    tls_server_config: section(tlsSchema, rawTop.tls_server_config, 'tls_server_config'),
    http_server_config: section(httpSchema, rawTop.http_server_config, 'http_server_config'),
    basic_auth_users: section(usersSchema, rawTop.basic_auth_users, 'basic_auth_users'),
    rate_limit: rawTop.rate_limit,
  };
  const warnings: string[] = [];
  const dir = dirname(resolve(file));

  if (c.rate_limit !== undefined) {
    problem(['rate_limit'], 'rate_limit is not supported by stunnel-doctor; rate-limit in a reverse proxy or remove it');
  }
  if (c.http_server_config?.http2 === true) {
    warnings.push(`${where(['http_server_config', 'http2'])}: http2 is not supported: the endpoint serves HTTP/1.1 (Prometheus scrapes it fine)`);
  }

  const users = new Map<string, string>();
  for (const [user, hash] of Object.entries(c.basic_auth_users ?? {})) {
    const path = ['basic_auth_users', user];
    if (user === '' || user.includes(':')) problem(path, 'a user name must be non-empty and cannot contain ":" (basic auth splits at the first ":")');
    else if (!BCRYPT.test(hash)) problem(path, 'not a bcrypt hash (expected $2a$, $2b$ or $2y$, a cost 04-31 and 53 characters; make one with `htpasswd -nBC 10 "" | tr -d \':\\n\'`)');
    else users.set(user, hash);
  }

  let tls: TlsSettings | null = null;
  const t = c.tls_server_config;
  if (t) tls = tlsSettings(t, dir, problem);

  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.http_server_config?.headers ?? {})) if (v) headers[k] = v;

  if (problems.length) throw new ConfigError(inLineOrder(problems, file));
  return { file, tls, headers, users, warnings };
}

type TlsInput = Zod.infer<typeof tlsSchema>;
type Problem = (path: readonly PropertyKey[], msg: string) => void;

function tlsSettings(t: TlsInput, dir: string, problem: Problem): TlsSettings | null {
  const P = (k: string): string[] => ['tls_server_config', k];
  const read = (key: 'cert_file' | 'key_file' | 'client_ca_file'): string | undefined => {
    const name = t[key];
    if (name === undefined) return undefined;
    const path = resolve(dir, name);
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      problem(P(key), `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return undefined;
    }
  };
  const pairs: [inline: 'cert' | 'key' | 'client_ca', file: 'cert_file' | 'key_file' | 'client_ca_file'][] = [
    ['cert', 'cert_file'], ['key', 'key_file'], ['client_ca', 'client_ca_file'],
  ];
  for (const [inline, fileKey] of pairs) {
    if (t[inline] !== undefined && t[fileKey] !== undefined) problem(P(fileKey), `give "${inline}" or "${fileKey}", not both`);
  }
  let ok = true;
  if (t.cert === undefined && t.cert_file === undefined) {
    problem(['tls_server_config'], 'missing one of "cert_file" or "cert"');
    ok = false;
  }
  if (t.key === undefined && t.key_file === undefined) {
    problem(['tls_server_config'], 'missing one of "key_file" or "key"');
    ok = false;
  }
  const certPem = t.cert ?? read('cert_file');
  const keyPem = t.key ?? read('key_file');
  const caPem = t.client_ca ?? read('client_ca_file');
  const certKey = t.cert !== undefined ? 'cert' : 'cert_file';
  const keyKey = t.key !== undefined ? 'key' : 'key_file';
  const caKey = t.client_ca !== undefined ? 'client_ca' : 'client_ca_file';

  let key: KeyObject | undefined;
  if (certPem !== undefined) {
    try {
      new X509Certificate(certPem);
    } catch (e) {
      problem(P(certKey), `not a PEM certificate: ${(e as Error).message}`);
      ok = false;
    }
  } else ok = false;
  if (keyPem !== undefined) {
    try {
      key = createPrivateKey(keyPem);
    } catch (e) {
      problem(P(keyKey), `not a PEM private key (or it is encrypted): ${(e as Error).message}`);
      ok = false;
    }
  } else ok = false;
  if (ok && key && certPem !== undefined && !new X509Certificate(certPem).checkPrivateKey(key)) {
    problem(P(keyKey), `the private key does not match the certificate of "${certKey}"`);
    ok = false;
  }

  let ca: string[] | undefined;
  if (caPem !== undefined) {
    const blocks = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) problem(P(caKey), 'no PEM certificate in it');
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch (e) {
        problem(P(caKey), `a certificate in it cannot be read: ${(e as Error).message}`);
      }
    }
    ca = blocks;
  }

  const auth: ClientAuthType = t.client_auth_type === 'RequireClientCert' ? 'RequireAnyClientCert' : t.client_auth_type ?? 'NoClientCert';
  if (ca && auth === 'NoClientCert') problem(P(caKey), `a client CA is set but client_auth_type is NoClientCert: set client_auth_type: RequireAndVerifyClientCert`);
  if (!ca && (auth === 'RequireAndVerifyClientCert' || auth === 'VerifyClientCertIfGiven')) {
    problem(P('client_auth_type'), `${auth} needs "client_ca_file" (or "client_ca"): the CA that signs the client certificates`);
  }
  if (t.client_allowed_sans && auth !== 'RequireAnyClientCert' && auth !== 'RequireAndVerifyClientCert') {
    problem(P('client_allowed_sans'), 'client_allowed_sans requires client_auth_type RequireAndVerifyClientCert (or RequireAnyClientCert)');
  }
  const min = t.min_version ?? 'TLS12';
  const max = t.max_version ?? 'TLS13';
  if (VERSION_ORDER.indexOf(min) > VERSION_ORDER.indexOf(max)) problem(P('min_version'), `min_version ${min} is above max_version ${max}`);

  const context: SecureContextOptions = {
    minVersion: VERSIONS[min]!,
    maxVersion: VERSIONS[max]!,
    honorCipherOrder: t.prefer_server_cipher_suites ?? true,
  };
  if (certPem !== undefined) context.cert = certPem;
  if (keyPem !== undefined) context.key = keyPem;
  if (ca) context.ca = ca;
  if (t.cipher_suites) {
    const names = t.cipher_suites.map((n) => CIPHER_SUITES[n]!);
    // Like Go, cipher_suites restricts TLS 1.2 and below; TLS 1.3 keeps its defaults unless some are named.
    context.ciphers = names.some((n) => n.startsWith('TLS_')) ? names.join(':') : `${TLS13_DEFAULT}:${names.join(':')}`;
  }
  if (t.curve_preferences) context.ecdhCurve = t.curve_preferences.map((n) => CURVES[n]!).join(':');
  if (ok) {
    try {
      createSecureContext(context);
    } catch (e) {
      problem(['tls_server_config'], `OpenSSL refuses this TLS configuration: ${(e as Error).message}`);
    }
  }
  return { context, clientAuth: auth, allowedSans: t.client_allowed_sans ?? null };
}

/** Problems sorted by line and column (they are found section by section). */
function inLineOrder(problems: string[], file: string): string[] {
  const pos = (p: string): number[] => (/^(\d+):(\d+):/.exec(p.slice(file.length + 1)) ?? [0, 0, 0]).slice(1).map(Number);
  return problems
    .map((p, i) => ({ p, i, at: pos(p) }))
    .sort((a, b) => a.at[0]! - b.at[0]! || a.at[1]! - b.at[1]! || a.i - b.i)
    .map((x) => x.p);
}

function nodeAt(doc: Document, path: readonly PropertyKey[]): Node | undefined {
  for (let n = path.length; n >= 0; n--) {
    const got = doc.getIn(path.slice(0, n) as (string | number)[], true) as Node | undefined;
    if (got && typeof got === 'object' && 'range' in got && got.range) return got;
  }
  return undefined;
}

function keyNodeAt(doc: Document, path: readonly PropertyKey[], key: string): Node | undefined {
  const parent = path.length ? doc.getIn(path as (string | number)[], true) : doc.contents;
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
  return pair && isScalar(pair.key) ? pair.key : undefined;
}

/** A one-line summary for logs and `web-config check`. */
export function describeWebConfig(c: WebConfig): string {
  const parts = [c.tls ? `TLS (${c.tls.context.minVersion}-${c.tls.context.maxVersion}, client certificates: ${c.tls.clientAuth}${c.tls.allowedSans ? `, SANs ${c.tls.allowedSans.join(' ')}` : ''})` : 'plain HTTP'];
  parts.push(c.users.size ? `basic auth (${c.users.size} user${c.users.size === 1 ? '' : 's'})` : 'no basic auth');
  const h = Object.keys(c.headers);
  if (h.length) parts.push(`headers ${h.join(', ')}`);
  return parts.join(', ');
}

/** Key of the successful-check cache: a digest, so that no password is kept in clear as a map key. */
export function authCacheKey(user: string, hash: string, password: string): string {
  return createHash('sha256').update(user).update('\0').update(hash).update('\0').update(password).digest('base64');
}

/** `stunnel-doctor web-config check FILE...`: 0 when every file is valid, 2 otherwise (problems on stderr). */
export async function checkWebConfigFiles(files: readonly string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let bad = 0;
  for (const file of files) {
    try {
      const c = await loadWebConfig(file);
      for (const w of c.warnings) err(`${w} (warning)\n`);
      out(`${file}: ok: ${describeWebConfig(c)}\n`);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      err(`${e.message}\n`);
      bad += e.problems.length;
    }
  }
  if (bad) err(`${bad} problem${bad === 1 ? '' : 's'} found\n`);
  return bad ? 2 : 0;
}
