/**
 * wrr: Weighted Round Robin with gcd stepping (kernel ip_vs_wrr.c). Semantics in ipvs-semantics.md §2.2.
 *
 * State as in the kernel: `cl` (last chosen real, -1 = the list head), `di` = gcd of the weights > 0 (1 if
 * none), `mw` = max weight - (di - 1), `cw` = current threshold. A pick scans forward from after `cl` for the
 * first real without OVERLOAD and weight >= cw; each time the scan passes the list end, cw drops by di and the
 * scan restarts at the list start; when cw reaches 0 it wraps to mw, with the kernel's give-up rules (nothing
 * after a full `weight >= 1` sweep, or when the call began at the head; after a wrap, the final pass stops at
 * the real the call began at). Any real-set or weight change resets cl to the head and re-fits cw (`init`).
 *
 * Speed: the scan asks "first position >= p whose weight (0 if OVERLOAD) is >= cw". We answer it with a few
 * direct probes and then a max segment tree over the reals (O(log n)); passes that cannot find anything (cw
 * above every available weight) are skipped arithmetically. Both give exactly the positions the plain scan
 * visits first, so picks, cl and cw match the kernel step for step. OVERLOAD flips reach the tree through
 * `countsChanged`.
 */
import { gcd } from './hash.js';
import { NO_REAL, RF_OVERLOAD, type SchedService, type Scheduler } from './scheduler.js';

export interface WrrState {
  /** Index of the last chosen real, or -1 for the list head. */
  cl: number;
  cw: number;
  mw: number;
  di: number;
  /** `svc.realsKey` this state was made for. */
  key: string;
  /** Leaf count of `mx`, a power of two >= n. */
  size: number;
  /** Max segment tree: leaf size+i = weight of real i, or 0 while it is OVERLOAD; node v = max of 2v, 2v+1. */
  mx: Int32Array;
}

/** Marks "no stop real" in a pick. */
const NO_STOP = -2;
/** Direct probes before the tree descent (cheap when the next qualifying real is close). */
const PROBES = 4;

export const wrr: Scheduler<WrrState> = {
  name: 'wrr',

  init(svc: SchedService, prev: WrrState | undefined): WrrState {
    const n = svc.n;
    let g = 0;
    let maxw = 0;
    for (let i = 0; i < n; i++) {
      const w = svc.weight[i];
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > maxw) maxw = w;
    }
    const di = g > 0 ? g : 1;
    const mw = maxw - (di - 1);
    let cl = -1;
    let cw = mw;
    if (prev !== undefined && prev.key === svc.realsKey) {
      cl = prev.cl;
      cw = prev.cw;
    } else if (prev !== undefined) {
      // ip_vs_wrr_dest_changed: cl back to the head, cw kept if it still fits, aligned down to the new step.
      cw = prev.cw;
      if (cw > mw || cw === 0) cw = mw;
      else if (di > 1) cw = Math.floor(cw / di) * di + 1;
    }
    let size = 1;
    while (size < n) size <<= 1;
    const st: WrrState = { cl, cw, mw, di, key: svc.realsKey, size, mx: new Int32Array(2 * size) };
    for (let i = 0; i < n; i++) st.mx[size + i] = _avail(svc, i);
    for (let v = size - 1; v >= 1; v--) st.mx[v] = Math.max(st.mx[2 * v], st.mx[2 * v + 1]);
    return st;
  },

  pick(svc: SchedService, st: WrrState): number {
    const mw = st.mw;
    if (mw === 0) return NO_REAL;
    const n = svc.n;
    const di = st.di;
    const last = st.cl;
    let cw = st.cw;
    let stop = NO_STOP;
    let lastPass = false;
    let restarted = false;
    let p = last + 1;
    for (;;) {
      const q = _next(st, p, cw, n);
      if (stop >= p && stop < q) {
        // The final pass reached the real the call began at without a hit.
        st.cl = stop;
        st.cw = cw;
        return NO_REAL;
      }
      if (q < n) {
        st.cl = q;
        st.cw = cw;
        return q;
      }
      cw -= di;
      if (stop === NO_STOP) {
        // Full passes at a cw above every available weight find nothing and change nothing else (cw stays
        // > di >= 1): skip straight to the first cw that is not above max(available, di).
        const t = Math.max(st.mx[1], di);
        if (cw > t) cw -= Math.ceil((cw - t) / di) * di;
      }
      if (cw <= 0) {
        cw = mw;
        if (lastPass || last === -1) {
          st.cl = -1;
          st.cw = cw;
          return NO_REAL;
        }
        restarted = true;
      }
      lastPass = cw <= di;
      if (lastPass && restarted && last !== -1) stop = last;
      p = 0;
    }
  },

  countsChanged(svc: SchedService, st: WrrState, i: number): void {
    const w = _avail(svc, i);
    const mx = st.mx;
    let v = st.size + i;
    if (mx[v] === w) return;
    mx[v] = w;
    for (v >>= 1; v >= 1; v >>= 1) mx[v] = Math.max(mx[2 * v], mx[2 * v + 1]);
  },
};

/** Weight of real i as the scan sees it: 0 while OVERLOAD (cw >= 1 always, so 0 never qualifies). */
function _avail(svc: SchedService, i: number): number {
  return (svc.flags[i] & RF_OVERLOAD) === 0 && svc.weight[i] > 0 ? svc.weight[i] : 0;
}

/** First position q in [p, n) with available weight >= cw, or n. */
function _next(st: WrrState, p: number, cw: number, n: number): number {
  const mx = st.mx;
  const size = st.size;
  const end = Math.min(n, p + PROBES);
  for (; p < end; p++) if (mx[size + p] >= cw) return p;
  if (p >= n || mx[1] < cw) return n;
  let v = size + p;
  if (mx[v] >= cw) return p;
  for (;;) {
    while ((v & 1) === 1) v >>= 1; // climb while v is a right child
    if (v === 0) return n;
    v++; // its right sibling: the next positions
    if (mx[v] >= cw) break;
  }
  while (v < size) v = mx[2 * v] >= cw ? 2 * v : 2 * v + 1;
  return v - size;
}
