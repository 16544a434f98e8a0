/**
 * Shared helpers for the tail behaviour tests: real stunnel lines from fixtures/*\/d*.log, a model of what was
 * written where (so each test can state the exact expected (file, offset, bytes) sequence), a collector for
 * what the follower delivered, and waits with generous timeouts (no wall-clock assertions).
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Chunk } from '../../src/tail/chunk.js';
import { CheckpointStore } from '../../src/tail/checkpoint.js';
import { FileFollower, type FileRef, type FollowerOptions, type TailNotice } from '../../src/tail/follower.js';
import { fingerprintOf } from '../../src/tail/identity.js';
import type { TailLogger } from '../../src/tail/log.js';
import { waitFor as waitUntil } from '../helpers/wait.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Every distinct line (with its LF) of the captured stunnel logs fixtures/<scenario>/d<level>.log. */
export function fixtureLines(): Buffer[] {
  const root = path.join(REPO, 'fixtures');
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const scenario of readdirSync(root).sort()) {
    let names: string[];
    try {
      names = readdirSync(path.join(root, scenario));
    } catch {
      continue;
    }
    for (const name of names.filter((n) => /^d\d\.log$/.test(n)).sort()) {
      const buf = readFileSync(path.join(root, scenario, name));
      let start = 0;
      for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
        const line = buf.subarray(start, nl + 1);
        start = nl + 1;
        const key = line.toString('latin1');
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(Buffer.from(line));
      }
    }
  }
  if (out.length < 200) throw new Error(`expected the captured stunnel logs in fixtures/*/d*.log, found ${out.length} lines`);
  return out;
}

/** Hands out real stunnel lines, each at most once per instance (so lines and file heads are distinct). */
export class Lines {
  private readonly all: Buffer[];
  private i = 0;
  /** `from`: the lines to hand out (default: fixtureLines()). */
  constructor(from?: Buffer[]) {
    this.all = from ?? fixtureLines();
  }
  take(n: number): Buffer[] {
    if (this.i + n > this.all.length) throw new Error('ran out of fixture lines');
    const r = this.all.slice(this.i, this.i + n);
    this.i += n;
    return r;
  }
  one(): Buffer {
    return this.take(1)[0]!;
  }
  /** The next `n` lines shorter than `max` bytes (longer ones are skipped). */
  takeShorter(n: number, max: number): Buffer[] {
    const r: Buffer[] = [];
    while (r.length < n) {
      const l = this.one();
      if (l.length < max) r.push(l);
    }
    return r;
  }
  /** The longest captured line (not handed out by take()). */
  longest(): Buffer {
    return this.all.reduce((a, b) => (b.length > a.length ? b : a));
  }
}

export interface Expected {
  fp: string;
  offset: number;
  text: string;
}

/** What was written into one file content (it keeps its identity through renames and copies). */
export class Written {
  readonly lines: { offset: number; buf: Buffer }[] = [];
  size = 0;
  private partial: Buffer = Buffer.alloc(0);

  /** Appends whole lines to `file` (or through an open descriptor) and records their offsets. */
  append(file: string | number, bufs: Buffer[]): this {
    for (const b of bufs) {
      if (typeof file === 'number') writeSync(file, b);
      else appendFileSync(file, b);
      this.record(b);
    }
    return this;
  }

  /** Records bytes written by other means (e.g. writeFileSync with a mode). */
  note(bufs: Buffer[]): this {
    for (const b of bufs) this.record(b);
    return this;
  }

  /** Appends raw bytes (part of a line). */
  appendRaw(file: string, b: Buffer): this {
    appendFileSync(file, b);
    this.record(b);
    return this;
  }

  private record(b: Buffer): void {
    let start = 0;
    for (let nl = b.indexOf(10); nl >= 0; nl = b.indexOf(10, start)) {
      const piece = b.subarray(start, nl + 1);
      const line = Buffer.concat([this.partial, piece]);
      this.lines.push({ offset: this.size - this.partial.length + start, buf: line });
      this.partial = Buffer.alloc(0);
      start = nl + 1;
    }
    this.partial = Buffer.concat([this.partial, b.subarray(start)]);
    this.size += b.length;
  }

  get fingerprint(): string {
    return fingerprintOf(Buffer.concat(this.lines.map((l) => l.buf).concat([this.partial])).subarray(0, 4096));
  }

  /** Offset just past the last complete line. */
  get end(): number {
    return this.size - this.partial.length;
  }

  /** Complete lines at or after `from` (and before `to`), as the follower must deliver them. */
  expected(from = 0, to = Infinity): Expected[] {
    const fp = this.fingerprint;
    return this.lines
      .filter((l) => l.offset >= from && l.offset < to)
      .map((l) => ({ fp, offset: l.offset, text: l.buf.toString('latin1') }));
  }
}

export interface Got extends Expected {
  readFrom: string;
  gen: number;
  cut?: boolean;
}

/** Records deliveries line by line, plus the raw chunks and the notices. */
export class Collector {
  readonly got: Got[] = [];
  readonly chunks: { chunk: Chunk; file: FileRef }[] = [];
  readonly notices: TailNotice[] = [];

  onChunk = (chunk: Chunk, file: FileRef): void => {
    this.chunks.push({ chunk, file });
    const base = { fp: file.fingerprint, readFrom: file.readFrom, gen: file.gen };
    if (chunk.cut) {
      this.got.push({ ...base, offset: chunk.baseOffset, text: chunk.buf.toString('latin1'), cut: true });
      return;
    }
    let start = 0;
    for (let nl = chunk.buf.indexOf(10); nl >= 0; nl = chunk.buf.indexOf(10, start)) {
      this.got.push({ ...base, offset: chunk.baseOffset + start, text: chunk.buf.subarray(start, nl + 1).toString('latin1') });
      start = nl + 1;
    }
    if (start !== chunk.buf.length) throw new Error('chunk does not end with a complete line');
  };

  onNotice = (n: TailNotice): void => {
    this.notices.push(n);
  };

  /** Delivered lines without the file details (for toEqual against Written.expected()). */
  get lines(): Expected[] {
    return this.got.map(({ fp, offset, text }) => ({ fp, offset, text }));
  }

  noticesOf(type: TailNotice['type']): TailNotice[] {
    return this.notices.filter((n) => n.type === type);
  }
}

/** Polls `pred` every few ms; rejects with `what` after `timeoutMs`. */
export async function waitFor(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(pred, what, timeoutMs, 5);
}

/** Temp directories and followers created by a test, cleaned up in afterEach. */
export class Scratch {
  private readonly dirs: string[] = [];
  private readonly followers: FileFollower[] = [];

  dir(): string {
    const d = mkdtempSync(path.join(tmpdir(), 'sd-tail-'));
    this.dirs.push(d);
    return d;
  }

  /** A follower with test-friendly periods (fast fallback poll, short backoff), started. */
  async follow(opts: Partial<FollowerOptions> & { path: string }, col: Collector): Promise<FileFollower> {
    const f = new FileFollower({
      pollMs: 50,
      retryMinMs: 20,
      retryMaxMs: 200,
      onChunk: col.onChunk,
      onNotice: col.onNotice,
      ...opts,
    });
    this.followers.push(f);
    await f.start();
    return f;
  }

  /**
   * A first run: follows `p` with a checkpoint store in `state` until `n` lines were read and committed, then
   * stops (a clean stop: the checkpoint is written). The next follower of `p` resumes from it.
   */
  async firstRun(p: string, state: string, n: number): Promise<void> {
    const col = new Collector();
    const f = await this.follow({ path: p, store: await CheckpointStore.open(state, { debounceMs: 10 }), autoCommit: true }, col);
    await settle(f, col, n);
    await f.stop();
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.followers.map((f) => f.stop()));
    this.followers.length = 0;
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
    this.dirs.length = 0;
  }
}

/** Waits until the collector holds `n` lines, runs one more check-and-read, and returns the lines. */
export async function settle(f: FileFollower, col: Collector, n: number, what = `${n} lines`): Promise<Expected[]> {
  await waitFor(() => col.got.length >= n, `${what} (have ${col.got.length})`);
  await f.check();
  await f.check();
  return col.lines;
}

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg?: string;
}

/** A TailLogger that keeps what it is given. */
export function recordingLogger(): { logger: TailLogger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at = (level: LogRecord['level']) => (obj: object, msg?: string) => {
    records.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, records };
}
