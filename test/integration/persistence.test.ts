/**
 * Persistence (-p/-M) templates, connection reuse and expire_nodest_conn over the in-memory pipeline, checked
 * against IPVS's rules (ipvs-semantics.md §3.1, §3.4).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt, parseFrame } from '../helpers/packet-builder.js';
import { CIP, CIP3, CIP5, DIR_MAC, MACS, R1, R2, VIP, answerArp, bed, ok, svcKey, type Bed } from '../helpers/inline-bed.js';

function tcp(src: string, sport: number, flags: string) {
  return pkt().eth({ src: MACS[src], dst: DIR_MAC }).ipv4({ src, dst: VIP }).tcp({ sport, dport: 80, flags, seq: 1 }).build();
}
function reply(real: string, dst: string, dport: number, flags: string) {
  return pkt().eth({ src: MACS[real], dst: DIR_MAC }).ipv4({ src: real, dst }).tcp({ sport: 80, dport, flags, seq: 9, ack: 2 }).build();
}
/** Sends frames and returns the real each forwarded client frame went to (in order). */
function send(b: Bed, ...frames: Uint8Array[]): string[] {
  b.io.inject(...frames);
  b.w.pump();
  return answerArp(b).map((f) => parseFrame(f)).filter((p) => p.ip!.dst !== CIP && p.ip!.dst !== CIP3 && p.ip!.dst !== CIP5).map((p) => p.ip!.dst);
}
const conns = async (b: Bed) => (await ok(b.control, { op: 'list-conns' })).conns as { state: string; source: string; destination: string; expires: number }[];
const reals = (b: Bed) => Object.fromEntries(b.control.list().services[0]!.reals.map((r) => [r.rip, r]));

describe('persistence templates', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr', persistent: 300, netmask: '255.255.255.252' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, method: 'nat' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R2, method: 'nat' } });
    answerArp(b);
  });

  it('sends every new connection of a client network to the same real, and other networks by the scheduler', async () => {
    const first = send(b, tcp(CIP, 1000, 'S'), tcp(CIP, 1001, 'S'), tcp(CIP3, 1002, 'S'), tcp(CIP, 1003, 'S'));
    expect(new Set(first).size).toBe(1); // .2 and .3 share the /30 template
    const other = send(b, tcp(CIP5, 2000, 'S'), tcp(CIP5, 2001, 'S'));
    expect(other[0]).not.toBe(first[0]); // rr moved on for the new network
    expect(other[1]).toBe(other[0]);
    const list = await conns(b);
    const templates = list.filter((c) => c.source.endsWith(':0'));
    expect(templates.map((t) => [t.state, t.source, t.destination, t.expires]).sort()).toEqual([
      ['NONE', '198.18.0.0:0', `${first[0]}:80`, 300],
      ['NONE', '198.18.0.4:0', `${other[0]}:80`, 300],
    ].sort());
    expect(reals(b)[first[0]!]!.persist).toBe(1);
    expect(reals(b)[first[0]!]!.active).toBe(4);
  });

  it('marks the template ASSURED once a controlled connection is established', async () => {
    const [real] = send(b, tcp(CIP, 1000, 'S'));
    send(b, reply(real!, CIP, 1000, 'SA'), tcp(CIP, 1000, 'A'));
    const t = (await conns(b)).find((c) => c.source.endsWith(':0'))!;
    expect(t.state).toBe('ASSURED');
  });

  it('keeps a template while it controls connections, then expires it after its timeout', async () => {
    send(b, tcp(CIP, 1000, 'S')); // SYN_RECV: 60 s
    b.clock.t += 301_000;
    b.w.dp.tick();
    expect((await conns(b)).length).toBe(0); // conn gone at 60 s; template at 300 s (timer re-armed at creation)
    send(b, tcp(CIP, 1001, 'S'), reply(R1, CIP, 1001, 'SA'), reply(R2, CIP, 1001, 'SA'), tcp(CIP, 1001, 'A')); // ESTABLISHED: 900 s
    b.clock.t += 400_000; // past the template's 300 s, while its conn lives
    b.w.dp.tick();
    expect((await conns(b)).filter((c) => c.source.endsWith(':0')).length).toBe(1);
    b.clock.t += 600_000; // conn expired at 900 s; the template goes at its next 60 s retry
    b.w.dp.tick();
    b.clock.t += 61_000;
    b.w.dp.tick();
    expect(await conns(b)).toEqual([]);
    expect(Object.values(reals(b)).map((r) => r.persist)).toEqual([0, 0]);
  });

  it('reuses a template whose real was quiesced (weight 0), unless expire_quiescent_template', async () => {
    const [real] = send(b, tcp(CIP, 1000, 'S'));
    await ok(b.control, { op: 'edit-real', service: svcKey, real: { rip: real, weight: 0 } });
    expect(send(b, tcp(CIP, 1001, 'S'))).toEqual([real]);
    b.control.table.policy.expireQuiescentTemplate = true;
    await b.control.publish();
    const [moved] = send(b, tcp(CIP, 1002, 'S'));
    expect(moved).not.toBe(real);
    expect(b.control.status().workers[0]!.counters.templates_invalidated).toBe(1);
  });

  it('drops a stale template when its real is removed and schedules the client afresh', async () => {
    const [real] = send(b, tcp(CIP, 1000, 'S'));
    const other = real === R1 ? R2 : R1;
    await ok(b.control, { op: 'del-real', service: svcKey, real: { rip: real } });
    expect(send(b, tcp(CIP, 1001, 'S'))).toEqual([other]);
    // The old conn's packets are dropped (expire_nodest_conn=0), counted.
    expect(send(b, tcp(CIP, 1000, 'A'))).toEqual([]);
    expect(b.control.status().drops.real_unavailable).toBe(1);
  });
});

describe('connection reuse and expire_nodest_conn', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, method: 'nat' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R2, method: 'nat' } });
    answerArp(b);
  });

  it('a SYN on a TIME_WAIT connection of the same tuple is scheduled afresh, not dropped', async () => {
    const [first] = send(b, tcp(CIP, 3000, 'S'));
    send(b, reply(first!, CIP, 3000, 'SA'), tcp(CIP, 3000, 'A'), tcp(CIP, 3000, 'FA'), reply(first!, CIP, 3000, 'FA'), tcp(CIP, 3000, 'A'));
    expect((await conns(b))[0]!.state).toBe('TIME_WAIT');
    const [second] = send(b, tcp(CIP, 3000, 'S'));
    expect(second).toBeDefined();
    expect(second).not.toBe(first); // rr's next real: a new conn, not the old entry
    expect(b.control.status().workers[0]!.counters.conns_reused).toBe(1);
    expect((await conns(b)).map((c) => c.state)).toEqual(['SYN_RECV']);
  });

  it('a SYN on a TIME_WAIT connection whose real was removed is scheduled afresh (reuse comes before the server check)', async () => {
    const [first] = send(b, tcp(CIP, 3100, 'S'));
    send(b, reply(first!, CIP, 3100, 'SA'), tcp(CIP, 3100, 'A'), tcp(CIP, 3100, 'FA'), reply(first!, CIP, 3100, 'FA'), tcp(CIP, 3100, 'A'));
    expect((await conns(b))[0]!.state).toBe('TIME_WAIT');
    await ok(b.control, { op: 'del-real', service: svcKey, real: { rip: first } });
    expect(send(b, tcp(CIP, 3100, 'S'))).toEqual([first === R1 ? R2 : R1]);
    expect(b.control.status().workers[0]!.counters.conns_reused).toBe(1);
    expect(b.control.status().drops.real_unavailable).toBe(0);
  });

  it('a removed real\'s replies still reach the client (IPVS handle_response); the client\'s packets are dropped', async () => {
    const [real] = send(b, tcp(CIP, 5000, 'S'));
    await ok(b.control, { op: 'del-real', service: svcKey, real: { rip: real } });
    b.io.inject(reply(real!, CIP, 5000, 'SA'));
    b.w.pump();
    expect(answerArp(b).map((f) => parseFrame(f).ip!.dst)).toEqual([CIP]);
    expect(send(b, tcp(CIP, 5000, 'A'))).toEqual([]);
    expect(b.control.status().drops.real_unavailable).toBe(1);
  });

  it('with expire_nodest_conn a SYN from a removed real\'s conn starts a new conn', async () => {
    b.control.table.policy.expireNodestConn = true;
    await b.control.publish();
    const [real] = send(b, tcp(CIP, 4000, 'S'));
    await ok(b.control, { op: 'del-real', service: svcKey, real: { rip: real } });
    const other = real === R1 ? R2 : R1;
    expect(send(b, tcp(CIP, 4000, 'S'))).toEqual([other]);
    expect(b.control.status().workers[0]!.counters.conns_nodest_expired).toBe(1);
  });
});
