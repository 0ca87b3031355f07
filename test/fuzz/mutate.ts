/**
 * Mutations the pipeline fuzzer applies to a share of the generated frames. Half of them re-seal the frame
 * (recompute the checksums over the damaged headers), so that the damage gets past checksum verification and
 * reaches the code that trusts the header fields: IHL, total length, TCP data offset, UDP length, fragment bits,
 * IP options, version, TTL. The others leave it broken: truncation, bit flips, bad checksums, Ethernet padding.
 */
import type { Gen } from './gen.js';
import { pseudo, sum16, type Wire } from './wire.js';

/** Recomputes the L4 checksum of the frame as its (possibly damaged) headers describe it, within the frame. */
export function resealL4(w: Wire): void {
  const l3 = w.l3;
  if (l3 < 0 || l3 + 20 > w.len) return;
  const b = w.b;
  const dv = w.dv;
  const hl = (b[l3]! & 15) << 2;
  const ipLen = Math.min(dv.getUint16(l3 + 2), w.len - l3);
  const l4 = l3 + hl;
  const l4len = ipLen - hl;
  if (hl < 20 || l4len < 8) return;
  const proto = b[l3 + 9]!;
  const src = dv.getUint32(l3 + 12);
  const dst = dv.getUint32(l3 + 16);
  if (proto === 6 && l4len >= 20) {
    dv.setUint16(l4 + 16, 0);
    dv.setUint16(l4 + 16, ~sum16(b, l4, l4len, pseudo(src, dst, 6, l4len)) & 0xffff);
  } else if (proto === 17) {
    const ulen = Math.min(dv.getUint16(l4 + 4), l4len);
    if (ulen < 8) return;
    dv.setUint16(l4 + 6, 0);
    dv.setUint16(l4 + 6, ~sum16(b, l4, ulen, pseudo(src, dst, 17, dv.getUint16(l4 + 4))) & 0xffff || 0xffff);
  } else if (proto === 1) {
    dv.setUint16(l4 + 2, 0);
    dv.setUint16(l4 + 2, ~sum16(b, l4, l4len, 0) & 0xffff);
  }
}

function reseal(w: Wire): void {
  resealL4(w);
  w.fixIp();
}

export const MUTATIONS = [
  'truncate', 'flip', 'flip-sealed', 'ihl', 'total-length', 'tcp-data-offset', 'udp-length', 'fragment', 'options',
  'version', 'ttl', 'bad-ip-checksum', 'bad-l4-checksum', 'padding', 'tail-cut-sealed',
] as const;

/** Applies one random mutation to the frame in g.w; returns its index in MUTATIONS. */
export function mutate(g: Gen): number {
  const w = g.w;
  const b = w.b;
  const dv = w.dv;
  const k = g.int(MUTATIONS.length);
  const l3 = w.l3;
  const hasIp = l3 >= 0 && l3 + 20 <= w.len;
  const l4 = hasIp ? l3 + ((b[l3]! & 15) << 2) : -1;
  switch (MUTATIONS[k]) {
    case 'truncate':
      w.len = g.int(w.len + 1);
      break;
    case 'flip':
    case 'flip-sealed': {
      const n = 1 + g.int(4);
      const span = Math.min(w.len, 100);
      for (let i = 0; i < n && span > 0; i++) b[g.int(span)] ^= 1 << g.int(8);
      if (MUTATIONS[k] === 'flip-sealed') reseal(w);
      break;
    }
    case 'ihl':
      if (hasIp) {
        b[l3] = (b[l3]! & 0xf0) | g.int(16);
        w.fixIp();
      }
      break;
    case 'total-length':
      if (hasIp) {
        const cur = dv.getUint16(l3 + 2);
        const v = g.pick([0, 1, 19, 20, 21, 27, 28, 39, 40, 65535, cur - 1, cur + 1, cur - 8, cur + 8, g.int(65536)]);
        dv.setUint16(l3 + 2, v & 0xffff);
        reseal(w);
      }
      break;
    case 'tcp-data-offset':
      if (hasIp && b[l3 + 9] === 6 && l4 + 13 < w.len) {
        b[l4 + 12] = (g.int(16) << 4) | (b[l4 + 12]! & 15);
        reseal(w);
      }
      break;
    case 'udp-length':
      if (hasIp && b[l3 + 9] === 17 && l4 + 8 <= w.len) {
        const cur = dv.getUint16(l4 + 4);
        dv.setUint16(l4 + 4, g.pick([0, 7, 8, 9, cur - 1, cur + 1, 65535, g.int(65536)]) & 0xffff);
        reseal(w);
      }
      break;
    case 'fragment':
      if (hasIp) {
        dv.setUint16(l3 + 6, g.pick([0x2000, 0x0001, 0x2001, 0x1fff, 0x3fff, 0x8000, g.int(65536)]));
        w.fixIp();
      }
      break;
    case 'options':
      // Grow the IP header by 4..40 bytes of options (the rest of the packet moves), header re-sealed.
      if (hasIp && (b[l3]! & 15) === 5) {
        const n = 4 * (1 + g.int(10));
        if (w.len + n > b.length) break;
        b.copyWithin(l3 + 20 + n, l3 + 20, w.len);
        b.fill(1, l3 + 20, l3 + 20 + n);
        if (g.chance(0.5)) b[l3 + 20] = g.pick([0, 7, 68, 130, 131, 137, 148, 255]);
        w.len += n;
        b[l3] = 0x40 | ((20 + n) >> 2);
        dv.setUint16(l3 + 2, dv.getUint16(l3 + 2) + n);
        w.l4 = l3 + 20 + n;
        w.fixIp();
      }
      break;
    case 'version':
      if (hasIp) {
        b[l3] = (g.int(16) << 4) | (b[l3]! & 15);
        w.fixIp();
      }
      break;
    case 'ttl':
      if (hasIp) {
        b[l3 + 8] = g.int(3);
        w.fixIp();
      }
      break;
    case 'bad-ip-checksum':
      if (hasIp) b[l3 + 10] ^= 1 + g.int(255);
      break;
    case 'bad-l4-checksum':
      if (hasIp && l4 + 18 <= w.len) b[l4 + g.pick([2, 6, 16, 17])] ^= 1 + g.int(255);
      break;
    case 'padding': {
      // Ethernet trailer after the IP packet (the total length stays): forwarded frames must not carry it into
      // checksums or lengths.
      const n = 1 + g.int(64);
      if (w.len + n <= b.length) {
        b.set(g.noise.subarray(n, n + n), w.len);
        w.len += n;
      }
      break;
    }
    case 'tail-cut-sealed':
      // Shorter frame whose headers claim the shorter length: still a valid packet, just less payload.
      if (hasIp && w.len > l3 + 20) {
        w.len = l3 + 20 + g.int(w.len - l3 - 20);
        dv.setUint16(l3 + 2, w.len - l3);
        reseal(w);
      }
      break;
  }
  return k;
}
