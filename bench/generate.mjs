#!/usr/bin/env node
/**
 * SYNTHETIC stunnel 5.68 logs, for benchmarks only. No line here was written by a real stunnel: the
 * generator assembles lines whose shapes follow ../shared/reference/stunnel-5.68-observed-shapes.md and
 * stunnel-log-catalog.md (sections 1-3), with invented hosts, ports, subjects and byte counts. Never use
 * its output as a fixture of what stunnel prints; the real captures live in fixtures/.
 *
 *   node bench/generate.mjs --lines 1000000 --debug 5|7 --seed 42 --out FILE
 *
 * Writes FILE (`YYYY.MM.DD HH:MM:SS LOG<n>[<id>]: text`, daemon mode: startup under [ui], then [main])
 * and FILE.truth.json: how many connections and events of each kind/reason it generated, in
 * stunnel-doctor's vocabulary (`kind/reason`), so a benchmark can check that every contender counts the
 * same thing.
 *
 * Shape of the traffic: 8 services (4 server mode: TLS in, plain backend; 4 client mode: plain in, TLS
 * to a remote), 16-32 connections open at once whose lines interleave, ~5% failed connections
 * (certificate verification, connection refused, DNS, wrong version number, handshake timeout), and
 * occasional restarts (SIGTERM, then a new banner; connection ids start again at 0). Connections open
 * before a restart are finished first, so every connection is complete. Same seed, same bytes.
 */
import { openSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** Bump when the output for a given seed changes (cached data sets are keyed by it). */
export const GENERATOR_VERSION = 1;

export const FAILURE_RATE = 0.05;

/** mulberry32: small, fast, seeded. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CA_INTERNAL = 'O=Example Corp, CN=Example Internal CA';
const CA_DEVICES = 'O=Example Corp, CN=Example Device CA';
const CA_ROGUE = 'O=Lab, CN=UnknownCA';

/**
 * server mode (client = no): accept TLS from `peers`, connect plain to `backend`.
 * client mode (client = yes): accept plain on localhost, connect TLS to `ip:port` (`host` with delay = yes
 * is resolved for every connection), verifyChain + checkHost.
 */
const SERVICES = [
  { name: 'https-in', client: false, verify: false, weight: 30, accept: '0.0.0.0:443', backend: '127.0.0.1:8080', cert: 'www' },
  { name: 'imaps', client: false, verify: false, weight: 12, accept: '0.0.0.0:993', backend: '127.0.0.1:143', cert: 'mail' },
  { name: 'smtps', client: false, verify: false, weight: 8, accept: '0.0.0.0:465', backend: '127.0.0.1:25', cert: 'mail' },
  { name: 'mqtt-mtls', client: false, verify: true, weight: 10, accept: '0.0.0.0:8883', backend: '127.0.0.1:1883', cert: 'mqtt' },
  { name: 'pg-out', client: true, weight: 14, accept: '127.0.0.1:15432', host: 'db1.internal.example', ip: '10.20.0.11', port: 5433 },
  { name: 'redis-tls', client: true, weight: 12, accept: '127.0.0.1:16379', host: null, ip: '10.20.0.12', port: 6380 },
  { name: 'ldap-out', client: true, weight: 6, accept: '127.0.0.1:1389', host: 'ldap.corp.example', ip: '10.20.1.5', port: 636 },
  { name: 'api-upstream', client: true, weight: 8, accept: '127.0.0.1:18443', host: 'api.partner.example', ip: '192.0.2.80', port: 443 },
];

/** Failure kinds: weight, whether a service can show it, and the truth key (doctor's kind/reason). */
const FAILURES = [
  { kind: 'cert', weight: 35, fits: (s) => s.client || s.verify },
  { kind: 'refused', weight: 20, fits: () => true, key: 'connect_failed/refused' },
  { kind: 'dns', weight: 12, fits: (s) => s.client && s.host !== null, key: 'connect_failed/dns' },
  { kind: 'wrong_version', weight: 15, fits: () => true, key: 'tls_handshake_failed/peer_not_tls' },
  { kind: 'timeout', weight: 18, fits: () => true, key: 'tls_handshake_failed/timeout' },
];

/** Certificate rejections: the CERT line, the depth it is reported at, and doctor's reason. */
const CERT_REJECTIONS = {
  unknown_issuer: { weight: 30, text: 'CERT: Pre-verification error: unable to get local issuer certificate', depth: 0, alert: 'unknown CA', reason: 'unknown_issuer' },
  untrusted_root: { weight: 15, text: 'CERT: Pre-verification error: self-signed certificate in certificate chain', depth: 1, alert: 'unknown CA', reason: 'unknown_issuer' },
  expired: { weight: 25, text: 'CERT: Pre-verification error: certificate has expired', depth: 0, alert: 'certificate expired', reason: 'expired', chainOk: true },
  hostname: { weight: 20, text: 'CERT: Subject checks failed', depth: 0, alert: 'internal error', reason: 'hostname_mismatch', chainOk: true, leafOk: true, clientOnly: true },
  self_signed: { weight: 10, text: 'CERT: Pre-verification error: self-signed certificate', depth: 0, alert: 'unknown CA', reason: 'self_signed', selfSigned: true },
};

const STAT_LINES_CLIENT = ['client connect(s) requested', 'client connect(s) succeeded', 'client renegotiation(s) requested'];
const STAT_LINES_SERVER = ['server accept(s) requested', 'server accept(s) succeeded', 'server renegotiation(s) requested'];
const STAT_LINES_CACHE = [
  'session reuse(s)', 'internal session cache item(s)', 'internal session cache fill-up(s)', 'internal session cache miss(es)',
  'external session cache hit(s)', 'expired session(s) retrieved',
];

const pad2 = (n) => (n < 10 ? `0${n}` : `${n}`);
function stampOf(sec) {
  const d = new Date(sec * 1000);
  return `${d.getUTCFullYear()}.${pad2(d.getUTCMonth() + 1)}.${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

function pickWeighted(rand, items) {
  let total = 0;
  for (const it of items) total += it.weight;
  let r = rand() * total;
  for (const it of items) {
    r -= it.weight;
    if (r < 0) return it;
  }
  return items[items.length - 1];
}

export function generate({ lines: target, debug, seed = 42, out }) {
  if (debug !== 5 && debug !== 7) throw new Error('--debug must be 5 or 7');
  const rand = prng(seed);
  const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
  const hex = (n) => {
    let s = '';
    while (s.length < n) s += Math.floor(rand() * 4294967296).toString(16).toUpperCase().padStart(8, '0');
    return s.slice(0, n);
  };
  const publicPeers = [];
  for (let i = 0; i < 240; i++) publicPeers.push(`${['198.51.100', '203.0.113', '192.0.2'][i % 3]}.${1 + ((i * 37) % 250)}`);
  const serviceWeights = SERVICES.map((s) => ({ ...s }));
  const stats = new Map(SERVICES.map((s) => [s.name, { connects: 0, good: 0, items: 0, misses: 0 }]));

  const truth = {
    generator: 'stunnel-doctor bench/generate.mjs (synthetic stunnel 5.68 lines)',
    version: GENERATOR_VERSION, seed, debug, targetLines: target,
    lines: 0, bytes: 0, connections: 0, restarts: 0, maxConcurrent: 0,
    counts: {},
  };
  const count = (k, n = 1) => {
    truth.counts[k] = (truth.counts[k] ?? 0) + n;
  };

  const fd = openSync(out, 'w');
  let buf = [];
  let bufLines = 0;
  let clock = Date.UTC(2026, 0, 5, 8, 0, 0) / 1000;
  let clockFrac = 0;
  let stampSec = -1;
  let stamp = '';
  const flush = () => {
    if (!buf.length) return;
    const s = `${buf.join('\n')}\n`;
    truth.bytes += Buffer.byteLength(s);
    writeSync(fd, s);
    buf = [];
    bufLines = 0;
  };
  /** Writes one line (`LOG<n>[<id>]: text`) under the current clock. */
  const emit = (body) => {
    if (stampSec !== clock) {
      stampSec = clock;
      stamp = stampOf(clock);
    }
    buf.push(`${stamp} ${body}`);
    truth.lines++;
    if (++bufLines >= 32768) flush();
  };
  const advance = (seconds) => {
    clockFrac += seconds;
    if (clockFrac >= 1) {
      const whole = Math.floor(clockFrac);
      clock += whole;
      clockFrac -= whole;
    }
  };

  // ------------------------------------------------------------------ process lines ([ui], [main], [cron])
  const proc = (level, id, text) => {
    if (level <= debug) emit(`LOG${level}[${id}]: ${text}`);
  };
  let lastCronDay = -1;
  const cron = () => {
    const day = Math.floor(clock / 86400);
    if (day === lastCronDay) return;
    lastCronDay = day;
    proc(6, 'cron', 'Executing cron jobs');
    proc(6, 'cron', 'Cron jobs completed in 0 seconds');
  };
  const startup = () => {
    proc(7, 'ui', 'Clients allowed=500');
    proc(7, 'ui', 'Initializing inetd mode configuration');
    proc(5, 'ui', 'stunnel 5.68 on x86_64-pc-linux-gnu platform');
    proc(5, 'ui', 'Compiled with OpenSSL 3.0.9 30 May 2023');
    proc(5, 'ui', 'Running  with OpenSSL 3.0.11 19 Sep 2023');
    proc(5, 'ui', 'Threading:PTHREAD Sockets:POLL,IPv6,SYSTEMD TLS:ENGINE,OCSP,PSK,SNI Auth:LIBWRAP');
    proc(7, 'ui', 'errno: (*__errno_location ())');
    proc(7, 'ui', 'Initializing inetd mode configuration');
    proc(5, 'ui', 'Reading configuration from file /etc/stunnel/stunnel.conf');
    proc(5, 'ui', 'UTF-8 byte order mark not detected');
    proc(5, 'ui', 'FIPS mode disabled');
    for (const s of SERVICES) {
      proc(7, 'ui', `Initializing service [${s.name}]`);
      proc(7, 'ui', 'OpenSSL security level is used: 2');
      proc(7, 'ui', 'Ciphers: HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK');
      proc(7, 'ui', 'TLSv1.3 ciphersuites: TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256');
      proc(6, 'ui', 'Session resumption enabled');
      if (s.client) {
        proc(6, 'ui', `Configured trusted server CA: ${CA_INTERNAL}`);
        proc(7, 'ui', 'No certificate or private key specified');
        proc(7, 'ui', 'DH initialization skipped: client section');
      } else {
        if (s.verify) proc(6, 'ui', `Configured trusted client CA: ${CA_DEVICES}`);
        else proc(3, 'ui', 'No trusted certificates found'); // 5.68: every section without a CA (harmless)
        proc(6, 'ui', `Loading certificate from file: /etc/stunnel/certs/${s.cert}.pem`);
        proc(6, 'ui', `Loading private key from file: /etc/stunnel/private/${s.cert}.key`);
        proc(7, 'ui', 'Private key check succeeded');
        proc(7, 'ui', 'DH initialization skipped: no DH ciphersuites');
      }
      proc(7, 'ui', 'ECDH initialized with curves X25519:P-256:X448:P-521:P-384');
    }
    for (const s of SERVICES) {
      if (!s.client && s.verify) {
        proc(4, 'ui', `Service [${s.name}] uses "verifyChain" without subject checks`);
        proc(4, 'ui', 'Use "checkHost" or "checkIP" to restrict trusted certificates');
        count('config_warning/no_subject_check');
      }
    }
    proc(5, 'ui', 'Configuration successful');
    count('proxy_started/ok');
    let bfd = 9;
    for (const s of SERVICES) proc(6, 'ui', `Service [${s.name}] (FD=${bfd++}) bound to ${s.accept}`);
    proc(6, 'main', 'Accepting new connections');
    lastCronDay = -1;
    cron();
  };
  const shutdown = () => {
    proc(7, 'main', 'Processing SIGNAL_TERMINATE');
    proc(5, 'main', 'Terminated');
    count('proxy_stopped/terminated');
    proc(6, 'main', 'Terminating 0 service thread(s)');
    proc(6, 'main', 'Service threads terminated');
    for (const s of SERVICES) proc(7, 'main', `Unbinding service [${s.name}]`);
    proc(7, 'main', `Leak detection table utilization: ${int(12, 40)}/997, ${(int(120, 400) / 100).toFixed(2)}%`);
  };

  // ------------------------------------------------------------------ one connection's lines
  let seq = 0;
  /** Returns the lines of a new connection (already filtered by the debug level) and counts its truth. */
  const connection = (open) => {
    const s = pickWeighted(rand, serviceWeights);
    const id = String(seq++);
    const L = [];
    const P = [`LOG0[${id}]: `, `LOG1[${id}]: `, `LOG2[${id}]: `, `LOG3[${id}]: `, `LOG4[${id}]: `, `LOG5[${id}]: `, `LOG6[${id}]: `, `LOG7[${id}]: `];
    const l = (level, text) => {
      if (level <= debug) L.push(P[level] + text);
    };
    const d7 = debug >= 7;
    const st = stats.get(s.name);

    let fail = null;
    let rej = null;
    if (rand() < FAILURE_RATE) {
      fail = pickWeighted(rand, FAILURES.filter((f) => f.fits(s)));
      if (fail.kind === 'cert') {
        rej = pickWeighted(rand, Object.values(CERT_REJECTIONS).filter((r) => s.client || !r.clientOnly));
      }
    }
    truth.connections++;
    count('accepted');
    count(fail === null ? 'connection_closed/ok' : fail.kind === 'cert' ? `cert_verify_failed/${rej.reason}` : fail.key);

    const peer = s.client ? '127.0.0.1' : publicPeers[int(0, publicPeers.length - 1)];
    const peerPort = int(1024, 65535);
    const lfd = int(11, 60);
    const rfd = lfd + 1;
    const left = () => `Service [${s.name}] finished (${Math.max(0, open - 1 + int(-2, 2))} left)`;
    const poll = (n) => {
      for (let i = 0; i < n; i++) {
        l(7, `FD=${lfd} events=0x2001 revents=0x${rand() < 0.5 ? '1' : '0'}`);
        l(7, `FD=${rfd} events=0x2001 revents=0x${rand() < 0.5 ? '1' : '0'}`);
      }
    };
    const mode = s.client ? 'connect' : 'accept';
    const tls = (state) => l(7, `TLS state (${mode}): ${state}`);
    const end = (status, toTls, toSock) => l(5, `Connection ${status}: ${toTls} byte(s) sent to TLS, ${toSock} byte(s) sent to socket`);
    const finish = () => l(7, left());

    if (d7) L.push(`LOG7[main]: Service [${s.name}] accepted (FD=${lfd - 2}) from ${peer}:${peerPort}`);
    l(7, `Service [${s.name}] started`);
    l(5, `Service [${s.name}] accepted connection from ${peer}:${peerPort}`);

    /** Plain TCP connect to a backend (server mode after TLS) or to the TLS remote (client mode). */
    const connectTo = (target, refused) => {
      l(6, `s_connect: connecting ${target}`);
      l(7, `s_connect: s_poll_wait ${target}: waiting 10 seconds`);
      l(7, `FD=${lfd - 6} events=0x2001 revents=0x0`);
      l(7, `FD=${rfd} events=0x2005 revents=0x${refused ? '1d' : '4'}`);
      if (refused) {
        l(3, `s_connect: connect ${target}: Connection refused (111)`);
        l(3, 'No more addresses to connect');
        return false;
      }
      l(5, `s_connect: connected ${target}`);
      l(5, `Service [${s.name}] connected remote server from ${s.client ? '10.20.0.2' : '127.0.0.1'}:${int(32768, 60999)}`);
      l(7, `Remote descriptor (FD=${rfd}) initialized`);
      return true;
    };
    const statsLines = () => {
      st.connects++;
      st.good++;
      st.items = Math.min(st.items + 1, 20480);
      for (const [i, t] of (s.client ? STAT_LINES_CLIENT : STAT_LINES_SERVER).entries()) {
        const n = i === 0 ? st.connects : i === 1 ? st.good : 0;
        l(7, `${String(n).padStart(6)} ${t}`);
      }
      const cache = [0, st.items, 0, st.misses, 0, 0];
      for (let i = 0; i < STAT_LINES_CACHE.length; i++) l(7, `${String(cache[i]).padStart(6)} ${STAT_LINES_CACHE[i]}`);
    };
    const established = () => {
      l(6, `TLS ${s.client ? 'connected' : 'accepted'}: new session negotiated`);
      l(6, 'TLSv1.3 ciphersuite: TLS_AES_256_GCM_SHA384 (256-bit encryption)');
      l(6, 'Peer temporary key: X25519, 253 bits');
    };
    const closeClean = () => {
      poll(int(4, 9));
      const toTls = int(120, 250000);
      const toSock = int(80, 900000);
      if (s.client) {
        l(6, 'Read socket closed (read hangup)');
        l(7, `local_rfd/local_wfd reset (FD=${lfd})`);
        l(7, 'TLS alert (write): warning: close notify');
        l(6, 'SSL_shutdown successfully sent close_notify alert');
        l(7, `FD=${rfd} events=0x2001 revents=0x1`);
        l(7, 'TLS alert (read): warning: close notify');
        l(6, 'TLS closed (SSL_read)');
      } else {
        l(7, 'TLS alert (read): warning: close notify');
        l(6, 'TLS closed (SSL_read)');
        l(7, 'TLS alert (write): warning: close notify');
        l(6, 'SSL_shutdown successfully sent close_notify alert');
        l(7, `FD=${lfd} events=0x2001 revents=0x1`);
        l(6, 'Read socket closed (read hangup)');
      }
      l(7, `Remote descriptor (FD=${rfd}) closed`);
      l(7, `Local descriptor (FD=${lfd}) closed`);
      end('closed', toTls, toSock);
      finish();
    };
    /** Verification of the peer chain: normal chains go from depth 1 to 0. */
    const verifyChain = (leaf, chainCa) => {
      l(7, `Verification started at depth=1: ${chainCa}`);
      l(7, 'CERT: Pre-verification succeeded');
      l(6, `Certificate accepted at depth=1: ${chainCa}`);
      l(7, `Verification started at depth=0: ${leaf}`);
      l(7, 'CERT: Pre-verification succeeded');
    };
    const reject = (r, leaf, chainCa, alertSide) => {
      if (r.chainOk) {
        verifyChain(leaf, chainCa);
      } else if (r.depth === 1) {
        l(7, `Verification started at depth=1: ${CA_ROGUE}`);
      } else {
        l(7, `Verification started at depth=0: ${leaf}`);
      }
      l(4, r.text);
      l(4, `Rejected by CERT at depth=${r.depth}: ${r.depth === 1 ? CA_ROGUE : leaf}`);
      l(7, `TLS alert (write): fatal: ${r.alert}`);
      l(3, `${alertSide}: ../ssl/statem/statem_${s.client ? 'clnt.c:1889' : 'srvr.c:3510'}: error:0A000086:SSL routines::certificate verify failed`);
    };

    if (s.client) {
      const target = `${s.ip}:${s.port}`;
      const leafCn = s.host ?? s.ip;
      if (fail?.kind === 'dns') {
        l(3, `Error resolving "${s.host}": ${rand() < 0.6 ? 'Neither nodename nor servname known (EAI_NONAME)' : 'Temporary failure in name resolution (EAI_AGAIN)'}`);
        l(3, 'No remote host resolved');
        l(7, `Local descriptor (FD=${lfd}) closed`);
        end('reset', 0, 0);
        finish();
        return L;
      }
      if (!connectTo(target, fail?.kind === 'refused')) {
        l(7, `Local descriptor (FD=${lfd}) closed`);
        end('reset', 0, 0);
        finish();
        return L;
      }
      l(6, `SNI: sending servername: ${leafCn}`);
      l(6, 'Peer certificate required');
      tls('before SSL initialization');
      tls('SSLv3/TLS write client hello');
      poll(1);
      if (fail?.kind === 'timeout') {
        poll(int(1, 3));
        l(6, 'ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset');
        l(7, `Remote descriptor (FD=${rfd}) closed`);
        l(7, `Local descriptor (FD=${lfd}) closed`);
        end('reset', 0, 0);
        finish();
        return L;
      }
      if (fail?.kind === 'wrong_version') {
        l(3, 'SSL_connect: ../ssl/record/ssl3_record.c:354: error:0A00010B:SSL routines::wrong version number');
        l(7, `Remote descriptor (FD=${rfd}) closed`);
        l(7, `Local descriptor (FD=${lfd}) closed`);
        end('reset', 0, 0);
        finish();
        return L;
      }
      tls('SSLv3/TLS write client hello');
      tls('SSLv3/TLS read server hello');
      tls('TLSv1.3 read encrypted extensions');
      const leaf = rej?.selfSigned ? `O=Lab, CN=${leafCn}` : `O=Example Corp, CN=${rej?.reason === 'hostname_mismatch' ? 'wrong.example' : leafCn}`;
      if (rej) {
        reject(rej, leaf, CA_INTERNAL, 'SSL_connect');
        l(7, `Remote descriptor (FD=${rfd}) closed`);
        l(7, `Local descriptor (FD=${lfd}) closed`);
        end('closed/reset', 0, 0);
        finish();
        return L;
      }
      verifyChain(leaf, CA_INTERNAL);
      l(6, `CERT: Host name "${leafCn}" matched with "${leafCn}"`);
      l(5, `Certificate accepted at depth=0: ${leaf}`);
      tls('SSLv3/TLS read server certificate');
      tls('TLSv1.3 read server certificate verify');
      tls('SSLv3/TLS read finished');
      tls('SSLv3/TLS write change cipher spec');
      tls('SSLv3/TLS write finished');
      statsLines();
      established();
      poll(1);
      tls('SSL negotiation finished successfully');
      tls('SSLv3/TLS read server session ticket');
      l(7, 'New session callback');
      l(7, `Peer certificate was cached (${int(1100, 1500)} bytes)`);
      l(6, `Session id: ${hex(64)}`);
      closeClean();
      return L;
    }

    // server mode: TLS first, then the backend
    l(6, s.verify ? 'Peer certificate required' : 'Peer certificate not required');
    tls('before SSL initialization');
    tls('before SSL initialization');
    if (fail?.kind === 'wrong_version') {
      l(3, 'SSL_accept: ../ssl/record/ssl3_record.c:354: error:0A00010B:SSL routines::wrong version number');
      l(7, `Local descriptor (FD=${lfd}) closed`);
      end('reset', 0, 0);
      finish();
      return L;
    }
    if (fail?.kind === 'timeout') {
      poll(int(1, 3));
      l(6, 'ssl_start: s_poll_wait: TIMEOUTbusy exceeded: sending reset');
      l(7, `Local descriptor (FD=${lfd}) closed`);
      end('reset', 0, 0);
      finish();
      return L;
    }
    tls('SSLv3/TLS read client hello');
    tls('SSLv3/TLS write server hello');
    tls('SSLv3/TLS write change cipher spec');
    tls('TLSv1.3 write encrypted extensions');
    if (s.verify) tls('SSLv3/TLS write certificate request');
    tls('SSLv3/TLS write certificate');
    tls('TLSv1.3 write server certificate verify');
    tls('SSLv3/TLS write finished');
    tls('TLSv1.3 early data');
    poll(1);
    tls('TLSv1.3 early data');
    if (s.verify) {
      const leaf = `O=Example Corp, CN=device-${int(1000, 9999)}`;
      if (rej) {
        reject(rej, rej.selfSigned ? leaf.replace('Example Corp', 'Lab') : leaf, CA_DEVICES, 'SSL_accept');
        l(7, `Local descriptor (FD=${lfd}) closed`);
        end('reset/closed', 0, 0);
        finish();
        return L;
      }
      verifyChain(leaf, CA_DEVICES);
      l(6, 'CERT: No subject checks configured');
      l(5, `Certificate accepted at depth=0: ${leaf}`);
      tls('SSLv3/TLS read client certificate');
      tls('SSLv3/TLS read certificate verify');
    }
    tls('SSLv3/TLS read finished');
    tls('SSLv3/TLS write session ticket');
    l(7, 'New session callback');
    l(6, `Session id: ${hex(64)}`);
    tls('SSLv3/TLS write session ticket');
    statsLines();
    established();
    if (!connectTo(s.backend, fail?.kind === 'refused')) {
      l(7, 'TLS alert (write): warning: close notify');
      l(6, 'SSL_shutdown successfully sent close_notify alert');
      l(7, `Local descriptor (FD=${lfd}) closed`);
      end('reset', 0, 0);
      finish();
      return L;
    }
    closeClean();
    return L;
  };

  // ------------------------------------------------------------------ interleaving
  startup();
  let nextRestart = truth.lines + int(Math.floor(target / 6), Math.floor(target / 3));
  if (target < 50_000) nextRestart = Infinity;
  let concurrency = 20;
  const active = []; // { lines, pos }
  const open = () => {
    advance(0.05 + rand() * 0.4);
    active.push({ lines: connection(active.length + 1), pos: 0 });
    if (active.length > truth.maxConcurrent) truth.maxConcurrent = active.length;
  };
  let draining = false;
  while (true) {
    if (!draining) {
      if (truth.lines >= target) draining = true;
      else if (truth.lines >= nextRestart) draining = true;
      else {
        if (rand() < 0.002) concurrency = Math.max(16, Math.min(32, concurrency + (rand() < 0.5 ? -1 : 1)));
        while (active.length < concurrency) open();
      }
    }
    if (active.length === 0) {
      if (truth.lines >= target) break;
      // every connection of this run has ended: restart stunnel
      advance(1 + rand() * 3);
      shutdown();
      advance(1 + rand() * 2);
      truth.restarts++;
      seq = 0;
      startup();
      nextRestart = truth.lines + int(Math.floor(target / 6), Math.floor(target / 3));
      draining = false;
      continue;
    }
    const i = Math.floor(rand() * active.length);
    const c = active[i];
    emit(c.lines[c.pos++]);
    if (c.pos === c.lines.length) {
      active[i] = active[active.length - 1];
      active.pop();
    }
    if (debug >= 6 && (truth.lines & 1023) === 0) cron();
  }
  flush();
  closeSync(fd);
  truth.counts = Object.fromEntries(Object.entries(truth.counts).sort(([a], [b]) => a.localeCompare(b)));
  truth.failedConnections = truth.connections - (truth.counts['connection_closed/ok'] ?? 0);
  truth.failureShare = +(truth.failedConnections / truth.connections).toFixed(4);
  truth.linesPerConnection = +((truth.lines) / truth.connections).toFixed(1);
  writeFileSync(`${out}.truth.json`, `${JSON.stringify(truth, null, 2)}\n`);
  return truth;
}

function parseArgs(argv) {
  const o = { lines: 1_000_000, debug: 5, seed: 42, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--lines') o.lines = Math.round(Number(v)), i++;
    else if (a === '--debug') o.debug = Number(v), i++;
    else if (a === '--seed') o.seed = Number(v), i++;
    else if (a === '--out') o.out = v, i++;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.out) throw new Error('--out FILE is required');
  if (!(o.lines > 0)) throw new Error('--lines must be a positive number (1e6 is fine)');
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const o = parseArgs(process.argv.slice(2));
    const t0 = performance.now();
    const t = generate(o);
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    process.stderr.write(`${o.out}: ${t.lines} lines, ${(t.bytes / 1e6).toFixed(1)} MB, ${t.connections} connections (${(t.failureShare * 100).toFixed(1)}% failed), ${t.restarts} restarts, ${s} s\n`);
  } catch (e) {
    process.stderr.write(`generate: ${e.message}\n`);
    process.exitCode = 2;
  }
}
