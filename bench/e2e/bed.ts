/**
 * The end-to-end benchmark's test bed: the namespaces of scripts/testbed.sh (client, "lan" with bridge br0 and
 * the director's TAP, reals r1/r2) plus the servers every case needs on the reals, and the processes started in
 * them, all tracked so that down() removes everything. Shared by every case and every load balancer variant.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../../..');

/** Addresses of the test bed (scripts/testbed.sh). */
export const A = {
  cli: '198.18.0.2',
  vip: '198.18.0.100',
  dir0: '198.18.0.1',
  dir1: '198.18.1.1',
  r1: '198.18.1.11',
  r2: '198.18.1.12',
  lips: ['198.18.1.200', '198.18.1.201'],
} as const;

/** Ports of the servers on the reals. */
export const PORT = { flood: 9000, echo: 7007, http: 80, iperf: 5201 } as const;

export type BedMode = 'nat' | 'dr' | 'tun' | 'fullnat';

/** The C tools (compiled once per run) and the Debian tools that were found. */
export interface Tools {
  udpflood: string;
  tapfwd: string;
  minihttpd: string;
  iperf3: string | null;
  wrk: string | null;
  nft: string | null;
}

export interface Child {
  readonly label: string;
  readonly proc: ChildProcess;
  out: string;
  err: string;
  readonly done: Promise<number | null>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a short command to completion; throws with its stderr if it fails. */
export function sh(cmd: string, args: string[], timeoutMs = 30_000): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

/** Every process started by the benchmark, so that an interrupted run can still stop them all. */
const live = new Set<Child>();

export function spawnChild(label: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const c: Child = {
    label, proc, out: '', err: '',
    done: new Promise((r) => proc.on('close', (code) => { live.delete(c); r(code); })),
  };
  proc.stdout!.on('data', (d) => (c.out += d));
  proc.stderr!.on('data', (d) => (c.err += d));
  proc.on('error', (e) => (c.err += String(e)));
  live.add(c);
  return c;
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopChild(c: Child, graceMs = 1000): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  await c.done;
  clearTimeout(t);
}

/** Kills every process still running (on an interrupted run). */
export function killAll(): void {
  for (const c of live) c.proc.kill('SIGKILL');
}

/** Waits until `cond()` holds, polling every 50 ms; throws naming `what` after timeoutMs. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** CPU time (user + system, all threads) of a process in seconds, or NaN if it is gone. */
export function procCpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** Machine-wide CPU time split (from /proc/stat), in clock ticks. */
export function cpuTicks(): { user: number; sys: number; softirq: number; idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, sys, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return { user: user + nice, sys: sys + irq, softirq, idle: idle + iowait, total: f.slice(0, 8).reduce((a, b) => a + b, 0) - steal };
}

export class Bed {
  readonly lan: string;
  readonly cli: string;
  readonly r1: string;
  readonly r2: string;
  readonly tap: string;
  private children: Child[] = [];

  constructor(readonly prefix: string, readonly mode: BedMode, readonly tools: Tools) {
    this.lan = `${prefix}-lan`;
    this.cli = `${prefix}-cli`;
    this.r1 = `${prefix}-r1`;
    this.r2 = `${prefix}-r2`;
    this.tap = `${prefix}tap`;
  }

  /**
   * Builds the namespaces (scripts/testbed.sh in this bed's mode). The bridge does not call netfilter for
   * bridged frames (bridge-nf-call-*=0 in the lan namespace: the kernel default with br_netfilter built in is
   * 1, which would run every switched frame through the IP hooks; a real switch does not). The client may use
   * any local port (connection-rate runs). The bridge knows every host's port from the start.
   */
  up(): void {
    sh('bash', [join(ROOT, 'scripts/testbed.sh'), 'up', this.prefix, this.mode]);
    this.ns(this.lan, ['sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-arptables=0']);
    this.ns(this.cli, ['sysctl', '-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
    // Static bridge entries for the hosts: a host that only receives (a UDP sink behind a forwarder with
    // static neighbours) would never be learned, and every frame to it would be flooded to all ports.
    for (const [ns, tag] of [[this.cli, 'c'], [this.r1, 'r1'], [this.r2, 'r2']] as const) {
      this.ns(this.lan, ['bridge', 'fdb', 'replace', this.mac(ns), 'dev', `${this.prefix}-${tag}`, 'master', 'static']);
    }
  }

  async down(): Promise<void> {
    await Promise.all(this.children.map((c) => stopChild(c, 500)));
    this.children = [];
    sh('bash', [join(ROOT, 'scripts/testbed.sh'), 'down', this.prefix]);
  }

  /** A short command in a namespace. */
  ns(ns: string, args: string[], timeoutMs?: number): string {
    return sh('ip', ['netns', 'exec', ns, ...args], timeoutMs);
  }

  /** A process in a namespace, stopped by down(). `ip netns exec` execs the command: the pid is the command's. */
  spawn(ns: string, label: string, args: string[], env?: NodeJS.ProcessEnv): Child {
    const c = spawnChild(label, 'ip', ['netns', 'exec', ns, ...args], env);
    this.children.push(c);
    return c;
  }

  /** An interface counter, e.g. stat(bed.r1, 'eth0', 'rx_packets'). */
  stat(ns: string, dev: string, name: string): number {
    return Number(this.ns(ns, ['cat', `/sys/class/net/${dev}/statistics/${name}`]).trim());
  }

  mac(ns: string, dev = 'eth0'): string {
    return this.ns(ns, ['cat', `/sys/class/net/${dev}/address`]).trim();
  }

  /**
   * The servers on the reals: a UDP sink (flood port), a UDP echo (latency), minihttpd with 2 threads
   * (connection rate; 2 threads so that one real alone can serve what two serve when a baseline sends
   * everything to r1), iperf3 on r1 (bulk; one real, because iperf3's control and data connections must reach
   * the same server), and for TUN beds `tapvs decap` on both reals.
   */
  async startServers(): Promise<void> {
    const long = '86400';
    for (const r of [this.r1, this.r2]) {
      this.spawn(r, 'sink', [this.tools.udpflood, 'sink', String(PORT.flood), long]);
      this.spawn(r, 'echo', [this.tools.udpflood, 'echo', String(PORT.echo), long]);
      this.spawn(r, 'httpd', [this.tools.minihttpd, String(PORT.http), long, '2']);
      if (this.mode === 'tun') {
        const d = this.spawn(r, 'decap', [process.execPath, join(ROOT, 'bin/tapvs.js'), 'decap', '--tun', 'tvsdecap', '--vip', A.vip, '--director', A.dir1]);
        await waitFor(`tapvs decap in ${r}`, () => d.err.includes('tapvs decap running') || d.out.includes('tapvs decap running') || d.proc.exitCode !== null, 15_000);
        if (d.proc.exitCode !== null) throw new Error(`tapvs decap in ${r} exited: ${d.err}`);
      }
    }
    if (this.tools.iperf3) this.spawn(this.r1, 'iperf3', [this.tools.iperf3, '-s', '-4', '-p', String(PORT.iperf)]);
    for (const r of [this.r1, this.r2]) {
      await waitFor(`servers in ${r}`, () => {
        const tcp = this.ns(r, ['cat', '/proc/net/tcp']);
        return tcp.includes(`:${PORT.http.toString(16).toUpperCase().padStart(4, '0')} `) &&
          (r !== this.r1 || !this.tools.iperf3 || tcp.includes(`:${PORT.iperf.toString(16).toUpperCase().padStart(4, '0')} `));
      });
    }
  }
}
