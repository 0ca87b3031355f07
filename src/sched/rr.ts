/**
 * rr: Round Robin (kernel ip_vs_rr.c). Semantics in ipvs-semantics.md §2.1.
 *
 * IPVS keeps a pointer to the last chosen list node (initially the list head) and walks forward from the node
 * after it, wrapping once, returning the first real with weight > 0 and not overloaded. We keep the same pointer
 * as an index into the snapshot's arrays (-1 = the list head).
 */
import { NO_REAL, RF_OVERLOAD, type SchedService, type Scheduler } from './scheduler.js';

/** Per-service rr state: the pointer, plus the slot array it indexes (to follow reals across snapshots). */
export interface RrState {
  /** Index of the last chosen real in `slots` order, or -1 for the list head. */
  last: number;
  /** `svc.slot` of the snapshot this state was made for. */
  slots: Int32Array;
}

export const rr: Scheduler<RrState> = {
  name: 'rr',

  init(svc: SchedService, prev: RrState | undefined): RrState {
    return { last: prev === undefined ? -1 : _carryPointer(prev, svc.slot), slots: svc.slot };
  },

  pick(svc: SchedService, state: RrState): number {
    const n = svc.n;
    const weight = svc.weight;
    const flags = svc.flags;
    // Candidates in order: last+1 .. n-1, then 0 .. last (the last pick itself comes last, as in the kernel).
    let i = state.last;
    for (let k = 0; k < n; k++) {
      i = i + 1 === n ? 0 : i + 1;
      if (weight[i] > 0 && (flags[i] & RF_OVERLOAD) === 0) {
        state.last = i;
        return i;
      }
    }
    return NO_REAL;
  },
};

/**
 * Maps the pointer into the new snapshot, by real identity (slot).
 * - The last chosen real still exists: point at it (reals only ever move because of adds at the head).
 * - It was deleted: the kernel moves the pointer to the previous list node (ip_vs_rr_del_dest), so the next walk
 *   starts at the real that followed it. We start at the first real after it in the old order that still exists,
 *   or at the head when none does. This is exact when a snapshot carries one change; when a snapshot also adds
 *   reals, the kernel's answer depends on the order of the add and the delete, which a snapshot does not record.
 */
function _carryPointer(prev: RrState, slots: Int32Array): number {
  const old = prev.slots;
  if (prev.last < 0 || prev.last >= old.length) return -1;
  for (let j = prev.last; j < old.length; j++) {
    const at = slots.indexOf(old[j]);
    if (at >= 0) return j === prev.last ? at : at - 1;
  }
  return -1;
}
