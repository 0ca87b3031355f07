/**
 * The contract every registered scheduler keeps (scheduler.ts): name matches its registry key, init/pick never
 * throw, pick returns NO_REAL or an index in range, and never a real it must skip. Runs over every registry entry,
 * so a new scheduler is covered by adding it to the registry; schedulers that behave differently by design
 * declare it in EXPECTATIONS.
 */
import { describe, expect, it } from 'vitest';
import { getScheduler, parseSchedFlags, SCHEDULER_ALIASES, SCHEDULERS, schedulerNames } from '../../../src/sched/registry.js';
import { NO_REAL, SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3, type Scheduler } from '../../../src/sched/scheduler.js';
import { SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';
import { prng } from '../../helpers/prng.js';

interface Expectations {
  /** pick never returns a weight-0 real. */
  skipsQuiescent: boolean;
  /** pick never returns an RF_OVERLOAD real. */
  skipsOverloaded: boolean;
  /** pick returns NO_REAL only when no real is eligible (weight > 0 and not overloaded). */
  workConserving: boolean;
}

const DEFAULT_EXPECTATIONS: Expectations = { skipsQuiescent: true, skipsOverloaded: true, workConserving: true };

/** Per-scheduler departures from the default (ipvs-semantics.md §2.0, §2.8, §2.10, §2.12–2.14). */
const EXPECTATIONS: Readonly<Record<string, Partial<Expectations>>> = {
  // The hashed real may be unavailable while others are free: NO_REAL (or a fallback probe) instead.
  dh: { workConserving: false },
  sh: { workConserving: false },
  mh: { workConserving: false },
  // Only reals with activeconns <= weight are candidates.
  ovf: { workConserving: false },
  // The cached real is used without checking OVERLOAD.
  lblc: { skipsOverloaded: false },
};


function randomReals(n: number, rnd: () => number): RealSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    addr: (0x0a000001 + i) >>> 0,
    port: 80 + (i % 3),
    weight: rnd() < 0.2 ? 0 : 1 + Math.floor(rnd() * (rnd() < 0.1 ? 65535 : 5)),
    active: Math.floor(rnd() * 4),
    inactive: Math.floor(rnd() * 600),
    overload: rnd() < 0.15,
  }));
}

function checkPick(h: SchedHarness, picked: number, exp: Expectations, ctx: string): void {
  const n = h.reals.length;
  if (picked === NO_REAL) {
    if (exp.workConserving) {
      const eligible = h.reals.filter((r) => r.weight > 0 && !r.overload).length;
      expect(eligible, `${ctx}: NO_REAL with ${eligible} eligible reals`).toBe(0);
    }
    return;
  }
  expect(Number.isInteger(picked) && picked >= 0 && picked < n, `${ctx}: index ${picked} of ${n}`).toBe(true);
  if (exp.skipsQuiescent) expect(h.reals[picked].weight, `${ctx}: picked a quiescent real`).toBeGreaterThan(0);
  if (exp.skipsOverloaded) expect(h.reals[picked].overload, `${ctx}: picked an overloaded real`).toBe(false);
}

/** Runs `count` new conns with varied flows and times, checking every pick. */
function drive(h: SchedHarness, count: number, rnd: () => number, exp: Expectations, ctx: string): void {
  for (let k = 0; k < count; k++) {
    h.flow.saddr = (0xc0000200 + Math.floor(rnd() * 65536)) >>> 0;
    h.flow.sport = 1024 + Math.floor(rnd() * 60000);
    h.flow.proto = rnd() < 0.5 ? 6 : 17;
    h.nowMs += Math.floor(rnd() * 1000);
    const picked = h.pick();
    checkPick(h, picked, exp, `${ctx} pick ${k}`);
    if (picked !== NO_REAL && rnd() < 0.7) h.openConn(picked, rnd() < 0.5 ? 'active' : 'inactive');
    if (h.reals.length > 0 && rnd() < 0.3) h.closeConn(Math.floor(rnd() * h.reals.length), 'active');
  }
}

const entries = Object.entries(SCHEDULERS) as [string, Scheduler][];

describe('scheduler contract', () => {
  it('the registry holds every IPVS scheduler but twos, by its ipvsadm name, and maglev as an alias of mh', () => {
    expect([...schedulerNames()].sort()).toEqual(
      ['dh', 'fo', 'lblc', 'lblcr', 'lc', 'mh', 'nq', 'ovf', 'rr', 'sed', 'sh', 'wlc', 'wrr'].sort(),
    );
    expect(schedulerNames()).toEqual(Object.keys(SCHEDULERS));
    expect(getScheduler('maglev')).toBe(SCHEDULERS.mh);
  });

  describe.each(entries)('%s', (key, sched) => {
    const exp: Expectations = { ...DEFAULT_EXPECTATIONS, ...EXPECTATIONS[key] };

    it('is registered under its ipvsadm name and found by getScheduler', () => {
      expect(sched.name).toBe(key);
      expect(getScheduler(key)).toBe(sched);
    });

    it.each([1, 3, 64])('picks NO_REAL or an allowed index in range with %i reals, without throwing', (count) => {
      const rnd = prng(count * 7919 + key.length);
      for (let round = 0; round < 20; round++) {
        const h = new SchedHarness(sched, randomReals(count, rnd), { schedFlags: round % 4 === 3 ? SCHED_FLAG_1 | SCHED_FLAG_2 : 0 });
        drive(h, 50, rnd, exp, `${key} n=${count} round ${round}`);
        // Reconfigure and carry the state into new snapshots.
        h.setWeight(Math.floor(rnd() * h.reals.length), rnd() < 0.5 ? 0 : 3);
        drive(h, 20, rnd, exp, `${key} n=${count} round ${round} after weight edit`);
        h.addReal({ addr: (0x0b000000 + round) >>> 0, weight: 2 });
        drive(h, 20, rnd, exp, `${key} n=${count} round ${round} after add`);
        h.removeReal(Math.floor(rnd() * h.reals.length));
        drive(h, 20, rnd, exp, `${key} n=${count} round ${round} after remove`);
      }
    });

    it('picks NO_REAL when every real is quiescent or overloaded', () => {
      const h = new SchedHarness(sched, [
        { addr: '10.0.0.1', weight: 0 },
        { addr: '10.0.0.2', weight: 1, overload: true },
        { addr: '10.0.0.3', weight: 0, overload: true },
      ]);
      const rnd = prng(42);
      for (let k = 0; k < 50; k++) {
        h.flow.saddr = Math.floor(rnd() * 2 ** 32);
        const picked = h.pick();
        if (exp.skipsQuiescent && exp.skipsOverloaded) expect(picked).toBe(NO_REAL);
        else checkPick(h, picked, exp, key);
      }
    });

    it('picks NO_REAL for a service with no reals', () => {
      expect(new SchedHarness(sched, []).pick()).toBe(NO_REAL);
    });

    it('does not allocate in pick (nor in countsChanged)', ({ skip }) => {
      const h = new SchedHarness(sched, randomReals(64, prng(7)).map((r) => ({ ...r, overload: false, weight: 1 + ((r.weight ?? 0) % 5) })));
      h.tick();
      let now = 0;
      const run = (count: number): void => {
        for (let k = 0; k < count; k++) {
          h.flow.sport = 1024 + (k & 0x7fff);
          h.flow.saddr = (0xc0000000 + ((k * 2654435761) >>> 12)) >>> 0;
          h.flow.daddr = (0x0a640000 + (k % 1000)) >>> 0; // lblc/lblcr: hits and new entries
          const i = sched.pick(h.svc, h.state, h.flow, now++);
          if (i >= 0) {
            // A conn bound and one closed, as the worker reports them.
            const s = h.svc.slot[i];
            h.svc.inactive[s]++;
            sched.countsChanged?.(h.svc, h.state, i);
            h.svc.inactive[s]--;
            sched.countsChanged?.(h.svc, h.state, i);
          }
        }
      };
      const bytes = heapGrowth(run, 100_000);
      if (bytes === undefined) skip('heapUsed measurement disturbed by GC on every attempt');
      // An allocation per pick would be >= 16 B × 1e5 = 1.6 MB; allow slack for compiled code landing on the heap.
      expect(bytes!).toBeLessThan(256 * 1024);
    });
  });

  it.each(entries.filter(([key]) => ['lc', 'wlc', 'sed', 'nq', 'fo', 'ovf'].includes(key)))(
    '%s: countsChanged keeps pick equal to a state rebuilt from scratch',
    (_key, sched) => {
      const rnd = prng(11);
      const h = new SchedHarness(sched, randomReals(40, rnd));
      for (let k = 0; k < 3000; k++) {
        const i = Math.floor(rnd() * h.reals.length);
        const r = rnd();
        if (r < 0.05) h.setOverload(i, !h.reals[i].overload);
        else if (r < 0.5) h.openConn(i, rnd() < 0.5 ? 'active' : 'inactive');
        else if (r < 0.8) h.closeConn(i, rnd() < 0.5 ? 'active' : 'inactive');
        else h.deactivate(i);
        expect(h.pick()).toBe(sched.pick(h.svc, sched.init(h.svc, undefined), h.flow, h.nowMs));
      }
    },
  );

  it('the allocation check detects an allocating pick (self-test of the measurement)', () => {
    const sink: { v: unknown } = { v: null };
    const bytes = heapGrowth((count) => {
      for (let k = 0; k < count; k++) sink.v = { k };
    }, 100_000);
    if (bytes !== undefined) expect(bytes).toBeGreaterThan(1024 * 1024);
  });
});

/**
 * heapUsed growth across `run(count)` after a warm-up of the same loop, or undefined if a GC shrank the heap during
 * every one of 5 attempts (a GC inside the window can hide allocation, so such a measurement is thrown away).
 */
function heapGrowth(run: (count: number) => void, count: number): number | undefined {
  run(count); // warm-up: compile and optimise the loop before measuring
  run(count);
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = process.memoryUsage().heapUsed;
    run(count);
    const after = process.memoryUsage().heapUsed;
    if (after >= before) return after - before;
  }
  return undefined;
}

describe('parseSchedFlags', () => {
  it('accepts flag-1/2/3 for any scheduler', () => {
    expect(parseSchedFlags('rr', ['flag-1', 'flag-2', 'flag-3'])).toBe(SCHED_FLAG_1 | SCHED_FLAG_2 | SCHED_FLAG_3);
    expect(parseSchedFlags('wlc', ['flag-2'])).toBe(SCHED_FLAG_2);
  });

  it('rejects sh-*/mh-* flags for other schedulers with ipvsadm wording', () => {
    expect(parseSchedFlags('rr', ['sh-port'])).toBe("incompatible scheduler flag `sh-port'");
    expect(parseSchedFlags('wlc', ['flag-1', 'mh-fallback'])).toBe("incompatible scheduler flag `mh-fallback'");
  });

  it('judges flags against wlc when no scheduler is given (ipvsadm DEF_SCHED)', () => {
    expect(parseSchedFlags('', ['sh-fallback'])).toBe("incompatible scheduler flag `sh-fallback'");
    expect(parseSchedFlags('', ['flag-3'])).toBe(SCHED_FLAG_3);
  });

  it('rejects unknown flags', () => {
    expect(parseSchedFlags('rr', ['flag-4'])).toBe("invalid scheduler flag `flag-4'");
  });

  it('skips empty items as strtok does', () => {
    expect(parseSchedFlags('rr', ['', 'flag-1', ''])).toBe(SCHED_FLAG_1);
    expect(parseSchedFlags('rr', [])).toBe(0);
  });

  it("accepts a scheduler's own flags as it declares them", () => {
    for (const [key, sched] of entries) {
      for (const [flag, bit] of Object.entries(sched.flags ?? {})) expect(parseSchedFlags(key, [flag])).toBe(bit);
    }
  });
});

describe('getScheduler', () => {
  it('returns undefined for unknown names, including Object.prototype keys', () => {
    expect(getScheduler('xyz')).toBeUndefined();
    expect(getScheduler('toString')).toBeUndefined();
    expect(getScheduler('__proto__')).toBeUndefined();
  });

  it('resolves aliases to registered schedulers only', () => {
    for (const [alias, target] of Object.entries(SCHEDULER_ALIASES)) expect(getScheduler(alias)).toBe(SCHEDULERS[target]);
  });
});
