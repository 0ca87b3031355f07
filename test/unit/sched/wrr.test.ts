import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { wrr } from '../../../src/sched/wrr.js';
import { WrrOracle } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

/** Reals in IPVS list order (index 0 first), named A, B, C, ... */
function service(...weights: number[]): SchedHarness {
  return new SchedHarness(wrr, weights.map((weight, i): RealSpec => ({ addr: `10.0.0.${i + 1}`, weight })));
}
const letter = (h: SchedHarness, i: number): string => (i === NO_REAL ? '-' : ' ABCDEFGHIJ'[h.reals[i].addr & 0xff]);
const picks = (h: SchedHarness, count: number): string =>
  Array.from({ length: count }, () => letter(h, h.pick())).join('');

/** A wrr reference that resets on a new snapshot only when the real set or a weight changed (see below). */
function reference(h: SchedHarness) {
  const o = new WrrOracle(h.model());
  let key = h.svc.realsKey;
  return {
    expect: () => o.pick(h.model()),
    afterConfig: () => {
      if (h.svc.realsKey !== key) o.destChanged(h.model());
      key = h.svc.realsKey;
    },
  };
}

describe('wrr', () => {
  describe('picks', () => {
    it('weights 4,3,2 in list order: A A B A B C A B C, period Σw/gcd = 9 (§2.2)', () => {
      expect(picks(service(4, 3, 2), 18)).toBe('AABABCABC'.repeat(2));
    });

    it('weights 4,2: gcd 2 → mw 3 → A A B, period 3', () => {
      expect(picks(service(4, 2), 9)).toBe('AAB'.repeat(3));
    });

    it('skips quiescent reals and reals with OVERLOAD; NO_REAL when none is left', () => {
      const h = service(2, 0, 1);
      expect(picks(h, 6)).toBe('AACAAC');
      h.setOverload(0, true);
      expect(picks(h, 3)).toBe('CCC');
      h.setOverload(2, true);
      expect(picks(h, 2)).toBe('--');
      h.setOverload(0, false);
      expect(picks(h, 2)).toBe('AA');
    });

    it('NO_REAL when every weight is 0 (mw = 0), and for an empty service', () => {
      expect(picks(service(0, 0), 2)).toBe('--');
      expect(new SchedHarness(wrr, []).pick()).toBe(NO_REAL);
    });

    it('restarts at the head with cw re-fitted when the reals change (ip_vs_wrr_dest_changed)', () => {
      const h = service(4, 3, 2);
      expect(picks(h, 4)).toBe('AABA'); // cw = 2 now, cl = A
      h.setWeight(2, 4); // C: 4 → di 1, mw 4, cw 2 kept, cl = head
      expect(picks(h, 4)).toBe('ABCA');
    });

    it('aligns cw to the new gcd step: cw = (cw / di) * di + 1', () => {
      const h = service(6, 3); // di 3, mw 4
      expect(picks(h, 1)).toBe('A'); // cw 4
      h.setWeight(1, 2); // weights 6,2: di 2, mw 5, cw 4 → (4/2)*2+1 = 5
      expect(h.state).toMatchObject({ di: 2, mw: 5, cw: 5, cl: -1 });
    });

    it('keeps its place through snapshots that change nothing it reads', () => {
      const h = service(4, 3, 2);
      expect(picks(h, 2)).toBe('AA');
      h.resnapshot();
      expect(picks(h, 7)).toBe('BABCABC');
    });
  });

  describe('distribution', () => {
    it('gives every real its weight share within 1% over 1e5 picks', () => {
      const weights = [1, 2, 3, 5, 7, 11, 13, 100, 250, 0];
      const h = service(...weights);
      const count = new Array<number>(weights.length).fill(0);
      for (let k = 0; k < 100_000; k++) count[h.pick()]++;
      const total = weights.reduce((a, b) => a + b, 0);
      weights.forEach((w, i) => expect(Math.abs(count[i] / 100_000 - w / total)).toBeLessThan(0.01 * (w / total) + 1e-9));
    });
  });

  describe('matches the oracle', () => {
    it('pick by pick over random conns, weight edits, adds, removes and overloads', () => {
      assertReplayMatches(wrr, reference, {
        seed: 0x5eed_0a01,
        events: { weights: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 }), fc.constantFrom(8, 12, 30)) },
        maxEvents: 200,
      });
    });

    it('with large and uneven weights (exercises the tree search and the skipped passes)', () => {
      assertReplayMatches(wrr, reference, {
        seed: 0x5eed_0a02,
        numRuns: 60,
        maxReals: 20,
        events: { weights: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 2000 }), fc.constant(65535)) },
      });
    });
  });
});
