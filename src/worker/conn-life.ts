/**
 * The life of a connection entry in one worker, with IPVS's rules. Design note:
 *
 * Creation (`schedule`): only a packet that may start a connection creates one (TCP: SYN without RST; UDP: any).
 * For a persistent service the client's network (`saddr & netmask`) first looks up its persistence template —
 * an entry flagged CF_TEMPLATE keyed (proto, client network, port 0, VIP, VIP port) — and reuses its real while
 * that real is still in the service (also when quiesced or overloaded, unless expire_quiescent_template);
 * otherwise the scheduler picks and a new template is created. The template controls the new conn
 * (ctrl/nctl), is re-armed to the persistence timeout by each new conn, is never removed while it controls
 * conns (it retries every 60 s, as IPVS does), and becomes ASSURED once a controlled conn is established (UDP:
 * once a reply was seen). A new conn starts in state NONE, inactive.
 * Every packet (`advance`) runs the TCP state table and re-arms the timer; moving in or out of an active state
 * moves the conn between the real's active and inactive counts, which feed lc/wlc (`countsChanged`).
 * Expiry (`onExpire`) undoes the counts and applies the OVERLOAD clear rule. Connection reuse (conn_reuse_mode
 * 1): a SYN that hits an uncontrolled conn in TIME_WAIT or CLOSE expires it and is scheduled afresh.
 * FULLNAT conns also get a local address and port (laddr-pool.ts) before they are inserted, and give the port
 * back when they end; a service with no free local port counts `laddr_exhausted`.
 */
import { TCP_ACKF, TCP_FIN, TCP_RST, TCP_SYN, PROTO_TCP } from '../packet/offsets.js';
import type { Pkt } from '../packet/parse.js';
import { NO_REAL, RF_OVERLOAD, type FlowKey } from '../sched/scheduler.js';
import { FwdCode } from '../types.js';
import { CF_ACTIVE, CF_ASSURED, CF_NOOUTPUT, CF_TEMPLATE, ConnTable, NIL, type ExpireHandler } from './conn-table.js';
import { LaddrPools } from './laddr-pool.js';
import type { CompiledService } from './services.js';
import { C, D, H_CONNS, H_HALF_OPEN, H_SYNFLOOD, REAL_BASE, SF_CONNS, STAT_FIELDS, SVC_BASE, type StatsViews } from './stats.js';
import { EvictFifo, SYNFLOOD_TIMEOUT_MS, synfloodPressure } from './synflood.js';
import { DIR_OUTPUT, EVICTABLE, TCP_ACTIVE, TcpState, UDP_STATE, halfOpenState, tcpNextState } from './tcp-state.js';

/** A template that still controls conns when its time is up is looked at again this much later (IPVS: 60 s). */
const TEMPLATE_RETRY_MS = 60_000;

export class ConnLife implements ExpireHandler {
  /** Timeout per state in ms (index TcpState, UDP at UDP_STATE) in force: the snapshot's, or under defence. */
  timeouts: Int32Array = new Int32Array(UDP_STATE + 1);
  private normalTimeouts: Int32Array = this.timeouts;
  private floodTimeouts: Int32Array = this.timeouts;
  /** SYN flood defence (synflood.ts): the evictable conns oldest first, how many are half-open, whether it is on. */
  readonly evictable: EvictFifo;
  halfOpen = 0;
  synflood = false;
  expireQuiescentTemplate = false;
  /** FULLNAT local ports of this worker. */
  readonly laddrs: LaddrPools;
  /** Set by schedule() when it returned NIL because the scheduler found no real (sched_no_real). */
  noReal = false;
  /** Set by schedule() when it returned NIL for a TCP segment that cannot start a conn (tcp_no_conn). */
  noConn = false;
  private readonly flow: FlowKey = { proto: 0, saddr: 0, sport: 0, daddr: 0, dport: 0 };
  private readonly active: Int32Array;
  private readonly inactive: Int32Array;
  private readonly persist: Int32Array;
  private readonly f64: Float64Array;

  constructor(
    private readonly conns: ConnTable,
    stats: StatsViews,
    /** Per real slot: its service in the current snapshot (null when the real was removed) and its index. */
    private readonly realSvc: (CompiledService | null)[],
    private readonly realIdx: Int32Array,
    workerId = 0,
    workers = 1,
  ) {
    this.laddrs = new LaddrPools(conns, workerId, workers);
    this.evictable = new EvictFifo(conns.capacity);
    this.active = stats.active;
    this.inactive = stats.inactive;
    this.persist = stats.persist;
    this.f64 = stats.f64;
  }

  /** Installs the snapshot's timeouts (ms per state); half-open states get SYNFLOOD_TIMEOUT_MS under defence. */
  setTimeouts(ms: Int32Array): void {
    this.normalTimeouts = ms;
    this.floodTimeouts = Int32Array.from(ms, (t, s) => (halfOpenState(s) ? Math.min(t, SYNFLOOD_TIMEOUT_MS) : t));
    this.timeouts = this.synflood ? this.floodTimeouts : this.normalTimeouts;
  }

  /** Timer tick: switches the SYN flood defence on or off by the table's pressure; publishes its gauges. */
  checkSynflood(): void {
    const conns = this.conns;
    const on = synfloodPressure(this.synflood, conns.count, conns.capacity, this.evictable.count);
    if (on !== this.synflood) {
      this.synflood = on;
      this.timeouts = on ? this.floodTimeouts : this.normalTimeouts;
      if (on) this.f64[C.synflood_on]!++;
    }
    this.f64[H_SYNFLOOD] = on ? 1 : 0;
    this.f64[H_HALF_OPEN] = this.halfOpen;
  }

  /**
   * Under defence, makes room for `rows` new entries by evicting the oldest evictable conns (half-open or closed).
   * Called before the template lookup, so an eviction that takes a template with it cannot pull it from under the
   * new conn.
   */
  private makeRoom(rows: number): void {
    const conns = this.conns;
    while (conns.capacity - conns.count < rows && this.evictable.head !== NIL) {
      conns.remove(this.evictable.head, this);
      this.f64[C.synflood_evicted]!++;
    }
  }

  /** Whether a SYN on existing conn c should instead expire it and start a new one (conn_reuse_mode 1). */
  reusable(c: number, tcpFlags: number): boolean {
    const conns = this.conns;
    if ((tcpFlags & (TCP_SYN | TCP_ACKF | TCP_RST | TCP_FIN)) !== TCP_SYN || conns.ctrl[c] !== NIL) return false;
    const st = conns.state[c];
    return st === TcpState.TIME_WAIT || st === TcpState.CLOSE;
  }

  /** A first packet: pick a real (through the persistence template if any) and create the conn. */
  schedule(svc: CompiledService, pk: Pkt, nowMs: number): number {
    const f64 = this.f64;
    const conns = this.conns;
    this.noReal = false;
    this.noConn = false;
    if (pk.proto === PROTO_TCP && (pk.tcpFlags & (TCP_SYN | TCP_RST)) !== TCP_SYN) {
      f64[D.tcp_no_conn]!++;
      this.noConn = true;
      return NIL;
    }
    const rows = svc.persistent !== 0 ? 2 : 1;
    if (conns.capacity - conns.count < rows) {
      // A full table: the defence is looked at now rather than at the next timer tick.
      if (!this.synflood) this.checkSynflood();
      if (this.synflood) this.makeRoom(rows);
    }
    let i = -1;
    let tpl = NIL;
    let snet = 0;
    if (svc.persistent !== 0) {
      snet = pk.saddr & svc.netmask;
      tpl = conns.lookupIn(pk.proto, snet, 0, pk.daddr, pk.dport);
      if (tpl !== NIL && !(conns.flags[tpl]! & CF_TEMPLATE)) tpl = NIL;
      if (tpl !== NIL) {
        const r = conns.real[tpl]!;
        const idx = this.realSvc[r] === svc ? this.realIdx[r]! : -1;
        if (idx < 0 || (this.expireQuiescentTemplate && svc.weight[idx] === 0)) {
          // Stale: its real left the service (or is quiesced and such templates expire). It stops matching.
          conns.unindexIn(tpl);
          f64[C.templates_invalidated]!++;
          tpl = NIL;
        } else {
          i = idx;
        }
      }
    }
    if (i < 0) {
      const flow = this.flow;
      flow.proto = pk.proto;
      flow.saddr = pk.saddr;
      flow.sport = pk.sport;
      flow.daddr = pk.daddr;
      flow.dport = pk.dport;
      i = svc.sched.pick(svc, svc.schedState, flow, nowMs);
      if (i === NO_REAL) {
        f64[D.sched_no_real]!++;
        this.noReal = true;
        return NIL;
      }
    }
    const fwd = svc.fwd[i]!;
    const rport = fwd === FwdCode.NAT || fwd === FwdCode.FULLNAT ? svc.port[i]! : pk.dport;
    const slot = svc.slot[i]!;
    // The client side of the inside tuple: the client itself, or for FULLNAT a local address and port.
    let laddr = pk.saddr;
    let lport = pk.sport;
    if (fwd === FwdCode.FULLNAT) {
      if (!this.laddrs.take(svc)) {
        f64[D.laddr_exhausted]!++;
        return NIL;
      }
      laddr = this.laddrs.addr;
      lport = this.laddrs.port;
    }
    if (svc.persistent !== 0 && tpl === NIL) {
      tpl = conns.insert(pk.proto, snet, 0, pk.daddr, pk.dport, svc.raddr[i]!, rport, snet, 0, svc.persistent * 1000);
      if (tpl === NIL) {
        if (fwd === FwdCode.FULLNAT) this.laddrs.putBack(pk.proto, laddr, lport);
        f64[D.conn_table_full]!++;
        return NIL;
      }
      conns.flags[tpl] = CF_TEMPLATE;
      conns.svc[tpl] = svc.svcSlot;
      conns.real[tpl] = slot;
      conns.fwd[tpl] = fwd;
      conns.state[tpl] = 0;
      this.persist[slot]!++;
    }
    const c = conns.insert(pk.proto, pk.saddr, pk.sport, pk.daddr, pk.dport, svc.raddr[i]!, rport, laddr, lport, this.timeouts[0]!);
    if (c === NIL) {
      if (fwd === FwdCode.FULLNAT) this.laddrs.putBack(pk.proto, laddr, lport);
      f64[D.conn_table_full]!++;
      return NIL;
    }
    if (fwd === FwdCode.FULLNAT) conns.cip[c] = svc.clientIp;
    conns.svc[c] = svc.svcSlot;
    conns.real[c] = slot;
    conns.fwd[c] = fwd;
    conns.state[c] = pk.proto === PROTO_TCP ? 0 : UDP_STATE;
    conns.flags[c] = fwd === FwdCode.NAT || fwd === FwdCode.FULLNAT ? 0 : CF_NOOUTPUT;
    if (tpl !== NIL) {
      conns.ctrl[c] = tpl;
      conns.nctl[tpl]!++;
      conns.refresh(tpl, svc.persistent * 1000); // persistence runs from the last new conn
    }
    this.inactive[slot]!++;
    this.bindOverload(svc, i, slot);
    svc.countsChanged(i);
    f64[SVC_BASE + svc.svcSlot * STAT_FIELDS + SF_CONNS]!++;
    f64[REAL_BASE + slot * STAT_FIELDS + SF_CONNS]!++;
    f64[C.conns_created]!++;
    f64[H_CONNS] = conns.count;
    return c;
  }

  /** State transition + timer re-arm for a packet with `tcpFlags` in direction `dir`. */
  advance(c: number, dir: number, tcpFlags: number): void {
    const conns = this.conns;
    const old = conns.state[c]!;
    let next = old;
    if (old !== UDP_STATE) {
      next = tcpNextState(dir, tcpFlags, old);
      if (next !== old) {
        conns.state[c] = next;
        const was = EVICTABLE[old]!;
        const is = EVICTABLE[next]!;
        if (was !== is) {
          // Into the FIFO when it becomes evictable, out when it stops; half-open → closed keeps its place.
          if (was === 0) this.evictable.push(c);
          else if (is === 0) this.evictable.remove(c);
          if (was === 1) this.halfOpen--;
          if (is === 1) this.halfOpen++;
        }
        const r = conns.real[c]!;
        const wasActive = (conns.flags[c]! & CF_ACTIVE) !== 0;
        const isActive = TCP_ACTIVE[next] === 1;
        if (wasActive !== isActive) {
          if (isActive) {
            conns.flags[c] = conns.flags[c]! | CF_ACTIVE;
            this.active[r]!++;
            this.inactive[r]!--;
          } else {
            conns.flags[c] = conns.flags[c]! & ~CF_ACTIVE;
            this.active[r]!--;
            this.inactive[r]!++;
          }
          const svc = this.realSvc[r];
          if (svc) svc.countsChanged(this.realIdx[r]!);
        }
        if (next === TcpState.ESTABLISHED) this.assure(c);
      }
    } else if (dir === DIR_OUTPUT) {
      this.assure(c);
    }
    conns.refresh(c, this.timeouts[next]!);
  }

  /** IPVS ip_vs_control_assure_ct: the conn's template (if any) becomes ASSURED. */
  private assure(c: number): void {
    const t = this.conns.ctrl[c]!;
    if (t !== NIL) this.conns.flags[t] = this.conns.flags[t]! | CF_ASSURED;
  }

  /** ExpireHandler: entry c's time is up (forced: removed now, e.g. reuse). Returns false to keep it. */
  onExpire(c: number, forced = false): boolean {
    const conns = this.conns;
    const r = conns.real[c]!;
    const flags = conns.flags[c]!;
    if (flags & CF_TEMPLATE) {
      if (!forced && conns.nctl[c]! > 0) {
        conns.expires[c] = conns.now + TEMPLATE_RETRY_MS;
        return false;
      }
      this.persist[r]!--;
      return true;
    }
    if (flags & CF_ACTIVE) this.active[r]!--;
    else this.inactive[r]!--;
    const ev = EVICTABLE[conns.state[c]!]!;
    if (ev !== 0) {
      this.evictable.remove(c);
      if (ev === 1) this.halfOpen--;
    }
    if (conns.fwd[c] === FwdCode.FULLNAT) {
      // A conn that waited out TIME_WAIT in the table frees its local port at once; any other waits in the pool.
      this.laddrs.release(conns.proto[c]!, conns.laddr[c]!, conns.lport[c]!, !forced && conns.state[c] === TcpState.TIME_WAIT);
    }
    const t = conns.ctrl[c]!;
    if (t !== NIL) {
      conns.nctl[t]!--;
      // IPVS: a forcibly removed last controlled conn takes a non-assured template with it.
      if (forced && conns.nctl[t] === 0 && !(conns.flags[t]! & CF_ASSURED)) conns.remove(t, this);
    }
    this.unbindOverload(r);
    const svc = this.realSvc[r];
    if (svc) svc.countsChanged(this.realIdx[r]!);
    this.f64[C.conns_expired]!++;
    return true;
  }

  /** IPVS ip_vs_bind_dest: set OVERLOAD when the upper threshold is reached. */
  private bindOverload(svc: CompiledService, i: number, slot: number): void {
    const u = svc.uthreshold[i]!;
    if (u !== 0 && this.active[slot]! + this.inactive[slot]! >= u) svc.flags[i] = svc.flags[i]! | RF_OVERLOAD;
  }

  /** IPVS ip_vs_unbind_dest: clear OVERLOAD by the lower threshold (or 3/4 of the upper one). */
  private unbindOverload(slot: number): void {
    const svc = this.realSvc[slot];
    if (!svc) return;
    const i = this.realIdx[slot]!;
    if (!(svc.flags[i]! & RF_OVERLOAD)) return;
    const total = this.active[slot]! + this.inactive[slot]!;
    const l = svc.lthreshold[i]!;
    const u = svc.uthreshold[i]!;
    const clear = l !== 0 ? total < l : u !== 0 ? total * 4 < u * 3 : true;
    if (clear) svc.flags[i] = svc.flags[i]! & ~RF_OVERLOAD;
  }
}
