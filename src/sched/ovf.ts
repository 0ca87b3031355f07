/**
 * ovf: Weighted Overflow (kernel ip_vs_ovf.c). Semantics in ipvs-semantics.md §2.8.
 *
 * Candidates: weight > 0, no OVERLOAD, and active conns <= weight. The candidate with the highest weight wins,
 * the earliest in list order among equal weights. Not work-conserving: when every real has more active conns
 * than its weight, nothing is picked. Only active conns count (inactive ones, e.g. UDP, never fill a real).
 * O(1) pick from a LeastTree keyed by 1/weight, candidates only, kept current by `countsChanged`.
 */
import { LeastTree, NEVER, leastTreeScheduler } from './least-tree.js';
import { RF_OVERLOAD, type SchedService } from './scheduler.js';

export const ovf = leastTreeScheduler('ovf', _key);

function _key(svc: SchedService, t: LeastTree, i: number, fix: boolean): void {
  const w = svc.weight[i];
  const ok = w > 0 && (svc.flags[i] & RF_OVERLOAD) === 0 && svc.active[svc.slot[i]] <= w;
  if (fix) t.update(i, ok ? 1 : NEVER, ok ? w : 1);
  else t.setKey(i, ok ? 1 : NEVER, ok ? w : 1);
}
