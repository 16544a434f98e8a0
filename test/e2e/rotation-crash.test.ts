/**
 * End to end: a real, long-running stunnel4 (5.68, daemon mode, `output =`, debug = 5) with three services
 * whose backends fail in different ways (connect refused, a TLS backend with a certificate from an unknown
 * CA) next to a healthy one (`openssl s_server -rev` with a trusted certificate), connections made
 * continuously, the log rotated twice by the real Debian `logrotate` (once `create` + postrotate SIGUSR1,
 * once `copytruncate`), and the sidecar (`stunnel-doctor watch`) killed with SIGKILL at random points and
 * restarted with the same `--state-dir`. The union of the NDJSON events of all incarnations must equal a
 * one-shot `scanFiles()` of the rotated files plus the current log: nothing lost, duplicates only with an
 * equal id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, chmodSync, readdirSync, statSync, openSync, closeSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { scanFiles } from '../../src/scan.js';

const ROOT = resolve(import.meta.dirname, '../..');
const STUNNEL = '/usr/bin/stunnel4';
const have = (cmd: string): boolean => spawnSync('bash', ['-c', `command -v ${cmd}`]).status === 0;
const toolsPresent = existsSync(STUNNEL) && have('logrotate') && have('socat') && have('openssl');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A free TCP port: random in 30000-40000, checked by binding it. */
const usedPorts = new Set<number>();
async function freePort(): Promise<number> {
  for (;;) {
    const p = 30000 + Math.floor(Math.random() * 10000);
    if (usedPorts.has(p)) continue;
    const ok = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(p, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (ok) {
      usedPorts.add(p);
      return p;
    }
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const listening = (port: number): boolean =>
  spawnSync('ss', ['-Hltn', `( sport = :${port} )`], { encoding: 'utf8' }).stdout.trim() !== '';

function sh(cmd: string, cwd?: string): string {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  if (r.status !== 0) throw new Error(`command failed (${r.status}): ${cmd}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// ------------------------------------------------------------------------------------------ processes
/** Every helper leads its own process group; all are killed by group id in afterAll. */
const children: ChildProcess[] = [];
function bg(cmd: string, args: string[], stderrFile?: string): ChildProcess {
  const err = stderrFile ? openSync(stderrFile, 'a') : 'ignore';
  const c = spawn(cmd, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'ignore', err] });
  if (typeof err === 'number') closeSync(err);
  children.push(c);
  return c;
}
function killGroup(c: ChildProcess, sig: NodeJS.Signals): void {
  if (c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    // already gone
  }
}
const exited = (c: ChildProcess): Promise<void> =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));

let stunnelPid: number | null = null;
const alive = (pid: number): boolean => {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return st !== undefined && st !== 'Z' && st !== 'X';
  } catch {
    return false;
  }
};

// ------------------------------------------------------------------------------------------ the run
interface Ev { id: string; kind: string; reason: string; service: string | null; connection: number | null }
const pick = (e: Ev): Ev => ({ id: e.id, kind: e.kind, reason: e.reason, service: e.service ?? null, connection: e.connection ?? null });

describe.skipIf(!toolsPresent)('e2e: real stunnel4 + logrotate (create, copytruncate) + sidecar SIGKILLs', () => {
  let dir = '';
  let passed = false;
  afterAll(async () => {
    if (stunnelPid !== null && alive(stunnelPid)) {
      try {
        process.kill(stunnelPid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const c of children) killGroup(c, 'SIGKILL');
    await Promise.all(children.map((c) => Promise.race([exited(c), sleep(2000)])));
    // The artefacts (state dir, NDJSON of every incarnation, sidecar logs, rotated logs) of a failing run stay.
    if (passed) rmSync(dir, { recursive: true, force: true });
    else if (dir) console.error(`e2e artefacts kept in ${dir}`);
  });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sd-e2e-rot-'));
  });

  it('loses no event and duplicates only with equal ids', async () => {
    const t0 = Date.now();
    const pki = join(dir, 'pki');
    // Throw-away PKI (EC keys: fast): TrustedCA signs the healthy backend, UnknownCA (trusted by nobody) the bad one.
    sh(`set -e; mkdir -p ${pki}; cd ${pki}
      ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
      ec root.key; openssl req -new -x509 -key root.key -subj "/O=Lab/CN=TrustedCA" -days 30 -out root.pem
      ec unk.key;  openssl req -new -x509 -key unk.key  -subj "/O=Lab/CN=UnknownCA" -days 30 -out unk.pem
      printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
      for n in server:root untrusted:unk; do
        leaf=\${n%%:*}; ca=\${n##*:}
        ec $leaf.key
        openssl req -new -key $leaf.key -subj "/O=Lab/CN=localhost" -out $leaf.csr
        openssl x509 -req -in $leaf.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial -days 30 -extfile ext.cnf -out $leaf.pem 2>/dev/null
      done`);

    const [pOk, pRef, pBad, qOk, qBad, rClosed] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    // Healthy and unknown-CA TLS backends: openssl s_server reversing lines (one connection after the other).
    bg('openssl', ['s_server', '-accept', `127.0.0.1:${qOk}`, '-cert', join(pki, 'server.pem'), '-key', join(pki, 'server.key'), '-rev', '-quiet']);
    bg('openssl', ['s_server', '-accept', `127.0.0.1:${qBad}`, '-cert', join(pki, 'untrusted.pem'), '-key', join(pki, 'untrusted.key'), '-rev', '-quiet']);
    await waitFor(() => listening(qOk) && listening(qBad), 5000, 'TLS backends');

    const logf = join(dir, 'stunnel.log');
    const pidf = join(dir, 'stunnel.pid');
    const conf = join(dir, 'stunnel.conf');
    const verify = `verifyChain = yes\nCAfile = ${pki}/root.pem\ncheckHost = localhost`;
    writeFileSync(conf, `pid = ${pidf}
output = ${logf}
debug = 5
syslog = no
foreground = no

[svc-ok]
client = yes
accept = 127.0.0.1:${pOk}
connect = 127.0.0.1:${qOk}
${verify}

[svc-refused]
client = yes
accept = 127.0.0.1:${pRef}
connect = 127.0.0.1:${rClosed}
${verify}

[svc-untrusted]
client = yes
accept = 127.0.0.1:${pBad}
connect = 127.0.0.1:${qBad}
${verify}
`);
    const st = spawnSync(STUNNEL, [conf], { encoding: 'utf8' });
    expect(st.status, st.stderr).toBe(0);
    await waitFor(() => existsSync(pidf) && readFileSync(pidf, 'utf8').trim() !== '', 5000, 'stunnel pid file');
    stunnelPid = Number(readFileSync(pidf, 'utf8').trim());
    await waitFor(() => listening(pOk) && listening(pRef) && listening(pBad), 5000, 'stunnel ports');

    // ---------------------------------------------------------------- the sidecar, one incarnation per NDJSON file
    const stateDir = join(dir, 'state');
    const ndjson: string[] = [];
    const stderrs: string[] = [];
    let sidecar: ChildProcess | null = null;
    const startSidecar = (): void => {
      const n = ndjson.length + 1;
      const out = join(dir, `events-${n}.ndjson`);
      ndjson.push(out);
      stderrs.push(join(dir, `sidecar-${n}.stderr`));
      // node --import tsx, not npx: on a loaded machine npx alone takes seconds.
      sidecar = bg(process.execPath, ['--import', 'tsx', 'src/bin.ts', 'watch', '--log', `p=${logf}`, '--state-dir', stateDir, '--listen', '127.0.0.1:0', '--events-out', out], stderrs[n - 1]);
    };
    /**
     * The incarnation follows the log (its "tail: opened" notice is out). Kills are placed at random points
     * after that, so that each incarnation really reads (the machine may be loaded: a start takes seconds).
     */
    const following = async (): Promise<void> => {
      const f = stderrs[stderrs.length - 1]!;
      await waitFor(() => existsSync(f) && readFileSync(f, 'utf8').includes('tail: opened'), 60_000, `sidecar ${stderrs.length} to follow the log`);
    };
    startSidecar();

    // ---------------------------------------------------------------- continuous connections
    const ports = [pOk, pRef, pBad];
    let made = 0;
    let inFlight = 0;
    let paused = false;
    let planDone = false;
    let madeAtPlanEnd = 0;
    const connect = (port: number): Promise<void> =>
      new Promise((res) => {
        inFlight++;
        made++;
        const c = spawn('bash', ['-c', `{ printf 'hello\\n'; sleep 0.2; } | timeout 8 socat -t 1 - TCP:127.0.0.1:${port}`], { stdio: 'ignore' });
        c.once('exit', () => {
          inFlight--;
          res();
        });
      });
    // Connections run during the whole plan (~4.5 a second), then until at least MIN were made and at least
    // AFTER more after the last restart (the last incarnation must also read live lines).
    const MIN = 60;
    const AFTER = 9;
    const traffic = (async () => {
      const pending: Promise<void>[] = [];
      while (!planDone || made < MIN || made < madeAtPlanEnd + AFTER) {
        if (paused) {
          await sleep(50);
          continue;
        }
        pending.push(connect(ports[made % ports.length]!));
        await sleep(220);
      }
      await Promise.all(pending);
    })();

    const logQuiet = async (): Promise<void> => {
      // no connection in flight and the log has not grown for 400 ms
      await waitFor(() => inFlight === 0, 30_000, 'connections to finish');
      let last = -1;
      for (;;) {
        const s = statSync(logf).size;
        if (s === last) return;
        last = s;
        await sleep(400);
      }
    };

    // ---------------------------------------------------------------- logrotate
    const lrState = join(dir, 'logrotate.state');
    const rotate = (mode: 'create' | 'copytruncate'): void => {
      const lrConf = join(dir, `logrotate-${mode}.conf`);
      writeFileSync(lrConf, `${logf} {
    rotate 10
    nocompress
    nodateext
    missingok
    ${mode === 'create' ? `create 0640 root root
    postrotate
        kill -USR1 $(cat ${pidf})
    endscript` : 'copytruncate'}
}
`);
      chmodSync(lrConf, 0o644);
      sh(`logrotate -f -s ${lrState} ${lrConf}`);
    };

    // ---------------------------------------------------------------- schedule: rotations and sidecar kills
    const kills: number[] = [];
    const kill = async (): Promise<void> => {
      const s = sidecar!;
      kills.push(Date.now() - t0);
      killGroup(s, 'SIGKILL');
      await exited(s);
    };
    const plan = async (): Promise<void> => {
      // A commit reaches the disk 1-2 s after the lines were read: kills land before and after one.
      await following();
      await sleep(Math.random() * 3000);
      await kill(); // 1: anywhere, often before the first checkpoint is written
      await sleep(Math.random() * 400);
      startSidecar();
      await following();
      await sleep(Math.random() * 1500);
      rotate('create'); // rename + create + SIGUSR1, under traffic
      await sleep(Math.random() * 2000);
      await kill(); // 2: a connection may have begun in the renamed file and end in the new one
      await sleep(Math.random() * 400);
      startSidecar();
      await following();
      await sleep(Math.random() * 3000);
      // copytruncate cannot be made lossless by any reader: lines stunnel writes between logrotate's copy
      // and its truncate exist in neither file (a logrotate limitation). The connections are paused around
      // this rotation so the rotated copy is complete; everything else runs under traffic.
      // The sidecar is SIGKILLed as the pause begins and restarted only after the rotation, so the lines it had
      // not committed are in `stunnel.log.1` (or `.2`, when it had not committed past the renamed file) only.
      paused = true;
      await kill(); // 3
      await logQuiet();
      rotate('copytruncate');
      startSidecar();
      paused = false;
      await following();
      await sleep(Math.random() * 3000);
      await kill(); // 4, while traffic still runs
      await sleep(Math.random() * 400);
      startSidecar();
      await following();
      madeAtPlanEnd = made;
      planDone = true;
    };
    await Promise.all([plan(), traffic]);
    expect(made).toBeGreaterThanOrEqual(MIN);

    // ---------------------------------------------------------------- clean stop of stunnel, last sidecar catches up
    await logQuiet();
    process.kill(stunnelPid, 'SIGTERM');
    await waitFor(() => !alive(stunnelPid!), 5000, 'stunnel to exit');
    const last = ndjson[ndjson.length - 1]!;
    await waitFor(() => existsSync(last) && readFileSync(last, 'utf8').includes('"proxy_stopped"'), 10000, 'proxy_stopped in the last NDJSON').catch(() => {});
    killGroup(sidecar!, 'SIGTERM');
    await Promise.race([exited(sidecar!), sleep(3000)]);

    // ---------------------------------------------------------------- compare
    const rotated = readdirSync(dir).filter((n) => /^stunnel\.log\.\d+$/.test(n))
      .sort((a, b) => Number(b.split('.').pop()) - Number(a.split('.').pop())).map((n) => join(dir, n));
    expect(rotated.map((f) => f.slice(dir.length + 1))).toEqual(['stunnel.log.2', 'stunnel.log.1']);
    const { events: scanned } = await scanFiles([...rotated, logf], { proxy: 'p' });
    const expected = scanned.map((e) => pick(e as unknown as Ev));

    const seen = new Map<string, Ev>();
    let dups = 0;
    let partial = 0;
    const perFile: number[] = [];
    for (const f of ndjson) {
      const lines = existsSync(f) ? readFileSync(f, 'utf8').split('\n') : [];
      let n = 0;
      for (const [i, line] of lines.entries()) {
        if (!line) continue;
        let e: Ev;
        try {
          e = pick(JSON.parse(line) as Ev);
        } catch (err) {
          // a SIGKILL may cut the last line of an incarnation's file (its offset was not committed)
          if (i >= lines.length - 2) {
            partial++;
            continue;
          }
          throw err;
        }
        n++;
        const prev = seen.get(e.id);
        if (prev) {
          dups++;
          expect(e, `duplicate id ${e.id} differs`).toEqual(prev);
        } else seen.set(e.id, e);
      }
      perFile.push(n);
    }
    const got = [...seen.values()];
    const byId = (a: Ev, b: Ev): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    const summary = {
      seconds: (Date.now() - t0) / 1000, connections: made, kills, incarnations: ndjson.length, perFile, dups, partial,
      scanned: expected.length,
      kinds: Object.fromEntries([...expected.reduce((m, e) => m.set(`${e.kind}/${e.reason}`, (m.get(`${e.kind}/${e.reason}`) ?? 0) + 1), new Map<string, number>())]),
    };
    console.log(JSON.stringify(summary));
    const missing = expected.filter((e) => !seen.has(e.id));
    const extra = got.filter((e) => !expected.some((x) => x.id === e.id));
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
    expect(got.sort(byId)).toEqual([...expected].sort(byId));
    // the scenario really happened
    expect(kills.length).toBe(4);
    expect(expected.filter((e) => e.kind === 'connect_failed' && e.reason === 'refused').length).toBeGreaterThanOrEqual(15);
    expect(expected.filter((e) => e.kind === 'cert_verify_failed' && e.reason === 'unknown_issuer').length).toBeGreaterThanOrEqual(15);
    expect(expected.filter((e) => e.kind === 'connection_closed' && e.reason === 'ok').length).toBeGreaterThanOrEqual(15);
    expect(expected.filter((e) => e.kind === 'proxy_stopped').length).toBe(1);
    passed = true;
  }, 150_000);
});
