/**
 * The pull contract of xapi's `UnixSocketProxy.diagnose`: "what went wrong since I last asked?", per
 * proxy, with every failure correlated (its full reason and detail lines), each returned once even when the
 * pipeline delivers it again after a crash (same id). And `waitForStart`, xapi's
 * `wait_for_configuration_success`: resolves on a successful start, rejects with the config_failed event.
 */
import { isFailure, type ConfigFailedEvent, type DoctorEvent, type ProxyStartedEvent } from '../events.js';

export interface Diagnosis {
  proxy: string;
  /** True when no failure was seen since the previous call. */
  ok: boolean;
  /** Failure events since the previous call, in log order (the latest ones when some were dropped). */
  failures: DoctorEvent[];
  /** Wall time of the previous call (or of the doctor's start). */
  since: string;
  /**
   * Failures seen since the previous call but not kept: more than `maxPerProxy` of this proxy, or the books
   * of all proxies together reached `maxTotal` and this proxy held the most (its oldest went first).
   */
  dropped: number;
  /** The dropped failures counted by `kind/reason` (e.g. `cert_verify_failed/expired`); empty when none. */
  droppedByReason: Record<string, number>;
}

export interface DiagnoseBookOptions {
  /** Failures kept per proxy between two calls (default 1,000). */
  maxPerProxy?: number;
  /** Failures kept by all proxies' books together (default 10,000): bounds memory whatever the number of proxies. */
  maxTotal?: number;
  /** Failure ids remembered (over all proxies) to return a failure delivered again only once (default 20,000). */
  idMemory?: number;
  /** Called for every failure dropped, with the bound that dropped it. */
  onDrop?: (cap: DropCap) => void;
}

export type DropCap = 'per_proxy' | 'total';

export const DIAGNOSE_DEFAULTS = { maxPerProxy: 1_000, maxTotal: 10_000, idMemory: 20_000 } as const;

export class StartTimeoutError extends Error {
  constructor(readonly proxy: string, readonly timeoutMs: number) {
    super(`proxy ${proxy}: no "Configuration successful" within ${timeoutMs} ms`);
    this.name = 'StartTimeoutError';
  }
}

export class ConfigFailedError extends Error {
  constructor(readonly event: ConfigFailedEvent) {
    super(`proxy ${event.proxy}: configuration failed (${event.reason}): ${event.detail.join(' | ')}`);
    this.name = 'ConfigFailedError';
  }
}

interface Book {
  failures: DoctorEvent[];
  dropped: number;
  droppedByReason: Record<string, number>;
  since: Date;
  seen: Set<string>;
  /** The outcome of the latest start not yet handed to waitForStart. */
  start: ProxyStartedEvent | ConfigFailedEvent | null;
  waiters: Set<(e: ProxyStartedEvent | ConfigFailedEvent) => void>;
}

/**
 * Per proxy, the failures since the last diagnose() call, bounded per proxy and in total. When the total is
 * reached, the oldest failure of the proxy holding the most is dropped: a noisy proxy cannot push out a quiet
 * one's failures, and with N proxies failing each keeps at least maxTotal / N of its latest.
 */
export class DiagnoseBook {
  private readonly books = new Map<string, Book>();
  private readonly maxPerProxy: number;
  private readonly maxTotal: number;
  private readonly idMemory: number;
  private readonly onDrop: (cap: DropCap) => void;
  /** Failures held by all books. */
  private held = 0;
  /** bySize[n]: the books holding n failures (n >= 1), in the order they reached n. */
  private readonly bySize: Set<Book>[] = [];
  private maxSize = 0;
  /** The remembered failure ids, oldest first (a ring over all proxies: ids[i] belongs to idBooks[i]). */
  private ids: string[] = [];
  private idBooks: Book[] = [];
  private idHead = 0;

  constructor(opts: DiagnoseBookOptions = {}) {
    this.maxPerProxy = Math.max(1, opts.maxPerProxy ?? DIAGNOSE_DEFAULTS.maxPerProxy);
    this.maxTotal = Math.max(1, opts.maxTotal ?? DIAGNOSE_DEFAULTS.maxTotal);
    this.idMemory = Math.max(1, opts.idMemory ?? DIAGNOSE_DEFAULTS.idMemory);
    this.onDrop = opts.onDrop ?? (() => {});
  }

  /** Failures held by all books together (at most maxTotal). */
  get size(): number {
    return this.held;
  }

  private book(proxy: string): Book {
    let b = this.books.get(proxy);
    if (!b) {
      b = { failures: [], dropped: 0, droppedByReason: {}, since: new Date(), seen: new Set(), start: null, waiters: new Set() };
      this.books.set(proxy, b);
    }
    return b;
  }

  /** Moves a book from the size bucket `from` to the bucket of its current size. */
  private resized(b: Book, from: number): void {
    const to = b.failures.length;
    if (from > 0) this.bySize[from]!.delete(b);
    if (to > 0) (this.bySize[to] ??= new Set()).add(b);
    if (to > this.maxSize) this.maxSize = to;
    while (this.maxSize > 0 && !this.bySize[this.maxSize]?.size) this.maxSize--;
  }

  private dropOldest(b: Book, cap: DropCap): void {
    const e = b.failures.shift()!;
    this.held--;
    b.dropped++;
    const key = `${e.kind}/${e.reason}`;
    b.droppedByReason[key] = (b.droppedByReason[key] ?? 0) + 1;
    this.resized(b, b.failures.length + 1);
    this.onDrop(cap);
  }

  private remember(b: Book, id: string): void {
    b.seen.add(id);
    this.ids.push(id);
    this.idBooks.push(b);
    if (this.ids.length - this.idHead > this.idMemory) {
      this.idBooks[this.idHead]!.seen.delete(this.ids[this.idHead]!);
      this.idHead++;
      if (this.idHead >= this.idMemory) {
        this.ids = this.ids.slice(this.idHead);
        this.idBooks = this.idBooks.slice(this.idHead);
        this.idHead = 0;
      }
    }
  }

  record(e: DoctorEvent): void {
    const b = this.book(e.proxy);
    if (e.kind === 'proxy_started' || (e.kind === 'config_failed' && e.phase === 'start')) {
      b.start = e;
      for (const w of b.waiters) w(e);
    }
    if (!isFailure(e)) return;
    if (b.seen.has(e.id)) return; // delivered again after a crash: already reported
    this.remember(b, e.id);
    b.failures.push(e);
    this.held++;
    this.resized(b, b.failures.length - 1);
    if (b.failures.length > this.maxPerProxy) this.dropOldest(b, 'per_proxy');
    if (this.held > this.maxTotal) {
      // The book holding the most (the first to reach that size): its oldest failure goes.
      const biggest = this.bySize[this.maxSize]!.values().next().value!;
      this.dropOldest(biggest, 'total');
    }
  }

  diagnose(proxy: string): Diagnosis {
    const b = this.book(proxy);
    const out: Diagnosis = {
      proxy, ok: b.failures.length === 0, failures: b.failures, since: b.since.toISOString(), dropped: b.dropped,
      droppedByReason: b.droppedByReason,
    };
    this.take(b);
    b.since = new Date();
    return out;
  }

  /** Empties a book (its failures were handed out or it is forgotten). */
  private take(b: Book): void {
    const n = b.failures.length;
    this.held -= n;
    b.failures = [];
    b.dropped = 0;
    b.droppedByReason = {};
    this.resized(b, n);
  }
  waitForStart(proxy: string, timeoutMs: number): Promise<ProxyStartedEvent> {
    const b = this.book(proxy);
    const settle = (e: ProxyStartedEvent | ConfigFailedEvent, resolve: (v: ProxyStartedEvent) => void, reject: (err: Error) => void): void => {
      b.start = null;
      if (e.kind === 'proxy_started') resolve(e);
      else reject(new ConfigFailedError(e));
    };
    return new Promise((resolve, reject) => {
      if (b.start) return settle(b.start, resolve, reject);
      const waiter = (e: ProxyStartedEvent | ConfigFailedEvent): void => {
        clearTimeout(timer);
        b.waiters.delete(waiter);
        settle(e, resolve, reject);
      };
      const timer = setTimeout(() => {
        b.waiters.delete(waiter);
        reject(new StartTimeoutError(proxy, timeoutMs));
      }, timeoutMs);
      b.waiters.add(waiter);
    });
  }

  forget(proxy: string): void {
    const b = this.books.get(proxy);
    if (!b) return;
    this.take(b);
    b.seen.clear(); // its ids leave the ring in their turn
    this.books.delete(proxy);
  }
}
