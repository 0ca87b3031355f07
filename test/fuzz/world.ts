/**
 * The site the pipeline fuzzer plays in: the director's addresses, one service per forwarding method and
 * client-IP mode, the reals, local addresses and a gateway, and the hosts that answer ARP. Set up through the
 * control thread's own request path (Control.handle), so the snapshot the dataplanes run is a real one.
 */
import { Control } from '../../src/control/control.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { setLogLevel } from '../../src/util/log.js';
import type { Mac } from './wire.js';

export const ip = (s: string): number => parseIPv4(s) >>> 0;

export const DIR_MAC: Mac = [0x02, 0xaa, 0, 0, 0, 1];
export const DIR0 = ip('198.18.0.1');
export const DIR1 = ip('198.18.1.1');
export const GATEWAY = ip('198.18.0.254');
export const VIP = ip('198.18.0.100');
export const VIP2 = ip('198.18.0.101');
export const LIP1 = ip('198.18.1.200');
export const LIP2 = ip('198.18.1.201');
export const R1 = ip('198.18.1.11');
export const R2 = ip('198.18.1.12');
/** A real behind the gateway (DR refuses it; NAT reaches it through the gateway). */
export const R3 = ip('10.9.9.9');
export const MTU = 1500;

/** Hosts on the segment that answer ARP, with their MACs. */
export const HOSTS: ReadonlyMap<number, Mac> = new Map<number, Mac>([
  [R1, [0x02, 0x11, 0, 0, 0, 0x11]],
  [R2, [0x02, 0x22, 0, 0, 0, 0x12]],
  [GATEWAY, [0x02, 0xfe, 0, 0, 0, 0xfe]],
  [ip('198.18.0.2'), [0x02, 0xcc, 0, 0, 0, 2]],
  [ip('198.18.0.3'), [0x02, 0xcc, 0, 0, 0, 3]],
]);

/** A virtual service of the fuzz site. `m` is the method of its reals. */
export interface Svc {
  proto: 6 | 17;
  vip: number;
  vport: number;
  m: 'nat' | 'dr' | 'tun' | 'fullnat';
}

const svc = (proto: 'tcp' | 'udp', vip: string, vport: number) => ({ proto, vip, vport });
const R = (rip: string, method: string, rport?: number, weight = 1) => ({ rip, method, weight, ...(rport ? { rport } : {}) });

/** Every request that builds the site, in order. */
const SETUP: object[] = [
  { op: 'add-service', service: { ...svc('tcp', '198.18.0.100', 80), scheduler: 'rr' } },
  { op: 'add-real', service: svc('tcp', '198.18.0.100', 80), real: R('198.18.1.11', 'nat', 8080) },
  { op: 'add-real', service: svc('tcp', '198.18.0.100', 80), real: R('198.18.1.12', 'nat', 8080) },
  { op: 'add-real', service: svc('tcp', '198.18.0.100', 80), real: R('10.9.9.9', 'nat', 8080) },
  { op: 'add-service', service: { ...svc('tcp', '198.18.0.100', 81), scheduler: 'wlc' } },
  { op: 'add-real', service: svc('tcp', '198.18.0.100', 81), real: R('198.18.1.11', 'dr') },
  { op: 'add-real', service: svc('tcp', '198.18.0.100', 81), real: R('10.9.9.9', 'dr') },
  { op: 'add-service', service: { ...svc('tcp', '198.18.0.100', 82), scheduler: 'sh' } },
  { op: 'add-real', service: svc('tcp', '198.18.0.100', 82), real: R('198.18.1.12', 'tun') },
  { op: 'add-real', service: svc('tcp', '198.18.0.100', 82), real: R('198.18.1.11', 'tun') },
  ...(['toa', 'proxy-v1', 'proxy-v2', 'none'] as const).flatMap((clientIp, i) => [
    { op: 'add-service', service: { ...svc('tcp', '198.18.0.100', 83 + i), scheduler: 'lc', laddrs: ['198.18.1.200', '198.18.1.201'], clientIp } },
    { op: 'add-real', service: svc('tcp', '198.18.0.100', 83 + i), real: R('198.18.1.11', 'fullnat', 9000) },
    { op: 'add-real', service: svc('tcp', '198.18.0.100', 83 + i), real: R('198.18.1.12', 'fullnat', 9000) },
  ]),
  { op: 'add-service', service: { ...svc('udp', '198.18.0.100', 53), scheduler: 'wrr' } },
  { op: 'add-real', service: svc('udp', '198.18.0.100', 53), real: R('198.18.1.11', 'nat', 5353, 3) },
  { op: 'add-real', service: svc('udp', '198.18.0.100', 53), real: R('198.18.1.12', 'nat', 5353) },
  { op: 'add-service', service: { ...svc('udp', '198.18.0.100', 54), scheduler: 'rr', laddrs: ['198.18.1.200'], clientIp: 'proxy-v2' } },
  { op: 'add-real', service: svc('udp', '198.18.0.100', 54), real: R('198.18.1.12', 'fullnat', 5454) },
  { op: 'add-service', service: { ...svc('udp', '198.18.0.100', 55), scheduler: 'rr' } },
  { op: 'add-real', service: svc('udp', '198.18.0.100', 55), real: R('198.18.1.11', 'dr') },
  { op: 'add-real', service: svc('udp', '198.18.0.100', 55), real: R('198.18.1.12', 'tun') },
  // Persistence (templates), and a service whose only real is quiesced (no real: ICMP port unreachable).
  { op: 'add-service', service: { ...svc('tcp', '198.18.0.101', 80), scheduler: 'wlc', persistent: 300, netmask: '255.255.255.0' } },
  { op: 'add-real', service: svc('tcp', '198.18.0.101', 80), real: R('198.18.1.11', 'nat') },
  { op: 'add-real', service: svc('tcp', '198.18.0.101', 80), real: R('198.18.1.12', 'nat') },
  { op: 'add-service', service: { ...svc('tcp', '198.18.0.101', 81), scheduler: 'rr' } },
  { op: 'add-real', service: svc('tcp', '198.18.0.101', 81), real: R('198.18.1.11', 'nat', 81, 0) },
  { op: 'add-service', service: { ...svc('udp', '198.18.0.101', 81), scheduler: 'mh' } },
  { op: 'add-real', service: svc('udp', '198.18.0.101', 81), real: R('198.18.1.11', 'nat') },
];

export const SERVICES: readonly Svc[] = [
  { proto: 6, vip: VIP, vport: 80, m: 'nat' },
  { proto: 6, vip: VIP, vport: 81, m: 'dr' },
  { proto: 6, vip: VIP, vport: 82, m: 'tun' },
  { proto: 6, vip: VIP, vport: 83, m: 'fullnat' },
  { proto: 6, vip: VIP, vport: 84, m: 'fullnat' },
  { proto: 6, vip: VIP, vport: 85, m: 'fullnat' },
  { proto: 6, vip: VIP, vport: 86, m: 'fullnat' },
  { proto: 17, vip: VIP, vport: 53, m: 'nat' },
  { proto: 17, vip: VIP, vport: 54, m: 'fullnat' },
  { proto: 17, vip: VIP, vport: 55, m: 'dr' },
  { proto: 6, vip: VIP2, vport: 80, m: 'nat' },
  { proto: 6, vip: VIP2, vport: 81, m: 'nat' },
  { proto: 17, vip: VIP2, vport: 81, m: 'nat' },
];

/** Interesting addresses for sources and destinations that are not part of a flow. */
export const ODD_ADDRS: readonly number[] = [
  0, 0xffffffff, ip('127.0.0.1'), ip('224.0.0.1'), ip('198.18.0.255'), VIP, VIP2, DIR0, DIR1, LIP1, LIP2, R1, R2, R3,
  GATEWAY, ip('198.18.0.2'), ip('198.18.0.77'), ip('203.0.113.9'), ip('198.18.1.250'),
];

/**
 * Changes applied during a run, in turn: reals removed (conns of a removed real: dropped, or expired with
 * expire_nodest_conn), quiesced, a local address and a service removed, persistence templates made stale; then
 * some of it added back. A real that comes back gets a fresh slot, as in the daemon.
 */
const CHANGES: object[][] = [
  [
    { op: 'del-real', service: svc('tcp', '198.18.0.100', 80), real: { rip: '198.18.1.12', rport: 8080 } },
    { op: 'del-real', service: svc('udp', '198.18.0.100', 53), real: { rip: '198.18.1.12', rport: 5353 } },
    { op: 'del-real', service: svc('tcp', '198.18.0.100', 81), real: { rip: '198.18.1.11' } },
    { op: 'edit-real', service: svc('tcp', '198.18.0.100', 83), real: { rip: '198.18.1.11', rport: 9000, weight: 0 } },
    { op: 'edit-service', service: { ...svc('tcp', '198.18.0.100', 84), delLaddrs: ['198.18.1.201'] } },
    { op: 'del-real', service: svc('tcp', '198.18.0.101', 80), real: { rip: '198.18.1.11' } },
    { op: 'del-service', service: svc('udp', '198.18.0.100', 55) },
  ],
  [
    { op: 'add-real', service: svc('tcp', '198.18.0.100', 80), real: R('198.18.1.12', 'nat', 8080) },
    { op: 'add-service', service: { ...svc('udp', '198.18.0.100', 55), scheduler: 'sh' } },
    { op: 'add-real', service: svc('udp', '198.18.0.100', 55), real: R('198.18.1.12', 'tun') },
    { op: 'edit-real', service: svc('tcp', '198.18.0.100', 83), real: { rip: '198.18.1.11', rport: 9000, weight: 5 } },
  ],
];

/**
 * Builds the site through Control.handle (the socket's path) with a small --lport-range: the snapshot to start
 * with, then one per entry of CHANGES (the first also turns on expire_nodest_conn and
 * expire_quiescent_template, the second turns them off again).
 */
export async function buildSnapshots(lportRange: [number, number] = [1025, 1124]): Promise<Snapshot[]> {
  setLogLevel('warn'); // the control thread logs every config change
  const control = new Control({
    mac: '02:aa:00:00:00:01',
    addrs: [{ addr: DIR0, prefix: 24 }, { addr: DIR1, prefix: 24 }],
    gateway: GATEWAY,
    verifyL4: true,
    mtu: MTU,
    lportMin: lportRange[0],
    lportMax: lportRange[1],
  });
  const apply = async (reqs: object[]) => {
    for (const req of reqs) {
      const r = await control.handle(req);
      if (!r.ok) throw new Error(`fuzz site set-up ${JSON.stringify(req)}: ${JSON.stringify(r)}`);
    }
    const snap = control.snapshot();
    // Short timeouts so that conns come and go within a run (the clock advances a few minutes per 10^5 frames).
    return { ...snap, timeoutsMs: snap.timeoutsMs.map((t) => Math.min(t, 30_000)), policy: { ...control.table.policy } };
  };
  const snaps = [await apply(SETUP)];
  control.table.policy = { expireNodestConn: true, expireQuiescentTemplate: true };
  snaps.push(await apply(CHANGES[0]!));
  control.table.policy = { expireNodestConn: false, expireQuiescentTemplate: false };
  snaps.push(await apply(CHANGES[1]!));
  return snaps;
}
