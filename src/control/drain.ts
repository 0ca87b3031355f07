/**
 * Drains (`tapvsadm --drain`): a draining real gets weight 0 in every snapshot (no new flows; its conns and
 * persistence templates stay, so a client with a template still reaches it, as with IPVS's quiescent reals),
 * until it is empty or its deadline passes; then it is deleted like `-d`. The drain lives on the real's state,
 * so it survives every republish (other edits, health transitions, `apply`).
 *
 * Empty means no conn that may still carry data: the cheap shared counters first (ActiveConn + InActConn = 0);
 * once ActiveConn is 0, the workers are asked to count the real's conns outside TIME_WAIT and CLOSE (one pass
 * over their tables, at most once per LIVE_COUNT_MS), since those only absorb stray segments and would hold a
 * drain for IPVS's 2-minute TIME_WAIT timeout.
 *
 * At the deadline, with conns left (`atDeadline`; the real is deleted in every case):
 * - keep: its conns stay in the table until their own timeouts and their packets are dropped
 *   (`real_unavailable`), as IPVS does with expire_nodest_conn=0 (with the daemon's --expire-nodest-conn they
 *   are rescheduled instead, as in IPVS).
 * - reschedule: each conn expires at its next packet, which is scheduled afresh: a UDP flow moves to another
 *   real at once; a TCP segment that is not a SYN cannot start a conn and is dropped (`tcp_no_conn`), so the
 *   client's TCP connection fails when it gives up (expire_nodest_conn=1 for this real only).
 * - reset: the next client packet of each conn is answered with a TCP RST from the VIP (UDP: ICMP port
 *   unreachable) and the conn is removed (`orphan_reset`, `orphan_resets_sent`): clients learn at once.
 */
import { LbError, invalid, noSuchDest, serviceNotDefined } from '../errors.js';
import { formatIPv4 } from '../util/addr.js';
import { log } from '../util/log.js';
import type { ServiceKey } from '../types.js';
import type { AtDeadlineName, DrainStatus } from './protocol.js';
import { AT_DEADLINE, type AtDeadline, type RealState, type ServiceState, type ServiceTable } from './state.js';
import type { WorkerHandle } from './workers.js';

export const DEFAULT_DRAIN_DEADLINE_MS = 300_000;
/** Longest deadline: 31 days, ipvsadm's largest timeout. */
export const MAX_DRAIN_DEADLINE_MS = 31 * 86_400_000;
/** How often drains are looked at. */
export const DRAIN_TICK_MS = 200;
/** Least time between two counts of live conns (a pass over every worker's table). */
export const LIVE_COUNT_MS = 1000;
/** Finished drains remembered for drain-status. */
export const DRAIN_HISTORY = 256;

export interface DrainHost {
  readonly table: ServiceTable;
  readonly workers: WorkerHandle[];
  /** Publishes the current state soon (coalesced). */
  requestPublish(): void;
  /** Per slot, the conns outside TIME_WAIT/CLOSE summed over the live workers. */
  countLive(slots: number[]): Promise<number[]>;
}

type RealRef = { rip: string; rport?: number };

const svcName = (s: ServiceState) => `${s.proto.toUpperCase()} ${formatIPv4(s.addr)}:${s.port}`;
const realName = (r: RealState) => `${formatIPv4(r.addr)}:${r.port}`;
const iso = (t: number) => new Date(t).toISOString();

export class Drains {
  private readonly history = new Map<string, DrainStatus>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private lastLiveCount = 0;

  constructor(private readonly host: DrainHost, private readonly now: () => number = Date.now) {}

  /** Validates and starts (or re-arms) a drain; the caller publishes. */
  begin(key: ServiceKey, ref: RealRef, deadlineMs: unknown, atDeadline: unknown): DrainStatus {
    const svc = this.host.table.mustFind(key, serviceNotDefined);
    const r = this.host.table.findReal(svc, ref);
    const ms = deadlineMs ?? DEFAULT_DRAIN_DEADLINE_MS;
    if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < 0 || ms > MAX_DRAIN_DEADLINE_MS) {
      throw invalid(`drain deadlineMs must be an integer in 0..${MAX_DRAIN_DEADLINE_MS} (ms), got ${JSON.stringify(deadlineMs)}`);
    }
    const at = atDeadline ?? 'keep';
    if (!(AT_DEADLINE as readonly unknown[]).includes(at)) {
      throw invalid(`drain atDeadline must be one of ${AT_DEADLINE.join(', ')}, got ${JSON.stringify(atDeadline)}`);
    }
    const now = this.now();
    const again = r.drain !== undefined;
    r.drain = { startedAt: r.drain?.startedAt ?? now, deadlineAt: now + ms, atDeadline: at as AtDeadline, live: r.drain?.live ?? null };
    this.history.delete(this.key(svc, r));
    log('info', again ? 'drain re-armed' : 'drain started', {
      service: svcName(svc), real: realName(r), deadlineMs: ms, atDeadline: at, weight: r.weight,
    });
    this.arm();
    return this.statusOf(svc, r);
  }

  /** Ends a drain early; the caller publishes. */
  cancel(key: ServiceKey, ref: RealRef): void {
    const svc = this.host.table.mustFind(key, serviceNotDefined);
    const r = this.host.table.findReal(svc, ref);
    if (!r.drain) throw invalid(`real ${realName(r)} of ${svcName(svc)} is not draining`);
    delete r.drain;
    log('info', 'drain cancelled', { service: svcName(svc), real: realName(r) });
  }

  /** A drain in progress, or how a recent one ended. */
  status(key: ServiceKey, ref: RealRef): DrainStatus {
    const svc = this.host.table.mustFind(key, serviceNotDefined);
    let r: RealState | undefined;
    try {
      r = this.host.table.findReal(svc, ref);
    } catch (err) {
      if (!(err instanceof LbError)) throw err;
    }
    if (r?.drain) return this.statusOf(svc, r);
    const port = ref.rport ?? svc.port;
    const done = this.history.get(`${svcName(svc)}/${ref.rip}:${port}`) ??
      [...this.history.values()].find((h) => h.service === svcName(svc) && h.real.startsWith(`${ref.rip}:`));
    if (done) return done;
    if (r) throw invalid(`real ${realName(r)} of ${svcName(svc)} is not draining`);
    throw noSuchDest();
  }

  /** Progress of the drain of r (r.drain must be set). */
  statusOf(svc: ServiceState, r: RealState): DrainStatus {
    const d = r.drain!;
    return {
      state: 'draining', service: svcName(svc), real: realName(r), atDeadline: d.atDeadline as AtDeadlineName,
      startedAt: iso(d.startedAt), deadlineAt: iso(d.deadlineAt), ...this.counts(r.slot), live: d.live,
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private key(svc: ServiceState, r: RealState): string {
    return `${svcName(svc)}/${realName(r)}`;
  }

  private counts(slot: number): { active: number; inactive: number; persist: number } {
    let active = 0;
    let inactive = 0;
    let persist = 0;
    for (const w of this.host.workers) {
      active += w.stats.active[slot]!;
      inactive += w.stats.inactive[slot]!;
      persist += w.stats.persist[slot]!;
    }
    return { active, inactive, persist };
  }

  private draining(): [ServiceState, RealState][] {
    const out: [ServiceState, RealState][] = [];
    for (const s of this.host.table.list()) for (const r of s.reals) if (r.drain) out.push([s, r]);
    return out;
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), DRAIN_TICK_MS);
    this.timer.unref();
  }

  /** Looks at every drain: finishes the empty ones and those past their deadline. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      let list = this.draining();
      if (list.length === 0) return this.stop();
      // Reals with no active conn but inactive ones: count those that still matter (not TIME_WAIT/CLOSE).
      const now = this.now();
      const ask = list.filter(([, r]) => {
        const c = this.counts(r.slot);
        return c.active === 0 && c.inactive > 0;
      });
      const counted = new Map<RealState, number>();
      if (ask.length > 0 && now - this.lastLiveCount >= LIVE_COUNT_MS) {
        this.lastLiveCount = now;
        const live = await this.host.countLive(ask.map(([, r]) => r.slot));
        ask.forEach(([, r], i) => {
          counted.set(r, live[i]!);
          if (r.drain) r.drain.live = live[i]!;
        });
        list = this.draining(); // the table may have changed while the workers counted
      }
      let changed = false;
      for (const [svc, r] of list) {
        const d = r.drain!;
        const c = this.counts(r.slot);
        // Only a count taken in this tick can end a drain (an older one may predate a new conn).
        const empty = c.active + c.inactive === 0 || (c.active === 0 && counted.get(r) === 0);
        if (empty || this.now() >= d.deadlineAt) {
          this.finish(svc, r, empty ? 'empty' : 'deadline');
          changed = true;
        }
      }
      if (changed) this.host.requestPublish();
    } finally {
      this.ticking = false;
    }
  }

  private finish(svc: ServiceState, r: RealState, outcome: 'empty' | 'deadline'): void {
    const d = r.drain!;
    const status: DrainStatus = { ...this.statusOf(svc, r), state: 'done', outcome, finishedAt: iso(this.now()) };
    const t = this.host.table;
    t.delReal({ proto: svc.proto, vip: formatIPv4(svc.addr), vport: svc.port }, { rip: formatIPv4(r.addr), rport: r.port });
    if (outcome === 'deadline' && d.atDeadline !== 'keep') t.orphans.set(r.slot, d.atDeadline);
    this.history.set(this.key(svc, r), status);
    if (this.history.size > DRAIN_HISTORY) this.history.delete(this.history.keys().next().value!);
    log(outcome === 'empty' ? 'info' : 'warn', outcome === 'empty' ? 'drain complete: real removed' : 'drain deadline passed: real removed', {
      service: status.service, real: status.real, atDeadline: d.atDeadline, active: status.active, inactive: status.inactive,
      persist: status.persist, live: status.live, drainedMs: this.now() - d.startedAt,
    });
  }
}
