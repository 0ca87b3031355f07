/**
 * A control thread and one in-thread worker over the in-memory PacketIO, with an injectable clock, and the
 * hosts of the namespace test bed as MAC/IP pairs: for integration tests of the pipeline without root.
 */
import { expect } from 'vitest';
import { Control } from '../../src/control/control.js';
import { InlineWorker } from '../../src/control/workers.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { pkt, parseFrame } from './packet-builder.js';

export const DIR_MAC = '02:aa:00:00:00:01';
export const CLIENT_MAC = '02:cc:00:00:00:02';
export const R1_MAC = '02:11:00:00:00:11';
export const R2_MAC = '02:22:00:00:00:12';
export const VIP = '198.18.0.100';
export const CIP = '198.18.0.2';
export const R1 = '198.18.1.11';
export const R2 = '198.18.1.12';
/** More clients on the segment: .3 shares a /30 with .2; .5 does not. */
export const CIP3 = '198.18.0.3';
export const CIP5 = '198.18.0.5';
export const MACS: Record<string, string> = {
  [CIP]: CLIENT_MAC, [CIP3]: '02:cc:00:00:00:03', [CIP5]: '02:cc:00:00:00:05', [R1]: R1_MAC, [R2]: R2_MAC,
};

export interface Bed {
  control: Control;
  io: MemoryIO;
  w: InlineWorker;
  clock: { t: number };
}

/** exchange: the worker uses MemoryIO.exchange() (the io_uring loop shape: tx of a batch deferred to the next call). */
export async function bed(opts: { exchange?: boolean } = {}): Promise<Bed> {
  const clock = { t: 1_000_000 };
  const control = new Control({
    mac: DIR_MAC,
    addrs: [
      { addr: parseIPv4('198.18.0.1'), prefix: 24 },
      { addr: parseIPv4('198.18.1.1'), prefix: 24 },
    ],
    gateway: 0,
    verifyL4: true,
  });
  const io = new MemoryIO();
  io.exchangeReady = opts.exchange ?? false;
  const w = new InlineWorker(0, io, (m) => control.onWorkerMessage(m), { now: () => clock.t, maxConns: 1024 });
  control.attach([w]);
  return { control, io, w, clock };
}

export async function ok(control: Control, req: object) {
  const r = await control.handle(req);
  expect(r, JSON.stringify(req)).toMatchObject({ ok: true });
  return (r as { result: any }).result;
}

export const svcKey = { proto: 'tcp', vip: VIP, vport: 80 };

/** A bed with the TCP service VIP:80 (rr) and one NAT real, R1:8080, resolved. */
export async function natBed(): Promise<Bed> {
  const b = await bed();
  await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
  await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, rport: 8080, method: 'nat' } });
  answerArp(b);
  return b;
}

/** Answers every ARP request the worker sent with the MAC table above; returns the other frames. */
export function answerArp(b: Bed): Uint8Array[] {
  const rest: Uint8Array[] = [];
  for (let round = 0; round < 4; round++) {
    const out = b.io.take();
    let answered = 0;
    for (const f of out) {
      const p = parseFrame(f);
      if (p.arp && p.arp.op === 1 && MACS[p.arp.tpa]) {
        b.io.inject(
          pkt().eth({ src: MACS[p.arp.tpa], dst: DIR_MAC }).arp({ op: 'reply', sha: MACS[p.arp.tpa]!, spa: p.arp.tpa, tha: DIR_MAC, tpa: p.arp.spa }).build(),
        );
        answered++;
      } else rest.push(f);
    }
    if (answered === 0) break;
    b.w.pump();
  }
  return rest;
}

export function syn(sport: number, flags = 'S', ttl = 64) {
  return pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP, ttl }).tcp({ sport, dport: 80, flags, seq: 1000 }).build();
}
