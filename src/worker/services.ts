/**
 * A worker's compiled view of the snapshot's services: per-service parallel arrays the schedulers read
 * (SchedService), and a small open-addressing index from (proto, VIP, port) to the service.
 * Built once per snapshot; never allocates on the packet path.
 */
import type { Snapshot, SnapshotService } from '../config/snapshot.js';
import { getScheduler } from '../sched/registry.js';
import type { SchedService, Scheduler } from '../sched/scheduler.js';
import { RF_OVERLOAD } from '../sched/scheduler.js';
import type { LaddrPool } from './laddr-pool.js';

export class CompiledService implements SchedService {
  readonly slot: Int32Array;
  readonly weight: Int32Array;
  readonly lastWeight: Int32Array;
  readonly flags: Uint8Array;
  readonly addr: Uint32Array;
  /** Real addresses as int32, for the packet path (see Pkt). */
  readonly raddr: Int32Array;
  readonly port: Uint16Array;
  readonly fwd: Uint8Array;
  readonly uthreshold: Int32Array;
  readonly lthreshold: Int32Array;
  readonly n: number;
  readonly schedFlags: number;
  readonly table: Int32Array | null;
  readonly realsKey: string;
  readonly svcSlot: number;
  readonly proto: number;
  /** VIP as int32. */
  readonly vaddr: number;
  readonly vport: number;
  readonly persistent: number;
  /** Persistence netmask as int32. */
  readonly netmask: number;
  readonly sched: Scheduler;
  schedState: unknown;
  /** FULLNAT local addresses (int32) and this worker's port pools for them (same order; set by LaddrPools). */
  readonly laddrs: Int32Array;
  pools: LaddrPool[] = [];
  /** Index of the LIP the next FULLNAT conn tries first (round robin). */
  lipNext = 0;
  /** Client-IP delivery for FULLNAT conns (CLIENT_IP_CODES). */
  readonly clientIp: number;

  constructor(
    s: SnapshotService,
    readonly active: Int32Array,
    readonly inactive: Int32Array,
    prev: CompiledService | undefined,
  ) {
    const n = s.reals.length;
    this.n = n;
    this.svcSlot = s.slot;
    this.proto = s.proto;
    this.vaddr = s.vaddr | 0;
    this.vport = s.vport;
    this.persistent = s.persistent;
    this.netmask = s.netmask | 0;
    this.schedFlags = s.schedFlags;
    this.table = s.table;
    this.slot = Int32Array.from(s.reals, (r) => r.slot);
    this.weight = Int32Array.from(s.reals, (r) => r.weight);
    this.lastWeight = Int32Array.from(s.reals, (r) => r.lastWeight);
    this.addr = Uint32Array.from(s.reals, (r) => r.addr);
    this.raddr = Int32Array.from(s.reals, (r) => r.addr | 0);
    this.port = Uint16Array.from(s.reals, (r) => r.port);
    this.fwd = Uint8Array.from(s.reals, (r) => r.fwd);
    this.uthreshold = Int32Array.from(s.reals, (r) => r.uthreshold);
    this.lthreshold = Int32Array.from(s.reals, (r) => r.lthreshold);
    this.flags = new Uint8Array(n);
    this.laddrs = Int32Array.from(s.laddrs, (a) => a | 0);
    this.clientIp = s.clientIp;
    this.realsKey = s.reals.map((r) => `${r.slot}:${r.weight}:${r.lastWeight}`).join(',');
    const sched = getScheduler(s.scheduler);
    if (!sched) throw new Error(`unknown scheduler ${s.scheduler}`); // refused on control before it gets here
    this.sched = sched;
    // OVERLOAD carries over for reals that stay; IPVS clears it when the upper threshold is removed or raised.
    if (prev) {
      for (let i = 0; i < n; i++) {
        const j = prev.indexOfSlot(this.slot[i]!);
        if (j < 0 || !(prev.flags[j]! & RF_OVERLOAD)) continue;
        const u = this.uthreshold[i]!;
        if (u !== 0 && u <= prev.uthreshold[j]!) this.flags[i] |= RF_OVERLOAD;
      }
    }
    this.schedState = sched.init(this, prev && prev.sched === sched ? prev.schedState : undefined);
  }

  /** Tells the scheduler that real i's counts or OVERLOAD flag changed (Scheduler.countsChanged contract). */
  countsChanged(i: number): void {
    const cc = this.sched.countsChanged;
    if (cc !== undefined) cc.call(this.sched, this, this.schedState, i);
  }

  /** Periodic scheduler housekeeping (Scheduler.tick), from the worker's timer pass. */
  tick(nowMs: number): void {
    const t = this.sched.tick;
    if (t !== undefined) t.call(this.sched, this, this.schedState, nowMs);
  }

  indexOfSlot(slot: number): number {
    for (let i = 0; i < this.n; i++) if (this.slot[i] === slot) return i;
    return -1;
  }
}

/** Open-addressing index (proto, vaddr, vport) → CompiledService. Addresses int32. */
export class ServiceIndex {
  private readonly mask: number;
  private readonly kAddr: Int32Array;
  private readonly kPort: Int32Array;
  private readonly kProto: Uint8Array;
  private readonly val: (CompiledService | null)[];
  /** Addresses owned as VIPs (any service), int32. */
  readonly vips = new Set<number>();
  /** FULLNAT local addresses (any service), int32: replies to them are looked up by the outbound key. */
  readonly laddrs = new Set<number>();
  /** VIPs and local addresses: the addresses the worker answers ARP for besides its own. */
  readonly owned = new Set<number>();
  readonly list: CompiledService[] = [];

  constructor(services: CompiledService[]) {
    let size = 8;
    while (size < services.length * 2) size <<= 1;
    this.mask = size - 1;
    this.kAddr = new Int32Array(size);
    this.kPort = new Int32Array(size).fill(-1);
    this.kProto = new Uint8Array(size);
    this.val = new Array<CompiledService | null>(size).fill(null);
    for (const s of services) {
      let h = this.hash(s.proto, s.vaddr, s.vport);
      while (this.kPort[h] !== -1) h = (h + 1) & this.mask;
      this.kAddr[h] = s.vaddr;
      this.kPort[h] = s.vport;
      this.kProto[h] = s.proto;
      this.val[h] = s;
      this.vips.add(s.vaddr);
      this.owned.add(s.vaddr);
      for (const a of s.laddrs) {
        this.laddrs.add(a);
        this.owned.add(a);
      }
      this.list.push(s);
    }
  }

  lookup(proto: number, vaddr: number, vport: number): CompiledService | null {
    let h = this.hash(proto, vaddr, vport);
    for (;;) {
      const p = this.kPort[h]!;
      if (p === -1) return null;
      if (p === vport && this.kAddr[h] === vaddr && this.kProto[h] === proto) return this.val[h]!;
      h = (h + 1) & this.mask;
    }
  }

  private hash(proto: number, vaddr: number, vport: number): number {
    let h = Math.imul(vaddr ^ (vport << 8) ^ proto, 0x9e3779b1);
    return (h ^ (h >>> 16)) & this.mask;
  }
}

/** Compiles a snapshot's services, carrying scheduler state and overload flags from the previous ones. */
export function compileServices(
  snap: Snapshot,
  active: Int32Array,
  inactive: Int32Array,
  prev: ServiceIndex | null,
): ServiceIndex {
  const bySlot = new Map<number, CompiledService>();
  if (prev) for (const s of prev.list) bySlot.set(s.svcSlot, s);
  return new ServiceIndex(snap.services.map((s) => new CompiledService(s, active, inactive, bySlot.get(s.slot))));
}
