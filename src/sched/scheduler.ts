/**
 * The Scheduler interface (mirrors the kernel's struct ip_vs_scheduler).
 *
 * A scheduler is one object in one file, registered by its ipvsadm name in registry.ts. Expensive, deterministic
 * work (hash tables for sh/dh/mh) runs on the control thread in `buildTable` and travels in the snapshot as an
 * Int32Array; workers only index it. Per-service mutable state (rr's cursor, wrr's cw, lblc's cache, the
 * least-connection index of lc/wlc/sed/nq/fo/ovf) lives in the worker and is created by `init` for every
 * snapshot, given the state the previous snapshot left. `pick` runs per new connection on the packet path: it
 * must not allocate, throw or log. `countsChanged` keeps count-driven indexes current; `tick` runs time-driven
 * housekeeping (lblc/lblcr cache expiry) off the packet path.
 */
/** Returned by pick() when no real can take the connection. */
export const NO_REAL = -1;

/** Real flag bits in SchedService.flags. */
export const RF_OVERLOAD = 1;

/** Service scheduler flag bits (IP_VS_SVC_F_SCHED1/2/3 as ipvsadm -b sets them). */
export const SCHED_FLAG_1 = 0x0008;
export const SCHED_FLAG_2 = 0x0010;
export const SCHED_FLAG_3 = 0x0020;

/**
 * A service as a scheduler sees it: its reals in IPVS list order (newest added first), as parallel arrays.
 * Connection counts are read through `slot`: `active[slot[i]]` is the number of active conns of real i in this
 * worker (per-worker counts; see README "Schedulers across workers").
 */
export interface SchedService {
  /** Number of reals. */
  readonly n: number;
  /** Global real slot of real i (index into active/inactive). */
  readonly slot: Int32Array;
  /** Current weight of real i (0 = quiescent). */
  readonly weight: Int32Array;
  /** Weight given at add time, then updated only by non-zero edits (IPVS last_weight; used by mh). */
  readonly lastWeight: Int32Array;
  /** RF_* flags of real i (OVERLOAD set by thresholds). */
  readonly flags: Uint8Array;
  /** Active conns per real slot, for this worker. Shared, indexed by slot. */
  readonly active: Int32Array;
  /** Inactive conns per real slot, for this worker. Shared, indexed by slot. */
  readonly inactive: Int32Array;
  /** Real IPv4 addresses (host order, as unsigned) and ports, for schedulers that hash reals. */
  readonly addr: Uint32Array;
  readonly port: Uint16Array;
  /** SCHED_FLAG_* bits from -b. */
  readonly schedFlags: number;
  /** Table built by Scheduler.buildTable on the control thread, or null. Entries are indexes into the arrays. */
  readonly table: Int32Array | null;
  /** Stable identity of the real set and weights: equal keys mean init() may keep the previous state as is. */
  readonly realsKey: string;
}

/** The flow being scheduled. One mutable instance per worker, filled before pick(); addresses host order. */
export interface FlowKey {
  proto: number;
  saddr: number;
  sport: number;
  daddr: number;
  dport: number;
}

/** Per-service scheduler parameters beyond ipvsadm's flags (tapvs extensions). */
export interface SchedParams {
  /** mh: the Maglev table size, a prime (IPVS: 4093; 65537 behind ECMP). */
  mhTableSize: number;
}

/** Input of buildTable: a real as configured (control thread), in IPVS list order. */
export interface TableReal {
  addr: number;
  port: number;
  weight: number;
  lastWeight: number;
}

export interface Scheduler<S = unknown> {
  /** ipvsadm name. */
  readonly name: string;
  /** Accepted -b flags and their bits, e.g. { 'sh-fallback': SCHED_FLAG_1 }. */
  readonly flags?: Readonly<Record<string, number>>;
  /**
   * Control thread: deterministic table from the reals, or omitted. `reals` come in IPVS list order and the
   * entries of the result are indexes into that list (-1 = empty). sh/dh/mh build from the reals sorted by
   * (address, port), not from list order, so equal configurations give equal tables on every director.
   */
  buildTable?(reals: readonly TableReal[], schedFlags: number, params?: SchedParams): Int32Array;
  /**
   * Worker: state for this snapshot's service; `prev` is the state under the previous snapshot, if any. Called
   * for every snapshot, also when nothing about this service changed (then `svc.realsKey` equals the previous
   * one and rr/wrr keep their place; a different key is what resets wrr's cursor, as IPVS's add/del/edit does).
   * Indexes kept by the state are rebuilt here from svc (weights, flags and counts as they are now). May allocate.
   */
  init(svc: SchedService, prev: S | undefined): S;
  /** Worker, per new connection: index of the chosen real in svc's arrays, or NO_REAL. No allocation. */
  pick(svc: SchedService, state: S, flow: FlowKey, nowMs: number): number;
  /**
   * Worker, optional: real `i` of `svc` changed in a way count-driven schedulers read. Schedulers that keep an
   * index over the reals (lc, wlc, sed, nq, fo, ovf, lblc, lblcr; wrr for OVERLOAD) define it; the others leave
   * it out and the worker skips the call.
   *
   * The worker MUST call `countsChanged(svc, state, i)` - the same svc object and state that `pick` gets for
   * that service, `i` the real's index in it - after each of these and before the next `pick` on that service:
   * - `svc.active[svc.slot[i]]` or `svc.inactive[svc.slot[i]]` changed: a conn bound to the real (after
   *   scheduling), a conn expired, or a conn moved between active and inactive on a state transition;
   * - `RF_OVERLOAD` was set or cleared in `svc.flags[i]` (thresholds, on bind or on unbind).
   * Several changes to the same real may be covered by one call after the last of them (one call after
   * "inactive++ then bindOverload"; one after "active--, inactive++"; one after "count-- then unbindOverload"),
   * as long as no `pick` on the service runs in between. Extra calls (nothing changed) are harmless and O(1).
   * No call is needed for a slot that is not in the current snapshot's service (conns of removed reals), nor
   * after `init` (it reads everything afresh). Weight changes arrive as a new snapshot, never through this hook.
   * O(log n), no allocation, never throws.
   *
   * Guarantee in return: whenever the worker has made the calls above, `pick` returns exactly what the
   * scheduler's plain kernel scan over the reals would (the scans are kept in test/helpers/oracles.ts).
   */
  countsChanged?(svc: SchedService, state: S, i: number): void;
  /**
   * Worker, optional: periodic housekeeping off the packet path (lblc/lblcr cache expiry, the kernel's 60 s
   * timer, and growing the cache's arrays). Call it from the worker's timer pass for every service whose
   * scheduler defines it, with the current svc and state and the same clock as pick's `nowMs` (monotonic ms).
   * How often does not change which expiry runs happen: they are due at fixed times and run, at their due time,
   * from whichever of `tick` or `pick` sees the clock pass it first. It does matter for capacity: the lblc/lblcr
   * cache grows only here (and in init), and a destination that arrives while it is full is served but not
   * cached. Calling it every timer pass (or at least once a second) keeps expiry work and all allocation off the
   * packet path. May allocate; never throws.
   */
  tick?(svc: SchedService, state: S, nowMs: number): void;
}
