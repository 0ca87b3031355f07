/**
 * wlc: Weighted Least Connection, ipvsadm's default (kernel ip_vs_wlc.c). Semantics in ipvs-semantics.md §2.4.
 *
 * Minimise overhead/weight with overhead = active*256 + inactive, compared by cross-multiplication so no division
 * or rounding is involved; strict `>` makes the earliest real in list order (the newest added) win ties.
 */
import { NO_REAL, RF_OVERLOAD, type SchedService, type Scheduler } from './scheduler.js';

export const wlc: Scheduler<null> = {
  name: 'wlc',

  init(): null {
    return null;
  },

  pick(svc: SchedService): number {
    const n = svc.n;
    const weight = svc.weight;
    const flags = svc.flags;
    const slot = svc.slot;
    const active = svc.active;
    const inactive = svc.inactive;

    let i = 0;
    while (i < n && ((flags[i] & RF_OVERLOAD) !== 0 || weight[i] <= 0)) i++;
    if (i === n) return NO_REAL;

    let least = i;
    let lw = weight[i];
    let s = slot[i];
    let loh = active[s] * 256 + inactive[s];
    for (i++; i < n; i++) {
      if ((flags[i] & RF_OVERLOAD) !== 0) continue;
      // A weight-0 real never wins: the left side is 0. Doubles are exact here: both products stay below 2^53
      // while overhead < 2^53 / 65535 (about 1.4e11), i.e. up to ~5.4e8 active conns per real per worker; the
      // kernel uses signed 64-bit for the same products.
      s = slot[i];
      const doh = active[s] * 256 + inactive[s];
      const w = weight[i];
      if (loh * w > doh * lw) {
        least = i;
        loh = doh;
        lw = w;
      }
    }
    return least;
  },
};
