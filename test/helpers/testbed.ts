/**
 * Helpers for end-to-end tests in network namespaces (scripts/testbed.sh builds the topology). Every process a
 * test starts is tracked and killed in teardown, and the namespaces are removed even when a test fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { nativeAvailable, nativeLoadError } from '../../src/io/native.js';

export const ROOT = resolve(import.meta.dirname, '../..');

/** Why e2e tests cannot run here, or null when they can. */
export function e2eSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN) for network namespaces and TAP';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  if (!nativeAvailable()) return `native addon not built: ${nativeLoadError()}`;
  if (!existsSync(join(ROOT, 'dist/worker/thread.js'))) return 'TypeScript not built (npm run build:ts)';
  return null;
}

export function sh(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, timeout: opts.timeoutMs ?? 30_000, stdio: ['pipe', 'pipe', 'pipe'] });
}

export const nsExec = (ns: string, args: string[], opts?: { input?: string; timeoutMs?: number }) => sh('ip', ['netns', 'exec', ns, ...args], opts);

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface RunOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (bounded by timeoutMs) without blocking the event loop. */
export function run(cmd: string, args: string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = process.env): Promise<RunOutput> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A test bed: namespaces, servers, a daemon; `teardown()` undoes everything. */
export class Testbed {
  readonly lan: string;
  readonly cli: string;
  readonly r1: string;
  readonly r2: string;
  readonly tap: string;
  readonly dir: string;
  readonly socket: string;
  private procs: ChildProcess[] = [];
  daemonLog = '';

  constructor(readonly prefix: string) {
    this.lan = `${prefix}-lan`;
    this.cli = `${prefix}-cli`;
    this.r1 = `${prefix}-r1`;
    this.r2 = `${prefix}-r2`;
    this.tap = `${prefix}tap`;
    this.dir = mkdtempSync(join(tmpdir(), 'tapvs-e2e-'));
    this.socket = join(this.dir, 'tapvs.sock');
  }

  /** Builds the namespaces; `mode` sets up the reals for NAT (default), DR, TUN or FULLNAT (scripts/testbed.sh). */
  up(mode: 'nat' | 'dr' | 'tun' | 'fullnat' = 'nat'): void {
    sh('bash', [join(ROOT, 'scripts/testbed.sh'), 'up', this.prefix, ...(mode === 'nat' ? [] : [mode])]);
  }

  spawnIn(ns: string, args: string[], onOutput?: (s: string) => void): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TAPVS_LOG: 'info' } });
    p.stdout!.on('data', (d) => onOutput?.(String(d)));
    p.stderr!.on('data', (d) => onOutput?.(String(d)));
    this.procs.push(p);
    return p;
  }

  async startReals(extra: string[] = []): Promise<void> {
    for (const [ns, name] of [[this.r1, 'r1'], [this.r2, 'r2']] as const) {
      this.spawnIn(ns, [process.execPath, join(ROOT, 'scripts/realserver.js'), '--name', name, ...extra]);
    }
    for (const ns of [this.r1, this.r2]) {
      await waitFor(`real server in ${ns}`, () => /:0050 /.test(nsExec(ns, ['cat', '/proc/net/tcp'])));
    }
  }

  /**
   * Starts the daemon in the LAN namespace. One worker unless `extra` says otherwise: the suites that check
   * IPVS's exact scheduling sequences (rr's 100/100 split) need one scheduler instance; the multi-worker suite
   * passes --workers.
   */
  async startDaemon(extra: string[] = []): Promise<ChildProcess> {
    const workers = extra.includes('--workers') ? [] : ['--workers', '1'];
    const p = this.spawnIn(
      this.lan,
      [process.execPath, join(ROOT, 'bin/tapvs.js'), 'run', '--tap', this.tap, '--addr', '198.18.0.1/24', '--addr', '198.18.1.1/24', '--socket', this.socket, ...workers, ...extra],
      (s) => (this.daemonLog += s),
    );
    await waitFor('daemon socket', () => existsSync(this.socket) || p.exitCode !== null, 15_000);
    if (p.exitCode !== null) throw new Error(`tapvs run exited (${p.exitCode}): ${this.daemonLog}`);
    return p;
  }

  /**
   * Starts `tapvs decap` in a real's namespace (TUN mode beds have the device `tvsdecap`) and waits until it
   * runs. Its log lines (JSON, counters at exit and on SIGUSR2) collect in `decapLogs[ns]`.
   */
  async startDecap(ns: string, extra: string[] = []): Promise<ChildProcess> {
    this.decapLogs[ns] = '';
    const p = this.spawnIn(ns, [process.execPath, join(ROOT, 'bin/tapvs.js'), 'decap', '--tun', 'tvsdecap', ...extra], (s) => (this.decapLogs[ns] += s));
    await waitFor(`tapvs decap in ${ns}`, () => this.decapLogs[ns]!.includes('tapvs decap running') || p.exitCode !== null, 15_000);
    if (p.exitCode !== null) throw new Error(`tapvs decap in ${ns} exited: ${this.decapLogs[ns]}`);
    return p;
  }

  /**
   * A UDP echo bound to `addr:port` (the VIP, for DR/TUN reals: a socket bound to 0.0.0.0 would answer from the
   * real's own address, which the client's connected socket rejects), prefixing replies with `name`.
   */
  async startUdpEcho(ns: string, name: string, addr: string, port: number): Promise<void> {
    let out = '';
    this.spawnIn(ns, [process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('${name} '), m]), r.port, r.address));
      s.bind(${port}, '${addr}', () => console.log('udp echo ready'));
      process.on('SIGTERM', () => process.exit(0));`], (x) => (out += x));
    await waitFor(`UDP echo in ${ns}`, () => out.includes('udp echo ready'));
  }

  /**
   * Opens `n` TCP connections from `ns` to `addr:port` at once and keeps them all open; once every one is
   * established calls `whileOpen()`, then sends one HTTP request on each and collects the answers.
   */
  async parallelHttp(ns: string, addr: string, port: number, n: number, whileOpen: () => Promise<void>):
  Promise<{ connected: number; ok: number; failed: number; byServer: Record<string, number> }> {
    const script = `
      const net = require('node:net');
      const res = { connected: 0, ok: 0, failed: 0, byServer: {} };
      const socks = [];
      let closed = 0;
      for (let i = 0; i < ${n}; i++) {
        const s = net.connect(${port}, '${addr}');
        let buf = '';
        s.setTimeout(30000, () => s.destroy(new Error('timeout')));
        s.on('connect', () => { if (++res.connected === ${n}) process.stdout.write('READY\\n'); });
        s.on('data', (d) => (buf += d));
        s.on('error', () => {});
        s.on('close', () => {
          const m = /x-served-by: (\\S+)/i.exec(buf);
          if (/^HTTP\\/1\\.1 200 /.test(buf) && m) { res.ok++; res.byServer[m[1]] = (res.byServer[m[1]] || 0) + 1; } else res.failed++;
          if (++closed === ${n}) { console.log(JSON.stringify(res)); process.exit(0); }
        });
        socks.push(s);
      }
      process.stdin.once('data', () => { for (const s of socks) s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'); });
      setTimeout(() => { console.log(JSON.stringify(res)); process.exit(1); }, 60000);`;
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.procs.push(p);
    let out = '';
    let err = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (err += d));
    p.stdin!.on('error', () => {});
    const exited = new Promise<void>((r) => p.on('close', () => r()));
    await waitFor(`${n} connections from ${ns}`, () => out.includes('READY') || p.exitCode !== null, 30_000);
    if (!out.includes('READY')) throw new Error(`parallel client exited (${p.exitCode}): ${out}${err}`);
    await whileOpen();
    p.stdin!.write('go\n');
    await exited;
    const last = out.trim().split('\n').pop()!;
    if (!last.startsWith('{')) throw new Error(`parallel client (${p.exitCode}): ${out}${err}`);
    return JSON.parse(last);
  }

  /** Log output of the decapsulators, per namespace. */
  readonly decapLogs: Record<string, string> = {};

  /** Runs a Node.js script in a namespace; resolves with its output. */
  node(ns: string, script: string, timeoutMs = 60_000): Promise<RunOutput> {
    return run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], timeoutMs);
  }

  /** The daemon's `status` answer (drops and counters per worker). */
  async status(): Promise<{ drops: Record<string, number>; workers: { counters: Record<string, number> }[] }> {
    return this.api({ op: 'status' });
  }

  /** One request to the daemon's control API (from a separate process); resolves with its result, or rejects. */
  async api(req: object): Promise<any> {
    const r = await run(process.execPath, ['-e', `
      import('${join(ROOT, 'dist/control/client.js')}').then(async ({ ControlClient }) => {
        const c = await ControlClient.connect('${this.socket}');
        console.log(JSON.stringify(await c.request(${JSON.stringify(req)}))); c.close();
      })`], 20_000);
    if (r.code !== 0) throw new Error(`control request ${JSON.stringify(req)} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** Resident memory of a process in KiB (VmRSS), or -1. */
  static rssKiB(pid: number): number {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) : -1;
    } catch {
      return -1;
    }
  }

  /** Runs tapvsadm command lines in order; fails the test, naming the command and its error, if one fails. */
  async configure(commands: string[][]): Promise<void> {
    for (const args of commands) {
      const r = await this.adm(args);
      expect(r, `tapvsadm ${args.join(' ')}: ${r.stderr}`).toMatchObject({ code: 0 });
    }
  }

  /** Runs tapvsadm against this bed's daemon. */
  adm(args: string[]): Promise<RunOutput> {
    return run(process.execPath, [join(ROOT, 'bin/tapvsadm.js'), ...args], 30_000, { ...process.env, TAPVS_SOCKET: this.socket });
  }

  /** /proc/net/snmp counters of a namespace, e.g. snmp(ns).Tcp.OutSegs. */
  snmp(ns: string): Record<string, Record<string, number>> {
    const lines = nsExec(ns, ['cat', '/proc/net/snmp']).trim().split('\n');
    const out: Record<string, Record<string, number>> = {};
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const [proto, ...keys] = lines[i]!.split(/\s+/);
      const vals = lines[i + 1]!.split(/\s+/).slice(1).map(Number);
      out[proto!.replace(':', '')] = Object.fromEntries(keys.map((k, j) => [k, vals[j]!]));
    }
    return out;
  }

  async teardown(): Promise<void> {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    try {
      sh('bash', [join(ROOT, 'scripts/testbed.sh'), 'down', this.prefix]);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
