/**
 * lblcr: Locality-Based Least-Connection with Replication (kernel ip_vs_lblcr.c). Semantics in
 * ipvs-semantics.md §2.11.
 *
 * The cache maps the packet's destination address to a server set (newest member first). With an entry
 * (lastuse = now):
 * 1. `least` = the set's weighted least-conn member: members still in the service, weight > 0, not OVERLOAD;
 *    overhead/weight minimal, the earliest member on ties.
 * 2. If the set has more than one member and it was last modified more than the expiration (24 h) ago, the
 *    member with the largest overhead/weight among those with weight > 0 (OVERLOAD and removal not checked,
 *    earliest on ties) is dropped and lastmod = now. This happens after step 1: the dropped member may still
 *    serve this conn.
 * 3. `least` is used if it exists and is not overloaded in lblc's sense (see lblc.ts). Otherwise the wlc rule
 *    picks over the whole service and the pick joins the set (at its head, lastmod = now) unless already in it.
 * Without an entry: the wlc pick, and a new entry with a one-member set. Expiry as lblc (locality.ts).
 *
 * Cost: the cache lookup and the fresh wlc pick are O(1) (hash chain, LeastTree); steps 1 and 2 walk the set,
 * which holds the few reals that served this destination.
 */
import {
  LOCALITY_DEFAULTS, LocalityTable, initLocalityState, lblcOverloaded, updateUnder, type LocalityParams, type LocalityState,
} from './locality.js';
import { NO_REAL, RF_OVERLOAD, type FlowKey, type SchedService, type Scheduler } from './scheduler.js';
import { wlcKey } from './wlc.js';

/** lblcr with other expiry parameters (tests use small ones); `lblcr` below is the kernel's. */
export function createLblcr(params: LocalityParams = LOCALITY_DEFAULTS): Scheduler<LocalityState> {
  const expirationMs = params.expirationMs;
  return {
    name: 'lblcr',

    init(svc: SchedService, prev: LocalityState | undefined): LocalityState {
      return initLocalityState(svc, prev?.table ?? new LocalityTable(params));
    },

    pick(svc: SchedService, st: LocalityState, flow: FlowKey, nowMs: number): number {
      const tb = st.table;
      tb.runDue(nowMs);
      const daddr = flow.daddr >>> 0;
      const e = tb.find(daddr);
      if (e < 0) {
        const i = st.tree.winner();
        if (i !== NO_REAL) tb.create(daddr, tb.idOf[i], nowMs);
        return i;
      }
      tb.eLastuse[e] = nowMs;
      const least = _setMin(svc, tb, e);
      if (tb.eSize[e] > 1 && nowMs > tb.eLastmod[e] + expirationMs) {
        const most = _setMax(svc, tb, e);
        if (most >= 0) tb.eraseMember(e, most, nowMs);
      }
      if (least >= 0 && !lblcOverloaded(svc, st, least)) return least;
      const i = st.tree.winner();
      if (i !== NO_REAL) tb.insertMember(e, tb.idOf[i], nowMs);
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

export const lblcr: Scheduler<LocalityState> = createLblcr();

/** ip_vs_dest_set_min: index of the set's weighted least-conn available member, or -1. */
function _setMin(svc: SchedService, tb: LocalityTable, e: number): number {
  const weight = svc.weight;
  const flags = svc.flags;
  const slot = svc.slot;
  const active = svc.active;
  const inactive = svc.inactive;
  let least = -1;
  let loh = 0;
  let lw = 0;
  for (let node = tb.eHead[e]; node !== -1; node = tb.nNext[node]) {
    const i = tb.kIdx[tb.nReal[node]];
    if (i < 0 || (flags[i] & RF_OVERLOAD) !== 0) continue;
    const w = weight[i];
    const s = slot[i];
    const doh = active[s] * 256 + inactive[s];
    if (least < 0) {
      if (w > 0) {
        least = i;
        loh = doh;
        lw = w;
      }
    } else if (loh * w > doh * lw) {
      least = i;
      loh = doh;
      lw = w;
    }
  }
  return least;
}

/**
 * ip_vs_dest_set_max: member node of the set's weighted most-loaded member with weight > 0 (removed members
 * included, with the weight they had and the conns still on their slot), or -1.
 */
function _setMax(svc: SchedService, tb: LocalityTable, e: number): number {
  let most = -1;
  let moh = 0;
  let mw = 0;
  for (let node = tb.eHead[e]; node !== -1; node = tb.nNext[node]) {
    const id = tb.nReal[node];
    const i = tb.kIdx[id];
    const w = i >= 0 ? svc.weight[i] : tb.kWeight[id];
    const s = i >= 0 ? svc.slot[i] : tb.kSlot[id];
    const doh = s >= 0 ? svc.active[s] * 256 + svc.inactive[s] : 0;
    if (most < 0) {
      if (w > 0) {
        most = node;
        moh = doh;
        mw = w;
      }
    } else if (w > 0 && moh * w < doh * mw) {
      most = node;
      moh = doh;
      mw = w;
    }
  }
  return most;
}
