/**
 * sh: Source Hashing (kernel ip_vs_sh.c). Semantics in ipvs-semantics.md §2.13.
 *
 * A table of 256 buckets, built on the control thread: walking the reals, each fills `weight` consecutive
 * buckets (a weight-0 real fills one), cycling until all 256 are filled. A new conn goes to the real in bucket
 * hashkey(saddr, port, 0), where hashkey(a, p, offset) = (offset + hash_32(p + a, 8)) & 255 and p is the source
 * port with `sh-port` (TCP/UDP/SCTP only; 0 otherwise, and 0 without the flag).
 * A real is unavailable when its weight is 0 or it is OVERLOAD. Unavailable (or an empty table): nothing, unless
 * `sh-fallback`, which then tries hashkey(.., roffset) for roffset = (k + primary bucket) mod 256, k = 0..255,
 * taking the first available real and giving up at an empty bucket.
 *
 * Determinism (differs from IPVS on purpose): the table walks the reals sorted by (address, port), not the IPVS
 * list (newest first), so every director with the same reals builds the same table whatever the order they were
 * added in (ipvs-semantics.md §6.4). The bucket hash is the kernel's hash_32, frozen (hash.ts).
 */
import { hash32, hasPorts, sortedOrder } from './hash.js';
import {
  NO_REAL, RF_OVERLOAD, SCHED_FLAG_1, SCHED_FLAG_2, type FlowKey, type SchedService, type Scheduler, type TableReal,
} from './scheduler.js';

export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;
/** `-b sh-fallback` (IP_VS_SVC_F_SCHED_SH_FALLBACK). */
export const SH_FALLBACK = SCHED_FLAG_1;
/** `-b sh-port` (IP_VS_SVC_F_SCHED_SH_PORT). */
export const SH_PORT = SCHED_FLAG_2;

export const sh: Scheduler<null> = {
  name: 'sh',
  flags: { 'sh-fallback': SH_FALLBACK, 'sh-port': SH_PORT },

  buildTable(reals: readonly TableReal[]): Int32Array {
    const table = new Int32Array(SH_TAB_SIZE).fill(NO_REAL);
    const order = sortedOrder(reals);
    if (order.length === 0) return table;
    let k = 0;
    let filled = 0;
    for (let b = 0; b < SH_TAB_SIZE; b++) {
      const i = order[k];
      table[b] = i;
      // Move on once this real has `weight` buckets (a weight-0 real gets one).
      if (++filled >= reals[i].weight) {
        k = k + 1 === order.length ? 0 : k + 1;
        filled = 0;
      }
    }
    return table;
  },

  init(): null {
    return null;
  },

  pick(svc: SchedService, _state: null, flow: FlowKey): number {
    const table = svc.table;
    if (table === null) return NO_REAL;
    const port = (svc.schedFlags & SH_PORT) !== 0 && hasPorts(flow.proto) ? flow.sport & 0xffff : 0;
    const h = hash32((port + flow.saddr) >>> 0, SH_TAB_BITS);
    let i = table[h];
    if (i < 0) return NO_REAL;
    if (svc.weight[i] > 0 && (svc.flags[i] & RF_OVERLOAD) === 0) return i;
    if ((svc.schedFlags & SH_FALLBACK) === 0) return NO_REAL;
    for (let k = 0; k < SH_TAB_SIZE; k++) {
      const roffset = (k + h) & (SH_TAB_SIZE - 1);
      i = table[(roffset + h) & (SH_TAB_SIZE - 1)];
      if (i < 0) return NO_REAL;
      if (svc.weight[i] > 0 && (svc.flags[i] & RF_OVERLOAD) === 0) return i;
    }
    return NO_REAL;
  },
};
