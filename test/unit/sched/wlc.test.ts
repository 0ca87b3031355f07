import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { wlc } from '../../../src/sched/wlc.js';
import { wlcOracle, wlcScan } from '../../helpers/oracles.js';
import { realSpecsArb, replay, SchedHarness, schedEventArb, type RealSpec } from '../../helpers/sched-harness.js';

/** Reals in IPVS list order (index 0 first), named A, B, C, ... */
function service(...reals: Omit<RealSpec, 'addr'>[]): SchedHarness {
  return new SchedHarness(
    wlc,
    reals.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` })),
  );
}
const name = (i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[i]);

describe('wlc', () => {
  describe('picks', () => {
    it('the least weighted overhead, overhead = 256*active + inactive (§2.0, §2.4)', () => {
      // A: 256/1 = 256, B: 512/3 = 170.7
      expect(name(service({ weight: 1, active: 1 }, { weight: 3, active: 2 }).pick())).toBe('B');
    });

    it('counts an active conn as 256 inactive ones', () => {
      // A: 300 inactive = 300, B: 1 active = 256
      expect(name(service({ inactive: 300 }, { active: 1 }).pick())).toBe('B');
      // A: 255 inactive = 255 < 256
      expect(name(service({ inactive: 255 }, { active: 1 }).pick())).toBe('A');
    });

    it('the least weighted overhead using cross-multiplication (no rounding at the boundary)', () => {
      // A = 256/3 = 85.33; B = 85/1 → B (256*1 > 85*3 = 255); B = 86/1 → A (256 > 258 is false)
      expect(name(service({ weight: 3, active: 1 }, { weight: 1, inactive: 85 }).pick())).toBe('B');
      expect(name(service({ weight: 3, active: 1 }, { weight: 1, inactive: 86 }).pick())).toBe('A');
    });

    it('the earliest real in list order (the newest added) on a tie', () => {
      expect(name(service({}, {}, {}).pick())).toBe('A');
      // 256/2 == 512/4 == 128/1
      expect(name(service({ weight: 1, inactive: 300 }, { weight: 2, active: 1 }, { weight: 4, active: 2 }, { weight: 1, inactive: 128 }).pick())).toBe('B');
    });

    it('follows conn counts and overload flips as the worker reports them (countsChanged)', () => {
      const h = service({ weight: 2 }, { weight: 1 });
      const got: string[] = [];
      for (let k = 0; k < 6; k++) {
        const i = h.pick();
        got.push(name(i));
        h.openConn(i);
      }
      // 0/2 A, then A 256/2 vs B 0/1 → B, then A 256/2 vs B 256/1 → A, A 512/2 = B 256/1 → A (earliest), ...
      expect(got).toEqual(['A', 'B', 'A', 'A', 'B', 'A']);
      h.setOverload(0, true);
      expect(name(h.pick())).toBe('B');
      h.setOverload(0, false);
      h.closeConn(0);
      h.closeConn(0);
      expect(name(h.pick())).toBe('A');
    });

    it('the newest added real among idle ones, since IPVS inserts at the head', () => {
      const h = service({}, {});
      h.addReal({ addr: '10.0.0.9' });
      expect(h.reals[h.pick()].addr & 0xff).toBe(9);
    });

    it('never a quiescent real, even with no conns against a loaded one', () => {
      expect(name(service({ weight: 0 }, { weight: 1, active: 1000 }).pick())).toBe('B');
      expect(name(service({ weight: 1, active: 1000 }, { weight: 0 }).pick())).toBe('A');
    });

    it('never an overloaded real', () => {
      const h = service({ weight: 1 }, { weight: 1, active: 5 });
      h.setOverload(0, true);
      expect(name(h.pick())).toBe('B');
      h.setOverload(1, true);
      expect(h.pick()).toBe(NO_REAL);
    });

    it('NO_REAL when every real is quiescent, and for an empty service', () => {
      expect(service({ weight: 0 }, { weight: 0 }).pick()).toBe(NO_REAL);
      expect(service().pick()).toBe(NO_REAL);
    });

    it('exactly with large counts and weights (products near 2^53 stay exact)', () => {
      // A: 5e8 active at weight 65535 (overhead 1.28e11; ohA * 65534 ≈ 8.39e15 < 2^53).
      // B at weight 65534 wins iff ohA * 65534 > ohB * 65535; the largest such ohB, computed exactly:
      const ohA = 500_000_000n * 256n;
      const ohB = (ohA * 65534n - 1n) / 65535n;
      const h = service({ weight: 65535, active: 500_000_000 }, { weight: 65534 });
      h.setCounts(1, Number(ohB / 256n), Number(ohB % 256n));
      expect(name(h.pick())).toBe('B');
      h.setCounts(1, Number((ohB + 1n) / 256n), Number((ohB + 1n) % 256n));
      expect(name(h.pick())).toBe('A');
    });
  });

  describe('matches the oracle', () => {
    it('on random services crowded with near-ties (counts around multiples of 256, small weights)', () => {
      const realArb = fc.record({
        weight: fc.integer({ min: 0, max: 3 }),
        active: fc.nat({ max: 3 }),
        inactive: fc.constantFrom(0, 1, 255, 256, 257, 511, 512, 513, 767, 768, 769),
      });
      fc.assert(
        fc.property(fc.array(realArb, { minLength: 1, maxLength: 6 }), (reals) => {
          const h = service(...reals);
          const picked = h.pick();
          expect(picked === NO_REAL ? undefined : h.reals[picked].id).toBe(wlcOracle(h.model()));
          expect(picked).toBe(wlcScan(h.svc));
        }),
        { seed: 0x5eed_0003, numRuns: 2000 },
      );
    });

    it('pick by pick over random conns, closes, weight edits, adds, removes, overloads and large counts', () => {
      fc.assert(
        fc.property(realSpecsArb(), fc.array(schedEventArb({ bigCounts: true }), { maxLength: 120, size: 'max' }), (initial, events) => {
          const h = new SchedHarness(wlc, initial);
          replay(h, events, {
            onPick: (picked) => {
              expect(picked === NO_REAL ? undefined : h.reals[picked].id).toBe(wlcOracle(h.model()));
              expect(picked).toBe(wlcScan(h.svc));
              if (picked !== NO_REAL) {
                expect(h.reals[picked].weight).toBeGreaterThan(0);
                expect(h.reals[picked].overload).toBe(false);
              }
            },
          });
        }),
        { seed: 0x5eed_0002, numRuns: 300 },
      );
    });
  });
});
