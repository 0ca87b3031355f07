import { describe, expect, it } from 'vitest';
import { createLblc, lblc } from '../../../src/sched/lblc.js';
import { LOCALITY_DEFAULTS, localityBucket, type LocalityParams, type LocalityState } from '../../../src/sched/locality.js';
import { NO_REAL } from '../../../src/sched/scheduler.js';
import { kernelHash32, LblcOracle } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

const reals = (...specs: Omit<RealSpec, 'addr'>[]): RealSpec[] => specs.map((r, i) => ({ ...r, addr: `10.0.0.${i + 1}` }));
const name = (h: SchedHarness<LocalityState>, i: number): string => (i === NO_REAL ? 'none' : 'ABCDEFGH'[(h.reals[i].addr & 0xff) - 1]);

/** Small expiry parameters so that property tests reach every expiry path. */
const SMALL: LocalityParams = {
  checkIntervalMs: 1000,
  entryTimeoutMs: 3000,
  expirationMs: 10_000,
  maxSize: 3,
  fullExpirationCount: 4,
  initialCapacity: 64,
};

/** Picks for destination `daddr` (last octet of 10.100.0.x) and counts the conn as active. */
function connTo(h: SchedHarness<LocalityState>, d: number, open = true): string {
  h.flow.daddr = (0x0a640000 + d) >>> 0;
  const i = h.pick();
  if (open && i !== NO_REAL) h.openConn(i);
  return name(h, i);
}

describe('lblc', () => {
  describe('picks', () => {
    it('sends a destination address to the same real while it is not overloaded, even when others have fewer conns (§2.10)', () => {
      const h = new SchedHarness(lblc, reals({ weight: 4 }, { weight: 4 }));
      expect(connTo(h, 1)).toBe('A');
      expect(connTo(h, 2)).toBe('B');
      expect([connTo(h, 1), connTo(h, 1), connTo(h, 1)]).toEqual(['A', 'A', 'A']);
      expect(connTo(h, 3)).toBe('B'); // a new destination: wlc over the service
    });

    it('moves a destination when its real has more active conns than its weight and some real is below half its weight', () => {
      const h = new SchedHarness(lblc, reals({ weight: 2 }, { weight: 4 }));
      expect(connTo(h, 1)).toBe('A');
      h.setCounts(0, 3, 0); // A: 3 active > 2; B: 0*2 < 4
      expect(connTo(h, 1)).toBe('B');
      expect(connTo(h, 1)).toBe('B'); // the entry now points at B
    });

    it('keeps the cached real when it is over its weight but no real is below half its weight', () => {
      const h = new SchedHarness(lblc, reals({ weight: 2 }, { weight: 4 }));
      expect(connTo(h, 1)).toBe('A');
      h.setCounts(0, 3, 0);
      h.setCounts(1, 2, 0); // B: 2*2 = 4, not < 4
      expect(connTo(h, 1, false)).toBe('A');
    });

    it('uses the cached real although it has the OVERLOAD flag (the kernel does not check it), but never picks one fresh', () => {
      const h = new SchedHarness(lblc, reals({ weight: 1 }, { weight: 1 }));
      expect(connTo(h, 1, false)).toBe('A');
      h.setOverload(0, true);
      expect(connTo(h, 1, false)).toBe('A');
      expect(connTo(h, 2, false)).toBe('B');
    });

    it('re-points the entry when the cached real is quiescent or removed', () => {
      const h = new SchedHarness(lblc, reals({ weight: 1 }, { weight: 1 }, { weight: 1 }));
      expect(connTo(h, 1, false)).toBe('A');
      h.setWeight(0, 0);
      expect(connTo(h, 1, false)).toBe('B');
      h.removeReal(1);
      expect(connTo(h, 1, false)).toBe('C');
    });

    it('revives entries when a removed real is added back with the same address and port (IPVS dest trash)', () => {
      const h = new SchedHarness(lblc, reals({ weight: 1 }, { weight: 1 }));
      h.setCounts(1, 5, 0);
      expect(connTo(h, 1, false)).toBe('A');
      const a = h.removeReal(0);
      expect(connTo(h, 2, false)).toBe('B');
      h.addReal({ addr: a.addr, weight: 1 }); // back at the head, as a new real with its own counts
      h.setCounts(0, 1, 0);
      h.setCounts(1, 0, 0); // wlc would now choose B ...
      expect(connTo(h, 3, false)).toBe('B');
      expect(connTo(h, 1, false)).toBe('A'); // ... but 10.100.0.1 is still cached on A, available again
    });

    it('NO_REAL when no real can be picked fresh', () => {
      const h = new SchedHarness(lblc, reals({ weight: 0 }, { weight: 1, overload: true }));
      expect(h.pick()).toBe(NO_REAL);
      expect(new SchedHarness(lblc, []).pick()).toBe(NO_REAL);
    });
  });

  describe('expiry (the kernel 60 s timer, driven by nowMs)', () => {
    it('does nothing while the table holds at most max_size entries, then a full sweep every 30th run drops entries idle for 24 h', () => {
      const h = new SchedHarness(lblc, reals({ weight: 1 }));
      h.tick(); // t = 0: timer phase starts, first run due at 60 s
      connTo(h, 1, false);
      h.nowMs = 28 * 60_000;
      connTo(h, 2, false); // runs 1..28 were quiet (counter 2..29)
      expect(h.state.table.entries).toBe(2);
      h.nowMs = 24 * 3600_000 - 60_000;
      h.tick(); // full sweeps ran every 30 runs (30, 60, ... min); nothing was idle for 24 h yet
      expect(h.state.table.entries).toBe(2);
      h.nowMs = 24 * 3600_000;
      h.tick(); // the sweep at 1440 min drops the entry last used at 0
      expect(h.state.table.entries).toBe(1);
      h.nowMs = 24 * 3600_000 + 29 * 60_000;
      h.tick();
      expect(h.state.table.entries).toBe(1);
      h.nowMs = 24 * 3600_000 + 30 * 60_000;
      h.tick(); // the sweep at 1470 min drops the one last used at 28 min
      expect(h.state.table.entries).toBe(0);
    });

    it('an over-full table drops entries idle for 6 min, bucket by bucket from the rover, until (excess * 4/3) are gone', () => {
      const h = new SchedHarness(lblc, reals({ weight: 1 }));
      h.tick();
      const n = LOCALITY_DEFAULTS.maxSize + 600;
      const perBucket = new Array<number>(1024).fill(0);
      for (let d = 0; d < n; d++) {
        if (d % 1000 === 0) h.tick(); // lets the cache grow off the packet path
        h.flow.daddr = (0x0b000000 + d) >>> 0;
        h.pick();
        perBucket[localityBucket(h.flow.daddr)]++;
      }
      expect(h.state.table.entries).toBe(n);
      h.nowMs = 5 * 60_000;
      h.tick(); // runs at 1..5 min: over-full but nothing idle for 6 min yet
      expect(h.state.table.entries).toBe(n);
      h.nowMs = 6 * 60_000;
      h.tick(); // the 6 min run: goal = 600 * 4 / 3 = 800, whole buckets 1, 2, ... until >= 800 are gone
      let goal = 800;
      let removed = 0;
      for (let j = 1; goal > 0; j++) {
        removed += perBucket[j];
        goal -= perBucket[j];
      }
      expect(h.state.table.entries).toBe(n - removed);
    });

    it('runs every due expiry at its due time, whether tick or pick gets there first', () => {
      const a = new SchedHarness(createLblc(SMALL), reals({ weight: 1 }, { weight: 1 }));
      const b = new SchedHarness(createLblc(SMALL), reals({ weight: 1 }, { weight: 1 }));
      a.tick();
      b.tick();
      for (let k = 0; k < 200; k++) {
        for (const h of [a, b]) {
          h.nowMs = k * 333;
          if (h === a && k % 7 === 0) h.tick();
          connTo(h, k % 11, false);
        }
        expect(a.state.table.entries).toBe(b.state.table.entries);
      }
    });

    it('hashes destinations into the kernel buckets hash_32(daddr, 10)', () => {
      for (const d of [0, 1, 0x0a640001, 0xffffffff, 0xc0a80001]) expect(localityBucket(d)).toBe(kernelHash32(d, 10));
    });
  });

  describe('capacity', () => {
    it('serves but does not cache a new destination when the table is full, and grows in tick', () => {
      const h = new SchedHarness(createLblc({ ...SMALL, maxSize: 1000, initialCapacity: 16 }), reals({ weight: 1 }, { weight: 1 }));
      for (let d = 0; d < 20; d++) expect(connTo(h, d, false)).not.toBe('none');
      expect(h.state.table.entries).toBe(16);
      h.tick();
      connTo(h, 30, false);
      expect(h.state.table.entries).toBe(17);
    });
  });

  it('matches the oracle pick by pick over random destinations, conns, edits, removals, overloads and time', () => {
    assertReplayMatches(
      createLblc(SMALL),
      (h) => {
        const o = new LblcOracle(SMALL);
        return {
          expect: () => o.pick(h.model(), h.flow.daddr, h.nowMs),
          afterTick: () => o.timers(h.nowMs),
        };
      },
      { seed: 0x5eed_1b01, events: { flows: true, time: { maxMs: 8000 } }, maxEvents: 150 },
    );
  });
});
