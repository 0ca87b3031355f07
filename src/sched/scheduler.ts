/**
 * The Scheduler interface (mirrors the kernel's struct ip_vs_scheduler).
 *
 * A scheduler is one object in one file, registered by its ipvsadm name in registry.ts. Expensive, deterministic
 * work (hash tables for sh/dh/mh) runs on the control thread in `buildTable` and travels in the snapshot as an
 * Int32Array; workers only index it. Per-service mutable state (rr's cursor, wrr's cw, lblc's cache) lives in
 * the worker and is created by `init` for every snapshot, given the state the previous snapshot left.
 * `pick` runs per new connection on the packet path: it must not allocate, throw or log.
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
  /** Control thread: deterministic table from the reals (in IPVS order), or omitted. */
  buildTable?(reals: readonly TableReal[], schedFlags: number): Int32Array;
  /** Worker: state for this snapshot's service; `prev` is the state under the previous snapshot, if any. */
  init(svc: SchedService, prev: S | undefined): S;
  /** Worker, per new connection: index of the chosen real in svc's arrays, or NO_REAL. No allocation. */
  pick(svc: SchedService, state: S, flow: FlowKey, nowMs: number): number;
}
