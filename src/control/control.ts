/**
 * The control thread: owns the service table, validates each request completely before anything changes,
 * publishes a new immutable snapshot version to every worker after each change (and waits until all live
 * workers applied it, so a tapvsadm command returns once the dataplane runs the new config), aggregates the
 * workers' counters for listings, and runs the 2-second rate estimator.
 *
 * Requests go through one command table (op → handler); the socket server and tests call `handle()`.
 */
import { IPVS_CONN_TAB_SIZE, MAX_REALS, MAX_SERVICES } from '../defaults.js';
import { checkSnapshot, type NetConfig, type Snapshot } from '../config/snapshot.js';
import { LbError, invalid, showValue } from '../errors.js';
import { formatIPv4 } from '../util/addr.js';
import { D, DROP_REASONS, COUNTERS, C, H_CONNS, H_HALF_OPEN, H_SYNFLOOD, REAL_BASE, STAT_FIELDS, SVC_BASE } from '../worker/stats.js';
import type { ConnRows, FromWorker } from '../worker/messages.js';
import { ESTIMATOR_INTERVAL_MS, RateEstimator } from './estimator.js';
import {
  OPS, type ConnInfo, type ConnListResult, type ListResult, type Reply, type Request, type ServiceInfo, type StatsInfo,
  type StatusResult, type ApplyResult,
} from './protocol.js';
import { ServiceTable, effectiveWeight, realOut, type RealState, type ServiceState } from './state.js';
import { planApply, restoreToDesired, serviceRule } from './apply.js';
import { Drains } from './drain.js';
import { Traces } from './trace.js';
import { HealthChecker } from '../health/checker.js';
import { validateHealthSpec } from '../config/health-spec.js';
import type { RealHealthInfo } from './protocol.js';
import { log } from '../util/log.js';
import type { WorkerHandle } from './workers.js';
import type { ControlSocketStats } from './server.js';
import type { ServiceKey } from '../types.js';
import { STATE_NAMES, TcpState, UDP_STATE } from '../worker/tcp-state.js';
import { CF_ASSURED, CF_TEMPLATE } from '../worker/conn-table.js';

const APPLY_TIMEOUT_MS = 3000;

type Handler = (c: Control, req: any) => unknown;

/** op → handler. Mutating handlers return after the new snapshot is live in every worker. */
const COMMANDS: Record<Request['op'], Handler> = {
  ping: () => ({ pong: true }),
  'add-service': (c, r) => c.mutate(() => c.resetSlots(c.table.addService(r.service).slot, null)),
  'edit-service': (c, r) => c.mutate(() => c.table.editService(r.service)),
  'del-service': (c, r) => c.mutate(() => c.table.delService(r.service)),
  'add-real': (c, r) => c.mutate(() => c.resetSlots(null, c.table.addReal(r.service, r.real).slot)),
  'edit-real': (c, r) => c.mutate(() => c.table.editReal(r.service, r.real)),
  'del-real': (c, r) => c.mutate(() => c.table.delReal(r.service, r.real)),
  clear: (c) => c.mutate(() => c.table.clear()),
  list: (c, r) => c.list(r.service),
  zero: (c, r) => c.zero(r.service),
  status: (c) => c.status(),
  'list-conns': (c, r) => c.listConns(r.service),
  'set-timeouts': (c, r) => c.mutate(() => c.table.setTimeouts(r.tcp, r.tcpfin, r.udp)),
  'restart-worker': (c, r) => c.restartWorker(r.worker),
  apply: (c, r) => c.apply(r.config, r.dryRun),
  restore: (c, r) => c.apply(restoreToDesired(c.table, r.requests), r.dryRun),
  'set-health': (c, r) => c.setHealth(r.service, r.check),
  drain: async (c, r) => {
    await c.mutate(() => c.drains.begin(r.service, r.real, r.deadlineMs, r.atDeadline));
    return c.drains.status(r.service, r.real);
  },
  undrain: (c, r) => c.mutate(() => c.drains.cancel(r.service, r.real)),
  'drain-status': (c, r) => c.drains.status(r.service, r.real),
  'trace-start': (c, r) => c.traces.start(r),
  'trace-poll': (c, r) => c.traces.poll(r),
  'trace-stop': (c, r) => c.traces.stop(r),
};

/** Ops that change the configuration: logged once they succeeded. */
const LOGGED_OPS = new Set<string>([
  'add-service', 'edit-service', 'del-service', 'add-real', 'edit-real', 'del-real', 'clear', 'set-timeouts', 'set-health',
]);

export class Control {
  readonly table: ServiceTable;
  workers: WorkerHandle[] = [];
  private current: Snapshot;
  private readonly waiters: { version: number; resolve: () => void }[] = [];
  /** Baselines subtracted from the workers' monotonic counters (-Z), per svc/real slot. */
  private readonly svcBase = new Float64Array(MAX_SERVICES * STAT_FIELDS);
  private readonly realBase = new Float64Array(MAX_REALS * STAT_FIELDS);
  private readonly svcEst = new RateEstimator(MAX_SERVICES);
  private readonly realEst = new RateEstimator(MAX_REALS);
  private estTimer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();
  /** Health checks (started by startHealth(); the daemon does). */
  readonly health: HealthChecker;
  readonly drains: Drains;
  /** `tapvs trace` sessions. */
  readonly traces = new Traces(() => this.workers);

  constructor(private readonly net: NetConfig) {
    this.table = new ServiceTable((slot) => this.realSlotInUse(slot));
    this.current = this.table.snapshot(net);
    this.health = new HealthChecker(this);
    this.drains = new Drains(this);
  }

  startHealth(): void {
    this.health.start();
  }

  stopHealth(): void {
    this.health.stop();
    this.drains.stop();
    this.traces.close();
  }

  private publishing: Promise<void> | null = null;
  private publishAgain = false;

  /** Publishes the current state soon; calls made while a publish runs are folded into one more. */
  requestPublish(): void {
    if (this.publishing) {
      this.publishAgain = true;
      return;
    }
    this.publishing = (async () => {
      do {
        this.publishAgain = false;
        try {
          await this.publish();
        } catch (err) {
          log('error', 'publish failed', { error: (err as Error).message });
        }
      } while (this.publishAgain);
      this.publishing = null;
    })();
  }

  /** Waits until requested publishes are done (tests). */
  async settled(): Promise<void> {
    while (this.publishing) await this.publishing;
  }

  /** `set-health`: validates the spec completely, then sets (or removes) the service's check. */
  async setHealth(key: ServiceKey, check: unknown): Promise<null> {
    const spec = check === null ? null : validateHealthSpec(check);
    return this.mutate(() => this.table.setHealth(key, spec));
  }

  private readonly liveQueries = new Map<number, { expected: number; sums: number[]; got: number; done: () => void }>();

  /** Per real slot, conns outside TIME_WAIT/CLOSE summed over the live workers (drains). */
  async countLive(slots: number[]): Promise<number[]> {
    const live = this.workers.filter((w) => w.alive);
    const reqId = this.nextReq++;
    const q = { expected: live.length, sums: new Array<number>(slots.length).fill(0), got: 0, done: () => {} };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, APPLY_TIMEOUT_MS);
      q.done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.liveQueries.set(reqId, q);
      if (live.length === 0) q.done();
      for (const w of live) w.send({ type: 'count-live', reqId, slots });
    });
    this.liveQueries.delete(reqId);
    // A worker that did not answer in time leaves the count unknown: report it as not empty.
    return q.got < q.expected ? q.sums.map((n) => Math.max(n, 1)) : q.sums;
  }

  /** The snapshot workers should run now (also given to a restarted worker). */
  snapshot(): Snapshot {
    return this.current;
  }

  attach(workers: WorkerHandle[]): void {
    this.workers = workers;
  }

  startEstimator(): void {
    this.estTimer = setInterval(() => this.estimate(), ESTIMATOR_INTERVAL_MS);
    this.estTimer.unref();
  }

  stopEstimator(): void {
    if (this.estTimer) clearInterval(this.estTimer);
  }

  /** Worker → control messages. */
  onWorkerMessage(m: FromWorker): void {
    if (m.type === 'applied') this.settle();
    else if (m.type === 'conns') {
      const p = this.connQueries.get(m.reqId);
      if (p) {
        p.parts.push({ worker: m.id, rows: m.rows });
        if (p.parts.length >= p.expected) p.done();
      }
    } else if (m.type === 'live') {
      const q = this.liveQueries.get(m.reqId);
      if (q) {
        m.counts.forEach((n, i) => (q.sums[i]! += n));
        if (++q.got >= q.expected) q.done();
      }
    }
  }

  private nextReq = 1;
  private readonly connQueries = new Map<number, { expected: number; parts: { worker: number; rows: ConnRows }[]; done: () => void }>();

  /** `-L -n -c`: every live worker's entries, merged and sorted (protocol, client, virtual). */
  async listConns(key?: ServiceKey): Promise<ConnListResult> {
    let filter: ServiceState | undefined;
    if (key !== undefined) [filter] = this.pick(key);
    const live = this.workers.filter((w) => w.alive);
    const reqId = this.nextReq++;
    const parts: { worker: number; rows: ConnRows }[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, APPLY_TIMEOUT_MS);
      this.connQueries.set(reqId, { expected: live.length, parts, done: () => { clearTimeout(timer); resolve(); } });
      if (live.length === 0) resolve();
      for (const w of live) w.send({ type: 'list-conns', reqId });
    });
    this.connQueries.delete(reqId);
    const conns: (ConnInfo & { k: number[] })[] = [];
    const ep = (a: number, p: number) => `${formatIPv4(a >>> 0)}:${p}`;
    for (const { worker, rows } of parts) {
      for (let i = 0; i < rows.proto.length; i++) {
        const proto = rows.proto[i] === 6 ? 'tcp' : 'udp';
        if (filter && (filter.proto !== proto || filter.addr !== rows.vaddr[i]! >>> 0 || filter.port !== rows.vport[i])) continue;
        conns.push({
          proto: proto.toUpperCase(), expires: rows.expires[i]!,
          // Templates show NONE, or ASSURED once a controlled conn was established (current kernels).
          state: rows.flags[i]! & CF_TEMPLATE ? (rows.flags[i]! & CF_ASSURED ? 'ASSURED' : 'NONE') : (STATE_NAMES[rows.state[i]!] ?? 'NONE'),
          source: ep(rows.caddr[i]!, rows.cport[i]!), virtual: ep(rows.vaddr[i]!, rows.vport[i]!),
          destination: ep(rows.daddr[i]!, rows.dport[i]!), worker,
          k: [rows.proto[i]!, rows.caddr[i]! >>> 0, rows.cport[i]!, rows.vaddr[i]! >>> 0, rows.vport[i]!],
        });
      }
    }
    conns.sort((a, b) => { for (let j = 0; j < 5; j++) if (a.k[j] !== b.k[j]) return a.k[j]! - b.k[j]!; return 0; });
    return { conns: conns.map(({ k: _k, ...c }) => c) };
  }

  /** Handles one request object (already JSON-parsed, not yet trusted). Never throws. */
  async handle(req: unknown): Promise<Reply> {
    const id = typeof (req as { id?: unknown })?.id === 'number' ? (req as { id: number }).id : undefined;
    try {
      if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new LbError('EBADREQ', 'request must be a JSON object');
      const op = (req as { op?: unknown }).op;
      if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) {
        throw new LbError('EBADREQ', `unknown op ${showValue(op)}; expected one of ${OPS.join(', ')}`);
      }
      const result = await COMMANDS[op as Request['op']](this, req);
      if (LOGGED_OPS.has(op)) {
        const r = req as { service?: unknown; real?: unknown; check?: unknown };
        log('info', 'config change', { op, ...(r.service ? { service: r.service } : {}), ...(r.real ? { real: r.real } : {}),
          ...(op === 'set-health' ? { check: r.check } : {}), version: this.current.version });
      }
      return { id, ok: true, result: result ?? null };
    } catch (err) {
      if (err instanceof LbError) return { id, ok: false, error: { code: err.code, message: err.message } };
      return { id, ok: false, error: { code: 'EIO', message: `internal error: ${(err as Error).message}` } };
    }
  }

  /**
   * Runs a state change, publishes it, and waits until every live worker applied it. All or nothing: if the
   * change, the snapshot check or the publish hook fails, the table is put back as it was before the request.
   */
  async mutate(change: () => unknown): Promise<null> {
    const previous = this.table.clone();
    let snap: Snapshot;
    try {
      change();
      snap = this.prepare();
    } catch (err) {
      this.table.adopt(previous);
      throw err;
    }
    await this.broadcast(snap);
    return null;
  }

  /**
   * `apply`: plans the desired config against a copy of the table (all-or-nothing; errors name the path), then,
   * unless a dry run or nothing changes, adopts the copy and publishes it as one snapshot. If publishing fails
   * the previous table is put back.
   */
  async apply(config: unknown, dryRun: unknown): Promise<ApplyResult> {
    const { plan, next, freshServices, freshReals } = planApply(this.table, config);
    if (dryRun === true || plan.length === 0) return { plan, applied: false, version: this.current.version };
    const previous = this.table.clone();
    this.table.adopt(next);
    for (const s of freshServices) this.resetSlots(s, null);
    for (const r of freshReals) this.resetSlots(null, r);
    try {
      await this.publish();
    } catch (err) {
      this.table.adopt(previous);
      throw err;
    }
    return { plan, applied: true, version: this.current.version };
  }

  /** Called with each checked snapshot before the workers get it (the daemon updates queue steering). */
  onPublish: ((snap: Snapshot) => void) | null = null;

  /** The control socket's counters, once a server serves this control thread. */
  socketStats: ControlSocketStats | null = null;

  /** Compiles, checks and broadcasts the current state as a new version. */
  async publish(): Promise<void> {
    await this.broadcast(this.prepare());
  }

  /** Compiles and checks the current state as the next version and runs the publish hook; throws if any fails. */
  private prepare(): Snapshot {
    const snap = this.table.snapshot(this.net);
    const bad = checkSnapshot(snap, MAX_SERVICES, MAX_REALS);
    if (bad) throw new LbError('EIO', `refusing to publish an inconsistent snapshot: ${bad}`);
    this.onPublish?.(snap);
    return snap;
  }

  /** Makes `snap` current, sends it to every live worker and waits (bounded) until they all applied it. */
  private async broadcast(snap: Snapshot): Promise<void> {
    this.current = snap;
    this.health.sync();
    const done = new Promise<void>((resolve) => this.waiters.push({ version: snap.version, resolve }));
    for (const w of this.workers) if (w.alive) w.send({ type: 'snapshot', snapshot: snap });
    this.settle();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, APPLY_TIMEOUT_MS)))]);
    clearTimeout(timer);
  }

  private settle(): void {
    const live = this.workers.filter((w) => w.alive);
    const applied = live.length === 0 ? Infinity : Math.min(...live.map((w) => w.appliedVersion()));
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i]!.version <= applied) this.waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /**
   * Restarts one worker as a crash would (its thread is terminated, its connections are lost, it comes back
   * with the current snapshot); the other workers are untouched. For stuck workers and for fault tests.
   */
  async restartWorker(id: unknown): Promise<{ restarted: number }> {
    const w = this.workers.find((x) => x.id === id);
    if (typeof id !== 'number' || !w) throw invalid(`worker must be one of ${this.workers.map((x) => x.id).join(', ')}`);
    if (!w.restart) throw invalid('this worker cannot be restarted');
    await w.restart();
    return { restarted: id };
  }

  private realSlotInUse(slot: number): boolean {
    return this.workers.some((w) => w.stats.active[slot]! + w.stats.inactive[slot]! + w.stats.persist[slot]! > 0);
  }

  private sum(base: number, slot: number, out: Float64Array): void {
    out.fill(0);
    for (const w of this.workers) {
      const o = base + slot * STAT_FIELDS;
      for (let f = 0; f < STAT_FIELDS; f++) out[f]! += w.stats.f64[o + f]!;
    }
  }

  private totals(kind: 'svc' | 'real', slot: number): Float64Array {
    const out = new Float64Array(STAT_FIELDS);
    this.sum(kind === 'svc' ? SVC_BASE : REAL_BASE, slot, out);
    const b = kind === 'svc' ? this.svcBase : this.realBase;
    for (let f = 0; f < STAT_FIELDS; f++) out[f] = out[f]! - b[slot * STAT_FIELDS + f]!;
    return out;
  }

  private estimate(): void {
    for (const s of this.table.list()) {
      this.svcEst.sample(s.slot, this.totals('svc', s.slot));
      for (const r of s.reals) this.realEst.sample(r.slot, this.totals('real', r.slot));
    }
  }

  private statsInfo(kind: 'svc' | 'real', slot: number): StatsInfo {
    const t = this.totals(kind, slot);
    const [cps, inpps, outpps, inbps, outbps] = (kind === 'svc' ? this.svcEst : this.realEst).rates(slot);
    return { conns: t[0]!, inpkts: t[1]!, outpkts: t[2]!, inbytes: t[3]!, outbytes: t[4]!, cps, inpps, outpps, inbps, outbps };
  }

  private serviceInfo(s: ServiceState): ServiceInfo {
    const reals = [...s.reals]
      .sort((a, b) => a.addr - b.addr || a.port - b.port)
      .map((r) => {
        let active = 0;
        let inactive = 0;
        let persist = 0;
        for (const w of this.workers) {
          active += w.stats.active[r.slot]!;
          inactive += w.stats.inactive[r.slot]!;
          persist += w.stats.persist[r.slot]!;
        }
        return {
          rip: formatIPv4(r.addr), rport: r.port, method: r.method, weight: effectiveWeight(s, r), uthreshold: r.uthreshold,
          lthreshold: r.lthreshold, active, inactive, persist, stats: this.statsInfo('real', r.slot), configuredWeight: r.weight,
          ...(s.health && r.check ? { health: this.healthInfo(s, r) } : {}),
          ...(r.drain ? { drain: this.drains.statusOf(s, r) } : {}),
        };
      });
    return { ...serviceRule(s), stats: this.statsInfo('svc', s.slot), reals, ...(s.health ? { health: s.health } : {}) };
  }

  private healthInfo(s: ServiceState, r: RealState): RealHealthInfo {
    const h = r.check!;
    const down = h.state === 'down';
    return {
      state: h.state, since: new Date(h.since).toISOString(), lastCheck: h.lastCheck ? new Date(h.lastCheck).toISOString() : null,
      lastError: h.lastError || null, action: !down ? 'none' : realOut(s, r) ? 'removed' : 'quiesced',
    };
  }

  private pick(key: ServiceKey | undefined): ServiceState[] {
    if (key === undefined) return this.table.list();
    const s = this.table.find(key);
    if (!s) throw new LbError('ESRCH_SERVICE', 'No such service');
    return [s];
  }

  list(key?: ServiceKey): ListResult {
    const services = this.pick(key)
      .sort((a, b) => (a.proto === b.proto ? 0 : a.proto === 'tcp' ? -1 : 1) || a.addr - b.addr || a.port - b.port)
      .map((s) => this.serviceInfo(s));
    return { connTabSize: IPVS_CONN_TAB_SIZE, services };
  }

  zero(key?: ServiceKey): null {
    if (key !== undefined && (key === null || typeof key !== 'object')) throw invalid('service must be an object');
    for (const s of this.pick(key)) {
      const t = new Float64Array(STAT_FIELDS);
      this.sum(SVC_BASE, s.slot, t);
      this.svcBase.set(t, s.slot * STAT_FIELDS);
      this.svcEst.reset(s.slot, new Float64Array(STAT_FIELDS));
      for (const r of s.reals) {
        this.sum(REAL_BASE, r.slot, t);
        this.realBase.set(t, r.slot * STAT_FIELDS);
        this.realEst.reset(r.slot, new Float64Array(STAT_FIELDS));
      }
    }
    return null;
  }

  /** Restarts stats of a newly allocated slot from zero (slots are reused after deletion). */
  resetSlots(svcSlot: number | null, realSlot: number | null): void {
    const t = new Float64Array(STAT_FIELDS);
    if (svcSlot !== null) {
      this.sum(SVC_BASE, svcSlot, t);
      this.svcBase.set(t, svcSlot * STAT_FIELDS);
      this.svcEst.reset(svcSlot, new Float64Array(STAT_FIELDS));
    }
    if (realSlot !== null) {
      this.sum(REAL_BASE, realSlot, t);
      this.realBase.set(t, realSlot * STAT_FIELDS);
      this.realEst.reset(realSlot, new Float64Array(STAT_FIELDS));
    }
  }

  status(): StatusResult {
    const drops: Record<string, number> = {};
    for (const d of DROP_REASONS) drops[d] = 0;
    const workers = this.workers.map((w) => {
      const wd: Record<string, number> = {};
      for (const d of DROP_REASONS) {
        wd[d] = w.stats.f64[D[d]]!;
        drops[d]! += wd[d]!;
      }
      const counters: Record<string, number> = {};
      for (const k of COUNTERS) counters[k] = w.stats.f64[C[k]]!;
      return {
        id: w.id, appliedVersion: w.appliedVersion(), alive: w.alive, restarts: w.restarts,
        conns: w.stats.f64[H_CONNS]!, halfOpen: w.stats.f64[H_HALF_OPEN]!, synflood: w.stats.f64[H_SYNFLOOD] === 1, drops: wd, counters,
      };
    });
    const t = this.table.timeouts;
    const timeouts = { tcp: t[TcpState.ESTABLISHED]!, tcpfin: t[TcpState.FIN_WAIT]!, udp: t[UDP_STATE]! };
    return {
      pid: process.pid, version: this.current.version, timeouts, uptimeSec: Math.floor((Date.now() - this.started) / 1000), workers, drops,
      ...(this.socketStats ? { controlSocket: { ...this.socketStats } } : {}),
    };
  }
}
