/**
 * sed: Shortest Expected Delay (kernel ip_vs_sed.c). Semantics in ipvs-semantics.md §2.5.
 *
 * Minimise (active + 1)/weight (inactive conns ignored) over reals with weight > 0 and no OVERLOAD, by
 * cross-multiplication; the earliest real in list order wins ties. O(1) pick from a LeastTree kept current by
 * `countsChanged` (see least-tree.ts).
 */
import { LeastTree, NEVER, leastTreeScheduler } from './least-tree.js';
import { RF_OVERLOAD, type SchedService } from './scheduler.js';

export const sed = leastTreeScheduler('sed', _key);

function _key(svc: SchedService, t: LeastTree, i: number, fix: boolean): void {
  const w = svc.weight[i];
  const ok = w > 0 && (svc.flags[i] & RF_OVERLOAD) === 0;
  const num = ok ? svc.active[svc.slot[i]] + 1 : NEVER;
  const den = ok ? w : 1;
  if (fix) t.update(i, num, den);
  else t.setKey(i, num, den);
}
