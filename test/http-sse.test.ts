/**
 * Safe limits of the endpoint: an /events client that stops reading while thousands of events flow is
 * disconnected once its send buffer passes the bound, and counted; the pipeline (the hub's publish) never
 * waits for it, and a client that reads keeps receiving every event. The number of event stream clients is
 * capped (503, counted); oversized or slow requests are refused (431, 414, 405, 408).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import type { DoctorEvent } from '../src/events.js';
import type { HttpServer } from '../src/http/server.js';
import { counter, get, makeServer } from './helpers/http.js';

const servers: HttpServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function until(what: string, fn: () => boolean | Promise<boolean>, tries = 2000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`never happened: ${what}`);
}

const PAD = 'x'.repeat(4000);
const event = (n: number): DoctorEvent =>
  ({ id: `e${n}`, kind: 'connect_failed', reason: 'refused', severity: 'error', proxy: 'p', service: 's', connection: n, detail: [PAD] }) as unknown as DoctorEvent;

/** An /events client that reads everything and counts the event ids it got, in order. */
function reader(url: string): { ids: number[]; closed: Promise<void> } {
  const ids: number[] = [];
  let buf = '';
  let done!: () => void;
  const closed = new Promise<void>((r) => (done = r));
  const req = request(`${url}/events`, { agent: false }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const m = /^id: (\d+)$/m.exec(buf.slice(0, i));
        if (m) ids.push(Number(m[1]));
        buf = buf.slice(i + 2);
      }
    });
    res.on('close', done);
  });
  req.on('error', done);
  req.end();
  return { ids, closed };
}

/** Sends `text` on a new TCP connection (then ends its side when `end`), resolves with all it got when closed. */
function exchange(port: number, text: string, end: boolean): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    sockets.push(s);
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (out += c));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    if (end) s.end(text);
    else if (text) s.write(text);
  });
}

describe('/events under a slow client', () => {
  it('drops a client that never reads, counts it, and never holds up the pipeline or the other clients', async () => {
    const { http, hub, metrics } = makeServer();
    servers.push(http);
    const url = await http.listen('127.0.0.1', 0);
    const port = Number(new URL(url).port);

    // The slow client asks for the stream and then never reads a byte.
    const slow = connect(port, '127.0.0.1');
    sockets.push(slow);
    slow.pause();
    let slowClosed = false;
    slow.on('close', () => (slowClosed = true));
    slow.write('GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const fast = reader(url);
    await until('two clients subscribed', async () => (await counter(metrics, 'stunnel_doctor_http_sse_clients')) === 2);

    // Events flow in batches; the next batch goes once the reading client has the previous one (a consumer
    // pacing itself), until the slow client's buffer passes 1 MiB and it is dropped. publish() itself is
    // synchronous: it cannot wait for any client.
    let published = 0;
    const batch = async (): Promise<void> => {
      for (let i = 0; i < 100; i++) hub.publish(event(++published));
      await until(`reader has ${published}`, () => fast.ids.length === published);
    };
    while (http.sseDropped === 0 && published < 40_000) await batch();
    expect(http.sseDropped).toBe(1);
    expect(published).toBeGreaterThanOrEqual(256); // 1 MiB of 4 KiB events, past what the kernel buffers
    expect(await counter(metrics, 'stunnel_doctor_http_sse_dropped_total')).toBe(1);
    expect(await counter(metrics, 'stunnel_doctor_http_sse_clients')).toBe(1);

    // The pipeline goes on: more events, all delivered to the reading client, in order, none dropped.
    for (let k = 0; k < 10; k++) await batch();
    expect(fast.ids).toEqual(Array.from({ length: published }, (_, i) => i + 1));
    expect(hub.dropped).toBe(0);

    // The slow client, when it finally reads, finds its stream ended short of the last events.
    let got = '';
    slow.setEncoding('utf8');
    slow.on('data', (c: string) => (got += c));
    slow.resume();
    await until('slow client closed', () => slowClosed);
    const lastId = Math.max(...[...got.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])));
    expect(lastId).toBeLessThan(published);
  });

  it('caps the number of event stream clients: the next one gets 503 with Retry-After, counted', async () => {
    const { http, metrics } = makeServer({ maxSseClients: 2 });
    servers.push(http);
    const url = await http.listen('127.0.0.1', 0);
    reader(url);
    reader(url);
    await until('two clients', async () => (await counter(metrics, 'stunnel_doctor_http_sse_clients')) === 2);
    const r = await get(`${url}/events`);
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('10');
    expect(await counter(metrics, 'stunnel_doctor_http_sse_refused_total')).toBe(1);
    // Other paths are still served.
    expect((await get(`${url}/healthz`)).status).toBe(200);
  });

  it('refuses oversized request headers (431) and URLs (414), and methods other than GET/HEAD (405)', async () => {
    const { http } = makeServer();
    servers.push(http);
    const url = await http.listen('127.0.0.1', 0);
    const port = Number(new URL(url).port);
    const raw = (text: string): Promise<string> => exchange(port, text, true);
    expect(await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    expect(await raw(`GET /healthz?${'a'.repeat(3000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 414 /);
    expect(await raw('POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 405 /);
  });

  it('closes a connection that never finishes its headers (slowloris) or sends nothing, with 408', async () => {
    const { http } = makeServer();
    servers.push(http);
    const port = Number(new URL(await http.listen('127.0.0.1', 0)).port);
    const answer = (text: string): Promise<string> => exchange(port, text, false);
    const [partial, silent] = await Promise.all([answer('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '), answer('')]);
    expect(partial).toMatch(/^HTTP\/1\.1 408 /);
    expect(silent).toMatch(/^HTTP\/1\.1 408 /);
  });
});
