/**
 * Two workers on a two-queue TAP, end to end: the kernel steers each flow with the generated eBPF program, both
 * directions of every NAT connection reach the worker that owns it (wrong_worker stays 0), ≥ 500 concurrent
 * connections complete, and a restarted worker loses only its own connections.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { steerOwner } from '../../src/io/steering.js';
import { parseIPv4 } from '../../src/util/addr.js';
import { ROOT, Testbed, e2eSkipReason, run } from '../helpers/testbed.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const CIP = parseIPv4('198.18.0.2');

const api = (bed: Testbed, req: object): Promise<any> => bed.api(req);

describe.skipIf(skip !== null)(`two workers on a multi-queue TAP${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tm${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up();
    await bed.startReals(['--echo', '7']);
    await bed.startDaemon(['--workers', '2']);
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'wlc'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-m'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12:80', '-m'],
      ['-A', '-t', `${VIP}:7`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:7`, '-r', '198.18.1.11:7', '-m'],
      ['-a', '-t', `${VIP}:7`, '-r', '198.18.1.12:7', '-m'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it('carries 1000 requests at 500 concurrent connections with every packet on its owner', async () => {
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '1000', '--concurrency', '500', '--deadline', '90', '--timeout', '20000'], 120_000);
    const res = JSON.parse(r.stdout);
    expect(res, r.stderr + bed.daemonLog).toMatchObject({ ok: 1000, failed: 0 });
    expect(res.byServer.r1 + res.byServer.r2).toBe(1000);
    const st = await api(bed, { op: 'status' });
    expect(st.workers.map((w: any) => w.counters.wrong_worker)).toEqual([0, 0]);
    // Both workers scheduled connections; together exactly the 1000 of the load.
    const created = st.workers.map((w: any) => w.counters.conns_created);
    expect(created.every((n: number) => n > 200)).toBe(true);
    expect(created[0] + created[1]).toBe(1000);
    expect(st.drops.reply_no_conn).toBe(0);
    // Every worker lists its own connections; each client port sits on the worker the steering function names.
    const { conns } = await api(bed, { op: 'list-conns' });
    expect(conns.length).toBe(1000);
    for (const c of conns) expect(c.worker).toBe(steerOwner(CIP, Number(c.source.split(':')[1]), 2));
  }, 180_000);

  it('restarts a worker: only its connections are lost, the other worker\'s keep working', async () => {
    const script = `
      const net = require('node:net'); const N = 60; const socks = [];
      const rl = require('node:readline').createInterface({ input: process.stdin });
      let open = 0;
      for (let i = 0; i < N; i++) {
        const s = net.connect(7, '${VIP}', () => { s.write('a' + i + '\\n'); });
        s.setEncoding('utf8'); s.on('error', () => {}); s.buf = '';
        s.on('data', (d) => { s.buf += d; if (s.buf === 'a' + i + '\\n' && ++open === N) console.log(JSON.stringify(socks.map((x) => x.localPort))); });
        socks.push(s);
      }
      rl.on('line', () => {
        const res = {}; let left = N;
        socks.forEach((s, i) => {
          // The port is read now: a conn lost with its worker is reset at its next segment, and a reset socket has none.
          const port = s.localPort;
          s.buf = ''; const t = setTimeout(() => { res[port] = false; if (--left === 0) done(); }, 3000);
          s.on('data', () => { if (s.buf.endsWith('b' + i + '\\n') && !(port in res)) { clearTimeout(t); res[port] = true; if (--left === 0) done(); } });
          s.write('b' + i + '\\n');
        });
        function done() { console.log(JSON.stringify(res)); process.exit(0); }
      });`;
    const child = spawn('ip', ['netns', 'exec', bed.cli, process.execPath, '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    const until = async (n: number) => {
      for (let i = 0; i < 300 && lines.length < n; i++) await new Promise((r) => setTimeout(r, 50));
      expect(lines.length, 'client output').toBeGreaterThanOrEqual(n);
    };
    try {
      await until(1);
      const ports: number[] = JSON.parse(lines[0]!);
      const owners = ports.map((p) => steerOwner(CIP, p, 2));
      expect(owners.filter((o) => o === 0).length).toBeGreaterThan(5);
      expect(owners.filter((o) => o === 1).length).toBeGreaterThan(5);
      expect(await api(bed, { op: 'restart-worker', worker: 1 })).toEqual({ restarted: 1 });
      child.stdin.write('go\n');
      await until(2);
      const res: Record<string, boolean> = JSON.parse(lines[1]!);
      for (const p of ports) expect(res[p], `port ${p} on worker ${steerOwner(CIP, p, 2)}`).toBe(steerOwner(CIP, p, 2) === 0);
    } finally {
      child.kill();
    }
    const st = await api(bed, { op: 'status' });
    expect(st.workers[1]).toMatchObject({ alive: true, restarts: 1 });
    expect(st.workers[0].restarts).toBe(0);
    // The restarted worker serves new connections again.
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '100', '--concurrency', '10'], 60_000);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: 100, failed: 0 });
    const after = await api(bed, { op: 'status' });
    expect(after.workers.map((w: any) => w.counters.wrong_worker)).toEqual([0, 0]);
  }, 120_000);
});
