/**
 * Scheduler micro-benchmark: the cost of one pick() per registered scheduler at 8 / 64 / 512 reals.
 *
 * Run (Node 20 has no TypeScript loader and tsx is not installed, so compile first):
 *   npm run bench                                        # = tsc -p bench/tsconfig.json && node dist-bench/bench/sched.bench.js
 *   npm run bench -- --out bench/results/sched-$(date +%F).txt    # also write the report
 *
 * Cases are data (CASES); services are built outside the measured closure. Each measured call runs
 * PICKS_PER_CALL picks over varying flows, so timer overhead is amortised; ns/pick = call latency / PICKS_PER_CALL,
 * and p99 is the 99th percentile of those per-call means. Two modes per case:
 * - `pick`: pick() alone. Conn counts are random (active 0..999, inactive 0..9999) and stay fixed (pick only
 *   reads them), as the kernel-style scan saw them.
 * - `pick+conn`: what a worker pays per new conn: pick(), then the new conn counted (inactive++ and
 *   countsChanged on the picked real) and an older one closed on another real (inactive-- and countsChanged),
 *   so counts stay stationary and the least-connection indexes really move.
 * Weights are 1..100. sh/dh/mh flows vary the source address and port; lblc/lblcr flows go 90% to 256 hot
 * destinations and 10% to a pool of 65536 (hits, misses and inserts), and their periodic `tick` runs before
 * each measured call (as the worker's timer pass would, off the clock); the clock advances 1 ms per pick, so
 * cache expiry runs inside the measurement.
 * All cases dispatch through one call site, as the worker does (see the warm-up in main()).
 * Targets (issue 5): <= 50 ns per pick at 512 reals for rr, wrr, wlc, sh, dh, mh; <= 200 ns for lblc, lblcr.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Bench } from 'tinybench';
import { SCHEDULERS } from '../src/sched/registry.js';
import type { FlowKey, SchedService, Scheduler, TableReal } from '../src/sched/scheduler.js';

type Mode = 'pick' | 'pick+conn';

interface Case {
  /** Registry name. */
  sched: string;
  reals: number;
  mode: Mode;
}

const REAL_COUNTS = [8, 64, 512];
const MODES: Mode[] = ['pick', 'pick+conn'];
const CASES: Case[] = Object.keys(SCHEDULERS).flatMap((sched) =>
  REAL_COUNTS.flatMap((reals) => MODES.map((mode) => ({ sched, reals, mode }))),
);
const PICKS_PER_CALL = 1000;
const SEED = 0x5eed;
/** lblc/lblcr destinations: 256 hot ones get 90% of the new conns. */
const HOT_DESTS = 256;
const COLD_DESTS = 65536;

/** mulberry32: the same services on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function buildService(c: Case, sched: Scheduler): SchedService {
  const rnd = prng(SEED + c.reals);
  const n = c.reals;
  const weight = Int32Array.from({ length: n }, () => 1 + Math.floor(rnd() * 100));
  const addr = Uint32Array.from({ length: n }, (_, i) => (0x0a000001 + i) >>> 0);
  const port = new Uint16Array(n).fill(80);
  const table: TableReal[] = Array.from({ length: n }, (_, i) => ({ addr: addr[i], port: port[i], weight: weight[i], lastWeight: weight[i] }));
  // Slots are a permutation of a larger slot space, as in a worker with several services.
  const slot = Int32Array.from({ length: n }, (_, i) => (i * 7 + 3) % (n * 8));
  return {
    n,
    slot,
    weight,
    lastWeight: Int32Array.from(table, (r) => r.lastWeight),
    flags: new Uint8Array(n),
    active: Int32Array.from({ length: n * 8 }, () => Math.floor(rnd() * 1000)),
    inactive: Int32Array.from({ length: n * 8 }, () => Math.floor(rnd() * 10000)),
    addr,
    port,
    schedFlags: 0,
    table: sched.buildTable ? sched.buildTable(table, 0) : null,
    realsKey: `bench-${n}`,
  };
}

let sink = 0;

async function main(): Promise<void> {
  const bench = new Bench({ name: 'sched pick()', time: 250, warmupTime: 100, throws: true });
  const closures: (() => void)[] = [];
  for (const c of CASES) {
    const sched = SCHEDULERS[c.sched];
    const svc = buildService(c, sched);
    const state = sched.init(svc, undefined);
    const flow: FlowKey = { proto: 6, saddr: 0xc0000201, sport: 1024, daddr: 0x0a640001, dport: 80 };
    const rnd = prng(SEED ^ c.reals);
    // Destination sequence for lblc/lblcr (precomputed: no PRNG on the clock).
    const dests = Uint32Array.from({ length: 1 << 16 }, () =>
      rnd() < 0.9 ? 0x0a640000 + Math.floor(rnd() * HOT_DESTS) : 0x0b000000 + Math.floor(rnd() * COLD_DESTS),
    );
    let now = 0;
    let k = 0;
    const tick = sched.tick;
    const countsChanged = sched.countsChanged;
    const withConn = c.mode === 'pick+conn';
    const run = (): void => {
      let acc = 0;
      for (let p = 0; p < PICKS_PER_CALL; p++) {
        k = (k + 1) & 0xffff;
        flow.saddr = (flow.saddr + 0x9e3779b1) >>> 0;
        flow.sport = (flow.sport + 1) & 0xffff;
        flow.daddr = dests[k];
        const i = sched.pick(svc, state, flow, now++);
        acc += i;
        if (withConn && i >= 0) {
          svc.inactive[svc.slot[i]]++;
          if (countsChanged !== undefined) countsChanged(svc, state, i);
          // Close a conn on a real chosen by the flow hash (one that has some).
          const j = (flow.saddr >>> 7) % svc.n;
          const s = svc.slot[j];
          if (svc.inactive[s] > 0) {
            svc.inactive[s]--;
            if (countsChanged !== undefined) countsChanged(svc, state, j);
          }
        }
      }
      sink += acc;
    };
    closures.push(run);
    bench.add(`${c.sched} ${c.reals} ${c.mode}`, run, tick === undefined ? {} : { beforeEach: () => tick(svc, state, now) });
  }
  // Every task's closure shares one `sched.pick` call site, as the worker's `svc.sched.pick` is shared by all
  // services: call each once first, so every case is measured with the same (megamorphic) dispatch instead of
  // the first ones profiting from a site that has seen only their scheduler.
  for (const fn of closures) fn();
  await bench.run();

  const rows = bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') return { case: t.name, 'ns/op mean': NaN, 'ns/op p99': NaN, samples: 0 };
    const ns = (ms: number): number => Math.round(((ms * 1e6) / PICKS_PER_CALL) * 10) / 10;
    return { case: t.name, 'ns/op mean': ns(r.latency.mean), 'ns/op p99': ns(r.latency.p99), samples: r.latency.samplesCount };
  });

  const lines = [
    `# bench/sched.bench.ts  ${new Date().toISOString()}`,
    `# node ${process.version}  ${os.type()} ${os.release()} ${os.arch()}  nproc ${os.availableParallelism()}  cpu ${_cpuModel()}  mem ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    `# loadavg at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `# ${PICKS_PER_CALL} picks per measured call; ns/op = call latency / ${PICKS_PER_CALL}; p99 over calls`,
    `# pick = pick() alone; pick+conn = pick() + the new conn counted + one conn closed elsewhere (2 countsChanged)`,
    _table(rows),
    `# sink ${sink}`,
  ];
  const report = lines.join('\n');
  console.log(report);
  const outAt = process.argv.indexOf('--out');
  if (outAt > 0 && process.argv[outAt + 1]) writeFileSync(process.argv[outAt + 1], report + '\n');
}

function _cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function _table(rows: Record<string, string | number>[]): string {
  const cols = Object.keys(rows[0] ?? {});
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const fmt = (cells: string[]): string => cells.map((s, i) => (i === 0 ? s.padEnd(width[i]) : s.padStart(width[i]))).join('  ');
  return [fmt(cols), fmt(width.map((w) => '-'.repeat(w))), ...rows.map((r) => fmt(cols.map((c) => String(r[c]))))].join('\n');
}

await main();
