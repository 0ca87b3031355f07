/**
 * nq: Never Queue (kernel ip_vs_nq.c). Semantics in ipvs-semantics.md §2.6.
 *
 * Among reals with weight > 0 and no OVERLOAD, the first in list order with no active conn wins outright;
 * otherwise sed's rule: minimise (active + 1)/weight, earliest on ties. In the LeastTree's ratio keys that is:
 * idle reals (ratio 0, so the earliest idle one wins) before busy ones (sed's ratio, always > 0).
 */
import { LeastTree, NEVER, leastTreeScheduler } from './least-tree.js';
import { RF_OVERLOAD, type SchedService } from './scheduler.js';

export const nq = leastTreeScheduler('nq', _key);

function _key(svc: SchedService, t: LeastTree, i: number, fix: boolean): void {
  const w = svc.weight[i];
  const a = svc.active[svc.slot[i]];
  const ok = w > 0 && (svc.flags[i] & RF_OVERLOAD) === 0;
  // Idle reals get ratio 0: they beat every busy one ((a+1)/w > 0) and tie among themselves (earliest wins).
  const num = !ok ? NEVER : a === 0 ? 0 : a + 1;
  const den = ok && a !== 0 ? w : 1;
  if (fix) t.update(i, num, den);
  else t.setKey(i, num, den);
}
