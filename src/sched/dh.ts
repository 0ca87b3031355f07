/**
 * dh: Destination Hashing (kernel ip_vs_dh.c). Semantics in ipvs-semantics.md §2.12.
 *
 * A table of 256 buckets, built on the control thread: bucket b holds the (b mod N)-th real. Weights are ignored
 * (a weight-0 real still owns buckets). A new conn goes to the real in bucket hash_32(daddr, 8); if that real has
 * weight 0 or is OVERLOAD, nothing is picked (no fallback, as in the kernel).
 *
 * Determinism (differs from IPVS on purpose): the buckets cycle through the reals sorted by (address, port), not
 * through the IPVS list (newest first), so every director with the same reals builds the same table whatever the
 * order they were added in (ipvs-semantics.md §6.4). The bucket hash is the kernel's hash_32, frozen (hash.ts).
 */
import { hash32, sortedOrder } from './hash.js';
import { NO_REAL, RF_OVERLOAD, type FlowKey, type SchedService, type Scheduler, type TableReal } from './scheduler.js';

export const DH_TAB_BITS = 8;
export const DH_TAB_SIZE = 1 << DH_TAB_BITS;

export const dh: Scheduler<null> = {
  name: 'dh',

  buildTable(reals: readonly TableReal[]): Int32Array {
    const table = new Int32Array(DH_TAB_SIZE).fill(NO_REAL);
    const order = sortedOrder(reals);
    if (order.length === 0) return table;
    for (let b = 0; b < DH_TAB_SIZE; b++) table[b] = order[b % order.length];
    return table;
  },

  init(): null {
    return null;
  },

  pick(svc: SchedService, _state: null, flow: FlowKey): number {
    const table = svc.table;
    if (table === null) return NO_REAL;
    const i = table[hash32(flow.daddr, DH_TAB_BITS)];
    if (i < 0 || svc.weight[i] <= 0 || (svc.flags[i] & RF_OVERLOAD) !== 0) return NO_REAL;
    return i;
  },
};
