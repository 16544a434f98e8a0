import { watch, statSync, type FSWatcher } from 'node:fs';

export type WatchListener = (event: string, filename: string | null) => void;

interface DirEntry {
  watcher: FSWatcher;
  ino: number;
  byName: Map<string, Set<WatchListener>>;
  lastValidated: number;
}

/**
 * One `fs.watch` (inotify) per directory, shared by every follower with a file in it, dispatching by file
 * name. A directory watch sees appends to its files (IN_MODIFY), creations, renames and deletions, so it is
 * the wake-up signal for reading, rotation and "the file appeared". It is only a latency optimisation:
 * followers keep a slow poll, so a missing/broken watch (NFS, the directory deleted or renamed) only makes
 * them slower, never wrong.
 */
export class DirWatchHub {
  private readonly dirs = new Map<string, DirEntry>();

  /**
   * Calls `fn` for events about `name` in `dir` (and for events without a file name). Returns the
   * unsubscribe function, or null when the directory can't be watched now (try again later).
   */
  subscribe(dir: string, name: string, fn: WatchListener): (() => void) | null {
    let entry = this.dirs.get(dir);
    if (!entry) {
      const created = this.create(dir);
      if (!created) return null;
      entry = created;
    }
    let set = entry.byName.get(name);
    if (!set) entry.byName.set(name, (set = new Set()));
    set.add(fn);
    return () => {
      const e = this.dirs.get(dir);
      if (!e) return;
      const s = e.byName.get(name);
      if (!s) return;
      s.delete(fn);
      if (s.size === 0) e.byName.delete(name);
      if (e.byName.size === 0) this.drop(dir, e);
    };
  }

  /** Whether `dir` currently has a live watcher. */
  has(dir: string): boolean {
    return this.dirs.has(dir);
  }

  /**
   * Re-creates the watcher of `dir` when the directory was replaced (its inode changed: an inotify watch
   * follows the old inode) or vanished. Throttled to once per `minIntervalMs` per directory.
   */
  revalidate(dir: string, minIntervalMs: number): void {
    const e = this.dirs.get(dir);
    if (!e) return;
    const now = Date.now();
    if (now - e.lastValidated < minIntervalMs) return;
    e.lastValidated = now;
    let ino = -1;
    try {
      ino = statSync(dir).ino;
    } catch {
      /* gone */
    }
    if (ino === e.ino) return;
    this.drop(dir, e);
    if (ino >= 0) {
      const fresh = this.create(dir);
      if (fresh) {
        for (const [name, set] of e.byName) fresh.byName.set(name, set);
        // Wake everyone: things may have happened while the watch was stale.
        for (const set of fresh.byName.values()) for (const fn of set) fn('rename', null);
      }
    }
  }

  get size(): number {
    return this.dirs.size;
  }

  private create(dir: string): DirEntry | null {
    let watcher: FSWatcher;
    let ino: number;
    try {
      ino = statSync(dir).ino;
      watcher = watch(dir, { persistent: false });
    } catch {
      return null;
    }
    const entry: DirEntry = { watcher, ino, byName: new Map(), lastValidated: Date.now() };
    watcher.on('change', (event: string, filename: string | Buffer | null) => {
      const name = filename == null ? null : filename.toString();
      if (name === null) {
        for (const set of entry.byName.values()) for (const fn of [...set]) fn(event, null);
        return;
      }
      const set = entry.byName.get(name);
      if (set) for (const fn of [...set]) fn(event, name);
    });
    watcher.on('error', () => {
      // The directory went away (or the watch broke): drop it; subscribers re-subscribe on their poll.
      this.drop(dir, entry);
      for (const set of entry.byName.values()) for (const fn of [...set]) fn('error', null);
    });
    this.dirs.set(dir, entry);
    return entry;
  }

  private drop(dir: string, e: DirEntry): void {
    try {
      e.watcher.close();
    } catch {
      /* already closed */
    }
    if (this.dirs.get(dir) === e) this.dirs.delete(dir);
  }
}

let shared: DirWatchHub | undefined;
/** The process-wide hub (created on first use, not at import). */
export function sharedWatchHub(): DirWatchHub {
  shared ??= new DirWatchHub();
  return shared;
}
