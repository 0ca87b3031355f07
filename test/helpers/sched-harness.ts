/**
 * SchedHarness: drives one scheduler over one service the way a worker would, for unit and property tests.
 *
 * The harness keeps a plain model of the service (`reals`, in IPVS list order, index 0 = newest) and derives
 * the typed-array SchedService from it. Conn counts live in shared per-slot arrays (as in a worker) and are
 * written through on every open/close; configuration changes (weight edit, add at head, remove) build a new
 * snapshot and call `init(svc, prevState)`, as a worker does when a snapshot is applied. Overload is a per-real
 * flag the data path sets, so it is changed in place without a new snapshot. After every count or overload
 * change the harness calls the scheduler's `countsChanged` (when it has one), as the worker must
 * (scheduler.ts); `tick()` calls its periodic hook. Removed reals are kept in `removed`, their counts frozen in
 * the per-slot arrays (their conns live on; slots are never reused here).
 *
 * Oracles read `model()` (plain objects), never the typed arrays, so a bug in building SchedService shows up as a
 * mismatch instead of being shared by both sides.
 */
import { NO_REAL, RF_OVERLOAD, type FlowKey, type SchedService, type Scheduler, type TableReal } from '../../src/sched/scheduler.js';
import fc from 'fast-check';
import { ipv4ToInt } from './packet-builder.js';

/** How a test describes a real. Defaults: port 80, weight 1, no conns, not overloaded; lastWeight = weight. */
export interface RealSpec {
  addr: string | number;
  port?: number;
  weight?: number;
  lastWeight?: number;
  active?: number;
  inactive?: number;
  overload?: boolean;
}

/** A real as the harness tracks it. `id` is its slot, unique for the harness' lifetime (never reused). */
export interface HarnessReal {
  readonly id: number;
  readonly addr: number;
  readonly port: number;
  weight: number;
  lastWeight: number;
  active: number;
  inactive: number;
  overload: boolean;
}

export interface HarnessOptions {
  schedFlags?: number;
  /** Initial capacity of the per-slot count arrays (grown on demand). */
  slotCapacity?: number;
}

export class SchedHarness<S = unknown> {
  /** The service's reals in IPVS list order. Mutate only through the methods. */
  readonly reals: HarnessReal[] = [];
  /** Reals removed so far, oldest removal first (counts as they were when removed). */
  readonly removed: HarnessReal[] = [];
  /** The current snapshot's view. */
  svc!: SchedService;
  /** The scheduler state for the current snapshot. */
  state!: S;
  /** The flow handed to pick(); tests may set its fields. */
  readonly flow: FlowKey = { proto: 6, saddr: ipv4ToInt('192.0.2.1'), sport: 40000, daddr: ipv4ToInt('10.0.0.1'), dport: 80 };
  nowMs = 0;
  /** Number of snapshots applied (init calls). */
  snapshots = 0;
  readonly schedFlags: number;

  private active: Int32Array;
  private inactive: Int32Array;
  private nextSlot = 0;

  constructor(
    readonly sched: Scheduler<S>,
    specs: readonly RealSpec[],
    opts: HarnessOptions = {},
  ) {
    this.schedFlags = opts.schedFlags ?? 0;
    const cap = Math.max(opts.slotCapacity ?? 64, specs.length);
    this.active = new Int32Array(cap);
    this.inactive = new Int32Array(cap);
    for (const spec of specs) this.reals.push(this.newReal(spec));
    this.resnapshot();
  }

  /** Plain copy of the model for oracles. */
  model(): HarnessReal[] {
    return this.reals.map((r) => ({ ...r }));
  }

  /** Calls the scheduler: index into `reals` (same as svc arrays) or NO_REAL. */
  pick(): number {
    return this.sched.pick(this.svc, this.state, this.flow, this.nowMs);
  }

  /** pick() as a real id, or undefined for NO_REAL. */
  pickId(): number | undefined {
    const i = this.pick();
    return i === NO_REAL ? undefined : this.reals[i].id;
  }

  indexOf(id: number): number {
    return this.reals.findIndex((r) => r.id === id);
  }

  /** A new conn bound to real i (counted active, or inactive as UDP and fresh IPVS conns are). */
  openConn(i: number, kind: 'active' | 'inactive' = 'active'): void {
    this.setCounts(i, this.reals[i].active + (kind === 'active' ? 1 : 0), this.reals[i].inactive + (kind === 'inactive' ? 1 : 0));
  }

  /** A conn of real i expires. No-op when there is none of that kind. */
  closeConn(i: number, kind: 'active' | 'inactive' = 'active'): void {
    const r = this.reals[i];
    if (kind === 'active' && r.active > 0) this.setCounts(i, r.active - 1, r.inactive);
    if (kind === 'inactive' && r.inactive > 0) this.setCounts(i, r.active, r.inactive - 1);
  }

  /** An active conn of real i moves to inactive (e.g. TCP FIN). No-op when none is active. */
  deactivate(i: number): void {
    const r = this.reals[i];
    if (r.active > 0) this.setCounts(i, r.active - 1, r.inactive + 1);
  }

  setCounts(i: number, active: number, inactive: number): void {
    const r = this.reals[i];
    r.active = active;
    r.inactive = inactive;
    this.active[r.id] = active;
    this.inactive[r.id] = inactive;
    this.sched.countsChanged?.(this.svc, this.state, i);
  }

  /** The data path sets or clears RF_OVERLOAD in place (no new snapshot), then tells the scheduler. */
  setOverload(i: number, on: boolean): void {
    this.reals[i].overload = on;
    this.svc.flags[i] = on ? RF_OVERLOAD : 0;
    this.sched.countsChanged?.(this.svc, this.state, i);
  }

  /** The worker's timer pass: the scheduler's periodic hook at the current time. */
  tick(): void {
    this.sched.tick?.(this.svc, this.state, this.nowMs);
  }

  /** `ipvsadm -e -w`: new snapshot. lastWeight follows only non-zero weights (IPVS last_weight). */
  setWeight(i: number, weight: number): void {
    this.reals[i].weight = weight;
    if (weight !== 0) this.reals[i].lastWeight = weight;
    this.resnapshot();
  }

  /** `ipvsadm -a`: the new real goes to the head of the list (index 0), as IPVS inserts it. New snapshot. */
  addReal(spec: RealSpec): HarnessReal {
    const r = this.newReal(spec);
    this.reals.unshift(r);
    this.resnapshot();
    return r;
  }

  /** `ipvsadm -d`: new snapshot. The slot is not reused. */
  removeReal(i: number): HarnessReal {
    const [r] = this.reals.splice(i, 1);
    this.removed.push(r);
    this.resnapshot();
    return r;
  }

  /** Builds a new SchedService from the model and calls init(svc, previous state). */
  resnapshot(): void {
    const prev = this.svc === undefined ? undefined : this.state;
    this.svc = buildSchedService(this.reals, this.active, this.inactive, this.sched, this.schedFlags);
    this.state = this.sched.init(this.svc, prev);
    this.snapshots++;
  }

  private newReal(spec: RealSpec): HarnessReal {
    const id = this.nextSlot++;
    if (id >= this.active.length) this.grow(id + 1);
    const weight = spec.weight ?? 1;
    const r: HarnessReal = {
      id,
      addr: typeof spec.addr === 'number' ? spec.addr >>> 0 : ipv4ToInt(spec.addr),
      port: spec.port ?? 80,
      weight,
      lastWeight: spec.lastWeight ?? weight,
      active: spec.active ?? 0,
      inactive: spec.inactive ?? 0,
      overload: spec.overload ?? false,
    };
    this.active[id] = r.active;
    this.inactive[id] = r.inactive;
    return r;
  }

  /** Bigger count arrays; the current svc must be rebuilt to see them (callers resnapshot right after). */
  private grow(min: number): void {
    const cap = Math.max(min, this.active.length * 2);
    const a = new Int32Array(cap);
    const b = new Int32Array(cap);
    a.set(this.active);
    b.set(this.inactive);
    this.active = a;
    this.inactive = b;
  }
}

/**
 * A SchedService for `reals` (IPVS order) over the given per-slot count arrays. Calls `sched.buildTable` when the
 * scheduler has one, as the control thread would.
 */
export function buildSchedService(
  reals: readonly HarnessReal[],
  active: Int32Array,
  inactive: Int32Array,
  sched?: Scheduler<unknown>,
  schedFlags = 0,
): SchedService {
  const n = reals.length;
  const table: TableReal[] = reals.map((r) => ({ addr: r.addr, port: r.port, weight: r.weight, lastWeight: r.lastWeight }));
  return {
    n,
    slot: Int32Array.from(reals, (r) => r.id),
    weight: Int32Array.from(reals, (r) => r.weight),
    lastWeight: Int32Array.from(reals, (r) => r.lastWeight),
    flags: Uint8Array.from(reals, (r) => (r.overload ? RF_OVERLOAD : 0)),
    active,
    inactive,
    addr: Uint32Array.from(reals, (r) => r.addr),
    port: Uint16Array.from(reals, (r) => r.port),
    schedFlags,
    table: sched?.buildTable ? sched.buildTable(table, schedFlags) : null,
    realsKey: reals.map((r) => `${r.id}:${r.weight}:${r.lastWeight}`).join(','),
  };
}

/** `n` reals 10.0.0.1.. with the given weight (default 1), listed so index 0 is 10.0.0.1. */
export function specs(n: number, weight = 1): RealSpec[] {
  return Array.from({ length: n }, (_, i) => ({ addr: (ipv4ToInt('10.0.0.1') + i) >>> 0, weight }));
}

// ---------------------------------------------------------------------------------------------------------------
// Random event sequences for property tests

/** One thing that happens to a service. `at` picks a real as `at % n` when replayed (ignored when n = 0). */
export type SchedEvent =
  | { kind: 'conn'; active: boolean; flow?: number }
  | { kind: 'time'; ms: number; tick: boolean }
  | { kind: 'close'; at: number; active: boolean }
  | { kind: 'fin'; at: number }
  | { kind: 'weight'; at: number; weight: number }
  | { kind: 'add'; weight: number }
  | { kind: 'remove'; at: number }
  | { kind: 'overload'; at: number; on: boolean }
  | { kind: 'counts'; at: number; active: number; inactive: number };

/** Weights that exercise ties, quiescence and the largest weight. */
export const weightArb: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constant(0), weight: 2 },
  { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 6 },
  { arbitrary: fc.integer({ min: 1, max: 65535 }), weight: 1 },
  { arbitrary: fc.constant(65535), weight: 1 },
);

/** Inactive counts, often next to multiples of 256 where one active conn weighs the same. */
const inactiveArb: fc.Arbitrary<number> = fc.oneof(fc.nat({ max: 600 }), fc.constantFrom(255, 256, 257, 511, 512, 513, 767, 768));

export interface SchedEventOptions {
  /** Add `counts` events (large conn counts, up to 5e8 active): they exercise the exactness of the products. */
  bigCounts?: boolean;
  /** New conns carry a `flow` number that varies saddr, sport and daddr (see `applyFlow`). */
  flows?: boolean;
  /** Add `time` events advancing the clock by up to `maxMs` (sometimes running the periodic hook). */
  time?: { maxMs: number };
  /** Weights for weight edits and adds (default `weightArb`). */
  weights?: fc.Arbitrary<number>;
}

/** Events, mostly new conns. */
export function schedEventArb(opts: SchedEventOptions = {}): fc.Arbitrary<SchedEvent> {
  const at = fc.nat({ max: 1 << 16 });
  const weights = opts.weights ?? weightArb;
  const conn = opts.flows
    ? fc.record({ kind: fc.constant('conn' as const), active: fc.boolean(), flow: fc.nat({ max: 1 << 16 }) })
    : fc.record({ kind: fc.constant('conn' as const), active: fc.boolean() });
  const arbs: { arbitrary: fc.Arbitrary<SchedEvent>; weight: number }[] = [
    { arbitrary: conn, weight: 12 },
    { arbitrary: fc.record({ kind: fc.constant('close' as const), at, active: fc.boolean() }), weight: 4 },
    { arbitrary: fc.record({ kind: fc.constant('fin' as const), at }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('weight' as const), at, weight: weights }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('add' as const), weight: weights }), weight: 2 },
    { arbitrary: fc.record({ kind: fc.constant('remove' as const), at }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('overload' as const), at, on: fc.boolean() }), weight: 2 },
  ];
  if (opts.bigCounts) {
    arbs.push({
      arbitrary: fc.record({
        kind: fc.constant('counts' as const),
        at,
        active: fc.oneof(fc.nat({ max: 5 }), fc.integer({ min: 0, max: 500_000_000 })),
        inactive: fc.oneof(inactiveArb, fc.integer({ min: 0, max: 2_000_000_000 })),
      }),
      weight: 1,
    });
  }
  if (opts.time) {
    arbs.push({
      arbitrary: fc.record({
        kind: fc.constant('time' as const),
        ms: fc.oneof(fc.nat({ max: 1000 }), fc.integer({ min: 0, max: opts.time.maxMs })),
        tick: fc.boolean(),
      }),
      weight: 3,
    });
  }
  return fc.oneof(...arbs);
}

/**
 * Sets the harness flow from a `flow` number: daddr one of 8 (10.100.0.0-7, so lblc/lblcr see hits), saddr one of
 * 64 (192.0.2.0-63), sport one of 128 (1024..1151), proto TCP or UDP; different bits for each.
 */
export function applyFlow(h: SchedHarness<unknown>, flow: number): void {
  h.flow.daddr = (0x0a640000 + (flow & 7)) >>> 0;
  h.flow.saddr = (0xc0000200 + ((flow >>> 3) & 63)) >>> 0;
  h.flow.sport = 1024 + ((flow >>> 9) & 127);
  h.flow.proto = flow & 0x8000 ? 17 : 6;
}

/** Initial reals for property tests: 0..8 reals with random weights, counts and overload. */
export function realSpecsArb(maxReals = 8): fc.Arbitrary<RealSpec[]> {
  return fc.array(
    fc.record({ weight: weightArb, active: fc.nat({ max: 3 }), inactive: inactiveArb, overload: fc.boolean() }),
    { maxLength: maxReals },
  ).map((rs) => rs.map((r, i) => ({ ...r, addr: (ipv4ToInt('10.0.0.1') + i) >>> 0, overload: r.overload && i % 3 === 0 })));
}

export interface ReplayHooks {
  /** Called for each 'conn' event with the scheduler's pick (index or NO_REAL), before the conn is counted. */
  onPick(picked: number): void;
  /** Called before real `index` is removed, while it is still in the list. */
  beforeRemove?(index: number): void;
  /** Called after every configuration change (weight edit, add, remove: a new snapshot was applied). */
  afterConfig?(): void;
  /** Called after a 'time' event that ran the periodic hook. */
  afterTick?(): void;
}

/** Applies events to the harness in order; a picked conn is counted active or inactive as the event says. */
export function replay<S>(h: SchedHarness<S>, events: readonly SchedEvent[], hooks: ReplayHooks): void {
  let added = 0;
  for (const ev of events) {
    const n = h.reals.length;
    switch (ev.kind) {
      case 'conn': {
        if (ev.flow !== undefined) applyFlow(h as SchedHarness<unknown>, ev.flow);
        const picked = h.pick();
        hooks.onPick(picked);
        if (picked !== NO_REAL) h.openConn(picked, ev.active ? 'active' : 'inactive');
        break;
      }
      case 'time':
        h.nowMs += ev.ms;
        if (ev.tick) {
          h.tick();
          hooks.afterTick?.();
        }
        break;
      case 'add':
        h.addReal({ addr: (ipv4ToInt('10.1.0.0') + ++added) >>> 0, weight: ev.weight });
        hooks.afterConfig?.();
        break;
      default: {
        if (n === 0) break;
        const i = ev.at % n;
        if (ev.kind === 'close') h.closeConn(i, ev.active ? 'active' : 'inactive');
        else if (ev.kind === 'fin') h.deactivate(i);
        else if (ev.kind === 'weight') {
          h.setWeight(i, ev.weight);
          hooks.afterConfig?.();
        } else if (ev.kind === 'overload') h.setOverload(i, ev.on);
        else if (ev.kind === 'counts') h.setCounts(i, ev.active, ev.inactive);
        else {
          hooks.beforeRemove?.(i);
          h.removeReal(i);
          hooks.afterConfig?.();
        }
      }
    }
  }
}

/** What `assertReplayMatches` checks a scheduler against, made fresh for every generated case. */
export interface Reference {
  /** The expected pick for the harness' current state, as a real id (undefined = none). Called before each pick. */
  expect(): number | undefined;
  beforeRemove?(index: number): void;
  afterConfig?(): void;
  afterTick?(): void;
}

export interface ReplayCheckOptions {
  seed: number;
  numRuns?: number;
  maxEvents?: number;
  maxReals?: number;
  events?: SchedEventOptions;
  schedFlags?: number;
  /** Extra check on every pick (e.g. against a plain scan). */
  also?(h: SchedHarness<unknown>, picked: number): void;
}

/**
 * Property: over random initial services and random event sequences, every pick of `sched` names the real the
 * reference expects. The reference is asked *before* the pick (it must not see the pick's own effects).
 */
export function assertReplayMatches<S>(
  sched: Scheduler<S>,
  reference: (h: SchedHarness<S>) => Reference,
  opts: ReplayCheckOptions,
): void {
  fc.assert(
    fc.property(
      realSpecsArb(opts.maxReals),
      fc.array(schedEventArb(opts.events), { maxLength: opts.maxEvents ?? 120, size: 'max' }),
      (initial, events) => {
        const h = new SchedHarness(sched, initial, { schedFlags: opts.schedFlags });
        const ref = reference(h);
        let want: number | undefined;
        // The reference must answer for the state before the pick: intercept pick through onPick's caller.
        const pick = h.pick.bind(h);
        h.pick = (): number => {
          want = ref.expect();
          return pick();
        };
        replay(h, events, {
          onPick: (picked) => {
            const got = picked === NO_REAL ? undefined : h.reals[picked].id;
            if (got !== want) {
              throw new Error(`picked ${got} but the reference expects ${want} (reals ${JSON.stringify(h.model())})`);
            }
            opts.also?.(h as SchedHarness<unknown>, picked);
          },
          beforeRemove: (i) => ref.beforeRemove?.(i),
          afterConfig: () => ref.afterConfig?.(),
          afterTick: () => ref.afterTick?.(),
        });
      },
    ),
    { seed: opts.seed, numRuns: opts.numRuns ?? 300 },
  );
}
