/**
 * The health checker's scheduling over a service table with a scripted probe and fake timers: one probe per
 * interval per real, a publish only when a real goes into or out of DOWN, probers following the table (new
 * reals, changed specs, removed reals and checks).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { validateHealthSpec, type HealthCheckSpec } from '../../../src/config/health-spec.js';
import { ServiceTable } from '../../../src/control/state.js';
import { HealthChecker } from '../../../src/health/checker.js';
import type { ProbeTarget } from '../../../src/health/probes.js';
import { formatIPv4 } from '../../../src/util/addr.js';

const key = { proto: 'tcp' as const, vip: '10.0.0.100', vport: 80 };

describe('health checker', () => {
  let table: ServiceTable;
  let publishes: number;
  let probes: string[];
  let failing: Set<string>;
  let checker: HealthChecker;

  beforeEach(() => {
    vi.useFakeTimers();
    table = new ServiceTable();
    table.addService({ ...key, scheduler: 'rr' });
    table.addReal(key, { rip: '10.0.1.11', method: 'nat' });
    table.addReal(key, { rip: '10.0.1.12', method: 'nat' });
    publishes = 0;
    probes = [];
    failing = new Set();
    const fake = async (_s: HealthCheckSpec, t: ProbeTarget) => {
      probes.push(`${t.rip}:${t.port}`);
      return failing.has(t.rip) ? 'tcp connect: ECONNREFUSED' : null;
    };
    checker = new HealthChecker({ table, requestPublish: () => publishes++ }, fake, () => Date.now());
  });

  afterEach(() => {
    checker.stop();
    vi.useRealTimers();
  });

  const setCheck = (o: object) => {
    table.setHealth(key, validateHealthSpec({ kind: 'tcp', intervalMs: 100, timeoutMs: 50, rise: 2, fall: 2, ...o }));
    checker.sync();
  };
  const state = (rip: string) => table.find(key)!.reals.find((r) => formatIPv4(r.addr) === rip)!.check!.state;

  it('probes each real once per interval and publishes only on transitions into or out of DOWN', async () => {
    checker.start();
    setCheck({ port: 8080 });
    await vi.advanceTimersByTimeAsync(1000); // first probe within min(interval, 1 s), then every 100 ms
    const n = probes.length;
    expect(n).toBeGreaterThanOrEqual(18);
    expect(n).toBeLessThanOrEqual(22);
    expect(new Set(probes)).toEqual(new Set(['10.0.1.11:8080', '10.0.1.12:8080']));
    expect(state('10.0.1.11')).toBe('up');
    expect(publishes).toBe(0); // unknown → up changes nothing in the dataplane
    failing.add('10.0.1.11');
    await vi.advanceTimersByTimeAsync(250);
    expect(state('10.0.1.11')).toBe('down');
    expect(state('10.0.1.12')).toBe('up');
    expect(publishes).toBe(1);
    failing.clear();
    await vi.advanceTimersByTimeAsync(250);
    expect(state('10.0.1.11')).toBe('up');
    expect(publishes).toBe(2);
  });

  it('follows the table: new reals, changed specs, removed reals and a removed check', async () => {
    checker.start();
    setCheck({});
    expect(checker.size).toBe(2);
    table.addReal(key, { rip: '10.0.1.13', method: 'nat' });
    checker.sync();
    expect(checker.size).toBe(3);
    failing.add('10.0.1.11');
    await vi.advanceTimersByTimeAsync(1200);
    expect(state('10.0.1.11')).toBe('down');
    setCheck({ intervalMs: 200, timeoutMs: 100 }); // a new spec restarts the probers; the state stays
    expect(state('10.0.1.11')).toBe('down');
    table.delReal(key, { rip: '10.0.1.13' });
    checker.sync();
    expect(checker.size).toBe(2);
    table.setHealth(key, null);
    checker.sync();
    expect(checker.size).toBe(0);
    expect(table.find(key)!.reals.every((r) => r.check === undefined)).toBe(true);
    const before = probes.length;
    await vi.advanceTimersByTimeAsync(1000);
    expect(probes.length).toBe(before);
  });

  it('probes nothing for a spec with source tap that bypassed validation, and says why', async () => {
    checker.start();
    table.setHealth(key, { ...validateHealthSpec({ kind: 'tcp', intervalMs: 100, timeoutMs: 50 }), source: 'tap' });
    checker.sync();
    await vi.advanceTimersByTimeAsync(1000);
    expect(probes).toEqual([]);
    expect(checker.size).toBe(0);
    const r = table.find(key)!.reals[0]!;
    expect(r.check).toMatchObject({ state: 'unknown', lastError: expect.stringMatching(/source "tap" is not supported/) });
  });
});
