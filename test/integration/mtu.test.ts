/**
 * Packets longer than the segment MTU (a fuzz finding: NAT, DR and FULLNAT forwarded them unchanged, so the next
 * hop got a frame it must drop). They are dropped and counted (`ipv4_too_big`); with DF the sender hears ICMP
 * frag-needed with the MTU, as from a router: from the VIP it talked to, or from the director's address on the
 * sender's prefix for a packet routed through (a NAT reply).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt, parseFrame, verifyChecksums } from '../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, R1, R1_MAC, VIP, answerArp, natBed, syn, type Bed } from '../helpers/inline-bed.js';

describe('packets over the MTU', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await natBed();
  });

  const big = (df: boolean, size: number) =>
    pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, df }).tcp({ sport: 40000, dport: 80, flags: 'PA', seq: 1001 }).payload(size).build();

  it('forwards a packet of exactly the MTU and drops one byte more, answering DF with frag-needed', () => {
    b.io.inject(syn(40000));
    b.w.pump();
    answerArp(b);
    b.io.inject(big(true, 1500 - 40), big(true, 1501 - 40), big(false, 1501 - 40));
    b.w.pump();
    const out = answerArp(b).map((f) => parseFrame(f));
    expect(out).toHaveLength(2);
    expect(out[0]!.ip).toMatchObject({ dst: R1, totalLength: 1500 });
    const icmp = out[1]!;
    expect(icmp.ip).toMatchObject({ src: VIP, dst: CIP, protocol: 1 });
    expect(icmp.icmp).toMatchObject({ type: 3, code: 4, seq: 1500 });
    expect(icmp.icmp!.quote!.ip).toMatchObject({ src: CIP, dst: VIP, totalLength: 1501 });
    const st = b.control.status();
    expect(st.drops.ipv4_too_big).toBe(2);
    expect(st.workers[0]!.counters.icmp_frag_needed_sent).toBe(1);
  });

  it('answers a real\'s oversized DF reply from the director\'s address on the real\'s prefix', () => {
    b.io.inject(syn(40000));
    b.w.pump();
    answerArp(b);
    b.io.inject(pkt().eth({ src: R1_MAC, dst: DIR_MAC }).ipv4({ src: R1, dst: CIP, df: true }).tcp({ sport: 8080, dport: 40000, flags: 'PA' }).payload(1600).build());
    b.w.pump();
    const [f] = answerArp(b);
    expect(verifyChecksums(f!)).toEqual({ ip: true, l4: true });
    expect(parseFrame(f!).ip).toMatchObject({ src: '198.18.1.1', dst: R1 });
    expect(parseFrame(f!).icmp).toMatchObject({ type: 3, code: 4, seq: 1500 });
    expect(b.control.status().drops.ipv4_too_big).toBe(1);
  });
});
