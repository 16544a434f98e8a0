/**
 * Fan-out of events to subscribers without ever blocking the pipeline: each subscriber has its own bounded
 * queue, drained asynchronously; when a slow subscriber's queue is full its oldest events are dropped and
 * counted. Also keeps a bounded window of recent events for SSE `Last-Event-ID` resume.
 */
// The class alone: rxjs's index loads every operator (~60-75 ms of a sidecar's start). It is the class the index
// re-exports (the same module), so events$ works with rxjs's operators and `from()`.
import { Observable } from 'rxjs/internal/Observable';
import type { DoctorEvent } from '../events.js';

export interface HubOptions {
  /** Events queued per subscriber before the oldest are dropped. */
  maxQueue: number;
  /** Recent events kept for resume. */
  window: number;
}

interface Queued {
  seq: number;
  event: DoctorEvent;
}

interface Sub {
  queue: Queued[];
  head: number;
  scheduled: boolean;
  next: (e: DoctorEvent, seq: number) => void;
  closed: boolean;
}

export class EventHub {
  private readonly subs = new Set<Sub>();
  private readonly recent: Queued[] = [];
  private seqNo = 0;
  dropped = 0;
  onDrop: (n: number) => void = () => {};
  readonly events$: Observable<DoctorEvent>;

  constructor(private readonly opts: HubOptions = { maxQueue: 10_000, window: 1_000 }) {
    this.events$ = new Observable<DoctorEvent>((subscriber) => {
      const unsubscribe = this.subscribe((e) => subscriber.next(e));
      return unsubscribe;
    });
  }

  /** Sequence number of the last published event (SSE ids). */
  get seq(): number {
    return this.seqNo;
  }

  publish(e: DoctorEvent): void {
    this.seqNo++;
    const item = { seq: this.seqNo, event: e };
    this.recent.push(item);
    // Trimmed in batches (one splice per `window` events, not one per event): reads look at the last `window`.
    if (this.recent.length >= 2 * this.opts.window) this.recent.splice(0, this.recent.length - this.opts.window);
    for (const s of this.subs) {
      if (s.queue.length - s.head >= this.opts.maxQueue) {
        s.head++;
        this.dropped++;
        this.onDrop(1);
      }
      s.queue.push(item);
      if (!s.scheduled) {
        s.scheduled = true;
        setImmediate(() => this.drain(s));
      }
    }
  }

  /** Events after `seq` still in the window (null when `seq` fell out of it); a negative seq: the whole window. */
  since(seq: number): Queued[] | null {
    const from = Math.max(0, this.recent.length - this.opts.window);
    const first = this.recent[from];
    if (first && seq >= 0 && seq < first.seq - 1) return null;
    return this.recent.slice(from).filter((r) => r.seq > seq);
  }

  subscribe(next: (e: DoctorEvent, seq: number) => void): () => void {
    const s: Sub = { queue: [], head: 0, scheduled: false, next, closed: false };
    this.subs.add(s);
    return () => {
      s.closed = true;
      this.subs.delete(s);
    };
  }

  private drain(s: Sub): void {
    s.scheduled = false;
    // Deliver what is queued now; events published during delivery wait for the next turn.
    const end = s.queue.length;
    while (s.head < end && !s.closed) {
      const q = s.queue[s.head++]!;
      try {
        s.next(q.event, q.seq);
      } catch {
        // A subscriber's error is its own; the pipeline goes on.
      }
    }
    if (s.head >= s.queue.length) {
      s.queue.length = 0;
      s.head = 0;
    } else if (!s.scheduled && !s.closed) {
      s.scheduled = true;
      setImmediate(() => this.drain(s));
    }
  }

  /** Resolves when every subscriber has been handed every event published so far. */
  async settled(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      let busy = false;
      for (const s of this.subs) if (s.head < s.queue.length) busy = true;
      if (!busy) return;
      await new Promise((r) => setImmediate(r));
    }
  }
}
