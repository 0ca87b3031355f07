import { describe, expect, it } from 'vitest';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { sed } from '../../../src/sched/sed.js';
import { sedOracle, sedScan } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

function service(...reals: Omit<RealSpec, 'addr'>[]): SchedHarness {
  return new SchedHarness(sed, reals.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` })));
}
const name = (i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[i]);

describe('sed', () => {
  describe('picks', () => {
    it('the least (active + 1) / weight, inactive conns ignored (§2.5)', () => {
      // A: 3/1 = 3, B: 5/2 = 2.5
      expect(name(service({ weight: 1, active: 2 }, { weight: 2, active: 4 }).pick())).toBe('B');
      expect(name(service({ weight: 1, inactive: 1000 }, { weight: 1, active: 1 }).pick())).toBe('A');
    });

    it('by exact cross-multiplication, the earliest real on a tie', () => {
      // A: 3/3 = 1, B: 2/2 = 1 → A; C: 1/2 → C
      expect(name(service({ weight: 3, active: 2 }, { weight: 2, active: 1 }).pick())).toBe('A');
      expect(name(service({ weight: 3, active: 2 }, { weight: 2, active: 1 }, { weight: 2 }).pick())).toBe('C');
    });

    it('never a quiescent or overloaded real', () => {
      const h = service({ weight: 0 }, { weight: 1, active: 3 });
      expect(name(h.pick())).toBe('B');
      h.setOverload(1, true);
      expect(h.pick()).toBe(NO_REAL);
    });
  });

  it('matches the oracle and the kernel scan pick by pick over random events', () => {
    assertReplayMatches(sed, (h) => ({ expect: () => sedOracle(h.model()) }), {
      seed: 0x5eed_0c02,
      events: { bigCounts: true },
      also: (h, picked) => expect(picked).toBe(sedScan(h.svc)),
    });
  });
});
