/**
 * A TCP RST in answer to a client's segment, from the address and port it was sent to (the VIP), built in an
 * extra slot (the received frame is not forwarded: the caller counts it dropped; the RST is a frame of its own,
 * so a RST that cannot leave — its neighbour's hold queue full — never counts against the received frame). Used when a drain's deadline chose `reset`: the conn's real
 * is gone and the client should learn it at once rather than retransmit into a black hole; and for a segment to
 * an owned address with no conn (`tcp_no_conn`) or no service (`no_service`), which under kernel IPVS goes up the
 * director's own stack and gets exactly this answer (a client whose conn is gone — worker restart,
 * expire_nodest_conn, SYN flood eviction — fails at once). Never to a source that is not a single remote host
 * (0.0.0.0, loopback, multicast/broadcast, our own addresses), as the kernel drops such martians first.
 *
 * Sequence numbers follow RFC 793's reset generation for a segment that belongs to no connection, which the
 * client accepts without knowing our state: with ACK set, SEQ = SEG.ACK (exactly the client's RCV.NXT, so RFC
 * 5961's exact-match rule accepts it); without ACK, SEQ = 0 and ACK = SEG.SEQ + SEG.LEN. Never in answer to a RST.
 */
import { csumPartial, pseudoHeaderSum } from '../packet/checksum.js';
import {
  ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, IP_HLEN, PROTO_TCP, TCP_ACKF, TCP_FIN, TCP_HLEN, TCP_RST, TCP_SYN,
} from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import type { FwdContext } from './index.js';

const RST_TTL = 64;

/** Answers the client segment `pk` with a RST to the client. Returns true when it was queued. */
export function sendTcpReset(ctx: FwdContext, pk: Pkt): boolean {
  const u8 = ctx.u8;
  const dv = ctx.dv;
  const flags = pk.tcpFlags;
  const client = pk.saddr;
  const top = client >>> 24;
  if (flags & TCP_RST || client === 0 || top === 127 || top >= 224 || ctx.link.owns(client)) return false;
  const b = ctx.link.scratch();
  if (b < 0) return false;
  const l4 = pk.l4;
  const segLen = pk.l4len - ((u8[l4 + 12]! >> 4) << 2) + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
  const segSeq = dv.getUint32(l4 + 4);
  const segAck = dv.getUint32(l4 + 8);
  dv.setUint16(b + ETH_TYPE, ETHERTYPE_IPV4);
  const l3 = b + ETH_HLEN;
  // IPv4 header: VIP → client, no options.
  u8[l3] = 0x45;
  u8[l3 + 1] = 0;
  dv.setUint16(l3 + 2, IP_HLEN + TCP_HLEN);
  dv.setUint16(l3 + 4, ctx.link.nextIpId());
  dv.setUint16(l3 + 6, 0x4000);
  u8[l3 + 8] = RST_TTL;
  u8[l3 + 9] = PROTO_TCP;
  dv.setUint16(l3 + 10, 0);
  dv.setInt32(l3 + 12, pk.daddr);
  dv.setInt32(l3 + 16, client);
  dv.setUint16(l3 + 10, ~csumPartial(u8, l3, IP_HLEN, 0) & 0xffff);
  // TCP header: ports swapped, RST (+ACK), no options, no window.
  const t = l3 + IP_HLEN;
  dv.setUint16(t, pk.dport);
  dv.setUint16(t + 2, pk.sport);
  if (flags & TCP_ACKF) {
    dv.setUint32(t + 4, segAck);
    dv.setUint32(t + 8, 0);
    u8[t + 13] = TCP_RST;
  } else {
    dv.setUint32(t + 4, 0);
    dv.setUint32(t + 8, (segSeq + segLen) >>> 0);
    u8[t + 13] = TCP_RST | TCP_ACKF;
  }
  u8[t + 12] = (TCP_HLEN >> 2) << 4;
  dv.setUint32(t + 14, 0); // window and checksum
  dv.setUint16(t + 18, 0);
  dv.setUint16(t + 16, ~csumPartial(u8, t, TCP_HLEN, pseudoHeaderSum(pk.daddr, client, PROTO_TCP, TCP_HLEN)) & 0xffff);
  return ctx.link.output(b, ETH_HLEN + IP_HLEN + TCP_HLEN, client);
}
