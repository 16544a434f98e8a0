/**
 * Fault: the sidecar stops (cleanly, or kill -9) and starts again. It must resume from the checkpoint by
 * seeking to the committed offset (no rescan from 0: the first chunk starts exactly at the checkpoint), and
 * deliver every line written meanwhile: exactly once after a clean stop, at least once (from the last
 * committed line) after a crash, none lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { Collector, Lines, REPO, Scratch, settle, waitFor, Written, type Expected } from './helpers.js';

const s = new Scratch();
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
  await s.cleanup();
});

describe('resume from checkpoint', () => {
  it('seeks to the committed offset: no rescan, exactly the lines written while down', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const store = await CheckpointStore.open(path.join(dir, 'state'), { debounceMs: 10 });
    const w = new Written().append(p, lines.take(40));
    const col1 = new Collector();
    const f1 = await s.follow({ path: p, store, autoCommit: true }, col1);
    expect(await settle(f1, col1, 40)).toEqual(w.expected());
    await f1.stop();
    const checkpoint = store.get(f1.key)!;
    expect(checkpoint).toMatchObject({ path: p, offset: w.end, fingerprint: w.fingerprint });

    const from = w.size;
    w.append(p, lines.take(3));
    const col2 = new Collector();
    const f2 = await s.follow({ path: p, store, autoCommit: true }, col2);
    expect(await settle(f2, col2, 3)).toEqual(w.expected(from));
    expect(col2.chunks[0]!.chunk.baseOffset).toBe(checkpoint.offset);
    expect(f2.metrics().bytesRead).toBe(w.size - checkpoint.offset);
    expect(col2.noticesOf('opened')).toEqual([expect.objectContaining({ resume: 'checkpoint', offset: checkpoint.offset })]);
    expect(col2.noticesOf('rotated')).toEqual([]);
    // Nothing reached the stopped follower.
    expect(col1.got).toHaveLength(40);
    expect(col1.notices.filter((n) => n.type !== 'stats')).toHaveLength(1);
  });

  it('redelivers from the last commit (at least once) and keeps the stored state', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const store = await CheckpointStore.open(path.join(dir, 'state'), { debounceMs: 10 });
    const w = new Written().append(p, lines.take(6));
    const col1 = new Collector();
    // The consumer commits only the chunk holding line 3 (its correlator state at that point).
    const f1 = await s.follow({ path: p, store, readChunkBytes: 64 }, col1);
    await settle(f1, col1, 6);
    const third = col1.chunks.find((c) => c.chunk.baseOffset <= w.lines[2]!.offset && c.chunk.endOffset > w.lines[2]!.offset)!;
    expect(f1.commit(third.chunk.endOffset, { open: ['3'] }, third.file)).toBe(true);
    expect(f1.commit(0, { stale: true }, third.file)).toBe(false); // older offsets are ignored
    await f1.stop(); // a crash after this point: nothing later was committed
    const checkpoint = store.get(f1.key)!;
    expect(checkpoint.offset).toBe(third.chunk.endOffset);
    expect(checkpoint.state).toEqual({ open: ['3'] });

    const reopened = await CheckpointStore.open(path.join(dir, 'state'));
    expect(reopened.get(f1.key)).toEqual(checkpoint);
    w.append(p, lines.take(2));
    const col2 = new Collector();
    const f2 = await s.follow({ path: p, store: reopened }, col2);
    expect(await settle(f2, col2, w.lines.length - w.expected(0, checkpoint.offset).length)).toEqual(w.expected(checkpoint.offset));
    expect(col2.chunks[0]!.chunk.baseOffset).toBe(checkpoint.offset);
    // Without a new state, a commit keeps the stored one.
    expect(f2.commit(col2.chunks.at(-1)!.chunk.endOffset)).toBe(true);
    expect(reopened.get(f2.key)!.state).toEqual({ open: ['3'] });
    // Every line was delivered by one run or the other.
    const all = new Set([...col1.lines, ...col2.lines].map((l) => l.offset));
    expect([...all].sort((a, b) => a - b)).toEqual(w.lines.map((l) => l.offset));
  });

  it('kill -9 at a random line, restart: no line lost, the restart starts exactly at the checkpoint', async () => {
    const lines = new Lines();
    const dir = s.dir();
    const p = path.join(dir, 'stunnel.log');
    const state = path.join(dir, 'state');
    const w = new Written().append(p, lines.take(20));

    const run1 = startChild(p, state);
    await waitFor(() => run1.got.length >= 20, 'child 1 read the initial lines');
    await waitFor(() => existsSync(state) && readdirSync(state).some((n) => n.endsWith('.json')), 'a first checkpoint on disk');
    // Keep appending while the child reads and commits (20 ms write period); kill it somewhere in the middle.
    const killAt = 25 + Math.floor(Math.random() * 50);
    for (let i = 0; i < 30; i++) {
      w.append(p, lines.take(2));
      if (run1.got.length >= killAt && run1.proc.exitCode === null && run1.proc.signalCode === null) run1.proc.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 10));
    }
    if (run1.proc.signalCode === null) run1.proc.kill('SIGKILL');
    await run1.exited;

    const checkpoint = (await CheckpointStore.open(state)).get(p)!;
    expect(checkpoint.fingerprint).toBe(w.fingerprint);
    const from = checkpoint.offset;
    expect(from).toBeGreaterThan(0);
    const run2 = startChild(p, state);
    const want = w.expected(from);
    await waitFor(() => run2.got.length >= want.length, `child 2 delivered ${want.length} lines (has ${run2.got.length})`);
    run2.proc.kill('SIGKILL');
    await run2.exited;

    expect(run2.got).toEqual(want);
    expect(run2.got[0]?.offset ?? from).toBe(from);
    // Whatever run 1 delivered was right, and run1 ∪ run2 is everything.
    expect(run1.got).toEqual(w.expected().slice(0, run1.got.length));
    expect(run1.got.length).toBeGreaterThanOrEqual(want.length > 0 ? w.lines.length - want.length : 0);
  });
});

function startChild(p: string, state: string): { proc: ChildProcess; got: Expected[]; exited: Promise<void> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/tail/child.ts'), 'follow', p, state], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(proc);
  const got: Expected[] = [];
  let buf = '';
  proc.stdout!.setEncoding('latin1');
  proc.stdout!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const o = JSON.parse(buf.slice(0, nl)) as Expected & { ready?: boolean };
      buf = buf.slice(nl + 1);
      if (!o.ready) got.push({ fp: o.fp, offset: o.offset, text: o.text });
    }
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return { proc, got, exited };
}
