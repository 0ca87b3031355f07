/**
 * Scheduler micro-benchmark: the cost of one pick() per registered scheduler at 8 / 64 / 512 reals.
 *
 * Run (Node 20 has no TypeScript loader and tsx is not installed, so compile first):
 *   npx tsc -p bench/tsconfig.json && node dist-bench/bench/sched.bench.js
 *   node dist-bench/bench/sched.bench.js --out bench/results/sched-$(date +%F).txt   # also write the report
 *
 * Cases are data (CASES); services are built outside the measured closure. Each measured call runs
 * PICKS_PER_CALL picks over varying flows, so timer overhead is amortised; ns/pick = call latency / PICKS_PER_CALL,
 * and p99 is the 99th percentile of those per-call means. Conn counts are random and stay fixed while measuring
 * (pick only reads them). Target (performance notes): ≤ 50 ns per pick at 512 reals for rr and wlc.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Bench } from 'tinybench';
import { SCHEDULERS } from '../src/sched/registry.js';
import type { FlowKey, SchedService, Scheduler, TableReal } from '../src/sched/scheduler.js';

interface Case {
  /** Registry name. */
  sched: string;
  reals: number;
  /** Share of reals with weight 0 (skipped by rr/wlc). */
  quiescent: number;
}

const REAL_COUNTS = [8, 64, 512];
const CASES: Case[] = Object.keys(SCHEDULERS).flatMap((sched) => REAL_COUNTS.map((reals) => ({ sched, reals, quiescent: 0 })));
const PICKS_PER_CALL = 1000;
const SEED = 0x5eed;

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
  const weight = Int32Array.from({ length: n }, () => (rnd() < c.quiescent ? 0 : 1 + Math.floor(rnd() * 100)));
  const addr = Uint32Array.from({ length: n }, (_, i) => (0x0a000001 + i) >>> 0);
  const port = new Uint16Array(n).fill(80);
  const table: TableReal[] = Array.from({ length: n }, (_, i) => ({ addr: addr[i], port: port[i], weight: weight[i], lastWeight: weight[i] || 1 }));
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
  const bench = new Bench({ name: 'sched pick()', time: 500, warmupTime: 200, throws: true });
  for (const c of CASES) {
    const sched = SCHEDULERS[c.sched];
    const svc = buildService(c, sched);
    const state = sched.init(svc, undefined);
    const flow: FlowKey = { proto: 6, saddr: 0xc0000201, sport: 1024, daddr: 0x0a640001, dport: 80 };
    let now = 0;
    bench.add(`${c.sched} ${c.reals}`, () => {
      let acc = 0;
      for (let k = 0; k < PICKS_PER_CALL; k++) {
        flow.saddr = (flow.saddr + 0x9e3779b1) >>> 0;
        flow.sport = (flow.sport + 1) & 0xffff;
        acc += sched.pick(svc, state, flow, now++);
      }
      sink += acc;
    });
  }
  await bench.run();

  const rows = bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') return { case: t.name, 'ns/pick mean': NaN, 'ns/pick p99': NaN, samples: 0 };
    const ns = (ms: number): number => Math.round(((ms * 1e6) / PICKS_PER_CALL) * 10) / 10;
    return { case: t.name, 'ns/pick mean': ns(r.latency.mean), 'ns/pick p99': ns(r.latency.p99), samples: r.latency.samplesCount };
  });

  const lines = [
    `# bench/sched.bench.ts  ${new Date().toISOString()}`,
    `# node ${process.version}  nproc ${os.availableParallelism()}  cpu ${_cpuModel()}  loadavg ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `# ${PICKS_PER_CALL} picks per measured call; ns/pick = call latency / ${PICKS_PER_CALL}; p99 over calls`,
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
