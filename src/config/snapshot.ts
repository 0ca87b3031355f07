/**
 * The immutable, versioned configuration a worker runs with. Built by the control thread from validated
 * state (src/control/state.ts), checked before it is sent, and applied by every worker between two batches.
 * Everything is numeric: addresses are unsigned 32-bit host-order numbers, methods are FwdCode values,
 * scheduler tables are prebuilt Int32Arrays. Slots are global ids that stay stable across versions while a
 * service or real exists (counters and connections refer to them).
 */
import type { FwdCode } from '../types.js';

export interface SnapshotReal {
  slot: number;
  addr: number;
  port: number;
  fwd: FwdCode;
  weight: number;
  lastWeight: number;
  uthreshold: number;
  lthreshold: number;
}

export interface SnapshotService {
  slot: number;
  /** IP protocol number (6 or 17). */
  proto: number;
  vaddr: number;
  vport: number;
  scheduler: string;
  schedFlags: number;
  /** Persistence timeout in seconds, 0 = none. */
  persistent: number;
  /** Persistence netmask as an unsigned 32-bit number. */
  netmask: number;
  /** Reals in IPVS list order (most recently added first). */
  reals: SnapshotReal[];
  /** Table from Scheduler.buildTable, or null. */
  table: Int32Array | null;
  /** FULLNAT local addresses (LIPs), unsigned 32-bit numbers, in the order they were added. */
  laddrs: number[];
  /** Client-IP delivery for FULLNAT conns: CLIENT_IP_CODES value (0 none, 1 TOA, 2 PROXY v1, 3 PROXY v2). */
  clientIp: number;
}

/** Client-IP delivery modes of a FULLNAT service, as their snapshot codes. */
export const CLIENT_IP_CODES = { none: 0, toa: 1, 'proxy-v1': 2, 'proxy-v2': 3 } as const;
export type ClientIpMode = keyof typeof CLIENT_IP_CODES;

/** The director's L2/L3 identity on its TAP segment. */
export interface NetConfig {
  /** Director MAC (all workers answer ARP with it). */
  mac: string;
  /** Addresses owned by the director besides the VIPs, with their connected prefixes. */
  addrs: { addr: number; prefix: number }[];
  /** Default gateway for destinations outside the connected prefixes, 0 = none. */
  gateway: number;
  /** Verify TCP/UDP checksums of received segments (drop and count bad ones). */
  verifyL4: boolean;
  /**
   * MTU of the TAP segment in bytes (IP packet size, without the Ethernet header); DEFAULT_MTU when absent.
   * The TUN method's tunnel MTU is this minus the 20-byte outer header.
   */
  mtu?: number;
  /**
   * FULLNAT local port range (inclusive), DEFAULT_LPORT_MIN..DEFAULT_LPORT_MAX when absent. Worker w of W uses
   * the ports p with p % W === w in it.
   */
  lportMin?: number;
  lportMax?: number;
}

/** Default segment MTU (`tapvs run --mtu`). */
export const DEFAULT_MTU = 1500;
/** Accepted `--mtu` range: 576 (every IPv4 host must take it, RFC 791) up to jumbo frames. */
export const MIN_MTU = 576;
export const MAX_MTU = 9216;

export interface ConnPolicy {
  /** expire_nodest_conn: a packet of a conn whose real was removed expires the conn (and may start a new one). */
  expireNodestConn: boolean;
  /** expire_quiescent_template: a persistence template whose real has weight 0 is not reused. */
  expireQuiescentTemplate: boolean;
}

export interface Snapshot {
  version: number;
  net: NetConfig;
  services: SnapshotService[];
  /** Timeout per conn state in ms, indexed by TcpState, with UDP at index UDP_STATE. */
  timeoutsMs: number[];
  /** IPVS sysctl-like behaviours (ipvs-semantics.md §3.6). */
  policy: ConnPolicy;
  /**
   * Removed reals whose remaining conns are not treated as `policy` says (a drain's at-deadline choice):
   * mode ORPHAN_RESCHEDULE expires a conn at its next packet (as expire_nodest_conn=1 for that real),
   * ORPHAN_RESET answers the next client packet with a TCP RST (UDP: ICMP port unreachable) and removes the
   * conn. Absent or ORPHAN_KEEP: `policy.expireNodestConn` decides.
   */
  orphans?: { slot: number; mode: number }[];
}

export const ORPHAN_KEEP = 0;
export const ORPHAN_RESCHEDULE = 1;
export const ORPHAN_RESET = 2;

/**
 * Checks the invariants a worker relies on, so a bad snapshot is refused on the control thread and never
 * broadcast. Returns null or a description of the first violation.
 */
export function checkSnapshot(s: Snapshot, maxServices: number, maxReals: number): string | null {
  const svcSlots = new Set<number>();
  const realSlots = new Set<number>();
  const keys = new Set<string>();
  const mtu = s.net.mtu;
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU)) return `net.mtu ${mtu} out of range`;
  const lmin = s.net.lportMin ?? 1025;
  const lmax = s.net.lportMax ?? 65535;
  if (!Number.isInteger(lmin) || !Number.isInteger(lmax) || lmin < 1 || lmax > 65535 || lmin > lmax) {
    return `net local port range ${lmin}..${lmax} invalid`;
  }
  for (const svc of s.services) {
    if (!Number.isInteger(svc.slot) || svc.slot < 0 || svc.slot >= maxServices) return `service slot ${svc.slot} out of range`;
    if (svcSlots.has(svc.slot)) return `service slot ${svc.slot} used twice`;
    svcSlots.add(svc.slot);
    const key = `${svc.proto}/${svc.vaddr}/${svc.vport}`;
    if (keys.has(key)) return `service ${key} defined twice`;
    keys.add(key);
    if (svc.proto !== 6 && svc.proto !== 17) return `service ${key}: protocol ${svc.proto}`;
    for (const r of svc.reals) {
      if (!Number.isInteger(r.slot) || r.slot < 0 || r.slot >= maxReals) return `real slot ${r.slot} out of range`;
      if (realSlots.has(r.slot)) return `real slot ${r.slot} used twice`;
      realSlots.add(r.slot);
      if (r.weight < 0 || r.weight > 65535) return `real ${r.slot}: weight ${r.weight}`;
    }
    if (!Number.isInteger(svc.clientIp) || svc.clientIp < 0 || svc.clientIp > 3) return `service ${key}: clientIp ${svc.clientIp}`;
    if (svc.laddrs.some((a) => !Number.isInteger(a) || a <= 0 || a > 0xffffffff)) return `service ${key}: bad local address`;
    if (svc.reals.some((r) => r.fwd === 3) && svc.laddrs.length === 0) return `service ${key}: FULLNAT reals without a local address`;
    if (svc.table) {
      for (let i = 0; i < svc.table.length; i++) {
        const v = svc.table[i]!;
        if (v < -1 || v >= svc.reals.length) return `service ${key}: table entry ${i} = ${v}`;
      }
    }
  }
  for (const o of s.orphans ?? []) {
    if (!Number.isInteger(o.slot) || o.slot < 0 || o.slot >= maxReals) return `orphan slot ${o.slot} out of range`;
    if (realSlots.has(o.slot)) return `orphan slot ${o.slot} is a live real`;
    if (o.mode !== ORPHAN_KEEP && o.mode !== ORPHAN_RESCHEDULE && o.mode !== ORPHAN_RESET) return `orphan slot ${o.slot}: mode ${o.mode}`;
  }
  return null;
}
