import { describe, expect, it } from 'vitest';
import { lc } from '../../../src/sched/lc.js';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { lcOracle, lcScan } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

/** Reals in IPVS list order (index 0 first), named A, B, C, ... */
function service(...reals: Omit<RealSpec, 'addr'>[]): SchedHarness {
  return new SchedHarness(lc, reals.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` })));
}
const name = (i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[i]);

describe('lc', () => {
  describe('picks', () => {
    it('the least overhead = 256*active + inactive, whatever the weights (§2.3)', () => {
      expect(name(service({ weight: 100, active: 2 }, { weight: 1, active: 1 }).pick())).toBe('B');
      expect(name(service({ inactive: 255 }, { active: 1 }).pick())).toBe('A');
      expect(name(service({ inactive: 257 }, { active: 1 }).pick())).toBe('B');
    });

    it('the earliest real in list order on a tie', () => {
      expect(name(service({ active: 1 }, { inactive: 256 }, { active: 1 }).pick())).toBe('A');
    });

    it('never a quiescent or overloaded real; NO_REAL when none is left', () => {
      const h = service({ weight: 0 }, { active: 9 }, { active: 5 });
      expect(name(h.pick())).toBe('C');
      h.setOverload(2, true);
      expect(name(h.pick())).toBe('B');
      h.setOverload(1, true);
      expect(h.pick()).toBe(NO_REAL);
    });

    it('follows conn counts as they change (countsChanged keeps the index current)', () => {
      const h = service({}, {}, {});
      const got: string[] = [];
      for (let k = 0; k < 6; k++) {
        const i = h.pick();
        got.push(name(i));
        h.openConn(i);
      }
      expect(got).toEqual(['A', 'B', 'C', 'A', 'B', 'C']);
      h.closeConn(1);
      expect(name(h.pick())).toBe('B');
    });
  });

  it('matches the oracle and the kernel scan pick by pick over random events', () => {
    assertReplayMatches(lc, (h) => ({ expect: () => lcOracle(h.model()) }), {
      seed: 0x5eed_0c01,
      events: { bigCounts: true },
      also: (h, picked) => expect(picked).toBe(lcScan(h.svc)),
    });
  });
});
