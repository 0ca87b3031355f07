import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  diffFrames,
  hexdump,
  intToIpv4,
  ipv4ToInt,
  parseFrame,
  pkt,
  verifyChecksums,
} from '../../helpers/packet-builder.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!, (x) => parseInt(x, 16));
const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/**
 * Independent one's complement sum: add all 16-bit big-endian words as a plain integer, then reduce mod 0xffff
 * (end-around carry is the same as arithmetic mod 2^16 - 1). Returns the folded sum in 1..0xffff (0 only for
 * all-zero input). A correct checksummed region sums to 0xffff.
 */
function naiveOnesSum(...regions: Uint8Array[]): number {
  const bytes = regions.flatMap((r) => Array.from(r));
  if (bytes.length % 2 === 1) bytes.push(0);
  let total = 0;
  for (let i = 0; i < bytes.length; i += 2) total += bytes[i] * 256 + bytes[i + 1];
  const r = total % 0xffff;
  return r === 0 && total !== 0 ? 0xffff : r;
}
const pseudo = (src: string, dst: string, proto: number, len: number): Uint8Array =>
  Uint8Array.from([...src.split('.'), ...dst.split('.')].map(Number).concat([0, proto, len >> 8, len & 0xff]));

describe('packet builder', () => {
  describe('addresses', () => {
    it('converts dotted quads to unsigned numbers and back', () => {
      expect(ipv4ToInt('10.200.1.1')).toBe(0x0ac80101);
      expect(ipv4ToInt('255.255.255.255')).toBe(0xffffffff);
      expect(intToIpv4(0xc0a80001)).toBe('192.168.0.1');
      expect(intToIpv4(ipv4ToInt('1.2.3.4'))).toBe('1.2.3.4');
      expect(() => ipv4ToInt('1.2.3')).toThrow(/not an IPv4 address/);
      expect(() => ipv4ToInt('1.2.3.256')).toThrow(/not an IPv4 address/);
    });
  });

  describe('known-good frames', () => {
    it('IPv4 header checksum: the classic 192.168.0.1 → 192.168.0.199 example header is 0xb861', () => {
      // 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7 (UDP, DF, TTL 64, total length 115).
      const p = pkt()
        .ipv4({ src: '192.168.0.1', dst: '192.168.0.199', ttl: 64, df: true })
        .udp({ sport: 1, dport: 2, checksum: 'zero' })
        .payload(115 - 28)
        .build();
      expect(toHex(p.subarray(0, 20))).toBe('45000073000040004011b861c0a80001c0a800c7');
    });

    it('ICMP checksum derived by hand (RFC 1071 style): type 0 code 1, rest f4f5f6f7 → 0x1411', () => {
      // Words: 0x0001 + 0xf4f5 + 0xf6f7 = 0x1ebed; end-around carry: 0xebed + 1 = 0xebee; ~0xebee = 0x1411.
      const p = pkt().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).icmp({ type: 0, code: 1, rest: 0xf4f5f6f7 }).build();
      expect(toHex(p.subarray(20))).toBe('00011411f4f5f6f7');
    });

    it('TCP SYN with MSS option: whole frame byte for byte (reference computed independently, in Python)', () => {
      const frame = pkt()
        .eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
        .ipv4({ src: '192.168.1.1', dst: '10.200.1.1', id: 0x1234, df: true })
        .tcp({ sport: 31337, dport: 80, seq: 1, flags: 'S', options: hex('020405b4') })
        .build();
      const expected = hex(
        '020000000002 020000000001 0800' +
          '4500 002c 1234 4000 4006 5b26 c0a80101 0ac80101' +
          '7a69 0050 00000001 00000000 6002 ffff 4ffa 0000 020405b4',
      );
      expect(diffFrames(expected, frame)).toBe('');
      // And by the naive sum: IP header and TCP segment + pseudo-header each sum to 0xffff.
      expect(naiveOnesSum(frame.subarray(14, 34))).toBe(0xffff);
      expect(naiveOnesSum(pseudo('192.168.1.1', '10.200.1.1', 6, 24), frame.subarray(34))).toBe(0xffff);
    });

    it('UDP with an odd-length payload (the last byte is padded with zero for the sum)', () => {
      const p = pkt().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ sport: 5353, dport: 53 }).payload('abc').build();
      expect(toHex(p)).toBe('4500001f00000000401166cc0a0000010a00000214e90035000b1255616263');
      expect(naiveOnesSum(pseudo('10.0.0.1', '10.0.0.2', 17, 11), p.subarray(20))).toBe(0xffff);
    });
  });

  describe('checksums', () => {
    it('sends a computed UDP checksum of 0 as 0xffff (RFC 768), and 0 for checksum: zero', () => {
      // Payload d6b9 makes the one's complement sum 0xffff, i.e. a computed checksum of 0 (found by search, Python).
      const base = () => pkt().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' });
      expect(parseFrame(base().udp({ sport: 5353, dport: 53 }).payload(hex('d6b9')).build(), { link: 'none' }).udp!.checksum).toBe(0xffff);
      expect(parseFrame(base().udp({ sport: 5353, dport: 53, checksum: 'zero' }).payload('x').build(), { link: 'none' }).udp!.checksum).toBe(0);
      expect(parseFrame(base().udp({ sport: 5353, dport: 53, checksum: 0xbeef }).build(), { link: 'none' }).udp!.checksum).toBe(0xbeef);
      expect(verifyChecksums(base().udp({ sport: 1, dport: 2, checksum: 'zero' }).build(), { link: 'none' })).toEqual({ ip: true, l4: true });
    });

    it('badIpChecksum / badL4Checksum break exactly the one checksum', () => {
      const b = () => pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).tcp({ sport: 1, dport: 2, flags: 'PA' }).payload(10);
      expect(verifyChecksums(b().build())).toEqual({ ip: true, l4: true });
      expect(verifyChecksums(b().badIpChecksum().build())).toEqual({ ip: false, l4: true });
      expect(verifyChecksums(b().badL4Checksum().build())).toEqual({ ip: true, l4: false });
      const u = pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ sport: 1, dport: 2, checksum: 'zero' }).badL4Checksum().build();
      expect(verifyChecksums(u).l4).toBe(false);
      const i = pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).icmp({ type: 8, id: 1, seq: 1 }).badL4Checksum().build();
      expect(verifyChecksums(i).l4).toBe(false);
    });

    it('computes the header checksum over the header as written when lengths are overridden', () => {
      const p = pkt().ipv4({ src: '1.1.1.1', dst: '2.2.2.2', totalLength: 1000, ihl: 4 }).udp({ sport: 1, dport: 2 }).build();
      expect(p[0]).toBe(0x44);
      expect((p[2] << 8) | p[3]).toBe(1000);
      expect(naiveOnesSum(p.subarray(0, 20))).toBe(0xffff);
    });
  });

  describe('lengths and layout', () => {
    it('fills total length, IHL with options, TCP data offset with options, and the EtherType', () => {
      const f = pkt()
        .eth()
        .ipv4({ src: '1.1.1.1', dst: '2.2.2.2', options: hex('940400') }) // router alert, 3 bytes → padded to 4
        .tcp({ sport: 1, dport: 2, flags: 'A', options: hex('0101080a0000000100000002') })
        .payload(7)
        .build();
      const p = parseFrame(f);
      expect(p.eth!.type).toBe(0x0800);
      expect(p.ip!.ihl).toBe(6);
      expect(toHex(p.ip!.options)).toBe('94040000');
      expect(p.ip!.totalLength).toBe(24 + 32 + 7);
      expect(p.tcp!.dataOffset).toBe(8);
      expect(p.payload.length).toBe(7);
      expect(f.length).toBe(14 + 24 + 32 + 7);
      expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
    });

    it('writes UDP length and VLAN tags (QinQ outer first)', () => {
      const f = pkt().eth().vlan(100, { tpid: 0x88a8 }).vlan(7, { pcp: 5 }).ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ sport: 9, dport: 10 }).payload(5).build();
      expect(toHex(f.subarray(12, 22))).toBe('88a80064' + '8100a007' + '0800');
      const p = parseFrame(f);
      expect(p.eth!.vlans).toEqual([100, 7]);
      expect(p.udp!.length).toBe(13);
      expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
    });

    it('builds ARP requests and replies', () => {
      const f = pkt().eth({ dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 'request', sha: '02:00:00:00:00:01', spa: '10.0.0.1', tpa: '10.0.0.2' }).build();
      expect(toHex(f.subarray(12))).toBe('0806' + '0001080006040001' + '020000000001' + '0a000001' + '000000000000' + '0a000002');
      expect(parseFrame(f).arp).toEqual({ htype: 1, ptype: 0x0800, op: 1, sha: '02:00:00:00:00:01', spa: '10.0.0.1', tha: '00:00:00:00:00:00', tpa: '10.0.0.2' });
    });

    it('pads to the Ethernet minimum without the padding counting as payload, and truncates', () => {
      const f = pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).tcp({ sport: 1, dport: 2, flags: 'R' }).padTo(60).build();
      expect(f.length).toBe(60);
      expect(parseFrame(f).payload.length).toBe(0);
      expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
      const t = pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).tcp({ sport: 1, dport: 2, flags: 'S' }).truncate(40).build();
      expect(t.length).toBe(40);
      expect(() => parseFrame(t)).toThrow(/TCP header cut short/);
    });

    it('builds fragments: MF/offset bits, L4 not decoded past the first fragment', () => {
      const f = pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2', protocol: 17, fragOffset: 185, id: 7 }).payload(20).build();
      const p = parseFrame(f);
      expect(p.ip).toMatchObject({ fragOffset: 185, mf: false, protocol: 17, id: 7 });
      expect(p.udp).toBeUndefined();
      expect(p.payload.length).toBe(20);
      expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
    });
  });

  describe('ICMP and encapsulation', () => {
    it('embeds a quoted packet in an ICMP error and decodes it', () => {
      const orig = pkt().ipv4({ src: '10.200.1.1', dst: '192.168.1.1', ttl: 63 }).tcp({ sport: 80, dport: 31337, seq: 99, flags: 'SA' }).build();
      const f = pkt()
        .eth()
        .ipv4({ src: '192.168.1.254', dst: '10.200.1.1' })
        .icmp({ type: 3, code: 4, mtu: 1400, quote: orig.subarray(0, 28) })
        .build();
      const p = parseFrame(f);
      expect(p.icmp).toMatchObject({ type: 3, code: 4, seq: 1400, rest: 1400 });
      expect(p.icmp!.quote).toMatchObject({ sport: 80, dport: 31337, seq: 99, ip: { src: '10.200.1.1', dst: '192.168.1.1', protocol: 6 } });
      expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
      expect(naiveOnesSum(f.subarray(34))).toBe(0xffff);
    });

    it('echo id/seq, and IPIP with the inner packet decoded and verified', () => {
      const inner = pkt().ipv4({ src: '192.168.1.1', dst: '10.200.1.1' }).icmp({ type: 8, id: 0x4242, seq: 3 }).payload('ping').build();
      const f = pkt().eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 4 }).payload(inner).build();
      const p = parseFrame(f);
      expect(p.inner!.icmp).toMatchObject({ type: 8, id: 0x4242, seq: 3 });
      expect(new TextDecoder().decode(p.inner!.payload)).toBe('ping');
      expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
      const broken = pkt().eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 4 })
        .payload(pkt().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).badIpChecksum().icmp({ type: 8 }).build()).build();
      expect(verifyChecksums(broken).ip).toBe(false);
    });
  });

  describe('parseFrame', () => {
    it('round-trips random TCP/UDP/ICMP frames, all checksums verified by the naive sum', () => {
      const port = fc.integer({ min: 0, max: 65535 });
      const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
      const l4 = fc.oneof(
        fc.record({ kind: fc.constant('tcp' as const), sport: port, dport: port, seq: fc.nat(), ack: fc.nat(), flags: fc.constantFrom('S', 'SA', 'A', 'PA', 'F', 'FA', 'R', 'RA', 'FPA'), win: port }),
        fc.record({ kind: fc.constant('udp' as const), sport: port, dport: port }),
        fc.record({ kind: fc.constant('icmp' as const), type: fc.constantFrom(0, 8), id: port, seq: port }),
      );
      fc.assert(
        fc.property(ipArb, ipArb, fc.integer({ min: 1, max: 255 }), port, fc.boolean(), l4, fc.uint8Array({ maxLength: 64 }), (src, dst, ttl, id, df, l, data) => {
          let b = pkt().eth().ipv4({ src, dst, ttl, id, df });
          if (l.kind === 'tcp') b = b.tcp(l);
          else if (l.kind === 'udp') b = b.udp(l);
          else b = b.icmp(l);
          const f = b.payload(data).build();
          const p = parseFrame(f);
          expect(p.ip).toMatchObject({ src, dst, ttl, id, df, mf: false, fragOffset: 0, ihl: 5, totalLength: f.length - 14 });
          if (l.kind === 'tcp') expect(p.tcp).toMatchObject({ sport: l.sport, dport: l.dport, seq: l.seq, ack: l.ack, flags: l.flags, win: l.win });
          if (l.kind === 'udp') expect(p.udp).toMatchObject({ sport: l.sport, dport: l.dport, length: 8 + data.length });
          if (l.kind === 'icmp') expect(p.icmp).toMatchObject({ type: l.type, id: l.id, seq: l.seq });
          expect(Array.from(p.payload)).toEqual(Array.from(data));
          expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
          expect(naiveOnesSum(f.subarray(14, 34))).toBe(0xffff);
          const proto = { tcp: 6, udp: 17, icmp: 1 }[l.kind];
          const l4bytes = f.subarray(34);
          const sum = l.kind === 'icmp' ? naiveOnesSum(l4bytes) : naiveOnesSum(pseudo(src, dst, proto, l4bytes.length), l4bytes);
          expect(sum).toBe(0xffff);
        }),
        { seed: 0x5eed_0004, numRuns: 300 },
      );
    });
  });

  describe('diagnostics', () => {
    it('diffFrames is empty for equal frames and names the differing fields and bytes otherwise', () => {
      const a = pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2', ttl: 64 }).udp({ sport: 1, dport: 2 }).build();
      const b = pkt().eth().ipv4({ src: '1.1.1.1', dst: '2.2.2.2', ttl: 63 }).udp({ sport: 1, dport: 2 }).build();
      expect(diffFrames(a, a.slice())).toBe('');
      const d = diffFrames(a, b);
      expect(d).toContain('ip.ttl: 64 → 63');
      expect(d).toContain('ip.checksum:');
      expect(d).toMatch(/^- 0010 .*\n\+ 0010 .*\n\s+\^\^/m);
      expect(diffFrames(a, a.subarray(0, 20))).toContain('length: expected 42, actual 20');
    });

    it('hexdump prints offset, hex and ASCII', () => {
      expect(hexdump(new TextEncoder().encode('ABCDEFGHIJKLMNOPQ'))).toBe(
        '0000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  |ABCDEFGHIJKLMNOP|\n' +
          '0010  51                                               |Q|',
      );
    });
  });
});
