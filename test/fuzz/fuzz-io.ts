/**
 * The pipeline fuzzer's test double and byte helpers: a PacketIO that delivers one frame per recv() with poisoned
 * surroundings (and a virtio_net_hdr when offloads are on) and records what is sent; the bytes of a frame that
 * carry meaning; a hash; the virtio header generator.
 */
import type { PacketIO } from '../../src/io/packet-io.js';
import type { Gen } from './gen.js';

/** A PacketIO that delivers one frame per recv() with poisoned surroundings and records what is sent. */
export class FuzzIO implements PacketIO {
  private src: Uint8Array = new Uint8Array(0);
  private srcLen = 0;
  private clean = 0;
  private poison = 0;
  private pending = false;
  /** virtio_net_hdr in front of the frame (offloads on), or null. */
  private vhdr: Uint8Array | null = null;
  readonly txOff = new Int32Array(4096);
  readonly txLen = new Int32Array(4096);
  txN = 0;

  load(src: Uint8Array, len: number, clean: number, poison: number, vhdr: Uint8Array | null = null): void {
    this.vhdr = vhdr;
    this.src = src;
    this.srcLen = len;
    this.clean = clean;
    this.poison = poison;
    this.pending = true;
  }

  recv(ring: ArrayBuffer, slotSize: number, headroom: number, _max: number, lens: Int32Array): number {
    if (!this.pending) return 0;
    this.pending = false;
    const u8 = new Uint8Array(ring, 0, slotSize);
    const v = this.vhdr ? this.vhdr.length : 0;
    if (this.vhdr) u8.set(this.vhdr, headroom);
    const at = headroom + v;
    const n = Math.min(this.srcLen, slotSize - at);
    u8.fill(this.poison, 0, headroom);
    u8.set(this.src.subarray(0, n), at);
    // 4 KiB of poison after the frame's meaningful bytes; beyond that both twins hold the same leftovers.
    const from = at + Math.min(this.clean, n);
    u8.fill(this.poison, from, Math.min(slotSize, from + 4096));
    lens[0] = v + n;
    return 1;
  }

  send(_buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number): number {
    for (let i = 0; i < count && this.txN < this.txOff.length; i++) {
      this.txOff[this.txN] = offs[i]!;
      this.txLen[this.txN++] = lens[i]!;
    }
    return count;
  }

  wait(): number {
    return 0;
  }

  close(): void {}
}


/** Bytes of the frame that belong to it (after them: Ethernet padding, poisoned in the comparison). */
export function meaningful(b: Uint8Array, len: number): number {
  if (len < 14) return len;
  const type = (b[12]! << 8) | b[13]!;
  if (type === 0x0806) return Math.min(len, 42);
  if (type !== 0x0800 || len < 18) return len;
  const ipLen = (b[16]! << 8) | b[17]!;
  return ipLen >= 20 && 14 + ipLen <= len ? 14 + ipLen : len;
}

/** FNV-1a over u8[off, off+len), continuing from `h`. */
export function fnv(u8: Uint8Array, off: number, len: number, h: number): number {
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ u8[i]!, 16777619);
  return h >>> 0;
}

/** A virtio_net_hdr for the frame in g.w (offloads on), in `h`; may rewrite its L4 checksum field to a partial sum. */
export function vnetHeader(g: Gen, h: Uint8Array): Uint8Array {
  const w = g.w;
  const dv = new DataView(h.buffer);
  h.fill(0);
  const r = g.rand();
  const l4 = w.l4;
  const ipOk = w.l3 === 14 && l4 > 0 && l4 + 20 <= w.len && (w.proto === 6 || w.proto === 17);
  if (r < 0.55) return h;
  if (r < 0.65) {
    h[0] = 2; // DATA_VALID
    return h;
  }
  if (r < 0.95 && ipOk) {
    h[0] = 1; // NEEDS_CSUM: the field holds the pseudo-header sum only, as the sending kernel leaves it
    const big = w.proto === 6 && w.len - l4 > 1600;
    if (big && g.chance(0.8)) {
      h[1] = g.chance(0.9) ? 1 : 0x81; // TCPv4 (with ECN)
      dv.setUint16(4, g.pick([1448, 1460, 1400, 536, 1200, 88, 1461, 1500, 9000, 0, 1]), true);
      dv.setUint16(2, l4 + ((w.b[l4 + 12]! >> 4) << 2), true);
    }
    dv.setUint16(6, l4, true);
    const co = w.proto === 6 ? 16 : 6;
    dv.setUint16(8, co, true);
    const src = w.dv.getUint32(w.l3 + 12);
    const dst = w.dv.getUint32(w.l3 + 16);
    const l4len = w.len - l4;
    let ps = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + w.proto + l4len;
    while (ps > 0xffff) ps = (ps & 0xffff) + (ps >>> 16);
    w.dv.setUint16(l4 + co, ps);
    return h;
  }
  for (let i = 0; i < 10; i++) h[i] = g.int(256);
  return h;
}
