/**
 * Flow steering for a multi-queue TAP: a small eBPF socket-filter program, generated here from the snapshot and
 * attached with TUNSETSTEERINGEBPF, chooses the queue (= worker) of every frame the kernel sends into the TAP.
 * The addon only loads bytes and does the ioctl; the policy is this file.
 *
 * The rule keeps every packet of a connection on one worker, in both directions, without shared tables:
 *   - a packet to an address the director owns (a VIP or a director address) is keyed on its source
 *     (client address, client port): a client's packets to the VIP;
 *   - any other IPv4 packet is keyed on its destination (address, port): a NAT reply from a real server to
 *     the client — the same (client address, client port) as the request direction;
 *   - a packet to a FULLNAT local address (LIP) goes to queue (destination port mod queues): worker w owns the
 *     local ports p with p % workers === w, so replies to LIP:lport reach the worker that chose lport;
 *   - an ICMP error (destination unreachable, source quench, time exceeded) is steered by the packet it quotes,
 *     to the worker that owns that conn: a quote from a LIP by its local port, a quote from an owned address
 *     (a reply the director sent) by its destination, any other quote (a NAT packet to a real) by its source;
 *   - everything else (ARP, IPv6, ...) goes to queue 0.
 * queue = steerHash(key) mod queues, which the kernel computes from the program's return value; workers compute
 * the same function (`steerOwner`) to count any packet that reaches the wrong worker.
 * IPv4 header offsets assume IHL 5 (packets with options are dropped by every worker anyway).
 * The hash is frozen: changing it re-steers live connections to other workers.
 */

/** eBPF opcodes used (linux/bpf.h, bpf_common.h). */
const OP = {
  MOV64_X: 0xbf, // r_dst = r_src
  LDABS_W: 0x20, // r0 = ntohl(*(u32 *)(skb->data + imm))
  LDABS_H: 0x28, // r0 = ntohs(*(u16 *)(skb->data + imm))
  LDABS_B: 0x30, // r0 = *(u8 *)(skb->data + imm)
  JEQ32_K: 0x16, // if (w_dst == imm) goto +off
  JNE32_K: 0x56, // if (w_dst != imm) goto +off
  JA: 0x05, // goto +off
  MOV32_X: 0xbc,
  MOV32_K: 0xb4,
  MUL32_K: 0x24,
  XOR32_X: 0xac,
  RSH32_K: 0x74,
  EXIT: 0x95,
} as const;

/** The steering hash of a key (address as int32 or uint32, port), as an unsigned 32-bit number. */
export function steerHash(addr: number, port: number): number {
  let a = Math.imul(addr, 0x9e3779b1);
  a ^= Math.imul(port, 0x85ebca6b);
  return (a ^ (a >>> 16)) >>> 0;
}

/** The worker (queue) the kernel steers a packet with this key to. */
export function steerOwner(addr: number, port: number, queues: number): number {
  return steerHash(addr, port) % queues;
}

interface Insn {
  op: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** A label to jump to, resolved into `off`. */
  to?: string;
  label?: string;
}

/**
 * Builds the program for the given owned addresses (VIPs and director addresses, as numbers). Returns the
 * instructions as bytes (8 per instruction, little-endian fields) ready for BPF_PROG_LOAD.
 */
export function buildSteeringProgram(owned: readonly number[], lips: readonly number[] = []): Uint8Array {
  const p: Insn[] = [];
  const i = (op: number, dst = 0, src = 0, off = 0, imm = 0, to?: string): void => {
    p.push({ op, dst, src, off, imm, to });
  };
  const label = (name: string): void => {
    p.push({ op: -1, dst: 0, src: 0, off: 0, imm: 0, label: name });
  };
  i(OP.MOV64_X, 6, 1); // LD_ABS needs the skb in r6
  i(OP.LDABS_H, 0, 0, 0, 12); // EtherType
  i(OP.JNE32_K, 0, 0, 0, 0x0800, 'other');
  // The kernel verifier refuses unreachable instructions, so each block is emitted only when something jumps to it;
  // every jump goes forward.
  const lipSet = [...new Set(lips.map((x) => x | 0))];
  const ownedSet = [...new Set(owned.map((x) => x | 0))];
  // ICMP errors: the quoted packet (IP header at 42: source 54, destination 58, ports 62 and 64) names the conn.
  i(OP.LDABS_B, 0, 0, 0, 23); // IP protocol
  i(OP.JNE32_K, 0, 0, 0, 1, 'ip');
  i(OP.LDABS_B, 0, 0, 0, 34); // ICMP type
  i(OP.JEQ32_K, 0, 0, 0, 3, 'icmp_err');
  i(OP.JEQ32_K, 0, 0, 0, 4, 'icmp_err');
  i(OP.JEQ32_K, 0, 0, 0, 11, 'icmp_err');
  i(OP.JA, 0, 0, 0, 0, 'ip');
  label('icmp_err');
  i(OP.LDABS_W, 0, 0, 0, 54); // quoted source address
  i(OP.MOV32_X, 7, 0);
  for (const a of lipSet) i(OP.JEQ32_K, 7, 0, 0, a, 'icmp_lport');
  for (const a of ownedSet) i(OP.JEQ32_K, 7, 0, 0, a, 'icmp_dst');
  i(OP.LDABS_H, 0, 0, 0, 62); // quoted source port: the client of a NAT conn
  i(OP.MOV32_X, 8, 0);
  i(OP.JA, 0, 0, 0, 0, 'hash');
  if (ownedSet.length > 0) {
    label('icmp_dst'); // a reply we sent: its destination is the client
    i(OP.LDABS_W, 0, 0, 0, 58);
    i(OP.MOV32_X, 7, 0);
    i(OP.LDABS_H, 0, 0, 0, 64);
    i(OP.MOV32_X, 8, 0);
    i(OP.JA, 0, 0, 0, 0, 'hash');
  }
  label('ip');
  i(OP.LDABS_W, 0, 0, 0, 30); // destination address
  i(OP.MOV32_X, 7, 0);
  for (const a of lipSet) i(OP.JEQ32_K, 7, 0, 0, a, 'by_lport');
  for (const a of ownedSet) i(OP.JEQ32_K, 7, 0, 0, a, 'by_src');
  i(OP.LDABS_H, 0, 0, 0, 36); // destination port
  i(OP.MOV32_X, 8, 0);
  if (ownedSet.length > 0) {
    i(OP.JA, 0, 0, 0, 0, 'hash');
    label('by_src');
    i(OP.LDABS_W, 0, 0, 0, 26); // source address
    i(OP.MOV32_X, 7, 0);
    i(OP.LDABS_H, 0, 0, 0, 34); // source port
    i(OP.MOV32_X, 8, 0);
  }
  label('hash');
  i(OP.MUL32_K, 7, 0, 0, 0x9e3779b1 | 0);
  i(OP.MUL32_K, 8, 0, 0, 0x85ebca6b | 0);
  i(OP.XOR32_X, 7, 8);
  i(OP.MOV32_X, 0, 7);
  i(OP.RSH32_K, 0, 0, 0, 16);
  i(OP.XOR32_X, 0, 7);
  i(OP.EXIT);
  if (lipSet.length > 0) {
    label('by_lport');
    i(OP.LDABS_H, 0, 0, 0, 36); // local port: the kernel takes it modulo the queue count
    i(OP.EXIT);
  }
  if (lipSet.length > 0) {
    label('icmp_lport');
    i(OP.LDABS_H, 0, 0, 0, 62); // quoted local port
    i(OP.EXIT);
  }
  label('other');
  i(OP.MOV32_K, 0, 0, 0, 0);
  i(OP.EXIT);

  const code = p.filter((x) => x.op >= 0);
  const at = new Map<string, number>();
  let n = 0;
  for (const x of p) {
    if (x.label) at.set(x.label, n);
    else n++;
  }
  const out = new Uint8Array(code.length * 8);
  const dv = new DataView(out.buffer);
  code.forEach((x, k) => {
    const off = x.to !== undefined ? at.get(x.to)! - (k + 1) : x.off;
    out[k * 8] = x.op;
    out[k * 8 + 1] = (x.src << 4) | x.dst;
    dv.setInt16(k * 8 + 2, off, true);
    dv.setInt32(k * 8 + 4, x.imm, true);
  });
  return out;
}

/**
 * Loads the steering program for `owned` and attaches it to the TAP device of queue `fd`. Returns null on
 * success or a message naming what failed (with the verifier's log).
 */
export function attachSteering(native: {
  bpfLoadSocketFilter(insns: Uint8Array, log: Uint8Array): number;
  tunSetSteering(fd: number, progFd: number): number;
  closeFd(fd: number): number;
}, fd: number, owned: readonly number[], lips: readonly number[] = []): string | null {
  const log = new Uint8Array(65536);
  const prog = native.bpfLoadSocketFilter(buildSteeringProgram(owned, lips), log);
  if (prog < 0) {
    const end = log.indexOf(0);
    const text = new TextDecoder().decode(log.subarray(0, end < 0 ? log.length : end)).trim();
    return `loading the steering program failed (errno ${-prog})${text ? `: ${text}` : ''}`;
  }
  const rc = native.tunSetSteering(fd, prog);
  native.closeFd(prog); // the device holds its own reference
  return rc < 0 ? `TUNSETSTEERINGEBPF failed (errno ${-rc})` : null;
}
