/**
 * The append fast path: a directory watch event about the followed file reads a plain append synchronously,
 * before the event callback returns (no thread-pool round trips, issue #5's follow latency), and hands
 * anything else to the full check-and-read. The watch hub here is driven by the test (events are fired by
 * hand, the fallback poll is an hour), so what the event callback did is seen the moment it returns: no
 * timing is involved.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReadGate } from '../../src/tail/gate.js';
import type { DirWatchHub, WatchListener } from '../../src/tail/watch.js';
import { Collector, Lines, Scratch, settle, waitFor, Written } from './helpers.js';

const s = new Scratch();
afterEach(() => s.cleanup());

/** A DirWatchHub whose events are fired by the test. */
class ManualHub {
  private readonly listeners = new Map<string, Set<WatchListener>>();
  subscribe(dir: string, name: string, fn: WatchListener): () => void {
    const k = `${dir}\0${name}`;
    let set = this.listeners.get(k);
    if (!set) this.listeners.set(k, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }
  has(): boolean {
    return true;
  }
  revalidate(): void {}
  get size(): number {
    return this.listeners.size;
  }
  /** What inotify says when `file` is written to ('change') or created/renamed ('rename'). */
  fire(file: string, event = 'change'): void {
    for (const fn of this.listeners.get(`${path.dirname(file)}\0${path.basename(file)}`) ?? []) fn(event, path.basename(file));
  }
}

async function setup(initial: number, opts: { readGate?: ReadGate; readChunkBytes?: number; ready?: () => Promise<void> | undefined } = {}) {
  const lines = new Lines();
  const p = path.join(s.dir(), 'stunnel.log');
  writeFileSync(p, '');
  const w = new Written().append(p, lines.take(initial));
  const hub = new ManualHub();
  const col = new Collector();
  const f = await s.follow({ path: p, pollMs: 3_600_000, watchHub: hub as unknown as DirWatchHub, ...opts }, col);
  await waitFor(() => col.got.length === initial, 'initial lines');
  return { lines, p, w, hub, col, f };
}

describe('append fast path', () => {
  it('delivers an append before the watch event returns, each line once, in order', async () => {
    const { lines, p, w, hub, col, f } = await setup(2);
    for (let i = 0; i < 5; i++) {
      w.append(p, lines.take(3));
      hub.fire(p);
      expect(col.lines).toEqual(w.expected());
    }
    // A second event for the same write (inotify may send several) reads nothing more.
    hub.fire(p);
    expect(col.lines).toEqual(w.expected());
    expect(await settle(f, col, w.lines.length)).toEqual(w.expected());
    expect(f.metrics()).toMatchObject({ deliveredOffset: w.end, readOffset: w.size, errors: 0 });
  });

  it('holds a partial line until its newline is appended', async () => {
    const { lines, p, w, hub, col } = await setup(1);
    const line = lines.one();
    w.appendRaw(p, line.subarray(0, 10));
    hub.fire(p);
    expect(col.got).toHaveLength(1);
    w.appendRaw(p, line.subarray(10));
    hub.fire(p);
    expect(col.lines).toEqual(w.expected());
  });

  it('leaves a rewrite to the same size (first line changed) to the full check: a truncation', async () => {
    const { lines, p, w, hub, col, f } = await setup(0);
    const [a, b, c] = lines.take(3) as [Buffer, Buffer, Buffer];
    w.append(p, [a, b, c]);
    hub.fire(p);
    expect(col.got).toHaveLength(3);
    writeFileSync(p, Buffer.concat([c, a, b]));
    hub.fire(p);
    expect(col.got).toHaveLength(3); // not read as an append
    const neu = new Written().note([c, a, b]);
    const expected = [...w.expected(), ...neu.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated').map((n) => n.mode)).toEqual(['truncate']);
  });

  it('leaves a file that got shorter, or longer with another first line, to the full check', async () => {
    const { lines, p, w, hub, col, f } = await setup(3);
    w.append(p, lines.take(1));
    hub.fire(p);
    truncateSync(p, 0);
    const neu = new Written().append(p, lines.take(1));
    hub.fire(p);
    expect(col.got).toHaveLength(4);
    await settle(f, col, 5);
    // Rewritten longer than what was read, with another first line.
    const neu2 = new Written().note(lines.take(6));
    writeFileSync(p, Buffer.concat(neu2.lines.map((l) => l.buf)));
    hub.fire(p);
    expect(col.got).toHaveLength(5);
    const expected = [...w.expected(), ...neu.expected(), ...neu2.expected()];
    expect(await settle(f, col, expected.length)).toEqual(expected);
    expect(col.noticesOf('rotated').map((n) => n.mode)).toEqual(['truncate', 'truncate']);
  });

  it('reads more than readChunkBytes the bounded way, and goes on from there', async () => {
    const { lines, p, w, hub, col, f } = await setup(1, { readChunkBytes: 512 });
    w.append(p, lines.takeShorter(1, 400));
    hub.fire(p);
    expect(col.lines).toEqual(w.expected()); // a small append: at once
    const big = lines.take(20);
    expect(Buffer.concat(big).length).toBeGreaterThan(512);
    w.append(p, big);
    hub.fire(p);
    expect(col.got).toHaveLength(2); // not at once
    await settle(f, col, w.lines.length);
    w.append(p, lines.takeShorter(1, 400));
    hub.fire(p);
    expect(col.lines).toEqual(w.expected());
  });

  it('waits for a slot of the read gate like any turn, and counts its bytes in the gate', async () => {
    const gate = new ReadGate(1);
    const { lines, p, w, hub, col } = await setup(1, { readGate: gate });
    w.append(p, lines.take(2));
    hub.fire(p);
    expect(col.got).toHaveLength(3);
    expect(gate.maxBytes).toBeGreaterThanOrEqual(w.size - w.lines[0]!.buf.length);
    const held = gate.tryAcquire()!;
    expect(held).not.toBeNull();
    w.append(p, lines.take(2));
    hub.fire(p);
    expect(col.got).toHaveLength(3); // the only slot is taken
    held.release();
    await waitFor(() => col.got.length === 5, 'the append, once the slot is free');
    expect(col.lines).toEqual(w.expected());
  });

  it('does not read while the consumer holds the follower back (ready)', async () => {
    let release: () => void = () => {};
    let blocked: Promise<void> | undefined;
    const { lines, p, w, hub, col } = await setup(1, { ready: () => blocked });
    blocked = new Promise<void>((r) => (release = r));
    w.append(p, lines.take(2));
    hub.fire(p);
    expect(col.got).toHaveLength(1);
    blocked = undefined;
    release();
    await waitFor(() => col.got.length === 3, 'the append, once ready');
    expect(col.lines).toEqual(w.expected());
  });

  it('leaves an event for another name, or a rename, to the full check', async () => {
    const { lines, p, w, hub, col, f } = await setup(1);
    w.append(p, lines.take(2));
    hub.fire(p, 'rename');
    expect(col.got).toHaveLength(1);
    expect(await settle(f, col, 3)).toEqual(w.expected());
  });
});
