/**
 * The pipeline fuzzer: two identical dataplanes (batch of one frame, injected clock) are fed the same seeded
 * stream of generated and mutated frames. What it checks, frame by frame:
 *  - no exception escapes the dataplane;
 *  - accounting: every frame has exactly one outcome — transmitted from its own ring slot (forwarded or
 *    answered, rewritten in place), parked for ARP resolution (`frames_held`), consumed as an ARP reply
 *    (`arp_replies_received`), or exactly one named drop counter (DROP_REASONS);
 *  - no out-of-bounds reads: in one dataplane the ring memory around the frame (headroom, the rest of the slot,
 *    Ethernet padding) is filled with one byte, in the other with its complement; a read past the frame's end
 *    makes the two behave differently, so every counter and every transmitted byte that carries meaning must be
 *    equal in both (a JS typed array read past the end of its buffer does not throw, hence this test);
 *  - every transmitted frame is well formed (checkTx: our MAC, IPv4 header, lengths within frame and MTU,
 *    TTL > 0, IP and L4 checksums).
 * Every 20 000 frames and at the end: the full counter blocks of both dataplanes are equal, finite, non-negative
 * integers; the conn table agrees with the active/inactive/persist counts. At the end the clock runs on until
 * every conn expired: the table, the counts, the held frames and the FULLNAT port pools are all back to empty.
 */
import { Dataplane } from '../../src/worker/dataplane.js';
import { CF_ACTIVE, CF_TEMPLATE } from '../../src/worker/conn-table.js';
import { C, COUNTERS, D, DROP_REASONS, F64_LEN, newStatsBuffer, statsViews, type StatsViews } from '../../src/worker/stats.js';
import { prng } from '../helpers/prng.js';
import { Gen } from './gen.js';
import { MUTATIONS, mutate } from './mutate.js';
import { DIR_MAC, HOSTS, LIP1, LIP2, MTU, buildSnapshots } from './world.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import { checkTx } from './wire.js';
import { FuzzIO, fnv, meaningful, vnetHeader } from './fuzz-io.js';

/** Counter region compared frame by frame: the header, every counter and every drop reason. */
const HEAD = C.rx_frames + COUNTERS.length + DROP_REASONS.length;
const D0 = D.rx_truncated;
const DN = D0 + DROP_REASONS.length;

export interface FuzzOptions {
  /** Workers and this dataplane's place among them (the last); conn table size; share of spoofed SYNs. */
  workers?: number;
  maxConns?: number;
  synFlood?: number;
  /**
   * TAP offloads: every frame comes with a virtio_net_hdr (mostly none; DATA_VALID; NEEDS_CSUM with a partial
   * checksum; TCPv4 GSO super-frames of up to 64 KiB with realistic and absurd segment sizes; garbage).
   */
  vnet?: boolean;
}

export interface FuzzResult {
  seed: number;
  frames: number;
  ms: number;
  exceptions: number;
  /** The first example of each kind of failure, and how often each kind occurred. */
  failures: string[];
  failureKinds?: Record<string, number>;
  /** Dataplane A's non-zero event counters at the end (what the run reached). */
  counters?: Record<string, number>;
  /** Frames per outcome: transmitted, held, ARP reply consumed, and per drop reason. */
  outcomes: Record<string, number>;
  mutations: Record<string, number>;
  txFrames: number;
  conns: { created: number; peak: number };
}

export class Fuzzer {
  private readonly ioA = new FuzzIO();
  private readonly ioB = new FuzzIO();
  private readonly stA: StatsViews = statsViews(newStatsBuffer());
  private readonly stB: StatsViews = statsViews(newStatsBuffer());
  private readonly before = new Float64Array(HEAD);
  private readonly pendingArp: Uint8Array[] = [];
  private readonly res: FuzzResult;
  private clock = 1_000_000;
  private peak = 0;
  /** Held frames the timers dropped (their neighbour never answered). */
  private holdDropped = 0;
  private heldFromSlot = 0;
  private originatedDrops = 0;
  private a!: Dataplane;
  private b!: Dataplane;
  private gen!: Gen;
  private readonly frame = { i: 0, kind: '' };

  constructor(readonly seed: number, private readonly opts: FuzzOptions = {}) {
    this.res = { seed, frames: 0, ms: 0, exceptions: 0, failures: [], outcomes: {}, mutations: {}, txFrames: 0, conns: { created: 0, peak: 0 } };
  }

  private snaps: Snapshot[] = [];

  async setup(): Promise<void> {
    this.snaps = await buildSnapshots();
    const snap = this.snaps[0]!;
    const mk = (io: FuzzIO, stats: StatsViews) =>
      new Dataplane({
        io, stats, batch: 1, maxConns: this.opts.maxConns ?? 2048, now: () => this.clock, workers: this.opts.workers ?? 1,
        workerId: (this.opts.workers ?? 1) - 1, vnet: this.opts.vnet === true,
      });
    this.a = mk(this.ioA, this.stA);
    this.b = mk(this.ioB, this.stB);
    this.ioA.txN = this.ioB.txN = 0;
    this.a.applySnapshot(snap);
    this.b.applySnapshot(snap);
    // Frames the worker originates (ICMP errors, ARP, fragments) may be parked too: count only a frame parked from
    // the rx slot as that frame's outcome.
    const link = this.a.link as unknown as { hold(base: number, len: number, n: number, now: number): boolean };
    const hold = link.hold;
    const slotSize = this.a.slotSize;
    link.hold = (base, len, n, now) => {
      const ok = hold.call(link, base, len, n, now);
      if (ok && base < slotSize) this.heldFromSlot++;
      return ok;
    };
    // Likewise a frame the worker originates may be dropped (its neighbour's hold queue full): that drop is the
    // originated frame's, not the received frame's.
    const out = this.a.link as unknown as { output(base: number, len: number, dst: number): boolean };
    const output = out.output;
    const f = this.stA.f64;
    out.output = (base, len, dst) => {
      if (base < slotSize) return output.call(out, base, len, dst);
      let before = 0;
      for (let k = D0; k < DN; k++) before += f[k]!;
      const ok = output.call(out, base, len, dst);
      for (let k = D0; k < DN; k++) before -= f[k]!;
      this.originatedDrops -= before;
      return ok;
    };
    this.gen = new Gen(prng(this.seed), this.a.conns);
    this.gen.synFlood = this.opts.synFlood ?? 0;
    this.tick(0);
  }

  /** Failure kinds seen (the message with its numbers blanked) → how often. */
  private readonly kinds = new Map<string, number>();

  private fail(msg: string): void {
    const kind = msg.replace(/\d+/g, '#').slice(0, 90);
    const seen = this.kinds.get(kind) ?? 0;
    this.kinds.set(kind, seen + 1);
    if (seen === 0 && this.res.failures.length < 40) {
      const g = this.gen.w;
      const hex = Buffer.from(g.b.subarray(0, Math.min(g.len, 128))).toString('hex');
      this.res.failures.push(`seed ${this.seed} frame #${this.frame.i} (${this.frame.kind}, ${g.len} bytes ${hex}): ${msg}`);
    }
  }

  /** Advances the clock by `ms` and runs both dataplanes' timers. */
  private tick(ms: number): void {
    const f = this.stA.f64;
    let dropsBefore = 0;
    for (let k = D0; k < DN; k++) dropsBefore += f[k]!;
    const unresolved = f[D.neigh_unresolved]!;
    this.clock += ms;
    this.ioA.txN = this.ioB.txN = 0;
    this.a.tick();
    this.b.tick();
    let drops = -dropsBefore;
    for (let k = D0; k < DN; k++) drops += f[k]!;
    const expired = f[D.neigh_unresolved]! - unresolved;
    if (drops !== expired) this.fail(`timers dropped ${drops} frames, ${expired} of them held frames`);
    this.holdDropped += expired;
    this.answerArp();
  }

  /** Queues ARP replies from the site's hosts to the requests dataplane A just sent (most of them). */
  private answerArp(): void {
    const u8 = this.a.u8;
    for (let i = 0; i < this.ioA.txN; i++) {
      const o = this.ioA.txOff[i]!;
      if (this.ioA.txLen[i]! < 42 || u8[o + 12] !== 0x08 || u8[o + 13] !== 0x06 || u8[o + 21] !== 1) continue;
      const target = ((u8[o + 38]! << 24) | (u8[o + 39]! << 16) | (u8[o + 40]! << 8) | u8[o + 41]!) >>> 0;
      const mac = HOSTS.get(target);
      if (!mac || this.gen.chance(0.1)) continue;
      const r = new Uint8Array(60);
      r.set(DIR_MAC, 0);
      r.set(mac, 6);
      r.set([0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2], 12);
      r.set(mac, 22);
      r.set(u8.subarray(o + 38, o + 42), 28);
      r.set(DIR_MAC, 32);
      r.set(u8.subarray(o + 28, o + 32), 38);
      this.pendingArp.push(r);
    }
  }

  /** Feeds the frame in gen.w to both dataplanes and checks the outcome. */
  private feed(): void {
    const w = this.gen.w;
    const len = w.len;
    const clean = meaningful(w.b, len);
    const poison = this.gen.int(256);
    const a = this.a;
    const f = this.stA.f64;
    this.before.set(f.subarray(0, HEAD));
    const vh = this.opts.vnet ? this.vnetHeader() : null;
    this.ioA.load(w.b, len, clean, poison, vh);
    this.ioB.load(w.b, len, clean, poison ^ 0xff, vh);
    this.ioA.txN = this.ioB.txN = 0;
    this.heldFromSlot = 0;
    this.originatedDrops = 0;
    for (const dp of [a, this.b]) {
      try {
        dp.step();
      } catch (err) {
        this.res.exceptions++;
        this.fail(`exception: ${(err as Error).stack ?? String(err)}`);
      }
    }
    this.res.frames++;
    // Outcome accounting.
    let drops = 0;
    let reason = '';
    for (let k = D0; k < DN; k++) {
      const d = f[k]! - this.before[k]!;
      if (d !== 0) {
        drops += d;
        reason = DROP_REASONS[k - D0]!;
      }
    }
    drops -= this.originatedDrops;
    const held = this.heldFromSlot;
    const arpIn = f[C.arp_replies_received]! - this.before[C.arp_replies_received]!;
    let fromSlot = 0;
    const slotEnd = a.slotSize;
    const v = a.vnet;
    // Checksums the kernel vouched for (DATA_VALID) or left to complete (NEEDS_CSUM, with the partial sum it wrote)
    // are not verified: garbage there leaves as garbage, as through any router with offloads.
    const trusted = vh !== null && (vh[0]! & 3) !== 0;
    for (let i = 0; i < this.ioA.txN; i++) {
      const off = this.ioA.txOff[i]! + v;
      const tlen = this.ioA.txLen[i]! - v;
      if (off < slotEnd) fromSlot++;
      const gso = v !== 0 && a.u8[off - v + 1] !== 0;
      const chk = checkTx(a.u8, a.dv, off, tlen, DIR_MAC, MTU, { gso, l4: trusted });
      if (chk.problem) this.fail(`transmitted frame ${i} (${tlen} bytes at ${off}${gso ? ', GSO' : ''}): ${chk.problem}`);
    }
    this.res.txFrames += this.ioA.txN;
    const outcomes = drops + held + arpIn + fromSlot;
    // A GSO super-frame cut into segments has one outcome per segment.
    const segmented = f[C.gso_segmented]! > this.before[C.gso_segmented]!;
    if (segmented) {
      if (drops + this.ioA.txN < 1) this.fail('segmented GSO frame: no segment sent or dropped');
    } else if (outcomes !== 1) {
      this.fail(`${outcomes} outcomes: drops ${drops} (${reason}), held ${held}, ARP reply ${arpIn}, sent from its slot ${fromSlot}`);
    }
    const key = segmented ? 'gso_segmented' : drops === 1 ? reason : held ? 'held' : arpIn ? 'arp_reply_consumed' : fromSlot ? 'transmitted' : 'none';
    this.res.outcomes[key] = (this.res.outcomes[key] ?? 0) + 1;
    this.compare();
    this.answerArp();
  }

  /** The two dataplanes saw different bytes around the frame: nothing they did may differ. */
  private compare(): void {
    const fa = this.stA.f64;
    const fb = this.stB.f64;
    for (let k = 0; k < HEAD; k++) {
      if (fa[k] !== fb[k]) {
        this.fail(`poisoned twin differs in ${k >= D0 ? DROP_REASONS[k - D0] : k >= C.rx_frames ? COUNTERS[k - C.rx_frames] : `header ${k}`}: ${fa[k]} vs ${fb[k]} (a read past the frame)`);
        fb.set(fa.subarray(0, HEAD)); // one report per divergence
        return;
      }
    }
    const ia = this.ioA;
    const ib = this.ioB;
    if (ia.txN !== ib.txN) {
      this.fail(`poisoned twin sent ${ib.txN} frames, not ${ia.txN} (a read past the frame)`);
      return;
    }
    const v = this.a.vnet;
    for (let i = 0; i < ia.txN; i++) {
      const la = ia.txLen[i]! - v;
      const oa = ia.txOff[i]! + v;
      const ob = ib.txOff[i]! + v;
      const ma = v + meaningful(this.a.u8.subarray(oa), la);
      const mb = v + meaningful(this.b.u8.subarray(ob), ib.txLen[i]! - v);
      if (la + v !== ib.txLen[i] || ma !== mb || fnv(this.a.u8, oa - v, ma, 2166136261) !== fnv(this.b.u8, ob - v, mb, 2166136261)) {
        this.fail(`poisoned twin sent different bytes in frame ${i} (a read past the frame)`);
        return;
      }
    }
  }

  /** Full-state checks: both counter blocks equal and sane; the conn table agrees with the per-real counts. */
  private deep(where: string): void {
    const fa = this.stA.f64;
    const fb = this.stB.f64;
    for (let k = 0; k < F64_LEN; k++) {
      const v = fa[k]!;
      if (!Number.isInteger(v) || v < 0) this.fail(`${where}: counter slot ${k} is ${v}`);
      if (v !== fb[k]) {
        this.fail(`${where}: poisoned twin differs in counter slot ${k}: ${v} vs ${fb[k]}`);
        break;
      }
    }
    const t = this.a.conns;
    const act = new Map<number, number>();
    const inact = new Map<number, number>();
    const tpl = new Map<number, number>();
    let n = 0;
    t.forEach((c) => {
      n++;
      if (!Number.isFinite(t.expires[c]!)) this.fail(`${where}: conn ${c} expires at ${t.expires[c]}`);
      const r = t.real[c]!;
      const m = t.flags[c]! & CF_TEMPLATE ? tpl : t.flags[c]! & CF_ACTIVE ? act : inact;
      m.set(r, (m.get(r) ?? 0) + 1);
    });
    if (n !== t.count) this.fail(`${where}: ${n} conns on the wheel, count says ${t.count}`);
    this.peak = Math.max(this.peak, n);
    for (let r = 0; r < this.stA.active.length; r++) {
      const want = [act.get(r) ?? 0, inact.get(r) ?? 0, tpl.get(r) ?? 0];
      const have = [this.stA.active[r]!, this.stA.inactive[r]!, this.stA.persist[r]!];
      if (want.some((x, i) => x !== have[i])) this.fail(`${where}: real slot ${r} counts ${have} but the table holds ${want}`);
    }
  }

  private readonly vh = new Uint8Array(10);

  private vnetHeader(): Uint8Array {
    return vnetHeader(this.gen, this.vh);
  }

  private nextFrame(sweep: Uint8Array | null, cut: number): string {
    const g = this.gen;
    const w = g.w;
    if (sweep) {
      w.b.set(sweep);
      w.len = cut;
      return 'truncation sweep';
    }
    if (this.pendingArp.length > 0) {
      const r = this.pendingArp.shift()!;
      w.b.set(r);
      w.len = r.length;
      w.l3 = -1;
      return 'ARP reply';
    }
    if (this.opts.vnet && g.chance(0.05)) {
      g.bigTcp();
      return 'big TCP segment';
    }
    g.next();
    if (g.chance(0.4)) {
      const k = mutate(g);
      this.res.mutations[MUTATIONS[k]!] = (this.res.mutations[MUTATIONS[k]!] ?? 0) + 1;
      return `mutated: ${MUTATIONS[k]}`;
    }
    return 'generated';
  }

  /** Runs `frames` frames (the first few thousand are truncation sweeps of generated frames), then drains. */
  run(frames: number): FuzzResult {
    const t0 = performance.now();
    const g = this.gen;
    let i = 0;
    const sweepEvery = 25_000;
    while (i < frames) {
      // Every so often: one generated frame cut at every length from 0 to its full size.
      if (i % sweepEvery === 0 && i + 10_000 < frames) {
        g.next();
        const tpl = g.w.b.slice(0, g.w.len);
        for (let cut = 0; cut <= tpl.length && i < frames; cut++, i++) {
          this.frame.i = i;
          this.frame.kind = this.nextFrame(tpl, cut);
          this.feed();
        }
        continue;
      }
      this.frame.i = i;
      this.frame.kind = this.nextFrame(null, 0);
      this.feed();
      i++;
      if ((i & 63) === 0) this.tick(g.chance(0.02) ? 1000 + g.int(20_000) : g.int(60));
      if (i % 20_000 === 0) this.deep(`after ${i} frames`);
      if (i % 50_000 === 0) {
        // Configuration changes between batches, in a cycle: base → reals removed → some back → removed → base.
        const snap = this.snaps[[0, 1, 2, 1][(i / 50_000) % 4]!]!;
        this.ioA.txN = this.ioB.txN = 0;
        this.a.applySnapshot(snap);
        this.b.applySnapshot(snap);
        this.answerArp();
      }
    }
    this.deep('end of run');
    this.drain();
    this.res.ms = Math.round(performance.now() - t0);
    this.res.txFrames = this.res.txFrames;
    this.res.conns = { created: this.stA.f64[C.conns_created]!, peak: this.peak };
    this.res.failureKinds = Object.fromEntries(this.kinds);
    this.res.counters = Object.fromEntries(COUNTERS.map((n) => [n, this.stA.f64[C[n]]!]).filter(([, v]) => v !== 0));
    return this.res;
  }

  /** Runs the clock until every conn and template expired; everything must be back to empty. */
  private drain(): void {
    for (let k = 0; k < 200 && this.a.conns.count > 0; k++) this.tick(60_000);
    this.tick(400_000); // FULLNAT port quarantine, ARP hold expiry
    this.pendingArp.length = 0;
    this.deep('drained');
    const t = this.a.conns;
    if (t.count !== 0) this.fail(`drained: ${t.count} conns left`);
    const st = this.stA;
    for (let r = 0; r < st.active.length; r++) {
      if (st.active[r] || st.inactive[r] || st.persist[r]) this.fail(`drained: real slot ${r} still counts ${st.active[r]}/${st.inactive[r]}/${st.persist[r]}`);
    }
    const held = (this.a.link as unknown as { heldFrames: number }).heldFrames;
    if (held !== 0) this.fail(`drained: ${held} frames still held`);
    const f = st.f64;
    // Every held frame was released or dropped by the timers (counted as neigh_unresolved then).
    if (f[C.frames_held] !== f[C.frames_released]! + this.holdDropped) {
      this.fail(`drained: ${f[C.frames_held]} frames held, ${f[C.frames_released]} released, ${this.holdDropped} expired`);
    }
    const pools = (this.a as unknown as { life: { laddrs: { freePorts(p: number, a: number): number } } }).life.laddrs;
    const ports = 100 / (this.opts.workers ?? 1);
    for (const [proto, lip] of [[6, LIP1], [6, LIP2], [17, LIP1]] as const) {
      const free = pools.freePorts(proto, lip | 0);
      if (Math.abs(free - ports) > 1) this.fail(`drained: ${free} of ${ports} local ports of ${lip >>> 0}/${proto} free`);
    }
  }
}

/** Sets up and runs one fuzz run. */
export async function fuzz(seed: number, frames: number, opts: FuzzOptions = {}): Promise<FuzzResult> {
  const f = new Fuzzer(seed, opts);
  await f.setup();
  return f.run(frames);
}
