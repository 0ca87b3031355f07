/**
 * The SYN flood defence (src/worker/synflood.ts) in memory: a 1024-entry conn table, established NAT conns, a
 * flood of spoofed SYNs. The table never holds more than its bound, established conns keep forwarding both ways,
 * a new handshake during the flood completes, the defence is visible in counters and gauges, and it switches off
 * once the flood has gone. Without pressure from half-open or closed conns (a table full of established conns)
 * nothing is evicted; closed conns (reset, TIME_WAIT) make room as half-open ones do.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt, parseFrame } from '../helpers/packet-builder.js';
import { prng } from '../helpers/prng.js';
import { CIP, CLIENT_MAC, DIR_MAC, R1, R1_MAC, VIP, answerArp, natBed, type Bed } from '../helpers/inline-bed.js';

const MAX = 1024; // the inline bed's table

describe('SYN flood defence', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await natBed();
  });

  const seg = (src: string, sport: number, flags: string, seq = 1000, ack = 0, payload = 0) =>
    pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src, dst: VIP }).tcp({ sport, dport: 80, flags, seq, ack }).payload(payload).build();
  const reply = (dport: number, flags: string, seq = 5000, ack = 1001, payload = 0) =>
    pkt().eth({ src: R1_MAC, dst: DIR_MAC }).ipv4({ src: R1, dst: CIP }).tcp({ sport: 8080, dport, flags, seq, ack }).payload(payload).build();

  /** A full handshake and one exchange of data: the conn ends ESTABLISHED. */
  function handshake(sport: number): number {
    b.io.inject(seg(CIP, sport, 'S'));
    b.w.pump();
    b.io.inject(reply(sport, 'SA'));
    b.w.pump();
    b.io.inject(seg(CIP, sport, 'A', 1001, 5001), seg(CIP, sport, 'PA', 1001, 5001, 100));
    b.w.pump();
    b.io.inject(reply(sport, 'PA', 5001, 1101, 200));
    b.w.pump();
    return answerArp(b).length;
  }

  const status = () => b.control.status();
  const counter = (k: string) => status().workers[0]!.counters[k]!;

  it('keeps the table bounded and established and new conns working under a flood of spoofed SYNs', () => {
    for (let i = 0; i < 100; i++) expect(handshake(20000 + i)).toBe(5);
    const rand = prng(9);
    let maxConns = 0;
    let newOk = 0;
    for (let round = 0; round < 40; round++) {
      // 250 spoofed SYNs per 10 ms (25 000 per second) from addresses that never answer.
      for (let i = 0; i < 250; i++) {
        const src = `203.0.${(rand() * 256) | 0}.${1 + ((rand() * 250) | 0)}`;
        b.io.inject(seg(src, 1024 + ((rand() * 60000) | 0), 'S', (rand() * 1e9) | 0));
      }
      b.clock.t += 10;
      b.w.pump();
      b.io.take();
      maxConns = Math.max(maxConns, b.w.dp.conns.count);
      // Every established conn still forwards, both ways.
      const k = 20000 + (round % 100);
      b.io.inject(seg(CIP, k, 'PA', 1101, 5201, 10), reply(k, 'PA', 5201, 1111, 10));
      b.w.pump();
      const out = b.io.take().map((f) => parseFrame(f));
      expect(out.map((p) => p.ip!.dst), `round ${round}`).toEqual([R1, CIP]);
      // And a new client handshake completes in the middle of the flood.
      if (round % 4 === 3) newOk += handshake(30000 + round) === 5 ? 1 : 0;
    }
    const st = status();
    expect(maxConns).toBeLessThanOrEqual(MAX);
    expect(newOk).toBe(10);
    expect(st.workers[0]!.synflood).toBe(true);
    expect(counter('synflood_on')).toBe(1);
    expect(counter('synflood_evicted')).toBeGreaterThan(5000);
    expect(st.workers[0]!.halfOpen).toBeGreaterThan(MAX / 2);
    expect(st.drops.conn_table_full).toBe(0);
    // The flood stops: the half-open conns run out their short timeout and the defence switches off.
    b.clock.t += 6000;
    b.w.dp.tick();
    b.clock.t += 100;
    b.w.dp.tick();
    expect(status().workers[0]!).toMatchObject({ synflood: false, halfOpen: 0 });
    expect(b.w.dp.conns.count).toBe(110); // the 100 + 10 established conns
  });

  it('evicts nothing when the table is full of established conns: new SYNs are counted drops', async () => {
    for (let i = 0; i < MAX; i++) {
      b.io.inject(seg(CIP, 10000 + i, 'S'));
      b.io.inject(seg(CIP, 10000 + i, 'A', 1001, 1));
    }
    b.w.pump();
    b.io.take();
    b.clock.t += 100;
    b.w.dp.tick();
    expect(b.w.dp.conns.count).toBe(MAX);
    b.io.inject(seg(CIP, 9999, 'S'));
    b.w.pump();
    expect(b.io.take()).toEqual([]);
    const st = status();
    expect(st.drops.conn_table_full).toBe(1);
    expect(st.workers[0]!).toMatchObject({ synflood: false, halfOpen: 0 });
    expect(counter('synflood_evicted')).toBe(0);
  });

  it('makes room among closed conns too: a table full of reset conns takes new ones, oldest evicted first', async () => {
    for (let i = 0; i < MAX; i++) b.io.inject(seg(CIP, 10000 + i, 'S'), seg(CIP, 10000 + i, 'A', 1001, 1), seg(CIP, 10000 + i, 'R', 1001));
    b.w.pump();
    b.io.take();
    expect(b.w.dp.conns.count).toBe(MAX);
    expect(new Set(b.w.dp.listConns().state)).toEqual(new Set([6])); // CLOSE
    b.io.inject(seg(CIP, 9999, 'S'));
    b.w.pump();
    expect(b.io.take().map((f) => parseFrame(f).ip!.dst)).toEqual([R1]);
    b.clock.t += 100;
    b.w.dp.tick(); // the gauges are published with the timers
    const st = status();
    expect(st.drops.conn_table_full).toBe(0);
    expect(st.workers[0]!).toMatchObject({ synflood: true, halfOpen: 1 });
    expect(counter('synflood_evicted')).toBe(1);
    // The oldest went: the first client port's conn is gone, the last one's is still there.
    const ports = new Set(b.w.dp.listConns().cport);
    expect([ports.has(10000), ports.has(10000 + MAX - 1), ports.has(9999)]).toEqual([false, true, true]);
  });
});
