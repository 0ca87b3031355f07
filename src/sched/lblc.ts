/**
 * lblc: Locality-Based Least-Connection (kernel ip_vs_lblc.c). Semantics in ipvs-semantics.md §2.10.
 *
 * A per-service cache maps the packet's destination address to a real. On a hit (lastuse = now) the cached
 * real is used if it is still in the service, has weight > 0 and is not overloaded in lblc's sense (more active
 * conns than its weight while some real has fewer than half its weight); the OVERLOAD flag is NOT checked for
 * it. Otherwise the wlc rule picks over the whole service (skipping weight 0 and OVERLOAD) and the entry is
 * created or re-pointed. Entries expire as the kernel's 60 s timer does (locality.ts), run from `tick` or `pick`
 * by `nowMs`, never from a timer of our own.
 *
 * O(1) per pick: the cache is a hash lookup, the wlc pick is the LeastTree (least-tree.ts), and "some real below
 * half its weight" is a counter; `countsChanged` keeps both current.
 */
import {
  LOCALITY_DEFAULTS, LocalityTable, initLocalityState, lblcOverloaded, updateUnder, type LocalityParams, type LocalityState,
} from './locality.js';
import { NO_REAL, type FlowKey, type SchedService, type Scheduler } from './scheduler.js';
import { wlcKey } from './wlc.js';

/** lblc with other expiry parameters (tests use small ones); `lblc` below is the kernel's. */
export function createLblc(params: LocalityParams = LOCALITY_DEFAULTS): Scheduler<LocalityState> {
  return {
    name: 'lblc',

    init(svc: SchedService, prev: LocalityState | undefined): LocalityState {
      const table = prev?.table ?? new LocalityTable(params);
      return initLocalityState(svc, table);
    },

    pick(svc: SchedService, st: LocalityState, flow: FlowKey, nowMs: number): number {
      const tb = st.table;
      tb.runDue(nowMs);
      const daddr = flow.daddr >>> 0;
      const e = tb.find(daddr);
      if (e >= 0) {
        tb.eLastuse[e] = nowMs;
        const i = tb.kIdx[tb.nReal[tb.eHead[e]]];
        if (i >= 0 && svc.weight[i] > 0 && !lblcOverloaded(svc, st, i)) return i;
      }
      const i = st.tree.winner();
      if (i === NO_REAL) return NO_REAL;
      if (e >= 0) tb.setMember(tb.eHead[e], tb.idOf[i]);
      else tb.create(daddr, tb.idOf[i], nowMs);
      return i;
    },

    countsChanged(svc: SchedService, st: LocalityState, i: number): void {
      wlcKey(svc, st.tree, i, true);
      updateUnder(svc, st, i);
    },

    tick(_svc: SchedService, st: LocalityState, nowMs: number): void {
      st.table.runDue(nowMs);
      st.table.reserve();
    },
  };
}

export const lblc: Scheduler<LocalityState> = createLblc();
