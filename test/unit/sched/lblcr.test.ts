import { describe, expect, it } from 'vitest';
import { createLblcr, lblcr } from '../../../src/sched/lblcr.js';
import type { LocalityParams, LocalityState } from '../../../src/sched/locality.js';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { LblcrOracle } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

const reals = (...specs: Omit<RealSpec, 'addr'>[]): RealSpec[] => specs.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` }));
const name = (h: SchedHarness<LocalityState>, i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[(h.reals[i].addr & 0xff) - 1]);

const SMALL: LocalityParams = {
  checkIntervalMs: 1000,
  entryTimeoutMs: 3000,
  expirationMs: 10_000,
  maxSize: 3,
  fullExpirationCount: 4,
  initialCapacity: 64,
};

function connTo(h: SchedHarness<LocalityState>, d: number, open = true): string {
  h.flow.daddr = (0x0a640000 + d) >>> 0;
  const i = h.pick();
  if (open && i !== NO_REAL) h.openConn(i);
  return name(h, i);
}

/** The server set of destination 10.100.0.d, newest member first, by name. */
function setOf(h: SchedHarness<LocalityState>, d: number): string {
  const t = h.state.table;
  const e = t.find((0x0a640000 + d) >>> 0);
  let out = '';
  for (let node = e < 0 ? -1 : t.eHead[e]; node !== -1; node = t.nNext[node]) out += 'ABCDEFGH'[(t.kAddr[t.nReal[node]] & 0xff) - 1];
  return out;
}

describe('lblcr', () => {
  describe('picks', () => {
    it('a new destination gets the wlc pick and a one-member set (§2.11)', () => {
      const h = new SchedHarness(lblcr, reals({ weight: 1 }, { weight: 1 }));
      h.setCounts(0, 1, 0);
      expect(connTo(h, 1)).toBe('B');
      expect(setOf(h, 1)).toBe('B');
    });

    it('replicates: when the set least-conn real is overloaded (lblc sense), adds the wlc pick at the head of the set', () => {
      const h = new SchedHarness(lblcr, reals({ weight: 2 }, { weight: 4 }));
      expect(connTo(h, 1)).toBe('A');
      h.setCounts(0, 3, 0); // A: 3 > 2 and B is below half its weight
      expect(connTo(h, 1)).toBe('B');
      expect(setOf(h, 1)).toBe('BA');
      // Now the set's least loaded member serves: B (1/4) over A (3/2)
      expect(connTo(h, 1)).toBe('B');
      expect(setOf(h, 1)).toBe('BA');
    });

    it('picks the least loaded set member, skipping OVERLOAD and quiescent members, the earliest on ties', () => {
      const h = new SchedHarness(lblcr, reals({ weight: 2 }, { weight: 4 }, { weight: 1 }));
      connTo(h, 1, false);
      h.setCounts(0, 3, 0);
      expect(connTo(h, 1, false)).toBe('B'); // set BA
      h.setCounts(0, 0, 0);
      expect(connTo(h, 1, false)).toBe('B'); // B 0/4 ties A 0/2: B is first in the set
      h.setOverload(1, true);
      expect(connTo(h, 1, false)).toBe('A');
      h.setWeight(0, 0);
      expect(connTo(h, 1, false)).toBe('C'); // no member usable: wlc (C), added
      expect(setOf(h, 1)).toBe('CBA');
    });

    it('prunes the most loaded member once the set is older than the expiration, after choosing (§2.11 step 2)', () => {
      const h = new SchedHarness(createLblcr(SMALL), reals({ weight: 2 }, { weight: 4 }));
      connTo(h, 1, false);
      h.setCounts(0, 3, 0);
      expect(connTo(h, 1, false)).toBe('B'); // set BA, lastmod = 0
      h.setCounts(0, 0, 0);
      h.setCounts(1, 8, 0); // B: 2048/4 = 512 > A: 0
      h.nowMs = 10_000;
      expect(connTo(h, 1, false)).toBe('A');
      expect(setOf(h, 1)).toBe('BA'); // not yet: now must exceed lastmod + expiration
      h.setCounts(0, 1, 0); // A: 256/2 = 128 < B's 512 → A still least, B most
      h.nowMs = 10_001;
      expect(connTo(h, 1, false)).toBe('A');
      expect(setOf(h, 1)).toBe('A');
    });

    it('may prune the member it has just chosen, which still serves the conn', () => {
      const h = new SchedHarness(createLblcr(SMALL), reals({ weight: 1 }, { weight: 1 }, { weight: 100 }));
      expect(connTo(h, 1, false)).toBe('A');
      h.setCounts(0, 2, 0); // A over its weight while B and C are below half theirs: B joins (wlc)
      expect(connTo(h, 1, false)).toBe('B');
      expect(setOf(h, 1)).toBe('BA'); // lastmod = 0
      h.setCounts(0, 0, 0);
      h.setWeight(1, 0); // B quiescent: neither chosen nor weighed by the pruning
      h.nowMs = 5000;
      expect(connTo(h, 1, false)).toBe('A'); // keeps the entry in use (lastuse) without pruning yet
      h.nowMs = 10_001;
      // least = A; then the set is pruned of its most loaded weight > 0 member: A again. A still serves.
      expect(connTo(h, 1, false)).toBe('A');
      expect(setOf(h, 1)).toBe('B');
    });

    it('weighs removed members by the weight and conns they had when pruning', () => {
      const h = new SchedHarness(createLblcr(SMALL), reals({ weight: 2 }, { weight: 4 }, { weight: 4 }));
      expect(connTo(h, 1, false)).toBe('A');
      h.setCounts(0, 3, 0);
      expect(connTo(h, 1, false)).toBe('B'); // set BA, lastmod = 0
      h.removeReal(0); // A leaves with 3 active conns: 768/2 = 384
      h.setCounts(0, 1, 0); // B: 256/4 = 64
      h.nowMs = 5000;
      expect(connTo(h, 1, false)).toBe('B');
      h.nowMs = 10_001;
      expect(connTo(h, 1, false)).toBe('B');
      expect(setOf(h, 1)).toBe('B'); // A, the most loaded, pruned although no longer in the service
    });

    it('NO_REAL when no real can be picked', () => {
      expect(new SchedHarness(lblcr, reals({ weight: 0 })).pick()).toBe(NO_REAL);
      expect(new SchedHarness(lblcr, []).pick()).toBe(NO_REAL);
    });
  });

  it('expires entries like lblc (shared cache code): an over-full table drops idle entries', () => {
    const h = new SchedHarness(createLblcr(SMALL), reals({ weight: 1 }));
    h.tick();
    for (let d = 0; d < 6; d++) connTo(h, d, false);
    expect(h.state.table.entries).toBe(6);
    h.nowMs = 2000;
    h.tick(); // runs at 1 and 2 s: over-full, but nothing idle for 3 s
    expect(h.state.table.entries).toBe(6);
    h.nowMs = 5000;
    h.tick(); // runs at 3, 4, 5 s: goal min((6 - 3) * 4/3, 3/2) = 1 each, whole buckets (one entry each here)
    expect(h.state.table.entries).toBe(3);
    h.nowMs = 6000;
    h.tick(); // not over-full any more: counts only
    expect(h.state.table.entries).toBe(3);
  });

  it('matches the oracle pick by pick over random destinations, conns, edits, removals, overloads and time', () => {
    assertReplayMatches(
      createLblcr(SMALL),
      (h) => {
        const o = new LblcrOracle(SMALL);
        return {
          expect: () => o.pick(h.model(), h.removed, h.flow.daddr, h.nowMs),
          afterTick: () => o.timers(h.nowMs),
        };
      },
      { seed: 0x5eed_1c01, events: { flows: true, time: { maxMs: 15_000 } }, maxEvents: 150 },
    );
  });
});
