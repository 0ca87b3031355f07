/**
 * The packet pipeline of one worker. Design note:
 *
 * A worker owns one PacketIO (a TAP queue), one buffer holding its rx ring plus slots for frames it originates
 * or parks, one connection table, one ARP cache and one block of counters. `step()` is one turn of the loop:
 * receive a batch (one native call), classify and rewrite every frame in place, send everything queued (one
 * native call), run timers when due. Nothing on this path allocates, throws or logs: every frame that is not
 * transmitted increments exactly one named drop counter (stats.ts).
 *
 * Classification of an IPv4 frame addressed to us at L2:
 *   to (proto, VIP, port) of a service → inbound: conn lookup, or schedule a new conn, then the conn's forwarder;
 *   ICMP: an error about a conn is translated or forwarded (forward/icmp.ts), echo to an owned address answered;
 *   to an owned address (VIP or director address) otherwise → dropped (no_service);
 *   to a FULLNAT local address or anything else → a reply from a real (NAT, FULLNAT): outbound conn lookup,
 *   then the forwarder's outbound path.
 * Config arrives as whole snapshots (applySnapshot), between batches.
 */
import {
  DEFAULT_BATCH, OFFLOAD_SLOT_SIZE, RING_HEADROOM, RING_SLOT_SIZE, SEG_SLOTS, TX_EXTRA_SLOTS, MAX_REALS,
} from '../defaults.js';
import { OffloadPath } from './offload.js';
import { ORPHAN_RESCHEDULE, ORPHAN_RESET, type Snapshot } from '../config/snapshot.js';
import type { ConnRows } from './messages.js';
import { FORWARDERS, type FwdContext } from '../forward/index.js';
import { icmpError } from '../forward/icmp.js';
import { isIcmpError, isRelatedIcmp, sendIcmpAbout, sendIcmpError } from '../forward/icmp-send.js';
import { sendTcpReset } from '../forward/tcp-rst.js';
import type { ExchangeIO, PacketIO } from '../io/packet-io.js';
import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, PROTO_ICMP, PROTO_TCP, TCP_RST, TCP_SYN } from '../packet/offsets.js';
import {
  ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH, IP_FLAG_DF, IP_FRAG, VNET_F_DATA_VALID, VNET_F_NEEDS_CSUM, VNET_HDR_LEN,
} from '../packet/offsets.js';
import { ParseResult, Pkt, parseIPv4 } from '../packet/parse.js';
import { NO_REAL, RF_OVERLOAD, type FlowKey } from '../sched/scheduler.js';
import { FwdCode } from '../types.js';
import { CF_ACTIVE, CF_NOOUTPUT, CF_TEMPLATE, ConnTable, NIL, type ExpireHandler } from './conn-table.js';
import { Link, TxQueue } from './link.js';
import { ConnLife } from './conn-life.js';
import { DEFAULT_LPORT_MAX, DEFAULT_LPORT_MIN } from './laddr-pool.js';
import type { SharedNeighbors } from './shared-neigh.js';
import { steerOwner } from '../io/steering.js';
import { CompiledService, ServiceIndex, compileServices } from './services.js';
import {
  C, D, H_CONNS, H_HEARTBEAT, H_VERSION, REAL_BASE, SF_CONNS, SF_INBYTES, SF_INPKTS, SF_OUTBYTES, SF_OUTPKTS, STAT_FIELDS,
  SVC_BASE, type StatsViews,
} from './stats.js';
import { Tracer, newTraceBuffer } from './trace.js';
import { DIR_INPUT, DIR_INPUT_ONLY, DIR_OUTPUT, TCP_ACTIVE, TcpState, UDP_STATE, tcpNextState } from './tcp-state.js';

const HOLD_SLOTS = 64;
/** Fewest reads posted per exchange (an idle queue then costs a handful of failed non-blocking reads). */
const RX_WANT_MIN = 8;
const TIMER_INTERVAL_MS = 50;

/** ParseResult → drop counter. */
const PARSE_DROP: number[] = [];
PARSE_DROP[ParseResult.TRUNCATED] = D.rx_truncated;
PARSE_DROP[ParseResult.BAD_HEADER] = D.ipv4_bad_header;
PARSE_DROP[ParseResult.BAD_CHECKSUM] = D.ipv4_bad_checksum;
PARSE_DROP[ParseResult.OPTIONS] = D.ipv4_options;
PARSE_DROP[ParseResult.FRAGMENT] = D.ipv4_fragment;
PARSE_DROP[ParseResult.L4_TRUNCATED] = D.l4_truncated;
PARSE_DROP[ParseResult.L4_BAD_CHECKSUM] = D.l4_bad_checksum;
PARSE_DROP[ParseResult.L4_UNSUPPORTED] = D.l4_unsupported;

export interface DataplaneOptions {
  io: PacketIO;
  stats: StatsViews;
  batch?: number;
  maxConns?: number;
  /** Clock in ms (injectable for tests). */
  now?: () => number;
  /** This worker's index and the number of workers (queues); the flow owner check needs both. */
  workerId?: number;
  workers?: number;
  /** The workers' shared ARP table (several workers); worker 0 owns ARP. */
  sharedNeigh?: SharedNeighbors;
  /**
   * Frames carry a virtio_net_hdr (TAP with IFF_VNET_HDR and TUNSETOFFLOAD): partial checksums are completed,
   * TCP GSO super-frames pass through NAT/DR whole and are segmented for TUN/FULLNAT. Slots grow to 64 KiB.
   */
  vnet?: boolean;
  /** Trace filter and record ring shared with the control thread (trace.ts); default: a private one. */
  trace?: SharedArrayBuffer;
}

export class Dataplane implements FwdContext {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly mem: ArrayBuffer;
  readonly conns: ConnTable;
  readonly link: Link;
  readonly f64: Float64Array;
  readonly batch: number;
  readonly slotSize: number;
  /** virtio_net_hdr bytes in front of each frame (10 on a TAP opened with offloads, else 0). */
  readonly vnet: number;
  /** Partial checksums and GSO frames (offloads only). */
  private readonly offload: OffloadPath;
  readonly headroom = RING_HEADROOM;
  private readonly io: PacketIO;
  /** The same io when it can exchange (send + receive in one call, io_uring), else null. */
  private readonly xio: ExchangeIO | null;
  /** Which half of the rx ring the next exchange receives into (the other half may hold frames being sent). */
  private rxHalf = 0;
  /** Reads to post in the next exchange: follows the last batch size, so an idle queue costs few reads. */
  private rxWant = RX_WANT_MIN;
  private readonly active: Int32Array;
  private readonly inactive: Int32Array;
  private readonly lens: Int32Array;
  private readonly txq: TxQueue;
  private readonly pk = new Pkt();
  private services: ServiceIndex | null = null;
  /** Per real slot: its service and index in it (null/-1 when the real is not in the current snapshot). */
  private readonly realSvc: (CompiledService | null)[] = new Array<CompiledService | null>(MAX_REALS).fill(null);
  private readonly realIdx = new Int32Array(MAX_REALS).fill(-1);
  /** Per removed real slot: ORPHAN_* treatment of its remaining conns (Snapshot.orphans; 0 = policy). */
  private readonly orphanMode = new Uint8Array(MAX_REALS);
  private readonly life: ConnLife;
  readonly workerId: number;
  readonly workers: number;
  private expireNodestConn = false;
  private verifyL4 = true;
  private nextTimers = 0;
  /** Wall clock (injectable) and the worker's relative clock derived from it: ms since the worker started. */
  private readonly clock: () => number;
  private readonly epoch: number;
  /** Relative ms at the start of the current batch (a small integer for V8 for 24 days of uptime). */
  nowMs = 0;
  version = 0;
  /** `tapvs trace`: filter and record ring; its generation is read once per batch. */
  private readonly tracer: Tracer;

  constructor(opts: DataplaneOptions) {
    this.io = opts.io;
    this.xio = 'exchange' in opts.io ? (opts.io as ExchangeIO) : null;
    this.batch = opts.batch ?? DEFAULT_BATCH;
    this.clock = opts.now ?? Date.now;
    this.epoch = this.clock();
    // Two rx halves: with exchange(), a batch's frames are sent from one half while the next batch arrives in the other.
    this.vnet = opts.vnet ? VNET_HDR_LEN : 0;
    this.slotSize = opts.vnet ? OFFLOAD_SLOT_SIZE : RING_SLOT_SIZE;
    const extraBase = 2 * this.batch * this.slotSize;
    const holdBase = extraBase + TX_EXTRA_SLOTS * this.slotSize;
    const segBase = holdBase + HOLD_SLOTS * this.slotSize;
    this.mem = new ArrayBuffer(segBase + (opts.vnet ? SEG_SLOTS * RING_SLOT_SIZE : 0));
    this.u8 = new Uint8Array(this.mem);
    this.dv = new DataView(this.mem);
    this.lens = new Int32Array(this.batch);
    this.txq = new TxQueue(this.batch + TX_EXTRA_SLOTS + HOLD_SLOTS + (opts.vnet ? SEG_SLOTS : 0));
    this.txq.setVnet(this.u8, this.vnet);
    this.f64 = opts.stats.f64;
    this.active = opts.stats.active;
    this.inactive = opts.stats.inactive;
    this.conns = new ConnTable(opts.maxConns ?? 1 << 16, 0);
    this.workerId = opts.workerId ?? 0;
    this.workers = opts.workers ?? 1;
    this.life = new ConnLife(this.conns, opts.stats, this.realSvc, this.realIdx, this.workerId, this.workers);
    this.link = new Link(
      this.u8, this.dv, this.f64, this.txq, this.slotSize, this.headroom, extraBase, TX_EXTRA_SLOTS, holdBase, HOLD_SLOTS,
    );
    if (opts.sharedNeigh) this.link.attachShared(opts.sharedNeigh, this.workerId === 0);
    this.offload = new OffloadPath(this, this.pk, segBase, () => this.flush());
    // Packets this worker originates or fragments get IDs from a range of their own per worker.
    this.link.seedIpId(Math.floor((this.workerId * 0x10000) / this.workers));
    this.tracer = new Tracer(opts.trace ?? newTraceBuffer(), this.f64, this.txq, this.u8, this.dv, this.vnet);
  }

  /** Installs a new config version. Called between batches only. */
  applySnapshot(snap: Snapshot): void {
    this.flush(); // frames still queued from the last batch go out before their scratch slots are reused
    this.nowMs = this.clock() - this.epoch;
    this.services = compileServices(snap, this.active, this.inactive, this.services);
    this.realSvc.fill(null);
    this.realIdx.fill(-1);
    for (const svc of this.services.list) {
      for (let i = 0; i < svc.n; i++) {
        this.realSvc[svc.slot[i]!] = svc;
        this.realIdx[svc.slot[i]!] = i;
      }
    }
    this.orphanMode.fill(0);
    if (snap.orphans) for (const o of snap.orphans) this.orphanMode[o.slot] = o.mode;
    this.link.configure(snap.net, this.services.owned);
    this.verifyL4 = snap.net.verifyL4;
    this.life.setTimeouts(Int32Array.from(snap.timeoutsMs));
    this.life.laddrs.configure(
      this.services.list, snap.net.lportMin ?? DEFAULT_LPORT_MIN, snap.net.lportMax ?? DEFAULT_LPORT_MAX,
      this.life.timeouts[TcpState.TIME_WAIT]!,
    );
    this.life.expireQuiescentTemplate = snap.policy.expireQuiescentTemplate;
    this.expireNodestConn = snap.policy.expireNodestConn;
    this.version = snap.version;
    this.f64[H_VERSION] = snap.version;
    this.f64[C.snapshots_applied]!++;
    // Resolve the reals' next hops before the first connection needs them.
    this.link.beginBatch(this.nowMs);
    for (const svc of this.services.list) for (let i = 0; i < svc.n; i++) this.link.prefetch(svc.raddr[i]!);
    this.flush();
  }

  /**
   * One loop turn: rx batch → process → tx batch (+ timers when due). Returns frames received or -errno.
   * With an exchange-capable io (io_uring), a busy turn does not send its batch itself: the next turn's
   * exchange() sends it and receives the following batch in the same syscall. A turn that received nothing
   * sends at once, so nothing waits while the worker sleeps.
   */
  step(): number {
    const now = this.clock() - this.epoch;
    this.nowMs = now;
    this.conns.now = now;
    this.f64[H_HEARTBEAT] = now + this.epoch;
    const xio = this.xio;
    let n: number;
    let rxOff = 0;
    if (xio !== null && xio.exchangeReady) {
      const q = this.txq;
      rxOff = this.rxHalf * this.batch * this.slotSize;
      n = xio.exchange(this.mem, q.offs, q.lens, q.n, rxOff, this.slotSize, this.headroom - this.vnet, this.rxWant, this.lens);
      this.sent(q.n, xio.lastSent);
      this.link.endBatch();
      const want = 2 * (n > 0 ? n : 0);
      this.rxWant = want < RX_WANT_MIN ? RX_WANT_MIN : want > this.batch ? this.batch : want;
    } else {
      n = this.io.recv(this.mem, this.slotSize, this.headroom - this.vnet, this.batch, this.lens);
    }
    this.link.beginBatch(now);
    this.link.pollShared();
    if (n > 0) {
      this.f64[C.rx_batches]!++;
      this.f64[C.rx_frames]! += n;
      const base = rxOff + this.headroom;
      const vnet = this.vnet;
      this.offload.beginBatch();
      if (this.tracer.poll() === 0) for (let i = 0; i < n; i++) this.frame(base + i * this.slotSize, this.lens[i]! - vnet);
      else for (let i = 0; i < n; i++) this.traceFrame(base + i * this.slotSize, this.lens[i]! - vnet);
    }
    if (now >= this.nextTimers) this.timers();
    if (n > 0 && xio !== null && xio.exchangeReady) this.rxHalf ^= 1;
    else this.flush();
    return n;
  }

  /** Runs timers and flushes what they queued (idle path). */
  tick(): void {
    this.flush();
    const now = this.clock() - this.epoch;
    this.nowMs = now;
    this.conns.now = now;
    this.f64[H_HEARTBEAT] = now + this.epoch;
    this.link.beginBatch(now);
    this.timers();
    this.flush();
  }

  /** Ms until the next timer is due (for the idle sleep). */
  msUntilTimers(): number {
    return Math.max(0, this.nextTimers - (this.clock() - this.epoch));
  }

  /** Copies the connection table into columns (control-plane listing; allocates, never on the packet path). */
  listConns(): ConnRows {
    const t = this.conns;
    const n = t.count;
    const rows: ConnRows = {
      proto: new Uint8Array(n), state: new Uint8Array(n), flags: new Uint8Array(n), expires: new Int32Array(n), caddr: new Int32Array(n),
      cport: new Uint16Array(n), vaddr: new Int32Array(n), vport: new Uint16Array(n), daddr: new Int32Array(n),
      dport: new Uint16Array(n),
    };
    const now = this.clock() - this.epoch;
    let k = 0;
    t.forEach((c) => {
      if (k >= n) return;
      rows.proto[k] = t.proto[c]!;
      rows.state[k] = t.state[c]!;
      rows.flags[k] = t.flags[c]!;
      rows.expires[k] = Math.max(0, Math.ceil((t.expires[c]! - now) / 1000));
      rows.caddr[k] = t.caddr[c]!;
      rows.cport[k] = t.cport[c]!;
      rows.vaddr[k] = t.vaddr[c]!;
      rows.vport[k] = t.vport[c]!;
      rows.daddr[k] = t.daddr[c]!;
      rows.dport[k] = t.dport[c]!;
      k++;
    });
    return rows;
  }

  /**
   * Per given real slot, the conns that may still carry data: not templates, not in TIME_WAIT or CLOSE (a drain
   * is over when none are left). One pass over the table; control plane only, between batches.
   */
  countLive(slots: number[]): number[] {
    const t = this.conns;
    const want = new Int32Array(MAX_REALS).fill(-1);
    slots.forEach((s, i) => (want[s] = i));
    const counts = new Array<number>(slots.length).fill(0);
    t.forEach((c) => {
      const i = want[t.real[c]!]!;
      const st = t.state[c];
      if (i >= 0 && !(t.flags[c]! & CF_TEMPLATE) && (t.proto[c] !== PROTO_TCP || (st !== TcpState.TIME_WAIT && st !== TcpState.CLOSE))) counts[i]!++;
    });
    return counts;
  }

  private timers(): void {
    this.nextTimers = this.nowMs + TIMER_INTERVAL_MS;
    this.conns.expire(this.nowMs, this.life);
    this.f64[H_CONNS] = this.conns.count;
    this.life.checkSynflood();
    if (this.services) for (const svc of this.services.list) svc.tick(this.nowMs);
    this.link.timers();
  }

  private flush(): void {
    const q = this.txq;
    if (q.n > 0) {
      const sent = this.io.send(this.mem, q.offs, q.lens, q.n);
      this.sent(q.n, sent);
    }
    this.link.endBatch();
  }

  /** Counts a tx batch of `queued` frames of which `sent` were accepted (or -errno), and empties the queue. */
  private sent(queued: number, sent: number): void {
    if (queued === 0) return;
    if (sent >= 0) {
      this.f64[C.tx_frames]! += sent;
      if (sent < queued) this.f64[D.tx_failed]! += queued - sent;
    } else {
      this.f64[D.tx_failed]! += queued;
    }
    this.txq.n = 0;
  }

  /** A batch while a trace is active: matching frames are processed between the tracer's begin and end. */
  private traceFrame(base: number, len: number): void {
    const t = this.tracer;
    if (!t.matches(base, len)) {
      this.frame(base, len);
      return;
    }
    t.begin(base, len);
    this.frame(base, len);
    t.end(this.nowMs + this.epoch, this.conns);
  }

  /** Classifies one frame at `base`. */
  private frame(base: number, len: number): void {
    const f64 = this.f64;
    f64[C.rx_bytes]! += len;
    // A read that filled the whole slot may have been cut short by the kernel: count it as truncated.
    if (len < ETH_HLEN || len >= this.slotSize - this.headroom) {
      f64[D.rx_truncated]!++;
      return;
    }
    if (!this.link.isForUs(base)) {
      f64[D.eth_not_for_us]!++;
      return;
    }
    const type = this.dv.getUint16(base + 12);
    if (type === ETHERTYPE_IPV4) {
      this.ipv4(base, len);
    } else if (type === ETHERTYPE_ARP) {
      this.link.arp(base, len);
    } else if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) {
      f64[D.eth_vlan]!++;
    } else {
      f64[D.eth_unknown_type]!++;
    }
  }

  private ipv4(base: number, len: number): void {
    const pk = this.pk;
    const f64 = this.f64;
    pk.base = base;
    pk.len = len;
    pk.gso = 0;
    this.link.gsoBase = -1;
    // With offloads the kernel marks checksums it left partial (NEEDS_CSUM) or already checked (DATA_VALID).
    // Other flag bits vouch for nothing: they never disable verification (a fuzz finding).
    const vflags = this.vnet !== 0 ? this.u8[base - VNET_HDR_LEN]! & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID) : 0;
    const r = parseIPv4(this.u8, this.dv, pk, this.verifyL4 && vflags === 0);
    if (r !== ParseResult.OK) {
      f64[PARSE_DROP[r]!]!++;
      return;
    }
    if ((vflags & VNET_F_NEEDS_CSUM) !== 0 && !this.offload.partial(base)) return;
    const proto = pk.proto;
    const services = this.services;
    if (proto !== PROTO_ICMP && services) {
      const svc = services.lookup(proto, pk.daddr, pk.dport);
      if (svc) {
        if (this.workers > 1 && steerOwner(pk.saddr, pk.sport, this.workers) !== this.workerId) f64[C.wrong_worker]!++;
        this.inbound(svc);
        return;
      }
    }
    if (proto === PROTO_ICMP) {
      // Errors about a conn are translated or forwarded (forward/icmp.ts); echo to us is answered.
      if (pk.ipLen > this.link.mtu) this.tooBig();
      else if (isRelatedIcmp(this.u8[pk.l4]!)) icmpError(this, pk);
      else if (this.link.owns(pk.daddr)) this.link.echoReply(base, pk.l3, pk.l4, len);
      else f64[D.icmp_unhandled]!++;
      return;
    }
    // A FULLNAT local address: replies from reals, owned by the worker that chose the local port.
    const lip = services !== null && services.laddrs.has(pk.daddr);
    if (!lip && this.link.owns(pk.daddr)) {
      f64[D.no_service]!++;
      if (proto === PROTO_TCP && sendTcpReset(this, pk)) f64[C.tcp_rst_sent]!++;
      return;
    }
    if (this.workers > 1 && (lip ? pk.dport % this.workers : steerOwner(pk.daddr, pk.dport, this.workers)) !== this.workerId) {
      f64[C.wrong_worker]!++;
    }
    const c = this.conns.lookupOut(proto, pk.saddr, pk.sport, pk.daddr, pk.dport);
    if (c === NIL) {
      f64[D.reply_no_conn]!++;
      return;
    }
    this.outbound(c);
  }

  /**
   * A packet to forward that is longer than the segment MTU (IPVS checks this in its xmit functions): sent, it
   * would reach a next hop that must drop it. Dropped and counted; with DF its sender hears ICMP frag-needed
   * with the MTU (rate limited), from the address it sent to when that is ours, else from our address on its
   * prefix, as a router would. (IPVS fragments such packets without DF; tapvs does so for TUN only.)
   */
  private tooBig(): void {
    const pk = this.pk;
    this.f64[D.ipv4_too_big]!++;
    if ((this.dv.getUint16(pk.l3 + IP_FRAG) & IP_FLAG_DF) === 0) return;
    if (pk.proto === PROTO_ICMP && isIcmpError(this.u8[pk.l4]!)) return;
    const from = this.link.owns(pk.daddr) ? pk.daddr : this.link.sourceFor(pk.saddr);
    if (sendIcmpAbout(this, pk.l3, pk.l4 - pk.l3 + 8, pk.saddr, from, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, this.link.mtu)) {
      this.f64[C.icmp_frag_needed_sent]!++;
    }
  }

  private inbound(svc: CompiledService): void {
    const pk = this.pk;
    const f64 = this.f64;
    const conns = this.conns;
    let c = conns.lookupIn(pk.proto, pk.saddr, pk.sport, pk.daddr, pk.dport);
    if (c !== NIL) {
      if (this.realSvc[conns.real[c]!] === null) {
        // Its real was removed. A new SYN on a TIME_WAIT/CLOSE conn replaces it all the same (ip_vs_in checks conn
        // reuse before the server status); otherwise IPVS expire_nodest_conn=0 drops the packet, =1 expires the
        // conn and treats the packet as one without a conn. A drain's deadline may have chosen either, or a reset.
        const reuse = pk.proto === PROTO_TCP && this.life.reusable(c, pk.tcpFlags);
        const orphan = this.orphanMode[conns.real[c]!]!;
        if (!reuse && orphan === ORPHAN_RESET) {
          this.resetOrphan(c);
          return;
        }
        if (!reuse && !this.expireNodestConn && orphan !== ORPHAN_RESCHEDULE) {
          f64[D.real_unavailable]!++;
          return;
        }
        conns.remove(c, this.life);
        f64[reuse ? C.conns_reused : C.conns_nodest_expired]!++;
        c = NIL;
      } else if (pk.proto === PROTO_TCP && this.life.reusable(c, pk.tcpFlags)) {
        conns.remove(c, this.life);
        f64[C.conns_reused]!++;
        c = NIL;
      }
    }
    if (c === NIL) {
      c = this.life.schedule(svc, pk, this.nowMs);
      if (c === NIL) {
        // No real available: the client hears so at once, as from IPVS (ip_vs_leave), rate limited. A segment
        // that cannot start a conn gets the RST the director's own stack would send.
        if (this.life.noReal && sendIcmpError(this, pk, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0)) f64[C.icmp_unreach_sent]!++;
        else if (this.life.noConn && sendTcpReset(this, pk)) f64[C.tcp_rst_sent]!++;
        return;
      }
    }
    const r = conns.real[c]!;
    if (pk.ttl <= 1) {
      f64[D.ipv4_ttl_expired]!++;
      return;
    }
    this.life.advance(c, conns.flags[c]! & CF_NOOUTPUT ? DIR_INPUT_ONLY : DIR_INPUT, pk.tcpFlags);
    const bytes = pk.ipLen;
    const sb = SVC_BASE + conns.svc[c]! * STAT_FIELDS;
    const rb = REAL_BASE + r * STAT_FIELDS;
    f64[sb + SF_INPKTS]!++;
    f64[sb + SF_INBYTES]! += bytes;
    f64[rb + SF_INPKTS]!++;
    f64[rb + SF_INBYTES]! += bytes;
    const code = conns.fwd[c]!;
    const fwd = FORWARDERS[code]!;
    if (pk.gso !== 0) {
      // A GSO super-frame (offloads) is over the MTU by design: forwarded whole or cut into segments.
      if (!this.offload.whole(fwd)) this.offload.segment(fwd, c, true);
      else fwd.inbound(this, pk, c);
      return;
    }
    // TUN checks its own (smaller) tunnel MTU and fragments packets without DF.
    if (bytes > this.link.mtu && code !== FwdCode.TUN) {
      this.tooBig();
      return;
    }
    fwd.inbound(this, pk, c);
  }

  /** A client packet of a conn whose real left at a drain deadline with `reset`: tell the client, end the conn. */
  private resetOrphan(c: number): void {
    const pk = this.pk;
    this.conns.remove(c, this.life);
    this.f64[D.orphan_reset]!++;
    if (pk.proto === PROTO_TCP ? sendTcpReset(this, pk) : sendIcmpError(this, pk, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0)) {
      this.f64[C.orphan_resets_sent]!++;
    }
  }

  private outbound(c: number): void {
    const pk = this.pk;
    const f64 = this.f64;
    const conns = this.conns;
    const r = conns.real[c]!;
    // A reply of a conn whose real was removed still reaches the client, as in IPVS (handle_response does not
    // look at the dest): only the client's packets are dropped or expire the conn (expire_nodest_conn).
    if (pk.ttl <= 1) {
      f64[D.ipv4_ttl_expired]!++;
      return;
    }
    conns.flags[c] = conns.flags[c]! & ~CF_NOOUTPUT;
    this.life.advance(c, DIR_OUTPUT, pk.tcpFlags);
    const bytes = pk.ipLen;
    const sb = SVC_BASE + conns.svc[c]! * STAT_FIELDS;
    const rb = REAL_BASE + r * STAT_FIELDS;
    f64[sb + SF_OUTPKTS]!++;
    f64[sb + SF_OUTBYTES]! += bytes;
    f64[rb + SF_OUTPKTS]!++;
    f64[rb + SF_OUTBYTES]! += bytes;
    const fwd = FORWARDERS[conns.fwd[c]!]!;
    if (pk.gso !== 0) {
      if (!this.offload.whole(fwd)) this.offload.segment(fwd, c, false);
      else fwd.outbound(this, pk, c);
      return;
    }
    if (bytes > this.link.mtu) {
      this.tooBig();
      return;
    }
    fwd.outbound(this, pk, c);
  }
}
