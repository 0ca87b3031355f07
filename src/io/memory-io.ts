/**
 * In-memory PacketIO for tests and benchmarks: frames injected by the caller are "received"; frames the
 * worker sends are collected. No root, no TAP. (It copies and allocates freely: it is a test double, not a
 * packet path.) `replay` mode re-delivers the same frames forever and `countOnly` discards what is sent: together
 * they allocate nothing per frame, for benchmarks and the no-allocation test.
 */
import type { ExchangeIO } from './packet-io.js';

export class MemoryIO implements ExchangeIO {
  /**
   * When set, the dataplane uses exchange() (send the last batch + receive the next in one call, as the
   * io_uring TAP path does) instead of recv() and send(): tests run both paths over the same fixtures.
   */
  exchangeReady = false;
  lastSent = 0;
  private inbox: Uint8Array[] = [];
  private readonly outbox: Uint8Array[] = [];
  /** When set, send() only counts frames (benchmarks). */
  countOnly = false;
  sentCount = 0;
  private replay: Uint8Array[] | null = null;
  private replayPos = 0;

  /** Queues frames to be returned by the next recv() calls. */
  inject(...frames: Uint8Array[]): void {
    this.inbox.push(...frames);
  }

  /** Makes recv() return these frames round-robin forever. */
  replayForever(frames: Uint8Array[]): void {
    this.replay = frames;
    this.replayPos = 0;
  }

  /** Returns and clears the frames sent so far. */
  take(): Uint8Array[] {
    return this.outbox.splice(0, this.outbox.length);
  }

  pending(): number {
    return this.inbox.length;
  }

  private view(buf: ArrayBuffer): Uint8Array {
    if (this.lastBuf !== buf) {
      this.lastBuf = buf;
      this.lastView = new Uint8Array(buf);
    }
    return this.lastView;
  }
  private lastBuf: ArrayBuffer | null = null;
  private lastView = new Uint8Array(0);

  recv(ring: ArrayBuffer, slotSize: number, headroom: number, max: number, lens: Int32Array): number {
    return this.recvAt(ring, 0, slotSize, headroom, max, lens);
  }

  exchange(
    buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number, rxOff: number, slotSize: number,
    headroom: number, max: number, rxLens: Int32Array,
  ): number {
    this.lastSent = count > 0 ? this.send(buf, offs, lens, count) : 0;
    return this.recvAt(buf, rxOff, slotSize, headroom, max, rxLens);
  }

  private recvAt(ring: ArrayBuffer, rxOff: number, slotSize: number, headroom: number, max: number, lens: Int32Array): number {
    const u8 = this.view(ring);
    const at = rxOff + headroom;
    let n = 0;
    if (this.replay) {
      const frames = this.replay;
      for (; n < max; n++) {
        const f = frames[this.replayPos]!;
        this.replayPos = this.replayPos + 1 === frames.length ? 0 : this.replayPos + 1;
        u8.set(f, n * slotSize + at);
        lens[n] = f.length;
      }
      return n;
    }
    while (n < max && this.inbox.length > 0) {
      const f = this.inbox.shift()!;
      const len = Math.min(f.length, slotSize - headroom);
      u8.set(f.subarray(0, len), n * slotSize + at);
      // Like a TAP read, an oversized frame is cut to the slot (the pipeline counts a full slot as truncated).
      lens[n] = len;
      n++;
    }
    return n;
  }

  send(buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number): number {
    this.sentCount += count;
    if (this.countOnly) return count;
    const u8 = this.view(buf);
    for (let i = 0; i < count; i++) this.outbox.push(u8.slice(offs[i]!, offs[i]! + lens[i]!));
    return count;
  }

  wait(_timeoutMs: number): number {
    return this.inbox.length > 0 || this.replay ? 1 : 0;
  }

  close(): void {
    this.inbox = [];
  }
}
