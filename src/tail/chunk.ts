/**
 * A chunk is the unit that flows from `tail` to `parse`: a Buffer holding only complete lines (each ending
 * in `\n`), the file offset of its first byte, and the offset just past its last line (the checkpoint
 * candidate). Complete lines are passed through whole (the parser bounds what patterns see); a partial
 * line that grows past the bound is not buffered further: its head is delivered alone, cut to the bound,
 * with `cut` set, once its newline arrives; its `endOffset` is the true end of the line in the file.
 */
export interface Chunk {
  buf: Buffer;
  /** File offset of buf[0]. For every line but a cut one, line offset = baseOffset + index in buf. */
  baseOffset: number;
  /** File offset just past the last complete line of this chunk. */
  endOffset: number;
  /** True when this chunk is one line cut at maxLineBytes. */
  cut?: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024;

/**
 * Splits a byte stream into chunks of complete lines. Holds back a partial last line until its newline
 * arrives (never classified early). A held line over `maxLineBytes` is cut and counted; the rest of it is
 * skipped without being buffered, so a 5 MB line without newline costs `maxLineBytes` of memory.
 */
export class LineChunker {
  private pending: Buffer | null = null;
  /** File offset of the first byte not yet delivered (start of the pending partial line). */
  private offset: number;
  /** Inside an overlong line: bytes are being skipped until the next newline. */
  private skipping = false;
  private cutHead: Buffer | null = null;
  private cutStart = 0;
  cutLines = 0;

  constructor(
    startOffset = 0,
    private readonly maxLineBytes = DEFAULT_MAX_LINE_BYTES,
  ) {
    this.offset = startOffset;
  }

  /** Offset of the first byte that has not been delivered in a chunk (the safe checkpoint). */
  get committedOffset(): number {
    return this.offset;
  }

  /** Bytes held back (a partial line not yet terminated). */
  get pendingBytes(): number {
    return this.pending ? this.pending.length : 0;
  }

  reset(offset: number): void {
    this.pending = null;
    this.offset = offset;
    this.skipping = false;
    this.cutHead = null;
  }

  /** Feed raw bytes; calls `emit` for each chunk of complete lines, in order. */
  push(data: Buffer, emit: (c: Chunk) => void): void {
    let start = 0;
    if (this.skipping) {
      const nl = data.indexOf(10);
      if (nl < 0) {
        this.cutSkipped += data.length;
        return;
      }
      this.cutSkipped += nl + 1;
      const end = this.cutStart + this.cutSkipped;
      emit({ buf: this.cutHead!, baseOffset: this.cutStart, endOffset: end, cut: true });
      this.cutLines++;
      this.offset = end;
      this.skipping = false;
      this.cutHead = null;
      start = nl + 1;
    } else if (this.pending) {
      // Complete the held partial line on its own, so the large new buffer is never copied.
      const nl = data.indexOf(10);
      const pending = this.pending;
      this.pending = null;
      if (nl < 0) {
        this.hold(Buffer.concat([pending, data]));
        return;
      }
      this.lines(Buffer.concat([pending, data.subarray(0, nl + 1)]), 0, emit);
      start = nl + 1;
    }
    this.lines(data, start, emit);
  }

  /** Delivers the complete lines of buf[start..], holds back the partial tail. */
  private lines(buf: Buffer, start: number, emit: (c: Chunk) => void): void {
    const lastNl = buf.lastIndexOf(10);
    if (lastNl < start) {
      if (start < buf.length) this.hold(buf.subarray(start));
      return;
    }
    const from = start;
    const stop = lastNl + 1;
    if (stop > from) this.deliver(buf.subarray(from, stop), emit);
    if (stop < buf.length) this.hold(buf.subarray(stop));
  }

  private cutSkipped = 0;

  private deliver(b: Buffer, emit: (c: Chunk) => void): void {
    const base = this.offset;
    this.offset += b.length;
    emit({ buf: b, baseOffset: base, endOffset: this.offset });
  }

  private hold(rest: Buffer): void {
    if (rest.length >= this.maxLineBytes) {
      // An overlong partial line: keep only its head, skip the rest until the newline.
      const head = Buffer.allocUnsafe(this.maxLineBytes);
      rest.copy(head, 0, 0, this.maxLineBytes - 1);
      head[this.maxLineBytes - 1] = 10;
      this.skipping = true;
      this.cutHead = head;
      this.cutStart = this.offset;
      this.cutSkipped = rest.length;
      this.pending = null;
      return;
    }
    // Copy: the caller may reuse its buffer.
    this.pending = Buffer.from(rest);
  }
}
