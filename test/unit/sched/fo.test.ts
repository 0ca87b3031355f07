import { describe, expect, it } from 'vitest';
import { fo } from '../../../src/sched/fo.js';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { foOracle, foScan } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

function service(...reals: Omit<RealSpec, 'addr'>[]): SchedHarness {
  return new SchedHarness(fo, reals.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` })));
}
const name = (i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[i]);

describe('fo', () => {
  describe('picks', () => {
    it('the highest weight, however loaded (§2.7)', () => {
      expect(name(service({ weight: 1 }, { weight: 5, active: 1000 }, { weight: 3 }).pick())).toBe('B');
    });

    it('the earliest real among equal weights', () => {
      expect(name(service({ weight: 2 }, { weight: 5 }, { weight: 5 }).pick())).toBe('B');
    });

    it('fails over to the next weight when the top real is overloaded, and back when it clears', () => {
      const h = service({ weight: 2 }, { weight: 5 }, { weight: 3 });
      h.setOverload(1, true);
      expect(name(h.pick())).toBe('C');
      h.setOverload(1, false);
      expect(name(h.pick())).toBe('B');
    });

    it('never a quiescent real; NO_REAL when all are', () => {
      expect(service({ weight: 0 }, { weight: 0 }).pick()).toBe(NO_REAL);
    });
  });

  it('matches the oracle and the kernel scan pick by pick over random events', () => {
    assertReplayMatches(fo, (h) => ({ expect: () => foOracle(h.model()) }), {
      seed: 0x5eed_0c04,
      also: (h, picked) => expect(picked).toBe(foScan(h.svc)),
    });
  });
});
