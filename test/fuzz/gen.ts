/**
 * Frame generator of the pipeline fuzzer. Frames are built from a pool of flows over every service of the site
 * (world.ts), so most of them reach deep into the pipeline: SYNs that create conns, replies from the reals to
 * the conns' real endpoints (read from the dataplane's own table), data with the sequence marks FULLNAT's TOA and
 * PROXY paths react to, ICMP errors quoting packets of live conns (both sides, and TUN's outer header), ARP, echo.
 * Then noise: every TCP flag byte, garbage options, odd addresses and protocols, VLAN tags, other EtherTypes,
 * runts and jumbo frames, ICMP quoting garbage, ARP garbage. mutate.ts damages a share of them afterwards.
 * Deterministic for a seed: the only inputs are the PRNG and the dataplane state, itself a function of the frames.
 */
import type { ConnTable } from '../../src/worker/conn-table.js';
import { NIL } from '../../src/worker/conn-table.js';
import { DIR0, DIR1, DIR_MAC, GATEWAY, HOSTS, LIP1, ODD_ADDRS, R1, R2, SERVICES, VIP, ip, type Svc } from './world.js';
import { type Mac, Wire, sum16 } from './wire.js';

export type Rand = () => number;

const BCAST: Mac = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const GW_MAC = HOSTS.get(GATEWAY)!;
const OFFLINK_NET = ip('203.0.113.0');
const CLIENTS_ONLINK = [ip('198.18.0.2'), ip('198.18.0.3')];

interface Flow {
  svc: Svc;
  caddr: number;
  cport: number;
  cmac: Mac;
  seq: number;
}

const F = 1, S = 2, R = 4, P = 8, A = 16;
/** Flags a client or real usually sends, and how often. */
const FLAG_MIX = [S, S, A, A, P | A, P | A, P | A, F | A, R, R | A, S | A, 0];

const opt = (...b: number[]) => Uint8Array.from(b);
const SYN_OPTS = opt(2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7);
const TS_OPTS = opt(1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0);
const TOA_LIKE = opt(254, 8, 0x12, 0x34, 10, 0, 0, 1);
const BAD_OPTS = [opt(2, 0), opt(2, 255, 1, 1), opt(8, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9), opt(5, 3, 1), opt(1, 1, 1, 5, 2), opt(0), opt(2)];

export class Gen {
  readonly w = new Wire();
  /** Random bytes that payloads and garbage are cut from. */
  readonly noise: Uint8Array;
  private readonly flows: Flow[] = [];
  /** Where quoted packets are built. */
  private readonly qw = new Wire();
  private flagSweep = 0;

  /** Share of frames that are spoofed SYNs from random sources (a SYN flood, for the defence's paths). */
  synFlood = 0;

  constructor(readonly rand: Rand, private readonly conns: ConnTable) {
    this.noise = new Uint8Array(16384);
    for (let i = 0; i < this.noise.length; i++) this.noise[i] = (rand() * 256) | 0;
    for (let i = 0; i < 48; i++) this.flows.push(this.newFlow());
  }

  int(n: number): number {
    return (this.rand() * n) | 0;
  }

  chance(p: number): boolean {
    return this.rand() < p;
  }

  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }

  private newFlow(): Flow {
    const svc = this.pick(SERVICES);
    const onlink = this.chance(0.6);
    const caddr = onlink ? this.pick(CLIENTS_ONLINK) : (OFFLINK_NET + 1 + this.int(200)) >>> 0;
    return { svc, caddr, cport: 1024 + this.int(64000), cmac: onlink ? HOSTS.get(caddr)! : GW_MAC, seq: this.int(0x7fffffff) };
  }

  /** Writes the next generated frame into `w`. */
  next(): void {
    if (this.synFlood > 0 && this.chance(this.synFlood)) return this.spoofedSyn();
    const r = this.rand();
    if (r < 0.003) this.flows[this.int(this.flows.length)] = this.newFlow();
    if (r < 0.33) this.flowIn(this.pick(this.flows));
    else if (r < 0.58) this.flowOut(this.pick(this.flows));
    else if (r < 0.67) this.icmpAbout(this.pick(this.flows));
    else if (r < 0.72) this.icmpOther();
    else if (r < 0.79) this.arp();
    else if (r < 0.84) this.l2Odd();
    else if (r < 0.93) this.ipOdd();
    else this.flagSweepFrame();
  }

  private payloadLen(): number {
    const r = this.rand();
    if (r < 0.55) return 0;
    if (r < 0.85) return this.int(200);
    if (r < 0.95) return 1300 + this.int(200); // around the MTU: TOA/PROXY room, TUN's tunnel MTU
    return this.int(1460);
  }

  private tcpOpts(syn: boolean): Uint8Array | null {
    const r = this.rand();
    if (syn && r < 0.6) return SYN_OPTS;
    if (r < 0.7) return null;
    if (r < 0.8) return TS_OPTS;
    if (r < 0.85) return TOA_LIKE;
    if (r < 0.93) return this.pick(BAD_OPTS);
    const n = 1 + this.int(40);
    const at = this.int(8000);
    return this.noise.subarray(at, at + n);
  }

  /** The conn of a flow in the dataplane's table, or NIL. */
  private conn(f: Flow): number {
    return this.conns.lookupIn(f.svc.proto, f.caddr | 0, f.cport, f.svc.vip | 0, f.svc.vport);
  }

  /** A sequence number a FULLNAT path may look for: the conn's mark (client ISN+1 or the real's ISN+1). */
  private seqish(c: number, fallback: number): number {
    return c !== NIL && this.chance(0.5) ? this.conns.mark[c]! >>> 0 : fallback;
  }

  flowIn(f: Flow, flags = -1): void {
    const w = this.w;
    const svc = f.svc;
    const c = this.conn(f);
    const fl = flags >= 0 ? flags : this.chance(0.1) ? this.int(256) : c === NIL ? (this.chance(0.8) ? S : this.pick(FLAG_MIX)) : this.pick(FLAG_MIX);
    w.eth(this.chance(0.02) ? BCAST : DIR_MAC, f.cmac, 0x0800);
    w.ipv4(f.caddr, svc.vip, svc.proto, this.chance(0.02) ? this.int(3) : 64, this.chance(0.7) ? 0x4000 : 0, this.int(4) === 0 ? this.int(256) : 0);
    if (svc.proto === 6) {
      w.tcp(f.cport, svc.vport, (fl & S) !== 0 ? f.seq : this.seqish(c, f.seq + 1), this.seqish(c, this.int(0x7fffffff)), fl, this.tcpOpts((fl & S) !== 0));
    } else {
      w.udp(f.cport, svc.vport);
    }
    w.bytes(this.noise, this.int(16384), this.payloadLen()).finish(this.chance(0.2));
  }

  flowOut(f: Flow, flags = -1): void {
    const w = this.w;
    const svc = f.svc;
    const c = this.conn(f);
    const known = c !== NIL;
    const real = known ? this.conns.daddr[c]! >>> 0 : this.pick([R1, R2]);
    const rport = known ? this.conns.dport[c]! : this.chance(0.5) ? svc.vport : 8080;
    const dst = known ? this.conns.laddr[c]! >>> 0 : svc.m === 'fullnat' ? LIP1 : f.caddr;
    const dport = known ? this.conns.lport[c]! : 1025 + this.int(100);
    const fl = flags >= 0 ? flags : this.chance(0.1) ? this.int(256) : this.chance(0.3) ? S | A : this.pick(FLAG_MIX);
    w.eth(DIR_MAC, HOSTS.get(real) ?? GW_MAC, 0x0800);
    w.ipv4(real, dst, svc.proto, 64, 0x4000);
    if (svc.proto === 6) {
      const sack = this.chance(0.2) && known;
      const opts = sack ? this.sackOpts(c) : this.tcpOpts((fl & S) !== 0);
      w.tcp(rport, dport, this.int(0x7fffffff), this.seqish(c, f.seq + 1 + this.int(3000)), fl, opts);
    } else {
      w.udp(rport, dport);
    }
    w.bytes(this.noise, this.int(16384), this.payloadLen()).finish(this.chance(0.2));
  }

  /** SACK blocks around the conn's mark (FULLNAT PROXY maps them back to the client's sequence space). */
  private sackOpts(c: number): Uint8Array {
    const m = this.conns.mark[c]! >>> 0;
    const o = new Uint8Array(20);
    const dv = new DataView(o.buffer);
    o.set([1, 1, 5, 18]);
    for (let i = 0; i < 4; i++) dv.setUint32(4 + i * 4, (m + this.int(200) - 50) >>> 0);
    return o;
  }

  /** An ICMP error about a flow: from the real's side, from the client's side, or about a TUN outer packet. */
  icmpAbout(f: Flow): void {
    const w = this.w;
    const svc = f.svc;
    const c = this.conn(f);
    const type = this.pick([3, 3, 3, 4, 11]);
    const code = type === 3 ? this.pick([3, 4, 1, 13]) : 0;
    const rest = type === 3 && code === 4 ? this.pick([1400, 1280, 68, 0, 1500, 90]) : 0;
    const real = c !== NIL ? this.conns.daddr[c]! >>> 0 : R1;
    const rport = c !== NIL ? this.conns.dport[c]! : svc.vport;
    const laddr = c !== NIL ? this.conns.laddr[c]! >>> 0 : f.caddr;
    const lport = c !== NIL ? this.conns.lport[c]! : f.cport;
    const side = this.int(3);
    // The quoted packet, built in the tail of the buffer and copied in.
    const q = this.quote(side, svc, f, real, rport, laddr, lport);
    if (side === 0) {
      // From the real's side (the real itself or a router on the way), to the quote's source.
      w.eth(DIR_MAC, HOSTS.get(real) ?? GW_MAC, 0x0800).ipv4(this.chance(0.8) ? real : ip('198.18.1.254'), laddr, 1);
    } else if (side === 1) {
      w.eth(DIR_MAC, f.cmac, 0x0800).ipv4(this.chance(0.8) ? f.caddr : GATEWAY, svc.vip, 1);
    } else {
      w.eth(DIR_MAC, GW_MAC, 0x0800).ipv4(ip('198.18.1.254'), DIR1, 1);
    }
    w.icmp(type, code, rest);
    const keep = this.chance(0.7) ? q.length : this.int(q.length + 1);
    w.b.set(q.subarray(0, keep), w.len);
    w.len += keep;
    w.finish();
  }

  /** The packet an ICMP error quotes (IPv4 header + the first bytes of its TCP/UDP header, or more). */
  private quote(side: number, svc: Svc, f: Flow, real: number, rport: number, laddr: number, lport: number): Uint8Array {
    const t = this.qw;
    const more = this.chance(0.3) ? this.int(40) : 0;
    if (side === 0) {
      t.eth(DIR_MAC, DIR_MAC, 0x0800).ipv4(laddr, real, svc.proto, 63);
      if (svc.proto === 6) t.tcp(lport, rport, this.seqish(this.conn(f), f.seq), 0, A);
      else t.udp(lport, rport);
    } else if (side === 1) {
      t.eth(DIR_MAC, DIR_MAC, 0x0800).ipv4(svc.vip, f.caddr, svc.proto, 63);
      if (svc.proto === 6) t.tcp(svc.vport, f.cport, 7, 0, A);
      else t.udp(svc.vport, f.cport);
    } else {
      t.eth(DIR_MAC, DIR_MAC, 0x0800).ipv4(DIR1, real, 4, 63, this.chance(0.8) ? 0x4000 : 0);
      t.ipv4(f.caddr, svc.vip, svc.proto, 63, this.chance(0.8) ? 0x4000 : 0);
      if (svc.proto === 6) t.tcp(f.cport, svc.vport, f.seq, 0, A);
      else t.udp(f.cport, svc.vport);
    }
    t.bytes(this.noise, this.int(16384), more + 200).finish();
    if (side === 2) {
      // The outer header's length covers the inner packet.
      t.dv.setUint16(14 + 2, t.len - 14);
      t.dv.setUint16(14 + 10, 0);
      t.dv.setUint16(14 + 10, ~sum16(t.b, 14, 20, 0) & 0xffff);
    }
    const end = side === 2 ? 14 + 20 + 20 + 8 + more : 14 + 20 + 8 + more;
    return t.b.subarray(14, end);
  }

  /** Echo to owned and other addresses, unrelated ICMP types, and errors quoting garbage. */
  icmpOther(): void {
    const w = this.w;
    const src = this.chance(0.7) ? ip('198.18.0.2') : this.pick(ODD_ADDRS);
    w.eth(DIR_MAC, HOSTS.get(ip('198.18.0.2'))!, 0x0800).ipv4(src, this.pick(ODD_ADDRS), 1, this.chance(0.05) ? 1 : 64);
    const r = this.rand();
    if (r < 0.4) {
      w.icmp(8, 0, this.int(0x7fffffff)).bytes(this.noise, this.int(16384), this.int(100)).finish();
    } else if (r < 0.6) {
      w.icmp(this.int(256), this.int(256), this.int(0x7fffffff)).bytes(this.noise, this.int(16384), this.int(100)).finish();
    } else {
      // An error quoting garbage, sometimes shaped like a header (0x45, a protocol the matcher looks at).
      w.icmp(this.pick([3, 4, 11, 5, 12]), this.int(16), this.int(0x10000));
      const at = w.len;
      w.bytes(this.noise, this.int(16384), this.int(80));
      if (w.len > at && this.chance(0.6)) w.b[at] = 0x45;
      if (w.len > at + 9 && this.chance(0.6)) w.b[at + 9] = this.pick([4, 6, 17, 1]);
      w.finish();
    }
  }

  arp(): void {
    const w = this.w;
    const hosts = [...HOSTS.entries()];
    const [hip, hmac] = this.pick(hosts);
    const reply = this.chance(0.35);
    w.eth(reply ? DIR_MAC : BCAST, hmac, 0x0806);
    const b = w.b;
    const dv = w.dv;
    const a = 14;
    dv.setUint16(a, 1);
    dv.setUint16(a + 2, 0x0800);
    b[a + 4] = 6;
    b[a + 5] = 4;
    dv.setUint16(a + 6, reply ? 2 : 1);
    for (let i = 0; i < 6; i++) b[a + 8 + i] = hmac[i]!;
    dv.setUint32(a + 14, this.chance(0.9) ? hip : this.pick(ODD_ADDRS));
    for (let i = 0; i < 6; i++) b[a + 18 + i] = reply ? DIR_MAC[i]! : 0;
    dv.setUint32(a + 24, this.pick([VIP, DIR0, DIR1, LIP1, ...ODD_ADDRS]));
    w.len = 42;
    if (this.chance(0.5)) w.bytes(this.noise, 0, 18); // padding to the 60-byte minimum
    if (this.chance(0.25)) {
      // Garbage: a field of the fixed part overwritten.
      b[a + this.int(8)] = this.int(256);
      if (this.chance(0.3)) dv.setUint16(a + 6, this.int(8));
    }
  }

  /** Frames that stop at layer 2: VLAN tags, other EtherTypes, other destinations, runts, jumbo frames. */
  l2Odd(): void {
    const w = this.w;
    const r = this.rand();
    if (r < 0.3) {
      // A tagged IPv4 frame (802.1Q or QinQ): a copy of a flow frame with 4 or 8 bytes of tag after the MACs.
      this.flowIn(this.pick(this.flows));
      const tags = this.chance(0.7) ? 1 : 2;
      w.b.copyWithin(12 + 4 * tags, 12, w.len);
      for (let t = 0; t < tags; t++) {
        w.dv.setUint16(12 + 4 * t, t === 0 && tags === 2 ? 0x88a8 : 0x8100);
        w.dv.setUint16(14 + 4 * t, this.int(4096));
      }
      w.len += 4 * tags;
      w.l3 = -1;
      return;
    }
    if (r < 0.5) {
      w.eth(DIR_MAC, GW_MAC, this.pick([0x86dd, 0x88cc, 0x8035, 0x0000, 0xffff, 0x0801, 0x88b5]));
      w.bytes(this.noise, this.int(16384), this.int(200));
      return;
    }
    if (r < 0.7) {
      this.flowIn(this.pick(this.flows));
      const mac = this.pick([[0x02, 0xaa, 0, 0, 0, 2], [0x01, 0, 0x5e, 0, 0, 1], [0x33, 0x33, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]]);
      for (let i = 0; i < 6; i++) w.b[i] = mac[i]!;
      return;
    }
    if (r < 0.85) {
      w.len = this.int(15); // runt: no room for an Ethernet header
      w.b.set(DIR_MAC.slice(0, Math.min(6, w.len)));
      return;
    }
    // Jumbo: a flow frame grown past the ring slot (1984..9000 bytes), headers consistent or not.
    this.flowIn(this.pick(this.flows));
    w.bytes(this.noise, this.int(16384), 500 + this.int(8000));
    if (this.chance(0.7)) w.finish();
  }

  /** IPv4 that is odd above layer 2: other protocols, owned and strange addresses, options, fragments, TTL 0/1. */
  ipOdd(): void {
    const w = this.w;
    const f = this.pick(this.flows);
    const r = this.rand();
    const src = this.chance(0.5) ? f.caddr : this.pick(ODD_ADDRS);
    const dst = this.chance(0.5) ? this.pick(ODD_ADDRS) : f.svc.vip;
    const proto = r < 0.3 ? this.pick([0, 2, 4, 41, 47, 50, 132, 253, 255]) : f.svc.proto;
    const frag = r > 0.5 && r < 0.75 ? this.pick([0x2000, 0x2001, 0x0001, 0x1fff, 0x6000, 0x4001, 0x8000]) : 0x4000;
    const optLen = r > 0.75 ? 4 * (1 + this.int(10)) : 0;
    w.eth(DIR_MAC, f.cmac, 0x0800).ipv4(src, dst, proto, this.int(4) === 0 ? this.int(3) : 64, frag, 0, this.int(0x10000), optLen);
    if (optLen > 0 && this.chance(0.5)) {
      // Real option shapes: record route, timestamp, router alert, or garbage.
      const o = w.l3 + 20;
      w.b.set(this.pick([[7, optLen - 1, 4], [68, optLen, 5, 0], [148, 4, 0, 0], [this.int(256), this.int(256)]]).slice(0, optLen), o);
    }
    if (proto === 6) w.tcp(f.cport, f.svc.vport, f.seq, 0, this.int(256), this.tcpOpts(false));
    else if (proto === 17) w.udp(f.cport, f.svc.vport);
    w.bytes(this.noise, this.int(16384), this.payloadLen()).finish();
  }

  /** A SYN to a TCP service from a random off-link source and port: nobody will ever complete it. */
  private spoofedSyn(): void {
    const svc = SERVICES[this.int(7)]!; // the TCP services of VIP, one per method and client-IP mode
    const w = this.w;
    w.eth(DIR_MAC, GW_MAC, 0x0800).ipv4((OFFLINK_NET + this.int(1 << 16)) >>> 0, svc.vip, 6);
    w.tcp(1024 + this.int(64000), svc.vport, this.int(0x7fffffff), 0, this.chance(0.9) ? S : S | A, SYN_OPTS).finish();
  }

  /** A big TCP segment of a flow, either way (the payload of a GSO super-frame when offloads are on). */
  bigTcp(): void {
    let f = this.pick(this.flows);
    for (let k = 0; k < 8 && f.svc.proto !== 6; k++) f = this.pick(this.flows);
    if (f.svc.proto !== 6) return this.flowIn(f);
    if (this.chance(0.5)) this.flowIn(f, P | A);
    else this.flowOut(f, P | A);
    this.w.bytes(this.noise, this.int(16384), 1000 + this.int(60_000)).finish();
  }

  /** Every TCP flag byte in turn, into a flow (new or known) and out of it. */
  private flagSweepFrame(): void {
    const k = this.flagSweep++;
    const flags = k & 255;
    const f = this.flows[(k >> 8) % this.flows.length]!;
    if (f.svc.proto !== 6) return this.flowIn(f);
    if ((k >> 8) & 1) this.flowOut(f, flags);
    else this.flowIn(f, flags);
  }
}
