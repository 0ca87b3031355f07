/**
 * Domain types shared by the control thread, the workers and the CLI.
 * Vocabulary (one word per concept): service = virtual service (proto, VIP, port);
 * real = real server; conn = connection entry; flow = 5-tuple; fwd method = dr|nat|tun|fullnat.
 */

/** Transport protocols a virtual service can carry. Values are IP protocol numbers. */
export const enum Proto {
  ICMP = 1,
  TCP = 6,
  UDP = 17,
}

export type ProtoName = 'tcp' | 'udp';

export function protoFromName(name: ProtoName): Proto {
  return name === 'tcp' ? Proto.TCP : Proto.UDP;
}

export function protoName(p: number): ProtoName {
  return p === Proto.TCP ? 'tcp' : 'udp';
}

/** Forwarding methods, named as in LVS: -g (dr, "Route"), -m (nat, "Masq"), -i (tun, "Tunnel"), -b (fullnat). */
export type FwdMethod = 'dr' | 'nat' | 'tun' | 'fullnat';

/** Numeric fwd method codes used in snapshots and conn tables (index into FORWARDERS). */
export const enum FwdCode {
  DR = 0,
  NAT = 1,
  TUN = 2,
  FULLNAT = 3,
}

export const FWD_CODES: Record<FwdMethod, FwdCode> = { dr: FwdCode.DR, nat: FwdCode.NAT, tun: FwdCode.TUN, fullnat: FwdCode.FULLNAT };
export const FWD_METHODS: readonly FwdMethod[] = ['dr', 'nat', 'tun', 'fullnat'];

/** ipvsadm's "Forward" column names. */
export const FWD_DISPLAY: Record<FwdMethod, string> = { dr: 'Route', nat: 'Masq', tun: 'Tunnel', fullnat: 'FullNat' };

/** Identifies a virtual service. Addresses are dotted-quad strings on the wire. */
export interface ServiceKey {
  proto: ProtoName;
  vip: string;
  vport: number;
}

export function serviceKeyString(k: ServiceKey): string {
  return `${k.proto} ${k.vip}:${k.vport}`;
}
