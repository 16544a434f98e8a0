/**
 * Bounds how much many followers read at once. A backlog used to be read whole in one turn per file (every
 * byte up to the size seen when the read started), and 100 files behind by 10 MB each filled memory with their
 * events at the same time. Followers now read in turns of at most `maxReadBytes` each, and a shared gate lets
 * at most `slots` turns run at once (first come, first served, so every file progresses). The gate also counts
 * the bytes read by the turns in progress: its high-water mark is the bound the tests and the
 * `stunnel_doctor_read_turn_bytes` gauge show.
 */
export interface ReadTurn {
  /** Bytes this turn has read so far (counted into the gate's total). */
  add(n: number): void;
  /** Ends the turn: frees its slot for the next follower waiting. Idempotent. */
  release(): void;
}

export class ReadGate {
  private busy = 0;
  private readonly queue: (() => void)[] = [];
  /** Bytes read by the turns in progress. */
  bytes = 0;
  /** High-water mark of `bytes` since the gate was made. */
  maxBytes = 0;
  /** High-water mark of turns at once. */
  maxBusy = 0;

  constructor(readonly slots = 4) {
    if (!(slots >= 1)) throw new RangeError(`ReadGate slots must be at least 1, got ${slots}`);
  }

  /** Turns waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** A slot now, without waiting: null when every slot is taken or a follower already waits for one. */
  tryAcquire(): ReadTurn | null {
    return this.busy < this.slots && this.queue.length === 0 ? this.grant() : null;
  }

  /**
   * A slot, when one is free; null if `signal` aborts first (the follower stopped). The abort listener is removed
   * when the slot is granted: a follower that waits for a slot thousands of times a minute leaves nothing behind
   * (a `.then` on a long-lived "stopped" promise did: one pending reaction, with its closures, per wait).
   */
  acquire(signal?: AbortSignal): Promise<ReadTurn | null> {
    if (signal?.aborted) return Promise.resolve(null);
    if (this.busy < this.slots && this.queue.length === 0) return Promise.resolve(this.grant());
    return new Promise((resolve) => {
      const onAbort = (): void => {
        const i = this.queue.indexOf(w);
        if (i < 0) return;
        this.queue.splice(i, 1);
        resolve(null);
      };
      const w = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.grant());
      };
      this.queue.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private grant(): ReadTurn {
    this.busy++;
    if (this.busy > this.maxBusy) this.maxBusy = this.busy;
    let mine = 0;
    let done = false;
    return {
      add: (n) => {
        if (done) return;
        mine += n;
        this.bytes += n;
        if (this.bytes > this.maxBytes) this.maxBytes = this.bytes;
      },
      release: () => {
        if (done) return;
        done = true;
        this.bytes -= mine;
        this.busy--;
        this.queue.shift()?.();
      },
    };
  }
}

/**
 * Resolves when `p` settles or `signal` aborts, whichever comes first, and then holds nothing: unlike
 * `Promise.race([p, stopped])` with a long-lived `stopped` promise, which keeps one reaction per call until
 * `stopped` settles (never, while the follower runs).
 */
export function untilAborted(p: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    p.then(done, done);
  });
}
