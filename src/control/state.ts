/**
 * The control thread's service table: the single source of truth for configuration. Every change is validated
 * completely here before anything is modified (all-or-nothing), and the result is compiled into an immutable
 * Snapshot for the workers. Errors carry ipvsadm's codes and texts (errors.ts).
 *
 * Reals keep IPVS list order: a newly added real goes to the head, so schedulers break ties the way IPVS does;
 * listings sort by address for display, as ipvsadm does.
 * Slots (stable numeric ids for counters and conns) are allocated from free lists; a real's slot is reused only
 * once no worker holds a connection on it any more (the `inUse` callback reads the workers' counters).
 */
import { DEFAULT_SCHEDULER, DEFAULT_TIMEOUTS, DEFAULT_WEIGHT, MAX_REALS, MAX_SERVICES, MAX_WEIGHT } from '../defaults.js';
import type { ConnPolicy, NetConfig, Snapshot, SnapshotReal, SnapshotService } from '../config/snapshot.js';
import { CLIENT_IP_CODES, ORPHAN_KEEP, ORPHAN_RESCHEDULE, ORPHAN_RESET, type ClientIpMode } from '../config/snapshot.js';
import {
  LbError, destExists, invalid, noSuchDest, noSuchService, serviceExists, serviceNotDefined, showValue, unknownScheduler,
} from '../errors.js';
import { fwdImplemented } from '../forward/index.js';
import { getScheduler, parseSchedFlags } from '../sched/registry.js';
import { DEFAULT_MH_TABLE_SIZE, MH_TABLE_SIZES } from '../sched/mh.js';
import { FWD_CODES, protoFromName, type FwdMethod, type ProtoName, type ServiceKey } from '../types.js';
import { formatIPv4, parseIPv4, prefixMask } from '../util/addr.js';
import { validateHealthSpec, type HealthCheckSpec } from '../config/health-spec.js';
import type { RealSpec, ServiceSpec } from './protocol.js';
import type { RealHealth } from '../health/state-machine.js';
import { STATE_NAMES, TcpState, UDP_STATE } from '../worker/tcp-state.js';

export interface RealState {
  slot: number;
  addr: number;
  port: number;
  method: FwdMethod;
  weight: number;
  lastWeight: number;
  uthreshold: number;
  lthreshold: number;
  /** Health state under the service's check (kept by the health checker; absent without a check). */
  check?: RealHealth;
  /** A drain in progress (tapvsadm --drain): no new flows, removed when empty or at the deadline. */
  drain?: DrainState;
}

/** What happens at a drain's deadline to the connections still on the real (see src/control/drain.ts). */
export const AT_DEADLINE = ['keep', 'reset', 'reschedule'] as const;
export type AtDeadline = (typeof AT_DEADLINE)[number];

export interface DrainState {
  startedAt: number;
  deadlineAt: number;
  atDeadline: AtDeadline;
  /** Conns that may still carry data at the last count (null: not counted yet; see Drains). */
  live: number | null;
}

/** Snapshot codes of ORPHAN modes: how a worker treats conns whose real was removed (Snapshot.orphans). */
export const ORPHAN_CODES: Record<AtDeadline, number> = { keep: ORPHAN_KEEP, reschedule: ORPHAN_RESCHEDULE, reset: ORPHAN_RESET };

/** The weight the schedulers see: 0 while draining or while down under a check (the configured one is kept). */
export function effectiveWeight(svc: ServiceState, r: RealState): number {
  if (r.drain || (svc.health && r.check?.state === 'down')) return 0;
  return r.weight;
}

/** A real left out of the snapshot (still configured and listed): down under a check with onFail 'remove'. */
export function realOut(svc: ServiceState, r: RealState): boolean {
  return svc.health?.onFail === 'remove' && r.check?.state === 'down';
}

export interface ServiceState {
  slot: number;
  proto: ProtoName;
  addr: number;
  port: number;
  scheduler: string;
  schedFlagNames: string[];
  schedFlags: number;
  persistent: number;
  netmask: number;
  mhTableSize: number;
  /** IPVS list order: newest first. */
  reals: RealState[];
  /** FULLNAT local addresses, in the order added. */
  laddrs: number[];
  /** How FULLNAT conns deliver the client address to the real. */
  clientIp: ClientIpMode;
  /** The service's health check (run by the control thread's checker), if any. Immutable once set. */
  health?: HealthCheckSpec;
}

/** Largest timeout accepted (seconds), so that it stays a 32-bit number of milliseconds. */
const MAX_TIMEOUT_S = 2147483;

const realKey = (addr: number, port: number) => `${addr}:${port}`;
const svcKey = (proto: ProtoName, addr: number, port: number) => `${proto}/${addr}:${port}`;

function checkInt(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`${name} must be an integer in ${min}..${max}`);
  }
  return v;
}

function checkAddr(v: unknown, name: string): number {
  const a = typeof v === 'string' ? parseIPv4(v) : -1;
  if (a < 0) throw invalid(`${name} must be an IPv4 address (a.b.c.d), got ${showValue(v)}`);
  if (a === 0 || a >>> 28 === 14 || a === 0xffffffff) throw invalid(`${name} ${v} is not a unicast address`);
  return a;
}

class SlotPool {
  private free: number[];
  constructor(size: number) {
    this.free = Array.from({ length: size }, (_, i) => size - 1 - i);
  }
  copyFrom(other: SlotPool): void {
    this.free = [...other.free];
  }
  take(usable: (slot: number) => boolean = () => true): number {
    for (let k = this.free.length - 1; k >= 0; k--) {
      const s = this.free[k]!;
      if (usable(s)) {
        this.free.splice(k, 1);
        return s;
      }
    }
    throw new LbError('EINVAL', 'too many services or real servers (slot table full)');
  }
  give(slot: number): void {
    this.free.unshift(slot);
  }
}

export class ServiceTable {
  private services = new Map<string, ServiceState>();
  private readonly svcSlots = new SlotPool(MAX_SERVICES);
  private readonly realSlots = new SlotPool(MAX_REALS);
  /** Timeouts in seconds per conn state (index TcpState, UDP at UDP_STATE). */
  readonly timeouts: number[];
  version = 0;
  /** IPVS behaviour switches (sysctl-like), set by the daemon's options. */
  policy: ConnPolicy = { expireNodestConn: false, expireQuiescentTemplate: false };
  /**
   * Slots of removed reals whose remaining conns get a non-default treatment (a drain's at-deadline reset or
   * reschedule), until no worker holds a conn on the slot or the slot is given to a new real.
   */
  readonly orphans = new Map<number, AtDeadline>();
  /**
   * The director's addresses and prefixes, for checking local addresses. Recorded by snapshot(): the control
   * thread compiles the first snapshot when it starts, before any request.
   */
  private net: NetConfig | null = null;

  constructor(private readonly realSlotInUse: (slot: number) => boolean = () => false) {
    this.timeouts = new Array<number>(UDP_STATE + 1).fill(0);
    for (const [name, v] of Object.entries(DEFAULT_TIMEOUTS)) {
      const i = (STATE_NAMES as readonly string[]).indexOf(name);
      if (i >= 0) this.timeouts[i] = v;
    }
  }

  /**
   * `ipvsadm --set tcp tcpfin udp`: ESTABLISHED, FIN_WAIT and UDP timeouts in seconds; 0 keeps the current value
   * (as IPVS). Applies from each connection's next packet.
   */
  setTimeouts(tcp: unknown, tcpfin: unknown, udp: unknown): void {
    const t = checkInt(tcp, 'tcp', 0, MAX_TIMEOUT_S);
    const f = checkInt(tcpfin, 'tcpfin', 0, MAX_TIMEOUT_S);
    const u = checkInt(udp, 'udp', 0, MAX_TIMEOUT_S);
    if (t) this.timeouts[TcpState.ESTABLISHED] = t;
    if (f) this.timeouts[TcpState.FIN_WAIT] = f;
    if (u) this.timeouts[UDP_STATE] = u;
  }

  list(): ServiceState[] {
    return [...this.services.values()];
  }

  /**
   * A deep copy to try changes on (`tapvs apply`, `tapvsadm -R`): services, reals, slot free lists, timeouts.
   * Health specs are immutable and shared. `adopt()` makes a validated copy the live table.
   */
  clone(): ServiceTable {
    const t = new ServiceTable(this.realSlotInUse);
    t.adopt(this);
    return t;
  }

  /** Takes over the whole configuration of `other` (a clone that passed every check); the version goes on. */
  adopt(other: ServiceTable): void {
    this.services = new Map(
      [...other.services].map(([k, s]) => [k, { ...s, schedFlagNames: [...s.schedFlagNames], laddrs: [...s.laddrs], reals: s.reals.map((r) => ({ ...r })) }]),
    );
    this.svcSlots.copyFrom(other.svcSlots);
    this.realSlots.copyFrom(other.realSlots);
    this.timeouts.splice(0, this.timeouts.length, ...other.timeouts);
    this.policy = other.policy;
    this.net = other.net;
  }

  find(key: ServiceKey): ServiceState | undefined {
    const addr = parseIPv4(key.vip);
    return this.services.get(svcKey(key.proto, addr, key.vport));
  }

  addService(spec: ServiceSpec): ServiceState {
    const v = this.validateService(spec, undefined);
    if (this.services.has(svcKey(v.proto, v.addr, v.port))) throw serviceExists();
    const svc: ServiceState = { ...v, slot: this.svcSlots.take(), reals: [] };
    this.services.set(svcKey(svc.proto, svc.addr, svc.port), svc);
    return svc;
  }

  editService(spec: ServiceSpec): ServiceState {
    const svc = this.mustFind(spec, noSuchService);
    const v = this.validateService(spec, svc);
    Object.assign(svc, v);
    return svc;
  }

  delService(key: ServiceKey): ServiceState {
    const svc = this.mustFind(key, noSuchService);
    this.services.delete(svcKey(svc.proto, svc.addr, svc.port));
    this.svcSlots.give(svc.slot);
    for (const r of svc.reals) this.realSlots.give(r.slot);
    return svc;
  }

  addReal(key: ServiceKey, spec: RealSpec): RealState {
    const svc = this.mustFind(key, serviceNotDefined);
    const v = this.validateReal(svc, spec, undefined);
    if (svc.reals.some((r) => r.addr === v.addr && r.port === v.port)) throw destExists();
    if (svc.scheduler === 'mh' && svc.reals.length >= svc.mhTableSize) {
      throw invalid(`mh: a table of ${svc.mhTableSize} slots cannot take more reals (IPVS: EINVAL)`);
    }
    const real: RealState = { ...v, slot: this.realSlots.take((s) => !this.realSlotInUse(s)) };
    this.orphans.delete(real.slot);
    svc.reals.unshift(real);
    return real;
  }

  editReal(key: ServiceKey, spec: RealSpec): RealState {
    const svc = this.mustFind(key, serviceNotDefined);
    const real = this.findReal(svc, spec);
    const v = this.validateReal(svc, spec, real);
    Object.assign(real, v);
    return real;
  }

  delReal(key: ServiceKey, spec: { rip: string; rport?: number }): RealState {
    const svc = this.mustFind(key, serviceNotDefined);
    const real = this.findReal(svc, spec);
    svc.reals.splice(svc.reals.indexOf(real), 1);
    this.realSlots.give(real.slot);
    return real;
  }

  /**
   * Sets (or with null removes) the service's health check. The reals keep their health state when a check
   * is replaced; removing the check forgets it, so every real is back in scheduling.
   */
  setHealth(key: ServiceKey, spec: HealthCheckSpec | null): ServiceState {
    const svc = this.mustFind(key, noSuchService);
    if (spec === null) {
      delete svc.health;
      for (const r of svc.reals) delete r.check;
    } else {
      svc.health = spec;
    }
    return svc;
  }

  clear(): void {
    for (const svc of this.services.values()) this.delService({ proto: svc.proto, vip: formatIPv4(svc.addr), vport: svc.port });
  }

  /** Compiles the current state into the next snapshot version. */
  snapshot(net: NetConfig): Snapshot {
    this.net = net;
    this.version++;
    const services: SnapshotService[] = this.list().map((s) => {
      // Health and drain act here: a real down under onFail 'remove' is left out, a quiesced or draining one
      // gets weight 0 (its configured weight and last_weight stay for when it comes back).
      const live = s.reals.filter((r) => !realOut(s, r));
      const reals: SnapshotReal[] = live.map((r) => ({
        slot: r.slot, addr: r.addr, port: r.port, fwd: FWD_CODES[r.method], weight: effectiveWeight(s, r),
        lastWeight: r.lastWeight, uthreshold: r.uthreshold, lthreshold: r.lthreshold,
      }));
      const sched = getScheduler(s.scheduler)!;
      const table = sched.buildTable
        ? sched.buildTable(live.map((r) => ({ addr: r.addr, port: r.port, weight: effectiveWeight(s, r), lastWeight: r.lastWeight })), s.schedFlags, { mhTableSize: s.mhTableSize })
        : null;
      return {
        slot: s.slot, proto: protoFromName(s.proto), vaddr: s.addr, vport: s.port, scheduler: s.scheduler,
        schedFlags: s.schedFlags, persistent: s.persistent, netmask: s.netmask, reals, table,
        laddrs: [...s.laddrs], clientIp: CLIENT_IP_CODES[s.clientIp],
      };
    });
    for (const slot of this.orphans.keys()) if (!this.realSlotInUse(slot)) this.orphans.delete(slot);
    const orphans = [...this.orphans].map(([slot, mode]) => ({ slot, mode: ORPHAN_CODES[mode] }));
    return {
      version: this.version, net, services, timeoutsMs: this.timeouts.map((t) => t * 1000), policy: this.policy,
      ...(orphans.length > 0 ? { orphans } : {}),
    };
  }

  mustFind(key: ServiceKey, notFound: () => LbError): ServiceState {
    if (key === null || typeof key !== 'object') throw invalid('service must be an object {proto, vip, vport}');
    if (key.proto !== 'tcp' && key.proto !== 'udp') throw invalid('service.proto must be "tcp" or "udp"');
    const addr = checkAddr(key.vip, 'service.vip');
    const port = checkInt(key.vport, 'service.vport', 0, 65535);
    const svc = this.services.get(svcKey(key.proto, addr, port));
    if (!svc) throw notFound();
    return svc;
  }

  findReal(svc: ServiceState, spec: { rip: string; rport?: number }): RealState {
    if (spec === null || typeof spec !== 'object') throw invalid('real must be an object {rip, rport?}');
    const addr = checkAddr(spec.rip, 'real.rip');
    const port = spec.rport === undefined ? svc.port : checkInt(spec.rport, 'real.rport', 0, 65535);
    const real = svc.reals.find((r) => r.addr === addr && r.port === port) ??
      // DR/TUN reals are stored with the service port whatever port was given (as ipvsadm forces it).
      svc.reals.find((r) => r.addr === addr && (r.method === 'dr' || r.method === 'tun'));
    if (!real) throw noSuchDest();
    return real;
  }

  private validateService(spec: ServiceSpec, cur: ServiceState | undefined) {
    if (spec === null || typeof spec !== 'object') throw invalid('service must be an object');
    if (spec.proto !== 'tcp' && spec.proto !== 'udp') throw invalid('service.proto must be "tcp" or "udp"');
    const addr = checkAddr(spec.vip, 'service.vip');
    const port = checkInt(spec.vport, 'service.vport', 0, 65535);
    const scheduler = spec.scheduler ?? cur?.scheduler ?? DEFAULT_SCHEDULER;
    if (typeof scheduler !== 'string') throw invalid('service.scheduler must be a string');
    const sched = getScheduler(scheduler);
    if (!sched) throw unknownScheduler();
    const flagNames = spec.schedFlags ?? (spec.scheduler === undefined ? cur?.schedFlagNames : undefined) ?? [];
    if (!Array.isArray(flagNames) || flagNames.some((f) => typeof f !== 'string')) {
      throw invalid('service.schedFlags must be an array of strings');
    }
    const flags = parseSchedFlags(sched.name, flagNames);
    if (typeof flags === 'string') throw invalid(flags);
    const persistent = spec.persistent ?? cur?.persistent ?? 0;
    checkInt(persistent, 'service.persistent', 0, 2678400);
    let netmask = cur?.netmask ?? 0xffffffff;
    if (spec.netmask !== undefined) {
      netmask = typeof spec.netmask === 'string' ? parseIPv4(spec.netmask) : -1;
      if (netmask < 0) throw invalid(`service.netmask must be a dotted IPv4 netmask, got ${showValue(spec.netmask)}`);
    }
    const mhTableSize = spec.mhTableSize ?? cur?.mhTableSize ?? DEFAULT_MH_TABLE_SIZE;
    if (!MH_TABLE_SIZES.includes(mhTableSize)) {
      throw invalid(`service.mhTableSize must be one of ${MH_TABLE_SIZES.join(', ')} (a prime), got ${showValue(mhTableSize)}`);
    }
    if (sched.name === 'mh' && cur && cur.reals.length > mhTableSize) {
      throw invalid(`mh: ${cur.reals.length} reals do not fit a table of ${mhTableSize} slots`);
    }
    if (port === 0 && persistent === 0) throw invalid('Zero port specified for non-persistent service');
    if (port === 0) throw invalid('port-zero (any port) services are not supported by this tapvs version yet');
    const clientIp = spec.clientIp ?? cur?.clientIp ?? 'none';
    if (typeof clientIp !== 'string' || !Object.hasOwn(CLIENT_IP_CODES, clientIp)) {
      throw invalid('service.clientIp must be one of none, toa, proxy-v1, proxy-v2');
    }
    if (spec.proto === 'udp' && (clientIp === 'toa' || clientIp === 'proxy-v1')) {
      throw invalid(`${clientIp === 'toa' ? 'TOA' : 'PROXY protocol v1'} is for TCP services only; a UDP service takes proxy-v2`);
    }
    const laddrs = this.validateLaddrs(spec, cur, addr);
    // health: absent = unchanged, null = none, else the API's HealthCheckSpec (checked, defaults filled in).
    const health = spec.health === undefined ? cur?.health : spec.health === null ? undefined : validateHealthSpec(spec.health);
    return {
      proto: spec.proto as ProtoName, addr, port, scheduler: sched.name, schedFlagNames: flagNames, schedFlags: flags,
      persistent, netmask, mhTableSize, clientIp, laddrs, health,
    };
  }

  /**
   * The service's local addresses after `laddrs` (the whole list), `addLaddrs` and `delLaddrs`: each a unicast
   * address on a connected prefix of the director (the reals answer it there), not a VIP, at most once.
   */
  private validateLaddrs(spec: ServiceSpec, cur: ServiceState | undefined, vip: number): number[] {
    const strings = (v: unknown, name: string): string[] => {
      if (v === undefined) return [];
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(`service.${name} must be an array of IPv4 addresses`);
      return v as string[];
    };
    let list = spec.laddrs === undefined ? [...(cur?.laddrs ?? [])] : [];
    const fresh = spec.laddrs === undefined ? strings(spec.addLaddrs, 'addLaddrs') : strings(spec.laddrs, 'laddrs');
    for (const s of fresh) {
      const a = checkAddr(s, 'local address');
      if (list.includes(a)) throw invalid(`local address ${formatIPv4(a)} already exists on this service`);
      const net = this.net;
      if (net && !net.addrs.some((n) => ((a ^ n.addr) & prefixMask(n.prefix)) === 0)) {
        throw invalid(`local address ${formatIPv4(a)} is not on a connected prefix of the director (--addr); the real servers must reach it directly`);
      }
      if (a === vip || [...this.services.values()].some((x) => x.addr === a)) {
        throw invalid(`local address ${formatIPv4(a)} is a virtual service address`);
      }
      list.push(a);
    }
    for (const s of strings(spec.delLaddrs, 'delLaddrs')) {
      const a = checkAddr(s, 'local address');
      if (!list.includes(a)) throw invalid(`No such local address ${formatIPv4(a)} on this service`);
      list = list.filter((x) => x !== a);
    }
    if (list.length === 0 && cur?.reals.some((r) => r.method === 'fullnat')) {
      throw invalid('the service has FULLNAT real servers: it keeps at least one local address (delete those reals first)');
    }
    for (const other of this.services.values()) {
      if (other !== cur && other.laddrs.includes(vip)) throw invalid(`${formatIPv4(vip)} is a FULLNAT local address, not usable as a virtual service address`);
    }
    return list;
  }

  private validateReal(svc: ServiceState, spec: RealSpec, cur: RealState | undefined) {
    if (spec === null || typeof spec !== 'object') throw invalid('real must be an object');
    const addr = checkAddr(spec.rip, 'real.rip');
    const method = spec.method ?? cur?.method ?? 'dr';
    if (!(method in FWD_CODES)) throw invalid('real.method must be one of dr, nat, tun, fullnat');
    if (!fwdImplemented(FWD_CODES[method])) {
      throw invalid(`forwarding method ${method} is not supported by this tapvs version yet (use -m, NAT)`);
    }
    if (method === 'fullnat' && svc.laddrs.length === 0) {
      throw invalid(
        `FULLNAT real servers need a local address on the service first: tapvsadm -P -${svc.proto === 'tcp' ? 't' : 'u'} ${formatIPv4(svc.addr)}:${svc.port} -z LIP`,
      );
    }
    let port = spec.rport === undefined ? (cur?.port ?? svc.port) : checkInt(spec.rport, 'real.rport', 0, 65535);
    if (method === 'dr' || method === 'tun') port = svc.port;
    if (cur && port !== cur.port) throw invalid('the real port cannot be changed by an edit; delete and add the real');
    const weight = checkInt(spec.weight ?? cur?.weight ?? DEFAULT_WEIGHT, 'real.weight', 0, MAX_WEIGHT);
    const uthreshold = checkInt(spec.uthreshold ?? cur?.uthreshold ?? 0, 'real.uthreshold', 0, 0x7fffffff);
    const lthreshold = checkInt(spec.lthreshold ?? cur?.lthreshold ?? 0, 'real.lthreshold', 0, 0x7fffffff);
    if (lthreshold > uthreshold) throw new LbError('ERANGE', 'Numerical result out of range');
    // IPVS last_weight: set on add (even to 0), then only by edits with a non-zero weight.
    const lastWeight = cur === undefined ? weight : weight !== 0 ? weight : cur.lastWeight;
    return { addr, port, method, weight, lastWeight, uthreshold, lthreshold };
  }
}
