/**
 * `scan --follow`: read the files whole, like `scan`, then keep reading what is appended (like `tail -f`), through
 * rotation (FileFollower, without a checkpoint store), until `signal` aborts. Then, as at the end of a one-shot
 * scan, failures without a concluding line are emitted, and the totals returned.
 *
 * Files of one proxy continue one another as in `scan` (`proxy.log.1 proxy.log`): all but the last are read once,
 * the last is followed. `-` (stdin) is read until it ends; when it is the only input, the scan ends with it.
 * Event ids are the ones a one-shot scan gives (same fingerprint of the first line, same offsets).
 */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { LineChunker, DEFAULT_MAX_LINE_BYTES } from './tail/chunk.js';
import { FileFollower, type TailNotice } from './tail/follower.js';
import { fingerprintOf, FINGERPRINT_MAX } from './tail/identity.js';
import { Pipeline, type LineCounts, type Source } from './pipeline.js';
import { loadRuleSet } from './rules/index.js';
import type { CorrelatorSink } from './correlate/correlator.js';
import { logrotateNames } from './tail/rotated-names.js';
import { isCompressedName } from './tail/compressed-names.js';
import { openScan, proxyNameFromPath, readInput, type ScanOptions, type ScanStats } from './scan.js';

export interface FollowScanOptions extends ScanOptions {
  /** Ends the follow (SIGINT in the CLI). */
  signal: AbortSignal;
  /** The files as they were when the follow started have been read (the backlog is done). */
  onCaughtUp?: () => void;
  /** After each chunk of lines was processed: a point to flush output. */
  onBatch?: () => void;
  /** Rotation, deletion, permission problems of followed files (they never end the follow). */
  onNotice?: (n: TailNotice) => void;
  /** Fallback poll period of the followers (default 1000 ms; they wake on inotify first). */
  pollMs?: number;
}

export async function followFiles(files: readonly string[], opts: FollowScanOptions): Promise<{ stats: ScanStats }> {
  // Unreadable input is a usage error, before anything is printed (as in scan).
  for (const f of files) {
    if (f === '-') continue;
    const fh = await open(f, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error(`${f} is not a regular file`), { code: 'EISDIR', path: f });
    } finally {
      await fh.close();
    }
  }
  const scan = await openScan({ ...opts, collect: false });
  const { pipeline, stats } = scan;
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const proxyOf = (f: string): string => opts.proxy ?? (f === '-' ? 'stdin' : proxyNameFromPath(f));
  const lastOfProxy = new Map<string, number>();
  files.forEach((f, i) => lastOfProxy.set(proxyOf(f), i));
  const followers: FileFollower[] = [];
  let stdinDone: Promise<void> | null = null;
  const stdinOnly = files.length > 0 && files.every((f) => f === '-');

  for (let i = 0; i < files.length && !opts.signal.aborted; i++) {
    const file = files[i]!;
    const { src, proxy, label } = scan.sourceFor(file);
    stats.files++;
    if (file === '-' || isCompressedName(file)) {
      // stdin is read until it ends (meanwhile the other files); a compressed rotated copy is read once, now.
      const done = readInput(file, (chunk, fp) => {
        pipeline.push(src, chunk, fp);
        scan.counted(src);
        opts.onBatch?.();
      }, maxLineBytes, (n) => {
        stats.bytes += n;
        opts.onProgress?.(label, stats.bytes);
      }, opts.signal);
      if (file === '-') stdinDone = done;
      else await done;
      continue;
    }
    const ends = new Map<number, number>();
    const f: FileFollower = new FileFollower({
      path: file,
      rotatedNames: logrotateNames, // a copytruncate copy may be numbered or dated
      pollMs: opts.pollMs,
      maxLineBytes,
      onChunk(chunk, ref) {
        pipeline.push(src, chunk, ref.fingerprint);
        scan.counted(src);
        stats.bytes += chunk.endOffset - (ends.get(ref.gen) ?? chunk.baseOffset);
        ends.set(ref.gen, chunk.endOffset);
        opts.onProgress?.(label, stats.bytes);
        opts.onBatch?.();
      },
      onNotice: opts.onNotice,
    });
    await f.start();
    if (lastOfProxy.get(proxy) === i) followers.push(f);
    else await f.stop();
  }
  opts.onCaughtUp?.();
  if (!opts.signal.aborted) {
    await new Promise<void>((resolve) => {
      opts.signal.addEventListener('abort', () => resolve(), { once: true });
      if (stdinOnly) void stdinDone!.then(resolve);
    });
  }
  await Promise.all(followers.map((f) => f.stop()));
  if (stdinDone) await stdinDone;
  scan.finish();
  opts.onBatch?.();
  return { stats };
}
