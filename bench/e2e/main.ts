/**
 * The end-to-end benchmark suite (root, network namespaces): every load balancer variant of lbs.ts in a fresh
 * test bed, the cases of cases.ts through it, then tables, ratios to the baselines, JSON and SVG charts
 * (report.ts). Run it with `npm run bench:e2e` (bench/e2e.sh: root check, tools, the machine-wide lock).
 *
 *   node dist-bench/bench/e2e/main.js [--quick | --targets] [--seconds N] [--flows 1,16,1024] [--workers 1,2]
 *        [--cases pps,bulk,cps,latency] [--only ID[,ID...]] [--repeat N] [--out DIR] [--prefix P]
 *   --repeat    run every pps and cps measurement N times and keep the median (all rates in `runs`)
 *   --targets   only the paths and cases of issue 7's targets, 16 flows, --repeat 3, into bench/results/e2e-targets
 *   --only      variant ids or id prefixes: kernel-fwd, nft-dnat, tapfwd-1q, tapfwd-2q, tapvs-nat-1w, tapvs-tun, ...
 *   TAPVS_ARGS  extra flags for every `tapvs run` (e.g. TAPVS_ARGS="--batch 128"), recorded in the results
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Bed, ROOT, killAll, sh, type Tools } from './bed.js';
import { bulk, cps, latency, pps } from './cases.js';
import { allLbs, type CaseName, type Lb } from './lbs.js';
import { machine, writeResults, type Results } from './report.js';

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    targets: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    flows: { type: 'string' },
    workers: { type: 'string', default: '1,2' },
    repeat: { type: 'string' },
    cases: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
    prefix: { type: 'string', default: 'tvbe' },
  },
});
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
// --targets: only what issue 7's targets compare (16 flows), every rate the median of 3 runs.
if (opt.targets) {
  opt.only ??= 'nft-dnat,tapfwd,tapvs-nat';
  opt.cases ??= 'pps,bulk,cps';
  opt.flows ??= '16';
  opt.repeat ??= '3';
  opt.out ??= join(ROOT, 'bench/results/e2e-targets');
}
// A full run writes the committed results; a partial one (--quick, or any selection) a dated, git-ignored folder.
const partial = opt.quick || [opt.only, opt.cases, opt.flows, opt.repeat, opt.seconds].some((v) => v !== undefined) || opt.workers !== '1,2';
opt.out ??= partial ? join(ROOT, 'bench/results/e2e-runs', new Date().toISOString().replace(/[:.]/g, '-')) : join(ROOT, 'bench/results/e2e');
opt.cases ??= 'pps,bulk,cps,latency';
opt.repeat ??= '1';
const SECS = Number(opt.seconds ?? (opt.quick ? 1 : 3));
const FLOWS = list(opt.flows ?? (opt.quick ? '16' : '1,16,1024')).map(Number);
const WORKERS = list(opt.workers!).map(Number);
const CASES = list(opt.cases!) as CaseName[];
const REPEAT = Number(opt.repeat);
const TAPVS_ARGS = (process.env.TAPVS_ARGS ?? '').split(/\s+/).filter(Boolean);
for (const [name, ok] of [['--seconds', SECS > 0 && SECS <= 60], ['--flows', FLOWS.every((f) => f >= 1 && f <= 4096)],
  ['--workers', WORKERS.every((w) => w >= 1 && w <= 16)], ['--cases', CASES.every((c) => ['pps', 'bulk', 'cps', 'latency'].includes(c))],
  ['--prefix', /^[a-z][a-z0-9]{0,5}$/.test(opt.prefix!)], ['--repeat', Number.isInteger(REPEAT) && REPEAT >= 1 && REPEAT <= 9]] as const) {
  if (!ok) {
    console.error(`bench:e2e: bad ${name} (see the usage at the top of bench/e2e/main.ts)`);
    process.exit(2);
  }
}
if (process.getuid?.() !== 0) {
  console.error('bench:e2e: needs root (network namespaces, TAP devices)');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'tapvs-e2e-bench-'));
const which = (cmd: string) => {
  try {
    return sh('bash', ['-c', `command -v ${cmd}`]).trim() || null;
  } catch {
    return null;
  }
};
function buildTools(): Tools {
  const out = (n: string) => join(work, n);
  for (const n of ['udpflood', 'tapfwd', 'minihttpd']) sh('cc', ['-O2', '-pthread', '-o', out(n), join(ROOT, 'bench', `${n}.c`)], 60_000);
  return { udpflood: out('udpflood'), tapfwd: out('tapfwd'), minihttpd: out('minihttpd'), iperf3: which('iperf3'), wrk: which('wrk'), nft: which('nft') };
}

let bed: Bed | null = null;
function teardownNow(): void {
  killAll();
  try {
    execFileSync('bash', [join(ROOT, 'scripts/testbed.sh'), 'down', opt.prefix!], { stdio: 'ignore', timeout: 10_000 });
  } catch { /* best effort on the way out */ }
  rmSync(work, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nbench:e2e: ${sig}, cleaning up`);
    teardownNow();
    process.exit(130);
  });
}
process.on('exit', () => {
  if (bed) teardownNow();
});

const tools = buildTools();
const missing = { iperf3: 'bulk', wrk: 'cps', nft: 'nft-dnat' } as const;
for (const [tool, what] of Object.entries(missing)) {
  if (!tools[tool as keyof typeof missing]) console.error(`bench:e2e: ${tool} not found, ${what} skipped (as root: apt-get install -y ${tool === 'nft' ? 'nftables' : tool})`);
}

const lbs = allLbs(WORKERS, TAPVS_ARGS).filter((lb) => !opt.only || list(opt.only).some((p) => lb.id.startsWith(p)));
const casesOf = (lb: Lb) => lb.cases.filter((c) => CASES.includes(c));
const steps = lbs.reduce((n, lb) => n + casesOf(lb).reduce((k, c) => k + (c === 'pps' ? FLOWS.length : 1), 0), 0);
const res: Results = {
  date: new Date().toISOString(), machine: machine(),
  options: { seconds: SECS, quick: opt.quick!, flows: FLOWS, workers: WORKERS, repeat: REPEAT, tapvs_args: TAPVS_ARGS },
  pps: [], bulk: [], cps: [], latency: [], skipped: [], lb_counters: {},
};
/** Runs a rate measurement REPEAT times; returns the run with the median rate, all rates in `runs`. */
async function median<T extends object>(measure: () => Promise<T>, rate: (r: T) => number): Promise<T & { runs?: number[] }> {
  const rows: T[] = [];
  for (let i = 0; i < REPEAT; i++) rows.push(await measure());
  if (REPEAT === 1) return rows[0]!;
  const sorted = [...rows].sort((a, b) => rate(a) - rate(b));
  return { ...sorted[(sorted.length - 1) >> 1]!, runs: rows.map(rate) };
}

const t0 = Date.now();
let step = 0;
const progress = (lb: Lb, what: string, result: string) =>
  console.log(`[${String(++step).padStart(2)}/${steps} ${String(Math.round((Date.now() - t0) / 1000)).padStart(3)}s] ${lb.label.padEnd(30)} ${what.padEnd(14)} ${result}`);
const skip = (lb: Lb, c: string, why: string) => {
  res.skipped.push({ lb: lb.id, case: c, why });
};

console.log(`bench:e2e: ${lbs.length} paths, ${steps} measurements of ${SECS} s` + (TAPVS_ARGS.length ? `, TAPVS_ARGS=${TAPVS_ARGS.join(' ')}` : ''));
for (const lb of lbs) {
  const cases = casesOf(lb);
  if (cases.length === 0) continue;
  const b = new Bed(opt.prefix!, lb.bedMode, tools);
  bed = b;
  try {
    b.up();
    await b.startServers();
    await lb.start(b);
  } catch (e) {
    const why = (e as Error).message.split('\n')[0]!;
    for (const c of cases) {
      skip(lb, c, why);
      for (let i = 0; i < (c === 'pps' ? FLOWS.length : 1); i++) progress(lb, c, `skipped: ${why}`);
    }
    await lb.stop(b).catch(() => ({}));
    await b.down();
    continue;
  }
  for (const c of cases) {
    try {
      if (c === 'pps') {
        for (const flows of FLOWS) {
          const r = await median(() => pps(b, lb, flows, SECS), (x) => x.delivered_pps);
          res.pps.push(r);
          progress(lb, `pps ${flows} flow${flows > 1 ? 's' : ''}`, `${r.delivered_pps.toLocaleString('en-US')} pps of ${r.offered_pps.toLocaleString('en-US')} offered`);
        }
      } else if (c === 'latency') {
        const r = await latency(b, lb, SECS);
        res.latency.push(r);
        progress(lb, c, `p50 ${r.p50_us} µs, p99 ${r.p99_us} µs (${r.received}/${r.count})`);
      } else if (c === 'bulk') {
        const r = await bulk(b, lb, SECS);
        res.bulk.push(r);
        progress(lb, c, `${r.receiver_gbps} Gbit/s, ${r.retransmits} retransmits`);
      } else {
        const r = await median(() => cps(b, lb, SECS), (x) => x.conns_per_s);
        res.cps.push(r);
        progress(lb, c, `${r.conns_per_s.toLocaleString('en-US')} conns/s, ${r.errors} errors`);
      }
    } catch (e) {
      const why = (e as Error).message.split('\n')[0]!;
      skip(lb, c, why);
      progress(lb, c, `failed: ${why}`);
    }
  }
  res.lb_counters[lb.id] = await lb.stop(b);
  await b.down();
}
bed = null;
rmSync(work, { recursive: true, force: true });
const report = await writeResults(res, opt.out!);
console.log('\n' + report);
console.log(`wrote ${opt.out}/: case .json + .svg, summary.json, report.txt in ${Math.round((Date.now() - t0) / 1000)} s`);
