/**
 * fo: Weighted Failover (kernel ip_vs_fo.c). Semantics in ipvs-semantics.md §2.7.
 *
 * The real with the highest weight among those with weight > 0 and no OVERLOAD; the earliest in list order
 * among equal weights (strict `>` in the kernel). Conn counts play no part. The answer only moves when an
 * OVERLOAD flag flips (`countsChanged`) or weights change (a new snapshot, `init`), so it sits in a LeastTree
 * keyed by 1/weight and pick is O(1).
 */
import { LeastTree, NEVER } from './least-tree.js';
import { RF_OVERLOAD, type SchedService, type Scheduler } from './scheduler.js';

export const fo: Scheduler<LeastTree> = {
  name: 'fo',

  init(svc: SchedService): LeastTree {
    const t = new LeastTree(svc.n);
    for (let i = 0; i < svc.n; i++) _key(svc, t, i, false);
    t.build();
    return t;
  },

  pick(_svc: SchedService, t: LeastTree): number {
    return t.winner();
  },

  countsChanged(svc: SchedService, t: LeastTree, i: number): void {
    _key(svc, t, i, true);
  },
};

function _key(svc: SchedService, t: LeastTree, i: number, fix: boolean): void {
  const w = svc.weight[i];
  const ok = w > 0 && (svc.flags[i] & RF_OVERLOAD) === 0;
  if (fix) t.update(i, ok ? 1 : NEVER, ok ? w : 1);
  else t.setKey(i, ok ? 1 : NEVER, ok ? w : 1);
}
