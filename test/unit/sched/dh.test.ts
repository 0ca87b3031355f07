import { describe, expect, it } from 'vitest';
import { dh, DH_TAB_SIZE } from '../../../src/sched/dh.js';
import { hash32 } from '../../../src/sched/hash.js';
import { NO_REAL, type TableReal } from '../../../src/sched/scheduler.js';
import { dhOracle, kernelHash32 } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness } from '../../helpers/sched-harness.js';

const tableReal = (addr: number, weight = 1, port = 80): TableReal => ({ addr, port, weight, lastWeight: weight });

describe('dh', () => {
  describe('table (control thread)', () => {
    it('cycles through the reals sorted by address then port, ignoring weights (§2.12)', () => {
      // IPVS list order C, A, B (newest first); sorted A, B, C.
      const reals = [tableReal(0x0a000003, 5), tableReal(0x0a000001, 0), tableReal(0x0a000002, 1)];
      const t = dh.buildTable!(reals, 0);
      expect(t.length).toBe(DH_TAB_SIZE);
      expect(Array.from(t.slice(0, 7))).toEqual([1, 2, 0, 1, 2, 0, 1]);
    });

    it('is the same table whatever the order the reals were added in', () => {
      const a = [tableReal(0x0a000001), tableReal(0x0a000001, 1, 81), tableReal(0x0a000002)];
      const b = [a[2], a[0], a[1]];
      const ids = (reals: TableReal[], t: Int32Array): string[] => Array.from(t, (i) => `${reals[i].addr}:${reals[i].port}`);
      expect(ids(b, dh.buildTable!(b, 0))).toEqual(ids(a, dh.buildTable!(a, 0)));
    });

    it('is empty (-1) without reals', () => {
      expect(Array.from(dh.buildTable!([], 0)).every((i) => i === NO_REAL)).toBe(true);
    });
  });

  describe('picks', () => {
    it('the real in bucket hash_32(daddr, 8): same destination, same real', () => {
      const h = new SchedHarness(dh, [{ addr: '10.0.0.1' }, { addr: '10.0.0.2' }, { addr: '10.0.0.3' }]);
      for (let d = 0; d < 200; d++) {
        h.flow.daddr = (0x0a640000 + d * 7919) >>> 0;
        h.flow.saddr = d;
        const i = h.pick();
        expect(i).toBe(h.svc.table![hash32(h.flow.daddr, 8)]);
        h.flow.saddr = d + 1000;
        expect(h.pick()).toBe(i);
      }
    });

    it('nothing when the hashed real is quiescent or overloaded (no fallback)', () => {
      const h = new SchedHarness(dh, [{ addr: '10.0.0.1' }, { addr: '10.0.0.2' }]);
      const target = h.pick();
      h.setOverload(target, true);
      expect(h.pick()).toBe(NO_REAL);
      h.setOverload(target, false);
      h.setWeight(target, 0);
      expect(h.pick()).toBe(NO_REAL);
    });
  });

  it('hash32 is the kernel hash_32', () => {
    for (const v of [0, 1, 0x0a000001, 0xffffffff, 0xc0a80101, 123456789]) {
      expect(hash32(v, 8)).toBe(kernelHash32(v, 8));
      expect(hash32(v, 10)).toBe(kernelHash32(v, 10));
    }
  });

  it('matches the oracle pick by pick over random flows, weight edits, adds, removes and overloads', () => {
    assertReplayMatches(dh, (h) => ({ expect: () => dhOracle(h.model(), h.flow.daddr) }), {
      seed: 0x5eed_0d01,
      events: { flows: true },
    });
  });
});

