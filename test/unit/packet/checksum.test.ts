import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { csum, csumFold, csumPartial, csumUpdate16, csumUpdate32 } from '../../../src/packet/checksum.js';

/** Naive RFC 1071 reference: sum 16-bit big-endian words with end-around carry, complement. */
function naive(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    sum += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

describe('checksum (TypeScript)', () => {
  it('matches the RFC 1071 example (bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2)', () => {
    const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(csumPartial(b, 0, b.length, 0)).toBe(0xddf2);
    expect(csum(b, 0, b.length)).toBe(~0xddf2 & 0xffff);
  });

  it('agrees with a naive sum on random buffers, offsets and odd lengths', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(7), (data, off) => {
        const buf = new Uint8Array(data.length + off);
        buf.set(data, off);
        expect(csum(buf, off, data.length)).toBe(naive(data));
      }),
      { seed: 42, numRuns: 300 },
    );
  });

  it('incremental updates (RFC 1624 eqn. 3) equal full recomputation for 16- and 32-bit fields', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 24, maxLength: 200 }), fc.nat(), fc.integer({ min: 0, max: 0xffffffff }), (data, pos, val) => {
        const even = data.length & ~1;
        const buf = data.slice(0, even);
        const dv = new DataView(buf.buffer);
        const before = csum(buf, 0, buf.length);
        const at = (pos % ((buf.length - 4) / 2)) * 2;
        const old32 = dv.getUint32(at);
        const now32 = val >>> 0;
        dv.setUint32(at, now32);
        const after32 = csum(buf, 0, buf.length);
        if (old32 !== now32) expect(csumUpdate32(before, old32, now32)).toBe(after32);
        const old16 = dv.getUint16(at);
        const now16 = (val >>> 7) & 0xffff;
        dv.setUint16(at, now16);
        if (old16 !== now16) expect(csumUpdate16(after32, old16, now16)).toBe(csum(buf, 0, buf.length));
      }),
      { seed: 7, numRuns: 500 },
    );
  });

  it('gives 0x0000 where RFC 1141 would give 0xFFFF (RFC 1624 section 4 example)', () => {
    // Sum of the other header words 0xCD7A; field m = 0x5555 becomes m' = 0x3285.
    const hc = ~csumFold(0xcd7a + 0x5555) & 0xffff; // one's-complement add with end-around carry: 0xDD2F
    expect(hc).toBe(0xdd2f);
    expect(csumUpdate16(hc, 0x5555, 0x3285)).toBe(0x0000);
  });
});
