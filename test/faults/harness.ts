/**
 * Fault-injection harness: the real sidecar (`stunnel-doctor watch`, a child process, run as uid 65534 when the
 * tests run as root so that file modes bite) follows real stunnel logs (fixtures/*, in pieces) while faults are
 * injected. Used by test/faults/sidecar-faults.test.ts (a fast round) and scripts/fault-trial.mjs (many rounds,
 * a printed report). Not a test file.
 *
 * Accounting: every byte ever written to a followed path is also kept in an archive (a deleted or replaced file
 * keeps its content there), and the expected events are a one-shot `scanFiles` of each proxy's archived files in
 * order, as one continuing log, with the proxy's name (event ids depend only on proxy, content and offset). Delivered events are the NDJSON lines of
 * `--events-out` over every restart, deduplicated by id. Lost = expected ids never delivered.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync, chmodSync, chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync,
  rmSync, symlinkSync, unlinkSync, watch, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { scanFiles } from '../../src/index.js';
import { corpus, CORPUS_SCENARIOS, metricSum, prng, REPO, sleep, tmp, waitFor } from './helpers.js';

const ROOT_UID = process.getuid?.() === 0;
const NOBODY = 65534;

export interface TrialOptions {
  seed: number;
  /** kill -9 + restart rounds. */
  kills: number;
  /** SIGTERM-while-a-checkpoint-temp-file-exists rounds. */
  terms: number;
  /** Files created at once in the glob directory. */
  globFiles: number;
  log?: (s: string) => void;
}

export interface FaultRecord {
  fault: string;
  technique: string;
  observed: string;
}

export interface TrialResult {
  faults: FaultRecord[];
  restarts: number;
  expected: number;
  delivered: number;
  unique: number;
  lost: number;
  lostExamples: string[];
  unexpected: number;
  unexpectedExamples: string[];
  /** Ids delivered and expected whose kind/reason differ (the last delivery of the id counts). */
  mismatched: number;
  mismatchedExamples: string[];
  badNdjsonLines: number;
  metrics: Record<string, number>;
  sigtermMidWrite: number;
}

class Sidecar {
  child: ChildProcess | null = null;
  url = '';
  starts = 0;
  private errFile = '';
  constructor(private readonly args: string[], private readonly dir: string) {}

  async start(): Promise<void> {
    this.starts++;
    this.errFile = join(this.dir, `sidecar-${this.starts}.stderr`);
    const fd = openSync(this.errFile, 'w');
    if (ROOT_UID) chownSync(this.errFile, NOBODY, NOBODY);
    this.child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'src/bin.ts'), 'watch', ...this.args], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', fd],
      env: { ...process.env, LOG_LEVEL: 'info', HOME: '/tmp' },
      ...(ROOT_UID ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    closeSync(fd);
    const c = this.child;
    this.url = await waitFor(() => {
      if (c.exitCode !== null) throw new Error(`sidecar exited (${c.exitCode}): ${readFileSync(this.errFile, 'utf8').slice(-2000)}`);
      return /"url":"([^"]+)"/.exec(readFileSync(this.errFile, 'utf8'))?.[1];
    }, 'the sidecar to listen', 60_000);
  }

  async stop(signal: NodeJS.Signals): Promise<number | null> {
    const c = this.child;
    if (!c) return null;
    this.child = null;
    if (c.exitCode !== null || c.signalCode !== null) return c.exitCode;
    const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    c.kill(signal);
    return exited;
  }

  async get(path: string): Promise<string> {
    const r = await fetch(`${this.url}${path}`);
    return r.text();
  }

  async metric(name: string, match: Record<string, string> = {}): Promise<number> {
    return metricSum(await this.get('/metrics'), name, match);
  }

  stderr(): string {
    return readFileSync(this.errFile, 'utf8');
  }
}

/**
 * Cuts a buffer into about `n` pieces, each cut in the middle of a line: the first `accepted connection` line at or
 * after a random position (a cut between a failure's verdict and its end line, followed by a pause of seconds,
 * would be concluded by the sidecar's 5 s quiet period, as designed for logs without end lines, and differ from
 * a one-shot scan).
 */
function pieces(buf: Buffer, n: number, rand: () => number): Buffer[] {
  const starts: number[] = [];
  for (let i = buf.indexOf('accepted connection from'); i >= 0; i = buf.indexOf('accepted connection from', i + 1)) starts.push(i);
  for (let i = starts.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [starts[i], starts[j]] = [starts[j]!, starts[i]!];
  }
  // At most one cut per line: every piece but the first holds the end of a line (the sidecar moves on).
  const cuts = new Set(starts.slice(0, n - 1).map((at) => at + 3 + Math.floor(rand() * 10)));
  const at = [0, ...[...cuts].sort((a, b) => a - b), buf.length];
  return at.slice(1).map((e, i) => buf.subarray(at[i]!, e));
}

export async function runTrial(o: TrialOptions): Promise<TrialResult> {
  const say = o.log ?? (() => {});
  const rand = prng(o.seed);
  const dir = tmp('sd-fault-trial-');
  chmodSync(dir, 0o755);
  const own = (p: string) => {
    if (ROOT_UID) chownSync(p, NOBODY, NOBODY);
  };
  const logs = join(dir, 'logs');
  const glob = join(dir, 'glob');
  const archive = join(dir, 'archive');
  const state = join(dir, 'state');
  for (const d of [logs, glob, state]) {
    mkdirSync(d);
    own(d);
  }
  mkdirSync(archive);
  const out = join(dir, 'events.ndjson');
  writeFileSync(out, '');
  own(out);
  writeFileSync(join(dir, 'config.yaml'), `proxies:\n  - glob: ${glob}/*.log\n`);
  chmodSync(join(dir, 'config.yaml'), 0o644);

  // The archive: one file per (proxy, generation of its path); appended exactly as the followed path.
  const gens = new Map<string, { proxy: string; file: string }>();
  let genNo = 0;
  const newGen = (proxy: string, path: string) => {
    const file = join(archive, `${proxy}.${genNo++}`);
    writeFileSync(file, '');
    gens.set(path, { proxy, file });
  };
  const archived: { proxy: string; file: string }[] = [];
  const append = (proxy: string, path: string, b: Buffer, chown = true) => {
    if (!gens.has(path)) {
      newGen(proxy, path);
      archived.push(gens.get(path)!);
    }
    appendFileSync(path, b);
    appendFileSync(gens.get(path)!.file, b);
    if (ROOT_UID && chown && b.length > 0) chownSync(path, NOBODY, NOBODY);
  };
  const forget = (path: string) => gens.delete(path); // the path's next content is a new file
  /** End of the last complete line of what was written to `path` (where a caught-up sidecar's offset is). */
  const lineEnd = (path: string) => {
    const b = readFileSync(gens.get(path)!.file);
    return b.lastIndexOf(10) + 1;
  };

  const proxies = ['a', 'b', 'c', 'd'];
  const path = (p: string) => join(logs, `${p}.log`);
  // Each proxy gets the real corpus in its own scenario order, cut into pieces appended over the trial.
  const feeds = new Map<string, Buffer[]>();
  for (const [i, p] of proxies.entries()) {
    const order = CORPUS_SCENARIOS.map((s, k) => CORPUS_SCENARIOS[(k + i * 3) % CORPUS_SCENARIOS.length]!);
    feeds.set(p, pieces(corpus(order), 40, rand));
  }
  const feed = (p: string, n = 1) => {
    for (let i = 0; i < n; i++) {
      const b = feeds.get(p)!.shift();
      if (b) append(p, path(p), b);
    }
  };
  for (const p of proxies) writeFileSync(path(p), ''), own(path(p)), newGen(p, path(p)), archived.push(gens.get(path(p))!);

  const args = ['--config', join(dir, 'config.yaml'), '--state-dir', state, '--listen', '127.0.0.1:0', '--events-out', out];
  for (const p of proxies) args.push('--log', `${p}=${path(p)}`);
  const sc = new Sidecar(args, dir);
  const faults: FaultRecord[] = [];
  const fault = (f: string, technique: string, observed: string) => {
    faults.push({ fault: f, technique, observed });
    say(`fault: ${f} (${technique}): ${observed}`);
  };
  const ndjsonIds = () => {
    const ids = new Set<string>();
    for (const l of readFileSync(out, 'utf8').split('\n')) {
      if (!l) continue;
      try {
        ids.add((JSON.parse(l) as { id: string }).id);
      } catch {
        /* a line cut by kill -9 */
      }
    }
    return ids;
  };
  const asyncWait = async (fn: () => Promise<boolean>, what: string, ms = 60_000) => {
    const end = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${sc.stderr().slice(-3000)}`);
      await sleep(100);
    }
  };
  await sc.start();
  for (const p of proxies) feed(p, 2);
  await caughtUpAsync();
  /** Waits until the sidecar has read every followed file to its end (its /healthz offsets). */
  async function caughtUpAsync(what = 'the sidecar to catch up') {
    await asyncWait(async () => {
      try {
        const h = JSON.parse(await sc.get('/healthz')) as { proxies: { files: { path: string; offset: number }[] }[] };
        for (const p of h.proxies) {
          for (const f of p.files) {
            const g = gens.get(f.path);
            if (!g || !existsSync(f.path)) continue;
            if (f.offset !== lineEnd(f.path)) return false;
          }
        }
        return true;
      } catch {
        return false;
      }
    }, what, 90_000);
  }

  // ---------------------------------------------------------------- the state directory stops taking writes
  const cpFailures = () => sc.metric('stunnel_doctor_checkpoint_failures_total');
  const checkpointsAtEnd = () => {
    const offsets = new Map<string, number>();
    for (const n of readdirSync(state)) {
      if (!n.endsWith('.json')) continue;
      try {
        const j = JSON.parse(readFileSync(join(state, n), 'utf8')) as { record: { path: string; offset: number } };
        offsets.set(j.record.path, j.record.offset);
      } catch {
        /* being replaced */
      }
    }
    return proxies.every((p) => !gens.has(path(p)) || offsets.get(path(p)) === lineEnd(path(p)));
  };
  const stateFault = async (name: string, technique: string, inject: () => void, repair: () => void) => {
    const before = await cpFailures();
    inject();
    for (const p of proxies) feed(p);
    const delivered0 = ndjsonIds().size;
    await asyncWait(async () => (await cpFailures()) > before, `checkpoint failures to be counted (${name})`);
    await caughtUpAsync(`events while ${name}`);
    const served = (await sc.get('/healthz')).includes('"ok":true');
    const moreEvents = ndjsonIds().size > delivered0;
    repair();
    await asyncWait(async () => checkpointsAtEnd(), `checkpoints to be written again after ${name}`);
    fault(name, technique, `checkpoint failures +${(await cpFailures()) - before}, kept serving: ${served}, events kept flowing: ${moreEvents}, recovered: checkpoints at the end of every file`);
  };
  if (ROOT_UID) {
    await stateFault('state directory unwritable', 'chmod 0555 (sidecar runs as uid 65534)', () => chmodSync(state, 0o555), () => chmodSync(state, 0o755));
  }
  await stateFault('state directory replaced by a file', 'rename the directory away, create a file at its path (ENOTDIR)', () => {
    renameSync(state, `${state}.away`);
    writeFileSync(state, 'not a directory');
  }, () => {
    unlinkSync(state);
    renameSync(`${state}.away`, state);
  });
  // A full disk: a 64 KiB tmpfs over the state directory, filled up (ENOSPC). Needs mount (root in a container).
  let mounted = false;
  if (ROOT_UID) {
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=64k,uid=${NOBODY},gid=${NOBODY},mode=0755`, 'tmpfs', state]);
    mounted = m.status === 0;
    if (!mounted) say(`mount -t tmpfs refused (${m.stderr.toString().trim()}): ENOSPC not injected`);
  }
  if (mounted) {
    // The sidecar's own checkpoints go to the (empty) tmpfs first, then it is filled to the last block.
    for (const p of proxies) feed(p);
    await caughtUpAsync('the sidecar to catch up on the tmpfs');
    await asyncWait(async () => checkpointsAtEnd(), 'checkpoints on the tmpfs');
    await stateFault('state directory on a full filesystem', 'mount -t tmpfs -o size=64k over it, filled with a file (ENOSPC)', () => {
      const fd = openSync(join(state, 'filler'), 'w');
      const block = Buffer.alloc(4096, 0x78);
      try {
        for (;;) appendFileSync(fd, block);
      } catch {
        /* ENOSPC: full */
      } finally {
        closeSync(fd);
      }
    }, () => rmSync(join(state, 'filler')));
    await sc.stop('SIGTERM');
    spawnSync('umount', [state]);
    await sc.start();
  }

  // ---------------------------------------------------------------- a log becomes unreadable (EACCES)
  if (ROOT_UID) {
    const before = await sc.metric('stunnel_doctor_file_errors_total', { reason: 'permission-denied' });
    // Rotate a's log to a new file that stunnel created 0600 for another user: the sidecar can't open it.
    renameSync(path('a'), `${path('a')}.1`);
    forget(path('a'));
    writeFileSync(path('a'), '', { mode: 0o600 });
    chmodSync(path('a'), 0o600);
    append('a', path('a'), feeds.get('a')!.shift()!, false);
    for (const p of ['b', 'c', 'd']) feed(p);
    await asyncWait(async () => (await sc.metric('stunnel_doctor_file_errors_total', { reason: 'permission-denied' })) > before, 'permission-denied to be counted');
    const health = await sc.get('/healthz');
    chownSync(path('a'), NOBODY, NOBODY);
    await caughtUpAsync('a.log to be read once readable');
    fault('log unreadable (EACCES)', 'rename rotation to a new 0600 root-owned file, sidecar as uid 65534', `file_errors_total{reason="permission-denied"} +${(await sc.metric('stunnel_doctor_file_errors_total', { reason: 'permission-denied' })) - before}, /healthz names it: ${health.includes('permission-denied')}, read in full once readable`);
    rmSync(`${path('a')}.1`);
  }

  // ---------------------------------------------------------------- deletion, symlink, directory
  {
    feed('b');
    unlinkSync(path('b'));
    forget(path('b'));
    await sleep(300);
    feed('b', 2); // stunnel re-creates its log
    await caughtUpAsync('b.log recreated after a deletion');
    fault('log deleted', 'unlink right after an append, then re-created with new lines', 'the unlinked file was drained, the new one read from 0');

    const target = join(logs, 'c-target.log');
    feed('c');
    await caughtUpAsync('c before the symlink');
    unlinkSync(path('c'));
    forget(path('c'));
    writeFileSync(target, '');
    own(target);
    symlinkSync(target, path('c'));
    // Appends go through the link, which is the followed path.
    feed('c', 2);
    await caughtUpAsync('c through a symlink');
    unlinkSync(path('c'));
    forget(path('c'));
    mkdirSync(path('c'));
    const errs = await sc.metric('stunnel_doctor_file_errors_total', { proxy: 'c' });
    await sleep(2500);
    const errsAfter = await sc.metric('stunnel_doctor_file_errors_total', { proxy: 'c' });
    rmSync(path('c'), { recursive: true });
    feed('c', 2);
    await caughtUpAsync('c after the directory');
    fault('log replaced by a symlink, then by a directory', 'unlink + symlink to a new file; unlink + mkdir; rmdir + new file',
      `followed through the link; the directory counted (file_errors_total{proxy="c"} +${errsAfter - errs}); the new file read`);
  }

  // ---------------------------------------------------------------- thousands of files at once (glob)
  {
    const sources = CORPUS_SCENARIOS.map((s) => join(REPO, 'fixtures', s, 'd5.log')).filter(existsSync);
    const stage = join(dir, 'stage');
    mkdirSync(stage);
    for (let i = 0; i < o.globFiles; i++) {
      const name = `g${String(i).padStart(5, '0')}.log`;
      copyFileSync(sources[i % sources.length]!, join(stage, name));
      own(join(stage, name));
      archived.push({ proxy: name.replace(/\.log$/, ''), file: join(stage, name) });
    }
    // All at once: one rename of the staged directory's files into the globbed directory.
    for (const n of readdirSync(stage)) renameSync(join(stage, n), join(glob, n));
    for (const a of archived) if (a.file.startsWith(stage)) a.file = join(glob, a.file.slice(stage.length + 1));
    const globIds = new Set<string>();
    for (const a of archived.filter((x) => x.file.startsWith(glob))) {
      for (const e of (await scanFiles([a.file], { proxy: a.proxy })).events) globIds.add(e.id);
    }
    const expectedGlob = globIds.size;
    await asyncWait(async () => {
      const ids = ndjsonIds();
      for (const id of globIds) if (!ids.has(id)) return false;
      return true;
    }, `the events of ${o.globFiles} new files`, 180_000);
    fault('thousands of files at once', `${o.globFiles} real logs renamed into the globbed directory at once`, `${expectedGlob} events of the new proxies delivered`);
  }

  // ---------------------------------------------------------------- kill -9 at random points, SIGTERM mid-write
  for (let k = 0; k < o.kills; k++) {
    for (const p of proxies) feed(p, 1 + Math.floor(rand() * 2));
    await sleep(Math.floor(rand() * 1500));
    await sc.stop('SIGKILL');
    for (const p of proxies) feed(p);
    await sc.start();
  }
  if (o.kills) fault('kill -9 at random points', `${o.kills} x SIGKILL 0-1.5 s after appends, lines appended while down, restart`, 'resumed from the checkpoints');
  let midWrite = 0;
  for (let k = 0; k < o.terms; k++) {
    for (const p of proxies) feed(p);
    // SIGTERM as soon as a checkpoint temp file appears (inotify on the state directory).
    const hit = await new Promise<boolean>((resolve) => {
      const w = watch(state, (_ev, name) => {
        if (name && name.endsWith('.tmp')) {
          w.close();
          resolve(existsSync(join(state, name)));
        }
      });
      setTimeout(() => {
        w.close();
        resolve(false);
      }, 5000);
    });
    const code = await sc.stop('SIGTERM');
    if (hit) midWrite++;
    if (code !== 0 && code !== null) throw new Error(`SIGTERM exit code ${code}: ${sc.stderr().slice(-2000)}`);
    await sc.start();
  }
  if (o.terms) fault('SIGTERM during a checkpoint write', 'SIGTERM when inotify shows a checkpoint temp file', `${midWrite}/${o.terms} signals landed while the temp file existed; clean exit, no corrupt checkpoint on restart`);

  // ---------------------------------------------------------------- drain and account
  for (const p of proxies) while (feeds.get(p)!.length) feed(p);
  await caughtUpAsync('the final catch-up');
  await sleep(6500); // the quiet period of connections that never got an end line
  const metrics: Record<string, number> = {};
  const text = await sc.get('/metrics');
  for (const n of ['stunnel_doctor_checkpoint_failures_total', 'stunnel_doctor_file_errors_total', 'stunnel_doctor_events_dropped_total',
    'stunnel_doctor_rotations_total', 'stunnel_doctor_lines_cut_total']) metrics[n] = metricSum(text, n);
  const corrupt = /corrupt checkpoint/.test(sc.stderr());
  await sc.stop('SIGTERM');
  if (corrupt) throw new Error('a corrupt checkpoint was found at a restart');

  const delivered = readFileSync(out, 'utf8').split('\n').filter(Boolean);
  let bad = 0;
  const ids = new Set<string>();
  const what = new Map<string, string>();
  for (const l of delivered) {
    try {
      const e = JSON.parse(l) as { id: string; kind: string; reason: string; proxy: string; connection: string | null; source: { offsets: number[] } };
      ids.add(e.id);
      what.set(e.id, `${e.proxy} ${e.kind}/${e.reason} conn ${e.connection} @${e.source.offsets.join(',')}`);
    } catch {
      bad++;
    }
  }
  let mismatched = 0;
  const mismatchedExamples: string[] = [];
  let expected = 0;
  let lost = 0;
  const lostExamples: string[] = [];
  const expectedIds = new Set<string>();
  // The successive files of one path are one continuing log (a file replaced mid-run continues the run), as the
  // sidecar reads them and as `scan` reads `proxy.log.1 proxy.log`.
  const byProxy = new Map<string, string[]>();
  for (const a of archived) byProxy.set(a.proxy, [...(byProxy.get(a.proxy) ?? []), a.file]);
  for (const [proxy, files] of byProxy) {
    const a = { proxy };
    for (const e of (await scanFiles(files, { proxy })).events) {
      expected++;
      expectedIds.add(e.id);
      const got = what.get(e.id);
      if (got && !got.startsWith(`${e.proxy} ${e.kind}/${e.reason} `)) {
        mismatched++;
        if (mismatchedExamples.length < 10) mismatchedExamples.push(`scan: ${e.proxy} ${e.kind}/${e.reason} conn ${e.connection} @${e.source.offsets.join(',')}; sidecar: ${got}`);
      }
      if (!ids.has(e.id)) {
        lost++;
        if (lostExamples.length < 10) lostExamples.push(`${a.proxy} ${e.kind}/${e.reason} conn ${e.connection} @${e.source.offsets.join(',')}`);
      }
    }
  }
  let unexpected = 0;
  const unexpectedExamples: string[] = [];
  for (const id of ids) {
    if (expectedIds.has(id)) continue;
    unexpected++;
    if (unexpectedExamples.length < 10) unexpectedExamples.push(what.get(id)!);
  }
  if (process.env.KEEP_TRIAL) say(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return {
    faults, restarts: sc.starts - 1, expected, delivered: delivered.length - bad, unique: ids.size, lost, lostExamples, unexpected,
    unexpectedExamples, mismatched, mismatchedExamples,
    badNdjsonLines: bad, metrics, sigtermMidWrite: midWrite,
  };
}
