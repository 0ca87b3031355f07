/**
 * Hash helpers shared by the table-driven schedulers (dh, sh, lblc, lblcr) and the canonical real order that
 * sh/dh/mh build their tables from.
 *
 * Frozen formats: `hash32` is the kernel's hash_32 (include/linux/hash.h, GOLDEN_RATIO_32 = 0x61C88647, as current
 * kernels use it in ip_vs_dh.c/ip_vs_sh.c/ip_vs_lblc*.c); changing it remaps every dh/sh flow and reorders lblc
 * garbage collection. mh has its own frozen hash in mh.ts.
 */
import type { TableReal } from './scheduler.js';

/** IP protocols whose first 4 transport bytes are the ports (TCP, UDP, SCTP): sh-port/mh-port apply to them. */
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_SCTP = 132;

/** Kernel hash_32(v, bits): the top `bits` bits of v * 0x61C88647 mod 2^32. `bits` in 1..32. */
export function hash32(v: number, bits: number): number {
  return Math.imul(v, 0x61c88647) >>> (32 - bits);
}

/** True for protocols that carry ports in their first 4 bytes (ip_vs_sh_get_port / ip_vs_mh_get_port). */
export function hasPorts(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP;
}

/**
 * Indexes of `reals` sorted by (address, port), both unsigned: the order sh/dh/mh tables are built in, so that
 * two directors with the same reals build the same table whatever order the reals were added in. (IPVS builds
 * from its list order, newest first, so its tables depend on insertion order; ipvs-semantics.md §6.4.)
 */
export function sortedOrder(reals: readonly TableReal[]): number[] {
  return reals
    .map((_, i) => i)
    .sort((a, b) => (reals[a].addr >>> 0) - (reals[b].addr >>> 0) || reals[a].port - reals[b].port || a - b);
}

/** Greatest common divisor of two positive integers. */
export function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}
