/**
 * The pipeline fuzzer's short run (harness.ts says what it checks): 10^6 generated and mutated frames through
 * two dataplanes over in-memory PacketIOs in three configurations, seeded (FUZZ_SEED, default 1) and bounded. The long run with any
 * frame count and seed is scripts/fuzz.sh; RELIABILITY.md has its latest figures.
 */
import { describe, expect, it } from 'vitest';
import { fuzz, type FuzzResult } from './harness.js';

const SEED = Number(process.env.FUZZ_SEED ?? 1);

function report(config: string, r: FuzzResult): void {
  console.log(`fuzz ${config}: seed ${r.seed}, ${r.frames} frames in ${(r.ms / 1000).toFixed(1)} s, ${r.exceptions} exceptions, ` +
    `${r.failures.length} failures; outcomes ${JSON.stringify(r.outcomes)}`);
}

describe('pipeline fuzz (short run)', () => {
  it('700 000 frames, one worker: no exception, no read past a frame, one outcome per frame, well-formed output', async () => {
    const r = await fuzz(SEED, 700_000);
    report('1 worker', r);
    expect(r.failures).toEqual([]);
    expect(r.exceptions).toBe(0);
    expect(r.frames).toBe(700_000);
    // The run reached the deep paths, not just the parser.
    for (const k of ['transmitted', 'held', 'arp_reply_consumed', 'tcp_no_conn', 'reply_no_conn', 'ipv4_too_big']) {
      expect(r.outcomes[k], k).toBeGreaterThan(0);
    }
    for (const k of ['tcp_rst_sent', 'toa_inserted', 'proxy_inserted', 'icmp_translated', 'icmp_forwarded', 'tun_fragmented', 'conns_reused', 'conns_nodest_expired']) {
      expect(r.counters![k], k).toBeGreaterThan(0);
    }
  }, 120_000);

  it('200 000 frames, worker 2 of 2, a 64-entry table and 20 % spoofed SYNs: full table and defence hold up', async () => {
    const r = await fuzz(SEED + 1, 200_000, { workers: 2, maxConns: 64, synFlood: 0.2 });
    report('worker 2 of 2, 64 conns, SYN flood', r);
    expect(r.failures).toEqual([]);
    expect(r.exceptions).toBe(0);
    expect(r.conns.peak).toBeLessThanOrEqual(64);
    expect(r.counters!.wrong_worker).toBeGreaterThan(0);
    expect(r.counters!.synflood_evicted).toBeGreaterThan(0);
  }, 120_000);

  it('100 000 frames with TAP offloads: virtio headers, partial checksums, GSO super-frames passed whole or cut', async () => {
    const r = await fuzz(SEED + 2, 100_000, { vnet: true });
    report('TAP offloads', r);
    expect(r.failures).toEqual([]);
    expect(r.exceptions).toBe(0);
    for (const k of ['csum_completed', 'gso_passed', 'gso_segmented']) expect(r.counters![k], k).toBeGreaterThan(0);
  }, 120_000);
});
