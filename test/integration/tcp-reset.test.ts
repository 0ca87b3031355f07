/**
 * A TCP segment to the VIP that belongs to no conn (and cannot start one), or to a port of the VIP with no service,
 * is answered with a RST (src/forward/tcp-rst.ts, built in an extra slot), as the director's own stack
 * answers under kernel IPVS; the segment still counts as dropped (`tcp_no_conn`, `no_service`), the RST as
 * `tcp_rst_sent`.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { pkt, parseFrame, verifyChecksums } from '../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, VIP, answerArp, natBed, type Bed } from '../helpers/inline-bed.js';

describe('RST for segments without a conn', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await natBed();
  });

  const send = (dport: number, flags: string, seq: number, ack: number, payload = 0, udp = false) => {
    const p = pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP });
    b.io.inject((udp ? p.udp({ sport: 40000, dport }) : p.tcp({ sport: 40000, dport, flags, seq, ack })).payload(payload).build());
    b.w.pump();
    return answerArp(b).map((f) => {
      expect(verifyChecksums(f)).toEqual({ ip: true, l4: true });
      return parseFrame(f);
    });
  };
  const counters = () => b.control.status().workers[0]!.counters;

  it('answers an ACK with a RST whose sequence is that ACK', () => {
    const [r, ...rest] = send(80, 'PA', 1000, 777777, 10);
    expect(rest).toEqual([]);
    expect(r!.eth!.dst).toBe(CLIENT_MAC);
    expect(r!.ip).toMatchObject({ src: VIP, dst: CIP, df: true, totalLength: 40 });
    expect(r!.tcp).toMatchObject({ sport: 80, dport: 40000, flags: 'R', seq: 777777, ack: 0 });
    expect(b.control.status().drops.tcp_no_conn).toBe(1);
    expect(counters().tcp_rst_sent).toBe(1);
  });

  it('answers a segment without ACK with RST+ACK acknowledging it (FIN counts one)', () => {
    expect(send(80, 'P', 1000, 0, 10)[0]!.tcp).toMatchObject({ flags: 'RA', seq: 0, ack: 1010 });
    expect(send(80, 'F', 5000, 0)[0]!.tcp).toMatchObject({ flags: 'RA', seq: 0, ack: 5001 });
  });

  it('answers TCP to a port of the VIP without a service, never a RST, never UDP', () => {
    expect(send(81, 'S', 1000, 0)[0]!.tcp).toMatchObject({ sport: 81, flags: 'RA', ack: 1001 });
    expect(send(80, 'R', 1000, 0)).toEqual([]);
    expect(send(80, 'RA', 1000, 5)).toEqual([]);
    expect(send(81, '', 0, 0, 20, true)).toEqual([]);
    expect(b.control.status().drops).toMatchObject({ no_service: 2, tcp_no_conn: 2 });
    expect(counters().tcp_rst_sent).toBe(1);
  });
});
