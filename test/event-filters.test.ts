/**
 * Choosing the events a stream shows, on real stunnel 5.68 logs: `scan --failures` / `--kind` print only some
 * events while the report and the exit status still cover them all; `/events?failures=1&proxy=&kind=` sends only
 * those; an unknown kind is refused with the known ones listed (scan: exit 2; /events: 400).
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanFiles } from '../src/index.js';
import type { DoctorEvent } from '../src/events.js';
import type { HttpServer } from '../src/http/server.js';
import { counter, get, makeServer } from './helpers/http.js';
import { waitFor } from './helpers/wait.js';
import { cli } from './helpers/cli.js';
import { copyFixturesAs } from './helpers/fixture-lines.js';

const FIX = (p: string): string => new URL(`../fixtures/${p}`, import.meta.url).pathname;

const mask = (s: string): string => s.replace(/, \d+\.\d\d s$/m, ', N s');
const lines = (s: string): string[] => s.split('\n').filter(Boolean);
const parse = (s: string): DoctorEvent[] => lines(s).map((l) => JSON.parse(l) as DoctorEvent);

let dir: string;
let files: string[];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sd-filters-'));
  // Real logs with failures, successes, warnings and process events; each file name is its proxy.
  files = copyFixturesAs(dir, [
    ['multi-service/d5.log', 'multi.log'],
    ['expired/d5.log', 'expired.log'],
    ['handshake-timeout/d5.log', 'stall.log'],
    ['config-missing-cafile/d5.stderr', 'nocafile.err'],
  ]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('scan --failures and --kind', () => {
  it('--failures prints only the events of severity error or critical; the report and the exit status are unchanged', async () => {
    const all = await cli(['scan', '--json', ...files]);
    const failures = await cli(['scan', '--json', '--failures', ...files]);
    const everything = parse(all.out);
    // The logs hold both kinds of events, or the test shows nothing.
    expect(everything.some((e) => e.severity === 'info')).toBe(true);
    expect(everything.some((e) => e.severity === 'warning')).toBe(true);
    const want = lines(all.out).filter((l) => ['error', 'critical'].includes((JSON.parse(l) as DoctorEvent).severity));
    expect(want.length).toBeGreaterThanOrEqual(4);
    expect(lines(failures.out)).toEqual(want);
    expect(mask(failures.err)).toBe(mask(all.err));
    expect(failures.code).toBe(1);
    expect(all.code).toBe(1);

    // As text: every event header printed is an ERROR or CRITICAL one, as many as above; the report is the same.
    const text = await cli(['scan', '--failures', ...files]);
    const quiet = await cli(['scan', '-q', ...files]);
    const at = text.out.indexOf('== stunnel-doctor report ==');
    // An event's first line starts at the margin (its log time, or `-`), its details are indented.
    const headers = text.out.slice(0, at).split('\n').filter((l) => l !== '' && !l.startsWith(' '));
    expect(headers.length).toBe(want.length);
    for (const h of headers) expect(h).toMatch(/^\S+ (?:ERROR|CRITICAL) +[a-z_]+\/[a-z_]+ /);
    expect(mask(text.out.slice(at))).toBe(mask(quiet.out));
  });

  it('--kind prints only the events of the kinds given (comma-separated, repeatable)', async () => {
    const all = parse((await cli(['scan', '--json', ...files])).out);
    const r = await cli(['scan', '--json', '--kind', 'cert_verify_failed,proxy_started', '--kind', 'tls_handshake_failed', ...files]);
    expect(r.code).toBe(1);
    const got = parse(r.out);
    const want = all.filter((e) => ['cert_verify_failed', 'proxy_started', 'tls_handshake_failed'].includes(e.kind));
    expect(new Set(want.map((e) => e.kind))).toEqual(new Set(['cert_verify_failed', 'proxy_started', 'tls_handshake_failed']));
    expect(got).toEqual(want);
    // With --failures too: both must hold.
    const both = parse((await cli(['scan', '--json', '--failures', '--kind', 'proxy_started,cert_verify_failed', ...files])).out);
    expect(both).toEqual(all.filter((e) => e.kind === 'cert_verify_failed'));
  });

  it('refuses an unknown kind, naming it and listing the kinds: exit 2, nothing printed', async () => {
    const r = await cli(['scan', '--kind', 'cert_verify_failed,cert_expired', ...files]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('--kind: unknown event kind "cert_expired" (kinds: config_failed, config_warning, connect_failed, cert_verify_failed,');
  });
});

describe('/events filters', () => {
  const servers: HttpServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  /** The `data:` of the events a stream sends until `n` have come. */
  function collect(url: string, n: number): Promise<DoctorEvent[]> {
    return new Promise((resolve, reject) => {
      const got: DoctorEvent[] = [];
      let buf = '';
      const req = request(url, { agent: false }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const m = /^data: (.*)$/m.exec(buf.slice(0, i));
            if (m) got.push(JSON.parse(m[1]!) as DoctorEvent);
            buf = buf.slice(i + 2);
          }
          if (got.length >= n) {
            req.destroy();
            resolve(got);
          }
        });
      });
      req.on('error', (e) => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
      req.end();
    });
  }

  it('sends only the proxies, kinds and failures asked for, in order; an unknown kind gets 400', async () => {
    const { http, hub, metrics } = makeServer();
    servers.push(http);
    const url = await http.listen('127.0.0.1', 0);
    const events = [
      ...(await scanFiles([FIX('multi-service/d5.log')], { proxy: 'multi' })).events,
      ...(await scanFiles([FIX('expired/d5.log')], { proxy: 'expired' })).events,
    ];
    const multiFailures = events.filter((e) => e.proxy === 'multi' && (e.severity === 'error' || e.severity === 'critical'));
    const kinds = events.filter((e) => e.kind === 'proxy_started' || e.kind === 'cert_verify_failed');
    expect(multiFailures.length).toBeGreaterThanOrEqual(3);
    expect(events.length).toBeGreaterThan(multiFailures.length + 2);

    const a = collect(`${url}/events?failures=1&proxy=multi`, multiFailures.length);
    const b = collect(`${url}/events?kind=proxy_started&kind=cert_verify_failed`, kinds.length);
    // Both streams are subscribed (the gauge is set in the same turn) before the first event is published.
    await waitFor(async () => (await counter(metrics, 'stunnel_doctor_http_sse_clients')) === 2, 'two event stream clients');
    for (const e of events) hub.publish(e);
    expect(await a).toEqual(JSON.parse(JSON.stringify(multiFailures)));
    expect(await b).toEqual(JSON.parse(JSON.stringify(kinds)));

    const bad = await get(`${url}/events?kind=connect_failed,cert_expired`);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toContain('unknown event kind "cert_expired" (kinds: config_failed,');
  });
});
