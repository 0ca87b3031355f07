/**
 * The destination-address cache of lblc and lblcr (kernel ip_vs_lblc.c / ip_vs_lblcr.c), in typed arrays so
 * that lookups, inserts and expiry never allocate on the packet path.
 *
 * Shape. An entry maps a packet's destination address to a list of reals (lblc: always one; lblcr: its server
 * set, newest member first) and carries `lastuse` and (lblcr) the set's `lastmod`. Entries hang in hash chains.
 * The kernel has 1024 buckets (hash_32(daddr, 10)); we chain on 4096 (hash_32(daddr, 12)), whose top 10 bits
 * are the kernel's bucket, so kernel bucket j is our buckets 4j..4j+3 and expiry can walk the kernel's buckets in
 * the kernel's order (which entries a partial expiry run removes depends on it).
 *
 * Reals. Entries name reals by identity (address:port, unique within a service), through a small table of
 * "known" reals that `sync` maps onto each snapshot's indexes. A removed real stays known while an entry refers
 * to it: it is unavailable (never picked), keeps the weight it had and has its conns read through its old slot
 * (lblcr's set pruning weighs it), like a kernel dest in the trash that the cache still holds. Re-adding the
 * same address:port makes those entries point at it again, as the kernel revives a trashed dest.
 *
 * Expiry (the kernel's 60 s timer, `checkExpire`). Runs are due every `checkIntervalMs`, the first one interval
 * after the first call that sees the table; `runDue(now)` performs every run due by `now` at its due time,
 * so the outcome does not depend on whether pick or tick gets there first. A run: every `fullExpirationCount`-th
 * quiet run removes all entries unused for `expirationMs` (24 h); otherwise, if there are more than `maxSize`
 * entries, it walks buckets from the rover removing entries unused for `entryTimeoutMs` (6 min) until
 * min((entries - maxSize) * 4/3, maxSize/2) are gone (checked after each bucket); a run with no excess only
 * counts.
 *
 * Capacity. Arrays grow in `reserve` (init and tick), never in pick. An insert that finds no free entry or member
 * does nothing: the conn is still served, the address is just not cached (the kernel's path when its atomic
 * allocation fails). The kernel's table is unbounded between timer runs.
 */
import { LeastTree } from './least-tree.js';
import type { SchedService } from './scheduler.js';
import { wlcKey } from './wlc.js';

/** Expiry parameters (kernel constants and the lblc_expiration / lblcr_expiration sysctl default). */
export interface LocalityParams {
  /** CHECK_EXPIRE_INTERVAL. */
  readonly checkIntervalMs: number;
  /** ENTRY_TIMEOUT: idle time after which an over-full table drops an entry. */
  readonly entryTimeoutMs: number;
  /** sysctl lblc_expiration / lblcr_expiration: idle time after which the full sweep drops an entry; also
   * lblcr's set-pruning age. */
  readonly expirationMs: number;
  /** max_size = TAB_SIZE * 16. */
  readonly maxSize: number;
  /** COUNT_FOR_FULL_EXPIRATION. */
  readonly fullExpirationCount: number;
  /** Entries (and members) allocated up front; grown by `reserve`. */
  readonly initialCapacity: number;
}

export const LOCALITY_DEFAULTS: LocalityParams = Object.freeze({
  checkIntervalMs: 60_000,
  entryTimeoutMs: 6 * 60_000,
  expirationMs: 24 * 60 * 60_000,
  maxSize: 1024 * 16,
  fullExpirationCount: 30,
  initialCapacity: 4096,
});

/** Kernel CONFIG_IP_VS_LBLC_TAB_BITS / CONFIG_IP_VS_LBLCR_TAB_BITS. */
export const LOCALITY_TAB_BITS = 10;
const TAB_SIZE = 1 << LOCALITY_TAB_BITS;
/** Our chain bits: 4 chains per kernel bucket. */
const CHAIN_BITS = 12;
const CHAINS_PER_BUCKET = 1 << (CHAIN_BITS - LOCALITY_TAB_BITS);
/** Largest entry/member capacity `reserve` grows to. */
const MAX_CAPACITY = 1 << 22;
const NIL = -1;

/** Kernel bucket of a destination address: hash_32(daddr, 10). */
export function localityBucket(daddr: number): number {
  return Math.imul(daddr, 0x61c88647) >>> (32 - LOCALITY_TAB_BITS);
}

export class LocalityTable {
  readonly params: LocalityParams;
  /** Chain heads, by hash_32(daddr, 12). */
  readonly heads = new Int32Array(1 << CHAIN_BITS).fill(NIL);

  // Entries (free ones are chained through eNext from freeEntry).
  eAddr: Uint32Array;
  eNext: Int32Array;
  eLastuse: Float64Array;
  eLastmod: Float64Array;
  /** First member node, newest first. */
  eHead: Int32Array;
  eSize: Int32Array;
  entries = 0;
  private freeEntry = NIL;

  // Member nodes (free ones chained through nNext from freeNode).
  nReal: Int32Array;
  nNext: Int32Array;
  private freeNode = NIL;
  private nodesUsed = 0;

  // Known reals, by id.
  kAddr = new Uint32Array(0);
  kPort = new Int32Array(0);
  /** Index in the current snapshot, or -1 (removed). */
  kIdx = new Int32Array(0);
  /** Slot (for conn counts), or -1 once the slot serves another real of this service. */
  kSlot = new Int32Array(0);
  /** Current weight, or the weight it had when removed. */
  kWeight = new Int32Array(0);
  /** Entries and members referring to it. */
  kRefs = new Int32Array(0);
  private kInUse = new Uint8Array(0);
  /** Ids below kCount have been used; freed ones wait in kFree. */
  private kCount = 0;
  private readonly kFree: number[] = [];
  private readonly knownByKey = new Map<number, number>();
  /** Known id of each real of the current snapshot, by index. */
  idOf = new Int32Array(0);

  // Expiry.
  /** Due time of the next expiry run (NaN until the first call). */
  nextCheck = NaN;
  counter = 1;
  rover = 0;

  constructor(params: LocalityParams) {
    this.params = params;
    const cap = Math.max(16, params.initialCapacity);
    this.eAddr = new Uint32Array(cap);
    this.eNext = new Int32Array(cap);
    this.eLastuse = new Float64Array(cap);
    this.eLastmod = new Float64Array(cap);
    this.eHead = new Int32Array(cap);
    this.eSize = new Int32Array(cap);
    this.freeEntry = _chainFree(this.eNext, 0, NIL);
    this.nReal = new Int32Array(cap);
    this.nNext = new Int32Array(cap);
    this.freeNode = _chainFree(this.nNext, 0, NIL);
  }

  // ---------------------------------------------------------------------------------------------- snapshots

  /** Maps known reals onto the snapshot's indexes, learns new reals, forgets unreferenced removed ones. */
  sync(svc: SchedService): void {
    const n = svc.n;
    const byKey = new Map<number, number>();
    const slots = new Set<number>();
    for (let i = 0; i < n; i++) {
      byKey.set(_key(svc.addr[i], svc.port[i]), i);
      slots.add(svc.slot[i]);
    }
    for (let id = 0; id < this.kCount; id++) {
      if (this.kInUse[id] === 0) continue;
      const i = byKey.get(_key(this.kAddr[id], this.kPort[id])) ?? -1;
      if (i >= 0) {
        this.kIdx[id] = i;
        this.kSlot[id] = svc.slot[i];
        this.kWeight[id] = svc.weight[i];
        continue;
      }
      this.kIdx[id] = -1;
      if (this.kSlot[id] >= 0 && slots.has(this.kSlot[id])) this.kSlot[id] = -1;
      if (this.kRefs[id] === 0) {
        this.kInUse[id] = 0;
        this.knownByKey.delete(_key(this.kAddr[id], this.kPort[id]));
        this.kFree.push(id);
      }
    }
    this.idOf = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const key = _key(svc.addr[i], svc.port[i]);
      let id = this.knownByKey.get(key);
      if (id === undefined) {
        id = this.newKnown();
        this.knownByKey.set(key, id);
        this.kAddr[id] = svc.addr[i];
        this.kPort[id] = svc.port[i];
        this.kRefs[id] = 0;
        this.kInUse[id] = 1;
      }
      this.kIdx[id] = i;
      this.kSlot[id] = svc.slot[i];
      this.kWeight[id] = svc.weight[i];
      this.idOf[i] = id;
    }
  }

  /** Grows entry and member arrays when less than a quarter is free. Off the packet path only. */
  reserve(): void {
    const ecap = this.eAddr.length;
    if (ecap - this.entries < ecap / 4 && ecap < MAX_CAPACITY) this.growEntries(ecap * 2);
    const ncap = this.nReal.length;
    if (ncap - this.nodesUsed < ncap / 4 && ncap < MAX_CAPACITY) this.growNodes(ncap * 2);
  }

  // ---------------------------------------------------------------------------------------------- packet path

  /** Entry for `daddr`, or -1. */
  find(daddr: number): number {
    const eAddr = this.eAddr;
    const eNext = this.eNext;
    for (let e = this.heads[Math.imul(daddr, 0x61c88647) >>> (32 - CHAIN_BITS)]; e !== NIL; e = eNext[e]) {
      if (eAddr[e] === daddr) return e;
    }
    return NIL;
  }

  /** New entry for `daddr` (not present) with one member `id`, lastuse = lastmod = now; -1 if full. */
  create(daddr: number, id: number, now: number): number {
    const e = this.freeEntry;
    const node = this.freeNode;
    if (e === NIL || node === NIL) return NIL;
    this.freeEntry = this.eNext[e];
    this.freeNode = this.nNext[node];
    this.nodesUsed++;
    this.entries++;
    this.nReal[node] = id;
    this.nNext[node] = NIL;
    this.kRefs[id]++;
    const c = Math.imul(daddr, 0x61c88647) >>> (32 - CHAIN_BITS);
    this.eAddr[e] = daddr;
    this.eNext[e] = this.heads[c];
    this.heads[c] = e;
    this.eLastuse[e] = now;
    this.eLastmod[e] = now;
    this.eHead[e] = node;
    this.eSize[e] = 1;
    return e;
  }

  /** Points member `node` at real `id` (lblc replacing its cached real). */
  setMember(node: number, id: number): void {
    const old = this.nReal[node];
    if (old === id) return;
    this.kRefs[old]--;
    this.kRefs[id]++;
    this.nReal[node] = id;
  }

  /** ip_vs_dest_set_insert with check: adds `id` at the head of e's set unless present (lastmod = now). */
  insertMember(e: number, id: number, now: number): void {
    for (let node = this.eHead[e]; node !== NIL; node = this.nNext[node]) if (this.nReal[node] === id) return;
    const node = this.freeNode;
    if (node === NIL) return;
    this.freeNode = this.nNext[node];
    this.nodesUsed++;
    this.nReal[node] = id;
    this.nNext[node] = this.eHead[e];
    this.eHead[e] = node;
    this.eSize[e]++;
    this.kRefs[id]++;
    this.eLastmod[e] = now;
  }

  /** ip_vs_dest_set_erase: removes member `node` from e's set (lastmod = now). */
  eraseMember(e: number, node: number, now: number): void {
    let prev = NIL;
    for (let x = this.eHead[e]; x !== NIL; prev = x, x = this.nNext[x]) {
      if (x !== node) continue;
      if (prev === NIL) this.eHead[e] = this.nNext[x];
      else this.nNext[prev] = this.nNext[x];
      this.freeMemberNode(x);
      this.eSize[e]--;
      this.eLastmod[e] = now;
      return;
    }
  }

  /** Performs every expiry run due by `now`, each at its due time. */
  runDue(now: number): void {
    if (!(now >= this.nextCheck)) {
      if (this.nextCheck === this.nextCheck) return; // not NaN: not due yet
      this.nextCheck = now + this.params.checkIntervalMs;
      return;
    }
    do {
      this.checkExpire(this.nextCheck);
      this.nextCheck += this.params.checkIntervalMs;
    } while (now >= this.nextCheck);
  }

  /** One run of the kernel's periodic timer (ip_vs_lblc_check_expire / ip_vs_lblcr_check_expire) at time t. */
  checkExpire(t: number): void {
    const p = this.params;
    if (this.counter % p.fullExpirationCount === 0) {
      let j = this.rover;
      for (let i = 0; i < TAB_SIZE; i++) {
        j = (j + 1) & (TAB_SIZE - 1);
        this.sweepBucket(j, t, p.expirationMs);
      }
      this.rover = j;
      this.counter = 1;
      return;
    }
    if (this.entries <= p.maxSize) {
      this.counter++;
      return;
    }
    let goal = Math.floor(((this.entries - p.maxSize) * 4) / 3);
    if (goal > Math.floor(p.maxSize / 2)) goal = Math.floor(p.maxSize / 2);
    let j = this.rover;
    for (let i = 0; i < TAB_SIZE; i++) {
      j = (j + 1) & (TAB_SIZE - 1);
      goal -= this.sweepBucket(j, t, p.entryTimeoutMs);
      if (goal <= 0) break;
    }
    this.rover = j;
  }

  // ---------------------------------------------------------------------------------------------- internals

  /** Removes the entries of kernel bucket j with lastuse + timeout <= t; returns how many. */
  private sweepBucket(j: number, t: number, timeout: number): number {
    let removed = 0;
    for (let c = j * CHAINS_PER_BUCKET; c < (j + 1) * CHAINS_PER_BUCKET; c++) {
      let prev = NIL;
      let e = this.heads[c];
      while (e !== NIL) {
        const next = this.eNext[e];
        if (t < this.eLastuse[e] + timeout) {
          prev = e;
        } else {
          if (prev === NIL) this.heads[c] = next;
          else this.eNext[prev] = next;
          this.freeEntryAndSet(e);
          removed++;
        }
        e = next;
      }
    }
    return removed;
  }

  private freeEntryAndSet(e: number): void {
    let node = this.eHead[e];
    while (node !== NIL) {
      const next = this.nNext[node];
      this.freeMemberNode(node);
      node = next;
    }
    this.eNext[e] = this.freeEntry;
    this.freeEntry = e;
    this.entries--;
  }

  private freeMemberNode(node: number): void {
    this.kRefs[this.nReal[node]]--;
    this.nNext[node] = this.freeNode;
    this.freeNode = node;
    this.nodesUsed--;
  }

  private newKnown(): number {
    const free = this.kFree.pop();
    if (free !== undefined) return free;
    const id = this.kCount++;
    if (id < this.kInUse.length) return id;
    const cap = Math.max(8, id * 2);
    this.kAddr = _grow(this.kAddr, new Uint32Array(cap));
    this.kPort = _grow(this.kPort, new Int32Array(cap));
    this.kIdx = _grow(this.kIdx, new Int32Array(cap));
    this.kSlot = _grow(this.kSlot, new Int32Array(cap));
    this.kWeight = _grow(this.kWeight, new Int32Array(cap));
    this.kRefs = _grow(this.kRefs, new Int32Array(cap));
    this.kInUse = _grow(this.kInUse, new Uint8Array(cap));
    return id;
  }

  private growEntries(cap: number): void {
    const old = this.eAddr.length;
    this.eAddr = _grow(this.eAddr, new Uint32Array(cap));
    this.eNext = _grow(this.eNext, new Int32Array(cap));
    this.eLastuse = _grow(this.eLastuse, new Float64Array(cap));
    this.eLastmod = _grow(this.eLastmod, new Float64Array(cap));
    this.eHead = _grow(this.eHead, new Int32Array(cap));
    this.eSize = _grow(this.eSize, new Int32Array(cap));
    this.freeEntry = _chainFree(this.eNext, old, this.freeEntry);
  }

  private growNodes(cap: number): void {
    const old = this.nReal.length;
    this.nReal = _grow(this.nReal, new Int32Array(cap));
    this.nNext = _grow(this.nNext, new Int32Array(cap));
    this.freeNode = _chainFree(this.nNext, old, this.freeNode);
  }
}

/**
 * Per-service state of lblc and lblcr: the cache, the wlc index for fresh picks (least-tree.ts), and what the
 * lblc overload test needs in O(1): which reals have active*2 < weight, and how many.
 */
export interface LocalityState {
  readonly table: LocalityTable;
  readonly tree: LeastTree;
  /** 1 where active*2 < weight. */
  readonly under: Uint8Array;
  underCount: number;
}

/**
 * The kernel's is_overloaded(dest, svc) for lblc/lblcr: dest has more active conns than its weight while some
 * real of the service has fewer than half its weight. (Not the OVERLOAD flag.)
 */
export function lblcOverloaded(svc: SchedService, st: LocalityState, i: number): boolean {
  return svc.active[svc.slot[i]] > svc.weight[i] && st.underCount > 0;
}

/** State for a snapshot, shared by lblc and lblcr: the carried cache synced to svc, a fresh wlc tree. */
export function initLocalityState(svc: SchedService, table: LocalityTable): LocalityState {
  table.sync(svc);
  table.reserve();
  const tree = new LeastTree(svc.n);
  for (let i = 0; i < svc.n; i++) wlcKey(svc, tree, i, false);
  tree.build();
  const st: LocalityState = { table, tree, under: new Uint8Array(svc.n), underCount: 0 };
  for (let i = 0; i < svc.n; i++) updateUnder(svc, st, i);
  return st;
}

/** Recomputes real i's half-loaded bit (countsChanged and init). */
export function updateUnder(svc: SchedService, st: LocalityState, i: number): void {
  const u = svc.active[svc.slot[i]] * 2 < svc.weight[i] ? 1 : 0;
  if (u !== st.under[i]) {
    st.underCount += u - st.under[i];
    st.under[i] = u;
  }
}

function _key(addr: number, port: number): number {
  return (addr >>> 0) * 65536 + (port & 0xffff);
}

function _grow<T extends Uint8Array | Int32Array | Uint32Array | Float64Array>(old: T, into: T): T {
  into.set(old);
  return into;
}

/** Chains slots from..len-1 of a next-array into a free list ending in `tail`; returns its head. */
function _chainFree(next: Int32Array, from: number, tail: number): number {
  for (let i = next.length - 1; i >= from; i--) {
    next[i] = tail;
    tail = i;
  }
  return tail;
}
