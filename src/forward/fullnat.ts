/**
 * FULLNAT (`--fullnat`; Alibaba LVS "FULLNAT", DPVS "FNAT"; ipvs-semantics.md §4.4). Design note:
 *
 * A conn has four endpoints: client CIP:cport, VIP:vport, local LIP:lport (chosen when the conn was created,
 * laddr-pool.ts) and real RIP:rport. Client → real: source CIP:cport → LIP:lport, destination VIP:vport →
 * RIP:rport. Real → client (the reply comes to LIP:lport, found by the outbound index): source → VIP:vport,
 * destination → CIP:cport. TTL − 1 both ways. The reals need no route through the director: they answer the
 * LIP, which the director owns on their segment (it answers ARP for it).
 *
 * Checksums: the IPv4 header checksum is recomputed (20 bytes); TCP/UDP checksums are updated incrementally
 * (RFC 1624) for the four rewritten fields and a sequence shift, and recomputed in full when a segment changed
 * shape (TOA or PROXY bytes inserted, options rewritten). A UDP checksum of 0 (none) stays 0.
 *
 * TCP details:
 * - Timestamps: the client SYN's timestamp option is overwritten with NOPs, as Ali LVS and DPVS do by default:
 *   one LIP multiplexes many clients whose timestamp clocks are unrelated, and a real with tcp_tw_reuse or
 *   PAWS would drop a new client's SYN whose timestamp is older than the last one seen from that LIP:lport.
 *   With no timestamp in the SYN the real never negotiates them, so later segments carry none.
 * - Sequence numbers are not remapped (no new ISN): LIP:lport is reused only after the TIME_WAIT quarantine.
 *   The only shift is the PROXY protocol header: `seqd` bytes inserted at the stream start, so client → real
 *   seq += seqd after it, and real → client ack (and SACK edges) −= seqd (client-ip.ts toClientSeq).
 * - PROXY protocol (v1/v2): the header rides on every client segment sent at the stream start (seq = client
 *   ISN+1, `mark`) until the real acknowledges it — normally the handshake's final ACK, which so becomes a
 *   data segment: the header arrives even when the server speaks first, and a lost header is resent by the
 *   client's own next segment at the stream start (duplicates are harmless to TCP).
 * - TOA (option 254, client address and port): on every client ACK/data segment, FIN included, whose ack is
 *   the real's ISN+1 (no server data acknowledged yet), as Ali LVS does; counted inserted / no room.
 * - MSS: the real's SYN-ACK MSS is lowered to MTU − 40 − (TOA 8 or the PROXY header length) so that client
 *   segments still fit once the option or header is added.
 * UDP with PROXY v2: the 28-byte DGRAM header goes in front of every datagram (a real cannot tell the first
 * datagram of a flow, and haproxy-style parsers expect it on each); replies carry none.
 */
import { csumPartial, csumUpdate16, csumUpdate32, pseudoHeaderSum } from '../packet/checksum.js';
import {
  IP_CSUM, IP_DST, IP_SRC, IP_TTL, PROTO_TCP, TCP_ACK, TCP_ACKF, TCP_CSUM, TCP_HLEN, TCP_OFF, TCP_RST, TCP_SEQ, TCP_SYN,
  UDP_CSUM, UDP_LEN,
} from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import { C, D } from '../worker/stats.js';
import {
  CIP_MARK, CIP_MODE, CIP_PENDING, CIP_PP1, CIP_PP2, CIP_TOA, TOA_LEN, clampMss, insertProxyTcp, insertProxyUdp, insertToa,
  mapSack, proxyHeaderLen, stripTimestamps, toClientSeq,
} from './client-ip.js';
import type { Forwarder, FwdContext } from './index.js';

/** IPv4 + TCP headers without options: MSS = MTU − 40. */
const TCP_IP_HLEN = 40;

/**
 * Rewrites source and destination (address and port), TTL − 1 and the checksums. `full`: the L4 bytes changed
 * beyond these fields, so its checksum is recomputed over the whole segment.
 */
function rewrite(ctx: FwdContext, pk: Pkt, full: boolean, src: number, sport: number, dst: number, dport: number): void {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const l3 = pk.l3;
  const l4 = pk.l4;
  const tcp = pk.proto === PROTO_TCP;
  const oldSrc = dv.getInt32(l3 + IP_SRC);
  const oldDst = dv.getInt32(l3 + IP_DST);
  const oldSport = dv.getUint16(l4);
  const oldDport = dv.getUint16(l4 + 2);
  u8[l3 + IP_TTL] = u8[l3 + IP_TTL]! - 1;
  dv.setInt32(l3 + IP_SRC, src);
  dv.setInt32(l3 + IP_DST, dst);
  dv.setUint16(l3 + IP_CSUM, 0);
  dv.setUint16(l3 + IP_CSUM, ~csumPartial(u8, l3, 20, 0) & 0xffff);
  dv.setUint16(l4, sport);
  dv.setUint16(l4 + 2, dport);
  const csumOff = l4 + (tcp ? TCP_CSUM : UDP_CSUM);
  let ck = dv.getUint16(csumOff);
  if (!tcp && ck === 0) return; // UDP without a checksum stays without
  if (full) {
    const len = tcp ? pk.l4len : dv.getUint16(l4 + UDP_LEN);
    dv.setUint16(csumOff, 0);
    ck = ~csumPartial(u8, l4, len, pseudoHeaderSum(src, dst, pk.proto, len)) & 0xffff;
  } else {
    if (oldSrc !== src) ck = csumUpdate32(ck, oldSrc, src);
    if (oldDst !== dst) ck = csumUpdate32(ck, oldDst, dst);
    if (oldSport !== sport) ck = csumUpdate16(ck, oldSport, sport);
    if (oldDport !== dport) ck = csumUpdate16(ck, oldDport, dport);
  }
  if (!tcp && ck === 0) ck = 0xffff;
  dv.setUint16(csumOff, ck);
}

/** Stores a new 32-bit TCP field at `off` with the incremental checksum update. */
function setSeqField(dv: DataView, l4: number, off: number, value: number): void {
  const old = dv.getInt32(l4 + off);
  dv.setInt32(l4 + off, value);
  dv.setUint16(l4 + TCP_CSUM, csumUpdate32(dv.getUint16(l4 + TCP_CSUM), old, value));
}

/** Client → real TCP work before the rewrite. Returns whether the segment changed shape (`full`). */
function tcpIn(ctx: FwdContext, pk: Pkt, c: number): boolean {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const conns = ctx.conns;
  const f64 = ctx.f64;
  const l4 = pk.l4;
  const flags = pk.tcpFlags;
  const cip = conns.cip[c]!;
  const mode = cip & CIP_MODE;
  let full = false;
  if ((flags & TCP_SYN) !== 0) {
    if ((flags & TCP_ACKF) === 0) {
      if (stripTimestamps(u8, l4)) {
        full = true;
        f64[C.tcp_ts_stripped]!++;
      }
      if (mode >= CIP_PP1) {
        conns.mark[c] = (dv.getInt32(l4 + TCP_SEQ) + 1) | 0;
        conns.seqd[c] = proxyHeaderLen(mode, conns.caddr[c]!, conns.cport[c]!, conns.vaddr[c]!, conns.vport[c]!);
        conns.cip[c] = mode | CIP_PENDING;
      }
    }
    return full;
  }
  const d = conns.seqd[c]!;
  if ((cip & CIP_PENDING) !== 0 && dv.getInt32(l4 + TCP_SEQ) === conns.mark[c] && (flags & TCP_RST) === 0) {
    if (!insertProxyTcp(ctx, pk, mode, d, conns.caddr[c]!, conns.cport[c]!, conns.vaddr[c]!, conns.vport[c]!)) {
      f64[C.proxy_data_deferred]!++;
    }
    f64[C.proxy_inserted]!++;
    full = true;
  } else if (d !== 0) {
    setSeqField(dv, l4, TCP_SEQ, (dv.getInt32(l4 + TCP_SEQ) + d) | 0);
  }
  if (mode === CIP_TOA && (cip & CIP_MARK) !== 0 && (flags & (TCP_ACKF | TCP_RST)) === TCP_ACKF &&
      dv.getInt32(l4 + TCP_ACK) === conns.mark[c]) {
    if (insertToa(ctx, pk, conns.caddr[c]!, conns.cport[c]!)) {
      f64[C.toa_inserted]!++;
      full = true;
    } else {
      f64[C.toa_no_room]!++;
    }
  }
  return full;
}

/** Real → client TCP work before the rewrite. Returns whether the segment changed shape (`full`). */
function tcpOut(ctx: FwdContext, pk: Pkt, c: number): boolean {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const conns = ctx.conns;
  const l4 = pk.l4;
  const flags = pk.tcpFlags;
  const cip = conns.cip[c]!;
  const mode = cip & CIP_MODE;
  const d = conns.seqd[c]!;
  let full = false;
  if ((flags & (TCP_SYN | TCP_ACKF)) === (TCP_SYN | TCP_ACKF)) {
    if (mode === CIP_TOA) {
      conns.mark[c] = (dv.getInt32(l4 + TCP_SEQ) + 1) | 0;
      conns.cip[c] = cip | CIP_MARK;
    }
    const grow = mode === CIP_TOA ? TOA_LEN : d;
    if (clampMss(dv, u8, l4, ctx.link.mtu - TCP_IP_HLEN - grow)) {
      ctx.f64[C.mss_clamped]!++;
      full = true;
    }
  }
  if (d !== 0 && (flags & TCP_ACKF) !== 0) {
    const m = conns.mark[c]!;
    const ack = dv.getInt32(l4 + TCP_ACK);
    // The real has the whole header once it acknowledges past it: stop sending it.
    if ((cip & CIP_PENDING) !== 0 && ((ack - m) | 0) >= d) conns.cip[c] = conns.cip[c]! & ~CIP_PENDING;
    const back = toClientSeq(ack, m, d);
    if (back !== ack) setSeqField(dv, l4, TCP_ACK, back);
    if (((u8[l4 + TCP_OFF]! >> 4) << 2) > TCP_HLEN && mapSack(dv, u8, l4, m, d)) full = true;
  }
  return full;
}

export const fullnat: Forwarder = {
  gso: false,
  inbound(ctx: FwdContext, pk: Pkt, c: number): boolean {
    const conns = ctx.conns;
    let full = false;
    if (pk.proto === PROTO_TCP) {
      full = tcpIn(ctx, pk, c);
    } else if ((conns.cip[c]! & CIP_MODE) === CIP_PP2) {
      if (!insertProxyUdp(ctx, pk, conns.caddr[c]!, conns.cport[c]!, conns.vaddr[c]!, conns.vport[c]!)) {
        ctx.f64[D.proxy_no_room]!++;
        return false;
      }
      ctx.f64[C.proxy_inserted]!++;
      full = true;
    }
    const real = conns.daddr[c]!;
    rewrite(ctx, pk, full, conns.laddr[c]!, conns.lport[c]!, real, conns.dport[c]!);
    return ctx.link.output(pk.base, pk.len, real);
  },
  outbound(ctx: FwdContext, pk: Pkt, c: number): boolean {
    const conns = ctx.conns;
    const full = pk.proto === PROTO_TCP ? tcpOut(ctx, pk, c) : false;
    const client = conns.caddr[c]!;
    rewrite(ctx, pk, full, conns.vaddr[c]!, conns.vport[c]!, client, conns.cport[c]!);
    return ctx.link.output(pk.base, pk.len, client);
  },
};
