import { fstatSync, lstatSync, readSync, statSync, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_MAX_LINE_BYTES, LineChunker, type Chunk } from './chunk.js';
import type { CheckpointRecord, CheckpointStore } from './checkpoint.js';
import { FINGERPRINT_MAX, fingerprintOf } from './identity.js';
import { compressedFingerprint, decompressToTemp, removeTemp } from './compressed.js';
import { COMPRESSED_SUFFIXES, withoutCompressedSuffix } from './compressed-names.js';
import { errInfo, silentLogger, type TailLogger } from './log.js';
import { logdnaTailSource, type ByteSource, type ByteSourceFactory } from './source.js';
import { sharedWatchHub, type DirWatchHub } from './watch.js';
import { untilAborted, type ReadGate, type ReadTurn } from './gate.js';

/**
 * How the followed file changed under us.
 * - `rename`: the path now leads to another file and the old one still exists (logrotate `create` + stunnel
 *   reopen on SIGUSR1, a symlink swap). The old file is drained to its end first.
 * - `copytruncate`: the file was truncated in place and a rotated copy (`path.1`...) with its fingerprint was
 *   found: the lines we had not read yet are read from the copy first.
 * - `truncate`: truncated (or rewritten) in place with no copy: stunnel `log = overwrite`; unread bytes of
 *   the old content are gone.
 * - `replaced`: another file sits at the path and the old one is gone (deleted, or not found under a rotated
 *   name when we start again).
 */
export type RotationMode = 'rename' | 'copytruncate' | 'truncate' | 'replaced';
export const ROTATION_MODES: readonly RotationMode[] = ['rename', 'copytruncate', 'truncate', 'replaced'];

/** The file a chunk was read from. One frozen object per file generation (compare with ===). */
export interface FileRef {
  /** The followed path (the logical stream; the checkpoint key's path). */
  readonly path: string;
  /** The name the bytes were read from when it was opened: the path, or a rotated copy (`path.1`). */
  readonly readFrom: string;
  /** fingerprintOf(first line) of that content: with the line offset, the stable event identity. */
  readonly fingerprint: string;
  readonly dev: number;
  readonly ino: number;
  /** Follower-local generation number, increasing with each file (or truncation) followed. */
  readonly gen: number;
  /**
   * The checkpoint record for "every line before `offset` of this file is processed", for consumers that
   * write the store themselves (`store.set(key, file.checkpoint(chunk.endOffset))`).
   */
  checkpoint(offset: number): Omit<CheckpointRecord, 'updatedAt'>;
}

/**
 * - `opened`: reading starts (`resume`, `offset`).
 * - `missing`: the path does not exist (yet): waiting for it.
 * - `rotated`: see RotationMode (`mode`, `offset` where the old content was left/continued, `gapBytes`).
 * - `deleted`: the file we read was deleted; what is left is read through the open handle.
 * - `error` (`reason`): permission denied, not a regular file, open/read failures: counted, retried with
 *   backoff, never fatal. `recovered` follows when the path is readable again.
 * - `symlink-changed`, `partial-line-dropped` (an unterminated last line of a file we left).
 * - `stats`: the file size changed (at most once per poll period): `size`, `offset` (delivered).
 */
export type NoticeType =
  | 'opened'
  | 'missing'
  | 'rotated'
  | 'deleted'
  | 'error'
  | 'recovered'
  | 'symlink-changed'
  | 'partial-line-dropped'
  | 'stats';

export type ErrorReason =
  | 'permission-denied'
  | 'not-a-file'
  | 'open-error'
  | 'read-error'
  | 'consumer-error'
  | 'internal-error';

/** A pino-loggable description of something that happened to a followed file. */
export interface TailNotice {
  type: NoticeType;
  /** The followed path. */
  path: string;
  /** type 'error': what failed. */
  reason?: ErrorReason;
  error?: string;
  code?: string;
  mode?: RotationMode;
  /** The name involved (old file, rotated copy) when it is not `path`. */
  readFrom?: string;
  /** A file offset: where reading starts/continues/stopped. */
  offset?: number;
  /** copytruncate: bytes recovered from the rotated copy. */
  gapBytes?: number;
  /** partial-line-dropped: bytes of an unterminated last line that will never be delivered. */
  bytes?: number;
  /** The change happened while we were not running (found at start against the checkpoint). */
  whileDown?: boolean;
  /** opened: where reading starts. */
  resume?: 'checkpoint' | 'beginning' | 'end';
  fingerprint?: string;
  /** symlink-changed */
  target?: string | null;
  previousTarget?: string | null;
  /** Error notices: when the next periodic retry happens (filesystem events retry sooner). */
  retryInMs?: number;
  /** stats: size of the file at the path. */
  size?: number;
}

/** The name the sidecar uses. */
export type FollowerNotice = TailNotice;

export type FollowerState = 'idle' | 'waiting' | 'following' | 'error' | 'stopped';

/** Per-file gauges and counters. */
export interface FollowerMetrics {
  path: string;
  key: string;
  state: FollowerState;
  /** Offset the consumer committed (in the file `committedFingerprint` identifies). */
  committedOffset: number;
  committedFingerprint: string;
  /** End of the last line delivered in the file being read. */
  deliveredOffset: number;
  /** Bytes read so far in the file being read (includes a held partial line). */
  readOffset: number;
  /** Size of the file at the path at the last check. */
  fileSize: number;
  /** fileSize - committedOffset when the committed file is the one at the path, else fileSize. */
  lagBytes: number;
  rotations: Record<RotationMode, number>;
  cutLines: number;
  errors: number;
  bytesRead: number;
  chunks: number;
  /** Read turns done, and the most bytes one turn read (bounded by maxReadBytes). */
  turns: number;
  maxTurnBytes: number;
}

export interface FollowerOptions {
  path: string;
  /**
   * Receives each chunk of complete lines, in file order, synchronously; the follower does not read on until
   * it returns. `file` tells which file (generation) the chunk's offsets belong to.
   */
  onChunk: (chunk: Chunk, file: FileRef) => void;
  onNotice?: (notice: TailNotice) => void;
  /** Where committed offsets are kept. Without a store commits only move the gauges. */
  store?: CheckpointStore;
  /** Checkpoint key (default: the absolute path). */
  key?: string;
  /**
   * The record to resume from when the consumer manages the store itself (default: `store.get(key)`).
   * Such a consumer writes `file.checkpoint(chunk.endOffset)` and does not call `commit()`.
   */
  checkpoint?: CheckpointRecord | null;
  /** Commit `chunk.endOffset` after each onChunk returns (for consumers without state). Default false. */
  autoCommit?: boolean;
  /** Where to start in a file present at start() with no checkpoint. Default 'beginning'. */
  startAt?: 'beginning' | 'end';
  /**
   * Names a rotated copy may have (default `[path + '.1']`), searched by fingerprint. A function is asked with
   * `forWatch` true for the names to watch at every check (cheap, fixed names), false when searching.
   */
  rotatedNames?: string[] | ((path: string, forWatch: boolean) => string[]);
  /** Bound for one line (passed to LineChunker). Default 16 KiB. */
  maxLineBytes?: number;
  /** Fallback poll period when no filesystem event arrives (default 1000 ms). */
  pollMs?: number;
  /**
   * Poll period while every watched directory has a live fs.watch and nothing is wrong (default 10 x pollMs,
   * at most 30 s, never below pollMs): the watch wakes the follower on every change, so this poll is only a
   * safety net (missed events, a replaced directory). Idle files then cost almost nothing.
   */
  safetyPollMs?: number;
  /** Use fs.watch on the directory to read as soon as the file changes (default true). */
  watch?: boolean;
  /** Retry backoff for errors (permission denied, not a file...): min and max delay. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Read size while catching up (default 64 KiB). */
  readChunkBytes?: number;
  /**
   * At most this many bytes per read turn (default 2 MiB). A file further behind is read in several turns;
   * between them the follower yields (other files, timers, HTTP run) and honours `ready` again.
   */
  maxReadBytes?: number;
  /** Shared by many followers: at most `gate.slots` read turns at once (default: no gate). */
  readGate?: ReadGate;
  logger?: TailLogger;
  /** The reader adapter (default: @logdna/tail-file). */
  sourceFactory?: ByteSourceFactory;
  /** The fs.watch hub (default: a process-wide one). */
  watchHub?: DirWatchHub;
  /**
   * Backpressure: awaited before each check-and-read when it returns a promise (e.g. the consumer's output is
   * congested). Reading resumes when it resolves; stop() does not wait for it.
   */
  ready?: () => Promise<void> | undefined;
}

interface Opened {
  fh: FileHandle;
  st: Stats;
  fp: string;
  name: string;
}

type ProblemKind = 'missing' | 'permission-denied' | 'not-a-file' | 'open-error';
interface Problem {
  kind: ProblemKind;
  err?: unknown;
}
type Probe = { kind: 'file'; st: Stats } | Problem;

interface Gen {
  id: number;
  fh: FileHandle;
  dev: number;
  ino: number;
  readFrom: string;
  fingerprint: string;
  startOffset: number;
  source: ByteSource | null;
  ref: FileRef | null;
  lastSize: number;
  lastMtimeMs: number;
  birthtimeMs: number;
  /** Set when no more lines will be delivered from this generation. */
  finalOffset?: number;
  successor?: number;
  pathGone?: boolean;
}

interface Committed {
  gen: number;
  offset: number;
  state: unknown;
}

/**
 * Whether the file read by `cur`, its size or time changed, still starts with the first line it had (`fp`: its
 * fingerprint now). A file read from its start without one yet takes `fp`. False: same inode, another first line
 * (truncated and rewritten).
 */
function headStillOurs(cur: Pick<Gen, 'fingerprint' | 'startOffset' | 'ref'>, fp: string): boolean {
  if (cur.fingerprint !== '') return fp === cur.fingerprint;
  if (cur.startOffset === 0 && !cur.ref) cur.fingerprint = fp;
  return true;
}

function sameNames(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isProblem(x: Opened | Problem | Probe): x is Problem {
  return (x as Problem).kind !== undefined && (x as Problem).kind !== ('file' as string);
}

function problemOf(err: unknown): Problem {
  const code = (err as { code?: string } | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return { kind: 'missing', err };
  if (code === 'EACCES' || code === 'EPERM') return { kind: 'permission-denied', err };
  if (code === 'EISDIR') return { kind: 'not-a-file', err };
  return { kind: 'open-error', err };
}

async function headFingerprint(fh: FileHandle): Promise<string> {
  const buf = Buffer.alloc(FINGERPRINT_MAX);
  const { bytesRead } = await fh.read(buf, 0, FINGERPRINT_MAX, 0);
  return fingerprintOf(buf.subarray(0, bytesRead));
}

/**
 * Follows one path, through rotations, truncations, deletion and restarts, and hands complete lines to
 * `onChunk` in order, each byte once (at least once across a crash, from the last commit).
 *
 * Reading is done by a ByteSource (default: @logdna/tail-file pinned to our descriptor) and driven by this
 * class: a directory fs.watch event (or the fallback poll) runs a check (stat the path, compare inode and
 * fingerprint with the file being read), then a read. All checks, switches and recoveries run one at a
 * time; chunks are delivered synchronously from the reads.
 *
 * Committing: the consumer calls `commit(chunk.endOffset, state?, file?)` once it has fully processed a
 * chunk (or sets `autoCommit`). The store then holds the start of the first unprocessed line of that file.
 * A consumer that writes the store itself passes `checkpoint: store.get(key)` instead of `store`, and
 * stores `file.checkpoint(chunk.endOffset)`.
 *
 * ```ts
 * const store = await CheckpointStore.open('/var/lib/stunnel-doctor', { logger });
 * const key = '/var/log/stunnel4/stunnel.log';
 * correlator.restore(store.get(key)?.state);            // the state stored with the last commit
 * const f = new FileFollower({
 *   path: key, store, logger,
 *   onChunk(chunk, file) {                               // synchronous, in order
 *     pipeline.push(chunk, file.fingerprint);            // event ids: (proxy, file.fingerprint, line offset)
 *     f.commit(chunk.endOffset, correlator.snapshot(), file);
 *   },
 *   onNotice: (n) => logger.info(n, 'tail'),            // rotated/missing/deleted/error/...
 * });
 * await f.start();
 * flushOnSignals(store, { before: () => f.stop(), logger });
 * ```
 */
export class FileFollower {
  readonly path: string;
  readonly key: string;
  private readonly opts: FollowerOptions;
  private readonly logger: TailLogger;
  private readonly hub: DirWatchHub;
  private readonly sourceFactory: ByteSourceFactory;
  private readonly pollMs: number;
  private readonly safetyPollMs: number;
  /** Every watch target has a live directory watch (set by ensureWatches). */
  private watchLive = false;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly chunker: LineChunker;

  private state: FollowerState = 'idle';
  private started = false;
  private stopped = false;
  private stopPromise: Promise<void> | null = null;
  private firstAttempt = true;

  /** The generation being followed (the file at the path, or the old one while it is drained). */
  private cur: Gen | null = null;
  /** The generation whose source feeds the chunker. */
  private active: Gen | null = null;
  private lastGen: Gen | null = null;
  private readonly gens = new Map<number, Gen>();
  private genSeq = 0;
  private lastDelivered: Gen | null = null;
  private committed: Committed | null = null;
  /** Where to resume after an internal error dropped the current file (used once by resumeInto). */
  private recovery: CheckpointRecord | null = null;
  private readonly handles = new Set<FileHandle>();

  private tail: Promise<unknown> = Promise.resolve();
  private checkQueued = false;
  private timer: NodeJS.Timeout | null = null;
  private problem: string | null = null;
  private failStreak = 0;
  private linkTarget: string | null | undefined = undefined;
  private readonly unsubs = new Map<string, () => void>();

  private readonly rotations: Record<RotationMode, number> = { rename: 0, copytruncate: 0, truncate: 0, replaced: 0 };
  private errors = 0;
  private bytesRead = 0;
  private chunks = 0;
  private pathSize = 0;
  private readonly maxReadBytes: number;
  private turns = 0;
  private maxTurnBytes = 0;
  /** The read turn in progress (bytes delivered by it are counted into its gate). */
  private turn: { bytes: number; gate: ReadTurn | null } | null = null;

  constructor(opts: FollowerOptions) {
    this.opts = opts;
    this.path = path.resolve(opts.path);
    this.key = opts.key ?? this.path;
    this.logger = opts.logger ?? silentLogger;
    this.hub = opts.watchHub ?? sharedWatchHub();
    this.sourceFactory = opts.sourceFactory ?? logdnaTailSource;
    this.pollMs = opts.pollMs ?? 1000;
    this.safetyPollMs = Math.max(this.pollMs, opts.safetyPollMs ?? Math.min(10 * this.pollMs, 30_000));
    this.retryMinMs = opts.retryMinMs ?? 200;
    this.retryMaxMs = opts.retryMaxMs ?? 30_000;
    this.chunker = new LineChunker(0, opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.maxReadBytes = Math.max(1, opts.maxReadBytes ?? 2 << 20);
  }

  /**
   * Opens the file (or starts waiting for it) and reads what is there (every turn of it). Resolves once that
   * first attempt is done; never rejects for file problems (they are notices).
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.exclusive(() => this.checkOnce());
    // ...and the first read it queued.
    await this.tail;
    await this.settle();
  }

  /** Runs a check-and-read now; resolves when it is done, every turn of it (tests and `scan`-like callers). */
  check(): Promise<void> {
    return this.exclusive(() => this.checkOnce()).then(() => this.settle());
  }

  /** A read turn stopped at maxReadBytes and queued the next: the file is not read to the size seen yet. */
  private behind = false;

  /** Waits for the turns queued by the per-turn bound (the rest of what was there when the read began). */
  private async settle(): Promise<void> {
    while (this.behind && !this.stopped) await this.tail;
  }

  /**
   * Records that every line before `offset` in `file` (default: the file of the last delivered chunk) is
   * fully processed; `offset` is a `chunk.endOffset`. `state` is stored with it (undefined keeps the previous
   * state, null clears it). Stale commits (an older file, a smaller offset) are ignored and return false.
   * Commits of a file that has been fully read move on to its successor at offset 0.
   */
  commit(offset: number, state?: unknown, file?: FileRef): boolean {
    const id = file?.gen ?? this.lastDelivered?.id;
    if (id === undefined) return false;
    let g = this.gens.get(id);
    if (!g) return false;
    const c = this.committed;
    if (c && (id < c.gen || (id === c.gen && offset < c.offset))) return false;
    const deliveredEnd = g === this.active ? this.chunker.committedOffset : (g.finalOffset ?? g.startOffset);
    if (offset < g.startOffset || offset > deliveredEnd) return false;
    this.committed = { gen: id, offset, state: state === undefined ? c?.state : state };
    this.advanceCommitted();
    g = this.gens.get(this.committed.gen)!;
    this.writeCheckpoint(g);
    return true;
  }

  /** Aborted when stop() is called (ends a backpressure wait, a wait for a read slot). */
  private readonly stopping = new AbortController();

  /** Stops reading; after the call no callback fires. Closes files, then flushes the store. */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopped = true;
    this.stopping.abort();
    this.state = 'stopped';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const u of this.unsubs.values()) u();
    this.unsubs.clear();
    this.stopPromise = (async () => {
      await this.closeSources();
      await this.tail.catch(() => {});
      await this.closeSources();
      await Promise.all([...this.handles].map((fh) => fh.close().catch(() => {})));
      this.handles.clear();
      if (this.store) await this.store.flush();
    })();
    return this.stopPromise;
  }

  /**
   * Whether every byte of the followed file is delivered at this moment: a fresh fstat of the file being read
   * (synchronous, so nothing runs between it and the caller's decision) equals the delivered offset, no older
   * file is still being drained, and no other file waits at the path (a rotation not seen yet). The size seen
   * at the last check is not enough: while the follower is starved of CPU or paused by backpressure, lines
   * written since that check are unread. Callers decide with it that a log is quiet (the correlator's sweep).
   */
  caughtUp(): boolean {
    if (this.stopped) return false;
    const cur = this.cur;
    if (!cur) return true; // nothing open (missing, unreadable): no unread line can be delivered now
    if (this.active !== cur || cur.finalOffset !== undefined) return false;
    try {
      if (fstatSync(cur.fh.fd).size !== this.chunker.committedOffset) return false;
    } catch {
      return false;
    }
    try {
      const st = statSync(this.path);
      if ((st.dev !== cur.dev || st.ino !== cur.ino) && st.size > 0) return false;
    } catch {
      /* the path is gone: nothing more will come there */
    }
    return true;
  }

  /** metrics().fileSize, without making the whole record (the sidecar asks for every file every second). */
  get fileSize(): number {
    return this.pathSize;
  }

  /** metrics().committedOffset, likewise. */
  get committedOffset(): number {
    return this.committed?.offset ?? 0;
  }

  /** metrics().deliveredOffset, likewise. */
  get deliveredOffset(): number {
    return this.active ?? this.cur ? this.chunker.committedOffset : 0;
  }

  /** metrics().state, likewise. */
  get followState(): FollowerState {
    return this.state;
  }

  metrics(): FollowerMetrics {
    const reading = this.active ?? this.cur;
    const cg = this.committed ? this.gens.get(this.committed.gen) : undefined;
    const committedOffset = this.committed?.offset ?? 0;
    // Lag behind the file at the path: from the commit in it, else (a consumer that does not commit) from
    // the delivered position.
    let base: number | null = null;
    if (this.cur && !this.cur.pathGone) {
      if (cg === this.cur) base = committedOffset;
      else if (this.active === this.cur && !this.committed) base = this.chunker.committedOffset;
    }
    return {
      path: this.path,
      key: this.key,
      state: this.state,
      committedOffset,
      committedFingerprint: cg?.fingerprint ?? '',
      deliveredOffset: reading ? this.chunker.committedOffset : 0,
      readOffset: reading?.source?.position ?? reading?.finalOffset ?? 0,
      fileSize: this.pathSize,
      lagBytes: base === null ? this.pathSize : Math.max(0, this.pathSize - base),
      rotations: { ...this.rotations },
      cutLines: this.chunker.cutLines,
      errors: this.errors,
      bytesRead: this.bytesRead,
      chunks: this.chunks,
      turns: this.turns,
      maxTurnBytes: this.maxTurnBytes,
    };
  }

  private get store(): CheckpointStore | undefined {
    return this.opts.store;
  }

  // ------------------------------------------------------------------------------------------ scheduling

  /** Runs `fn` after every earlier task; never rejects (failures become internal-error notices). */
  private exclusive<T>(fn: () => Promise<T>): Promise<T | undefined> {
    this.tasks++;
    const run = this.tail.then(() => (this.stopped ? undefined : fn()));
    const safe = run
      .catch((err: unknown) => {
        this.internalError(err);
        return undefined;
      })
      .finally(() => {
        this.tasks--;
      });
    this.tail = safe;
    return safe;
  }

  /** Tasks of exclusive() queued or running: the append fast path runs only when there is none. */
  private tasks = 0;

  /**
   * A directory watch event about the followed path itself. A plain append (the common case: stunnel wrote
   * lines) is read at once, synchronously (appendNow); anything else, or anything unusual, runs the full
   * check-and-read (trigger).
   */
  private onPathEvent = (event: string): void => {
    if (event === 'change' && this.appendNow()) return;
    this.trigger();
  };

  /**
   * The fast path for an append to the file being followed, run from the watch event: the same check as
   * checkFollowing (lstat of the path: same file, not shorter, its first line unchanged) and the read of what
   * was appended, with synchronous calls, so the lines are delivered before the event callback returns.
   *
   * Why: the asynchronous check-and-read is five thread-pool round trips in a row (lstat, the fingerprint
   * read, TailFile's stat, open, read) and each one waits for the event loop to be scheduled again. On an
   * idle machine that is ~2 ms, but on a busy one (more runnable threads than cores) every wake-up can wait
   * for a time slice: that chain was the p99/max of the follow latency (issue #5). The synchronous calls are
   * short on a local file (an lstat, a 1 KiB read of the page cache, a read of the appended bytes).
   *
   * Taken only when nothing else is in progress or unusual: no check queued or running, no problem reported,
   * the path a regular file (not a symlink), the file read is the one at the path (no rotation, no drain), no
   * turn behind, the consumer ready (no backpressure), a free slot of the read gate with nobody waiting for
   * one, and at most `readChunkBytes` appended (a bigger read is a backlog: bounded turns through the gate).
   * Otherwise, or when the file turns out shorter, rewritten or replaced, it returns false and the caller
   * runs the full check, which handles it exactly as before. Returns true when it handled the event.
   */
  private appendNow(): boolean {
    const cur = this.cur;
    const src = cur?.source;
    if (this.stopped || this.tasks > 0 || this.checkQueued || this.problem !== null || this.behind) return false;
    if (!cur || !src?.readNow || src.limited || this.active !== cur || cur.finalOffset !== undefined || cur.pathGone) return false;
    // The path was a regular file at the last check (a symlink's target is checked the full way).
    if (this.linkTarget !== null) return false;
    if (this.opts.ready?.()) return false;
    let st: Stats;
    try {
      st = lstatSync(this.path);
    } catch {
      return false;
    }
    if (!st.isFile() || st.dev !== cur.dev || st.ino !== cur.ino) return false;
    const pos = src.position;
    const appended = st.size - pos;
    if (appended < 0 || appended > (this.opts.readChunkBytes ?? 64 * 1024)) return false;
    if (st.size !== cur.lastSize || st.mtimeMs !== cur.lastMtimeMs) {
      // As checkFollowing: same inode, different first line is a truncation (the full check handles it; the
      // size and mtime seen are not recorded here, so it looks at the first line again).
      let fp: string;
      try {
        const head = Buffer.allocUnsafe(FINGERPRINT_MAX);
        fp = fingerprintOf(head.subarray(0, readSync(cur.fh.fd, head, 0, FINGERPRINT_MAX, 0)));
      } catch {
        return false;
      }
      if (!headStillOurs(cur, fp)) return false;
      cur.lastSize = st.size;
      cur.lastMtimeMs = st.mtimeMs;
    }
    this.pathSize = st.size;
    if (appended > 0) {
      const gate = this.opts.readGate;
      const slot = gate ? gate.tryAcquire() : null;
      if (gate && !slot) return false;
      const turn = { bytes: 0, gate: slot };
      this.turn = turn;
      let n: number | null;
      try {
        n = src.readNow(appended);
      } finally {
        this.turn = null;
        slot?.release();
      }
      if (turn.bytes > 0) {
        this.turns++;
        if (turn.bytes > this.maxTurnBytes) this.maxTurnBytes = turn.bytes;
      }
      // Not read (or less than the size seen): the full check reads it, and reports a failure.
      if (n === null || n < appended) {
        this.trigger();
        return true;
      }
    }
    this.maybeStats();
    return true;
  }

  /** A filesystem event or the timer: one check-and-read, coalesced with any already queued. */
  private trigger = (): void => {
    if (this.stopped || this.checkQueued) return;
    this.checkQueued = true;
    void this.exclusive(async () => {
      const wait = this.opts.ready?.();
      if (wait) await untilAborted(wait, this.stopping.signal);
      this.checkQueued = false;
      if (this.stopped) return;
      await this.checkOnce();
    });
  };

  private armTimer(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    let delay = this.watchLive && !this.problem ? this.safetyPollMs : this.pollMs;
    if (this.problem && this.failStreak > 0) {
      delay = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(this.failStreak - 1, 20));
    }
    this.timer = setTimeout(this.trigger, delay);
  }

  /**
   * The watched (directory, name) pairs and their keys, made again only when the names to watch or the symlink
   * target change: every check asks (each followed file every safety poll), and resolving six paths each
   * time was most of what an idle sidecar allocated.
   */
  private watchCache: { raw: readonly string[] | null; link: string | null | undefined; targets: { dir: string; name: string; key: string }[] } | null = null;

  private watchTargets(): { dir: string; name: string; key: string }[] {
    const r = this.opts.rotatedNames;
    const raw = r ? (typeof r === 'function' ? r(this.path, true) : r) : null;
    const c = this.watchCache;
    if (c && c.link === this.linkTarget && sameNames(c.raw, raw)) return c.targets;
    const names = new Set<string>([this.path, ...this.rotatedNames(true, raw)]);
    if (this.linkTarget) names.add(path.resolve(path.dirname(this.path), this.linkTarget));
    const targets = [...names].map((n) => {
      const dir = path.dirname(n);
      const name = path.basename(n);
      return { dir, name, key: `${dir}\0${name}` };
    });
    this.watchCache = { raw: raw ? [...raw] : null, link: this.linkTarget, targets };
    return targets;
  }

  private ensureWatches(): void {
    this.watchLive = false;
    if (this.opts.watch === false || this.stopped) return;
    const targets = this.watchTargets();
    // The first target is the followed path itself: its events may take the append fast path (onPathEvent).
    const pathKey = targets[0]?.key;
    let wanted = 0;
    for (const { dir, name, key: k } of targets) {
      wanted++;
      if (this.unsubs.has(k) && this.hub.has(dir)) {
        this.hub.revalidate(dir, this.pollMs);
        continue;
      }
      this.unsubs.get(k)?.();
      const u = this.hub.subscribe(dir, name, k === pathKey ? this.onPathEvent : this.trigger);
      if (u) this.unsubs.set(k, u);
      else this.unsubs.delete(k);
    }
    if (this.unsubs.size > wanted) {
      const keep = new Set(targets.map((t) => t.key));
      for (const [k, u] of this.unsubs) {
        if (!keep.has(k)) {
          u();
          this.unsubs.delete(k);
        }
      }
    }
    this.watchLive = this.unsubs.size === wanted;
  }

  /** `raw`: the names the option gave, when the caller asked it already. */
  private rotatedNames(forWatch = false, raw?: readonly string[] | null): string[] {
    const r = this.opts.rotatedNames;
    if (!r) return [this.path + '.1'];
    const names = raw ?? (typeof r === 'function' ? r(this.path, forWatch) : r);
    return names.map((n) => path.resolve(path.dirname(this.path), n));
  }

  // ------------------------------------------------------------------------------------------ the check

  private async checkOnce(): Promise<void> {
    this.behind = false;
    try {
      this.ensureWatches();
      if (!this.cur) await this.openInitial();
      else await this.checkFollowing(this.cur);
    } finally {
      this.maybeStats();
      this.armTimer();
    }
  }

  private lastStats = { size: -1, at: 0 };
  private maybeStats(): void {
    const now = Date.now();
    if (this.pathSize === this.lastStats.size || now - this.lastStats.at < this.pollMs) return;
    this.lastStats = { size: this.pathSize, at: now };
    this.notify({ type: 'stats', path: this.path, size: this.pathSize, offset: this.active || this.cur ? this.chunker.committedOffset : 0 }, 'debug');
  }

  private async openInitial(): Promise<void> {
    const first = this.firstAttempt;
    this.firstAttempt = false;
    const op = await this.openPath();
    if (this.stopped) {
      if (!isProblem(op)) await this.closeHandle(op.fh);
      return;
    }
    if (isProblem(op)) {
      this.reportProblem(op);
      this.state = op.kind === 'missing' ? 'waiting' : 'error';
      return;
    }
    this.clearProblem();
    this.state = 'following';
    await this.resumeInto(op, first);
  }

  private async checkFollowing(cur: Gen): Promise<void> {
    const p = await this.probePath();
    if (this.stopped || this.cur !== cur) return;
    if (p.kind === 'file' && p.st.dev === cur.dev && p.st.ino === cur.ino) {
      cur.pathGone = false;
      this.clearProblem();
      this.state = 'following';
      this.pathSize = p.st.size;
      const pos = cur.source?.position ?? cur.startOffset;
      if (p.st.size < pos) return this.handleTruncation(cur);
      if (p.st.size !== cur.lastSize || p.st.mtimeMs !== cur.lastMtimeMs) {
        cur.lastSize = p.st.size;
        cur.lastMtimeMs = p.st.mtimeMs;
        const fp = await headFingerprint(cur.fh);
        if (this.stopped || this.cur !== cur) return;
        // Same inode, different first line: truncated and rewritten past our offset (or same size).
        if (!headStillOurs(cur, fp)) return this.handleTruncation(cur);
      }
      // Nothing appended since the last read: skip the read (idle files cost one lstat per poll period).
      if (p.st.size > pos || !cur.source) await this.readTurn(cur);
      return;
    }
    // The path no longer leads to the file we read: keep reading that one through our handle meanwhile.
    await this.readTurn(cur);
    if (this.stopped || this.cur !== cur) return;
    if (p.kind === 'missing') {
      if (!cur.pathGone) {
        cur.pathGone = true;
        const st = await cur.fh.stat();
        if (st.nlink === 0) {
          this.notify({ type: 'deleted', path: this.path, readFrom: cur.readFrom, offset: cur.source?.position ?? 0 }, 'info');
        }
      }
      this.pathSize = 0;
      return;
    }
    if (isProblem(p)) {
      this.reportProblem(p);
      return;
    }
    this.pathSize = p.st.size;
    // A different file at the path. While it is empty, the writer may still append to the old one (logrotate
    // `create` renames, then stunnel reopens on SIGUSR1): keep reading the old one until the new one has data.
    if (p.st.size === 0) return;
    const op = await this.openFile(this.path);
    if (this.stopped) {
      if (!isProblem(op)) await this.closeHandle(op.fh);
      return;
    }
    if (isProblem(op)) {
      this.reportProblem(op);
      return;
    }
    this.clearProblem();
    const old = await cur.fh.stat();
    await this.switchTo(cur, op, old.nlink > 0 ? 'rename' : 'replaced');
  }

  // ------------------------------------------------------------------------------------------ transitions

  /** First open: resume from the checkpoint if it still describes this file, else recover or start over. */
  private async resumeInto(op: Opened, existedAtStart: boolean): Promise<void> {
    const recovery = this.recovery;
    this.recovery = null;
    const rec = recovery ?? (this.opts.checkpoint !== undefined ? this.opts.checkpoint : this.store?.get(this.key));
    if (!rec) {
      const off = existedAtStart && this.opts.startAt === 'end' ? await this.lastLineEnd(op) : 0;
      const g = this.followNew(op, off, off > 0 ? 'end' : 'beginning');
      if (g) await this.commitStart(g);
      return;
    }
    if (this.sameContent(op, rec) && op.st.size >= rec.offset) {
      const g = this.followNew(op, rec.offset, recovery ? 'beginning' : 'checkpoint');
      if (g && !recovery) this.committed = { gen: g.id, offset: rec.offset, state: rec.state };
      return;
    }
    // The file at the path is not the checkpoint's any more: find the checkpoint's content under a rotated name.
    const copy = await this.findRotated(rec, rec.offset, op.st, undefined, true);
    if (this.stopped) {
      if (copy) await this.closeHandle(copy.fh);
      await this.closeHandle(op.fh);
      return;
    }
    if (copy) {
      // The checkpoint's inode, not a new file that got its freed number (birth time differs).
      const isOld = (s: Stats) =>
        s.ino === rec.ino && s.dev === rec.dev && (rec.birthtimeMs === undefined || !(s.birthtimeMs > 0) || s.birthtimeMs === rec.birthtimeMs);
      const mode: RotationMode = !isOld(copy.st) && isOld(op.st) ? 'copytruncate' : 'rename';
      // Rotated again after it (several rotations while down): the newer rotated files come next.
      const newer = await this.newerRotated(withoutCompressedSuffix(copy.name), op, rec.fingerprint);
      this.rotated(mode, { readFrom: copy.name, offset: rec.offset, gapBytes: copy.st.size - rec.offset, whileDown: !recovery, fingerprint: rec.fingerprint });
      await this.drainCopy(copy, rec.offset, rec.fingerprint, (g) => {
        if (!recovery) this.committed = { gen: g.id, offset: rec.offset, state: rec.state };
      });
      await this.drainNewer(newer, !recovery);
    } else {
      // Same first line, shorter: truncated. Same inode, new first line: truncated in place (`log = overwrite`),
      // unless its birth time differs: then a new file got the freed inode number (deleted and recreated).
      const sameInode = op.st.ino === rec.ino && op.st.dev === rec.dev;
      const reborn = rec.birthtimeMs !== undefined && op.st.birthtimeMs > 0 && op.st.birthtimeMs !== rec.birthtimeMs;
      const mode: RotationMode =
        (rec.fingerprint !== '' && op.fp === rec.fingerprint) || (sameInode && !reborn) ? 'truncate' : 'replaced';
      this.rotated(mode, { offset: rec.offset, whileDown: !recovery, fingerprint: rec.fingerprint });
      this.committed = null;
    }
    if (this.stopped) {
      await this.closeHandle(op.fh);
      return;
    }
    const g = this.followNew(op, 0, 'beginning');
    this.advanceCommitted();
    if (g && !this.committed) await this.commitStart(g);
  }

  /**
   * With no checkpoint to resume from, the position reading starts at (file identity, start offset, no
   * state) is made durable before the first line is delivered (the read followNew queued runs after this
   * task). Without it, a crash before the consumer's first commit left nothing on disk, and a restart after
   * a rotation took the new file for a first start: the rest of the rotated file was never read, and its
   * open connections were concluded without their beginning.
   */
  private async commitStart(g: Gen): Promise<void> {
    if (!this.store || this.committed || this.stopped) return;
    this.committed = { gen: g.id, offset: g.startOffset, state: null };
    this.writeCheckpoint(g);
    await this.store.flush();
  }

  private sameContent(op: Opened, rec: CheckpointRecord): boolean {
    if (rec.fingerprint !== '') return op.fp === rec.fingerprint;
    return op.st.dev === rec.dev && op.st.ino === rec.ino;
  }

  /** Starts following `op` (the file at the path) at `offset`; it becomes cur and active. */
  private followNew(op: Opened, offset: number, resume: 'checkpoint' | 'beginning' | 'end'): Gen | null {
    if (this.stopped) {
      void this.closeHandle(op.fh);
      return null;
    }
    const gen = this.newGen(op, offset, op.fp);
    this.cur = gen;
    this.pathSize = op.st.size;
    this.startSource(gen);
    this.notify({ type: 'opened', path: this.path, offset, resume, fingerprint: gen.fingerprint }, 'info');
    // Read now (queued after the current task).
    this.trigger();
    return gen;
  }

  private newGen(op: Opened, offset: number, fingerprint: string): Gen {
    const gen: Gen = {
      id: ++this.genSeq,
      fh: op.fh,
      dev: op.st.dev,
      ino: op.st.ino,
      readFrom: op.name,
      fingerprint,
      startOffset: offset,
      source: null,
      ref: null,
      lastSize: op.st.size,
      lastMtimeMs: op.st.mtimeMs,
      birthtimeMs: op.st.birthtimeMs,
    };
    if (this.lastGen) this.lastGen.successor = gen.id;
    this.lastGen = gen;
    this.gens.set(gen.id, gen);
    this.pruneGens();
    return gen;
  }

  private startSource(gen: Gen): void {
    this.chunker.reset(gen.startOffset);
    this.active = gen;
    gen.source = this.sourceFactory(
      { fh: gen.fh, startPos: gen.startOffset, readChunkBytes: this.opts.readChunkBytes, maxPollBytes: this.maxReadBytes },
      {
        data: (buf) => this.onData(gen, buf),
        truncated: () => {
          if (!this.stopped && this.cur === gen) void this.exclusive(() => this.handleTruncation(gen));
        },
        error: (err) => {
          if (this.stopped) return;
          this.errors++;
          this.notify({ type: 'error', reason: 'read-error', path: this.path, readFrom: gen.readFrom, ...errInfo(err) }, 'warn');
        },
      },
    );
  }

  /** Reads `copy` from `from` to its end (a rotated file: nothing more will be written to it), then closes it. */
  private async drainCopy(copy: Opened, from: number, fingerprint: string, onGen?: (g: Gen) => void): Promise<Gen | null> {
    if (this.stopped) {
      await this.closeHandle(copy.fh);
      return null;
    }
    const gen = this.newGen(copy, from, fingerprint);
    onGen?.(gen);
    if (copy.st.size > from) {
      this.startSource(gen);
      await this.readToEnd(gen);
    }
    await this.retire(gen, true);
    return gen;
  }

  /**
   * The rotated files newer than the one at `name` (listed before it in rotatedNames: `path.1` is newer than
   * `path.2`), oldest first, opened now. Left out: the file at the path (`cur`) and copies of it (a
   * copytruncate not finished: the path is read anyway), copies of `skipFingerprint` (the file just
   * drained), empty files.
   */
  private async newerRotated(name: string, cur: Opened, skipFingerprint: string): Promise<Opened[]> {
    const names = this.rotatedNames();
    const out: Opened[] = [];
    for (let i = names.indexOf(name) - 1; i >= 0; i--) {
      let o: Opened | Problem = await this.openFile(names[i]!);
      if (isProblem(o)) {
        // Compressed since (`delaycompress`: every rotated file but the newest).
        const z = o.kind === 'missing' ? await this.openCompressed(names[i]!, null) : null;
        if (!z) continue;
        o = z;
      }
      const skip =
        o.st.size === 0 ||
        (o.st.dev === cur.st.dev && o.st.ino === cur.st.ino) ||
        (o.fp !== '' && (o.fp === cur.fp || o.fp === skipFingerprint)) ||
        out.some((x) => x.st.dev === o.st.dev && x.st.ino === o.st.ino);
      if (skip) await this.closeHandle(o.fh);
      else out.push(o);
    }
    return out;
  }

  /** newerRotated() for the rotated name `old` (a renamed file we read) has now, if it has one. */
  private async newerThan(old: Gen, cur: Opened): Promise<Opened[]> {
    for (const name of this.rotatedNames()) {
      try {
        const st = await fsp.stat(name);
        if (st.dev === old.dev && st.ino === old.ino) return await this.newerRotated(name, cur, old.fingerprint);
      } catch {
        /* not there */
      }
    }
    return [];
  }

  /** Reads each of `files` (newer rotated files, oldest first) from its start to its end. */
  private async drainNewer(files: Opened[], whileDown: boolean): Promise<void> {
    for (const n of files) {
      if (this.stopped) {
        await this.closeHandle(n.fh);
        continue;
      }
      this.rotated('rename', { readFrom: n.name, offset: 0, whileDown, fingerprint: n.fp });
      await this.drainCopy(n, 0, n.fp);
    }
  }

  /** No more lines from `gen`: stop its source, note a dropped partial line, close its file if asked. */
  private async retire(gen: Gen, closeFile: boolean): Promise<void> {
    const src = gen.source;
    gen.source = null;
    if (src) await src.close();
    const wasActive = this.active === gen;
    const delivered = wasActive ? this.chunker.committedOffset : gen.startOffset;
    const pos = src?.position ?? gen.startOffset;
    if (wasActive) this.active = null;
    gen.finalOffset = delivered;
    if (pos > delivered && !this.stopped) {
      this.notify({ type: 'partial-line-dropped', path: this.path, readFrom: gen.readFrom, offset: delivered, bytes: pos - delivered }, 'warn');
    }
    if (closeFile) await this.closeHandle(gen.fh);
  }

  /** Rotation (rename/replaced): drain the old file to its current end, then follow the new one from 0. */
  private async switchTo(old: Gen, op: Opened, mode: RotationMode): Promise<void> {
    await this.readToEnd(old);
    // Rotated twice between two checks: the old file is at `path.2`, and `path.1` comes before the new one.
    const newer = mode === 'rename' ? await this.newerThan(old, op) : [];
    await this.retire(old, true);
    if (this.stopped) {
      for (const n of newer) await this.closeHandle(n.fh);
      await this.closeHandle(op.fh);
      return;
    }
    this.rotated(mode, { readFrom: old.readFrom, offset: old.finalOffset, fingerprint: old.fingerprint });
    await this.drainNewer(newer, false);
    if (this.stopped) {
      await this.closeHandle(op.fh);
      return;
    }
    this.followNew(op, 0, 'beginning');
    this.advanceCommitted();
  }

  /**
   * The file we read got shorter than our position, or its first line changed: truncated in place. If a
   * rotated copy holds our content (copytruncate), read the part we had not delivered from it; then read
   * the truncated file from 0.
   */
  private async handleTruncation(gen: Gen): Promise<void> {
    if (this.stopped || this.cur !== gen || gen.finalOffset !== undefined) return;
    const src = gen.source;
    gen.source = null;
    if (src) await src.close();
    const delivered = this.active === gen ? this.chunker.committedOffset : gen.startOffset;
    const pos = src?.position ?? gen.startOffset;
    if (this.active === gen) this.active = null;
    gen.finalOffset = delivered;
    const copy = gen.fingerprint !== '' ? await this.findRotated(gen, delivered, null, gen) : null;
    if (this.stopped) {
      if (copy) await this.closeHandle(copy.fh);
      return;
    }
    if (copy) {
      const st = await gen.fh.stat();
      const newer = await this.newerRotated(copy.name, { fh: gen.fh, st, fp: await headFingerprint(gen.fh), name: this.path }, gen.fingerprint);
      this.rotated('copytruncate', { readFrom: copy.name, offset: delivered, gapBytes: copy.st.size - delivered, fingerprint: gen.fingerprint });
      await this.drainCopy(copy, delivered, gen.fingerprint);
      await this.drainNewer(newer, false);
    } else {
      if (pos > delivered) {
        this.notify({ type: 'partial-line-dropped', path: this.path, readFrom: gen.readFrom, offset: delivered, bytes: pos - delivered }, 'warn');
      }
      this.rotated('truncate', { readFrom: gen.readFrom, offset: delivered, fingerprint: gen.fingerprint });
    }
    if (this.stopped) return;
    // Same inode, new content: a new generation on the same handle.
    const st = await gen.fh.stat();
    const fp = await headFingerprint(gen.fh);
    this.followNew({ fh: gen.fh, st, fp, name: this.path }, 0, 'beginning');
    this.advanceCommitted();
  }

  private rotated(mode: RotationMode, extra: Partial<TailNotice>): void {
    this.rotations[mode]++;
    this.notify({ type: 'rotated', path: this.path, mode, ...extra }, 'info');
  }

  // ------------------------------------------------------------------------------------------ delivery

  /**
   * One bounded read turn of `gen`'s source: waits for a slot of the shared gate (if any), then for `ready`
   * (the consumer's output may have become congested while waiting), reads at most maxReadBytes. When the
   * bound cut it short, another check-and-read is queued: the rest is read in later turns, after the event
   * loop has run other work.
   */
  private async readTurn(gen: Gen): Promise<void> {
    if (!gen.source || this.stopped) return;
    await this.boundedPoll(gen);
    if (gen.source?.limited && !this.stopped && gen === this.cur) {
      this.behind = true;
      this.trigger();
    }
  }

  /** Reads `gen` to its current end (a file being left: rotated, drained), turn by turn. */
  private async readToEnd(gen: Gen): Promise<void> {
    for (;;) {
      await this.boundedPoll(gen);
      if (this.stopped || !gen.source?.limited) return;
      const wait = this.opts.ready?.();
      if (wait) await untilAborted(wait, this.stopping.signal);
      await new Promise((r) => setImmediate(r));
    }
  }

  private async boundedPoll(gen: Gen): Promise<void> {
    const src = gen.source;
    if (!src || this.stopped) return;
    let slot: ReadTurn | null = null;
    const gate = this.opts.readGate;
    if (gate) {
      slot = await gate.acquire(this.stopping.signal);
      if (!slot) return;
    }
    try {
      if (gate) {
        const wait = this.opts.ready?.();
        if (wait) await untilAborted(wait, this.stopping.signal);
      }
      if (this.stopped || gen.source !== src) return;
      const turn = { bytes: 0, gate: slot };
      this.turn = turn;
      try {
        await src.poll();
      } finally {
        this.turn = null;
      }
      if (turn.bytes > 0) {
        this.turns++;
        if (turn.bytes > this.maxTurnBytes) this.maxTurnBytes = turn.bytes;
      }
    } finally {
      slot?.release();
    }
  }

  private onData(gen: Gen, buf: Buffer): void {
    if (this.stopped || this.active !== gen) return;
    this.bytesRead += buf.length;
    const t = this.turn;
    if (t) {
      t.bytes += buf.length;
      t.gate?.add(buf.length);
    }
    this.chunker.push(buf, (chunk) => this.deliver(gen, chunk));
  }

  private deliver(gen: Gen, chunk: Chunk): void {
    if (this.stopped || this.active !== gen) return;
    const ref = gen.ref ?? this.makeRef(gen, chunk);
    this.lastDelivered = gen;
    this.chunks++;
    try {
      this.opts.onChunk(chunk, ref);
    } catch (err) {
      this.errors++;
      this.notify({ type: 'error', reason: 'consumer-error', path: this.path, readFrom: gen.readFrom, offset: chunk.baseOffset, ...errInfo(err) }, 'error');
    }
    if (this.opts.autoCommit && !this.stopped) this.commit(chunk.endOffset, undefined, ref);
  }

  private makeRef(gen: Gen, chunk: Chunk): FileRef {
    if (gen.fingerprint === '') {
      // Started at 0 on a file whose first line was incomplete: it is complete now (we deliver it).
      const head = Buffer.alloc(FINGERPRINT_MAX);
      let n = 0;
      try {
        n = readSync(gen.fh.fd, head, 0, FINGERPRINT_MAX, 0);
      } catch {
        /* use the chunk below */
      }
      gen.fingerprint = fingerprintOf(head.subarray(0, n));
      if (gen.fingerprint === '' && chunk.baseOffset === 0) gen.fingerprint = fingerprintOf(chunk.buf);
    }
    const followed = this.path;
    gen.ref = Object.freeze({
      path: followed,
      readFrom: gen.readFrom,
      fingerprint: gen.fingerprint,
      dev: gen.dev,
      ino: gen.ino,
      gen: gen.id,
      checkpoint: (offset: number) => {
        const rec: Omit<CheckpointRecord, 'updatedAt'> = {
          path: followed,
          dev: gen.dev,
          ino: gen.ino,
          fingerprint: gen.fingerprint,
          offset,
          size: Math.max(gen.lastSize, gen.source?.position ?? 0, offset),
        };
        if (gen.birthtimeMs > 0) rec.birthtimeMs = gen.birthtimeMs;
        return rec;
      },
    });
    return gen.ref;
  }

  // ------------------------------------------------------------------------------------------ checkpoints

  /** A committed offset at the end of a finished generation moves to the start of its successor. */
  private advanceCommitted(): void {
    const c = this.committed;
    if (!c) return;
    let g = this.gens.get(c.gen);
    let moved = false;
    while (g && g.finalOffset !== undefined && c.offset >= g.finalOffset && g.successor !== undefined) {
      const s = this.gens.get(g.successor);
      if (!s) break;
      c.gen = s.id;
      c.offset = s.startOffset;
      g = s;
      moved = true;
    }
    for (const id of this.gens.keys()) {
      if (id < c.gen && this.gens.get(id) !== this.cur && this.gens.get(id) !== this.active) this.gens.delete(id);
    }
    if (moved && g) this.writeCheckpoint(g);
  }

  /** Without commits the generation list would grow by one per rotation: keep the last few. */
  private pruneGens(): void {
    if (this.gens.size <= 16) return;
    const keep = new Set([this.cur?.id, this.active?.id, this.committed?.gen, this.lastDelivered?.id]);
    for (const id of [...this.gens.keys()].sort((a, b) => a - b)) {
      if (this.gens.size <= 16) break;
      if (!keep.has(id)) this.gens.delete(id);
    }
  }

  private writeCheckpoint(g: Gen): void {
    const c = this.committed;
    if (!c || !this.store) return;
    const size = Math.max(g.lastSize, g.source?.position ?? 0, c.offset);
    const rec: Omit<CheckpointRecord, 'updatedAt'> = { path: this.path, dev: g.dev, ino: g.ino, fingerprint: g.fingerprint, offset: c.offset, size };
    if (g.birthtimeMs > 0) rec.birthtimeMs = g.birthtimeMs;
    if (c.state !== undefined) rec.state = c.state;
    this.store.set(this.key, rec);
  }

  // ------------------------------------------------------------------------------------------ files

  /** lstat/stat of the followed path, tracking symlink swaps. */
  private async probePath(): Promise<Probe> {
    let st: Stats;
    try {
      st = await fsp.lstat(this.path);
    } catch (err) {
      return problemOf(err);
    }
    if (st.isSymbolicLink()) {
      let target: string | null = null;
      try {
        target = await fsp.readlink(this.path);
      } catch {
        /* raced */
      }
      this.noteLink(target);
      try {
        st = await fsp.stat(this.path);
      } catch (err) {
        return problemOf(err);
      }
    } else {
      this.noteLink(null);
    }
    if (!st.isFile()) return { kind: 'not-a-file', err: Object.assign(new Error(`not a regular file: ${this.path}`), { code: st.isDirectory() ? 'EISDIR' : 'ENOTFILE' }) };
    return { kind: 'file', st };
  }

  private noteLink(target: string | null): void {
    if (this.linkTarget !== undefined && target !== this.linkTarget) {
      this.notify({ type: 'symlink-changed', path: this.path, target, previousTarget: this.linkTarget }, 'info');
    }
    const changed = this.linkTarget !== target;
    this.linkTarget = target;
    if (changed) this.ensureWatches();
  }

  private async openPath(): Promise<Opened | Problem> {
    const p = await this.probePath();
    if (p.kind !== 'file') return p;
    return this.openFile(this.path);
  }

  /** Opens a regular file (never a FIFO or a directory) and reads its fingerprint. */
  private async openFile(name: string): Promise<Opened | Problem> {
    let fh: FileHandle;
    try {
      const st = await fsp.stat(name);
      if (!st.isFile()) return { kind: 'not-a-file', err: Object.assign(new Error(`not a regular file: ${name}`), { code: st.isDirectory() ? 'EISDIR' : 'ENOTFILE' }) };
      fh = await fsp.open(name, 'r');
    } catch (err) {
      return problemOf(err);
    }
    this.handles.add(fh);
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        await this.closeHandle(fh);
        return { kind: 'not-a-file', err: Object.assign(new Error(`not a regular file: ${name}`), { code: 'ENOTFILE' }) };
      }
      return { fh, st, fp: await headFingerprint(fh), name };
    } catch (err) {
      await this.closeHandle(fh);
      return problemOf(err);
    }
  }

  private async closeHandle(fh: FileHandle): Promise<void> {
    if (!this.handles.delete(fh)) return;
    await fh.close().catch(() => {});
  }

  /**
   * A rotated name holding `want`'s content (same fingerprint; same dev/ino when it had no fingerprint) with
   * at least `minSize` bytes. `notSame` excludes a file (the truncated original is not its own copy).
   */
  private async findRotated(
    want: { fingerprint: string; dev: number; ino: number },
    minSize: number,
    exclude: Stats | null,
    excludeGen?: Gen,
    compressed = false,
  ): Promise<Opened | null> {
    for (const name of this.rotatedNames()) {
      const op = await this.openFile(name);
      if (isProblem(op)) continue;
      const excluded =
        (exclude && op.st.ino === exclude.ino && op.st.dev === exclude.dev) ||
        (excludeGen && op.st.ino === excludeGen.ino && op.st.dev === excludeGen.dev);
      const match = want.fingerprint !== '' ? op.fp === want.fingerprint : op.st.ino === want.ino && op.st.dev === want.dev;
      if (!excluded && match && op.st.size >= minSize) return op;
      await this.closeHandle(op.fh);
    }
    if (compressed && want.fingerprint !== '') {
      // Rotated on and compressed while we were down (`path.2.gz`): same content, read decompressed.
      for (const name of this.rotatedNames()) {
        const op = await this.openCompressed(name, want.fingerprint);
        if (!op) continue;
        if (op.st.size >= minSize) return op;
        await this.closeHandle(op.fh);
      }
    }
    return null;
  }

  /**
   * The compressed copy of rotated name `name` (`name.gz`, `.xz`, `.zst`, `.bz2`), decompressed into a temporary
   * file that is removed at once (the handle keeps it readable): null when there is none, or its content is not
   * `wantFingerprint`'s.
   */
  private async openCompressed(name: string, wantFingerprint: string | null): Promise<Opened | null> {
    for (const suffix of COMPRESSED_SUFFIXES) {
      if (this.stopped) return null;
      const op = await this.openCompressedAs(name + suffix, wantFingerprint);
      if (op) return op;
    }
    return null;
  }

  private async openCompressedAs(gz: string, wantFingerprint: string | null): Promise<Opened | null> {
    if (!(await fsp.access(gz).then(() => true, () => false))) return null;
    const fp = await compressedFingerprint(gz);
    if (fp === null || fp === '' || (wantFingerprint !== null && fp !== wantFingerprint)) return null;
    let tmp: string;
    try {
      tmp = await decompressToTemp(gz);
    } catch (err) {
      this.errors++;
      this.notify({ type: 'error', reason: 'read-error', path: this.path, readFrom: gz, ...errInfo(err) }, 'warn');
      return null;
    }
    const op = await this.openFile(tmp);
    await removeTemp(tmp);
    if (isProblem(op)) return null;
    return { ...op, name: gz };
  }

  private async lastLineEnd(op: Opened): Promise<number> {
    const size = op.st.size;
    if (size === 0) return 0;
    const n = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(n);
    const { bytesRead } = await op.fh.read(buf, 0, n, size - n);
    const i = buf.subarray(0, bytesRead).lastIndexOf(10);
    if (i >= 0) return size - n + i + 1;
    return size <= n ? 0 : size;
  }

  private async closeSources(): Promise<void> {
    const srcs = new Set<ByteSource>();
    for (const g of [this.active, this.cur]) if (g?.source) srcs.add(g.source);
    await Promise.all([...srcs].map((s) => s.close().catch(() => {})));
  }

  // ------------------------------------------------------------------------------------------ notices

  private reportProblem(p: Problem): void {
    if (p.kind !== 'missing') {
      this.errors++;
      this.failStreak++;
    }
    const info: { error?: string; code?: string } = p.err === undefined ? {} : errInfo(p.err);
    const sig = `${p.kind}:${info.code ?? ''}`;
    if (sig === this.problem) return;
    this.problem = sig;
    if (p.kind === 'missing') {
      this.notify({ type: 'missing', path: this.path, ...info, retryInMs: this.pollMs }, 'info');
      return;
    }
    const retryInMs = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(this.failStreak - 1, 20));
    this.notify({ type: 'error', reason: p.kind, path: this.path, ...info, retryInMs }, 'warn');
  }

  private clearProblem(): void {
    if (this.problem && !this.problem.startsWith('missing:')) this.notify({ type: 'recovered', path: this.path }, 'info');
    this.problem = null;
    this.failStreak = 0;
  }

  private internalError(err: unknown): void {
    if (this.stopped) return;
    this.errors++;
    this.notify({ type: 'error', reason: 'internal-error', path: this.path, ...errInfo(err) }, 'error');
    // A transition failed half-way: drop the current file and re-open the path at the next check, resuming
    // from the store's checkpoint, or (no store) from what was delivered.
    const g = this.cur;
    if (!g || (g.source && g.finalOffset === undefined)) return;
    const offset = this.store ? undefined : (g.finalOffset ?? (this.active === g ? this.chunker.committedOffset : g.startOffset));
    if (offset !== undefined) {
      this.recovery = { path: this.path, dev: g.dev, ino: g.ino, fingerprint: g.fingerprint, offset, size: offset, updatedAt: new Date().toISOString() };
    }
    this.cur = null;
    this.active = null;
    this.committed = null;
    void g.source?.close();
    void this.closeHandle(g.fh);
  }

  private notify(n: TailNotice, level: 'debug' | 'info' | 'warn' | 'error'): void {
    if (this.stopped) return;
    this.logger[level]({ ...n }, `tail: ${n.type}`);
    try {
      this.opts.onNotice?.(n);
    } catch (err) {
      this.logger.error({ path: this.path, ...errInfo(err) }, 'tail: onNotice threw');
    }
  }
}

/** Creates and starts a follower. */
export async function followFile(opts: FollowerOptions): Promise<FileFollower> {
  const f = new FileFollower(opts);
  await f.start();
  return f;
}
