/**
 * Internet checksum in TypeScript (RFC 1071 full sum, RFC 1624 eqn. 3 incremental update).
 *
 * Sums are kept as plain numbers below 2^32 and folded at the end. The incremental forms never produce the
 * RFC 1141 "-0" (0xFFFF where recomputation gives 0x0000) mistake, and callers only apply them when the field
 * really changes (RFC 1624 errata 4782). The native addon has the same helpers; the benchmark decides which
 * one the packet path uses (bench/checksum.bench.ts).
 */

/** Folds a 32-bit one's-complement accumulator to 16 bits (not complemented). */
export function csumFold(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * One's-complement sum of big-endian 16-bit words of u8[off, off+len) added to `initial`, folded to 16 bits,
 * not complemented. An odd trailing byte is padded with zero.
 */
export function csumPartial(u8: Uint8Array, off: number, len: number, initial: number): number {
  let sum = initial | 0;
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) {
    sum += (u8[i]! << 8) | u8[i + 1]!;
  }
  if (len & 1) sum += u8[end]! << 8;
  // For any range under 64 KiB the sum stays below 2^31 (a small integer for V8: no boxing on return);
  // folding it twice brings it to 16 bits.
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Complemented checksum of a buffer range (what goes into a header field). */
export function csum(u8: Uint8Array, off: number, len: number, initial = 0): number {
  return ~csumPartial(u8, off, len, initial) & 0xffff;
}

/** RFC 1624 eqn. 3: new checksum field after a 16-bit word changed from `old` to `now`. */
export function csumUpdate16(check: number, old: number, now: number): number {
  let s = (~check & 0xffff) + (~old & 0xffff) + (now & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 eqn. 3 for a 32-bit field (e.g. an IPv4 address), as two 16-bit words. */
export function csumUpdate32(check: number, old: number, now: number): number {
  let s = (~check & 0xffff) + (~(old >>> 16) & 0xffff) + (~old & 0xffff) + ((now >>> 16) & 0xffff) + (now & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Pseudo-header partial sum for IPv4 TCP/UDP: src, dst, protocol, L4 length. */
export function pseudoHeaderSum(saddr: number, daddr: number, proto: number, l4len: number): number {
  return (saddr >>> 16) + (saddr & 0xffff) + (daddr >>> 16) + (daddr & 0xffff) + proto + l4len;
}
