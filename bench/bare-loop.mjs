#!/usr/bin/env node
/**
 * The practical ceiling for a Node scanner of stunnel logs: no rule engine, no events, no correlation
 * framework, just what the benchmark counts, hand-written.
 *
 *   node bench/bare-loop.mjs FILE...      → counts as JSON on stdout (same keys as FILE.truth.json)
 *
 * fs.createReadStream with 1 MiB chunks, lines split on byte 10 with indexOf, lines whose level byte no
 * rule needs (7) skipped before anything is decoded, a switch on the first character of the message to a
 * few anchored regular expressions, and an id → connection map (service, CERT reason, error seen, TLS
 * established) reset at each banner.
 */
import { createReadStream } from 'node:fs';
import { pathToFileURL } from 'node:url';

const RE_ACCEPTED = /^Service \[([^\]]*)\] accepted connection/;
const RE_SSL = /^SSL_(?:connect|accept): (.*)$/;
const RE_CLOSE = /^Connection (closed|reset|closed\/reset|reset\/closed): (\d+) byte\(s\) sent to TLS, (\d+) byte\(s\) sent to socket$/;
const RE_CERT_ERR = /^CERT: Pre-verification error: (.*)$/;
const RE_CONNECT_ERR = /^s_connect: connect \S+: (.*)$/;
const RE_BANNER = /^stunnel \S+ on \S+ platform$/;

function certReason(err) {
  if (err.includes('certificate has expired')) return 'expired';
  if (err.includes('not yet valid')) return 'not_yet_valid';
  if (/self.signed certificate in certificate chain|unable to get (?:local )?issuer certificate|unable to verify the first certificate/.test(err)) return 'unknown_issuer';
  if (/self.signed certificate$/.test(err)) return 'self_signed';
  if (err.includes('certificate revoked')) return 'revoked';
  if (err.includes('CRL')) return 'crl_unavailable';
  return 'other';
}

function handshakeReason(err) {
  if (/wrong version number|http request|packet length too long|unexpected message/.test(err)) return 'peer_not_tls';
  if (/unsupported protocol|version too low|alert protocol version/.test(err)) return 'protocol_version';
  if (/no shared cipher|alert handshake failure/.test(err)) return 'no_shared_cipher';
  if (/unexpected eof|Connection reset by peer/.test(err)) return 'peer_disconnected';
  return 'other';
}

/** The counting state and its per-line function: `line(buf, s, e)` for the line buf[s, e) (no newline). */
export function createCounter() {
  const counts = Object.create(null);
  const inc = (k) => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  let conns = new Map();
  let lines = 0;

  /** One line buf[s, e) in the file format `YYYY.MM.DD HH:MM:SS LOG<n>[<id>]: text`. */
  const line = (buf, s, e) => {
    lines++;
    if (e - s < 27 || buf[s + 20] !== 76 /* L */ || buf[s + 24] !== 91 /* [ */) return;
    const level = buf[s + 23] - 48;
    if (level > 6 || level < 0) return; // no rule needs debug-7 lines: skipped undecoded
    const close = buf.indexOf(93, s + 25);
    if (close < 0 || close >= e) return;
    const ms = close + 3;
    const c = buf[ms];
    // Only lines starting with a character some pattern needs are decoded.
    if (c !== 83 && c !== 67 && c !== 115 && c !== 69 && c !== 78 && c !== 84) return;
    const first = buf[s + 25];
    const isConn = first >= 48 && first <= 57;
    const msg = buf.latin1Slice(ms, e);
    if (!isConn) {
      if (level === 5) {
        if (msg === 'Configuration successful') inc('proxy_started/ok');
        else if (msg === 'Terminated') inc('proxy_stopped/terminated');
        else if (c === 115 && RE_BANNER.test(msg)) conns = new Map(); // ids start again at 0
      } else if (level === 4 && c === 83 && msg.endsWith('uses "verifyChain" without subject checks')) inc('config_warning/no_subject_check');
      return;
    }
    const id = buf.latin1Slice(s + 25, close);
    let m;
    switch (c) {
      case 83: // S
        if (level === 5 && (m = RE_ACCEPTED.exec(msg))) {
          conns.set(id, { service: m[1], cert: null, failed: false, tls: false });
          inc('accepted');
        } else if (level === 3 && (m = RE_SSL.exec(msg))) {
          const k = conns.get(id);
          if (k) k.failed = true;
          if (m[1].includes('certificate verify failed')) inc(`cert_verify_failed/${k?.cert ?? 'other'}`);
          else inc(`tls_handshake_failed/${handshakeReason(m[1])}`);
        }
        return;
      case 67: // C
        if (level === 5 && (m = RE_CLOSE.exec(msg))) {
          const k = conns.get(id);
          conns.delete(id);
          if (!k || k.failed) return;
          if (m[1] === 'closed') inc('connection_closed/ok');
          else if (m[1] === 'reset' && m[2] === '0' && m[3] === '0' && !k.tls) inc('tls_handshake_failed/timeout');
        } else if (level === 5 && msg.startsWith('Certificate accepted at depth=0: ')) {
          const k = conns.get(id);
          if (k) k.tls = true;
        } else if (level === 4 && (m = RE_CERT_ERR.exec(msg))) {
          const k = conns.get(id);
          if (k) k.cert = certReason(m[1]);
        } else if (level === 4 && msg === 'CERT: Subject checks failed') {
          const k = conns.get(id);
          if (k) k.cert = 'hostname_mismatch';
        }
        return;
      case 115: // s
        if (level === 3 && (m = RE_CONNECT_ERR.exec(msg))) {
          const k = conns.get(id);
          if (k) k.failed = true;
          const err = m[1];
          inc(`connect_failed/${err.startsWith('Connection refused') ? 'refused' : /No route to host|Network is unreachable/.test(err) ? 'no_route' : err.startsWith('Connection timed out') ? 'timeout' : 'other'}`);
        } else if (level === 6 && msg.startsWith('ssl_start: s_poll_wait: TIMEOUTbusy exceeded')) {
          const k = conns.get(id);
          if (k) k.failed = true;
          inc('tls_handshake_failed/timeout');
        }
        return;
      case 69: // E
        if (level === 3 && msg.startsWith('Error resolving "')) {
          const k = conns.get(id);
          if (k) k.failed = true;
          inc('connect_failed/dns');
        }
        return;
      case 78: // N
        if (level === 3 && (msg === 'No more addresses to connect' || msg === 'No remote host resolved')) {
          const k = conns.get(id);
          if (k) k.failed = true;
        }
        return;
      case 84: // T
        if (level === 6 && (msg.startsWith('TLS connected: ') || msg.startsWith('TLS accepted: '))) {
          const k = conns.get(id);
          if (k) k.tls = true;
        }
        return;
      default:
        return;
    }
  };

  const result = () => {
    const sorted = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
    return { lines, counts: sorted };
  };
  return { line, result };
}

export async function countFiles(files) {
  const { line, result } = createCounter();
  for (const file of files) {
    let carry = null;
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      let buf = chunk;
      let start = 0;
      if (carry) {
        const nl = chunk.indexOf(10);
        if (nl < 0) {
          carry = Buffer.concat([carry, chunk]);
          continue;
        }
        const joined = Buffer.concat([carry, chunk.subarray(0, nl)]);
        carry = null;
        line(joined, 0, joined.length);
        start = nl + 1;
      }
      let nl;
      while ((nl = buf.indexOf(10, start)) >= 0) {
        line(buf, start, nl);
        start = nl + 1;
      }
      if (start < buf.length) carry = Buffer.from(buf.subarray(start));
    }
    if (carry) line(carry, 0, carry.length);
  }
  return result();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = process.argv.slice(2);
  if (!files.length) {
    process.stderr.write('usage: node bench/bare-loop.mjs FILE...\n');
    process.exitCode = 2;
  } else {
    countFiles(files).then(
      (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
      (e) => {
        process.stderr.write(`bare-loop: ${e.message}\n`);
        process.exitCode = 2;
      },
    );
  }
}
