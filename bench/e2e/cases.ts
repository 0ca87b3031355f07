/**
 * The measurements of the end-to-end benchmark, each run through one load balancer variant in its bed:
 *   pps       64-byte UDP frames (22-byte payload) from udpflood (sendmmsg, FLOWS connected sockets) for SECONDS;
 *             offered = what the sender's kernel accepted, delivered = the reals' eth0 rx_packets
 *   bulk      one iperf3 TCP stream to r1 (through the VIP) for SECONDS
 *   cps       wrk, 2 threads, 64 connections, one request per connection (Connection: close) to minihttpd
 *   latency   udpflood ping: one 64-byte UDP request/reply at a time, every 2 ms (500/s), p50/p90/p99
 * Every case also records the CPU time of the load balancer's process and the machine's CPU split.
 */
import { PORT, cpuTicks, procCpuSeconds, sleep, type Bed, type Child } from './bed.js';
import type { Kind, Lb, Method } from './lbs.js';

export interface RowBase {
  lb: string;
  label: string;
  kind: Kind;
  method: Method;
  workers: number;
}

/** CPU use during a case, in % of one CPU (the machine's total is 100 x the number of CPUs). */
export interface CpuUse {
  lb_process_pct: number | null;
  machine_user_pct: number;
  machine_sys_pct: number;
  machine_softirq_pct: number;
  machine_idle_pct: number;
}

export interface PpsRow extends RowBase {
  flows: number;
  seconds: number;
  offered_pps: number;
  delivered_pps: number;
  /** frames the TAP could not hand to the user-space forwarder (its queue was full): TAP tx_dropped */
  tap_dropped_pps: number;
  /** CPU time of the load balancer's process per delivered packet, µs (null for the kernel paths) */
  lb_us_per_pkt: number | null;
  cpu: CpuUse;
}

export interface BulkRow extends RowBase {
  seconds: number;
  sender_gbps: number;
  receiver_gbps: number;
  retransmits: number;
  cpu: CpuUse;
}

export interface CpsRow extends RowBase {
  seconds: number;
  conns_per_s: number;
  requests: number;
  errors: number;
  error_detail: string;
  /** CPU time of the load balancer's process per connection, µs (null for the kernel paths) */
  lb_us_per_conn: number | null;
  cpu: CpuUse;
}

export interface LatencyRow extends RowBase {
  count: number;
  received: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  mean_us: number;
}

export function rowBase(lb: Lb): RowBase {
  return { lb: lb.id, label: lb.label, kind: lb.kind, method: lb.method, workers: lb.workers };
}

/** Runs a tool in a namespace to completion (killed after timeoutMs); returns its stdout. */
async function runIn(bed: Bed, ns: string, label: string, args: string[], timeoutMs: number): Promise<Child> {
  const c = bed.spawn(ns, label, args);
  const t = setTimeout(() => c.proc.kill('SIGKILL'), timeoutMs);
  await c.done;
  clearTimeout(t);
  return c;
}

function lastJson(c: Child): Record<string, number> {
  const line = c.out.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`${c.label}: no result (exit ${c.proc.exitCode}): ${c.err.trim() || c.out.trim()}`);
  return JSON.parse(line);
}

/** Starts CPU accounting; the returned function ends it. */
function cpuMeter(lb: Lb): () => CpuUse {
  const pid = lb.pid();
  const t0 = process.hrtime.bigint();
  const p0 = pid ? procCpuSeconds(pid) : NaN;
  const m0 = cpuTicks();
  return () => {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const p1 = pid ? procCpuSeconds(pid) : NaN;
    const m1 = cpuTicks();
    const pct = (k: 'user' | 'sys' | 'softirq' | 'idle') => round1(((m1[k] - m0[k]) / 100 / secs) * 100);
    return {
      lb_process_pct: Number.isFinite(p1 - p0) ? round1(((p1 - p0) / secs) * 100) : null,
      machine_user_pct: pct('user'), machine_sys_pct: pct('sys'), machine_softirq_pct: pct('softirq'), machine_idle_pct: pct('idle'),
    };
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** µs of load balancer CPU per unit of work (packet, connection) at `rate` per second. */
const usPer = (cpu: CpuUse, rate: number) => (cpu.lb_process_pct === null || rate <= 0 ? null : Math.round((cpu.lb_process_pct / 100 / rate) * 1e8) / 100);

function realsRx(bed: Bed): number {
  return bed.stat(bed.r1, 'eth0', 'rx_packets') + bed.stat(bed.r2, 'eth0', 'rx_packets');
}

export async function pps(bed: Bed, lb: Lb, flows: number, secs: number): Promise<PpsRow> {
  const target = lb.target('flood');
  const flood = (s: number) => [bed.tools.udpflood, 'send', target, String(PORT.flood), String(s), String(flows), '22'];
  await runIn(bed, bed.cli, 'warm-up', flood(0.3), 10_000); // ARP, connections
  await sleep(200);
  const rx0 = realsRx(bed);
  const drop0 = bed.stat(bed.lan, bed.tap, 'tx_dropped');
  const meter = cpuMeter(lb);
  const c = await runIn(bed, bed.cli, 'udpflood', flood(secs), secs * 1000 + 10_000);
  await sleep(300); // frames still queued reach the reals
  const cpu = meter();
  const r = lastJson(c);
  const seconds = r.seconds!;
  const delivered = Math.round((realsRx(bed) - rx0) / seconds);
  return {
    ...rowBase(lb), flows, seconds: Math.round(seconds * 100) / 100,
    offered_pps: Math.round(r.sent! / seconds),
    delivered_pps: delivered,
    tap_dropped_pps: Math.round((bed.stat(bed.lan, bed.tap, 'tx_dropped') - drop0) / seconds),
    lb_us_per_pkt: usPer(cpu, delivered),
    cpu,
  };
}

export async function bulk(bed: Bed, lb: Lb, secs: number): Promise<BulkRow> {
  if (!bed.tools.iperf3) throw new Error('iperf3 not installed');
  const meter = cpuMeter(lb);
  const c = await runIn(bed, bed.cli, 'iperf3', [bed.tools.iperf3, '-c', lb.target('bulk'), '-p', String(PORT.iperf), '-t', String(secs), '-J'], secs * 1000 + 15_000);
  const cpu = meter();
  let j: { end?: { sum_sent?: { bits_per_second: number; retransmits?: number; seconds: number }; sum_received?: { bits_per_second: number } }; error?: string };
  try {
    j = JSON.parse(c.out);
  } catch {
    throw new Error(`iperf3: ${c.err.trim() || c.out.slice(0, 200)}`);
  }
  if (j.error || !j.end?.sum_sent || !j.end.sum_received) throw new Error(`iperf3: ${j.error ?? 'no summary'}`);
  return {
    ...rowBase(lb), seconds: round1(j.end.sum_sent.seconds),
    sender_gbps: Math.round(j.end.sum_sent.bits_per_second / 1e6) / 1e3,
    receiver_gbps: Math.round(j.end.sum_received.bits_per_second / 1e6) / 1e3,
    retransmits: j.end.sum_sent.retransmits ?? 0,
    cpu,
  };
}

export async function cps(bed: Bed, lb: Lb, secs: number): Promise<CpsRow> {
  if (!bed.tools.wrk) throw new Error('wrk not installed');
  const meter = cpuMeter(lb);
  const c = await runIn(bed, bed.cli, 'wrk', [bed.tools.wrk, '-t', '2', '-c', '64', '-d', `${secs}s`, '--timeout', '2s',
    '-H', 'Connection: close', `http://${lb.target('tcp')}:${PORT.http}/`], secs * 1000 + 15_000);
  const cpu = meter();
  const m = /(\d+) requests in ([\d.]+)(m?s)/.exec(c.out);
  if (!m) throw new Error(`wrk: ${c.err.trim() || c.out.trim()}`);
  const requests = Number(m[1]);
  const seconds = Number(m[2]) / (m[3] === 'ms' ? 1000 : 1);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(c.out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(c.out)?.[1] ?? 0);
  const errs = se ? se.slice(1).map(Number) : [0, 0, 0, 0];
  return {
    ...rowBase(lb), seconds: round1(seconds), conns_per_s: Math.round(requests / seconds), requests,
    lb_us_per_conn: usPer(cpu, requests / seconds),
    errors: errs.reduce((a, b) => a + b, 0) + non2xx,
    error_detail: se ? `${se[0]}${non2xx ? `, non-2xx ${non2xx}` : ''}` : non2xx ? `non-2xx ${non2xx}` : '',
    cpu,
  };
}

export async function latency(bed: Bed, lb: Lb, secs: number): Promise<LatencyRow> {
  const target = lb.target('echo');
  const ping = (count: number) => [bed.tools.udpflood, 'ping', target, String(PORT.echo), String(count), '2000'];
  await runIn(bed, bed.cli, 'ping warm-up', ping(20), 10_000);
  const count = Math.max(200, Math.round(secs * 500));
  const r = lastJson(await runIn(bed, bed.cli, 'ping', ping(count), count * 4 + 10_000));
  if (!r.received) throw new Error(`no echo reply through ${lb.label} (${target}:${PORT.echo})`);
  return {
    ...rowBase(lb), count: r.count!, received: r.received, p50_us: r.p50_us!, p90_us: r.p90_us!, p99_us: r.p99_us!,
    max_us: r.max_us!, mean_us: r.mean_us!,
  };
}
