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
  /** Failure events since the previous call, in log order. */
  failures: DoctorEvent[];
  /** Wall time of the previous call (or of the doctor's start). */
  since: string;
  /** Failures not kept because more than `maxPerProxy` arrived between two calls. */
  dropped: number;
}

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
  since: Date;
  seen: Set<string>;
  seenOrder: string[];
  /** The outcome of the latest start not yet handed to waitForStart. */
  start: ProxyStartedEvent | ConfigFailedEvent | null;
  waiters: Set<(e: ProxyStartedEvent | ConfigFailedEvent) => void>;
}

export class DiagnoseBook {
  private readonly books = new Map<string, Book>();
  constructor(private readonly maxPerProxy = 1_000, private readonly idMemory = 10_000) {}

  private book(proxy: string): Book {
    let b = this.books.get(proxy);
    if (!b) {
      b = { failures: [], dropped: 0, since: new Date(), seen: new Set(), seenOrder: [], start: null, waiters: new Set() };
      this.books.set(proxy, b);
    }
    return b;
  }

  record(e: DoctorEvent): void {
    const b = this.book(e.proxy);
    if (e.kind === 'proxy_started' || (e.kind === 'config_failed' && e.phase === 'start')) {
      b.start = e;
      for (const w of b.waiters) w(e);
    }
    if (!isFailure(e)) return;
    if (b.seen.has(e.id)) return; // delivered again after a crash: already reported
    b.seen.add(e.id);
    b.seenOrder.push(e.id);
    if (b.seenOrder.length > this.idMemory) b.seen.delete(b.seenOrder.shift()!);
    if (b.failures.length >= this.maxPerProxy) {
      b.failures.shift();
      b.dropped++;
    }
    b.failures.push(e);
  }

  diagnose(proxy: string): Diagnosis {
    const b = this.book(proxy);
    const out: Diagnosis = {
      proxy, ok: b.failures.length === 0, failures: b.failures, since: b.since.toISOString(), dropped: b.dropped,
    };
    b.failures = [];
    b.dropped = 0;
    b.since = new Date();
    return out;
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
    this.books.delete(proxy);
  }
}
