import { describe, expect, it } from 'vitest';
import { ovf } from '../../../src/sched/ovf.js';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { ovfOracle, ovfScan } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

function service(...reals: Omit<RealSpec, 'addr'>[]): SchedHarness {
  return new SchedHarness(ovf, reals.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` })));
}
const name = (i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[i]);

describe('ovf', () => {
  describe('picks', () => {
    it('the highest weight while its active conns do not exceed its weight, then overflows (§2.8)', () => {
      const h = service({ weight: 1 }, { weight: 3 });
      const got: string[] = [];
      for (let k = 0; k < 6; k++) {
        const i = h.pick();
        got.push(name(i));
        if (i !== NO_REAL) h.openConn(i);
      }
      // B takes conns while active <= 3 (4 of them), then A while active <= 1 (2), then nothing.
      expect(got).toEqual(['B', 'B', 'B', 'B', 'A', 'A']);
      expect(h.pick()).toBe(NO_REAL);
    });

    it('counts only active conns', () => {
      expect(name(service({ weight: 1 }, { weight: 2, inactive: 10_000 }).pick())).toBe('B');
    });

    it('skips quiescent and overloaded reals', () => {
      const h = service({ weight: 0 }, { weight: 2 }, { weight: 1 });
      h.setOverload(1, true);
      expect(name(h.pick())).toBe('C');
    });
  });

  it('matches the oracle and the kernel scan pick by pick over random events', () => {
    assertReplayMatches(ovf, (h) => ({ expect: () => ovfOracle(h.model()) }), {
      seed: 0x5eed_0c05,
      also: (h, picked) => expect(picked).toBe(ovfScan(h.svc)),
    });
  });
});
