/**
 * Naive reference schedulers, written straight from ipvs-semantics.md §2 and deliberately shaped unlike the
 * product code (plain objects, array filters, BigInt arithmetic, ids instead of indexes). Property tests replay
 * the same events against a product scheduler and an oracle and compare pick by pick.
 *
 * Every oracle reads a list of reals in IPVS list order (index 0 = newest added) and answers with a real id, or
 * undefined for "no real".
 */

/** What an oracle needs to know about a real. */
export interface OracleReal {
  readonly id: number;
  readonly weight: number;
  readonly active: number;
  readonly inactive: number;
  readonly overload: boolean;
}

/** §2.0: a scheduler may pick a real only if it is not quiescent (weight 0) and not overloaded. */
export function isEligible(r: OracleReal): boolean {
  return r.weight > 0 && !r.overload;
}

/** §2.0: overhead = activeconns * 256 + inactconns, exact. */
export function overhead(r: OracleReal): bigint {
  return BigInt(r.active) * 256n + BigInt(r.inactive);
}

/**
 * §2.1 rr. The state is "the last chosen real", or the list head before any pick. A pick walks the list starting
 * just after that real, wrapping around, and takes the first eligible real. When the pointed-at real is deleted
 * the pointer moves to the real before it in the list (or to the head if it was first).
 */
export class RrOracle {
  private pointer: number | 'head' = 'head';

  pick(list: readonly OracleReal[]): number | undefined {
    const start = this.pointer === 'head' ? 0 : list.findIndex((r) => r.id === this.pointer) + 1;
    const walk = [...list.slice(start), ...list.slice(0, start)];
    const chosen = walk.find(isEligible);
    if (chosen !== undefined) this.pointer = chosen.id;
    return chosen?.id;
  }

  /** Call with the list as it is *before* the real with `id` is removed. */
  beforeRemove(list: readonly OracleReal[], id: number): void {
    if (this.pointer !== id) return;
    const at = list.findIndex((r) => r.id === id);
    this.pointer = at <= 0 ? 'head' : list[at - 1].id;
  }
}

/**
 * §2.4 wlc: among eligible reals, the one with the smallest overhead/weight; the earliest in the list wins ties.
 * Ratios are compared exactly: c is minimal iff overhead(c) * w(d) <= overhead(d) * w(c) for every candidate d.
 */
export function wlcOracle(list: readonly OracleReal[]): number | undefined {
  const candidates = list.filter(isEligible);
  const minimal = candidates.filter((c) =>
    candidates.every((d) => overhead(c) * BigInt(d.weight) <= overhead(d) * BigInt(c.weight)),
  );
  return minimal[0]?.id;
}

/** The rr sequence over a fixed list from a fresh pointer: ids of `count` consecutive picks. */
export function rrSequence(list: readonly OracleReal[], count: number): (number | undefined)[] {
  const o = new RrOracle();
  return Array.from({ length: count }, () => o.pick(list));
}
