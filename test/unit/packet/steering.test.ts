import { describe, expect, it } from 'vitest';
import { buildSteeringProgram, steerHash, steerOwner } from '../../../src/io/steering.js';

/**
 * A tiny interpreter for exactly the instructions the generator emits, run over Ethernet frames: checks that
 * the program computes the same queue as the workers' steerOwner() for both directions of a NAT connection.
 */
function run(prog: Uint8Array, frame: Uint8Array): number {
  const dv = new DataView(prog.buffer, prog.byteOffset, prog.byteLength);
  const fd = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const r = new Array<number>(11).fill(0);
  let pc = 0;
  for (let steps = 0; steps < 1000; steps++) {
    const op = prog[pc * 8]!;
    const dst = prog[pc * 8 + 1]! & 15;
    const src = prog[pc * 8 + 1]! >> 4;
    const off = dv.getInt16(pc * 8 + 2, true);
    const imm = dv.getInt32(pc * 8 + 4, true);
    pc++;
    switch (op) {
      case 0xbf: r[dst] = r[src]!; break;
      case 0x20: r[0] = fd.getUint32(imm); break;
      case 0x28: r[0] = fd.getUint16(imm); break;
      case 0x30: r[0] = fd.getUint8(imm); break;
      case 0x16: if ((r[dst]! >>> 0) === (imm >>> 0)) pc += off; break;
      case 0x56: if ((r[dst]! >>> 0) !== (imm >>> 0)) pc += off; break;
      case 0x05: pc += off; break;
      case 0xbc: r[dst] = r[src]! >>> 0; break;
      case 0xb4: r[dst] = imm >>> 0; break;
      case 0x24: r[dst] = Math.imul(r[dst]!, imm) >>> 0; break;
      case 0xac: r[dst] = (r[dst]! ^ r[src]!) >>> 0; break;
      case 0x74: r[dst] = (r[dst]! >>> 0) >>> imm; break;
      case 0x95: return r[0]! >>> 0;
      default: throw new Error(`unexpected opcode ${op.toString(16)}`);
    }
  }
  throw new Error('no exit');
}

function frame(src: number, sport: number, dst: number, dport: number, type = 0x0800): Uint8Array {
  const f = new Uint8Array(60);
  const dv = new DataView(f.buffer);
  dv.setUint16(12, type);
  f[14] = 0x45;
  f[23] = 6;
  dv.setUint32(26, src >>> 0);
  dv.setUint32(30, dst >>> 0);
  dv.setUint16(34, sport);
  dv.setUint16(36, dport);
  return f;
}

const VIP = 0xc6120064;
const DIR = 0xc6120101;
const CIP = 0xc6120002;

describe('steering program', () => {
  it('encodes valid eBPF: 8-byte instructions ending in exit, jumps inside the program', () => {
    const prog = buildSteeringProgram([VIP, DIR]);
    expect(prog.length % 8).toBe(0);
    const n = prog.length / 8;
    const dv = new DataView(prog.buffer);
    for (let k = 0; k < n; k++) {
      const op = prog[k * 8]!;
      if (op === 0x16 || op === 0x56 || op === 0x05) {
        const target = k + 1 + dv.getInt16(k * 8 + 2, true);
        expect(target).toBeGreaterThan(k);
        expect(target).toBeLessThan(n);
      }
    }
    expect(prog[(n - 1) * 8]).toBe(0x95);
  });

  it('puts both directions of a NAT connection on the same queue, the one steerOwner names', () => {
    const prog = buildSteeringProgram([VIP, DIR]);
    for (let k = 0; k < 2000; k++) {
      const cport = 1024 + ((k * 7919) % 60000);
      const rip = 0xc6120100 + (k % 13);
      const req = run(prog, frame(CIP + (k % 5), cport, VIP, 80));
      const rep = run(prog, frame(rip, 8080, CIP + (k % 5), cport));
      expect(req).toBe(rep);
      expect(req).toBe(steerHash(CIP + (k % 5), cport));
      for (const q of [2, 3, 4]) expect(req % q).toBe(steerOwner(CIP + (k % 5), cport, q));
    }
  });

  it('sends replies to a FULLNAT local address to the worker owning the local port (port mod queues)', () => {
    const LIP = 0xc6120105;
    const prog = buildSteeringProgram([VIP, DIR], [LIP]);
    for (const lport of [1025, 1026, 40001, 65535]) expect(run(prog, frame(0xc612010b, 80, LIP, lport))).toBe(lport);
    expect(run(prog, frame(CIP, 5555, VIP, 80))).toBe(steerHash(CIP, 5555));
  });

  it('steers an ICMP error by the conn it quotes: a LIP quote by local port, a reply by its destination, a NAT packet by its source', () => {
    const LIP = 0xc61201c8;
    const RIP = 0xc612010b;
    const prog = buildSteeringProgram([VIP, DIR], [LIP]);
    /** An ICMP error frame (type) from `from` to `to` quoting (qs:qsp → qd:qdp). */
    const icmp = (type: number, from: number, to: number, qs: number, qsp: number, qd: number, qdp: number) => {
      const f = new Uint8Array(70);
      f.set(frame(from, 0, to, 0));
      const dv = new DataView(f.buffer);
      f[23] = 1;
      f[34] = type;
      f[42] = 0x45;
      dv.setUint32(54, qs >>> 0);
      dv.setUint32(58, qd >>> 0);
      dv.setUint16(62, qsp);
      dv.setUint16(64, qdp);
      return f;
    };
    for (const cport of [1025, 40000, 65000]) {
      // FULLNAT: a real's port unreachable to the LIP quotes LIP:lport → RIP:rport.
      expect(run(prog, icmp(3, RIP, LIP, LIP, cport, RIP, 53))).toBe(cport);
      // NAT: a real's error to the client quotes CIP:cport → RIP:rport: the client's worker.
      expect(run(prog, icmp(3, RIP, CIP, CIP, cport, RIP, 53))).toBe(steerHash(CIP, cport));
      // From the client's side: time exceeded / frag-needed at the VIP quotes VIP:80 → CIP:cport.
      expect(run(prog, icmp(11, 0x0a000001, VIP, VIP, 80, CIP, cport))).toBe(steerHash(CIP, cport));
      expect(run(prog, icmp(4, 0x0a000001, VIP, VIP, 80, CIP, cport))).toBe(steerHash(CIP, cport));
    }
    // Echo is not an error: steered like any packet to an owned address, by its source (the "port" bytes are
    // the ICMP type and code).
    expect(run(prog, icmp(8, CIP, VIP, 0, 0, 0, 0))).toBe(steerHash(CIP, 8 << 8));
  });

  it('sends ARP and other EtherTypes to queue 0, and spreads clients over the queues', () => {
    const prog = buildSteeringProgram([VIP]);
    expect(run(prog, frame(CIP, 1, VIP, 80, 0x0806))).toBe(0);
    const counts = [0, 0];
    for (let p = 0; p < 10_000; p++) counts[run(prog, frame(CIP, 1024 + p, VIP, 80)) % 2]!++;
    expect(Math.abs(counts[0]! - counts[1]!)).toBeLessThan(500);
  });
});
