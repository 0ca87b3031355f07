/**
 * ICMP errors about connections (ipvs-semantics.md §4.7; IPVS ip_vs_in_icmp / ip_vs_out_icmp). Design note:
 *
 * Only destination unreachable (frag-needed included), source quench and time exceeded relate to a conn, as in
 * IPVS. The error quotes the packet that caused it: its IPv4 header (no options; a non-first fragment cannot
 * be matched) and at least 8 bytes of TCP/UDP. Its addresses run opposite to the flow the error travels in,
 * and both of our indexes match a quote exactly as it stands:
 *   - from the real's side (a real's port unreachable, a router between director and real): the quote is a
 *     packet the director sent to the real, (laddr:lport → RIP:rport) — the outbound key (RIP, rport, laddr,
 *     lport), where laddr:lport is the client for NAT and the local address for FULLNAT. Translated like a
 *     reply: outer source → VIP, outer destination → client; quoted source → client, quoted destination →
 *     VIP; for FULLNAT a shifted quoted TCP sequence number goes back to the client's. Sent to the client.
 *   - from the client's side (arriving at the VIP, e.g. frag-needed for a reply): the quote is a reply the
 *     client got, (VIP:vport → CIP:cport) — the inbound key read backwards. NAT/FULLNAT: outer destination →
 *     RIP (FULLNAT: outer source → LIP), quoted source → RIP:rport (FULLNAT: quoted destination → LIP:lport);
 *     sent to the real. DR/TUN: forwarded unchanged with the conn's own forwarder (MAC rewrite or IPIP), so the
 *     real that owns the flow — the host that must lower its path MTU — gets it.
 * After a rewrite: the quoted IP header checksum is recomputed, the quoted TCP/UDP checksum updated
 * incrementally when the quote holds it (receivers ignore it, but it stays consistent), the ICMP checksum
 * recomputed over the whole message, outer TTL − 1 and its header checksum recomputed. Counted in the conn's
 * service and real stats (IPVS counts forwarded ICMP too). Anything else counts `icmp_unhandled`.
 */
import { csumPartial, csumUpdate16, csumUpdate32 } from '../packet/checksum.js';
import {
  ICMP_CSUM, ICMP_HLEN, IP_CSUM, IP_DST, IP_HLEN, IP_OFFMASK, IP_SRC, IP_TTL, PROTO_TCP, PROTO_UDP, TCP_CSUM, TCP_SEQ,
  UDP_CSUM,
  PROTO_IPIP, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, IP_FLAG_DF,
} from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import { FwdCode } from '../types.js';
import { CF_TEMPLATE, NIL } from '../worker/conn-table.js';
import { C, D, REAL_BASE, SF_INBYTES, SF_INPKTS, SF_OUTBYTES, SF_OUTPKTS, STAT_FIELDS, SVC_BASE } from '../worker/stats.js';
import { toClientSeq } from './client-ip.js';
import { sendIcmpAbout } from './icmp-send.js';
import { FORWARDERS, type FwdContext } from './index.js';

/** Quoted bytes needed after the quoted IP header: the ports (RFC 792 guarantees 8). */
const QUOTE_MIN = IP_HLEN + 8;

/** Header checksum of the 20-byte IPv4 header at `o`, recomputed. */
function ipChecksum(u8: Uint8Array, dv: DataView, o: number): void {
  dv.setUint16(o + IP_CSUM, 0);
  dv.setUint16(o + IP_CSUM, ~csumPartial(u8, o, IP_HLEN, 0) & 0xffff);
}

/**
 * Rewrites the quoted packet at `q` (`qlen` bytes quoted) to (src:sport → dst:dport), optionally with a new TCP
 * sequence number (`seq`, used when `setSeq`), and fixes its IP checksum and, when quoted, its L4 checksum.
 */
function rewriteQuote(
  u8: Uint8Array, dv: DataView, q: number, qlen: number, src: number, sport: number, dst: number, dport: number,
  setSeq: boolean, seq: number,
): void {
  const proto = u8[q + 9]!;
  const t = q + IP_HLEN;
  const oldSrc = dv.getInt32(q + IP_SRC);
  const oldDst = dv.getInt32(q + IP_DST);
  const oldSport = dv.getUint16(t);
  const oldDport = dv.getUint16(t + 2);
  dv.setInt32(q + IP_SRC, src);
  dv.setInt32(q + IP_DST, dst);
  ipChecksum(u8, dv, q);
  dv.setUint16(t, sport);
  dv.setUint16(t + 2, dport);
  const oldSeq = dv.getInt32(t + TCP_SEQ);
  if (setSeq) dv.setInt32(t + TCP_SEQ, seq);
  const csumAt = proto === PROTO_TCP ? TCP_CSUM : UDP_CSUM;
  if (qlen < IP_HLEN + csumAt + 2) return; // the quote stops before the checksum
  let ck = dv.getUint16(t + csumAt);
  if (proto === PROTO_UDP && ck === 0) return;
  ck = csumUpdate32(ck, oldSrc, src);
  ck = csumUpdate32(ck, oldDst, dst);
  ck = csumUpdate16(ck, oldSport, sport);
  ck = csumUpdate16(ck, oldDport, dport);
  if (setSeq) ck = csumUpdate32(ck, oldSeq, seq);
  if (proto === PROTO_UDP && ck === 0) ck = 0xffff;
  dv.setUint16(t + csumAt, ck);
}

/** Outer header: new source and destination, TTL − 1, checksums of the ICMP message and the IP header. */
function finish(ctx: FwdContext, pk: Pkt, src: number, dst: number): void {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const l3 = pk.l3;
  dv.setUint16(pk.l4 + ICMP_CSUM, 0);
  dv.setUint16(pk.l4 + ICMP_CSUM, ~csumPartial(u8, pk.l4, pk.l4len, 0) & 0xffff);
  u8[l3 + IP_TTL] = u8[l3 + IP_TTL]! - 1;
  dv.setInt32(l3 + IP_SRC, src);
  dv.setInt32(l3 + IP_DST, dst);
  ipChecksum(u8, dv, l3);
}

function count(ctx: FwdContext, c: number, pk: Pkt, out: boolean): void {
  const f64 = ctx.f64;
  const sb = SVC_BASE + ctx.conns.svc[c]! * STAT_FIELDS;
  const rb = REAL_BASE + ctx.conns.real[c]! * STAT_FIELDS;
  const pkts = out ? SF_OUTPKTS : SF_INPKTS;
  const bytes = out ? SF_OUTBYTES : SF_INBYTES;
  f64[sb + pkts]!++;
  f64[sb + bytes]! += pk.ipLen;
  f64[rb + pkts]!++;
  f64[rb + bytes]! += pk.ipLen;
}

/**
 * Handles an ICMP error (the caller checked the type with isRelatedIcmp and the ICMP checksum was verified by
 * the parser). Returns true when it was forwarded; every other outcome counts one drop reason.
 */
export function icmpError(ctx: FwdContext, pk: Pkt): boolean {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const conns = ctx.conns;
  const f64 = ctx.f64;
  const q = pk.l4 + ICMP_HLEN;
  const qlen = pk.l4len - ICMP_HLEN;
  if (qlen < QUOTE_MIN) {
    f64[D.icmp_unhandled]!++;
    return false;
  }
  const proto = u8[q + 9]!;
  if (proto === PROTO_IPIP) return tunnelError(ctx, pk, q, qlen);
  if (u8[q] !== 0x45 || (dv.getUint16(q + 6) & IP_OFFMASK) !== 0 ||
      (proto !== PROTO_TCP && proto !== PROTO_UDP)) {
    f64[D.icmp_unhandled]!++;
    return false;
  }
  const qs = dv.getInt32(q + IP_SRC);
  const qd = dv.getInt32(q + IP_DST);
  const qsp = dv.getUint16(q + IP_HLEN);
  const qdp = dv.getUint16(q + IP_HLEN + 2);
  // From the real's side: a packet we sent to the real.
  let c = conns.lookupOut(proto, qd, qdp, qs, qsp);
  if (c !== NIL && (conns.flags[c]! & CF_TEMPLATE) === 0 &&
      (conns.fwd[c] === FwdCode.NAT || conns.fwd[c] === FwdCode.FULLNAT)) {
    if (pk.ttl <= 1) {
      f64[D.ipv4_ttl_expired]!++;
      return false;
    }
    count(ctx, c, pk, true);
    const client = conns.caddr[c]!;
    const d = conns.seqd[c]!;
    const shifted = proto === PROTO_TCP && d !== 0 && qlen >= IP_HLEN + 8;
    rewriteQuote(
      u8, dv, q, qlen, client, conns.cport[c]!, conns.vaddr[c]!, conns.vport[c]!, shifted,
      shifted ? toClientSeq(dv.getInt32(q + IP_HLEN + TCP_SEQ), conns.mark[c]!, d) : 0,
    );
    finish(ctx, pk, conns.vaddr[c]!, client);
    f64[C.icmp_translated]!++;
    return ctx.link.output(pk.base, pk.len, client);
  }
  // From the client's side: a reply the client got (VIP:vport → CIP:cport), the inbound key backwards.
  c = conns.lookupIn(proto, qd, qdp, qs, qsp);
  if (c === NIL || (conns.flags[c]! & CF_TEMPLATE) !== 0) {
    f64[D.icmp_unhandled]!++;
    return false;
  }
  if (pk.ttl <= 1) {
    f64[D.ipv4_ttl_expired]!++;
    return false;
  }
  count(ctx, c, pk, false);
  const fwd = conns.fwd[c]!;
  if (fwd !== FwdCode.NAT && fwd !== FwdCode.FULLNAT) {
    f64[C.icmp_forwarded]!++;
    return FORWARDERS[fwd]!.inbound(ctx, pk, c);
  }
  const real = conns.daddr[c]!;
  const rport = conns.dport[c]!;
  if (fwd === FwdCode.NAT) {
    rewriteQuote(u8, dv, q, qlen, real, rport, qd, qdp, false, 0);
    finish(ctx, pk, dv.getInt32(pk.l3 + IP_SRC), real);
  } else {
    const laddr = conns.laddr[c]!;
    rewriteQuote(u8, dv, q, qlen, real, rport, laddr, conns.lport[c]!, false, 0);
    finish(ctx, pk, laddr, real);
  }
  f64[C.icmp_translated]!++;
  return ctx.link.output(pk.base, pk.len, real);
}

/**
 * An error from the network about an IPIP packet we sent to a TUN real (the quote is our outer header and the
 * client's packet inside it). IPVS finds the conn by the inner packet and tells the client: frag-needed with
 * the path MTU less the 20-byte outer header (when the client set DF and the result is above 88), any other
 * related error re-originated with the same type and code. The client then lowers its path MTU (or gives up)
 * for the VIP, which is what it needs: the director never fragments on its behalf.
 */
function tunnelError(ctx: FwdContext, pk: Pkt, q: number, qlen: number): boolean {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const f64 = ctx.f64;
  const inner = q + IP_HLEN;
  const innerQuote = qlen - IP_HLEN;
  const proto = u8[inner + 9]!;
  if (u8[q] !== 0x45 || innerQuote < QUOTE_MIN || u8[inner] !== 0x45 || (proto !== PROTO_TCP && proto !== PROTO_UDP)) {
    f64[D.icmp_unhandled]!++;
    return false;
  }
  const client = dv.getInt32(inner + IP_SRC);
  const vip = dv.getInt32(inner + IP_DST);
  const c = ctx.conns.lookupIn(proto, client, dv.getUint16(inner + IP_HLEN), vip, dv.getUint16(inner + IP_HLEN + 2));
  if (c === NIL || ctx.conns.fwd[c] !== FwdCode.TUN) {
    f64[D.icmp_unhandled]!++;
    return false;
  }
  const type = u8[pk.l4]!;
  const code = u8[pk.l4 + 1]!;
  let info = 0;
  if (type === ICMP_DEST_UNREACH && code === ICMP_FRAG_NEEDED) {
    const mtu = dv.getUint16(pk.l4 + 6) - IP_HLEN;
    if ((dv.getUint16(inner + 6) & IP_FLAG_DF) === 0 || mtu <= 88) {
      f64[D.icmp_unhandled]!++;
      return false;
    }
    info = mtu;
  }
  // The received error becomes the client's message in place (the quote moves up over the outer header): a
  // frame is forwarded or counted as dropped, never just consumed.
  if (!sendIcmpAbout(ctx, inner, QUOTE_MIN, client, vip, type, code, info, pk.base)) {
    f64[D.icmp_not_sent]!++;
    return false;
  }
  count(ctx, c, pk, true);
  f64[C.icmp_translated]!++;
  return true;
}
