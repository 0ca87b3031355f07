import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rr } from '../../../src/sched/rr.js';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { RrOracle, rrSequence } from '../../helpers/oracles.js';
import { realSpecsArb, replay, SchedHarness, schedEventArb, type RealSpec } from '../../helpers/sched-harness.js';

/** Addresses of `count` consecutive picks (undefined for NO_REAL). */
function picks(h: SchedHarness, count: number): (string | undefined)[] {
  return Array.from({ length: count }, () => {
    const i = h.pick();
    return i === NO_REAL ? undefined : NAMES[h.reals[i].addr & 0xff];
  });
}

// Real A is 10.0.0.1, B 10.0.0.2, ... so picks read as letters.
const NAMES = ' ABCDEFGH';
const real = (name: string, weight = 1): RealSpec => ({ addr: `10.0.0.${NAMES.indexOf(name)}`, weight });

/** A harness whose reals were added in the order given (so the IPVS list is that order reversed). */
function addedInOrder(...reals: RealSpec[]): SchedHarness {
  const h = new SchedHarness(rr, []);
  for (const r of reals) h.addReal(r);
  return h;
}

describe('rr', () => {
  describe('picks', () => {
    it('walks the list newest-added first, because IPVS inserts reals at the head (§2.0, §2.1)', () => {
      const h = addedInOrder(real('A'), real('B'), real('C'));
      expect(picks(h, 7)).toEqual(['C', 'B', 'A', 'C', 'B', 'A', 'C']);
    });

    it('ignores weights other than 0', () => {
      const h = addedInOrder(real('A', 5), real('B', 1), real('C', 100));
      expect(picks(h, 3)).toEqual(['C', 'B', 'A']);
    });

    it('skips quiescent (weight 0) reals', () => {
      const h = addedInOrder(real('A'), real('B', 0), real('C'));
      expect(picks(h, 4)).toEqual(['C', 'A', 'C', 'A']);
    });

    it('skips overloaded reals and takes them back when the flag clears', () => {
      const h = addedInOrder(real('A'), real('B'), real('C'));
      h.setOverload(0, true); // C
      expect(picks(h, 3)).toEqual(['B', 'A', 'B']);
      h.setOverload(0, false);
      expect(picks(h, 3)).toEqual(['A', 'C', 'B']);
    });

    it('keeps picking the only eligible real (the walk ends on the last pick itself)', () => {
      const h = addedInOrder(real('A', 0), real('B'), real('C', 0));
      expect(picks(h, 3)).toEqual(['B', 'B', 'B']);
    });

    it('returns NO_REAL when every real is quiescent or overloaded, and does not move the pointer', () => {
      const h = addedInOrder(real('A'), real('B'), real('C'));
      expect(picks(h, 1)).toEqual(['C']);
      h.setOverload(1, true); // B
      h.setWeight(2, 0); // A
      h.setOverload(0, true); // C
      expect(picks(h, 2)).toEqual([undefined, undefined]);
      h.setOverload(1, false);
      h.setOverload(0, false);
      expect(picks(h, 2)).toEqual(['B', 'C']);
    });

    it('returns NO_REAL for a service without reals', () => {
      expect(new SchedHarness(rr, []).pick()).toBe(NO_REAL);
    });
  });

  describe('across configuration changes', () => {
    it('reaches a new real (added at the head) only after the walk wraps', () => {
      const h = addedInOrder(real('A'), real('B'), real('C'));
      expect(picks(h, 2)).toEqual(['C', 'B']);
      h.addReal(real('D'));
      expect(picks(h, 5)).toEqual(['A', 'D', 'C', 'B', 'A']);
    });

    it('continues after the deleted last pick with the real that followed it (pointer moves to the previous node)', () => {
      const h = addedInOrder(real('A'), real('B'), real('C'), real('D')); // D C B A
      expect(picks(h, 2)).toEqual(['D', 'C']);
      h.removeReal(1); // C
      expect(picks(h, 3)).toEqual(['B', 'A', 'D']);
    });

    it('starts at the head when the deleted last pick was first in the list', () => {
      const h = addedInOrder(real('A'), real('B'), real('C')); // C B A
      expect(picks(h, 1)).toEqual(['C']);
      h.removeReal(0);
      expect(picks(h, 3)).toEqual(['B', 'A', 'B']);
    });

    it('wraps to the head when the deleted last pick was last in the list', () => {
      const h = addedInOrder(real('A'), real('B'), real('C')); // C B A
      expect(picks(h, 3)).toEqual(['C', 'B', 'A']);
      h.removeReal(2);
      expect(picks(h, 2)).toEqual(['C', 'B']);
    });

    it('keeps its place through weight edits and unchanged snapshots', () => {
      const h = addedInOrder(real('A'), real('B'), real('C'));
      expect(picks(h, 1)).toEqual(['C']);
      h.setWeight(2, 7); // A
      h.resnapshot();
      expect(picks(h, 3)).toEqual(['B', 'A', 'C']);
    });
  });

  describe('matches the oracle', () => {
    it('on a fixed list', () => {
      const h = addedInOrder(real('A'), real('B', 0), real('C'), real('D'));
      const expected = rrSequence(h.model(), 9).map((id) => (id === undefined ? NO_REAL : h.indexOf(id)));
      expect(Array.from({ length: 9 }, () => h.pick())).toEqual(expected);
    });

    it('pick by pick over random conns, closes, weight edits, adds, removes and overloads', () => {
      fc.assert(
        fc.property(realSpecsArb(), fc.array(schedEventArb(), { maxLength: 120, size: 'max' }), (initial, events) => {
          const h = new SchedHarness(rr, initial);
          const oracle = new RrOracle();
          replay(h, events, {
            beforeRemove: (i) => oracle.beforeRemove(h.model(), h.reals[i].id),
            onPick: (picked) => {
              const want = oracle.pick(h.model());
              expect(picked === NO_REAL ? undefined : h.reals[picked].id).toBe(want);
              if (picked !== NO_REAL) {
                expect(h.reals[picked].weight).toBeGreaterThan(0);
                expect(h.reals[picked].overload).toBe(false);
              } else {
                expect(h.reals.every((r) => r.weight === 0 || r.overload)).toBe(true);
              }
            },
          });
        }),
        { seed: 0x5eed_0001, numRuns: 300 },
      );
    });
  });
});
