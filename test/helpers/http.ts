/** Shared by the endpoint tests: an HttpServer over a bare event hub, and a one-shot HTTP(S) client. */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { EventHub } from '../../src/sinks/hub.js';
import { HttpServer, type HttpOptions } from '../../src/http/server.js';
import { HttpMetrics } from '../../src/http/http-metrics.js';

export function makeServer(opts: Partial<HttpOptions> = {}, hub = new EventHub()): { http: HttpServer; hub: EventHub; metrics: HttpMetrics } {
  const metrics = opts.metrics ?? new HttpMetrics();
  const http = new HttpServer({
    hub,
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    diagnose: () => null,
    health: () => ({ ok: true }),
  }, { ...opts, metrics });
  return { http, hub, metrics };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** CN of the server certificate (HTTPS). */
  serverCN?: string;
}

export interface ClientOptions {
  ca?: string;
  cert?: string;
  key?: string;
  auth?: string;
}

/** One request on a new connection (no agent): resolves with the reply, rejects on a transport/TLS error. */
export function get(url: string, o: ClientOptions = {}): Promise<Reply> {
  const u = new URL(url);
  const headers: Record<string, string> = {};
  if (o.auth) headers.authorization = `Basic ${Buffer.from(o.auth).toString('base64')}`;
  const tlsOpts = u.protocol === 'https:' ? {
    ...(o.ca ? { ca: readFileSync(o.ca) } : {}),
    ...(o.cert ? { cert: readFileSync(o.cert) } : {}),
    ...(o.key ? { key: readFileSync(o.key) } : {}),
    servername: 'localhost',
  } : {};
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(u, { agent: false, headers, ...tlsOpts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const cn = u.protocol === 'https:' ? (res.socket as TLSSocket).getPeerCertificate?.()?.subject?.CN : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ...(cn ? { serverCN: String(cn) } : {}) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET over plain HTTP, the body as text (any status). */
export async function getBody(url: string): Promise<string> {
  return (await get(url)).body;
}

export async function counter(metrics: HttpMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const values = (await m.get()).values;
  const v = values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}
