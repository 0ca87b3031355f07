/**
 * Naive reference schedulers, written straight from ipvs-semantics.md §2 and deliberately shaped unlike the
 * product code (plain objects, array filters, BigInt arithmetic, ids instead of indexes). Property tests replay
 * the same events against a product scheduler and an oracle and compare pick by pick.
 *
 * Every oracle reads a list of reals in IPVS list order (index 0 = newest added) and answers with a real id, or
 * undefined for "no real".
 *
 * The second half of the file keeps the kernel's plain O(n) scans over a SchedService (`wlcScan` etc., the shape
 * the product had before the LeastTree): property tests check product == scan == naive oracle at every pick.
 */
import type { LocalityParams } from '../../src/sched/locality.js';
import { RF_OVERLOAD, type FlowKey, type SchedService } from '../../src/sched/scheduler.js';

/** What an oracle needs to know about a real. */
export interface OracleReal {
  readonly id: number;
  readonly weight: number;
  readonly active: number;
  readonly inactive: number;
  readonly overload: boolean;
}

/** A real with its identity and lastWeight, for hashing and caching oracles. */
export interface FullOracleReal extends OracleReal {
  readonly addr: number;
  readonly port: number;
  readonly lastWeight: number;
}

/** §2.0: a scheduler may pick a real only if it is not quiescent (weight 0) and not overloaded. */
export function isEligible(r: OracleReal): boolean {
  return r.weight > 0 && !r.overload;
}

/** §2.0: overhead = activeconns * 256 + inactconns, exact. */
export function overhead(r: OracleReal): bigint {
  return BigInt(r.active) * 256n + BigInt(r.inactive);
}

/**
 * §2.1 rr. The state is "the last chosen real", or the list head before any pick. A pick walks the list starting
 * just after that real, wrapping around, and takes the first eligible real. When the pointed-at real is deleted
 * the pointer moves to the real before it in the list (or to the head if it was first).
 */
export class RrOracle {
  private pointer: number | 'head' = 'head';

  pick(list: readonly OracleReal[]): number | undefined {
    const start = this.pointer === 'head' ? 0 : list.findIndex((r) => r.id === this.pointer) + 1;
    const walk = [...list.slice(start), ...list.slice(0, start)];
    const chosen = walk.find(isEligible);
    if (chosen !== undefined) this.pointer = chosen.id;
    return chosen?.id;
  }

  /** Call with the list as it is *before* the real with `id` is removed. */
  beforeRemove(list: readonly OracleReal[], id: number): void {
    if (this.pointer !== id) return;
    const at = list.findIndex((r) => r.id === id);
    this.pointer = at <= 0 ? 'head' : list[at - 1].id;
  }
}

/**
 * §2.4 wlc: among eligible reals, the one with the smallest overhead/weight; the earliest in the list wins ties.
 * Ratios are compared exactly: c is minimal iff overhead(c) * w(d) <= overhead(d) * w(c) for every candidate d.
 */
export function wlcOracle(list: readonly OracleReal[]): number | undefined {
  const candidates = list.filter(isEligible);
  const minimal = candidates.filter((c) =>
    candidates.every((d) => overhead(c) * BigInt(d.weight) <= overhead(d) * BigInt(c.weight)),
  );
  return minimal[0]?.id;
}

/** The rr sequence over a fixed list from a fresh pointer: ids of `count` consecutive picks. */
export function rrSequence(list: readonly OracleReal[], count: number): (number | undefined)[] {
  const o = new RrOracle();
  return Array.from({ length: count }, () => o.pick(list));
}

// -------------------------------------------------------------------------------------------------------------
// Least-connection family (§2.3, §2.5-2.8): "the first real in the list among those with the best value".

/** The first element of `cands` that no other element beats (`beats(d, c)` = d strictly better than c). */
function _firstUnbeaten<T>(cands: readonly T[], beats: (d: T, c: T) => boolean): T | undefined {
  return cands.find((c) => !cands.some((d) => beats(d, c)));
}

/** §2.3 lc: eligible reals, least overhead (weights ignored), earliest on ties. */
export function lcOracle(list: readonly OracleReal[]): number | undefined {
  return _firstUnbeaten(list.filter(isEligible), (d, c) => overhead(d) < overhead(c))?.id;
}

/** §2.5 sed: eligible reals, least (active + 1) / weight, earliest on ties. */
export function sedOracle(list: readonly OracleReal[]): number | undefined {
  const delay = (r: OracleReal): bigint => BigInt(r.active) + 1n;
  return _firstUnbeaten(list.filter(isEligible), (d, c) => delay(d) * BigInt(c.weight) < delay(c) * BigInt(d.weight))?.id;
}

/** §2.6 nq: the first eligible real with no active conn; if none, sed's answer. */
export function nqOracle(list: readonly OracleReal[]): number | undefined {
  return list.find((r) => isEligible(r) && r.active === 0)?.id ?? sedOracle(list);
}

/** §2.7 fo: the eligible real with the highest weight, earliest on ties. */
export function foOracle(list: readonly OracleReal[]): number | undefined {
  const cands = list.filter(isEligible);
  const top = Math.max(...cands.map((r) => r.weight));
  return cands.find((r) => r.weight === top)?.id;
}

/** §2.8 ovf: eligible reals with active <= weight; the highest weight, earliest on ties. */
export function ovfOracle(list: readonly OracleReal[]): number | undefined {
  const cands = list.filter((r) => isEligible(r) && r.active <= r.weight);
  const top = Math.max(...cands.map((r) => r.weight));
  return cands.find((r) => r.weight === top)?.id;
}

// -------------------------------------------------------------------------------------------------------------
// §2.2 wrr

function _gcd(a: number, b: number): number {
  return b === 0 ? a : _gcd(b, a % b);
}

/**
 * §2.2 wrr, transcribed from the reference: cl (last chosen real or the head), di, mw, cw; the scan and its
 * give-up rules exactly as described there, visiting every real.
 */
export class WrrOracle {
  cl: number | 'head' = 'head';
  cw: number;
  mw = 0;
  di = 1;

  constructor(list: readonly OracleReal[]) {
    this.fit(list);
    this.cw = this.mw;
  }

  /** Any add/del/edit of a real: cl = head, recompute di and mw, re-fit cw. */
  destChanged(list: readonly OracleReal[]): void {
    this.cl = 'head';
    this.fit(list);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.floor(this.cw / this.di) * this.di + 1;
  }

  pick(list: readonly OracleReal[]): number | undefined {
    if (this.mw === 0) return undefined;
    const fromHead = this.cl === 'head';
    const last = fromHead ? -1 : list.findIndex((r) => r.id === this.cl);
    let stop: number | undefined;
    let lastPass = false;
    let restarted = false;
    let pos = last;
    for (;;) {
      for (pos++; pos < list.length; pos++) {
        const r = list[pos];
        if (!r.overload && r.weight >= this.cw) {
          this.cl = r.id;
          return r.id;
        }
        if (pos === stop) {
          this.cl = r.id;
          return undefined;
        }
      }
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        if (lastPass || fromHead) {
          this.cl = 'head';
          return undefined;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && !fromHead) stop = last;
      pos = -1;
    }
  }

  private fit(list: readonly OracleReal[]): void {
    const positive = list.map((r) => r.weight).filter((w) => w > 0);
    this.di = positive.reduce(_gcd, 0) || 1;
    this.mw = Math.max(0, ...list.map((r) => r.weight)) - (this.di - 1);
  }
}

// -------------------------------------------------------------------------------------------------------------
// Hashing: §2.12 dh, §2.13 sh, §2.14 / §6.2 mh. Tables are built from the reals sorted by (address, port).

/** Kernel hash_32(v, bits), with BigInt: top `bits` of (v * 0x61C88647) mod 2^32. */
export function kernelHash32(v: number, bits: number): number {
  return Number((((BigInt(v >>> 0) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits)));
}

function _sorted<T extends FullOracleReal>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => a.addr - b.addr || a.port - b.port);
}

function _available(r: OracleReal | undefined): boolean {
  return r !== undefined && r.weight > 0 && !r.overload;
}

/** §2.12 dh: bucket b holds sorted[b mod N]; bucket = hash_32(daddr, 8); unavailable → none. */
export function dhOracle(list: readonly FullOracleReal[], daddr: number): number | undefined {
  const sorted = _sorted(list);
  if (sorted.length === 0) return undefined;
  const r = sorted[kernelHash32(daddr, 8) % sorted.length];
  return _available(r) ? r.id : undefined;
}

/** §2.13 sh bucket table (ids): each sorted real fills max(1, weight) consecutive buckets, cycling, 256 in all. */
export function shOracleTable(list: readonly FullOracleReal[]): (number | undefined)[] {
  const sorted = _sorted(list);
  const buckets: (number | undefined)[] = [];
  while (sorted.length > 0 && buckets.length < 256) {
    for (const r of sorted) for (let k = 0; k < Math.max(1, r.weight) && buckets.length < 256; k++) buckets.push(r.id);
  }
  while (buckets.length < 256) buckets.push(undefined);
  return buckets;
}

const _PORT_PROTOS = [6, 17, 132];

/** §2.13 sh lookup with flags (fallback = 0x08, port = 0x10). */
export function shOracle(list: readonly FullOracleReal[], flow: FlowKey, flags: number): number | undefined {
  const table = shOracleTable(list);
  const byId = (id: number | undefined): FullOracleReal | undefined => list.find((r) => r.id === id);
  const port = flags & 0x10 && _PORT_PROTOS.includes(flow.proto) ? flow.sport : 0;
  const hashkey = (offset: number): number => (offset + kernelHash32((port + flow.saddr) % 2 ** 32, 8)) % 256;
  const ihash = hashkey(0);
  if (table[ihash] === undefined) return undefined;
  if (_available(byId(table[ihash]))) return table[ihash];
  if (!(flags & 0x08)) return undefined;
  for (let k = 0; k < 256; k++) {
    const id = table[hashkey((k + ihash) % 256)];
    if (id === undefined) return undefined;
    if (_available(byId(id))) return id;
  }
  return undefined;
}

/** MurmurHash3_x86_32 of a byte string, textbook byte-at-a-time form. */
export function murmur3(bytes: readonly number[], seed: number): number {
  const mul = (a: number, b: number): number => Number((BigInt(a >>> 0) * BigInt(b >>> 0)) & 0xffffffffn);
  const rotl = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;
  let h = seed >>> 0;
  const nblocks = Math.floor(bytes.length / 4);
  for (let b = 0; b < nblocks; b++) {
    let k = bytes[4 * b] | (bytes[4 * b + 1] << 8) | (bytes[4 * b + 2] << 16) | (bytes[4 * b + 3] << 24);
    k = mul(rotl(mul(k, 0xcc9e2d51), 15), 0x1b873593);
    h = rotl(h ^ k, 13);
    h = (mul(h, 5) + 0xe6546b64) >>> 0;
  }
  const tail = bytes.slice(4 * nblocks);
  if (tail.length > 0) {
    let k = 0;
    for (let t = tail.length - 1; t >= 0; t--) k = (k << 8) | tail[t];
    k = mul(rotl(mul(k, 0xcc9e2d51), 15), 0x1b873593);
    h = (h ^ k) >>> 0;
  }
  h = (h ^ bytes.length) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = mul(h, 0x85ebca6b);
  h = (h ^ (h >>> 13)) >>> 0;
  h = mul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** mh's frozen H: murmur3 of [addr LE32][port LE16] with the given seed. */
export function mhOracleHash(seed: number, addr: number, port: number): number {
  const a = addr >>> 0;
  return murmur3([a & 255, (a >>> 8) & 255, (a >>> 16) & 255, a >>> 24, port & 255, (port >>> 8) & 255], seed);
}

const MH_S1 = 2654435761;
const MH_S2 = 2654446892;

/**
 * §2.14 / §6.2 Maglev table of size m (ids), as the paper describes population (next[i] = 0; each backend in
 * turn takes its next free preferred slot, next[i]++), with IPVS's turns per backend and the sorted order.
 */
export function maglevOracleTable(list: readonly FullOracleReal[], m: number): (number | undefined)[] {
  const sorted = _sorted(list);
  const table: (number | undefined)[] = new Array<number | undefined>(m).fill(undefined);
  const positive = sorted.map((r) => r.lastWeight).filter((w) => w > 0);
  if (positive.length === 0) return table;
  const g = positive.reduce(_gcd);
  const bitlen = (x: number): number => x.toString(2).replace(/^0+/, '').length;
  const rshift = Math.max(0, bitlen(Math.floor(Math.max(...positive) / g)) - Math.floor(bitlen(m) / 2));
  const backends = sorted.map((r) => ({
    id: r.id,
    offset: mhOracleHash(MH_S1, r.addr, r.port) % m,
    skip: (mhOracleHash(MH_S2, r.addr, r.port) % (m - 1)) + 1,
    turns: Math.floor(Math.floor(r.lastWeight / g) / 2 ** rshift) || (r.lastWeight !== 0 ? 1 : 0),
    next: 0,
  }));
  let filled = 0;
  for (;;) {
    for (const b of backends) {
      for (let t = 0; t < b.turns; t++) {
        let slot = (b.offset + b.next * b.skip) % m;
        while (table[slot] !== undefined) {
          b.next++;
          slot = (b.offset + b.next * b.skip) % m;
        }
        table[slot] = b.id;
        b.next++;
        if (++filled === m) return table;
      }
    }
  }
}

/** §2.14 mh lookup in an oracle table with flags (fallback = 0x08, port = 0x10). */
export function mhOracleLookup(
  table: readonly (number | undefined)[],
  list: readonly FullOracleReal[],
  flow: FlowKey,
  flags: number,
): number | undefined {
  const m = table.length;
  const byId = (id: number | undefined): FullOracleReal | undefined => list.find((r) => r.id === id);
  const port = flags & 0x10 && _PORT_PROTOS.includes(flow.proto) ? flow.sport : 0;
  const ihash = mhOracleHash(MH_S1, flow.saddr, port) % m;
  if (table[ihash] === undefined) return undefined;
  if (_available(byId(table[ihash]))) return table[ihash];
  if (!(flags & 0x08)) return undefined;
  for (let k = 0; k < m; k++) {
    const roffset = (k + ihash) % m;
    const id = table[mhOracleHash((MH_S1 + roffset) % 2 ** 32, flow.saddr, port) % m];
    if (id === undefined) return undefined;
    if (_available(byId(id))) return id;
  }
  return undefined;
}

// -------------------------------------------------------------------------------------------------------------
// §2.10 lblc, §2.11 lblcr

const _ident = (r: { addr: number; port: number }): string => `${r.addr >>> 0}:${r.port}`;

/** The kernel's lblc/lblcr is_overloaded: more active conns than weight while some real is below half. */
function _lblcOverloaded(d: OracleReal, list: readonly OracleReal[]): boolean {
  return d.active > d.weight && list.some((m) => m.active * 2 < m.weight);
}

/** Cache expiry shared by the lblc and lblcr oracles: the kernel's periodic timer, runs at their due times. */
abstract class _ExpiringCache<E extends { lastuse: number }> {
  readonly cache = new Map<number, E>();
  private nextCheck: number | undefined;
  private counter = 1;
  private rover = 0;

  constructor(readonly params: LocalityParams) {}

  /** Runs the timer runs due by `now` (the first is due one interval after the first call). */
  timers(now: number): void {
    if (this.nextCheck === undefined) {
      this.nextCheck = now + this.params.checkIntervalMs;
      return;
    }
    while (now >= this.nextCheck) {
      this.expire(this.nextCheck);
      this.nextCheck += this.params.checkIntervalMs;
    }
  }

  private expire(t: number): void {
    const p = this.params;
    const inBucket = (j: number): [number, E][] => [...this.cache].filter(([daddr]) => kernelHash32(daddr, 10) === j);
    if (this.counter % p.fullExpirationCount === 0) {
      for (let j = 0; j < 1024; j++) {
        for (const [daddr, e] of inBucket(j)) if (t >= e.lastuse + p.expirationMs) this.cache.delete(daddr);
      }
      this.counter = 1;
      return;
    }
    if (this.cache.size <= p.maxSize) {
      this.counter++;
      return;
    }
    let goal = Math.min(Math.floor(((this.cache.size - p.maxSize) * 4) / 3), Math.floor(p.maxSize / 2));
    let j = this.rover;
    for (let i = 0; i < 1024; i++) {
      j = (j + 1) % 1024;
      for (const [daddr, e] of inBucket(j)) {
        if (t >= e.lastuse + p.entryTimeoutMs) {
          this.cache.delete(daddr);
          goal--;
        }
      }
      if (goal <= 0) break;
    }
    this.rover = j;
  }
}

/** §2.10 lblc: daddr → real identity (address:port) + lastuse. */
export class LblcOracle extends _ExpiringCache<{ dest: string; lastuse: number }> {
  pick(list: readonly FullOracleReal[], daddr: number, now: number): number | undefined {
    this.timers(now);
    const en = this.cache.get(daddr >>> 0);
    if (en !== undefined) {
      en.lastuse = now;
      const d = list.find((r) => _ident(r) === en.dest);
      if (d !== undefined && d.weight > 0 && !_lblcOverloaded(d, list)) return d.id;
    }
    const id = wlcOracle(list);
    if (id === undefined) return undefined;
    const dest = _ident(list.find((r) => r.id === id)!);
    if (en !== undefined) en.dest = dest;
    else this.cache.set(daddr >>> 0, { dest, lastuse: now });
    return id;
  }
}

/**
 * §2.11 lblcr: daddr → server set (identities, newest first) + lastuse + lastmod. `removed` holds reals taken out
 * of the service (last removal wins): set pruning weighs them with the weight and conns they had.
 */
export class LblcrOracle extends _ExpiringCache<{ set: string[]; lastuse: number; lastmod: number }> {
  pick(list: readonly FullOracleReal[], removed: readonly FullOracleReal[], daddr: number, now: number): number | undefined {
    this.timers(now);
    const en = this.cache.get(daddr >>> 0);
    const fresh = (): FullOracleReal | undefined => {
      const id = wlcOracle(list);
      return list.find((r) => r.id === id);
    };
    if (en === undefined) {
      const r = fresh();
      if (r !== undefined) this.cache.set(daddr >>> 0, { set: [_ident(r)], lastuse: now, lastmod: now });
      return r?.id;
    }
    en.lastuse = now;
    const current = (key: string): FullOracleReal | undefined => list.find((r) => _ident(r) === key);
    const members = en.set.map((key) => current(key)).filter((r): r is FullOracleReal => r !== undefined);
    const cands = members.filter(isEligible);
    const least = _firstUnbeaten(cands, (d, c) => overhead(d) * BigInt(c.weight) < overhead(c) * BigInt(d.weight));
    if (en.set.length > 1 && now > en.lastmod + this.params.expirationMs) {
      const weighed = en.set
        .map((key) => ({ key, r: current(key) ?? [...removed].reverse().find((g) => _ident(g) === key)! }))
        .filter((m) => m.r.weight > 0);
      const most = _firstUnbeaten(
        weighed,
        (d, c) => overhead(d.r) * BigInt(c.r.weight) > overhead(c.r) * BigInt(d.r.weight),
      );
      if (most !== undefined) {
        en.set = en.set.filter((key) => key !== most.key);
        en.lastmod = now;
      }
    }
    if (least !== undefined && !_lblcOverloaded(least, list)) return least.id;
    const r = fresh();
    if (r === undefined) return undefined;
    if (!en.set.includes(_ident(r))) {
      en.set.unshift(_ident(r));
      en.lastmod = now;
    }
    return r.id;
  }
}

// -------------------------------------------------------------------------------------------------------------
// The kernel's plain scans over a SchedService (what lc/wlc/sed/nq/fo/ovf did before the LeastTree). O(n).

function _ok(svc: SchedService, i: number): boolean {
  return svc.weight[i] > 0 && (svc.flags[i] & RF_OVERLOAD) === 0;
}

/** The wlc/sed loop: first eligible real, then replace on `loh * w(d) > doh * w(least)` (skipping OVERLOAD). */
function _weightedScan(svc: SchedService, oh: (s: number) => number): number {
  let least = -1;
  let loh = 0;
  for (let i = 0; i < svc.n; i++) {
    if ((svc.flags[i] & RF_OVERLOAD) !== 0) continue;
    const doh = oh(svc.slot[i]);
    if (least < 0) {
      if (svc.weight[i] > 0) {
        least = i;
        loh = doh;
      }
    } else if (loh * svc.weight[i] > doh * svc.weight[least]) {
      least = i;
      loh = doh;
    }
  }
  return least;
}

/** ip_vs_wlc_schedule's loop. */
export function wlcScan(svc: SchedService): number {
  return _weightedScan(svc, (s) => svc.active[s] * 256 + svc.inactive[s]);
}

/** ip_vs_sed_schedule's loop. */
export function sedScan(svc: SchedService): number {
  return _weightedScan(svc, (s) => svc.active[s] + 1);
}

/** ip_vs_lc_schedule's loop. */
export function lcScan(svc: SchedService): number {
  let least = -1;
  let loh = 0;
  for (let i = 0; i < svc.n; i++) {
    if (!_ok(svc, i)) continue;
    const doh = svc.active[svc.slot[i]] * 256 + svc.inactive[svc.slot[i]];
    if (least < 0 || doh < loh) {
      least = i;
      loh = doh;
    }
  }
  return least;
}

/** ip_vs_nq_schedule's loop. */
export function nqScan(svc: SchedService): number {
  let least = -1;
  let loh = 0;
  for (let i = 0; i < svc.n; i++) {
    if (!_ok(svc, i)) continue;
    const doh = svc.active[svc.slot[i]] + 1;
    if (svc.active[svc.slot[i]] === 0) return i;
    if (least < 0 || loh * svc.weight[i] > doh * svc.weight[least]) {
      least = i;
      loh = doh;
    }
  }
  return least;
}

/** ip_vs_fo_schedule's loop. */
export function foScan(svc: SchedService): number {
  let best = -1;
  let hw = 0;
  for (let i = 0; i < svc.n; i++) {
    if ((svc.flags[i] & RF_OVERLOAD) === 0 && svc.weight[i] > hw) {
      best = i;
      hw = svc.weight[i];
    }
  }
  return best;
}

/** ip_vs_ovf_schedule's loop. */
export function ovfScan(svc: SchedService): number {
  let best = -1;
  let hw = 0;
  for (let i = 0; i < svc.n; i++) {
    const w = svc.weight[i];
    if ((svc.flags[i] & RF_OVERLOAD) !== 0 || svc.active[svc.slot[i]] > w || w === 0) continue;
    if (best < 0 || w > hw) {
      best = i;
      hw = w;
    }
  }
  return best;
}
