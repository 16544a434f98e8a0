/**
 * The sidecar's HTTP endpoint: /metrics (Prometheus), /healthz, /events (Server-Sent Events with filters and
 * Last-Event-ID resume), /diagnose/<proxy> (JSON, the diagnose() contract). Read-only, GET only, bounded:
 * a cap on SSE clients, short header/request timeouts, and slow SSE clients are dropped (never waited for).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DoctorEvent } from '../events.js';
import { eventFilter, parseKinds, unknownKindsMessage } from '../sinks/filter.js';
import type { EventHub } from '../sinks/hub.js';
import type { Diagnosis } from '../sinks/diagnose.js';
import type { WebGuard } from './web-guard.js';
import type { HttpMetrics } from './http-metrics.js';

export interface HttpDeps {
  hub: EventHub;
  metrics: () => Promise<{ contentType: string; body: string }>;
  diagnose: (proxy: string) => Diagnosis | null;
  health: () => { ok: boolean; [k: string]: unknown };
  /** Optional extra routes (the status page): return true when handled. */
  extra?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
  /** The paths `extra` serves, listed in the 404 reply beside the built-in ones. */
  extraPaths?: readonly string[];
}

export interface HttpOptions {
  maxSseClients: number;
  /** Bytes buffered for one SSE client before it is dropped as too slow. */
  maxSseBacklog: number;
  heartbeatMs: number;
  /** Open connections (TCP) at most; more are closed at once. */
  maxConnections: number;
  /** The web config (TLS, client certificates, headers, basic auth); absent: plain HTTP, open. */
  web?: WebGuard;
  /** Endpoint metrics (SSE clients, drops, refused requests). */
  metrics?: HttpMetrics;
}

const DEFAULTS: HttpOptions = { maxSseClients: 64, maxSseBacklog: 1 << 20, heartbeatMs: 15_000, maxConnections: 256 };
/** Limits on every request: 8 KiB of headers (at most 64 of them), 5 s to send them, 10 s for the request. */
const LIMITS = { requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192, connectionsCheckingInterval: 1_000 };

export class HttpServer {
  readonly server: Server;
  private sse = new Set<ServerResponse>();
  sseDropped = 0;
  private readonly opts: HttpOptions;

  constructor(private readonly deps: HttpDeps, opts: Partial<HttpOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) this.json(res, 500, { error: (e as Error).message });
        else res.destroy();
      });
    };
    const web = this.opts.web;
    if (web?.tls) {
      const https = createHttpsServer({ ...LIMITS, ...web.serverOptions() }, handler);
      web.attach(https);
      this.server = https;
    } else {
      this.server = createServer(LIMITS, handler);
    }
    this.server.keepAliveTimeout = 5_000;
    this.server.maxHeadersCount = 64;
    this.server.maxConnections = this.opts.maxConnections;
  }

  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `${this.opts.web?.tls ? 'https' : 'http'}://${h}:${a.port}`;
  }

  async close(): Promise<void> {
    for (const res of this.sse) res.end();
    this.sse.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections?.();
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.opts.web && !(await this.opts.web.admit(req, res))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return;
    }
    if ((req.url ?? '').length > 2048) return this.json(res, 414, { error: 'URI too long' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/metrics') {
      const m = await this.deps.metrics();
      res.writeHead(200, { 'content-type': m.contentType });
      res.end(m.body);
      return;
    }
    if (path === '/healthz') {
      const h = this.deps.health();
      return this.json(res, h.ok ? 200 : 503, h);
    }
    if (path === '/events') return this.events(req, res, url);
    if (path.startsWith('/diagnose/')) {
      const proxy = decodeURIComponent(path.slice('/diagnose/'.length));
      const d = this.deps.diagnose(proxy);
      if (!d) return this.json(res, 404, { error: `unknown proxy ${proxy}` });
      return this.json(res, 200, d);
    }
    if (this.deps.extra?.(req, res, url)) return;
    const endpoints = [...(this.deps.extraPaths ?? []), '/metrics', '/healthz', '/events', '/diagnose/<proxy>'];
    this.json(res, 404, { error: 'not found', endpoints });
  }

  private events(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (this.sse.size >= this.opts.maxSseClients) {
      this.opts.metrics?.sseRefused.inc();
      res.writeHead(503, { 'retry-after': '10', 'content-type': 'text/plain' });
      res.end('too many event stream clients\n');
      return;
    }
    const { kinds, unknown } = parseKinds(url.searchParams.getAll('kind'));
    if (unknown.length) return this.json(res, 400, { error: unknownKindsMessage(unknown) });
    const keep = eventFilter({
      proxies: new Set(url.searchParams.getAll('proxy').flatMap((p) => p.split(',')).filter(Boolean)),
      kinds,
      failuresOnly: url.searchParams.get('failures') === '1',
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': stunnel-doctor event stream\nretry: 2000\n\n');
    this.sse.add(res);
    this.opts.metrics?.sseClients.set(this.sse.size);
    let lastSeq = this.deps.hub.seq;
    const send = (seq: number, e: DoctorEvent): void => {
      // A dropped client stays subscribed until its 'close' event: write nothing more, count it once.
      if (seq <= lastSeq || res.destroyed) return;
      lastSeq = seq;
      if (keep && !keep(e)) return;
      res.write(`id: ${seq}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
      if (res.writableLength > this.opts.maxSseBacklog) {
        this.sseDropped++;
        this.opts.metrics?.sseDropped.inc();
        res.destroy();
      }
    };
    const lastId = Number(req.headers['last-event-id'] ?? url.searchParams.get('lastEventId') ?? NaN);
    if (Number.isFinite(lastId)) {
      const missed = this.deps.hub.since(lastId);
      if (missed === null) res.write(`event: gap\ndata: {"reason":"events before the resume point left the window"}\n\n`);
      lastSeq = missed === null ? -1 : lastId;
      for (const m of missed ?? this.deps.hub.since(-1) ?? []) send(m.seq, m.event);
    }
    const unsubscribe = this.deps.hub.subscribe((e, seq) => send(seq, e));
    const beat = setInterval(() => res.write(': keep-alive\n\n'), this.opts.heartbeatMs);
    beat.unref();
    const done = (): void => {
      clearInterval(beat);
      unsubscribe();
      this.sse.delete(res);
      this.opts.metrics?.sseClients.set(this.sse.size);
    };
    res.on('close', done);
    res.on('error', done);
  }
}
