/**
 * The worker's side of TAP offloads (IFF_VNET_HDR + TUNSETOFFLOAD CSUM|TSO4): what to do with a frame whose
 * virtio_net_hdr says NEEDS_CSUM. A plain frame gets its checksum completed here (so every method sees complete
 * checksums, as without offloads); a TCPv4 GSO super-frame is marked for pass-through (NAT and DR rewrite it
 * whole and Link.output writes its virtio_net_hdr) or, for the methods that cannot carry one (Forwarder.gso
 * false), cut into MSS-sized segments in a region of its own and forwarded segment by segment.
 */
import { SEG_SLOTS } from '../defaults.js';
import type { Forwarder, FwdContext } from '../forward/index.js';
import { buildSegment, finalizeL4 } from '../packet/offload.js';
import {
  IP_HLEN, PROTO_TCP, PROTO_UDP, TCP_OFF, VNET_CSUM_START, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_SIZE, VNET_GSO_TYPE,
  VNET_GSO_TCPV4, VNET_HDR_LEN,
} from '../packet/offsets.js';
import { Pkt, ParseResult, parseIPv4 } from '../packet/parse.js';
import { C, D } from './stats.js';

/** Segment slot size: an MSS-sized segment plus headroom for TUN's outer header or FULLNAT's inserted bytes. */
const SEG_SLOT = 2048;

export class OffloadPath {
  private segNext = 0;
  /** The GSO frame's geometry while `pk` describes one segment after another. */
  private readonly g = new Pkt();

  constructor(
    private readonly ctx: FwdContext,
    private readonly pk: Pkt,
    private readonly segBase: number,
    private readonly flush: () => void,
  ) {}

  /** Segment slots are free again once the batch was sent. */
  beginBatch(): void {
    this.segNext = 0;
  }

  /**
   * A parsed frame flagged NEEDS_CSUM at `base`: completes its checksum, or marks a TCPv4 GSO frame (pk.gso,
   * link.gso*). Returns false when the header does not match the frame (dropped and counted).
   */
  partial(base: number): boolean {
    const { u8, dv, f64, link } = this.ctx;
    const pk = this.pk;
    const v = base - VNET_HDR_LEN;
    if (dv.getUint16(v + VNET_CSUM_START, true) !== pk.l4 - base || (pk.proto !== PROTO_TCP && pk.proto !== PROTO_UDP)) {
      f64[D.gso_unsupported]!++;
      return false;
    }
    const type = u8[v + VNET_GSO_TYPE]!;
    if (type === VNET_GSO_NONE) {
      finalizeL4(u8, dv, pk);
      f64[C.csum_completed]!++;
      return true;
    }
    if ((type & ~VNET_GSO_ECN) !== VNET_GSO_TCPV4 || pk.proto !== PROTO_TCP) {
      f64[D.gso_unsupported]!++;
      return false;
    }
    pk.gso = 1;
    link.gsoBase = base;
    link.gsoType = type;
    link.gsoSize = dv.getUint16(v + VNET_GSO_SIZE, true);
    link.gsoL4 = pk.l4;
    return true;
  }

  /** Whether `fwd` takes the GSO frame whole (counted), else the caller segments it. */
  whole(fwd: Forwarder): boolean {
    if (!fwd.gso) return false;
    this.ctx.f64[C.gso_passed]!++;
    return true;
  }

  /** Cuts the GSO frame in `pk` into segments and hands each to fwd (inbound or outbound) for conn c. */
  segment(fwd: Forwarder, c: number, inbound: boolean): void {
    const { u8, dv, f64, link } = this.ctx;
    const pk = this.pk;
    const g = this.g;
    link.gsoBase = -1;
    const doff = (u8[pk.l4 + TCP_OFF]! >> 4) << 2;
    // Segments never exceed the segment MTU, whatever gso_size says (a fuzz finding: a gso_size too big for the
    // MTU made segments the next hop must drop); a smaller segment is always valid TCP.
    const fit = link.mtu - IP_HLEN - doff;
    const mss = link.gsoSize < fit ? link.gsoSize : fit;
    const payload = pk.ipLen - IP_HLEN - doff;
    const headroom = this.ctx.headroom;
    if (mss <= 0 || payload <= 0 || pk.l4 - pk.base + doff + mss > SEG_SLOT - 2 * headroom) {
      f64[D.gso_unsupported]!++;
      return;
    }
    copyPkt(g, pk);
    f64[C.gso_segmented]!++;
    for (let off = 0, i = 0; off < payload; off += mss, i++) {
      if (this.segNext >= SEG_SLOTS) {
        this.flush(); // more segments than slots in one batch: send what is queued, reuse the slots
        this.segNext = 0;
      }
      const n = payload - off < mss ? payload - off : mss;
      const dst = this.segBase + this.segNext++ * SEG_SLOT + headroom;
      pk.base = dst;
      pk.len = buildSegment(u8, dv, g, doff, i, off, n, off + n >= payload, dst);
      pk.gso = 0;
      if (parseIPv4(u8, dv, pk, false) !== ParseResult.OK) {
        f64[D.gso_unsupported]!++;
        continue;
      }
      if (inbound) fwd.inbound(this.ctx, pk, c);
      else fwd.outbound(this.ctx, pk, c);
    }
  }
}

function copyPkt(to: Pkt, from: Pkt): void {
  to.base = from.base;
  to.len = from.len;
  to.l3 = from.l3;
  to.l4 = from.l4;
  to.ipLen = from.ipLen;
  to.l4len = from.l4len;
  to.proto = from.proto;
  to.saddr = from.saddr;
  to.daddr = from.daddr;
  to.sport = from.sport;
  to.dport = from.dport;
  to.tcpFlags = from.tcpFlags;
  to.ttl = from.ttl;
  to.gso = from.gso;
}
