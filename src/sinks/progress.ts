/**
 * A one-line progress bar for `scan` on a terminal's stderr: bytes read of the total, rate, ETA. At most
 * `maxPerSecond` redraws; the line is erased before anything else is written to the terminal and at the end.
 * It is only ever written to a TTY (the caller decides), never to stdout.
 */
import { formatBytes } from './report.js';

export interface ProgressStream {
  write(s: string): unknown;
  columns?: number;
}

export interface ProgressOptions {
  /** Total bytes to read, when known (regular files); null for stdin. */
  total: number | null;
  /** Redraws per second at most (default 10). */
  maxPerSecond?: number;
  /** Draw nothing before this many ms have passed (default 0): small scans show no bar. */
  delayMs?: number;
  now?: () => number;
}

export class ProgressBar {
  private readonly start: number;
  private readonly minGap: number;
  private readonly delay: number;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  private shown = false;
  private done = false;
  private bytes = 0;
  private label = '';
  /** Redraws so far (tests read it). */
  draws = 0;

  constructor(
    private readonly stream: ProgressStream,
    private readonly o: ProgressOptions,
  ) {
    this.now = o.now ?? (() => performance.now());
    this.start = this.now();
    this.minGap = 1000 / (o.maxPerSecond ?? 10);
    this.delay = o.delayMs ?? 0;
  }

  /** Bytes read so far (all files), and the file being read. Cheap when throttled. */
  update(bytes: number, label?: string): void {
    this.bytes = bytes;
    if (label !== undefined) this.label = label;
    if (this.done) return;
    const t = this.now();
    if (t - this.lastDraw < this.minGap || t - this.start < this.delay) return;
    this.lastDraw = t;
    this.draw(t);
  }

  /** Erases the bar (before other output to the terminal); the next update draws it again. */
  clear(): void {
    if (!this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  /** Erases the bar for good. */
  end(): void {
    this.clear();
    this.done = true;
  }

  private draw(t: number): void {
    const secs = (t - this.start) / 1000;
    const rate = secs > 0 ? this.bytes / secs : 0;
    const total = this.o.total;
    const cols = Math.max(40, (this.stream.columns || 80) - 1);
    let text: string;
    if (total !== null && total > 0) {
      const frac = Math.min(1, this.bytes / total);
      const eta = rate > 0 ? Math.max(0, (total - this.bytes) / rate) : NaN;
      const tail = ` ${formatBytes(this.bytes)}/${formatBytes(total)} ${(frac * 100).toFixed(0).padStart(3)}% ` +
        `${formatBytes(rate)}/s ETA ${Number.isNaN(eta) ? '--:--' : clock(eta)}`;
      const barWidth = Math.max(10, Math.min(30, cols - tail.length - 22));
      const filled = Math.round(frac * barWidth);
      text = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`;
    } else {
      text = `${formatBytes(this.bytes)} read, ${formatBytes(rate)}/s`;
    }
    const room = cols - text.length - 2;
    if (room > 8 && this.label) {
      const l = this.label.length > room ? `...${this.label.slice(-(room - 3))}` : this.label;
      text += `  ${l}`;
    }
    // eslint-disable-next-line no-control-regex
    this.stream.write(`\r${text.slice(0, cols).replace(/[\x00-\x1f\x7f]/g, '?')}\x1b[K`);
    this.shown = true;
    this.draws++;
  }
}

function clock(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  const p = (n: number): string => String(n).padStart(2, '0');
  return h ? `${h}:${p(m)}:${p(sec)}` : `${m}:${p(sec)}`;
}
