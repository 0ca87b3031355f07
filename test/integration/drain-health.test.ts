/**
 * Drains and health checks through the control thread and an in-memory worker: what each does to scheduling
 * (weight 0, left out of the snapshot), that existing conns are kept, that a drain ends when the real is empty
 * or at its deadline with the chosen treatment of the conns left (keep, reschedule, reset), and that the state
 * survives republishes. Health results are fed to the checker directly (no timers, no probes).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt, parseFrame, verifyChecksums } from '../helpers/packet-builder.js';
import { CIP, DIR_MAC, MACS, R1, R2, VIP, answerArp, bed, ok, svcKey, type Bed } from '../helpers/inline-bed.js';
import type { DrainStatus, RealInfo } from '../../src/control/protocol.js';
import { formatIPv4 } from '../../src/util/addr.js';

function tcp(sport: number, flags: string, seq = 1, ack = 0) {
  return pkt().eth({ src: MACS[CIP], dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags, seq, ack }).build();
}
function udp(sport: number) {
  return pkt().eth({ src: MACS[CIP], dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).udp({ sport, dport: 53 }).payload('abc').build();
}
function reply(real: string, dport: number, flags: string) {
  return pkt().eth({ src: MACS[real], dst: DIR_MAC }).ipv4({ src: real, dst: CIP }).tcp({ sport: 80, dport, flags, seq: 9, ack: 2 }).build();
}
/** Injects frames; returns every frame sent (ARP answered). */
function io(b: Bed, ...frames: Uint8Array[]) {
  b.io.inject(...frames);
  b.w.pump();
  return answerArp(b).map((f) => ({ p: parseFrame(f), raw: f }));
}
/** The reals that client frames were forwarded to, in order. */
const sentTo = (b: Bed, ...frames: Uint8Array[]) => io(b, ...frames).map((x) => x.p.ip!.dst).filter((d) => d !== CIP);
const reals = (b: Bed, port = 80): Record<string, RealInfo> =>
  Object.fromEntries(b.control.list().services.find((s) => s.vport === port)!.reals.map((r) => [r.rip, r]));
const drops = (b: Bed) => b.control.status().drops;
const other = (r: string) => (r === R1 ? R2 : R1);

describe('drain', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, method: 'nat', weight: 2 } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R2, method: 'nat', weight: 2 } });
    answerArp(b);
  });

  it('takes no new flows, keeps the existing ones, and survives republishes and edits', async () => {
    const [first] = sentTo(b, tcp(1000, 'S'));
    const st: DrainStatus = await ok(b.control, { op: 'drain', service: svcKey, real: { rip: first }, deadlineMs: 300_000 });
    expect(st).toMatchObject({ state: 'draining', real: `${first}:80`, atDeadline: 'keep', active: 1 }); // SYN_RECV counts as active here
    expect(sentTo(b, tcp(1001, 'S'), tcp(1002, 'S'), tcp(1003, 'S'))).toEqual([other(first!), other(first!), other(first!)]);
    expect(sentTo(b, tcp(1000, 'A', 2))).toEqual([first]); // the existing conn still reaches its real
    // An edit of the real and unrelated changes republish; the drain stays, with the configured weight kept apart.
    await ok(b.control, { op: 'edit-real', service: svcKey, real: { rip: first, method: 'nat', weight: 5 } });
    await ok(b.control, { op: 'add-service', service: { proto: 'tcp', vip: VIP, vport: 81 } });
    expect(reals(b)[first!]).toMatchObject({ weight: 0, configuredWeight: 5, drain: { state: 'draining' } });
    expect(sentTo(b, tcp(1004, 'S'))).toEqual([other(first!)]);
    await b.control.drains.tick();
    expect(reals(b)[first!]!.drain!.state).toBe('draining'); // its conn is live
    await ok(b.control, { op: 'undrain', service: svcKey, real: { rip: first } });
    expect(reals(b)[first!]).toMatchObject({ weight: 5 });
    expect(reals(b)[first!]!.drain).toBeUndefined();
  });

  it('removes an empty real at once and reports how the drain ended', async () => {
    await ok(b.control, { op: 'drain', service: svcKey, real: { rip: R1 } });
    await b.control.drains.tick();
    await b.control.settled();
    expect(Object.keys(reals(b))).toEqual([R2]);
    expect(await ok(b.control, { op: 'drain-status', service: svcKey, real: { rip: R1 } })).toMatchObject({ state: 'done', outcome: 'empty', active: 0 });
    expect(b.control.snapshot().services[0]!.reals.map((r) => r.addr)).toHaveLength(1);
  });

  it('ends when only closed conns are left (TIME_WAIT/CLOSE do not hold a drain)', async () => {
    const [first] = sentTo(b, tcp(1000, 'S'));
    sentTo(b, reply(first!, 1000, 'R')); // the real refused: the conn is in CLOSE, still counted as InActConn
    expect(reals(b)[first!]!.inactive).toBe(1);
    await ok(b.control, { op: 'drain', service: svcKey, real: { rip: first } });
    await b.control.drains.tick();
    await b.control.settled();
    expect(reals(b)[first!]).toBeUndefined();
    expect(await ok(b.control, { op: 'drain-status', service: svcKey, real: { rip: first } })).toMatchObject({ outcome: 'empty', inactive: 1, live: 0 });
  });

  it('a client reusing its port after the drain gets a new conn (conn reuse before the removed-real rule, as IPVS)', async () => {
    const [first] = sentTo(b, tcp(3000, 'S'));
    sentTo(b, reply(first!, 3000, 'SA'), tcp(3000, 'A', 2), tcp(3000, 'FA', 2), reply(first!, 3000, 'FA'), tcp(3000, 'A', 3));
    expect((await ok(b.control, { op: 'list-conns' })).conns[0].state).toBe('TIME_WAIT');
    await ok(b.control, { op: 'drain', service: svcKey, real: { rip: first } });
    await b.control.drains.tick();
    await b.control.settled();
    expect(reals(b)[first!]).toBeUndefined();
    expect(sentTo(b, tcp(3000, 'S'))).toEqual([other(first!)]);
    expect(b.control.status().workers[0]!.counters.conns_reused).toBe(1);
    expect(drops(b).real_unavailable).toBe(0);
  });

  it('at the deadline with keep: the real goes, its conns stay and their packets are dropped (real_unavailable)', async () => {
    const [first] = sentTo(b, tcp(1000, 'S'));
    await ok(b.control, { op: 'drain', service: svcKey, real: { rip: first }, deadlineMs: 0, atDeadline: 'keep' });
    await b.control.drains.tick();
    await b.control.settled();
    expect(reals(b)[first!]).toBeUndefined();
    expect(await ok(b.control, { op: 'drain-status', service: svcKey, real: { rip: first } })).toMatchObject({ outcome: 'deadline', active: 1 });
    expect(io(b, tcp(1000, 'A', 2))).toEqual([]);
    expect(drops(b).real_unavailable).toBe(1);
  });

  it('at the deadline with reset: the next client segment is answered with a RST from the VIP', async () => {
    const [first] = sentTo(b, tcp(1000, 'S'));
    sentTo(b, reply(first!, 1000, 'SA'));
    sentTo(b, tcp(1000, 'A', 1001, 7777));
    await ok(b.control, { op: 'drain', service: svcKey, real: { rip: first }, deadlineMs: 0, atDeadline: 'reset' });
    await b.control.drains.tick();
    await b.control.settled();
    expect(b.control.snapshot().orphans).toEqual([{ slot: expect.any(Number), mode: 2 }]);
    const out = io(b, tcp(1000, 'PA', 1001, 7777));
    expect(out).toHaveLength(1);
    const { p, raw } = out[0]!;
    expect(p.ip).toMatchObject({ src: VIP, dst: CIP });
    expect(p.tcp).toMatchObject({ sport: 80, dport: 1000, flags: 'R', seq: 7777 });
    expect(p.eth!.dst).toBe(MACS[CIP]);
    expect(verifyChecksums(raw)).toEqual({ ip: true, l4: true });
    expect(drops(b).orphan_reset).toBe(1);
    expect(b.control.status().workers[0]!.counters.orphan_resets_sent).toBe(1);
    // The conn is gone: a later segment is just a segment without a conn (also answered with a RST, as the
    // director's own stack does under IPVS).
    expect(io(b, tcp(1000, 'A', 1001, 7777)).map(({ p }) => p.tcp!.flags)).toEqual(['R']);
    expect(drops(b).tcp_no_conn).toBe(1);
  });

  it('at the deadline with reschedule: a UDP flow moves to another real at its next datagram', async () => {
    const usvc = { proto: 'udp', vip: VIP, vport: 53 };
    await ok(b.control, { op: 'add-service', service: { ...usvc, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: usvc, real: { rip: R1, method: 'nat' } });
    await ok(b.control, { op: 'add-real', service: usvc, real: { rip: R2, method: 'nat' } });
    answerArp(b);
    const [first] = sentTo(b, udp(5000));
    expect(sentTo(b, udp(5000))).toEqual([first]);
    await ok(b.control, { op: 'drain', service: usvc, real: { rip: first }, deadlineMs: 0, atDeadline: 'reschedule' });
    await b.control.drains.tick();
    await b.control.settled();
    expect(await ok(b.control, { op: 'drain-status', service: usvc, real: { rip: first } })).toMatchObject({ outcome: 'deadline', atDeadline: 'reschedule' });
    expect(sentTo(b, udp(5000))).toEqual([other(first!)]);
    expect(drops(b).real_unavailable).toBe(0);
  });

  it('refuses bad requests, naming what was wrong, and changes nothing', async () => {
    const bad = async (req: object, msg: RegExp) => {
      const r = await b.control.handle(req);
      expect(r).toMatchObject({ ok: false, error: { message: expect.stringMatching(msg) } });
    };
    await bad({ op: 'drain', service: svcKey, real: { rip: R1 }, deadlineMs: -1 }, /deadlineMs must be an integer/);
    await bad({ op: 'drain', service: svcKey, real: { rip: R1 }, atDeadline: 'explode' }, /atDeadline must be one of keep, reset, reschedule/);
    await bad({ op: 'drain', service: svcKey, real: { rip: '198.18.1.99' } }, /No such destination/);
    await bad({ op: 'undrain', service: svcKey, real: { rip: R1 } }, /is not draining/);
    expect(reals(b)[R1]).toMatchObject({ weight: 2 });
    expect(reals(b)[R1]!.drain).toBeUndefined();
  });
});

describe('health state in the snapshot', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, method: 'nat', weight: 3 } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R2, method: 'nat', weight: 3 } });
    answerArp(b);
  });

  const fail = async (b: Bed, rip: string, n: number, err: string | null = 'tcp connect: ECONNREFUSED') => {
    const svc = b.control.table.list()[0]!;
    const r = svc.reals.find((x) => formatIPv4(x.addr) === rip)!;
    for (let i = 0; i < n; i++) b.control.health.result(svc, r, svc.health!, err);
    await b.control.settled();
  };

  it('quiesces a real after fall failures (weight 0, conns kept) and brings it back after rise successes', async () => {
    await ok(b.control, { op: 'set-health', service: svcKey, check: { kind: 'tcp', intervalMs: 200, timeoutMs: 100, rise: 2, fall: 3 } });
    expect(reals(b)[R1]!.health).toMatchObject({ state: 'unknown', action: 'none' });
    const [first] = sentTo(b, tcp(1000, 'S'));
    await fail(b, first!, 2);
    expect(reals(b)[first!]).toMatchObject({ weight: 3, health: { state: 'unknown', lastError: 'tcp connect: ECONNREFUSED' } });
    await fail(b, first!, 1);
    expect(reals(b)[first!]).toMatchObject({ weight: 0, configuredWeight: 3, health: { state: 'down', action: 'quiesced' } });
    expect(sentTo(b, tcp(1001, 'S'), tcp(1002, 'S'))).toEqual([other(first!), other(first!)]);
    expect(sentTo(b, tcp(1000, 'A', 2))).toEqual([first]); // quiesced: its conn goes on
    await fail(b, first!, 1, null);
    expect(reals(b)[first!]!.health!.state).toBe('down');
    await fail(b, first!, 1, null);
    expect(reals(b)[first!]).toMatchObject({ weight: 3, health: { state: 'up', action: 'none', lastError: null } });
    expect(new Set(sentTo(b, tcp(1003, 'S'), tcp(1004, 'S')))).toEqual(new Set([R1, R2]));
  });

  it('with onFail remove leaves the real out of the snapshot but lists it as DOWN', async () => {
    await ok(b.control, { op: 'set-health', service: svcKey, check: { kind: 'tcp', intervalMs: 200, timeoutMs: 100, fall: 1, onFail: 'remove' } });
    await fail(b, R1, 1);
    expect(reals(b)[R1]).toMatchObject({ health: { state: 'down', action: 'removed' } });
    expect(b.control.snapshot().services[0]!.reals).toHaveLength(1);
    expect(sentTo(b, tcp(1001, 'S'), tcp(1002, 'S'))).toEqual([R2, R2]);
    // Removing the check puts every real back.
    await ok(b.control, { op: 'set-health', service: svcKey, check: null });
    expect(reals(b)[R1]!.health).toBeUndefined();
    expect(b.control.snapshot().services[0]!.reals).toHaveLength(2);
  });

  it('refuses a bad check or source tap with the reason, and keeps the current one', async () => {
    const check = { kind: 'tcp', intervalMs: 200, timeoutMs: 100 };
    await ok(b.control, { op: 'set-health', service: svcKey, check });
    for (const [bad, msg] of [
      [{ ...check, source: 'tap' }, /source "tap" is not supported .*no TCP\/UDP stack/],
      [{ ...check, timeoutMs: 300 }, /timeoutMs must not exceed intervalMs/],
      [{ ...check, kind: 'smtp' }, /kind must be one of/],
      [{ ...check, colour: 'red' }, /unknown key "colour"/],
    ] as const) {
      expect(await b.control.handle({ op: 'set-health', service: svcKey, check: bad })).toMatchObject({ ok: false, error: { message: expect.stringMatching(msg) } });
    }
    expect(b.control.list().services[0]!.health).toMatchObject({ kind: 'tcp', intervalMs: 200, source: 'host' });
  });
});
