import { describe, expect, it } from 'vitest';
import { RateEstimator } from '../../../src/control/estimator.js';

/** IPVS's estimator written out naively from ip_vs_est.c's description (ipvs-semantics.md §5.3). */
function naive(deltas: number[][]): number[] {
  const avg = [0, 0, 0, 0, 0];
  for (const d of deltas) {
    for (let f = 0; f < 5; f++) {
      const scaled = f < 3 ? d[f]! * 2 ** 9 : d[f]! * 2 ** 4;
      avg[f] = avg[f]! + Math.floor((scaled - avg[f]!) / 4);
    }
  }
  return avg.map((a, f) => (f < 3 ? Math.floor((a + 0x1ff) / 2 ** 10) : Math.floor((a + 0xf) / 2 ** 5)));
}

describe('RateEstimator (IPVS 2-second EWMA)', () => {
  it('converges to the per-second rate of a steady load', () => {
    const e = new RateEstimator(1);
    const totals = [0, 0, 0, 0, 0];
    for (let i = 0; i < 100; i++) {
      // 2 s at 100 conn/s, 1000 pkt/s in, 800 out, 64 kB/s in, 1 MB/s out
      totals[0]! += 200; totals[1]! += 2000; totals[2]! += 1600; totals[3]! += 128_000; totals[4]! += 2_000_000;
      e.sample(0, totals);
    }
    expect(e.rates(0)).toEqual([100, 1000, 800, 64_000, 1_000_000]);
  });

  it('matches the kernel formula step by step on random traffic, and restarts from zero after reset', () => {
    let seed = 99;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 48271) + 11) >>> 0) % n);
    const e = new RateEstimator(3);
    const totals = [0, 0, 0, 0, 0];
    const deltas: number[][] = [];
    for (let i = 0; i < 25; i++) {
      const d = [rnd(500), rnd(50_000), rnd(50_000), rnd(5_000_000), rnd(5_000_000)];
      for (let f = 0; f < 5; f++) totals[f]! += d[f]!;
      deltas.push(d);
      e.sample(2, totals);
      expect(e.rates(2)).toEqual(naive(deltas));
    }
    e.reset(2, totals);
    expect(e.rates(2)).toEqual([0, 0, 0, 0, 0]);
    e.sample(2, totals);
    expect(e.rates(2)).toEqual([0, 0, 0, 0, 0]);
  });
});
