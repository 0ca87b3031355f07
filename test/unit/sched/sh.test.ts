import { describe, expect, it } from 'vitest';
import { hash32 } from '../../../src/sched/hash.js';
import { NO_REAL, SCHED_FLAG_1, SCHED_FLAG_2, type TableReal } from '../../../src/sched/scheduler.js';
import { sh, SH_FALLBACK, SH_PORT } from '../../../src/sched/sh.js';
import { parseSchedFlags } from '../../../src/sched/registry.js';
import { shOracle, shOracleTable } from '../../helpers/oracles.js';
import { assertReplayMatches, SchedHarness, type RealSpec } from '../../helpers/sched-harness.js';

const tableReal = (addr: number, weight = 1, port = 80): TableReal => ({ addr, port, weight, lastWeight: weight });
const reals = (...weights: number[]): RealSpec[] => weights.map((weight, i) => ({ addr: `10.0.0.${i + 1}`, weight }));

describe('sh', () => {
  it('declares sh-fallback and sh-port as SCHED_FLAG_1 and SCHED_FLAG_2 (-b)', () => {
    expect(SH_FALLBACK).toBe(SCHED_FLAG_1);
    expect(SH_PORT).toBe(SCHED_FLAG_2);
    expect(parseSchedFlags('sh', ['sh-fallback', 'sh-port'])).toBe(SCHED_FLAG_1 | SCHED_FLAG_2);
    expect(parseSchedFlags('sh', ['mh-port'])).toBe("incompatible scheduler flag `mh-port'");
  });

  describe('table (control thread)', () => {
    it('each real, sorted by address, fills `weight` consecutive buckets, cycling (§2.13): A=2, B=1 → AAB AAB ...', () => {
      // List order B, A (newest first).
      const t = sh.buildTable!([tableReal(0x0a000002, 1), tableReal(0x0a000001, 2)], 0);
      expect(Array.from(t.slice(0, 9))).toEqual([1, 1, 0, 1, 1, 0, 1, 1, 0]);
    });

    it('gives bucket counts in proportion to the weights (exact cycle arithmetic)', () => {
      // Σw = 10: 25 full cycles (250 buckets), then 1 + 2 + 3 of the next cycle.
      const t = sh.buildTable!([tableReal(0x0a000001, 1), tableReal(0x0a000002, 2), tableReal(0x0a000003, 3), tableReal(0x0a000004, 4)], 0);
      const count = [0, 0, 0, 0];
      for (const i of t) count[i]++;
      expect(count).toEqual([26, 52, 78, 100]);
    });

    it('a weight-0 real fills one bucket; a weight >= 256 real fills them all', () => {
      const t0 = sh.buildTable!([tableReal(0x0a000001, 0), tableReal(0x0a000002, 3)], 0);
      expect(Array.from(t0.slice(0, 8))).toEqual([0, 1, 1, 1, 0, 1, 1, 1]);
      const t1 = sh.buildTable!([tableReal(0x0a000002, 1), tableReal(0x0a000001, 300)], 0);
      expect(Array.from(t1).every((i) => i === 1)).toBe(true);
    });

    it('is the same table whatever the order the reals were added in, and matches the oracle', () => {
      const h1 = new SchedHarness(sh, reals(3, 1, 0, 2));
      const h2 = new SchedHarness(sh, [...reals(3, 1, 0, 2)].reverse());
      const ids = (h: SchedHarness): number[] => Array.from(h.svc.table!, (i) => h.reals[i].addr);
      expect(ids(h2)).toEqual(ids(h1));
      expect(Array.from(h1.svc.table!, (i) => h1.reals[i].id)).toEqual(shOracleTable(h1.model()));
    });
  });

  describe('picks', () => {
    it('the same real for the same source, whatever the port, destination or time', () => {
      const h = new SchedHarness(sh, reals(1, 2, 3));
      for (let s = 0; s < 100; s++) {
        h.flow.saddr = (0xc0000000 + s * 104729) >>> 0;
        h.flow.sport = 1024;
        const i = h.pick();
        expect(i).toBe(h.svc.table![hash32(h.flow.saddr, 8)]);
        h.flow.sport = 40000 + s;
        h.flow.daddr = s;
        h.nowMs += 1000;
        expect(h.pick()).toBe(i);
      }
    });

    it('with sh-port, hashes port + address (TCP/UDP/SCTP only)', () => {
      const h = new SchedHarness(sh, reals(1, 1, 1, 1, 1), { schedFlags: SH_PORT });
      h.flow.saddr = 0xc0000201;
      for (const sport of [1, 2, 3, 1000, 65535]) {
        h.flow.sport = sport;
        h.flow.proto = 6;
        expect(h.pick()).toBe(h.svc.table![hash32((sport + h.flow.saddr) >>> 0, 8)]);
        h.flow.proto = 1; // ICMP: no ports
        expect(h.pick()).toBe(h.svc.table![hash32(h.flow.saddr, 8)]);
      }
    });

    it('nothing when the hashed real is quiescent or overloaded, without sh-fallback', () => {
      const h = new SchedHarness(sh, reals(1, 1));
      const i = h.pick();
      h.setOverload(i, true);
      expect(h.pick()).toBe(NO_REAL);
    });

    it('with sh-fallback, probes buckets (offset + hash) for offsets hash, hash+1, ... and takes the first available', () => {
      const h = new SchedHarness(sh, reals(1, 1, 1), { schedFlags: SH_FALLBACK });
      h.flow.saddr = 0xc0000233;
      const b = hash32(h.flow.saddr, 8);
      const primary = h.svc.table![b];
      h.setOverload(primary, true);
      // First probe: roffset = b, bucket (b + b) & 255.
      let want = -1;
      for (let k = 0; k < 256 && want < 0; k++) {
        const i = h.svc.table![(((k + b) & 255) + b) & 255];
        if (i !== primary) want = i;
      }
      expect(h.pick()).toBe(want);
      h.setWeight(0, 0);
      h.setWeight(1, 0);
      h.setWeight(2, 0);
      expect(h.pick()).toBe(NO_REAL);
    });

    it('nothing for a service without reals', () => {
      expect(new SchedHarness(sh, [], { schedFlags: SH_FALLBACK }).pick()).toBe(NO_REAL);
    });
  });

  describe('matches the oracle pick by pick over random flows, weight edits, adds, removes and overloads', () => {
    it.each([
      ['no flags', 0],
      ['sh-fallback', SH_FALLBACK],
      ['sh-port', SH_PORT],
      ['sh-fallback,sh-port', SH_FALLBACK | SH_PORT],
    ])('%s', (_name, flags) => {
      assertReplayMatches(sh, (h) => ({ expect: () => shOracle(h.model(), h.flow, flags) }), {
        seed: 0x5eed_0e01 + flags,
        numRuns: 150,
        schedFlags: flags,
        events: { flows: true },
      });
    });
  });
});
