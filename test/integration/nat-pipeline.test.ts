/**
 * Control thread + one worker over the in-memory PacketIO: configuration through Control.handle (the same
 * path as the socket), frames in, frames out, counters and listings checked. No root, no TAP.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt, parseFrame, verifyChecksums } from '../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, MACS, R1, R1_MAC, R2, VIP, answerArp, bed, ok, svcKey, syn, type Bed } from '../helpers/inline-bed.js';


describe.each([{ exchange: false }, { exchange: true }])('NAT pipeline over the in-memory PacketIO (exchange: $exchange)', ({ exchange }) => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed({ exchange });
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, rport: 8080, method: 'nat', weight: 1 } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R2, rport: 8080, method: 'nat', weight: 1 } });
    answerArp(b); // the worker resolves the reals as soon as the snapshot arrives
  });

  it('answers ARP for the VIP and for director addresses with the director MAC', () => {
    for (const ip of [VIP, '198.18.1.1']) {
      b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 'request', sha: CLIENT_MAC, spa: CIP, tpa: ip }).build());
    }
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 'request', sha: CLIENT_MAC, spa: CIP, tpa: '198.18.0.77' }).build());
    b.w.pump();
    const out = b.io.take().map((f) => parseFrame(f));
    expect(out.map((p) => [p.eth!.dst, p.arp!.op, p.arp!.sha, p.arp!.spa, p.arp!.tha, p.arp!.tpa])).toEqual([
      [CLIENT_MAC, 2, DIR_MAC, VIP, CLIENT_MAC, CIP],
      [CLIENT_MAC, 2, DIR_MAC, '198.18.1.1', CLIENT_MAC, CIP],
    ]);
    expect(b.control.status().drops.arp_not_for_us).toBe(1);
  });

  it('DNATs a SYN to a real, SNATs the reply to the VIP, and counts both ways', async () => {
    b.io.inject(syn(40000));
    b.w.pump();
    const [fwd] = answerArp(b);
    expect(fwd).toBeDefined();
    const p = parseFrame(fwd!);
    expect(verifyChecksums(fwd!)).toEqual({ ip: true, l4: true });
    const real = p.ip!.dst;
    expect([R1, R2]).toContain(real);
    expect(p.eth).toMatchObject({ dst: MACS[real], src: DIR_MAC });
    expect(p.ip).toMatchObject({ src: CIP, ttl: 63 });
    expect(p.tcp).toMatchObject({ sport: 40000, dport: 8080, flags: 'S', seq: 1000 });

    // The real answers the client through the director (its default gateway).
    b.io.inject(pkt().eth({ src: MACS[real], dst: DIR_MAC }).ipv4({ src: real, dst: CIP }).tcp({ sport: 8080, dport: 40000, flags: 'SA', seq: 5000, ack: 1001 }).payload('').build());
    b.w.pump();
    const [back] = answerArp(b);
    const q = parseFrame(back!);
    expect(verifyChecksums(back!)).toEqual({ ip: true, l4: true });
    expect(q.eth).toMatchObject({ dst: CLIENT_MAC, src: DIR_MAC });
    expect(q.ip).toMatchObject({ src: VIP, dst: CIP, ttl: 63 });
    expect(q.tcp).toMatchObject({ sport: 80, dport: 40000, flags: 'SA', ack: 1001 });

    const list = b.control.list();
    const svc = list.services[0]!;
    expect(svc.stats).toMatchObject({ conns: 1, inpkts: 1, outpkts: 1, inbytes: 40, outbytes: 40 });
    const r = svc.reals.find((x) => x.rip === real)!;
    expect(r).toMatchObject({ active: 1, inactive: 0 });
    expect(r.stats).toMatchObject({ conns: 1, inpkts: 1, outpkts: 1 });
  });

  it('round-robins new connections over both reals and keeps packets of a connection on its real', () => {
    for (let i = 0; i < 10; i++) b.io.inject(syn(41000 + i));
    b.w.pump();
    const first = answerArp(b).map((f) => parseFrame(f).ip!.dst);
    expect(first.filter((d) => d === R1).length).toBe(5);
    expect(first.filter((d) => d === R2).length).toBe(5);
    // A retransmitted SYN and an ACK of each connection go to the same real.
    for (let i = 0; i < 10; i++) b.io.inject(syn(41000 + i, 'A'));
    b.w.pump();
    const again = b.io.take().map((f) => parseFrame(f).ip!.dst);
    expect(again).toEqual(first);
  });

  it('maps UDP both ways and leaves a zero UDP checksum at zero', async () => {
    const usvc = { proto: 'udp', vip: VIP, vport: 53 };
    await ok(b.control, { op: 'add-service', service: { ...usvc, scheduler: 'wlc' } });
    await ok(b.control, { op: 'add-real', service: usvc, real: { rip: R1, method: 'nat' } });
    answerArp(b);
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).udp({ sport: 5353, dport: 53 }).payload('query').build());
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).udp({ sport: 5354, dport: 53, checksum: 'zero' }).payload('query').build());
    b.w.pump();
    const out = answerArp(b).map((f) => ({ f, p: parseFrame(f) }));
    expect(out.map((o) => [o.p.ip!.dst, o.p.udp!.dport])).toEqual([[R1, 53], [R1, 53]]);
    expect(verifyChecksums(out[0]!.f)).toEqual({ ip: true, l4: true });
    expect(out[1]!.p.udp!.checksum).toBe(0);
    const svc = b.control.list({ proto: 'udp', vip: VIP, vport: 53 } as never).services[0]!;
    expect(svc.reals[0]).toMatchObject({ active: 0, inactive: 2 }); // UDP conns never become active (IPVS)
  });

  it('expires connections after the state timeout with an injected clock', () => {
    b.io.inject(syn(42000));
    b.w.pump();
    answerArp(b);
    expect(b.w.dp.conns.count).toBe(1);
    b.clock.t += 59_000; // SYN_RECV timeout is 60 s
    b.w.dp.tick();
    expect(b.w.dp.conns.count).toBe(1);
    b.clock.t += 2_000;
    b.w.dp.tick();
    expect(b.w.dp.conns.count).toBe(0);
    const svc = b.control.list().services[0]!;
    expect(svc.reals.reduce((s, r) => s + r.active + r.inactive, 0)).toBe(0);
  });

  it('gives weight 0 reals no new connections (quiescent) but keeps existing ones', async () => {
    b.io.inject(syn(43000));
    b.w.pump();
    const [f] = answerArp(b);
    const real = parseFrame(f!).ip!.dst;
    const other = real === R1 ? R2 : R1;
    await ok(b.control, { op: 'edit-real', service: svcKey, real: { rip: real, rport: 8080, weight: 0 } });
    b.io.inject(syn(43000, 'A'));
    for (let i = 1; i <= 4; i++) b.io.inject(syn(43000 + i));
    b.w.pump();
    const dsts = b.io.take().map((x) => parseFrame(x).ip!.dst);
    expect(dsts).toEqual([real, other, other, other, other]);
  });

  it('drops and counts what it must not forward', () => {
    const C = { src: CLIENT_MAC, dst: DIR_MAC };
    const cases: [string, Uint8Array][] = [
      ['rx_truncated', new Uint8Array(10)],
      ['eth_not_for_us', pkt().eth({ src: CLIENT_MAC, dst: '02:99:99:99:99:99' }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'S' }).build()],
      ['eth_unknown_type', pkt().eth({ ...C, type: 0x86dd }).payload(40).build()],
      ['eth_vlan', pkt().eth(C).vlan(5).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'S' }).build()],
      ['ipv4_bad_checksum', pkt().eth(C).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'S' }).badIpChecksum().build()],
      ['ipv4_bad_header', pkt().eth(C).ipv4({ src: CIP, dst: VIP, totalLength: 4000 }).tcp({ sport: 1, dport: 80, flags: 'S' }).build()],
      ['ipv4_options', pkt().eth(C).ipv4({ src: CIP, dst: VIP, options: Uint8Array.of(1, 1, 1, 0) }).tcp({ sport: 1, dport: 80, flags: 'S' }).build()],
      ['ipv4_fragment', pkt().eth(C).ipv4({ src: CIP, dst: VIP, fragOffset: 10 }).payload(16).build()],
      ['ipv4_fragment', pkt().eth(C).ipv4({ src: CIP, dst: VIP, mf: true }).tcp({ sport: 2, dport: 80, flags: 'S' }).build()],
      ['l4_bad_checksum', pkt().eth(C).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'S' }).badL4Checksum().build()],
      ['l4_truncated', pkt().eth(C).ipv4({ src: CIP, dst: VIP, protocol: 6 }).payload(10).build()],
      ['l4_unsupported', pkt().eth(C).ipv4({ src: CIP, dst: VIP, protocol: 47 }).payload(10).build()],
      ['no_service', pkt().eth(C).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 81, flags: 'S' }).build()],
      ['tcp_no_conn', pkt().eth(C).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'A' }).build()],
      ['tcp_no_conn', pkt().eth(C).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 1, dport: 80, flags: 'SR' }).build()],
      ['ipv4_ttl_expired', pkt().eth(C).ipv4({ src: CIP, dst: VIP, ttl: 1 }).tcp({ sport: 3, dport: 80, flags: 'S' }).build()],
      ['reply_no_conn', pkt().eth({ src: R1_MAC, dst: DIR_MAC }).ipv4({ src: R1, dst: CIP }).tcp({ sport: 8080, dport: 9, flags: 'SA' }).build()],
      ['icmp_unhandled', pkt().eth(C).ipv4({ src: CIP, dst: VIP }).icmp({ type: 13 }).build()],
    ];
    for (const [, f] of cases) b.io.inject(f);
    b.w.pump();
    expect(b.io.take().filter((f) => parseFrame(f).ip)).toEqual([]);
    const drops = b.control.status().drops;
    const expected: Record<string, number> = {};
    for (const [name] of cases) expected[name] = (expected[name] ?? 0) + 1;
    for (const [name, n] of Object.entries(expected)) expect(drops[name], name).toBe(n);
  });

  it('lists connections for -L -n -c, and --set changes the established timeout from the next packet', async () => {
    b.io.inject(syn(44000));
    b.w.pump();
    const [f] = answerArp(b);
    const real = parseFrame(f!).ip!.dst;
    b.io.inject(pkt().eth({ src: MACS[real], dst: DIR_MAC }).ipv4({ src: real, dst: CIP }).tcp({ sport: 8080, dport: 44000, flags: 'SA', seq: 1, ack: 1001 }).build());
    b.io.inject(syn(44000, 'A'));
    b.w.pump();
    answerArp(b);
    let list = await ok(b.control, { op: 'list-conns' });
    expect(list.conns).toEqual([
      { proto: 'TCP', expires: 900, state: 'ESTABLISHED', source: `${CIP}:44000`, virtual: `${VIP}:80`, destination: `${real}:8080`, worker: 0 },
    ]);
    await ok(b.control, { op: 'set-timeouts', tcp: 60, tcpfin: 0, udp: 0 });
    expect(b.control.status().timeouts).toEqual({ tcp: 60, tcpfin: 120, udp: 300 });
    b.clock.t += 10_000;
    b.io.inject(syn(44000, 'PA'));
    b.w.pump();
    list = await ok(b.control, { op: 'list-conns' });
    expect(list.conns[0]).toMatchObject({ state: 'ESTABLISHED', expires: 60 });
    const bad = await b.control.handle({ op: 'set-timeouts', tcp: -1, tcpfin: 0, udp: 0 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'EINVAL', message: 'tcp must be an integer in 0..2147483' } });
  });

  it('zeroes counters with -Z (all, or one service) and keeps connections and their counts', async () => {
    b.io.inject(syn(45000));
    b.w.pump();
    answerArp(b);
    expect(b.control.list().services[0]!.stats.conns).toBe(1);
    await ok(b.control, { op: 'zero', service: svcKey });
    const svc = b.control.list().services[0]!;
    expect(svc.stats).toMatchObject({ conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
    expect(svc.reals.reduce((n, r) => n + r.active, 0)).toBe(1);
    b.io.inject(syn(45000, 'A'));
    b.w.pump();
    expect(b.control.list().services[0]!.stats).toMatchObject({ conns: 0, inpkts: 1, inbytes: 40 });
    await ok(b.control, { op: 'zero' });
    expect(b.control.list().services[0]!.stats.inpkts).toBe(0);
  });

  it('answers ICMP echo to the VIP', () => {
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).icmp({ type: 8, id: 7, seq: 1 }).payload('ping').build());
    b.w.pump();
    const [f] = b.io.take();
    const p = parseFrame(f!);
    expect(verifyChecksums(f!)).toEqual({ ip: true, l4: true });
    expect(p.ip).toMatchObject({ src: VIP, dst: CIP });
    expect(p.icmp).toMatchObject({ type: 0, id: 7, seq: 1 });
    expect(p.eth!.dst).toBe(CLIENT_MAC);
  });
});
