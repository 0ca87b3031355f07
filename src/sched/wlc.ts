/**
 * wlc: Weighted Least Connection, ipvsadm's default (kernel ip_vs_wlc.c). Semantics in ipvs-semantics.md §2.4.
 *
 * Minimise overhead/weight with overhead = active*256 + inactive, compared by cross-multiplication so no division
 * or rounding is involved; the earliest real in list order (the newest added) wins ties. Weight-0 and OVERLOAD
 * reals never win. The kernel scans every real per pick; we keep the same answer in a LeastTree (least-tree.ts)
 * that `countsChanged` updates, so pick is O(1).
 */
import { LeastTree, NEVER, leastTreeScheduler } from './least-tree.js';
import { RF_OVERLOAD, type SchedService } from './scheduler.js';

export const wlc = leastTreeScheduler('wlc', wlcKey);

/** Real i's wlc key: overhead/weight, or CLS_NONE for weight 0 / OVERLOAD. Shared with lblc and lblcr. */
export function wlcKey(svc: SchedService, t: LeastTree, i: number, fix: boolean): void {
  const w = svc.weight[i];
  const ok = w > 0 && (svc.flags[i] & RF_OVERLOAD) === 0;
  const s = svc.slot[i];
  const num = ok ? svc.active[s] * 256 + svc.inactive[s] : NEVER;
  const den = ok ? w : 1;
  if (fix) t.update(i, num, den);
  else t.setKey(i, num, den);
}
