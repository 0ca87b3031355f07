import { describe, expect, it } from 'vitest';
import { nq } from '../../../src/sched/nq.js';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { nqOracle, nqScan } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

function service(...reals: Omit<RealSpec, 'addr'>[]): SchedHarness {
  return new SchedHarness(nq, reals.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` })));
}
const name = (i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[i]);

describe('nq', () => {
  describe('picks', () => {
    it('the first real with no active conn, even if another has a better ratio (§2.6)', () => {
      // B is idle: taken although C (weight 100, 1 active: 2/100) has the smaller sed ratio (1/1 for B).
      expect(name(service({ weight: 1, active: 1 }, { weight: 1, inactive: 500 }, { weight: 100, active: 1 }).pick())).toBe('B');
    });

    it("sed's rule when every real is busy", () => {
      // A: 3/1, B: 5/2 → B
      expect(name(service({ weight: 1, active: 2 }, { weight: 2, active: 4 }).pick())).toBe('B');
    });

    it('skips idle reals that are quiescent or overloaded', () => {
      const h = service({ weight: 0 }, { weight: 1 }, { weight: 1, active: 1 });
      expect(name(h.pick())).toBe('B');
      h.setOverload(1, true);
      expect(name(h.pick())).toBe('C');
      h.setOverload(2, true);
      expect(h.pick()).toBe(NO_REAL);
    });
  });

  it('matches the oracle and the kernel scan pick by pick over random events', () => {
    assertReplayMatches(nq, (h) => ({ expect: () => nqOracle(h.model()) }), {
      seed: 0x5eed_0c03,
      events: { bigCounts: true },
      also: (h, picked) => expect(picked).toBe(nqScan(h.svc)),
    });
  });
});
