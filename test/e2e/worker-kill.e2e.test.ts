/**
 * A worker thread killed in the middle of HTTP traffic, two workers on a two-queue TAP. An HTTP loop keeps
 * requesting over kept-alive connections and over new ones while worker 1 is terminated as a crash would
 * (`restart-worker`). Checked: worker 1 comes back (restarted once, alive, creating conns again), worker 0 is
 * untouched (never restarted, every conn it held before still there), and every failed request was a flow of
 * worker 1 (its conns died with it; the client hears a RST at its next segment and the loop carries on).
 * The figures are printed. Long version: scripts/faults.sh; RELIABILITY.md has its figures.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { steerOwner } from '../../src/io/steering.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { ROOT, Testbed, e2eSkipReason, run } from '../helpers/testbed.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const CIP = parseIPv4('198.18.0.2');
const LOAD_S = Number(process.env.FAULT_LOAD_SECONDS ?? 8);
const KILLS = Number(process.env.FAULT_KILLS ?? 1);

const conns = async (bed: Testbed, worker: number): Promise<Set<string>> =>
  new Set((await bed.api({ op: 'list-conns' })).conns.filter((c: any) => c.worker === worker).map((c: any) => c.source));

describe.skipIf(skip !== null)(`a worker killed under load${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tk${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up();
    await bed.startReals(['--keep-alive', '30000']);
    await bed.startDaemon(['--workers', '2']);
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-m'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12:80', '-m'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it(`restarts the killed worker; only its flows fail (${KILLS} kill(s) in ${LOAD_S} s of load)`, async () => {
    const before = await bed.api({ op: 'status' });
    const load = run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httploop.js'), '--url', `http://${VIP}/`,
      '--seconds', String(LOAD_S), '--keepalive', '8', '--fresh', '4', '--timeout', '5000'], (LOAD_S + 30) * 1000);
    const kept: { held: number; lost: number }[] = [];
    const restartMs: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      await new Promise((r) => setTimeout(r, (LOAD_S * 1000) / (KILLS + 1)));
      const w0 = await conns(bed, 0);
      const t0 = Date.now();
      expect(await bed.api({ op: 'restart-worker', worker: 1 })).toEqual({ restarted: 1 });
      restartMs.push(Date.now() - t0);
      const after = await conns(bed, 0);
      kept.push({ held: w0.size, lost: [...w0].filter((s) => !after.has(s)).length });
    }
    const res = JSON.parse((await load).stdout);
    const st = await bed.api({ op: 'status' });
    const failedByWorker = [0, 0];
    for (const p of res.failedPorts) failedByWorker[steerOwner(CIP, p, 2)]!++;
    const figures = {
      load: { keepalive: res.keepalive, fresh: res.fresh, latencyMs: res.latencyMs }, failedByWorker, restartMs, worker0ConnsKept: kept,
      restarts: st.workers.map((w: any) => w.restarts), wrongWorker: st.workers.map((w: any) => w.counters.wrong_worker),
      rstSent: st.workers.map((w: any) => w.counters.tcp_rst_sent),
    };
    console.log(`worker kill figures: ${JSON.stringify(figures)}`);
    const ok = res.keepalive.ok + res.fresh.ok;
    expect(ok).toBeGreaterThan(200);
    expect(st.workers[1]).toMatchObject({ alive: true, restarts: before.workers[1].restarts + KILLS });
    expect(st.workers[0].restarts).toBe(before.workers[0].restarts);
    for (const k of kept) expect(k.lost, JSON.stringify(figures)).toBe(0);
    // Failures only among worker 1's flows, and few: at most the flows it held when it died, per kill.
    expect(failedByWorker[0], JSON.stringify(figures)).toBe(0);
    expect(res.keepalive.failed + res.fresh.failed).toBeLessThanOrEqual(12 * KILLS);
    // The restarted worker takes new conns again.
    const created = st.workers[1].counters.conns_created;
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '50', '--concurrency', '5'], 60_000);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: 50, failed: 0 });
    expect((await bed.api({ op: 'status' })).workers[1].counters.conns_created).toBeGreaterThan(created);
  }, (LOAD_S + 90) * 1000);
});
