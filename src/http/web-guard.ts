/**
 * Applies a web config (src/http/web-config.ts) to the endpoint: HTTPS server options, the client
 * certificate policy, extra response headers and basic authentication. `update()` swaps in a new config for
 * new connections and requests (SIGHUP), keeping open connections as they are.
 *
 * Basic auth: bcrypt comparison (bcryptjs, asynchronous so the event loop and the log pipeline never wait for
 * it; its final comparison is constant-time), one at a time like exporter-toolkit; an unknown user is
 * compared against a dummy hash of the same cost so that timing does not tell which users exist. Successful
 * checks are cached (a SHA-256 of user, hash and password; at most 100, cleared on reload), so a bcrypt cost of
 * 10-12 costs once and not on every scrape. Failed checks are not cached.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer, ServerOptions as HttpsServerOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import bcrypt from 'bcryptjs';
import { ConfigError } from '../config.js';
import { authCacheKey, describeWebConfig, loadWebConfig, type WebConfig } from './web-config.js';
import type { HttpMetrics } from './http-metrics.js';

const CACHE_SIZE = 100;
/** Uncached bcrypt checks waiting their turn before further ones get 503. */
const MAX_WAITING_CHECKS = 32;
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export class WebGuard {
  private cfg: WebConfig;
  private readonly cache = new Map<string, true>();
  private dummy: Promise<string> | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private server: HttpsServer | null = null;
  private readonly verdicts = new WeakMap<TLSSocket, boolean>();
  /** bcrypt comparisons run (for tests and the curious). */
  bcryptChecks = 0;

  constructor(cfg: WebConfig, private readonly metrics?: HttpMetrics) {
    this.cfg = cfg;
  }

  get config(): WebConfig {
    return this.cfg;
  }

  get tls(): boolean {
    return this.cfg.tls !== null;
  }

  /** Options for https.createServer (only when the config has tls_server_config). */
  serverOptions(): HttpsServerOptions {
    const t = this.cfg.tls;
    if (!t) throw new Error('no tls_server_config');
    return { ...t.context, ...this.peerOptions(), handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS };
  }

  private peerOptions(): { requestCert: boolean; rejectUnauthorized: boolean } {
    const a = this.cfg.tls?.clientAuth ?? 'NoClientCert';
    return { requestCert: a !== 'NoClientCert', rejectUnauthorized: a === 'RequireAndVerifyClientCert' };
  }

  /** Hooks the client-certificate policy and the failure counter into an HTTPS server. */
  attach(server: HttpsServer): void {
    this.server = server;
    server.on('secureConnection', (socket: TLSSocket) => {
      if (!this.clientOk(socket)) socket.destroy();
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      // A certificate that fails verification makes Node destroy the socket (authorizationError is set);
      // a missing one fails the handshake in OpenSSL.
      const certProblem = Boolean(socket.authorizationError) || /CERTIFICATE|PEER_DID_NOT_RETURN/i.test(`${err.code ?? ''} ${err.message}`);
      this.metrics?.authFailures.inc({ reason: certProblem ? 'client_cert' : 'tls_handshake' });
    });
  }

  /** Swaps in a new config. Switching between HTTP and HTTPS cannot happen on a running server. */
  update(next: WebConfig): void {
    if ((next.tls === null) !== (this.cfg.tls === null)) {
      throw new Error(`${next.file}: switching between ${this.cfg.tls ? 'HTTPS' : 'HTTP'} and ${next.tls ? 'HTTPS' : 'HTTP'} needs a restart`);
    }
    // The context first: if OpenSSL refused it, nothing has changed.
    if (next.tls && this.server) this.server.setSecureContext(next.tls.context);
    this.cfg = next;
    if (next.tls && this.server) {
      // Read by Node for every new connection (tls.Server#requestCert / #rejectUnauthorized).
      Object.assign(this.server as unknown as { requestCert: boolean; rejectUnauthorized: boolean }, this.peerOptions());
    }
    this.cache.clear();
    this.dummy = null;
  }

  /** The client-certificate policy, checked once per TLS connection. */
  private clientOk(socket: TLSSocket): boolean {
    const known = this.verdicts.get(socket);
    if (known !== undefined) return known;
    const t = this.cfg.tls;
    let ok = true;
    if (t && t.clientAuth !== 'NoClientCert' && t.clientAuth !== 'RequestClientCert') {
      const cert = socket.getPeerX509Certificate();
      if (!cert) ok = t.clientAuth === 'VerifyClientCertIfGiven';
      else if (t.clientAuth !== 'RequireAnyClientCert' && !socket.authorized) ok = false;
      else if (t.allowedSans) ok = sansOf(cert.subjectAltName).some((s) => t.allowedSans!.includes(s));
    }
    if (!ok) this.metrics?.authFailures.inc({ reason: 'client_cert' });
    this.verdicts.set(socket, ok);
    return ok;
  }

  /**
   * Runs before every request: sets the configured headers, enforces the client certificate policy and basic
   * auth. Returns false when it answered the request itself (401, 503) or closed the connection.
   */
  async admit(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const c = this.cfg;
    for (const [k, v] of Object.entries(c.headers)) res.setHeader(k, v);
    if (c.tls && 'encrypted' in req.socket && !this.clientOk(req.socket as TLSSocket)) {
      res.destroy();
      return false;
    }
    if (c.users.size === 0) return true;
    const creds = parseBasic(req.headers.authorization);
    const verdict = creds ? await this.check(c, creds.user, creds.password) : false;
    if (verdict === true) return true;
    if (verdict === null) {
      res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain; charset=utf-8' });
      res.end('too many authentication attempts in progress\n');
      return false;
    }
    this.metrics?.authFailures.inc({ reason: 'basic_auth' });
    res.writeHead(401, { 'www-authenticate': 'Basic realm="stunnel-doctor", charset="UTF-8"', 'content-type': 'text/plain; charset=utf-8' });
    res.end('Unauthorized\n');
    return false;
  }

  /** true: valid; false: invalid; null: too many checks waiting. */
  private async check(c: WebConfig, user: string, password: string): Promise<boolean | null> {
    const hash = c.users.get(user);
    const key = hash === undefined ? null : authCacheKey(user, hash, password);
    if (key !== null && this.cache.has(key)) return true;
    if (this.waiting >= MAX_WAITING_CHECKS) return null;
    this.waiting++;
    const run = this.chain.then(async () => {
      this.bcryptChecks++;
      return bcrypt.compare(password, hash ?? (await this.dummyHash(c)));
    });
    this.chain = run.catch(() => undefined);
    let ok: boolean;
    try {
      ok = await run;
    } finally {
      this.waiting--;
    }
    if (!ok || key === null) return false;
    if (this.cfg === c) {
      if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, true);
    }
    return true;
  }

  private dummyHash(c: WebConfig): Promise<string> {
    if (!this.dummy || this.cfg !== c) {
      const cost = Math.max(...[...c.users.values()].map((h) => Number(h.split('$')[2])));
      this.dummy = bcrypt.hash('stunnel-doctor: not a password', cost);
    }
    return this.dummy;
  }
}

/** `Authorization: Basic base64(user:password)`; null when absent or malformed. */
export function parseBasic(header: string | undefined): { user: string; password: string } | null {
  const m = /^Basic[ ]+([A-Za-z0-9+/=]+)[ ]*$/i.exec(header ?? '');
  if (!m) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  if (i < 0) return null;
  return { user: text.slice(0, i), password: text.slice(i + 1) };
}

/** Node's subjectAltName ("DNS:a, IP Address:1.2.3.4, email:x@y, URI:spiffe://z") → the values. */
export function sansOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/, (?=(?:DNS|IP Address|email|URI|othername|DirName|Registered ID):)/)
    .map((part) => {
      const v = part.slice(part.indexOf(':') + 1);
      if (v.startsWith('"')) {
        try {
          return JSON.parse(v) as string;
        } catch {
          return v;
        }
      }
      return v;
    });
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The sidecar's start, once the file is loaded (a bad file was refused before anything started). */
export function startWebGuard(cfg: WebConfig, metrics: HttpMetrics, log: Log): WebGuard {
  for (const w of cfg.warnings) log.warn({ file: cfg.file }, w);
  metrics.webConfigReloadSuccess.set(1);
  metrics.webConfigReloadTimestamp.set(Date.now() / 1000);
  log.info({ file: cfg.file }, `web config: ${describeWebConfig(cfg)}`);
  return new WebGuard(cfg, metrics);
}

/** SIGHUP: reads the file again; a bad file is refused (logged, gauge 0) and the running config kept. */
export async function reloadWebGuard(guard: WebGuard, file: string, metrics: HttpMetrics, log: Log): Promise<boolean> {
  try {
    const next = await loadWebConfig(file);
    guard.update(next);
    for (const w of next.warnings) log.warn({ file }, w);
    metrics.webConfigReloadSuccess.set(1);
    metrics.webConfigReloadTimestamp.set(Date.now() / 1000);
    log.info({ file }, `web config reloaded: ${describeWebConfig(next)}`);
    return true;
  } catch (e) {
    metrics.webConfigReloadSuccess.set(0);
    const err = e instanceof ConfigError ? e.problems : [(e as Error).message];
    log.error({ file, err }, 'web config reload refused: the running web config is kept');
    return false;
  }
}
