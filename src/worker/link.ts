/**
 * The worker as an L2/L3 host on its TAP segment: answers ARP for the addresses it owns, resolves next hops
 * by ARP itself (cache with expiry, bounded retries), holds frames briefly while a neighbour is unresolved,
 * answers ICMP echo, and writes Ethernet headers on frames leaving the worker.
 *
 * All frames live in the worker's one buffer (`mem`): rx slots, then `extra` slots for frames the worker
 * originates (ARP requests, ICMP errors, outer fragments: `scratch()` hands them out per batch), then `hold`
 * slots for frames parked during resolution.
 */
import {
  ARP_ENTRY_TTL_MS, ARP_HOLD_FRAMES, ARP_MAX_TRIES, ARP_RETRY_MS,
} from '../defaults.js';
import { DEFAULT_MTU, type NetConfig } from '../config/snapshot.js';
import { csumUpdate16 } from '../packet/checksum.js';
import {
  ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, ETH_HLEN, ETHERTYPE_ARP, ICMP_ECHO, ICMP_ECHO_REPLY, TCP_CSUM, TCP_OFF,
  VNET_F_NEEDS_CSUM, VNET_HDR_LEN,
} from '../packet/offsets.js';
import { parseMac, prefixMask } from '../util/addr.js';
import { N_INCOMPLETE, N_REACHABLE, Neighbors } from './neigh.js';
import type { SharedNeighbors } from './shared-neigh.js';
import { C, D } from './stats.js';

/** Where frames go out: offsets/lengths into `mem`, sent in one batch call. */
export class TxQueue {
  n = 0;
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  /**
   * With IFF_VNET_HDR: the virtio_net_hdr length (10) in front of every frame, and the buffer it is written in.
   * push() then sends from `off - vnet` with a zeroed header (a complete frame, no offload); the caller may
   * overwrite that header afterwards (a GSO frame, see Link.output).
   */
  private vnet = 0;
  private u8: Uint8Array | null = null;
  constructor(readonly capacity: number) {
    this.offs = new Int32Array(capacity);
    this.lens = new Int32Array(capacity);
  }
  setVnet(u8: Uint8Array, vnet: number): void {
    this.u8 = u8;
    this.vnet = vnet;
  }
  push(off: number, len: number): boolean {
    if (this.n >= this.capacity) return false;
    const v = this.vnet;
    if (v !== 0) this.u8!.fill(0, off - v, off);
    this.offs[this.n] = off - v;
    this.lens[this.n] = len + v;
    this.n++;
    return true;
  }
}

/** ICMP error rate: tokens per ms and bucket size (Linux net.ipv4.icmp_msgs_per_sec / icmp_msgs_burst). */
const ICMP_PER_MS = 1;
const ICMP_BURST = 50;

export class Link {
  readonly neigh = new Neighbors();
  /**
   * The frame being forwarded when it is a GSO super-frame (IFF_VNET_HDR offload): its base, or -1. output()
   * of that frame writes its virtio_net_hdr (TCPv4 GSO, checksum to be completed by the kernel from the L4
   * header: `gsoL4`), and such a frame is never parked in the hold queue (which keeps no header).
   */
  gsoBase = -1;
  gsoType = 0;
  gsoSize = 0;
  gsoL4 = 0;
  /**
   * With several workers: the ARP results all workers share (worker 0, the ARP owner, publishes what it learns;
   * the others read it when they miss). Null with one worker.
   */
  private shared: SharedNeighbors | null = null;
  private arpOwner = true;
  private readonly tmpMac = new Uint8Array(6);
  /** Frames currently parked in hold slots (so the per-batch shared-table poll costs nothing when 0). */
  private heldFrames = 0;
  /** Director MAC as 6 bytes, and as a 32+16-bit pair for fast compares. */
  private mac: Uint8Array = new Uint8Array(6);
  private macHi = 0;
  private macLo = 0;
  // Addresses here are int32 (see Pkt); 0 means none.
  private netAddr = new Int32Array(0);
  private netMask = new Int32Array(0);
  private ownAddr = new Int32Array(0);
  private gateway = 0;
  /** The worker's clock (ms, relative), set by the dataplane before each batch: never passed per packet. */
  now = 0;
  /** MTU of the segment (IP bytes per frame we send), from NetConfig.mtu. */
  mtu = DEFAULT_MTU;
  /** IPv4 ID of the next packet this worker originates or encapsulates (16 bits, wraps). */
  private ipId = 0;
  /** ICMP error token bucket: tokens left and when it was last refilled (worker clock). */
  private icmpTokens = ICMP_BURST;
  private icmpRefilled = 0;
  /** Addresses this worker answers ARP/ICMP echo for: director addresses and VIPs. */
  private owned = new Set<number>();
  private extraNext = 0;
  private readonly holdNeigh: Int32Array;
  private readonly holdLen: Int32Array;
  private readonly holdUntil: Float64Array;
  /** Hold slots whose frame is queued for tx in this batch; freed after the send. */
  private readonly holdSending: Uint8Array;

  constructor(
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
    private readonly f64: Float64Array,
    private readonly txq: TxQueue,
    private readonly slotSize: number,
    private readonly headroom: number,
    private readonly extraBase: number,
    private readonly extraSlots: number,
    private readonly holdBase: number,
    private readonly holdSlots: number,
  ) {
    this.holdNeigh = new Int32Array(holdSlots).fill(-1);
    this.holdLen = new Int32Array(holdSlots);
    this.holdUntil = new Float64Array(holdSlots);
    this.holdSending = new Uint8Array(holdSlots);
  }

  /** Joins the workers' shared ARP table; `owner`: this worker receives the ARP frames and publishes. */
  attachShared(shared: SharedNeighbors, owner: boolean): void {
    this.shared = shared;
    this.arpOwner = owner;
  }

  /** A non-owner worker copies neighbour ip from the shared table; returns its local row or -1. */
  private fromShared(ip: number): number {
    if (this.arpOwner || this.shared === null || !this.shared.read(ip, this.tmpMac, 0)) return -1;
    return this.neigh.learn(ip, this.tmpMac, 0, this.now + ARP_ENTRY_TTL_MS);
  }

  /** Releases frames held for neighbours that another worker resolved meanwhile (called every batch). */
  pollShared(): void {
    if (this.heldFrames === 0 || this.arpOwner || this.shared === null) return;
    const neigh = this.neigh;
    for (let h = 0; h < this.holdSlots; h++) {
      const n = this.holdNeigh[h]!;
      if (n < 0 || this.holdSending[h] || neigh.state[n] !== N_INCOMPLETE) continue;
      if (this.fromShared(neigh.ip[n]!) >= 0) this.release(n);
    }
  }

  configure(net: NetConfig, vips: Set<number>): void {
    const mac = parseMac(net.mac);
    if (mac) this.mac = mac;
    this.macHi = (this.mac[0]! << 24) | (this.mac[1]! << 16) | (this.mac[2]! << 8) | this.mac[3]!;
    this.macLo = (this.mac[4]! << 8) | this.mac[5]!;
    this.netAddr = Int32Array.from(net.addrs, (a) => a.addr & prefixMask(a.prefix));
    this.netMask = Int32Array.from(net.addrs, (a) => prefixMask(a.prefix) | 0);
    this.ownAddr = Int32Array.from(net.addrs, (a) => a.addr | 0);
    this.gateway = net.gateway | 0;
    this.mtu = net.mtu ?? DEFAULT_MTU;
    this.owned = new Set<number>(vips); // int32 keys
    for (const a of net.addrs) this.owned.add(a.addr | 0);
  }

  /** Called at the start of every batch with the worker's clock. */
  beginBatch(now: number): void {
    this.extraNext = 0;
    this.now = now;
  }

  /** Called after the batch was sent: hold slots whose frames went out become free. */
  endBatch(): void {
    for (let h = 0; h < this.holdSlots; h++) {
      if (this.holdSending[h]) {
        this.holdSending[h] = 0;
        this.holdNeigh[h] = -1;
      }
    }
  }

  isForUs(base: number): boolean {
    const hi = this.dv.getInt32(base);
    const lo = this.dv.getUint16(base + 4);
    return (hi === this.macHi && lo === this.macLo) || (hi === -1 && lo === 0xffff);
  }

  owns(addr: number): boolean {
    return this.owned.has(addr);
  }

  /** Next hop for `dst`: itself when on a connected prefix, else the gateway; 0 when unroutable. */
  nextHop(dst: number): number {
    for (let i = 0; i < this.netAddr.length; i++) {
      if ((dst & this.netMask[i]!) === this.netAddr[i]) return dst;
    }
    return this.gateway;
  }

  /**
   * Our address on the prefix that holds `dst`, or the first address when `dst` is reached through the
   * gateway: the source of ARP requests and of TUN outer headers (the kernel's route source address).
   */
  sourceFor(dst: number): number {
    for (let i = 0; i < this.netAddr.length; i++) {
      if ((dst & this.netMask[i]!) === this.netAddr[i]) return this.ownAddr[i]!;
    }
    return this.ownAddr.length > 0 ? this.ownAddr[0]! : 0;
  }

  /**
   * Sends the IPv4 frame at `base` towards `dst`: fills in the Ethernet addresses and queues it, or parks it
   * until the next hop resolves. Returns false when the frame was dropped (counted here).
   */
  output(base: number, len: number, dst: number): boolean {
    const now = this.now;
    const nh = this.nextHop(dst);
    if (nh === 0) {
      this.f64[D.no_route]!++;
      return false;
    }
    const neigh = this.neigh;
    let n = neigh.lookup(nh);
    if (n >= 0 && neigh.state[n] === N_REACHABLE) {
      if (neigh.expires[n]! <= now && this.fromShared(nh) < 0) this.solicit(n, now);
      this.writeEth(base, n);
      if (!this.txq.push(base, len)) {
        this.f64[D.tx_failed]!++;
        return false;
      }
      if (base === this.gsoBase) this.gsoHeader(base);
      return true;
    }
    const known = this.fromShared(nh);
    if (known >= 0) {
      this.writeEth(base, known);
      if (!this.txq.push(base, len)) {
        this.f64[D.tx_failed]!++;
        return false;
      }
      if (base === this.gsoBase) this.gsoHeader(base);
      return true;
    }
    if (n < 0) n = neigh.ensure(nh);
    if (n < 0 || !this.hold(base, len, n, now)) {
      this.f64[D.neigh_unresolved]!++;
      return false;
    }
    this.solicit(n, now);
    return true;
  }

  /**
   * Takes an extra slot for a frame the worker originates in this batch. Returns the offset where its Ethernet
   * header goes (RING_HEADROOM bytes into the slot), or -1 when every extra slot of this batch is taken (the
   * caller counts what it could not send). The slot is reused after the batch was sent.
   */
  scratch(): number {
    if (this.extraNext >= this.extraSlots) return -1;
    return this.extraBase + this.extraNext++ * this.slotSize + this.headroom;
  }

  /** Extra slots still free in this batch (a caller that needs several checks first). */
  scratchFree(): number {
    return this.extraSlots - this.extraNext;
  }

  /** Starts this worker's IPv4 ID counter (workers start in different parts of the 16-bit space). */
  seedIpId(id: number): void {
    this.ipId = id & 0xffff;
  }

  /** A fresh IPv4 ID for a packet this worker builds (per-worker counter, 16 bits). */
  nextIpId(): number {
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff;
    return id;
  }

  /**
   * Takes a token for one ICMP error message: Linux's global limit (icmp_msgs_per_sec 1000, icmp_msgs_burst
   * 50), per worker. Returns false when the bucket is empty.
   */
  icmpAllowed(): boolean {
    const elapsed = this.now - this.icmpRefilled;
    if (elapsed > 0) {
      const t = this.icmpTokens + elapsed * ICMP_PER_MS;
      this.icmpTokens = t > ICMP_BURST ? ICMP_BURST : t;
      this.icmpRefilled = this.now;
    }
    if (this.icmpTokens < 1) return false;
    this.icmpTokens--;
    return true;
  }

  /** Starts resolving `ip` ahead of traffic (reals of a new snapshot). */
  prefetch(ip: number): void {
    const nh = this.nextHop(ip);
    if (nh === 0) return;
    const n = this.neigh.ensure(nh);
    if (n >= 0 && this.neigh.state[n] === N_INCOMPLETE) this.solicit(n, this.now);
  }

  /** Handles an ARP frame. Returns true if a reply was queued in place (frame reused), else false. */
  arp(base: number, len: number): boolean {
    const now = this.now;
    const u8 = this.u8;
    const dv = this.dv;
    const a = base + ETH_HLEN;
    if (len < ETH_HLEN + ARP_LEN || dv.getUint16(a) !== 1 || dv.getUint16(a + 2) !== 0x0800 || u8[a + 4] !== 6 ||
        u8[a + 5] !== 4) {
      this.f64[D.arp_malformed]!++;
      return false;
    }
    const op = dv.getUint16(a + 6);
    const spa = dv.getInt32(a + 14);
    const tpa = dv.getInt32(a + 24);
    const forUs = this.owns(tpa);
    // RFC 826: refresh an existing entry from any ARP; create one only when the frame is addressed to us.
    if (spa !== 0) {
      const known = this.neigh.lookup(spa);
      if (known >= 0 || forUs) {
        const n = this.neigh.learn(spa, u8, a + 8, now + ARP_ENTRY_TTL_MS);
        if (n >= 0) this.release(n);
        if (this.shared !== null && this.arpOwner) this.shared.publish(spa, u8, a + 8);
      }
    }
    if (op === ARP_OP_REPLY) {
      this.f64[C.arp_replies_received]!++;
      return false;
    }
    if (op !== ARP_OP_REQUEST || !forUs) {
      this.f64[D.arp_not_for_us]!++;
      return false;
    }
    // Turn the request into the reply in place.
    dv.setUint16(a + 6, ARP_OP_REPLY);
    for (let i = 0; i < 6; i++) {
      u8[a + 18 + i] = u8[a + 8 + i]!; // tha = sha
      u8[base + i] = u8[a + 8 + i]!; // eth dst = requester
      u8[a + 8 + i] = this.mac[i]!; // sha = us
      u8[base + 6 + i] = this.mac[i]!;
    }
    dv.setInt32(a + 24, spa); // tpa = requester
    dv.setInt32(a + 14, tpa); // spa = the address asked for
    if (!this.txq.push(base, len)) {
      this.f64[D.tx_failed]!++;
      return false;
    }
    this.f64[C.arp_replies_sent]!++;
    return true;
  }

  /** Answers an ICMP echo request in place (IPv4 at l3, ICMP at l4). Returns true if queued. */
  echoReply(base: number, l3: number, l4: number, len: number): boolean {
    const u8 = this.u8;
    const dv = this.dv;
    if (u8[l4] !== ICMP_ECHO) {
      this.f64[D.icmp_unhandled]!++;
      return false;
    }
    u8[l4] = ICMP_ECHO_REPLY;
    dv.setUint16(l4 + 2, csumUpdate16(dv.getUint16(l4 + 2), ICMP_ECHO << 8, ICMP_ECHO_REPLY << 8));
    const src = dv.getInt32(l3 + 12);
    dv.setInt32(l3 + 12, dv.getInt32(l3 + 16));
    dv.setInt32(l3 + 16, src);
    const oldTtl = dv.getUint16(l3 + 8);
    u8[l3 + 8] = 64;
    dv.setUint16(l3 + 10, csumUpdate16(dv.getUint16(l3 + 10), oldTtl, dv.getUint16(l3 + 8)));
    for (let i = 0; i < 6; i++) {
      u8[base + i] = u8[base + 6 + i]!;
      u8[base + 6 + i] = this.mac[i]!;
    }
    if (!this.txq.push(base, len)) {
      this.f64[D.tx_failed]!++;
      return false;
    }
    this.f64[C.icmp_echo_replied]!++;
    return true;
  }

  /** Retries and expiry of neighbour resolution and held frames. */
  timers(): void {
    const now = this.now;
    const neigh = this.neigh;
    for (let h = 0; h < this.holdSlots; h++) {
      const n = this.holdNeigh[h]!;
      if (n >= 0 && !this.holdSending[h] && this.holdUntil[h]! <= now) {
        this.holdNeigh[h] = -1;
        if (neigh.held[n]! > 0) neigh.held[n]!--;
        this.heldFrames--;
        this.f64[D.neigh_unresolved]!++;
      }
    }
    for (let n = 0; n < neigh.capacity; n++) {
      const st = neigh.state[n];
      if (st === N_INCOMPLETE) {
        if (neigh.lastReq[n]! + ARP_RETRY_MS > now) continue;
        if (this.fromShared(neigh.ip[n]!) >= 0) {
          this.release(n);
          continue;
        }
        if (neigh.tries[n]! >= ARP_MAX_TRIES) {
          if (neigh.held[n] === 0) neigh.drop(n);
          continue;
        }
        this.solicit(n, now);
      } else if (st === N_REACHABLE && neigh.expires[n]! <= now && neigh.lastReq[n]! + ARP_RETRY_MS <= now) {
        if (this.fromShared(neigh.ip[n]!) >= 0) continue; // the owner has it fresh
        if (neigh.tries[n]! >= ARP_MAX_TRIES) {
          // No answer to the refresh: forget it (everywhere, if we own ARP); the next frame restarts resolution.
          if (this.shared !== null && this.arpOwner) this.shared.publish(neigh.ip[n]!, null, 0);
          neigh.drop(n);
          continue;
        }
        this.solicit(n, now);
      }
    }
  }

  private writeEth(base: number, n: number): void {
    const u8 = this.u8;
    const m = n * 6;
    const mac = this.neigh.mac;
    for (let i = 0; i < 6; i++) {
      u8[base + i] = mac[m + i]!;
      u8[base + 6 + i] = this.mac[i]!;
    }
  }

  /** virtio_net_hdr of the GSO frame at base (TCPv4, NEEDS_CSUM from its L4 header). */
  private gsoHeader(base: number): void {
    const dv = this.dv;
    const h = base - VNET_HDR_LEN;
    const l4 = this.gsoL4;
    this.u8[h] = VNET_F_NEEDS_CSUM;
    this.u8[h + 1] = this.gsoType;
    dv.setUint16(h + 2, l4 - base + ((this.u8[l4 + TCP_OFF]! >> 4) << 2), true);
    dv.setUint16(h + 4, this.gsoSize, true);
    dv.setUint16(h + 6, l4 - base, true);
    dv.setUint16(h + 8, TCP_CSUM, true);
  }

  private hold(base: number, len: number, n: number, now: number): boolean {
    if (this.neigh.held[n]! >= ARP_HOLD_FRAMES || base === this.gsoBase) return false;
    for (let h = 0; h < this.holdSlots; h++) {
      if (this.holdNeigh[h] !== -1) continue;
      const dst = this.holdBase + h * this.slotSize + this.headroom;
      if (len > this.slotSize - this.headroom) return false;
      this.u8.copyWithin(dst, base, base + len);
      this.holdNeigh[h] = n;
      this.holdLen[h] = len;
      this.holdUntil[h] = now + ARP_RETRY_MS * ARP_MAX_TRIES;
      this.neigh.held[n]!++;
      this.heldFrames++;
      this.f64[C.frames_held]!++;
      return true;
    }
    return false;
  }

  /** Queues the frames held for neighbour n (just resolved). */
  private release(n: number): void {
    if (this.neigh.held[n] === 0) return;
    for (let h = 0; h < this.holdSlots; h++) {
      if (this.holdNeigh[h] !== n || this.holdSending[h]) continue;
      const off = this.holdBase + h * this.slotSize + this.headroom;
      this.writeEth(off, n);
      this.heldFrames--;
      if (this.txq.push(off, this.holdLen[h]!)) {
        this.holdSending[h] = 1;
        this.f64[C.frames_released]!++;
      } else {
        this.holdNeigh[h] = -1;
        this.f64[D.tx_failed]!++;
      }
    }
    this.neigh.held[n] = 0;
  }

  /** Sends an ARP request for neighbour n from an extra slot. */
  private solicit(n: number, now: number): void {
    if (this.extraNext >= this.extraSlots) return; // retried by timers
    const neigh = this.neigh;
    neigh.lastReq[n] = now;
    neigh.tries[n]!++;
    const base = this.extraBase + this.extraNext * this.slotSize + this.headroom;
    const u8 = this.u8;
    const dv = this.dv;
    for (let i = 0; i < 6; i++) {
      u8[base + i] = 0xff;
      u8[base + 6 + i] = this.mac[i]!;
    }
    dv.setUint16(base + 12, ETHERTYPE_ARP);
    const a = base + ETH_HLEN;
    dv.setUint16(a, 1);
    dv.setUint16(a + 2, 0x0800);
    u8[a + 4] = 6;
    u8[a + 5] = 4;
    dv.setUint16(a + 6, ARP_OP_REQUEST);
    for (let i = 0; i < 6; i++) {
      u8[a + 8 + i] = this.mac[i]!;
      u8[a + 18 + i] = 0;
    }
    const target = neigh.ip[n]!;
    dv.setInt32(a + 14, this.sourceFor(target));
    dv.setInt32(a + 24, target);
    if (this.txq.push(base, ETH_HLEN + ARP_LEN)) {
      this.extraNext++;
      this.f64[C.arp_requests_sent]!++;
    }
  }
}
