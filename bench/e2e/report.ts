/**
 * Ratios to the baselines, the printed tables, and the result files (bench/results/e2e/<case>.json + .svg,
 * summary.json with issue 7's targets, report.txt with the tables as printed).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { renderSvg, type CaseFile } from './chart.js';
import type { BulkRow, CpsRow, LatencyRow, PpsRow, RowBase } from './cases.js';

export interface Results {
  date: string;
  machine: { cpus: number; cpu: string; mem_gib: number; kernel: string; node: string; loadavg_start: number[]; loadavg_end?: number[] };
  options: { seconds: number; quick: boolean; flows: number[]; workers: number[]; repeat: number; tapvs_args: string[] };
  pps: PpsRow[];
  bulk: BulkRow[];
  cps: CpsRow[];
  latency: LatencyRow[];
  skipped: { lb: string; case: string; why: string }[];
  /** Counters each load balancer reported when stopped (tapvs: per-worker counters and drops). */
  lb_counters: Record<string, Record<string, unknown>>;
}

export function machine(): Results['machine'] {
  const cpus = os.cpus();
  return {
    cpus: cpus.length, cpu: cpus[0]?.model.trim() ?? '?', mem_gib: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(), node: process.version, loadavg_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

const BASELINES = ['kernel-fwd', 'nft-dnat', 'tapfwd-1q', 'tapfwd-2q'] as const;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** value / the same measurement of each baseline (rows matched by `same`). */
function ratios<T extends RowBase>(rows: T[], value: (r: T) => number, same: (a: T, b: T) => boolean): (T & { vs: Record<string, number> })[] {
  return rows.map((r) => {
    const vs: Record<string, number> = {};
    for (const b of BASELINES) {
      const base = rows.find((x) => x.lb === b && same(x, r));
      if (base && value(base) > 0 && base !== r) vs[b] = r3(value(r) / value(base));
    }
    return { ...r, vs };
  });
}

function table(head: string[], body: (string | number)[][]): string {
  const cells = [head, ...body.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en-US') : c)))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  return cells.map((r, k) => r.map((c, i) => (i === 0 ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!))).join('  ') +
    (k === 0 ? '\n' + w.map((n) => '-'.repeat(n)).join('  ') : '')).join('\n');
}

const fmtVs = (vs: Record<string, number>, keys: string[]) => keys.map((k) => (vs[k] === undefined ? '' : vs[k]!.toFixed(2)));
const pct = (x: number | null) => (x === null ? '' : `${Math.round(x)}%`);
const num = (x: number | null) => (x === null ? '' : x.toFixed(2));

export function ppsTable(rows: ReturnType<typeof ratios<PpsRow>>): string {
  return table(['path (64-byte UDP)', 'flows', 'offered pps', 'delivered pps', 'TAP drops/s', 'LB CPU', 'LB µs/pkt', 'softirq', '/tapfwd-1q', '/tapfwd-2q', '/kernel', '/nft'],
    rows.map((r) => [r.label, r.flows, r.offered_pps, r.delivered_pps, r.tap_dropped_pps, pct(r.cpu.lb_process_pct), num(r.lb_us_per_pkt), pct(r.cpu.machine_softirq_pct),
      ...fmtVs(r.vs, ['tapfwd-1q', 'tapfwd-2q', 'kernel-fwd', 'nft-dnat'])]));
}

export function bulkTable(rows: ReturnType<typeof ratios<BulkRow>>): string {
  return table(['path (1 TCP stream)', 'sent Gb/s', 'received Gb/s', 'retransmits', 'LB CPU', '/nft', '/tapfwd-1q', '/kernel'],
    rows.map((r) => [r.label, r.sender_gbps.toFixed(3), r.receiver_gbps.toFixed(3), r.retransmits, pct(r.cpu.lb_process_pct),
      ...fmtVs(r.vs, ['nft-dnat', 'tapfwd-1q', 'kernel-fwd'])]));
}

export function cpsTable(rows: ReturnType<typeof ratios<CpsRow>>): string {
  return table(['path (HTTP, Connection: close)', 'conns/s', 'errors', 'LB CPU', 'LB µs/conn', 'idle', '/nft', '/tapfwd-1q', '/tapfwd-2q', '/kernel'],
    rows.map((r) => [r.label, r.conns_per_s, r.errors, pct(r.cpu.lb_process_pct), num(r.lb_us_per_conn), pct(r.cpu.machine_idle_pct),
      ...fmtVs(r.vs, ['nft-dnat', 'tapfwd-1q', 'tapfwd-2q', 'kernel-fwd'])]));
}

export function latencyTable(rows: LatencyRow[]): string {
  const k = rows.find((r) => r.lb === 'kernel-fwd');
  return table(['path (UDP ping-pong, 500/s)', 'replies', 'p50 µs', 'p90 µs', 'p99 µs', 'max µs', '+p50 vs kernel', '+p99 vs kernel'],
    rows.map((r) => [r.label, `${r.received}/${r.count}`, r.p50_us.toFixed(1), r.p90_us.toFixed(1), r.p99_us.toFixed(1), r.max_us.toFixed(1),
      k && r !== k ? (r.p50_us - k.p50_us).toFixed(1) : '', k && r !== k ? (r.p99_us - k.p99_us).toFixed(1) : '']));
}

export interface Target {
  what: string;
  ratio: number | null;
  goal: number;
  met: boolean | null;
}

function targets(pps: ReturnType<typeof ratios<PpsRow>>, bulk: ReturnType<typeof ratios<BulkRow>>, cps: ReturnType<typeof ratios<CpsRow>>): Target[] {
  const flows16 = pps.filter((r) => r.flows === 16);
  const get = <T extends RowBase & { vs: Record<string, number> }>(rows: T[], lb: string, base: string) => rows.find((r) => r.lb === lb)?.vs[base] ?? null;
  const t = (what: string, ratio: number | null, goal: number): Target => ({ what, ratio, goal, met: ratio === null ? null : ratio >= goal });
  return [
    t('NAT, 64-byte UDP, 16 flows, 1 worker / C TAP forwarder (1 queue)', get(flows16, 'tapvs-nat-1w', 'tapfwd-1q'), 1.0),
    t('NAT, 64-byte UDP, 16 flows, 2 workers / C TAP forwarder (1 queue)', get(flows16, 'tapvs-nat-2w', 'tapfwd-1q'), 1.5),
    t('NAT, 64-byte UDP, 16 flows, 2 workers / C TAP forwarder (2 queues)', get(flows16, 'tapvs-nat-2w', 'tapfwd-2q'), 1.0),
    t('NAT, bulk TCP, 1 worker / nftables DNAT', get(bulk, 'tapvs-nat-1w', 'nft-dnat'), 0.5),
    t('NAT, new connections/s, 1 worker / nftables DNAT', get(cps, 'tapvs-nat-1w', 'nft-dnat'), 0.5),
    t('NAT, new connections/s, 2 workers / nftables DNAT', get(cps, 'tapvs-nat-2w', 'nft-dnat'), 0.5),
  ];
}

/** Prints the tables and writes every result file under `dir`; returns the report text. */
export async function writeResults(res: Results, dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  res.machine.loadavg_end = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const pps = ratios(res.pps, (r) => r.delivered_pps, (a, b) => a.flows === b.flows);
  const bulk = ratios(res.bulk, (r) => r.receiver_gbps, () => true);
  const cps = ratios(res.cps, (r) => r.conns_per_s, () => true);
  const tg = targets(pps, bulk, cps);
  const head = { date: res.date, machine: res.machine, options: res.options };
  const parts: string[] = [
    `tapvs end-to-end benchmark, ${res.date}`,
    `machine: ${res.machine.cpus} x ${res.machine.cpu}, ${res.machine.mem_gib} GiB, Linux ${res.machine.kernel}, Node ${res.machine.node}; ` +
      `load average ${res.machine.loadavg_start.join(' ')} at the start, ${res.machine.loadavg_end.join(' ')} at the end`,
    `options: ${res.options.seconds} s per case${res.options.quick ? ' (quick)' : ''}, flows ${res.options.flows.join('/')}, workers ${res.options.workers.join('/')}` +
      (res.options.repeat > 1 ? `, pps and cps: median of ${res.options.repeat} runs` : '') +
      (res.options.tapvs_args.length ? `, TAPVS_ARGS=${res.options.tapvs_args.join(' ')}` : ''),
    'ratios (/x) are delivered rate divided by the same measurement of baseline x in this run; CPU in % of one CPU',
  ];
  const cases: [CaseFile['case'], object[], string][] = [
    ['pps', pps, ppsTable(pps)], ['bulk', bulk, bulkTable(bulk)], ['cps', cps, cpsTable(cps)], ['latency', res.latency, latencyTable(res.latency)],
  ];
  for (const [name, rows, text] of cases) {
    if (rows.length === 0) { // not measured this time: no stale file from an earlier run stays beside the new ones
      for (const ext of ['json', 'svg']) rmSync(join(dir, `${name}.${ext}`), { force: true });
      continue;
    }
    parts.push('', text);
    const file = { case: name, ...head, rows };
    writeFileSync(join(dir, `${name}.json`), JSON.stringify(file, null, 1) + '\n');
    writeFileSync(join(dir, `${name}.svg`), await renderSvg(file));
  }
  parts.push('', 'targets (issue 7):', ...tg.map((t) => `  ${t.met === null ? 'n/a ' : t.met ? 'met ' : 'MISS'}  ${t.what}: ` +
    `${t.ratio === null ? 'not measured' : t.ratio.toFixed(2)} (goal >= ${t.goal})`));
  if (res.skipped.length) parts.push('', 'skipped:', ...res.skipped.map((s) => `  ${s.lb} ${s.case}: ${s.why}`));
  const report = parts.join('\n') + '\n';
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ ...head, targets: tg, skipped: res.skipped, lb_counters: res.lb_counters }, null, 1) + '\n');
  writeFileSync(join(dir, 'report.txt'), report);
  return report;
}
