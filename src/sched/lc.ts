/**
 * lc: Least Connection (kernel ip_vs_lc.c). Semantics in ipvs-semantics.md §2.3.
 *
 * Minimise overhead = active*256 + inactive over reals with weight > 0 and no OVERLOAD; the weight's size is
 * ignored; the earliest real in list order wins ties (strict `<` in the kernel). O(1) pick from a LeastTree kept
 * current by `countsChanged` (see least-tree.ts).
 */
import { LeastTree, NEVER, leastTreeScheduler } from './least-tree.js';
import { RF_OVERLOAD, type SchedService } from './scheduler.js';

export const lc = leastTreeScheduler('lc', _key);

function _key(svc: SchedService, t: LeastTree, i: number, fix: boolean): void {
  const s = svc.slot[i];
  const ok = svc.weight[i] > 0 && (svc.flags[i] & RF_OVERLOAD) === 0;
  const num = ok ? svc.active[s] * 256 + svc.inactive[s] : NEVER;
  if (fix) t.update(i, num, 1);
  else t.setKey(i, num, 1);
}
