/**
 * mh: Maglev Hashing (kernel ip_vs_mh.c; Eisenbud et al., NSDI 2016, §3.4). Semantics in ipvs-semantics.md §2.14
 * and §6.2. Also accepted as `-s maglev`.
 *
 * Table of prime size M (DEFAULT_MH_TABLE_SIZE = 4093 as IPVS; `buildMaglevTable(reals, M)` builds any prime
 * size, e.g. 65537 as Maglev and Katran use behind ECMP), built on the control thread:
 * - each real gets offset = H(addr, port, 0) mod M and skip = H'(addr, port) mod (M-1) + 1; its preference list
 *   is offset, offset+skip, offset+2*skip, ... (mod M), a permutation of the slots since M is prime;
 * - weights as IPVS: g = gcd of the lastWeights > 0, rshift = max(0, fls(max lastWeight / g) - B) with
 *   B = floor(bitlength(M) / 2) (IPVS: 6 for 4093, 8 for 65521; we use 8 for 65537), turns = (lastWeight / g) >>
 *   rshift, at least 1 when lastWeight != 0; a real with 0 turns gets no slot;
 * - populate: repeated passes over the reals, each real making `turns` consecutive claims of its next preferred
 *   free slot, until all M slots are taken. No real with lastWeight > 0 → every slot empty.
 * lastWeight, not weight, so quiescing a real (weight 0) keeps its slots and moves no other flow.
 *
 * Lookup: slot H(saddr, port, 0) mod M, port = source port with `mh-port` (TCP/UDP/SCTP; else 0). The real there
 * is unavailable when its weight is 0 or it is OVERLOAD: nothing is picked, unless `mh-fallback`, which tries
 * slot H(saddr, port, roffset) mod M for roffset = (k + primary slot) mod M, k = 0..M-1, taking the first
 * available real and giving up at an empty slot. An empty primary slot: nothing.
 *
 * Differences from IPVS, on purpose:
 * - Determinism: preference lists and passes go over the reals sorted by (address, port), not the IPVS list
 *   (newest first), so every director with the same reals builds the same table whatever the order they were
 *   added in (ipvs-semantics.md §6.4).
 * - Hash: not the kernel's hsiphash. H below is MurmurHash3_x86_32 over 6 bytes, see `mhHash`. ITS INPUT FORMAT
 *   AND SEEDS ARE FROZEN: changing either remaps every flow of every mh service and breaks table agreement
 *   between directors running different versions.
 */
import { gcd, hasPorts, sortedOrder } from './hash.js';
import {
  NO_REAL, RF_OVERLOAD, SCHED_FLAG_1, SCHED_FLAG_2, type FlowKey, type SchedParams, type SchedService, type Scheduler,
  type TableReal,
} from './scheduler.js';

/** IPVS's default table size (CONFIG_IP_VS_MH_TAB_INDEX = 12). */
export const DEFAULT_MH_TABLE_SIZE = 4093;
/** The sizes IPVS offers (primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]), plus Maglev's 65537. All prime. */
export const MH_TABLE_SIZES: readonly number[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 65537, 131071];
/** `-b mh-fallback` (IP_VS_SVC_F_SCHED_MH_FALLBACK). */
export const MH_FALLBACK = SCHED_FLAG_1;
/** `-b mh-port` (IP_VS_SVC_F_SCHED_MH_PORT). */
export const MH_PORT = SCHED_FLAG_2;
/** Seed of H (offsets and lookups; the fallback adds its roffset to it). Frozen. */
export const MH_SEED_1 = 2654435761;
/** Seed of H' (skips). Frozen. */
export const MH_SEED_2 = 2654446892;

export const mh: Scheduler<null> = {
  name: 'mh',
  flags: { 'mh-fallback': MH_FALLBACK, 'mh-port': MH_PORT },

  buildTable(reals: readonly TableReal[], _flags?: number, params?: SchedParams): Int32Array {
    return buildMaglevTable(reals, params?.mhTableSize ?? DEFAULT_MH_TABLE_SIZE);
  },

  init(): null {
    return null;
  },

  pick(svc: SchedService, _state: null, flow: FlowKey): number {
    const table = svc.table;
    if (table === null) return NO_REAL;
    const m = table.length;
    const addr = flow.saddr;
    const port = (svc.schedFlags & MH_PORT) !== 0 && hasPorts(flow.proto) ? flow.sport & 0xffff : 0;
    const ihash = mhHash(MH_SEED_1, addr, port) % m;
    let i = table[ihash];
    if (i < 0) return NO_REAL;
    if (svc.weight[i] > 0 && (svc.flags[i] & RF_OVERLOAD) === 0) return i;
    if ((svc.schedFlags & MH_FALLBACK) === 0) return NO_REAL;
    for (let k = 0; k < m; k++) {
      const roffset = (k + ihash) % m;
      i = table[mhHash((MH_SEED_1 + roffset) >>> 0, addr, port) % m];
      if (i < 0) return NO_REAL;
      if (svc.weight[i] > 0 && (svc.flags[i] & RF_OVERLOAD) === 0) return i;
    }
    return NO_REAL;
  },
};

/**
 * The Maglev lookup table of size `m` (a prime) for `reals` (IPVS list order): entries are indexes into `reals`,
 * -1 for an empty slot (only when no real has lastWeight > 0). Deterministic: depends on the set of reals, not
 * their order. Throws RangeError for an `m` that is not a prime >= 3 (a configuration error, caught at config
 * time on the control thread). With more reals than slots some reals get none (IPVS refuses that config with
 * EINVAL; the control thread should too).
 */
export function buildMaglevTable(reals: readonly TableReal[], m: number): Int32Array {
  if (!_isPrime(m) || m < 3) throw new RangeError(`mh table size must be a prime >= 3, got ${m}`);
  const table = new Int32Array(m).fill(NO_REAL);
  const order = sortedOrder(reals);
  let g = 0;
  let maxw = 0;
  for (const r of reals) {
    if (r.lastWeight > 0) g = g > 0 ? gcd(r.lastWeight, g) : r.lastWeight;
    if (r.lastWeight > maxw) maxw = r.lastWeight;
  }
  if (g < 1) return table;
  const shift = Math.max(0, _fls(Math.floor(maxw / g)) - mhWeightBits(m));

  const k = order.length;
  const next = new Float64Array(k); // next preferred slot of each real
  const skip = new Float64Array(k);
  const turns = new Int32Array(k);
  for (let j = 0; j < k; j++) {
    const r = reals[order[j]];
    next[j] = mhHash(MH_SEED_1, r.addr >>> 0, r.port & 0xffff) % m;
    skip[j] = (mhHash(MH_SEED_2, r.addr >>> 0, r.port & 0xffff) % (m - 1)) + 1;
    const lw = r.lastWeight;
    turns[j] = Math.floor(lw / g) >> shift || (lw !== 0 ? 1 : 0);
  }

  let filled = 0;
  for (;;) {
    for (let j = 0; j < k; j++) {
      for (let t = 0; t < turns[j]; t++) {
        let c = next[j];
        while (table[c] !== NO_REAL) {
          c += skip[j];
          if (c >= m) c -= m;
        }
        table[c] = order[j];
        next[j] = c;
        if (++filled === m) return table;
      }
    }
  }
}

/**
 * B for the turns rshift: IPVS uses CONFIG_IP_VS_MH_TAB_INDEX / 2 where its size is the prime just below
 * 2^INDEX; for any M that is floor(bitlength(M) / 2) (4093 → 6, 65521 → 8, 65537 → 8, 131071 → 8).
 */
export function mhWeightBits(m: number): number {
  return Math.floor(_fls(m) / 2);
}

/**
 * H(addr, port) with `seed`: MurmurHash3_x86_32 (Austin Appleby, public domain) of the 6 bytes
 * [addr as a little-endian uint32][port as a little-endian uint16], i.e. one 4-byte block k1 = addr (the host-
 * order value a<<24|b<<16|c<<8|d of a.b.c.d) and a 2-byte tail k1 = port. Returns an unsigned 32-bit integer.
 * FROZEN: see the file header.
 */
export function mhHash(seed: number, addr: number, port: number): number {
  let h = seed | 0;
  let k = Math.imul(addr | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  k = Math.imul(port & 0xffff, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h ^= 6;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Position of the highest set bit, 1-based; 0 for 0 (the kernel's fls). */
function _fls(x: number): number {
  return 32 - Math.clz32(x);
}

function _isPrime(m: number): boolean {
  if (!Number.isInteger(m) || m < 2) return false;
  for (let d = 2; d * d <= m; d++) if (m % d === 0) return false;
  return true;
}
