/**
 * DR ("Route", -g), IPVS ip_vs_dr_xmit: the frame goes to the real's MAC with the IP packet unchanged except
 * TTL−1 and the IPv4 header checksum (RFC 1624 incremental update); L4 is not touched, so the real must accept
 * the VIP as a local address (VIP on lo with ARP suppressed) and it answers the client directly.
 *
 * The real must be on a connected prefix (IPVS's KNOWN_NH: the real itself is the next hop). A DR real behind
 * the gateway is dropped and counted (`dr_real_not_on_link`): the gateway would route the VIP straight back
 * to the director, a loop until the TTL runs out.
 *
 * No MTU check: the director has one segment, the frame leaves on the segment it arrived on with the same
 * length, so it fits. (IPVS checks the route MTU because its real may sit behind a smaller link.)
 *
 * Replies never pass the director in DR. If one does (a real routing through the director host), the
 * outbound path forwards it unchanged as a router would (TTL−1) — what the kernel does for a non-NAT conn.
 */
import { csumUpdate16 } from '../packet/checksum.js';
import { IP_CSUM, IP_TTL } from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import { D } from '../worker/stats.js';
import type { Forwarder, FwdContext } from './index.js';

/** TTL−1 with the incremental header checksum update, on the IPv4 header at l3. The caller checked TTL > 1. */
export function decrementTtl(dv: DataView, l3: number): void {
  const ttlWord = dv.getUint16(l3 + IP_TTL);
  const next = ttlWord - 0x100;
  dv.setUint16(l3 + IP_TTL, next);
  dv.setUint16(l3 + IP_CSUM, csumUpdate16(dv.getUint16(l3 + IP_CSUM), ttlWord, next));
}

export const dr: Forwarder = {
  gso: true,
  inbound(ctx: FwdContext, pk: Pkt, c: number): boolean {
    const real = ctx.conns.daddr[c]!;
    if (ctx.link.nextHop(real) !== real) {
      ctx.f64[D.dr_real_not_on_link]!++;
      return false;
    }
    decrementTtl(ctx.dv, pk.l3);
    return ctx.link.output(pk.base, pk.len, real);
  },
  outbound(ctx: FwdContext, pk: Pkt, _c: number): boolean {
    decrementTtl(ctx.dv, pk.l3);
    return ctx.link.output(pk.base, pk.len, pk.daddr);
  },
};
