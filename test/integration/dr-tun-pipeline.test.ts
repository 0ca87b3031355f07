/**
 * DR, NAT and TUN reals in one service over the in-memory PacketIO: configuration through Control.handle (the
 * socket's path), frames in and out, counters and listings. A conn is bound to its real's method when it is
 * created; changing the method later affects new conns only.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../../src/cli/args.js';
import { parseFrame, pkt, verifyChecksums } from '../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR1, DIR_MAC, Director, MACS, R1, R2, R3, VIP } from '../unit/forward/harness.js';

const svcKey = { proto: 'tcp', vip: VIP, vport: 80 };
const fromClient = { src: CLIENT_MAC, dst: DIR_MAC };
const seg = (sport: number, flags: string, payload = 0) => {
  const b = pkt().eth(fromClient).ipv4({ src: CIP, dst: VIP, df: true }).tcp({ sport, dport: 80, flags, seq: 1 });
  return (payload > 0 ? b.payload(payload) : b).build();
};

/** What a frame out looks like: which real and method it was sent with. */
function shape(f: Uint8Array): { real: string; method: string } {
  const p = parseFrame(f);
  expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
  if (p.ip!.protocol === 4) {
    expect(p.inner!.ip).toMatchObject({ src: CIP, dst: VIP });
    expect(p.eth!.dst).toBe(MACS[p.ip!.dst]);
    return { real: p.ip!.dst, method: 'tun' };
  }
  if (p.ip!.dst === VIP) {
    const real = Object.keys(MACS).find((ip) => MACS[ip] === p.eth!.dst)!;
    expect(p.tcp!.dport).toBe(80);
    return { real, method: 'dr' };
  }
  expect(p.tcp!.dport).toBe(8080);
  return { real: p.ip!.dst, method: 'nat' };
}

describe('DR, NAT and TUN reals in one service', () => {
  let d: Director;
  beforeEach(async () => {
    d = new Director();
    await d.ok({ op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await d.ok({ op: 'add-real', service: svcKey, real: { rip: R1, method: 'dr' } });
    await d.ok({ op: 'add-real', service: svcKey, real: { rip: R2, rport: 8080, method: 'nat' } });
    await d.ok({ op: 'add-real', service: svcKey, real: { rip: R3, method: 'tun' } });
    d.resolve();
  });

  it('schedules over all three and sends each conn with its real\'s method', () => {
    const r = d.run(...[0, 1, 2, 3, 4, 5].map((i) => seg(30000 + i, 'S')));
    expect(r.drops).toEqual({});
    const shapes = r.out.map(shape);
    expect(new Set(shapes.map((s) => `${s.real} ${s.method}`))).toEqual(new Set([`${R1} dr`, `${R2} nat`, `${R3} tun`]));
    // Later segments of each conn take the same real and method.
    const again = d.run(...[0, 1, 2, 3, 4, 5].map((i) => seg(30000 + i, 'A', 100))).out.map(shape);
    expect(again).toEqual(shapes);
    const list = d.control.list().services[0]!;
    expect(list.stats).toMatchObject({ conns: 6, inpkts: 12, outpkts: 0 });
    expect(list.reals.map((x) => [x.rip, x.rport, x.method, x.active + x.inactive]).sort()).toEqual([
      [R3, 80, 'tun', 2], [R1, 80, 'dr', 2], [R2, 8080, 'nat', 2],
    ]);
  });

  it('SNATs replies of the NAT conn only; a DR/TUN conn has no reply path through the director', () => {
    const out = d.run(seg(31000, 'S'), seg(31001, 'S'), seg(31002, 'S')).out.map(shape);
    const natPort = 31000 + out.findIndex((s) => s.method === 'nat');
    const reply = pkt().eth({ src: MACS[R2], dst: DIR_MAC }).ipv4({ src: R2, dst: CIP }).tcp({ sport: 8080, dport: natPort, flags: 'SA', ack: 2 }).build();
    const r = d.run(reply);
    expect(r.drops).toEqual({});
    const p = parseFrame(r.out[0]!);
    expect(p.ip).toMatchObject({ src: VIP, dst: CIP });
    expect(p.tcp).toMatchObject({ sport: 80, dport: natPort });
    expect(d.control.list().services[0]!.stats.outpkts).toBe(1);
  });

  it('keeps existing conns on their method when the real\'s method changes (bound at creation)', async () => {
    const first = d.run(seg(32000, 'S'), seg(32001, 'S'), seg(32002, 'S')).out.map(shape);
    const drPort = 32000 + first.findIndex((s) => s.method === 'dr');
    await d.ok({ op: 'edit-real', service: svcKey, real: { rip: R1, method: 'tun' } });
    d.resolve();
    expect(d.run(seg(drPort, 'A', 10)).out.map(shape)).toEqual([{ real: R1, method: 'dr' }]);
    // New conns to R1 are tunnelled now.
    const next = d.run(seg(32100, 'S'), seg(32101, 'S'), seg(32102, 'S')).out.map(shape);
    expect(next.filter((s) => s.real === R1)).toEqual([{ real: R1, method: 'tun' }]);
    expect(next.filter((s) => s.method === 'dr')).toEqual([]);
  });

  it('forces the real port of -g and -i reals to the service port, as ipvsadm does (API and tapvsadm)', async () => {
    const svc2 = { proto: 'tcp', vip: VIP, vport: 443 };
    await d.ok({ op: 'add-service', service: { ...svc2, scheduler: 'rr' } });
    await d.ok({ op: 'add-real', service: svc2, real: { rip: R1, rport: 8443, method: 'dr' } });
    await d.ok({ op: 'add-real', service: svc2, real: { rip: R3, rport: 9443, method: 'tun' } });
    await d.ok({ op: 'add-real', service: svc2, real: { rip: R2, rport: 8443, method: 'nat' } });
    const reals = d.control.list().services.find((s) => s.vport === 443)!.reals;
    expect(reals.map((r) => [r.rip, r.rport, r.method]).sort()).toEqual([[R3, 443, 'tun'], [R1, 443, 'dr'], [R2, 8443, 'nat']]);
    // Packets to the DR and TUN reals keep their destination port; the NAT real gets its own.
    const syns = [0, 1, 2].map((i) => pkt().eth(fromClient).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 33000 + i, dport: 443, flags: 'S' }).build());
    const r = d.run(...syns);
    expect(r.out.map((f) => parseFrame(f)).map((p) => p.tcp?.dport ?? p.inner!.tcp!.dport).sort()).toEqual([443, 443, 8443]);
    // tapvsadm: `-r RIP:PORT -g|-i` sends the service port, `-m` the given one.
    for (const [flag, rport] of [['-g', 443], ['-i', 443], ['-m', 8443]] as const) {
      const c = parseArgs(['-a', '-t', `${VIP}:443`, '-r', `${R1}:8443`, flag]).command;
      expect(c).toMatchObject({ kind: 'change', request: { real: { rport } } });
    }
  });

  it('tunnels with the director address on the real prefix as outer source and answers DF overflows with ICMP', () => {
    const out = d.run(...[0, 1, 2].map((i) => seg(34000 + i, 'S'))).out.map((f) => parseFrame(f));
    const t = out.find((p) => p.ip!.protocol === 4)!;
    expect(t.ip).toMatchObject({ src: '198.18.0.1', dst: R3, df: true, ttl: 63 }); // R3 is on the client prefix
    const tunPort = 34000 + out.indexOf(t);
    const r = d.run(seg(tunPort, 'A', 1441));
    expect(r.drops).toEqual({ tun_too_big: 1 });
    const icmp = parseFrame(r.out[0]!);
    expect(icmp.ip).toMatchObject({ src: VIP, dst: CIP, protocol: 1 });
    expect(icmp.icmp).toMatchObject({ type: 3, code: 4, seq: 1480 });
    expect(icmp.icmp!.quote).toMatchObject({ sport: tunPort, dport: 80, ip: { src: CIP, dst: VIP, ttl: 64 } });
    // The director's own address on the real-server prefix is DIR1; the R1 conn (DR) never uses it.
    expect(DIR1).toBe('198.18.1.1');
  });
});
