/**
 * The forwarding paths the end-to-end benchmark compares, each set up in a fresh test bed:
 *   kernel-fwd   the Linux kernel routing client -> real in the lan namespace (no load balancing): the ceiling
 *   nft-dnat     kernel nftables DNAT load balancing (`dnat to numgen inc mod 2 map {...}`) + conntrack
 *   tapfwd-Nq    bench/tapfwd.c on the same TAP as tapvs: one read() + one write() per frame, N queues/threads,
 *                stateless NAT: the floor of a TAP design
 *   tapvs-M-Nw   the tapvs daemon as it is (`node bin/tapvs.js run`), method M, N workers, configured with
 *                tapvsadm; extra daemon flags from the TAPVS_ARGS environment variable
 * Every variant makes the same services reachable at `target()`: UDP flood (9000), UDP echo (7007), HTTP (80)
 * over both reals, and iperf3 (5201) on r1 only.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main as tapvsadm } from '../../src/cli/tapvsadm.js';
import { ControlClient } from '../../src/control/client.js';
import { A, PORT, ROOT, stopChild, waitFor, type Bed, type BedMode, type Child } from './bed.js';

export type CaseName = 'pps' | 'bulk' | 'cps' | 'latency';
export type Kind = 'kernel' | 'nft' | 'tapfwd' | 'tapvs';
export type Method = 'route' | 'nat' | 'dr' | 'tun' | 'fullnat';

export abstract class Lb {
  abstract readonly id: string;
  abstract readonly label: string;
  abstract readonly kind: Kind;
  abstract readonly method: Method;
  abstract readonly bedMode: BedMode;
  get workers(): number {
    return 1;
  }
  /** The cases this variant runs in a full run. */
  abstract readonly cases: readonly CaseName[];
  /** Where the client sends: the VIP, or for plain routing the reals' addresses. */
  target(what: 'flood' | 'tcp' | 'echo' | 'bulk'): string {
    void what;
    return A.vip;
  }
  abstract start(bed: Bed): Promise<void>;
  /** Stops it and returns what it counted (may be {}). */
  abstract stop(bed: Bed): Promise<Record<string, unknown>>;
  /** The process whose CPU time is accounted to the load balancer, if it is one. */
  pid(): number | null {
    return null;
  }
}

const ALL_CASES: readonly CaseName[] = ['pps', 'bulk', 'cps', 'latency'];

/** The lan namespace's kernel takes the director's addresses on br0 and routes (no redirects). */
function kernelRouter(bed: Bed): void {
  bed.ns(bed.lan, ['ip', 'addr', 'add', `${A.dir0}/24`, 'dev', 'br0']);
  bed.ns(bed.lan, ['ip', 'addr', 'add', `${A.dir1}/24`, 'dev', 'br0']);
  bed.ns(bed.lan, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.br0.send_redirects=0']);
}

class KernelForwarding extends Lb {
  readonly id = 'kernel-fwd';
  readonly label = 'kernel IP forwarding';
  readonly kind = 'kernel';
  readonly method = 'route';
  readonly bedMode = 'nat';
  readonly cases = ALL_CASES;
  override target(what: 'flood' | 'tcp' | 'echo' | 'bulk'): string {
    return what === 'flood' ? `${A.r1},${A.r2}` : A.r1;
  }
  async start(bed: Bed): Promise<void> {
    kernelRouter(bed);
    bed.ns(bed.cli, ['ip', 'route', 'add', '198.18.1.0/24', 'via', A.dir0]);
  }
  async stop(): Promise<Record<string, unknown>> {
    return {};
  }
}

class NftDnat extends Lb {
  readonly id = 'nft-dnat';
  readonly label = 'kernel nftables DNAT';
  readonly kind = 'nft';
  readonly method = 'nat';
  readonly bedMode = 'nat';
  readonly cases = ALL_CASES;
  async start(bed: Bed): Promise<void> {
    if (!bed.tools.nft) throw new Error('nft not installed');
    kernelRouter(bed);
    bed.ns(bed.lan, ['ip', 'addr', 'add', `${A.vip}/32`, 'dev', 'br0']);
    const rules = `table ip tapvs_bench {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${A.vip} tcp dport ${PORT.iperf} dnat to ${A.r1}
    ip daddr ${A.vip} dnat to numgen inc mod 2 map { 0 : ${A.r1}, 1 : ${A.r2} }
  }
}
`;
    const dir = mkdtempSync(join(tmpdir(), 'tapvs-nft-'));
    try {
      writeFileSync(join(dir, 'rules.nft'), rules);
      bed.ns(bed.lan, [bed.tools.nft, '-f', join(dir, 'rules.nft')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  async stop(bed: Bed): Promise<Record<string, unknown>> {
    const n = bed.ns(bed.lan, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count']).trim();
    return { conntrack_entries: Number(n) };
  }
}

const FWD_MAC = '02:fb:00:00:00:01';

class TapFwd extends Lb {
  readonly id: string;
  readonly label: string;
  readonly kind = 'tapfwd';
  readonly method = 'nat';
  readonly bedMode = 'nat';
  readonly cases: readonly CaseName[];
  private child: Child | null = null;
  constructor(readonly queues: number) {
    super();
    this.id = `tapfwd-${queues}q`;
    this.label = `C TAP forwarder, ${queues} queue${queues > 1 ? 's' : ''}`;
    this.cases = queues === 1 ? ALL_CASES : ['pps', 'cps'];
  }
  override get workers(): number {
    return this.queues;
  }
  async start(bed: Bed): Promise<void> {
    const args = [bed.tools.tapfwd, '-i', bed.tap, '-q', String(this.queues), '-m', FWD_MAC,
      '-a', A.dir0, '-a', A.dir1, '-a', A.vip,
      '-n', `${A.cli}=${bed.mac(bed.cli)}`, '-n', `${A.r1}=${bed.mac(bed.r1)}`, '-n', `${A.r2}=${bed.mac(bed.r2)}`,
      '-s', `${A.vip}:${PORT.iperf}=${A.r1}`, '-s', `${A.vip}=${A.r1},${A.r2}`];
    const c = (this.child = bed.spawn(bed.lan, this.id, args));
    await waitFor('tapfwd', () => c.err.includes('tapfwd running') || c.proc.exitCode !== null);
    if (c.proc.exitCode !== null) throw new Error(`tapfwd exited: ${c.err}`);
  }
  async stop(): Promise<Record<string, unknown>> {
    if (!this.child) return {};
    await stopChild(this.child);
    const line = this.child.out.trim().split('\n').pop() ?? '';
    return line.startsWith('{') ? JSON.parse(line) : { error: this.child.err.trim() };
  }
  override pid(): number | null {
    return this.child?.proc.pid ?? null;
  }
}

const METHOD_FLAG: Record<'nat' | 'dr' | 'tun' | 'fullnat', string> = { nat: '-m', dr: '-g', tun: '-i', fullnat: '--fullnat' };

/** Runs tapvsadm (the real CLI code, in this process) against `socket`; throws with its message on failure. */
async function adm(socket: string, argv: string[]): Promise<string> {
  let out = '';
  let err = '';
  const prev = process.env.TAPVS_SOCKET;
  process.env.TAPVS_SOCKET = socket;
  try {
    const code = await tapvsadm(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
    if (code !== 0) throw new Error(`tapvsadm ${argv.join(' ')}: ${err.trim()}`);
  } finally {
    if (prev === undefined) delete process.env.TAPVS_SOCKET;
    else process.env.TAPVS_SOCKET = prev;
  }
  return out;
}

class Tapvs extends Lb {
  readonly id: string;
  readonly label: string;
  readonly kind = 'tapvs';
  readonly bedMode: BedMode;
  readonly cases: readonly CaseName[];
  private child: Child | null = null;
  private dir = '';
  constructor(readonly method: 'nat' | 'dr' | 'tun' | 'fullnat', readonly nworkers: number, readonly extraArgs: string[]) {
    super();
    this.id = `tapvs-${method}-${nworkers}w`;
    this.label = `tapvs ${method.toUpperCase()}, ${nworkers} worker${nworkers > 1 ? 's' : ''}`;
    this.bedMode = method;
    const reply = method === 'nat' || method === 'fullnat';
    this.cases = !reply ? ['pps'] : nworkers === 1 ? ALL_CASES : ['pps', 'cps'];
  }
  override get workers(): number {
    return this.nworkers;
  }
  get socket(): string {
    return join(this.dir, 'tapvs.sock');
  }
  async start(bed: Bed): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'tapvs-bench-'));
    const c = (this.child = bed.spawn(bed.lan, this.id, [process.execPath, join(ROOT, 'bin/tapvs.js'), 'run', '--tap', bed.tap,
      '--workers', String(this.nworkers), '--addr', `${A.dir0}/24`, '--addr', `${A.dir1}/24`, '--socket', this.socket, ...this.extraArgs]));
    await waitFor('tapvs daemon socket', () => existsSync(this.socket) || c.proc.exitCode !== null, 20_000);
    if (c.proc.exitCode !== null) throw new Error(`tapvs exited: ${c.err}${c.out}`);
    const m = METHOD_FLAG[this.method];
    const services: [string, number, string[]][] = [
      ['-u', PORT.flood, [A.r1, A.r2]], ['-u', PORT.echo, [A.r1, A.r2]], ['-t', PORT.http, [A.r1, A.r2]], ['-t', PORT.iperf, [A.r1]],
    ];
    for (const [proto, port, reals] of services) {
      const svc = `${A.vip}:${port}`;
      await adm(this.socket, ['-A', proto, svc, '-s', 'rr']);
      if (this.method === 'fullnat') for (const l of A.lips) await adm(this.socket, ['-P', proto, svc, '-z', l]);
      for (const r of reals) await adm(this.socket, ['-a', proto, svc, '-r', `${r}:${port}`, m]);
    }
  }
  /** The daemon's per-worker counters and drops that are not zero. */
  async status(): Promise<Record<string, unknown>> {
    const c = await ControlClient.connect(this.socket);
    try {
      const st = (await c.request({ op: 'status' })) as unknown as { workers: { id: number; counters: Record<string, number>; drops: Record<string, number> }[] };
      const nz = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v));
      return { workers: st.workers.map((w) => ({ id: w.id, counters: nz(w.counters), drops: nz(w.drops) })) };
    } finally {
      c.close();
    }
  }
  async stop(): Promise<Record<string, unknown>> {
    if (!this.child) return {};
    let st: Record<string, unknown> = {};
    try {
      st = await this.status();
    } catch (e) {
      st = { error: (e as Error).message };
    }
    await stopChild(this.child, 3000);
    rmSync(this.dir, { recursive: true, force: true });
    return st;
  }
  override pid(): number | null {
    return this.child?.proc.pid ?? null;
  }
}

/** Every variant of a full run, in order: baselines first, then tapvs per method and worker count. */
export function allLbs(workers: number[], tapvsArgs: string[]): Lb[] {
  const lbs: Lb[] = [new KernelForwarding(), new NftDnat(), new TapFwd(1)];
  if (workers.some((w) => w > 1)) lbs.push(new TapFwd(Math.max(...workers)));
  for (const method of ['nat', 'fullnat', 'dr', 'tun'] as const) {
    for (const w of workers) lbs.push(new Tapvs(method, w, tapvsArgs));
  }
  return lbs;
}
