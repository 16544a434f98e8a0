import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import TailFile from '@logdna/tail-file';

/**
 * The adapter between the follower and whatever reads bytes. A source reads ONE open file (one inode),
 * from `startPos`, and delivers its bytes in order. It never switches files on its own: file identity,
 * rotation and truncation recovery belong to the follower, which owns the file handle.
 */
export interface ByteSourceOptions {
  /** The open file to read (owned by the caller, never closed by the source). */
  fh: FileHandle;
  /** Byte offset of the first byte to deliver (a seek: nothing before it is read). */
  startPos: number;
  /** Read size (default 64 KiB); after a poll cut short by `maxPollBytes` (a backlog), `backlogChunkBytes`. */
  readChunkBytes?: number;
  /** Read size while behind: after a poll stopped at `maxPollBytes` (default 256 KiB, never below readChunkBytes). */
  backlogChunkBytes?: number;
  /** At most this many bytes per poll() (default: no bound); `limited` tells that more may be there. */
  maxPollBytes?: number;
}

export interface ByteSourceHandlers {
  /** Bytes in file order, the first at startPos, each call continuing the previous one. */
  data(buf: Buffer): void;
  /** The reader found the file shorter than its position. Nothing more is delivered by this source. */
  truncated(): void;
  /** A read failed; the source stays usable and the next poll() retries. */
  error(err: unknown): void;
}

export interface ByteSource {
  /** File offset of the next byte to be delivered (startPos + bytes delivered). */
  readonly position: number;
  /** The last poll() stopped at `maxPollBytes`: the file may hold more (poll again). */
  readonly limited: boolean;
  /**
   * Reads what was appended since the last read, up to the size seen when the read starts and at most
   * `maxPollBytes`. Resolves once every byte of that read has been delivered. Concurrent calls are coalesced
   * (never two reads at once).
   */
  poll(): Promise<void>;
  /**
   * Optional: reads synchronously the `bytes` that follow `position` (fewer if the file ends sooner) and
   * delivers them before returning: the follower's fast path for a small append (no thread-pool round trip,
   * each of which waits for the event loop to be scheduled again on a busy machine). Returns the bytes
   * delivered, or null when it can't read now (a poll in flight, closed, a read error): then poll() is the
   * way, and reports what is wrong.
   */
  readNow?(bytes: number): number | null;
  /** Stops: once it resolves no handler fires anymore and the caller's file handle is no longer used. */
  close(): Promise<void>;
}

export type ByteSourceFactory = (opts: ByteSourceOptions, handlers: ByteSourceHandlers) => ByteSource;

/**
 * Internals of @logdna/tail-file 4.x that the adapter relies on (checked at construction).
 * `_pollFileForChanges` is one poll step: stat the file, detect shrinkage ('truncated'), stream the new
 * bytes and push them. `_scheduleTimer` is how it re-arms its own poll timer.
 */
interface TailFileInternals {
  _pollFileForChanges(): Promise<void>;
  _scheduleTimer(ms: number): void;
}

const TRUNCATED = Object.freeze({ marker: 'truncated' });

/**
 * TailFile pinned to one inode and driven by the follower instead of by its own timer.
 *
 * - The filename given to TailFile is `/proc/self/fd/N` (or `/dev/fd/N`) of the follower's open handle: its
 *   `stat` and the read streams it opens always reach the file we opened, even after it was renamed or
 *   deleted. TailFile's own rename logic (stat by path, then re-open by path: racy, and it drains the old
 *   file only once) never triggers. (Re-opening checks permissions again: a file made unreadable while we
 *   follow it gives read errors until it is readable again.)
 * - Its timer is disabled (`_scheduleTimer` is a no-op): every poll is started by `poll()`, after the
 *   follower has checked the file's identity, and polls never overlap (TailFile does not guard that: a
 *   poll started while another streams would push the same bytes twice). `quit()` is never used (it can
 *   hang waiting for a 'flush' that an ENOENT poll never emits, and it races an in-flight poll).
 * - The stream is in object mode with a huge highWaterMark: the consumer is synchronous, so backpressure
 *   (which would park a half-read stream inside TailFile) never engages, and the 'truncated' event is
 *   turned into an in-band marker so the bytes before and after it can't be confused.
 */
class PinnedTailFile extends TailFile {
  _scheduleTimer(): void {
    /* polls are driven by LogdnaTailSource.poll() */
  }
}

function pinDir(): string {
  if (existsSync('/proc/self/fd')) return '/proc/self/fd/';
  if (existsSync('/dev/fd')) return '/dev/fd/';
  throw new Error('neither /proc/self/fd nor /dev/fd exists: cannot pin a file for @logdna/tail-file');
}

let pinDirCache: string | undefined;
function pinPrefix(): string {
  pinDirCache ??= pinDir();
  return pinDirCache;
}

export class LogdnaTailSource implements ByteSource {
  private tail: PinnedTailFile & TailFileInternals;
  /** TailFile ended itself (it quits on unexpected stat errors): rebuilt at the next poll. */
  private dead = false;
  /** readNow() moved `pos` past TailFile's own position: TailFile is rebuilt at `pos` before its next poll. */
  private moved = false;
  private pos: number;
  private closed = false;
  private truncatedSeen = false;
  private inflight: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /**
   * The read stream options TailFile spreads into every fs.createReadStream it makes (it keeps this object):
   * `end` is set before each poll to bound it.
   */
  private readonly streamOpts: { highWaterMark: number; end?: number };
  private readonly chunkBytes: number;
  private readonly backlogChunkBytes: number;
  limited = false;

  constructor(
    private readonly opts: ByteSourceOptions,
    private readonly handlers: ByteSourceHandlers,
  ) {
    this.pos = opts.startPos;
    this.chunkBytes = opts.readChunkBytes ?? 64 * 1024;
    this.backlogChunkBytes = Math.max(this.chunkBytes, opts.backlogChunkBytes ?? 256 * 1024);
    this.streamOpts = { highWaterMark: this.chunkBytes };
    this.tail = this.makeTail();
  }

  private makeTail(): PinnedTailFile & TailFileInternals {
    const tail = new PinnedTailFile(pinPrefix() + this.opts.fh.fd, {
      startPos: this.pos,
      objectMode: true,
      highWaterMark: 2 ** 30,
      // Each read opens the pinned path: a descriptor of its own, closed by the stream (destroying a stream
      // always closes its fd, even with autoClose: false, so it must never be given ours).
      readStreamOpts: this.streamOpts as never,
    });
    if (typeof (tail as unknown as Partial<TailFileInternals>)._pollFileForChanges !== 'function') {
      throw new Error('unsupported @logdna/tail-file version: _pollFileForChanges() not found');
    }
    // Listeners run synchronously inside emit('truncated'), before TailFile streams from 0: in-band.
    tail.on('truncated', () => tail.push(TRUNCATED));
    tail.on('data', (c: Buffer | typeof TRUNCATED) => {
      if (this.closed || this.truncatedSeen || tail !== this.tail) return;
      if (c === TRUNCATED) {
        this.truncatedSeen = true;
        this.handlers.truncated();
        return;
      }
      const buf = c as Buffer;
      this.pos += buf.length;
      this.handlers.data(buf);
    });
    tail.on('tail_error', (e: { meta?: { actual?: unknown } }) => {
      if (!this.closed) this.handlers.error(e?.meta?.actual ?? e);
    });
    tail.on('error', (e: unknown) => {
      if (tail !== this.tail) return;
      this.dead = true;
      if (!this.closed) this.handlers.error(e);
    });
    // TailFile emits 'retry' on ENOENT; with a pinned descriptor that can't happen, but never let it crash.
    tail.on('retry', () => {});
    return tail as PinnedTailFile & TailFileInternals;
  }

  get position(): number {
    return this.pos;
  }

  poll(): Promise<void> {
    if (this.closed || this.truncatedSeen) return Promise.resolve();
    if (!this.inflight) {
      this.inflight = this.runPoll().finally(() => {
        this.inflight = null;
      });
      return this.inflight;
    }
    this.queued ??= this.inflight.then(() => {
      this.queued = null;
      return this.poll();
    });
    return this.queued;
  }

  private async runPoll(): Promise<void> {
    if (this.dead || this.moved) {
      this.tail.destroy();
      this.dead = false;
      this.moved = false;
      this.tail = this.makeTail();
    }
    const max = this.opts.maxPollBytes;
    const from = this.pos;
    // fs.createReadStream's `end` is inclusive. A poll that finds the file truncated streams from 0 under the
    // same bound, but its bytes are never delivered (the source ends at the truncation).
    if (max !== undefined && max > 0) this.streamOpts.end = from + max - 1;
    // Each read is a thread-pool round trip that the line processing waits for: a backlog (the last poll stopped at
    // its bound) is read in bigger pieces. A first start on a 93 MB log, until every line is read: 2.17-2.21 s with
    // 64 KiB reads, 2.00-2.05 s with 256 KiB, 1.92-2.18 s with 1 MiB (fresh 1 MiB buffers cost page faults and
    // collections). Otherwise reads stay small: a read stream allocates its read size for every read, and a live
    // file's appends are small.
    this.streamOpts.highWaterMark = this.limited ? this.backlogChunkBytes : this.chunkBytes;
    try {
      await this.tail._pollFileForChanges();
    } catch (err) {
      if (!this.closed) this.handlers.error(err);
    }
    // Pushed chunks normally reach the 'data' listener synchronously; if any were buffered, let them flow.
    while (!this.closed && this.tail.readableLength > 0) await new Promise((r) => setImmediate(r));
    this.limited = max !== undefined && max > 0 && !this.truncatedSeen && this.pos - from >= max;
  }

  /**
   * Reads like a poll does (through the pinned path, opened for this read: the file's permissions are checked
   * again, as TailFile's read streams do), but synchronously, at most `bytes` from `pos`, in one read.
   */
  readNow(bytes: number): number | null {
    if (this.closed || this.truncatedSeen || this.inflight || this.dead || !(bytes > 0)) return null;
    let fd: number;
    try {
      fd = openSync(pinPrefix() + this.opts.fh.fd, 'r');
    } catch {
      return null;
    }
    let n: number;
    const buf = Buffer.allocUnsafe(bytes);
    try {
      n = readSync(fd, buf, 0, bytes, this.pos);
    } catch {
      return null;
    } finally {
      closeSync(fd);
    }
    if (n <= 0) return 0;
    this.pos += n;
    this.moved = true;
    this.handlers.data(n === bytes ? buf : buf.subarray(0, n));
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // destroy() makes TailFile's read loop stop at its next chunk (push() returns false).
    this.tail.destroy();
    if (this.inflight) await this.inflight.catch(() => {});
    // A read loop parked by destroy() keeps its fs.ReadStream (and that stream's own descriptor): release it.
    for (const s of Object.getOwnPropertySymbols(this.tail)) {
      if (s.description !== 'stream') continue;
      const stream = (this.tail as unknown as Record<symbol, NodeJS.ReadableStream & { destroy?: () => void } | null>)[s];
      if (!stream) continue;
      stream.on('error', () => {});
      stream.destroy?.();
    }
  }
}

export const logdnaTailSource: ByteSourceFactory = (opts, handlers) => new LogdnaTailSource(opts, handlers);
