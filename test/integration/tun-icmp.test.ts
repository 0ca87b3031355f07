/**
 * ICMP errors from the network about TUN's outer IPIP packets (a router between director and real): matched
 * by the client's packet inside, and told to the client as IPVS does (frag-needed with MTU − 20 when the
 * client set DF; other errors re-originated with the same type and code).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt, parseFrame, verifyChecksums } from '../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, R1, R1_MAC, VIP, answerArp, bed, ok, svcKey, type Bed } from '../helpers/inline-bed.js';

const ROUTER = '198.18.1.254';

describe.each([{ exchange: false }, { exchange: true }])('ICMP errors about TUN outer packets (exchange: $exchange)', ({ exchange }) => {
  let b: Bed;
  let outer: Uint8Array;
  beforeEach(async () => {
    b = await bed({ exchange });
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, method: 'tun' } });
    answerArp(b);
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, df: true }).tcp({ sport: 7000, dport: 80, flags: 'S', seq: 42 }).build());
    b.w.pump();
    const [f] = answerArp(b);
    const p = parseFrame(f!);
    expect(p.ip).toMatchObject({ protocol: 4, dst: R1 });
    outer = f!.slice(14); // the IPIP packet as the router saw it
  });

  const error = (type: number, code: number, mtu?: number) =>
    pkt().eth({ src: R1_MAC, dst: DIR_MAC }).ipv4({ src: ROUTER, dst: '198.18.1.1' }).icmp({ type, code, mtu, quote: outer.slice(0, 20 + 20 + 8) }).build();

  it('tells the client frag-needed with the path MTU less the outer header, about its own packet', () => {
    b.io.inject(error(3, 4, 1400));
    b.w.pump();
    const out = answerArp(b);
    expect(out).toHaveLength(1);
    const p = parseFrame(out[0]!);
    expect(verifyChecksums(out[0]!)).toEqual({ ip: true, l4: true });
    expect(p.eth!.dst).toBe(CLIENT_MAC);
    expect(p.ip).toMatchObject({ src: VIP, dst: CIP, protocol: 1 });
    expect(p.icmp).toMatchObject({ type: 3, code: 4, seq: 1380 });
    expect(p.icmp!.quote!.ip).toMatchObject({ src: CIP, dst: VIP });
    expect(p.icmp!.quote).toMatchObject({ sport: 7000, dport: 80 });
  });

  it('re-originates other errors (host unreachable) with the same type and code', () => {
    b.io.inject(error(3, 1));
    b.w.pump();
    const [f] = answerArp(b);
    expect(parseFrame(f!).icmp).toMatchObject({ type: 3, code: 1 });
    expect(parseFrame(f!).ip).toMatchObject({ src: VIP, dst: CIP });
  });

  it('turns the error into the client\'s message in place; over the rate limit it is a counted drop (fuzz finding)', () => {
    // Before: the message was built in an extra slot and the received frame vanished uncounted (and uncounted
    // again when the rate limit refused the message).
    // The client is known (it asked for the VIP's MAC), so nothing waits for ARP.
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 'request', sha: CLIENT_MAC, spa: CIP, tpa: VIP }).build());
    b.w.pump();
    b.io.take();
    for (let i = 0; i < 60; i++) b.io.inject(error(3, 1));
    b.w.pump();
    const out = answerArp(b);
    const st = b.control.status();
    expect(out).toHaveLength(50); // Linux's burst of 50, then 1 per ms: the clock stands still here
    expect(st.drops.icmp_not_sent).toBe(10);
    expect(st.workers[0]!.counters.icmp_translated).toBe(50);
    expect(Object.values(st.drops).reduce((a, x) => a + x, 0)).toBe(10);
  });

  it('ignores (and counts) errors that quote no known TUN conn', () => {
    outer[20 + 20 + 1] ^= 1; // another client port inside
    b.io.inject(error(3, 4, 1400));
    b.w.pump();
    expect(answerArp(b)).toEqual([]);
    expect(b.control.status().drops.icmp_unhandled).toBe(1);
  });
});
