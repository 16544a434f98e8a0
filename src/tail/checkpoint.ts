import { createHash } from 'node:crypto';
import { promises as fsp, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { errInfo, silentLogger, type TailLogger } from './log.js';

/**
 * Where a follower is in one followed file. `offset` is the file offset of the first unprocessed line (a
 * `Chunk.endOffset` the consumer has finished with), never a mid-line read position, so a resume never
 * loses a partial line and never glues one to something else. `dev`/`ino`/`fingerprint` identify the file
 * *content* the offset belongs to (the fingerprint, a hash of the first line, is the primary identity; it
 * survives renames and copies; dev/ino is the fallback while a file has no complete first line).
 */
export interface CheckpointRecord {
  /** The followed path (the logical stream), not necessarily the name the bytes were read from. */
  path: string;
  dev: number;
  ino: number;
  /** fingerprintOf(head) of the file the offset belongs to; '' while it had no complete first line. */
  fingerprint: string;
  offset: number;
  /** Size of that file when the offset was committed (lag = size - offset). */
  size: number;
  /**
   * Birth time of that file (statx btime, ms) when the filesystem reports one. Tells "truncated in place"
   * from "deleted and recreated with the same inode number" when the first line changed while we were down.
   */
  birthtimeMs?: number;
  /** ISO timestamp of the commit. */
  updatedAt: string;
  /** Opaque JSON value stored with the offset (the correlator's state at that line). */
  state?: unknown;
}

export type CheckpointInput = Omit<CheckpointRecord, 'updatedAt'> & { updatedAt?: string };

export interface CheckpointStoreOptions {
  /** Throttle for writes after set(): at most one write per key per period (default 1000 ms). */
  debounceMs?: number;
  logger?: TailLogger;
  /** Called for each failed write (a metrics hook); must not throw. */
  onFailure?: (err: unknown, key: string) => void;
}

export interface CorruptCheckpoint {
  file: string;
  error: string;
}

export interface CheckpointStoreStats {
  records: number;
  dirty: number;
  writes: number;
  failures: number;
  corrupt: number;
  lastError?: string;
}

const FILE_VERSION = 1;
const WRITE_CONCURRENCY = 16;

/**
 * Per-followed-file checkpoints in a state directory, one small JSON file per key
 * (`<basename>.<sha1(key)[:12]>.json`), so a corrupt file costs the resume of that one followed file only.
 *
 * - `set()` only updates memory and marks the key dirty; dirty keys are written by a throttle (the first
 *   `set()` arms a `debounceMs` timer, later ones don't push it back, so a busy file is still written
 *   about once per period).
 * - Every write is atomic: temp file, fsync, rename over the target, then one fsync of the directory.
 * - A failed write (read-only dir, disk full, target turned into a directory...) never throws: it is counted
 *   in `failures`, logged once per flush, the key stays dirty and is retried at the next period. Memory is
 *   the source of truth until a write succeeds.
 * - One process per state directory (no lock is taken).
 */
export class CheckpointStore {
  private readonly records = new Map<string, CheckpointRecord>();
  private readonly dirty = new Set<string>();
  /** Keys being written right now (not dirty any more, not durable yet). */
  private readonly writing = new Set<string>();
  private readonly debounceMs: number;
  private readonly logger: TailLogger;
  private readonly onFailure: ((err: unknown, key: string) => void) | undefined;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private dirSyncWarned = false;
  private _writes = 0;
  private _failures = 0;
  private lastError: string | undefined;
  /** Checkpoint files found unreadable at open (named), ignored: those files start fresh. */
  readonly corrupt: CorruptCheckpoint[] = [];

  private constructor(
    readonly dir: string,
    opts: CheckpointStoreOptions,
  ) {
    this.debounceMs = opts.debounceMs ?? 1000;
    this.logger = opts.logger ?? silentLogger;
    this.onFailure = opts.onFailure;
  }

  /** Opens (creating it if needed) a state directory. Never rejects: problems are logged and counted. */
  static async open(dir: string, opts: CheckpointStoreOptions = {}): Promise<CheckpointStore> {
    const store = new CheckpointStore(path.resolve(dir), opts);
    await store.load();
    return store;
  }

  /** Writes that failed so far (each failed key in each flush counts once). */
  get failures(): number {
    return this._failures;
  }

  /** Checkpoint files written successfully so far. */
  get writes(): number {
    return this._writes;
  }

  stats(): CheckpointStoreStats {
    const s: CheckpointStoreStats = {
      records: this.records.size,
      dirty: this.pendingCount(),
      writes: this._writes,
      failures: this._failures,
      corrupt: this.corrupt.length,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  /** Keys whose latest record is not on disk yet (dirty or being written). */
  private pendingCount(): number {
    let n = this.dirty.size;
    for (const k of this.writing) if (!this.dirty.has(k)) n++;
    return n;
  }

  /** The file that holds `key`'s checkpoint. */
  fileFor(key: string): string {
    const base = path.basename(key).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60) || 'file';
    const hash = createHash('sha1').update(key).digest('hex').slice(0, 12);
    return path.join(this.dir, `${base}.${hash}.json`);
  }

  keys(): string[] {
    return [...this.records.keys()];
  }

  get(key: string): Readonly<CheckpointRecord> | undefined {
    return this.records.get(key);
  }

  /** Updates memory now; the write happens within `debounceMs` (or at `flush()`). */
  set(key: string, record: CheckpointInput): void {
    if (this.closed) {
      this.logger.warn({ key }, 'checkpoint set after close ignored');
      return;
    }
    this.records.set(key, { ...record, updatedAt: record.updatedAt ?? new Date().toISOString() });
    this.dirty.add(key);
    this.schedule();
  }

  /** Forgets a key (its file is removed at the next write). */
  delete(key: string): void {
    if (this.closed || !this.records.delete(key)) return;
    this.dirty.add(key);
    this.schedule();
  }

  /**
   * Writes every dirty key now. Resolves true when everything was written, false when some write failed
   * (the failed keys stay dirty and are retried at the next period). Never rejects.
   */
  flush(): Promise<boolean> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const run = this.chain.then(() => this.writeDirty());
    this.chain = run.catch(() => false);
    return run.catch(() => false);
  }

  /** Final flush, then stops the timer; later set() calls are ignored. */
  async close(): Promise<boolean> {
    if (this.closed) return this.pendingCount() === 0;
    const ok = await this.flush();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    return ok;
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.debounceMs);
    this.timer.unref();
  }

  private async writeDirty(): Promise<boolean> {
    if (this.dirty.size === 0) return true;
    const keys = [...this.dirty];
    this.dirty.clear();
    for (const k of keys) this.writing.add(k);
    const failed: { key: string; file: string; error: string; code?: string }[] = [];
    let wrote = false;
    for (let i = 0; i < keys.length; i += WRITE_CONCURRENCY) {
      await Promise.all(
        keys.slice(i, i + WRITE_CONCURRENCY).map(async (key) => {
          try {
            await this.writeOne(key);
            wrote = true;
          } catch (err) {
            this._failures++;
            this.dirty.add(key);
            failed.push({ key, file: this.fileFor(key), ...errInfo(err) });
            try {
              this.onFailure?.(err, key);
            } catch {
              /* a metrics hook must not break the store */
            }
          }
        }),
      );
    }
    if (wrote) await this.syncDir();
    for (const k of keys) this.writing.delete(k);
    if (failed.length > 0) {
      const first = failed[0]!;
      this.lastError = first.error;
      this.logger.error(
        { dir: this.dir, failed: failed.length, failures: this._failures, file: first.file, error: first.error, code: first.code },
        'checkpoint write failed; keeping it in memory and retrying',
      );
      if (!this.closed) this.schedule();
      return false;
    }
    return true;
  }

  private async writeOne(key: string): Promise<void> {
    const file = this.fileFor(key);
    const record = this.records.get(key);
    if (!record) {
      await fsp.rm(file, { force: true });
      this._writes++;
      return;
    }
    const data = JSON.stringify({ version: FILE_VERSION, key, record }) + '\n';
    const tmp = path.join(this.dir, `.${path.basename(file)}.tmp`);
    try {
      const fh = await fsp.open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true, recursive: false }).catch(() => {});
      throw err;
    }
    this._writes++;
  }

  private async syncDir(): Promise<void> {
    try {
      const dh = await fsp.open(this.dir, fsConstants.O_RDONLY | (fsConstants.O_DIRECTORY ?? 0));
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (err) {
      // Some filesystems refuse fsync on a directory (EINVAL); the rename is done, so this is a warning.
      if (!this.dirSyncWarned) {
        this.dirSyncWarned = true;
        this.logger.warn({ dir: this.dir, ...errInfo(err) }, 'checkpoint directory fsync failed');
      }
    }
  }

  private async load(): Promise<void> {
    try {
      await fsp.mkdir(this.dir, { recursive: true });
    } catch (err) {
      this.lastError = errInfo(err).error;
      this.logger.error({ dir: this.dir, ...errInfo(err) }, 'cannot create checkpoint directory; starting without checkpoints');
      return;
    }
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      this.lastError = errInfo(err).error;
      this.logger.error({ dir: this.dir, ...errInfo(err) }, 'cannot read checkpoint directory; starting without checkpoints');
      return;
    }
    for (const name of names.sort()) {
      const file = path.join(this.dir, name);
      if (name.startsWith('.') && name.endsWith('.tmp')) {
        // A write interrupted by a crash: the target still holds the previous good version.
        await fsp.rm(file, { force: true }).catch(() => {});
        continue;
      }
      if (!name.endsWith('.json')) continue;
      let parsed: { key: string; record: CheckpointRecord };
      try {
        parsed = parseCheckpointFile(await fsp.readFile(file, 'utf8'));
      } catch (err) {
        const error = errInfo(err).error;
        this.corrupt.push({ file, error });
        this.logger.warn({ file, error }, 'corrupt checkpoint ignored; that file starts fresh');
        continue;
      }
      const prev = this.records.get(parsed.key);
      if (!prev || prev.updatedAt < parsed.record.updatedAt) this.records.set(parsed.key, parsed.record);
    }
  }
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** Parses and validates one checkpoint file; throws a descriptive error when it is not one. */
export function parseCheckpointFile(text: string): { key: string; record: CheckpointRecord } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${errInfo(err).error}`);
  }
  if (!doc || typeof doc !== 'object') throw new Error('not an object');
  const d = doc as { version?: unknown; key?: unknown; record?: unknown };
  if (d.version !== FILE_VERSION) throw new Error(`unsupported version ${JSON.stringify(d.version)}`);
  if (typeof d.key !== 'string' || d.key === '') throw new Error('missing key');
  const r = d.record as Record<string, unknown> | null | undefined;
  if (!r || typeof r !== 'object') throw new Error('missing record');
  if (typeof r.path !== 'string') throw new Error('record.path is not a string');
  if (typeof r.fingerprint !== 'string') throw new Error('record.fingerprint is not a string');
  for (const f of ['dev', 'ino', 'offset', 'size'] as const) {
    if (!isNonNegInt(r[f])) throw new Error(`record.${f} is not a non-negative integer`);
  }
  if (typeof r.updatedAt !== 'string') throw new Error('record.updatedAt is not a string');
  if (r.birthtimeMs !== undefined && (typeof r.birthtimeMs !== 'number' || !Number.isFinite(r.birthtimeMs))) {
    throw new Error('record.birthtimeMs is not a number');
  }
  const record: CheckpointRecord = {
    path: r.path,
    dev: r.dev as number,
    ino: r.ino as number,
    fingerprint: r.fingerprint,
    offset: r.offset as number,
    size: r.size as number,
    updatedAt: r.updatedAt,
  };
  if (typeof r.birthtimeMs === 'number') record.birthtimeMs = r.birthtimeMs;
  if ('state' in r) record.state = r.state;
  return { key: d.key, record };
}

export interface ShutdownOptions {
  /** Default ['SIGTERM', 'SIGINT']. */
  signals?: NodeJS.Signals[];
  /** Give up waiting for the handler after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Exit with 128+signal number once the handler is done (default true). */
  exit?: boolean;
  logger?: TailLogger;
}

/**
 * Runs `fn` once on the first of `signals`, then exits with 128+signal (unless `exit: false`). A second
 * signal while `fn` runs exits at once. Installs nothing until called; returns a function that removes
 * the handlers. The sidecar typically stops its followers, then closes its store(s) inside `fn`.
 */
export function onShutdownSignal(fn: (signal: NodeJS.Signals) => unknown, opts: ShutdownOptions = {}): () => void {
  const signals = opts.signals ?? ['SIGTERM', 'SIGINT'];
  const timeoutMs = opts.timeoutMs ?? 5000;
  const exit = opts.exit ?? true;
  const logger = opts.logger ?? silentLogger;
  let running = false;
  const code = (s: NodeJS.Signals) => 128 + (osConstants.signals[s] ?? 0);
  const handler = (signal: NodeJS.Signals) => {
    if (running) {
      if (exit) process.exit(code(signal));
      return;
    }
    running = true;
    logger.info({ signal }, 'shutdown signal: flushing');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, timeoutMs, 'timeout');
    });
    Promise.race([Promise.resolve().then(() => fn(signal)), timeout])
      .then(
        (r) => {
          if (r === 'timeout') logger.warn({ signal, timeoutMs }, 'shutdown handler timed out');
        },
        (err: unknown) => logger.error({ signal, ...errInfo(err) }, 'shutdown handler failed'),
      )
      .finally(() => {
        clearTimeout(timer);
        running = false;
        if (exit) process.exit(code(signal));
      });
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}

/**
 * `onShutdownSignal` that runs `before` (e.g. stopping the followers so no commit races the final write),
 * then closes (flushes) the store(s).
 */
export function flushOnSignals(
  stores: CheckpointStore | CheckpointStore[],
  opts: ShutdownOptions & { before?: () => unknown } = {},
): () => void {
  const list = Array.isArray(stores) ? stores : [stores];
  return onShutdownSignal(async () => {
    if (opts.before) await opts.before();
    await Promise.all(list.map((s) => s.close()));
  }, opts);
}
