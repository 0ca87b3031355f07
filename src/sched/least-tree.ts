/**
 * LeastTree: the O(1)-pick index behind lc, wlc, sed, nq, fo, ovf and the fresh picks of lblc/lblcr.
 *
 * The kernel finds "the earliest real with the least ratio" by scanning every real per new connection. We keep
 * a tournament (winner) tree over the reals in list order instead: leaf i holds real i's key, each inner node
 * the index of the better of its two children, so the root is the answer and `pick` only reads it. A count or
 * OVERLOAD change of one real replays its leaf-to-root path: O(log n), and it stops as soon as a node keeps a
 * winner whose key did not change. `init` rebuilds the whole tree: O(n).
 *
 * A key is a ratio num/den (den > 0); the smaller wins, compared by cross-multiplication
 * (num(b)*den(a) < num(a)*den(b)), never divided; on a tie the left child wins, and the left child always holds
 * the lower list positions, so the root is the earliest minimum, exactly as the kernel's strict-`>` scan.
 * A real that may not be picked (weight 0, OVERLOAD, ...) gets num = NEVER (+Infinity, den 1): it loses to
 * every finite key, two of them compare equal (Infinity < Infinity is false), and a NEVER root means NO_REAL.
 * Doubles are exact while num*den < 2^53, i.e. overhead below ~1.4e11 (about 5.4e8 active conns per real per
 * worker) for den up to 65535 - the same bound the plain scan has.
 *
 * The tree is complete with P = 2^k >= n leaves; leaves n..P-1 are padding with NEVER. Node 1 is the root, node
 * v has children 2v and 2v+1, leaf i is node P+i.
 */
import { NO_REAL, type SchedService, type Scheduler } from './scheduler.js';

/** Key numerator of a real that must never be picked. */
export const NEVER = Infinity;

export class LeastTree {
  /** Number of reals (leaves in use). */
  readonly n: number;
  /** Leaf count, a power of two >= max(n, 1). */
  readonly size: number;
  /**
   * Key of node v: num[v] / den[v]. Leaf P+i holds real i's key; an inner node holds a copy of its winner's key,
   * so a comparison reads the two children's slots side by side instead of chasing winner indexes.
   */
  readonly num: Float64Array;
  readonly den: Float64Array;
  /** win[v] = index of the winning real in the subtree of node v (win[P+i] = i). */
  readonly win: Int32Array;

  constructor(n: number) {
    let size = 1;
    while (size < n) size <<= 1;
    this.n = n;
    this.size = size;
    this.num = new Float64Array(2 * size).fill(NEVER);
    this.den = new Float64Array(2 * size).fill(1);
    this.win = new Int32Array(2 * size);
    for (let i = 0; i < size; i++) this.win[size + i] = i;
  }

  /** Sets real i's key without fixing the tree (for bulk loading; call `build` after). */
  setKey(i: number, num: number, den: number): void {
    this.num[this.size + i] = num;
    this.den[this.size + i] = den;
  }

  /** Recomputes every inner node, bottom-up. */
  build(): void {
    const W = this.win;
    const N = this.num;
    const D = this.den;
    for (let v = this.size - 1; v >= 1; v--) {
      const l = 2 * v;
      const c = N[l + 1] * D[l] < N[l] * D[l + 1] ? l + 1 : l;
      W[v] = W[c];
      N[v] = N[c];
      D[v] = D[c];
    }
  }

  /**
   * Sets real i's key and replays its path to the root, unless the key did not change. The replay stops at the
   * first node whose winner stays the same and is not i: everything above it sees the same inputs.
   */
  update(i: number, num: number, den: number): void {
    const W = this.win;
    const N = this.num;
    const D = this.den;
    let v = this.size + i;
    if (N[v] === num && D[v] === den) return;
    N[v] = num;
    D[v] = den;
    for (v >>= 1; v >= 1; v >>= 1) {
      const l = 2 * v;
      // The left child holds the lower list positions: the right one only if strictly better.
      const c = N[l + 1] * D[l] < N[l] * D[l + 1] ? l + 1 : l;
      const w = W[c];
      if (w === W[v] && w !== i) return;
      W[v] = w;
      N[v] = N[c];
      D[v] = D[c];
    }
  }

  /** The earliest real with the least key, or NO_REAL when every real is NEVER. */
  winner(): number {
    return this.num[1] === NEVER ? NO_REAL : this.win[1];
  }
}

/** Sets real i's key in `t`: `fix` after a change (O(log n) update), else while building (setKey). */
export type TreeKey = (svc: SchedService, t: LeastTree, i: number, fix: boolean) => void;

/**
 * A scheduler whose pick is the winner of a LeastTree over the reals: the shape lc, wlc, sed, nq, fo and ovf
 * share. They differ only in the key (the ratio each minimises, NEVER for reals it must not pick), so each file
 * is its key plus this.
 */
export function leastTreeScheduler(name: string, key: TreeKey): Scheduler<LeastTree> {
  return {
    name,
    init(svc: SchedService): LeastTree {
      const t = new LeastTree(svc.n);
      for (let i = 0; i < svc.n; i++) key(svc, t, i, false);
      t.build();
      return t;
    },
    pick(_svc: SchedService, t: LeastTree): number {
      return t.winner();
    },
    countsChanged(svc: SchedService, t: LeastTree, i: number): void {
      key(svc, t, i, true);
    },
  };
}
