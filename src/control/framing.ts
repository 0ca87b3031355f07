/**
 * NDJSON framing shared by the daemon's socket server and the client: splits a byte stream into lines,
 * refusing any line longer than `maxBytes` (the caller answers with an error and drops the connection).
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * Feeds a chunk; returns the complete lines it finished (without the newline), or 'overflow' if the
   * current line grew past maxBytes.
   */
  push(chunk: Buffer): string[] | 'overflow' {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (this.pendingBytes + piece.length > this.maxBytes) return 'overflow';
      if (this.pending.length > 0) {
        this.pending.push(piece);
        lines.push(Buffer.concat(this.pending).toString('utf8'));
        this.pending = [];
        this.pendingBytes = 0;
      } else {
        lines.push(piece.toString('utf8'));
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingBytes += rest.length;
      if (this.pendingBytes > this.maxBytes) return 'overflow';
      this.pending.push(Buffer.from(rest));
    }
    return lines;
  }

  /** Bytes of the current, unfinished line. */
  get partial(): number {
    return this.pendingBytes;
  }

  /** The unfinished line (the stream ended without its newline), and forgets it. */
  rest(): string {
    const text = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    return text;
  }
}
