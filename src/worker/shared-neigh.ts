/**
 * The ARP results every worker can read. With several workers the steering program sends every ARP frame to
 * queue 0, so worker 0 is the only one that learns neighbours from the wire; it publishes what it learns here
 * (single writer), and the other workers copy entries into their own cache when they miss or hold frames.
 * A SharedArrayBuffer holds an open-addressing index (address → row + 1, never deleted, so readers can probe
 * without locks) and rows of {address, state, seq, MAC}; a row is written under a sequence lock (odd while
 * changing) so a reader never takes a half-written MAC.
 */
const STATE_NONE = 0;
const STATE_REACHABLE = 1;

export class SharedNeighbors {
  private readonly index: Int32Array;
  private readonly ip: Int32Array;
  private readonly state: Int32Array;
  private readonly seq: Int32Array;
  private readonly mac: Uint8Array;
  private readonly mask: number;
  private rows = 0;

  /** Bytes needed for `capacity` neighbours (capacity rounded to a power of two). */
  static bytes(capacity: number): number {
    const cap = SharedNeighbors.cap(capacity);
    return cap * 2 * 4 + cap * 3 * 4 + cap * 8;
  }

  private static cap(capacity: number): number {
    let c = 16;
    while (c < capacity) c <<= 1;
    return c;
  }

  constructor(sab: SharedArrayBuffer, capacity: number) {
    const cap = SharedNeighbors.cap(capacity);
    this.mask = cap * 2 - 1;
    let o = 0;
    this.index = new Int32Array(sab, o, cap * 2);
    o += cap * 8;
    this.ip = new Int32Array(sab, o, cap);
    o += cap * 4;
    this.state = new Int32Array(sab, o, cap);
    o += cap * 4;
    this.seq = new Int32Array(sab, o, cap);
    o += cap * 4;
    this.mac = new Uint8Array(sab, o, cap * 8);
    // The writer resumes after a restart: count rows already published.
    for (let i = 0; i < this.index.length; i++) if (Atomics.load(this.index, i) !== 0) this.rows++;
  }

  private find(ip: number): number {
    const h = (Math.imul(ip, 0x9e3779b1) >>> 16) & this.mask;
    for (let k = 0; k <= this.mask; k++) {
      const slot = (h + k) & this.mask;
      const v = Atomics.load(this.index, slot);
      if (v === 0) return -1 - slot; // free slot where it would go
      if (this.ip[v - 1] === ip) return v - 1;
    }
    return -0x7fffffff;
  }

  /** Writer: records ip at the MAC in src[off..off+6) (reachable), or marks it unreachable when src is null. */
  publish(ip: number, src: Uint8Array | null, off: number): void {
    let r = this.find(ip);
    if (r < 0) {
      if (src === null || r === -0x7fffffff || this.rows >= this.ip.length) return;
      const slot = -1 - r;
      r = this.rows++;
      this.ip[r] = ip;
      this.write(r, src, off);
      Atomics.store(this.index, slot, r + 1); // publish the row only once it is complete
      return;
    }
    this.write(r, src, off);
  }

  private write(r: number, src: Uint8Array | null, off: number): void {
    Atomics.add(this.seq, r, 1); // odd: changing
    if (src !== null) for (let i = 0; i < 6; i++) this.mac[r * 8 + i] = src[off + i]!;
    Atomics.store(this.state, r, src !== null ? STATE_REACHABLE : STATE_NONE);
    Atomics.add(this.seq, r, 1); // even: stable
  }

  /** Reader: copies ip's MAC into out[off..off+6) and returns true if it is known reachable. */
  read(ip: number, out: Uint8Array, off: number): boolean {
    const r = this.find(ip);
    if (r < 0) return false;
    for (let attempt = 0; attempt < 8; attempt++) {
      const s1 = Atomics.load(this.seq, r);
      if (s1 & 1) continue;
      const st = Atomics.load(this.state, r);
      for (let i = 0; i < 6; i++) out[off + i] = this.mac[r * 8 + i]!;
      if (Atomics.load(this.seq, r) === s1) return st === STATE_REACHABLE;
    }
    return false;
  }
}
