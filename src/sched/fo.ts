/**
 * fo: Weighted Failover (kernel ip_vs_fo.c). Semantics in ipvs-semantics.md §2.7.
 *
 * The real with the highest weight among those with weight > 0 and no OVERLOAD; the earliest in list order
 * among equal weights (strict `>` in the kernel). Conn counts play no part. The answer only moves when an
 * OVERLOAD flag flips (`countsChanged`) or weights change (a new snapshot, `init`), so it sits in a LeastTree
 * keyed by 1/weight and pick is O(1).
 */
import { LeastTree, NEVER, leastTreeScheduler } from './least-tree.js';
import { RF_OVERLOAD, type SchedService } from './scheduler.js';

export const fo = leastTreeScheduler('fo', _key);

function _key(svc: SchedService, t: LeastTree, i: number, fix: boolean): void {
  const w = svc.weight[i];
  const ok = w > 0 && (svc.flags[i] & RF_OVERLOAD) === 0;
  if (fix) t.update(i, ok ? 1 : NEVER, ok ? w : 1);
  else t.setKey(i, ok ? 1 : NEVER, ok ? w : 1);
}
