/**
 * The IPIP decapsulator of `tapvs decap`, for real servers of a TUN (-i) service whose kernel has no `ipip`
 * module. Design note:
 *
 * Input is a raw IPv4 socket for protocol 4 (native.openRawIp): the kernel hands it every IPIP datagram
 * addressed to this host, reassembled, outer header included, and — because a raw socket took it — does not
 * answer "protocol unreachable" even without a handler. Output is a TUN device (IFF_TUN|IFF_NO_PI): writing
 * the inner packet there makes the kernel receive it as if it had arrived on that device, so it reaches the
 * socket listening on the VIP (configured on `lo`). Replies leave by the normal route, straight to the client.
 *
 * Per batch: one recvBatch (one read() per datagram) into a ring of 64 KiB slots, every datagram checked and
 * pointed at in place (the inner packet is sent from where it lies, nothing is copied), one sendBatch to the
 * TUN fd. No allocation, no throw per packet; every datagram not written counts exactly one drop reason.
 *
 * Checks: the outer header (version, IHL, total length, protocol 4); optionally the outer source (only the
 * directors'); the inner header (IPv4, IHL, total length within the outer payload, header checksum: the
 * kernel would drop a bad one silently, we count it); optionally the inner destination (only the VIPs).
 * ECN on decapsulation follows RFC 6040 as the kernel's ip_tunnel does: outer CE marks an ECN-capable inner
 * packet CE (incremental checksum update) and drops a not-ECT one. The inner TTL is left as the director set it.
 */
import { csumPartial, csumUpdate16 } from '../packet/checksum.js';
import type { PacketIO } from '../io/packet-io.js';

/** Why a datagram was not handed to the TUN device. */
export const DECAP_DROPS = [
  'truncated', // the datagram filled a whole slot (cannot happen for IPv4's 64 KiB limit; kept as a guard)
  'malformed', // outer header: not IPv4, IHL < 5, total length not what was read
  'not_ipip', // outer protocol is not 4
  'bad_source', // outer source is not one of --director (when given)
  'inner_not_ipv4', // the inner packet is not IPv4
  'inner_malformed', // inner header: IHL < 5 or total length beyond the outer payload
  'inner_bad_checksum',
  'not_vip', // inner destination is not one of --vip (when given)
  'ecn_ce_not_ect', // outer CE on an inner packet that is not ECN-capable (RFC 6040: drop)
  'tx_failed', // the TUN device refused the packet (down? full?)
] as const;
export type DecapDrop = (typeof DECAP_DROPS)[number];

export const DECAP_COUNTERS = ['rx_packets', 'rx_bytes', 'tx_packets', 'rx_batches', 'ecn_ce_marked'] as const;
export type DecapCounter = (typeof DECAP_COUNTERS)[number];

const idx = <T extends string>(names: readonly T[], base: number) =>
  Object.fromEntries(names.map((n, i) => [n, base + i])) as Record<T, number>;
/** Counter slots in Decap.counters. */
export const DC = idx(DECAP_COUNTERS, 0);
export const DD = idx(DECAP_DROPS, DECAP_COUNTERS.length);

/** Ring geometry: a slot holds the largest IPv4 datagram. */
export const DECAP_SLOT = 65536;
export const DEFAULT_DECAP_BATCH = 32;
const PROTO_IPIP = 4;

export interface DecapOptions {
  /** Where IPIP datagrams come from (a raw IPv4 socket for protocol 4; MemoryIO in tests). */
  rx: PacketIO;
  /** Where inner packets go (a TUN device). */
  tx: PacketIO;
  /** Accept only these inner destinations (unsigned 32-bit addresses); empty = any. */
  vips?: number[];
  /** Accept only these outer sources (the directors); empty = any. */
  directors?: number[];
  batch?: number;
}

export class Decap {
  /** Counters (DC) then drops (DD), one writer: this object. */
  readonly counters = new Float64Array(DECAP_COUNTERS.length + DECAP_DROPS.length);
  readonly batch: number;
  private readonly rx: PacketIO;
  private readonly tx: PacketIO;
  private readonly mem: ArrayBuffer;
  private readonly u8: Uint8Array;
  private readonly dv: DataView;
  private readonly lens: Int32Array;
  private readonly offs: Int32Array;
  private readonly outLens: Int32Array;
  private readonly vips: Int32Array;
  private readonly directors: Int32Array;

  constructor(o: DecapOptions) {
    this.rx = o.rx;
    this.tx = o.tx;
    this.batch = o.batch ?? DEFAULT_DECAP_BATCH;
    this.mem = new ArrayBuffer(this.batch * DECAP_SLOT);
    this.u8 = new Uint8Array(this.mem);
    this.dv = new DataView(this.mem);
    this.lens = new Int32Array(this.batch);
    this.offs = new Int32Array(this.batch);
    this.outLens = new Int32Array(this.batch);
    // int32 on the packet path (small integers for V8, see src/packet/parse.ts)
    this.vips = Int32Array.from(o.vips ?? [], (a) => a | 0);
    this.directors = Int32Array.from(o.directors ?? [], (a) => a | 0);
  }

  /** One batch: receive, check, send. Returns datagrams received (0 = none ready) or a negative errno. */
  step(): number {
    const n = this.rx.recv(this.mem, DECAP_SLOT, 0, this.batch, this.lens);
    if (n <= 0) return n;
    const k = this.counters;
    k[DC.rx_batches]!++;
    k[DC.rx_packets]! += n;
    let out = 0;
    for (let i = 0; i < n; i++) {
      const len = this.lens[i]!;
      k[DC.rx_bytes]! += len;
      const inner = this.check(i * DECAP_SLOT, len);
      if (inner >= 0) {
        this.offs[out] = inner;
        this.outLens[out] = this.dv.getUint16(inner + 2);
        out++;
      }
    }
    if (out > 0) {
      const sent = this.tx.send(this.mem, this.offs, this.outLens, out);
      const ok = sent > 0 ? sent : 0;
      k[DC.tx_packets]! += ok;
      k[DD.tx_failed]! += out - ok;
    }
    return n;
  }

  /** Checks the datagram at `off`; returns the offset of its inner packet, or -1 (a drop was counted). */
  private check(off: number, len: number): number {
    const u8 = this.u8;
    const dv = this.dv;
    const k = this.counters;
    if (len >= DECAP_SLOT) {
      k[DD.truncated]!++;
      return -1;
    }
    const vhl = len >= 20 ? u8[off]! : 0;
    const ohl = (vhl & 15) << 2;
    if (vhl >> 4 !== 4 || ohl < 20 || dv.getUint16(off + 2) !== len) {
      k[DD.malformed]!++;
      return -1;
    }
    if (u8[off + 9] !== PROTO_IPIP) {
      k[DD.not_ipip]!++;
      return -1;
    }
    if (this.directors.length > 0 && !has(this.directors, dv.getInt32(off + 12))) {
      k[DD.bad_source]!++;
      return -1;
    }
    const inner = off + ohl;
    const avail = len - ohl;
    if (avail > 0 && u8[inner]! >> 4 !== 4) {
      k[DD.inner_not_ipv4]!++;
      return -1;
    }
    const ihl = (u8[inner]! & 15) << 2;
    if (avail < 20 || ihl < 20 || dv.getUint16(inner + 2) < ihl || dv.getUint16(inner + 2) > avail) {
      k[DD.inner_malformed]!++;
      return -1;
    }
    if (csumPartial(u8, inner, ihl, 0) !== 0xffff) {
      k[DD.inner_bad_checksum]!++;
      return -1;
    }
    if (this.vips.length > 0 && !has(this.vips, dv.getInt32(inner + 16))) {
      k[DD.not_vip]!++;
      return -1;
    }
    if ((u8[off + 1]! & 3) === 3) {
      const tos = u8[inner + 1]!;
      if ((tos & 3) === 0) {
        k[DD.ecn_ce_not_ect]!++;
        return -1;
      }
      if ((tos & 3) !== 3) {
        const word = dv.getUint16(inner);
        dv.setUint16(inner, word | 3);
        dv.setUint16(inner + 10, csumUpdate16(dv.getUint16(inner + 10), word, word | 3));
        k[DC.ecn_ce_marked]!++;
      }
    }
    return inner;
  }

  /** Counters by name (for logs and tests). */
  snapshot(): Record<DecapCounter | DecapDrop, number> {
    const out = {} as Record<DecapCounter | DecapDrop, number>;
    for (const n of DECAP_COUNTERS) out[n] = this.counters[DC[n]]!;
    for (const n of DECAP_DROPS) out[n] = this.counters[DD[n]]!;
    return out;
  }
}

function has(list: Int32Array, v: number): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === v) return true;
  return false;
}
