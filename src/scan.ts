/**
 * One-shot diagnosis of whole files: the same pipeline as the sidecar, read from the first byte to the
 * last, with unconcluded failures emitted at the end of input.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import type { DoctorEvent } from './events.js';
import { LineChunker, DEFAULT_MAX_LINE_BYTES } from './tail/chunk.js';
import { isCompressedName } from './tail/compressed-names.js';
import { fingerprintOf, FINGERPRINT_MAX } from './tail/identity.js';
import { Pipeline, type LineCounts, type PipelineOptions, type Source } from './pipeline.js';
import { loadRuleSet } from './rules/index.js';
import type { RuleSet } from './rules/compile.js';
import type { CorrelatorSink } from './correlate/correlator.js';
import { StunnelConfAwareness } from './stunnel-conf/enrich.js';
import type { DoctorMetrics } from './sinks/metrics.js';

export interface ScanOptions extends PipelineOptions {
  /** Proxy name for every file; by default each file's name without `.log` and rotation suffixes. */
  proxy?: string;
  /** Extra rule files (extend or override the defaults by id). */
  rules?: readonly string[];
  /** A compiled rule set (instead of loading `rules`). */
  ruleSet?: RuleSet;
  /** Called for each event as it is found (the events are also returned unless `collect` is false). */
  onEvent?: (e: DoctorEvent) => void;
  collect?: boolean;
  /** Called with bytes read so far, for progress display. */
  onProgress?: (file: string, bytes: number) => void;
  maxLineBytes?: number;
  /** Stops reading when it aborts (SIGINT in the CLI): what was read is concluded and reported as at the end. */
  signal?: AbortSignal;
  /** The stunnel configuration of every proxy of the scan: events are enriched with it (config-aware diagnosis). */
  stunnelConf?: string;
  /**
   * Metrics fed as the sidecar feeds them (accepted connections, events, dropped state, line counts), for every
   * line read (not only a --since/--until window).
   */
  metrics?: ScanMetrics;
}

/** What a scan feeds into DoctorMetrics (the sidecar's metrics; a type, so that prom-client loads only when used). */
export type ScanMetrics = Pick<DoctorMetrics, 'accepted' | 'onEvent' | 'stateDropped' | 'lines' | 'cutLines' | 'invalidUtf8Lines'>;

export interface ScanStats {
  files: number;
  bytes: number;
  lines: LineCounts;
  events: number;
  dropped: Record<string, number>;
}

export interface ScanResult {
  events: DoctorEvent[];
  stats: ScanStats;
}

/** `/var/log/stunnel4/ldaps.log.1` → `ldaps`. */
export function proxyNameFromPath(path: string): string {
  let b = basename(path);
  b = b.replace(/\.(gz|xz|bz2|zst)$/, '').replace(/\.\d+$/, '').replace(/-\d{8,10}$/, '');
  b = b.replace(/\.(log|err|stderr|out|txt)$/, '');
  return b || 'stunnel';
}

/** What one scan (one-shot or --follow) shares: the pipeline, its sink, the totals, config awareness. */
export interface ScanSession {
  pipeline: Pipeline;
  stats: ScanStats;
  /** Every event found so far (only when collecting). */
  events: DoctorEvent[];
  /** The source of `file` (files of one proxy continue one another); loads the proxy's stunnel.conf once. */
  sourceFor(file: string): { src: Source; proxy: string; label: string };
  /** After chunks of `src` were pushed: its new line counts go to the metrics (if any). */
  counted(src: Source): void;
  /** Concludes every source (unconcluded failures are emitted) and adds up the line counts. */
  finish(): ScanStats;
}

export async function openScan(opts: ScanOptions): Promise<ScanSession> {
  const ruleSet = opts.ruleSet ?? (await loadRuleSet(opts.rules ?? []));
  const events: DoctorEvent[] = [];
  const collect = opts.collect !== false;
  const dropped: Record<string, number> = {};
  let found = 0;
  const metrics = opts.metrics;
  const deliver = (e: DoctorEvent): void => {
    found++;
    if (collect) events.push(e);
    metrics?.onEvent(e);
    opts.onEvent?.(e);
  };
  const conf = new StunnelConfAwareness();
  const sink: CorrelatorSink = {
    event: (e) => conf.process(e, deliver),
    accepted: metrics ? (proxy, service) => metrics.accepted(proxy, service) : () => {},
    dropped(p, what, n) {
      dropped[what] = (dropped[what] ?? 0) + n;
      metrics?.stateDropped(p, what, n);
    },
  };
  /** Line counts already given to the metrics, per source. */
  const metered = new Map<Source, LineCounts>();
  const counted = (src: Source): void => {
    if (!metrics) return;
    let l = metered.get(src);
    if (!l) metered.set(src, (l = { matched: 0, unmatched: 0, invalid: 0, cut: 0, invalidUtf8: 0 }));
    const c = src.counts;
    const proxy = src.info.proxy;
    if (c.matched !== l.matched) metrics.lines(proxy, 'matched', c.matched - l.matched);
    if (c.unmatched !== l.unmatched) metrics.lines(proxy, 'unmatched', c.unmatched - l.unmatched);
    if (c.invalid !== l.invalid) metrics.lines(proxy, 'invalid', c.invalid - l.invalid);
    if (c.cut !== l.cut) metrics.cutLines(proxy, c.cut - l.cut);
    if (c.invalidUtf8 !== l.invalidUtf8) metrics.invalidUtf8Lines(proxy, c.invalidUtf8 - l.invalidUtf8);
    Object.assign(l, c);
  };
  const pipeline = new Pipeline(ruleSet, sink, opts);
  const stats: ScanStats = {
    files: 0, bytes: 0, lines: { matched: 0, unmatched: 0, invalid: 0, cut: 0, invalidUtf8: 0 }, events: 0, dropped,
  };
  const sources = new Map<string, Source>();
  return {
    pipeline,
    stats,
    events,
    sourceFor(file) {
      const proxy = opts.proxy ?? (file === '-' ? 'stdin' : proxyNameFromPath(file));
      const label = file === '-' ? '<stdin>' : file;
      const src = pipeline.source(proxy, { proxy, file: label });
      if (!sources.has(proxy)) {
        sources.set(proxy, src);
        if (opts.stunnelConf && conf.setPath(proxy, opts.stunnelConf)) conf.load(proxy).forEach(deliver);
      }
      return { src, proxy, label };
    },
    counted,
    finish() {
      for (const src of sources.values()) {
        pipeline.finish(src);
        counted(src);
        for (const k of Object.keys(stats.lines) as (keyof LineCounts)[]) stats.lines[k] += src.counts[k];
      }
      stats.events = found;
      return stats;
    },
  };
}

export async function scanFiles(files: readonly string[], opts: ScanOptions = {}): Promise<ScanResult> {
  const scan = await openScan(opts);
  const { stats } = scan;
  for (const file of files) {
    if (opts.signal?.aborted) break;
    const { src, label } = scan.sourceFor(file);
    await readInput(file, (chunk, fp) => {
      scan.pipeline.push(src, chunk, fp);
      scan.counted(src);
    }, opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
      (n) => {
        stats.bytes += n;
        opts.onProgress?.(label, stats.bytes);
      }, opts.signal);
    stats.files++;
  }
  scan.finish();
  if (opts.collect === false) stats.events = 0;
  return { events: scan.events, stats };
}

/** Bytes read at once from a file. */
const READ_SIZE = 1 << 20;

/**
 * Reads input `file` whole into `onChunk` (readInto): `-` is stdin, a `.gz` file is decompressed (`.xz`, `.zst`,
 * `.bz2` through their tools: tail/compressed.ts, loaded at the first such file) (its offsets are offsets in the
 * uncompressed text; `onBytes` counts the bytes of the file, as its size does). A failed read or decompression is
 * thrown with the file's path.
 */
export async function readInput(
  file: string,
  onChunk: (chunk: import('./tail/chunk.js').Chunk, fingerprint: string) => void,
  maxLineBytes: number,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  if (file === '-') return readInto(process.stdin, onChunk, maxLineBytes, onBytes, signal);
  if (!isCompressedName(file)) return readInto(fileChunks(file), onChunk, maxLineBytes, onBytes, signal);
  try {
    // zlib (and child_process, for the other tools) are loaded with the first compressed file.
    const { decompressed } = await import('./tail/compressed.js');
    await readInto(decompressed(file, onBytes), onChunk, maxLineBytes, () => {}, signal);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw err.path ? err : Object.assign(err, { path: file, code: err.code ?? 'EIO' });
  }
}

/**
 * A file's bytes in pieces of up to 1 MiB, read into two buffers in turn: the next piece is read while the
 * consumer processes this one (a read is a round trip to libuv's thread pool). Each piece is valid until the
 * one after the next is asked for (readInto copies what it keeps). A fresh 1 MiB buffer per read (a read stream)
 * costs an mmap, page faults and an munmap each time.
 */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const withPath = (e: unknown): unknown => {
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err === 'object' && err.code && !err.path) err.path = path;
    return err;
  };
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw withPath(e);
  }
  const bufs = [Buffer.allocUnsafe(READ_SIZE), Buffer.allocUnsafe(READ_SIZE)] as const;
  let k = 0;
  let pending: Promise<{ bytesRead: number }> | null = fh.read(bufs[0], 0, READ_SIZE, null);
  try {
    for (;;) {
      let n: number;
      try {
        n = (await pending).bytesRead;
      } catch (e) {
        pending = null;
        throw withPath(e);
      }
      if (n === 0) {
        pending = null;
        return;
      }
      const piece = bufs[k]!.subarray(0, n);
      k ^= 1;
      pending = fh.read(bufs[k]!, 0, READ_SIZE, null);
      yield piece;
    }
  } finally {
    // A read still in flight (the consumer stopped early) finishes before the file is closed.
    if (pending) await pending.catch(() => {});
    await fh.close();
  }
}

/**
 * Streams a file through a LineChunker; the fingerprint is its first line, known before any line is processed.
 * With `signal`, reading stops when it aborts (the stream is destroyed) and what was read is kept. The pieces
 * may reuse one buffer (fileChunks): each is processed before the next is read, and what is held is copied.
 */
export async function readInto(
  stream: Readable | AsyncIterable<Buffer>,
  onChunk: (chunk: import('./tail/chunk.js').Chunk, fingerprint: string) => void,
  maxLineBytes: number,
  onBytes: (n: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const chunker = new LineChunker(0, maxLineBytes);
  let fp: string | null = null;
  let head: Buffer[] = [];
  let headLen = 0;
  const feed = (b: Buffer): void => chunker.push(b, (c) => onChunk(c, fp!));
  const stop = (): void => {
    if ('destroy' in stream) stream.destroy();
    else void (stream as AsyncGenerator<Buffer>).return?.(undefined);
  };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for await (const data of stream as AsyncIterable<Buffer>) {
      onBytes(data.length);
      if (fp === null) {
        head.push(data);
        headLen += data.length;
        const joined = head.length === 1 ? head[0]! : Buffer.concat(head);
        const f = fingerprintOf(joined.subarray(0, FINGERPRINT_MAX));
        if (f === '' && headLen < FINGERPRINT_MAX) {
          // Kept past this piece: a copy (the reader may reuse its buffer).
          head = [Buffer.from(joined)];
          continue;
        }
        fp = f;
        head = [];
        feed(joined);
        continue;
      }
      feed(data);
    }
  } catch (e) {
    // Destroyed on abort: what was read is kept.
    if (!signal?.aborted) throw e;
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  if (fp === null && headLen > 0) {
    fp = fingerprintOf(Buffer.concat(head));
    feed(Buffer.concat(head));
  }
  // A last line without newline is complete at the end of a one-shot read.
  if (chunker.pendingBytes > 0) feed(Buffer.from('\n'));
}
