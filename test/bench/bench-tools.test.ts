/**
 * Smoke tests of the benchmark tooling (not of the benchmarks' numbers): the C tools under bench/ compile, the
 * chart renderer turns a case file into an SVG, and the report computes ratios to the baselines of the same run
 * and issue 7's targets from them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderSvg, type CaseFile } from '../../bench/e2e/chart.js';
import { writeResults, type Results } from '../../bench/e2e/report.js';
import type { CpuUse, PpsRow } from '../../bench/e2e/cases.js';

const ROOT = resolve(import.meta.dirname, '../..');
const tmp = mkdtempSync(join(tmpdir(), 'tapvs-bench-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hasCc = (() => {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!hasCc)(`C tools under bench/${hasCc ? '' : ' (skipped: no cc)'}`, () => {
  for (const tool of ['tapfwd', 'udpflood', 'minihttpd']) {
    it(`${tool}.c compiles without warnings and prints its usage`, () => {
      const out = join(tmp, tool);
      const warnings = execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-pthread', '-o', out, join(ROOT, 'bench', `${tool}.c`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(warnings).toBe('');
      let usage = '';
      try {
        execFileSync(out, [], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        usage = String((e as { stderr: Buffer }).stderr);
        expect((e as { status: number }).status).toBe(2);
      }
      expect(usage).toMatch(/^usage: /);
    });
  }
});

const cpu: CpuUse = { lb_process_pct: 50, machine_user_pct: 60, machine_sys_pct: 40, machine_softirq_pct: 30, machine_idle_pct: 70 };
function ppsRow(lb: string, label: string, workers: number, flows: number, delivered: number): PpsRow {
  return {
    lb, label, kind: lb.startsWith('tapvs') ? 'tapvs' : 'tapfwd', method: 'nat', workers, flows, seconds: 3,
    offered_pps: 400_000, delivered_pps: delivered, tap_dropped_pps: 400_000 - delivered, lb_us_per_pkt: 5, cpu,
  };
}
const sample: Results = {
  date: '2026-11-25T12:00:00.000Z',
  machine: { cpus: 2, cpu: 'Test CPU', mem_gib: 1, kernel: '6.0', node: 'v20', loadavg_start: [0, 0, 0] },
  options: { seconds: 3, quick: false, flows: [16], workers: [1, 2], repeat: 1, tapvs_args: [] },
  pps: [
    ppsRow('tapfwd-1q', 'C TAP forwarder, 1 queue', 1, 16, 200_000),
    ppsRow('tapfwd-2q', 'C TAP forwarder, 2 queues', 2, 16, 250_000),
    ppsRow('tapvs-nat-1w', 'tapvs NAT, 1 worker', 1, 16, 100_000),
    ppsRow('tapvs-nat-2w', 'tapvs NAT, 2 workers', 2, 16, 300_000),
  ],
  bulk: [],
  cps: [
    { lb: 'nft-dnat', label: 'kernel nftables DNAT', kind: 'nft', method: 'nat', workers: 1, seconds: 3, conns_per_s: 10_000, requests: 30_000, errors: 0, error_detail: '', lb_us_per_conn: null, cpu },
    { lb: 'tapvs-nat-1w', label: 'tapvs NAT, 1 worker', kind: 'tapvs', method: 'nat', workers: 1, seconds: 3, conns_per_s: 6_000, requests: 18_000, errors: 0, error_detail: '', lb_us_per_conn: 80, cpu },
  ],
  latency: [
    { lb: 'kernel-fwd', label: 'kernel IP forwarding', kind: 'kernel', method: 'route', workers: 1, count: 500, received: 500, p50_us: 30, p90_us: 40, p99_us: 80, max_us: 200, mean_us: 33 },
    { lb: 'tapvs-nat-1w', label: 'tapvs NAT, 1 worker', kind: 'tapvs', method: 'nat', workers: 1, count: 500, received: 500, p50_us: 90, p90_us: 120, p99_us: 300, max_us: 900, mean_us: 95 },
  ],
  skipped: [],
  lb_counters: {},
};

describe('benchmark report and charts', () => {
  it('renders an SVG chart from a case file', async () => {
    const file: CaseFile = { case: 'pps', date: sample.date, machine: sample.machine, rows: sample.pps };
    const svg = await renderSvg(file);
    expect(svg).toMatch(/^<svg[^>]* width="\d+" height="\d+"/);
    expect(svg).toContain('tapvs NAT, 2 workers');
    expect(svg).toContain('C TAP forwarder, 1 queue');
  });

  it('writes ratios to the baselines of the same run, the targets, the tables and one SVG per measured case', async () => {
    const dir = join(tmp, 'results');
    const report = await writeResults(structuredClone(sample), dir);
    const pps = JSON.parse(readFileSync(join(dir, 'pps.json'), 'utf8'));
    const nat2 = pps.rows.find((r: PpsRow) => r.lb === 'tapvs-nat-2w');
    expect(nat2.vs).toEqual({ 'tapfwd-1q': 1.5, 'tapfwd-2q': 1.2 });
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.targets.slice(0, 3).map((t: { ratio: number; met: boolean }) => [t.ratio, t.met])).toEqual([[0.5, false], [1.5, true], [1.2, true]]);
    expect(summary.targets.find((t: { what: string }) => t.what.includes('connections/s, 1 worker'))).toMatchObject({ ratio: 0.6, met: true });
    expect(summary.targets.find((t: { what: string }) => t.what.includes('bulk'))).toMatchObject({ ratio: null, met: null });
    expect(readFileSync(join(dir, 'cps.svg'), 'utf8')).toMatch(/^<svg/);
    expect(readFileSync(join(dir, 'latency.svg'), 'utf8')).toMatch(/^<svg/);
    expect(() => readFileSync(join(dir, 'bulk.json'))).toThrow(); // nothing measured, no file
    expect(report).toMatch(/tapvs NAT, 1 worker +16 +400,000 +100,000 .* 0\.50 +0\.40/);
    expect(report).toMatch(/tapvs NAT, 1 worker +500\/500 +90\.0 .* 60\.0 +220\.0/); // latency added vs kernel
  });
});
