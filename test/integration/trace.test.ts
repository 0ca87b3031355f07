/**
 * `tapvs trace` over the in-memory PacketIO: the control ops trace-start/poll/stop, the worker's filter and
 * record ring, and the decoded decision path (conn new/hit, real, method, rewritten headers, drop reason).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt } from '../helpers/packet-builder.js';
import { CIP, CIP3, CLIENT_MAC, DIR_MAC, R1, R1_MAC, VIP, answerArp, bed, ok, svcKey, syn, type Bed } from '../helpers/inline-bed.js';
import { TRACE_SLOTS } from '../../src/worker/trace.js';

describe('trace', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, rport: 8080, method: 'nat', weight: 1 } });
    answerArp(b);
  });

  const poll = (trace: number) => ok(b.control, { op: 'trace-poll', trace });

  it('shows a new conn (scheduled real, NAT rewrite), a conn hit, and nothing for other traffic', async () => {
    const { trace } = await ok(b.control, { op: 'trace-start', src: CIP, dst: `${VIP}:80` });
    b.io.inject(syn(40000));
    b.w.pump();
    b.io.inject(syn(40000, 'A'));
    // Not matching: another client, and the same client to another port.
    b.io.inject(pkt().eth({ src: '02:cc:00:00:00:03', dst: DIR_MAC }).ipv4({ src: CIP3, dst: VIP }).tcp({ sport: 40001, dport: 80, flags: 'S' }).build());
    b.w.pump();
    expect(answerArp(b)).toHaveLength(3);
    const r = await poll(trace);
    expect(r).toMatchObject({ trace, lost: 0, delivered: 2, done: false });
    expect(r.records).toHaveLength(2);
    expect(r.records[0]).toMatchObject({
      worker: 0, proto: 'tcp', src: `${CIP}:40000`, dst: `${VIP}:80`, conn: 'new', real: `${R1}:8080`, method: 'nat',
      result: 'forwarded', tx: 1, out: { proto: 'tcp', src: `${CIP}:40000`, dst: `${R1}:8080`, mac: R1_MAC },
    });
    expect(r.records[0].drop).toBeUndefined();
    expect(r.records[1]).toMatchObject({ conn: 'hit', real: `${R1}:8080`, result: 'forwarded', out: { dst: `${R1}:8080` } });
    expect(Date.parse(r.records[0].time)).toBeGreaterThan(0);
    const end = await ok(b.control, { op: 'trace-stop', trace });
    expect(end).toMatchObject({ done: true, reason: 'stopped', records: [] });
  });

  it('names the drop reason: no service on the port, bad checksum, no conn', async () => {
    const { trace } = await ok(b.control, { op: 'trace-start', src: `${CIP}:40000`, dst: `${VIP}:81` });
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 40000, dport: 81, flags: 'S' }).build());
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 40000, dport: 81, flags: 'S' }).badL4Checksum().build());
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 40001, dport: 81, flags: 'S' }).build()); // other port
    b.w.pump();
    const r = await poll(trace);
    // The SYN to a port without a service is answered with a RST from the VIP (the director stack's answer): it
    // queued a frame (here the ARP request for the client, whose RST waits for the answer).
    expect(r.records.map((x: any) => [x.result, x.drop, x.conn, x.tx])).toEqual([
      ['dropped', 'no_service', 'none', 1],
      ['dropped', 'l4_bad_checksum', 'none', 0],
    ]);
    expect(b.control.status().workers[0]!.counters.tcp_rst_sent).toBe(2); // both SYNs with a good checksum
    await ok(b.control, { op: 'trace-stop', trace });
    // A non-SYN to the service without a conn.
    const t2 = (await ok(b.control, { op: 'trace-start', src: CIP, dst: `${VIP}:80`, count: 5 })).trace;
    b.io.inject(syn(40002, 'A'));
    b.w.pump();
    expect((await poll(t2)).records).toMatchObject([{ result: 'dropped', drop: 'tcp_no_conn', conn: 'none' }]);
  });

  it('is bounded: stops at count, counts records lost to a full ring, refuses a second trace and bad filters', async () => {
    const { trace } = await ok(b.control, { op: 'trace-start', src: CIP, dst: `${VIP}:81`, count: 3 });
    await expect(b.control.handle({ op: 'trace-start', src: CIP, dst: `${VIP}:80` })).resolves.toMatchObject({ ok: false, error: { code: 'EINVAL' } });
    const n = TRACE_SLOTS + 10;
    for (let i = 0; i < n; i++) {
      b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 30000 + i, dport: 81, flags: 'S' }).build());
    }
    b.w.pump();
    expect(b.control.status().drops.no_service).toBe(n);
    const r = await poll(trace);
    expect(r).toMatchObject({ delivered: 3, lost: 10, done: true, reason: 'count' });
    expect(r.records.map((x: any) => x.src)).toEqual([`${CIP}:30000`, `${CIP}:30001`, `${CIP}:30002`]);
    // Tracing is off in the worker: more matching packets write nothing.
    b.io.inject(syn(40003));
    b.w.pump();
    expect((await poll(trace)).records).toEqual([]);
    for (const bad of [{ src: 'x', dst: `${VIP}:80` }, { src: CIP, dst: VIP }, { src: CIP, dst: `${VIP}:80`, count: 0 }, { src: CIP, dst: `${VIP}:80`, proto: 'sctp' }]) {
      const e = await b.control.handle({ op: 'trace-start', ...bad });
      expect(e, JSON.stringify(bad)).toMatchObject({ ok: false, error: { code: 'EINVAL' } });
    }
    await expect(b.control.handle({ op: 'trace-poll', trace: 99 })).resolves.toMatchObject({ ok: false });
  });
});
