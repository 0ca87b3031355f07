/**
 * IPVS's TCP state machine driven by packet sequences through the whole pipeline (NAT: both directions seen),
 * with the connection listing showing state and timeout after each step: RST in every state, simultaneous
 * close, retransmitted SYN, and the active/inactive accounting that feeds lc/wlc.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt } from '../helpers/packet-builder.js';
import { CIP, DIR_MAC, MACS, R1, VIP, answerArp, bed, ok, svcKey, type Bed } from '../helpers/inline-bed.js';

const C = (flags: string) => pkt().eth({ src: MACS[CIP], dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).tcp({ sport: 5000, dport: 80, flags, seq: 1 }).build();
const R = (flags: string) => pkt().eth({ src: MACS[R1], dst: DIR_MAC }).ipv4({ src: R1, dst: CIP }).tcp({ sport: 80, dport: 5000, flags, seq: 7 }).build();

/** Sends the steps and returns [state, expire s, ActiveConn, InActConn] after each. */
async function walk(b: Bed, steps: Uint8Array[]): Promise<[string, number, number, number][]> {
  const out: [string, number, number, number][] = [];
  for (const f of steps) {
    b.io.inject(f);
    b.w.pump();
    answerArp(b);
    const { conns } = await ok(b.control, { op: 'list-conns' });
    const real = b.control.list().services[0]!.reals[0]!;
    out.push(conns.length ? [conns[0].state, conns[0].expires, real.active, real.inactive] : ['-', 0, real.active, real.inactive]);
  }
  return out;
}

describe.each([{ exchange: false }, { exchange: true }])('TCP states through the pipeline (NAT) (exchange: $exchange)', ({ exchange }) => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed({ exchange });
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, method: 'nat' } });
    answerArp(b);
  });

  it('a normal life: handshake, data, close from the client, TIME_WAIT', async () => {
    expect(await walk(b, [C('S'), R('SA'), C('A'), C('PA'), R('PA'), C('FA'), R('A'), R('FA'), C('A')])).toEqual([
      ['SYN_RECV', 60, 1, 0],
      ['SYN_RECV', 60, 1, 0],
      ['ESTABLISHED', 900, 1, 0],
      ['ESTABLISHED', 900, 1, 0],
      ['ESTABLISHED', 900, 1, 0],
      ['CLOSE_WAIT', 60, 0, 1],
      ['CLOSE_WAIT', 60, 0, 1],
      ['TIME_WAIT', 120, 0, 1],
      ['TIME_WAIT', 120, 0, 1],
    ]);
  });

  it('simultaneous close (both FINs cross)', async () => {
    expect((await walk(b, [C('S'), R('SA'), C('A'), C('FA'), R('FA'), C('A'), R('A')])).map((x) => x[0])).toEqual([
      'SYN_RECV', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'TIME_WAIT', 'TIME_WAIT', 'TIME_WAIT',
    ]);
  });

  it('a retransmitted SYN keeps the connection, its real and its state', async () => {
    const steps = await walk(b, [C('S'), C('S'), C('S')]);
    expect(steps).toEqual([['SYN_RECV', 60, 1, 0], ['SYN_RECV', 60, 1, 0], ['SYN_RECV', 60, 1, 0]]);
    expect(b.control.list().services[0]!.stats.conns).toBe(1);
  });

  // RST in each reachable state, from the client (INPUT) and from the real (OUTPUT), per the reference table.
  const prefixes: [string, Uint8Array[]][] = [
    ['SYN_RECV', [C('S')]],
    ['ESTABLISHED', [C('S'), R('SA'), C('A')]],
    ['CLOSE_WAIT', [C('S'), R('SA'), C('A'), C('FA')]],
    ['FIN_WAIT', [C('S'), R('SA'), C('A'), R('FA')]],
    ['TIME_WAIT', [C('S'), R('SA'), C('A'), C('FA'), R('FA')]],
    // LAST_ACK, LISTEN, SYN_SENT and SYNACK are not reachable from NONE through this table with these packets
    // (the table only keeps a conn in LAST_ACK once there); their rows are covered by the unit table tests.
  ];
  // Expected next state for (state, INPUT rst) and (state, OUTPUT rst) from the reference's table.
  const afterRst: Record<string, [string, string]> = {
    SYN_RECV: ['SYN_RECV', 'CLOSE'],
    ESTABLISHED: ['CLOSE', 'CLOSE'],
    CLOSE_WAIT: ['CLOSE', 'CLOSE'],
    FIN_WAIT: ['CLOSE', 'CLOSE'],
    TIME_WAIT: ['CLOSE', 'TIME_WAIT'],
  };
  it.each(prefixes)('RST in %s', async (state, steps) => {
    const reached = await walk(b, steps);
    const at = reached.at(-1)![0];
    if (at !== state) return expect(at, `prefix should reach ${state}`).toBe(state);
    const [fromClient] = (await walk(b, [C('R')])).map((x) => x[0]);
    expect(fromClient).toBe(afterRst[state]![0]);
    const b2 = await bed();
    await ok(b2.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b2.control, { op: 'add-real', service: svcKey, real: { rip: R1, method: 'nat' } });
    answerArp(b2);
    await walk(b2, steps);
    const [fromReal] = (await walk(b2, [R('R')])).map((x) => x[0]);
    expect(fromReal).toBe(afterRst[state]![1]);
  });

  it('a CLOSE conn expires after 10 s and leaves the counts at zero', async () => {
    await walk(b, [C('S'), R('SA'), C('A'), C('R')]);
    b.clock.t += 10_000;
    b.w.dp.tick();
    expect((await ok(b.control, { op: 'list-conns' })).conns).toEqual([]);
    expect(b.control.list().services[0]!.reals[0]).toMatchObject({ active: 0, inactive: 0 });
  });
});
