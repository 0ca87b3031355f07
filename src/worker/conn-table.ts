/**
 * Per-worker connection table. Design note:
 *
 * Each worker thread owns one table; nobody else reads or writes it (the control thread sees only counters).
 * Entries are rows of a struct-of-arrays over typed arrays allocated once at start (capacity = max conns);
 * the OS maps untouched pages lazily, so a large capacity costs memory only as it fills. An entry is found
 * by two hash indexes, as in IPVS/DPVS: the inbound key (proto, client addr:port, virtual addr:port) for
 * client→real packets, and the outbound key (proto, real addr:port, client-side addr:port) for NAT replies.
 * Each index is open-addressed with linear probing at load ≤ 1/2 over 16-byte slot records (address, address,
 * both ports, row), so a lookup usually reads one cache line of one array — at 10^6 entries the lookup cost is
 * that one miss. Deletion shifts the following entries back (no tombstones). The per-field arrays (caddr,
 * dport, ...) hold each entry's values for the forwarders and listings; free rows are threaded through wheelNext.
 *
 * Expiry uses a lazy timer wheel with 1-second slots: a packet only stores a new `expires` time; when the wheel
 * reaches the slot an entry was filed under, the entry either expires or is re-filed under its current
 * expiry (wheel lists are doubly linked so an entry can also be removed at once). Each entry is touched by the wheel about once per timeout period, never per tick, and the table is
 * never scanned.
 *
 * FULLNAT columns: `laddr/lport` (the local address and port the director chose; the outbound key), and for
 * client-IP delivery (src/forward/client-ip.ts) `cip` (mode and state bits), `mark` (a sequence number: the
 * client's ISN+1 for PROXY protocol, the real's ISN+1 for TOA) and `seqd` (client→real sequence shift, the
 * PROXY header length): 9 bytes per entry, zero for every other method.
 *
 * Nothing here allocates after construction; every method works on integer row indexes. Addresses are int32
 * (the IPv4 address bits as a signed number) and times are ms on the worker's relative clock, so that values
 * stay small integers for V8 and passing them never boxes.
 */

export const NIL = -1;

/** Entry flags. */
export const CF_ACTIVE = 1; // counted in active (else inactive)
export const CF_NOOUTPUT = 2; // no real→client packet seen yet (DR/TUN conns keep it)
export const CF_TEMPLATE = 4; // a persistence template (client network → real), not a connection
export const CF_ASSURED = 8; // template state ASSURED (a controlled conn got established / saw a reply)
export const CF_NOINDEX_IN = 16; // taken out of the inbound index (an invalidated template waiting to expire)

const WHEEL_BITS = 12;
const WHEEL_SLOTS = 1 << WHEEL_BITS; // 4096 s span; longer timeouts are simply re-filed
const WHEEL_MASK = WHEEL_SLOTS - 1;

function hash5(proto: number, a: number, ap: number, b: number, bp: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((ap << 16) | bp), 0x27d4eb2f);
  h ^= proto;
  return (h ^ (h >>> 15)) >>> 0;
}

export interface ExpireHandler {
  /**
   * Called for each entry whose time is up (`forced`: removed now by remove()). Return true to free the row;
   * false keeps it, filed again under the `expires[c]` the handler set (ignored when forced).
   */
  onExpire(c: number, forced: boolean): boolean;
}

export class ConnTable {
  readonly capacity: number;
  count = 0;
  /** The owner's clock (ms), set before each batch; insert() files new entries relative to it. */
  now = 0;

  readonly proto: Uint8Array;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  readonly fwd: Uint8Array;
  /** Client address/port, virtual address/port, real (destination) address/port. Addresses are int32. */
  readonly caddr: Int32Array;
  readonly cport: Uint16Array;
  readonly vaddr: Int32Array;
  readonly vport: Uint16Array;
  readonly daddr: Int32Array;
  readonly dport: Uint16Array;
  /** Local (FULLNAT) address/port; equal to caddr/cport for other methods. */
  readonly laddr: Int32Array;
  readonly lport: Uint16Array;
  /** FULLNAT client-IP delivery: mode and state bits (CIP_*), a sequence mark, the client→real sequence shift. */
  readonly cip: Uint8Array;
  readonly mark: Int32Array;
  readonly seqd: Int32Array;
  /** Service slot and real slot (global ids from the snapshot). */
  readonly svc: Uint16Array;
  readonly real: Uint16Array;
  /** Controlling persistence template of a conn (NIL if none); for a template, how many conns it controls. */
  readonly ctrl: Int32Array;
  readonly nctl: Int32Array;
  /** Absolute expiry time, ms (worker clock). */
  readonly expires: Float64Array;

  /** Inbound key records, 4 int32 per entry: caddr, vaddr, cport<<16|vport, next row in the chain. */
  private readonly idxIn: Int32Array;
  /** Outbound key records: daddr, laddr, dport<<16|lport, next row in the chain. */
  private readonly idxOut: Int32Array;
  private readonly mask: number;
  private readonly wheelNext: Int32Array;
  /** Previous row in the wheel slot, or -2 - slot for the slot's head. */
  private readonly wheelPrev: Int32Array;
  /** The slot each row is filed under. */
  private readonly wheelSlot: Uint16Array;
  private readonly wheel: Int32Array;
  /** Last row of each slot's list (lists are prepended to, so this is the oldest filing). */
  private readonly wheelTail: Int32Array;
  private wheelSec: number;
  private freeHead: number;

  constructor(capacity: number, nowMs: number) {
    this.capacity = capacity;
    this.proto = new Uint8Array(capacity);
    this.state = new Uint8Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.fwd = new Uint8Array(capacity);
    this.caddr = new Int32Array(capacity);
    this.cport = new Uint16Array(capacity);
    this.vaddr = new Int32Array(capacity);
    this.vport = new Uint16Array(capacity);
    this.daddr = new Int32Array(capacity);
    this.dport = new Uint16Array(capacity);
    this.laddr = new Int32Array(capacity);
    this.lport = new Uint16Array(capacity);
    this.cip = new Uint8Array(capacity);
    this.mark = new Int32Array(capacity);
    this.seqd = new Int32Array(capacity);
    this.svc = new Uint16Array(capacity);
    this.real = new Uint16Array(capacity);
    this.ctrl = new Int32Array(capacity);
    this.nctl = new Int32Array(capacity);
    this.expires = new Float64Array(capacity);
    this.wheelNext = new Int32Array(capacity);
    this.wheelPrev = new Int32Array(capacity);
    this.wheelSlot = new Uint16Array(capacity);
    let buckets = 1;
    while (buckets < capacity) buckets <<= 1;
    this.mask = buckets * 2 - 1;
    // Open addressing with linear probing at load ≤ 1/2: a slot is a 16-byte record (key, key, ports, row), so a
    // lookup usually reads one cache line of one array.
    this.idxIn = new Int32Array(buckets * 2 * 4).fill(NIL);
    this.idxOut = new Int32Array(buckets * 2 * 4).fill(NIL);
    this.wheel = new Int32Array(WHEEL_SLOTS).fill(NIL);
    this.wheelTail = new Int32Array(WHEEL_SLOTS).fill(NIL);
    this.wheelSec = Math.floor(nowMs / 1000);
    // Free list threaded through the inbound chain links.
    // Free rows are threaded through wheelNext (a free row is in no wheel slot).
    for (let i = 0; i < capacity - 1; i++) this.wheelNext[i] = i + 1;
    if (capacity > 0) this.wheelNext[capacity - 1] = NIL;
    this.freeHead = capacity > 0 ? 0 : NIL;
  }

  /** Inbound lookup: client → virtual service. Returns the row or NIL. */
  lookupIn(proto: number, caddr: number, cport: number, vaddr: number, vport: number): number {
    return this.find(this.idxIn, hash5(proto, caddr, cport, vaddr, vport), proto, caddr, vaddr, (cport << 16) | vport);
  }

  /** Outbound lookup: real → client-side address (client for NAT, local address for FULLNAT). */
  lookupOut(proto: number, daddr: number, dport: number, laddr: number, lport: number): number {
    return this.find(this.idxOut, hash5(proto, daddr, dport, laddr, lport), proto, daddr, laddr, (dport << 16) | lport);
  }

  private find(idx: Int32Array, h: number, proto: number, a: number, b: number, ports: number): number {
    const mask = this.mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const r = i << 2;
      const row = idx[r + 3]!;
      if (row === NIL) return NIL;
      if (idx[r] === a && idx[r + 1] === b && idx[r + 2] === ports && this.proto[row] === proto) return row;
    }
  }

  private place(idx: Int32Array, h: number, a: number, b: number, ports: number, row: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (idx[(i << 2) + 3] !== NIL) i = (i + 1) & mask;
    const r = i << 2;
    idx[r] = a;
    idx[r + 1] = b;
    idx[r + 2] = ports;
    idx[r + 3] = row;
  }

  /** Removes row c from index idx (linear probing, backward-shift deletion: no tombstones). */
  private unplace(idx: Int32Array, h: number, c: number): void {
    const mask = this.mask;
    let i = h & mask;
    while (idx[(i << 2) + 3] !== c) {
      if (idx[(i << 2) + 3] === NIL) return;
      i = (i + 1) & mask;
    }
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const rj = j << 2;
      const row = idx[rj + 3]!;
      if (row === NIL) break;
      const ports = idx[rj + 2]!;
      const home = hash5(this.proto[row]!, idx[rj]!, ports >>> 16, idx[rj + 1]!, ports & 0xffff) & mask;
      // Move j back to the hole at i unless its home lies cyclically in (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      const ri = i << 2;
      idx[ri] = idx[rj]!;
      idx[ri + 1] = idx[rj + 1]!;
      idx[ri + 2] = ports;
      idx[ri + 3] = row;
      i = j;
    }
    idx[(i << 2) + 3] = NIL;
  }

  /**
   * Allocates and indexes a new entry that expires `timeoutMs` after `now`. Returns the row, or NIL when the
   * table is full.
   */
  insert(
    proto: number, caddr: number, cport: number, vaddr: number, vport: number, daddr: number, dport: number,
    laddr: number, lport: number, timeoutMs: number,
  ): number {
    const expires = this.now + timeoutMs;
    const c = this.freeHead;
    if (c === NIL) return NIL;
    this.freeHead = this.wheelNext[c]!;
    this.proto[c] = proto;
    this.caddr[c] = caddr;
    this.cport[c] = cport;
    this.vaddr[c] = vaddr;
    this.vport[c] = vport;
    this.daddr[c] = daddr;
    this.dport[c] = dport;
    this.laddr[c] = laddr;
    this.lport[c] = lport;
    this.cip[c] = 0;
    this.mark[c] = 0;
    this.seqd[c] = 0;
    this.state[c] = 0;
    this.flags[c] = 0;
    this.ctrl[c] = NIL;
    this.nctl[c] = 0;
    this.expires[c] = expires;
    this.place(this.idxIn, hash5(proto, caddr, cport, vaddr, vport), caddr, vaddr, (cport << 16) | vport, c);
    this.place(this.idxOut, hash5(proto, daddr, dport, laddr, lport), daddr, laddr, (dport << 16) | lport, c);
    this.file(c, expires);
    this.count++;
    return c;
  }

  /**
   * Advances the wheel to `nowMs`, expiring entries whose time has come (handler.onExpire, then free).
   * Bounded by `budget` expirations per call so a mass expiry cannot stall the packet loop; returns how many
   * entries expired.
   */
  expire(nowMs: number, handler: ExpireHandler, budget = 4096): number {
    const nowSec = Math.floor(nowMs / 1000);
    let expired = 0;
    for (;;) {
      // Detach the slot's list first: entries re-filed into this same slot (due later this second, or more
      // than a wheel span away) land on a fresh list and are looked at again on a later call.
      const slot = this.wheelSec & WHEEL_MASK;
      let c = this.wheel[slot]!;
      const detachedTail = this.wheelTail[slot]!;
      this.wheel[slot] = NIL;
      this.wheelTail[slot] = NIL;
      while (c !== NIL) {
        const next = this.wheelNext[c]!;
        if (expired >= budget) {
          // Out of budget: put the unvisited rest (c .. detachedTail) back in front of this slot's list, O(1).
          const head = this.wheel[slot]!;
          this.wheelNext[detachedTail] = head;
          if (head !== NIL) this.wheelPrev[head] = detachedTail;
          else this.wheelTail[slot] = detachedTail;
          this.wheelPrev[c] = -2 - slot;
          this.wheel[slot] = c;
          return expired;
        }
        if (this.expires[c]! <= nowMs) {
          if (handler.onExpire(c, false)) {
            this.free(c);
            expired++;
          } else {
            this.file(c, this.expires[c]!);
          }
        } else {
          this.file(c, this.expires[c]!);
        }
        c = next;
      }
      if (this.wheelSec >= nowSec) return expired;
      this.wheelSec++;
    }
  }

  /** Removes an entry at once (conn reuse, flush, real removal): handler.onExpire(c, true), then free. */
  remove(c: number, handler: ExpireHandler): void {
    this.unfile(c);
    handler.onExpire(c, true);
    this.free(c);
  }

  /** Takes entry c out of the inbound index: it no longer matches lookups but lives on until it expires. */
  unindexIn(c: number): void {
    if (this.flags[c]! & CF_NOINDEX_IN) return;
    this.unplace(this.idxIn, hash5(this.proto[c]!, this.caddr[c]!, this.cport[c]!, this.vaddr[c]!, this.vport[c]!), c);
    this.flags[c] = this.flags[c]! | CF_NOINDEX_IN;
  }

  /**
   * Moves an entry's expiry. A later time is just a store (the wheel re-files lazily when it reaches the old
   * slot); an earlier one (e.g. ESTABLISHED → CLOSE) re-files the entry now so it expires on time.
   */
  touch(c: number, expires: number): void {
    if (expires < this.expires[c]!) {
      this.unfile(c);
      this.file(c, expires);
    }
    this.expires[c] = expires;
  }

  /** touch() relative to `now`, taking the timeout (a small integer) so nothing is boxed per packet. */
  refresh(c: number, timeoutMs: number): void {
    this.touch(c, this.now + timeoutMs);
  }

  /** Visits every live entry (control-plane listings; O(entries + slots), never on the packet path). */
  forEach(fn: (c: number) => void): void {
    for (let s = 0; s < WHEEL_SLOTS; s++) {
      for (let c = this.wheel[s]!; c !== NIL; c = this.wheelNext[c]!) fn(c);
    }
  }

  private file(c: number, expires: number): void {
    let sec = Math.floor(expires / 1000);
    if (sec < this.wheelSec) sec = this.wheelSec;
    const slot = sec & WHEEL_MASK;
    const head = this.wheel[slot]!;
    this.wheelNext[c] = head;
    this.wheelPrev[c] = -2 - slot;
    this.wheelSlot[c] = slot;
    if (head !== NIL) this.wheelPrev[head] = c;
    else this.wheelTail[slot] = c;
    this.wheel[slot] = c;
  }

  private unfile(c: number): void {
    const prev = this.wheelPrev[c]!;
    const next = this.wheelNext[c]!;
    if (prev >= 0) this.wheelNext[prev] = next;
    else this.wheel[-2 - prev] = next;
    if (next !== NIL) this.wheelPrev[next] = prev;
    else this.wheelTail[this.wheelSlot[c]!] = prev >= 0 ? prev : NIL;
  }

  private free(c: number): void {
    const proto = this.proto[c]!;
    if (!(this.flags[c]! & CF_NOINDEX_IN)) {
      this.unplace(this.idxIn, hash5(proto, this.caddr[c]!, this.cport[c]!, this.vaddr[c]!, this.vport[c]!), c);
    }
    this.unplace(this.idxOut, hash5(proto, this.daddr[c]!, this.dport[c]!, this.laddr[c]!, this.lport[c]!), c);
    this.flags[c] = 0;
    this.wheelNext[c] = this.freeHead;
    this.freeHead = c;
    this.count--;
  }
}
