/**
 * Restart: a sidecar resumes at the end of a large log (1 GB; --quick: 100 MB) from its checkpoint, and a new
 * connection follows. Time from start to that connection's event:
 *   - library: createDoctor() called (modules loaded) -> the event on events$ (bench/lib-child.mjs);
 *   - process: `stunnel-doctor watch` spawned -> the event on its NDJSON output (includes Node's start-up
 *     and module loading).
 * Resuming must be a seek: the time must not grow with the size of the log. The checkpoint is the one the
 * sidecar wrote for the head of the file, moved to the end of the bulk with the CheckpointStore API.
 */
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, statSync, cpSync, mkdirSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import os from 'node:os';
import { fmtNum, stats } from './common.mjs';
import { startLibChild } from './follow.mjs';
import { connectionLines, runHead, freePort, startSidecar, nowMs, sleep, writeYaml, waitFor } from './live.mjs';

export const name = 'restart';
export const title = 'Restart at the end of a large log (checkpoint)';

const NEW_ID = 99_999_999;

export async function run(ctx) {
  const { quick, log } = ctx;
  const bytes = quick ? 100e6 : 1e9;
  const runs = quick ? 2 : 5;
  const dist = dirname(ctx.doctor);
  const dir = mkdtempSync(join(os.tmpdir(), 'sd-bench-restart-'));
  const file = join(dir, 'big.log');
  const state = join(dir, 'state');
  const port = await freePort();
  const cfgFile = join(dir, 'config.yaml');
  writeYaml(cfgFile, { listen: `127.0.0.1:${port}`, stateDir: state, eventsOut: '-', proxies: [{ name: 'big', log: file }] });

  // 1. The head, read by a sidecar that checkpoints it and stops.
  writeFileSync(file, runHead() + connectionLines(1));
  const first = await startSidecar({ doctor: ctx.doctor, config: cfgFile, port });
  await sleep(2500); // housekeeping commits every second
  await first.stop();
  // 2. The bulk (already "read": the checkpoint is moved past it).
  log(`[restart] writing ${(bytes / 1e6).toFixed(0)} MB`);
  const block = [];
  let id = 2;
  let len = 0;
  while (len < 1 << 20) {
    const s = connectionLines(id++);
    block.push(s);
    len += s.length;
  }
  const blockBuf = Buffer.from(block.join(''));
  const fd = openSync(file, 'a');
  for (let w = 0; w < bytes; w += blockBuf.length) writeSync(fd, blockBuf);
  closeSync(fd);
  const size = statSync(file).size;
  const { CheckpointStore } = await import(pathToFileURL(join(dist, 'tail', 'checkpoint.js')).href);
  const store = await CheckpointStore.open(state);
  const keys = store.keys();
  if (!keys.length) throw new Error('the first sidecar wrote no checkpoint');
  for (const k of keys) {
    const rec = store.get(k);
    store.set(k, { ...rec, offset: size, size, state: undefined });
  }
  await store.close();
  const saved = join(dir, 'state-saved');
  cpSync(state, saved, { recursive: true });
  // 3. The new connection after the checkpoint.
  const fd2 = openSync(file, 'a');
  writeSync(fd2, connectionLines(NEW_ID));
  closeSync(fd2);

  const lib = [];
  const proc = [];
  for (let r = 0; r < runs; r++) {
    // library
    rmSync(state, { recursive: true, force: true });
    cpSync(saved, state, { recursive: true });
    const c = startLibChild(dist, { proxies: [{ name: 'big', log: file }], stateDir: state });
    let t0 = null;
    let tEv = null;
    let other = 0;
    c.onLine((l) => {
      if (l[0] === 't0') t0 = Number(l[1]);
      if (l[0] === 'ev') {
        if (l[3] === String(NEW_ID)) tEv ??= Number(l[1]);
        else other++;
      }
    });
    await waitFor(() => tEv !== null, 120_000, 'the new event (library)');
    await c.stop();
    lib.push({ ms: tEv - t0, otherEvents: other });
    // process
    rmSync(state, { recursive: true, force: true });
    cpSync(saved, state, { recursive: true });
    const ts = nowMs();
    const child = spawn(process.execPath, [ctx.doctor, 'watch', '--config', cfgFile], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LOG_LEVEL: 'warn' } });
    let te = null;
    let buf = '';
    let others = 0;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      const t = nowMs();
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const e = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (e.connection === String(NEW_ID)) te ??= t;
        else others++;
      }
    });
    const exited = new Promise((res) => child.on('exit', res));
    await waitFor(() => te !== null, 120_000, 'the new event (watch)');
    child.kill('SIGTERM');
    await exited;
    proc.push({ ms: te - ts, otherEvents: others });
    log(`[restart] run ${r + 1}/${runs}: library ${lib.at(-1).ms.toFixed(1)} ms, process ${proc.at(-1).ms.toFixed(1)} ms`);
  }
  if (!ctx.keepData) rmSync(dir, { recursive: true, force: true });
  const sl = stats(lib.map((x) => x.ms));
  const sp = stats(proc.map((x) => x.ms));
  const reread = lib.some((x) => x.otherEvents) || proc.some((x) => x.otherEvents);
  return {
    name, title,
    params: { bytes: size, runs },
    rows: [{ library: lib, process: proc }],
    mismatches: reread ? [{ case: 'restart', contender: 'stunnel-doctor', key: 'events before the checkpoint (re-read)', expected: 0, got: Math.max(...lib.map((x) => x.otherEvents), ...proc.map((x) => x.otherEvents)) }] : [],
    tables: [{
      title: `Restart: ${(size / 1e9).toFixed(2)} GB log, resumed from its checkpoint at the end; ms to the first new event (${runs} runs)`,
      headers: ['from', 'to', 'min ms', 'median ms', 'max ms', 'target'],
      rows: [
        ['createDoctor() called', 'event on events$', fmtNum(sl.min, 1), fmtNum(sl.median, 1), fmtNum(sl.max, 1), sl.median < 200 ? 'met (< 200 ms)' : 'MISSED (< 200 ms)'],
        ['`watch` process spawned', 'event on its NDJSON output', fmtNum(sp.min, 1), fmtNum(sp.median, 1), fmtNum(sp.max, 1), '(includes Node start-up)'],
      ],
    }],
    notes: ['No event from before the checkpoint is emitted (the bulk is not read again).'],
  };
}
