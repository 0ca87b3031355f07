/**
 * TUN (-i) end to end, as root: the test bed in `tun` mode (scripts/testbed.sh) — reals as for DR plus a TUN
 * device each, rp_filter off — with `tapvs decap` running on every real (this kernel has no ipip module), the
 * daemon in its own process, kernel endpoints, tapvsadm. Requests go client → tapvs (IPIP) → decap → the real's
 * kernel; replies go real → router → client. Also the MTU path: a DF packet over the tunnel MTU gets the client
 * an ICMP frag-needed, its kernel lowers the path MTU to the VIP, and the transfer completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, Testbed, e2eSkipReason, nsExec, run, waitFor } from '../helpers/testbed.js';
import { trafficShapeTests } from '../helpers/shapes.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const UDP_PORT = 5300;
const SINK_PORT = 8000;

async function svcStats(bed: Testbed, flag: '-t' | '-u', svc: string): Promise<number[]> {
  const r = await bed.adm(['-L', '-n', '--stats', '--exact', flag, svc]);
  const line = r.stdout.split('\n').find((l) => /^(TCP|UDP) {2}/.test(l))!;
  return line.trim().split(/\s+/).slice(2).map(Number);
}

/** The counters a decapsulator logged last (at exit or on SIGUSR2). */
function decapCounters(log: string): Record<string, number> {
  const lines = log.trim().split('\n').filter((l) => l.includes('"counters"'));
  return JSON.parse(lines[lines.length - 1]!).counters;
}

describe.skipIf(skip !== null)(`TUN end to end with tapvs decap${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tt${process.pid % 1000}`);
  const decaps: ChildProcess[] = [];

  beforeAll(async () => {
    bed.up('tun');
    await bed.startReals();
    for (const [ns, name] of [[bed.r1, 'r1'], [bed.r2, 'r2']] as const) {
      await bed.startUdpEcho(ns, name, VIP, UDP_PORT);
      // A TCP sink for uploads: reads everything, answers with the byte count.
      let out = '';
      bed.spawnIn(ns, [process.execPath, '-e', `
        require('node:net').createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => s.end(String(n))); s.on('error', () => {}); })
          .listen(${SINK_PORT}, '0.0.0.0', () => console.log('sink ready'));`], (x) => (out += x));
      await waitFor(`sink in ${ns}`, () => out.includes('sink ready'));
      decaps.push(await bed.startDecap(ns, ['--vip', VIP, '--director', '198.18.1.1']));
    }
    await bed.startDaemon();
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-i'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12', '-i'],
      ['-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr'],
      ['-a', '-u', `${VIP}:${UDP_PORT}`, '-r', '198.18.1.11', '-i'],
      ['-a', '-u', `${VIP}:${UDP_PORT}`, '-r', '198.18.1.12', '-i'],
      ['-A', '-t', `${VIP}:${SINK_PORT}`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:${SINK_PORT}`, '-r', '198.18.1.11', '-i'],
      ['-a', '-t', `${VIP}:${SINK_PORT}`, '-r', '198.18.1.12', '-i'],
    ]);
  }, 90_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it('carries 200 HTTP requests through the tunnel to both reals, which answer the client directly', async () => {
    const before = bed.snmp(bed.cli);
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '200', '--concurrency', '8', '--deadline', '60'], 90_000);
    const res = JSON.parse(r.stdout);
    expect(res, r.stderr + bed.daemonLog + JSON.stringify(bed.decapLogs)).toMatchObject({ ok: 200, failed: 0 });
    expect(res.byServer).toEqual({ r1: 100, r2: 100 });
    const after = bed.snmp(bed.cli);
    const [conns, inpkts, outpkts] = await svcStats(bed, '-t', `${VIP}:80`);
    expect(conns).toBe(200);
    expect(inpkts).toBe(after.Tcp!.OutSegs! - before.Tcp!.OutSegs!);
    expect(outpkts).toBe(0);
    const body = await bed.node(bed.cli, `fetch('http://${VIP}/').then(r=>r.text()).then(t=>process.stdout.write(t))`, 20_000);
    expect(body.stdout).toMatch(/^served-by r[12] client 198\.18\.0\.2:\d+/);
  }, 120_000);

  trafficShapeTests(bed, VIP, 'Tunnel');

  it('echoes UDP through the tunnel from both reals, replies coming from the VIP', async () => {
    const r = await bed.node(bed.cli, `
      const dgram = require('node:dgram');
      const replies = []; let pending = 20;
      for (let i = 0; i < 20; i++) {
        const s = dgram.createSocket('udp4');
        s.connect(${UDP_PORT}, '${VIP}', () => s.send('hello ' + i));
        s.on('message', (m, rinfo) => { replies.push(rinfo.address + ':' + rinfo.port + ' ' + m); s.close(); if (--pending === 0) done(); });
      }
      const timer = setTimeout(done, 5000);
      function done() { clearTimeout(timer); console.log(JSON.stringify(replies)); process.exit(0); }`, 20_000);
    const replies: string[] = JSON.parse(r.stdout);
    expect(replies.length).toBe(20);
    expect(replies.every((x) => x.startsWith(`${VIP}:${UDP_PORT} r`))).toBe(true);
    expect(replies.filter((x) => x.includes(' r1 hello')).length).toBe(10);
    expect(replies.filter((x) => x.includes(' r2 hello')).length).toBe(10);
    const [conns, , outpkts] = await svcStats(bed, '-u', `${VIP}:${UDP_PORT}`);
    expect(conns).toBe(20);
    expect(outpkts).toBe(0);
  }, 60_000);

  it('answers a DF packet over the tunnel MTU with frag-needed 1480; the client lowers its PMTU and the upload completes', async () => {
    expect(nsExec(bed.cli, ['ip', 'route', 'get', VIP])).not.toMatch(/mtu 1480/);
    const st0 = await bed.status();
    const icmp0 = bed.snmp(bed.cli).Icmp!;
    // 1 MB upload: the client's full-size segments (1500 bytes, DF) do not fit into the tunnel (1480).
    const r = await bed.node(bed.cli, `
      const s = require('node:net').connect(${SINK_PORT}, '${VIP}', () => s.end(Buffer.alloc(1048576, 7)));
      let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => console.log(got));
      s.on('error', (e) => { console.error(e.message); process.exit(1); });`, 60_000);
    expect(r.stdout.trim(), r.stderr).toBe('1048576');
    const route = nsExec(bed.cli, ['ip', 'route', 'get', VIP]);
    expect(route).toMatch(/mtu 1480/);
    const icmp1 = bed.snmp(bed.cli).Icmp!;
    expect(icmp1.InDestUnreachs! - icmp0.InDestUnreachs!).toBeGreaterThanOrEqual(1);
    expect(icmp1.InErrors! - icmp0.InErrors!).toBe(0); // the kernel found nothing wrong with it (checksum, length)
    expect(icmp1.InCsumErrors ?? 0).toBe(icmp0.InCsumErrors ?? 0);
    const st1 = await bed.status();
    const c = (s: typeof st0, k: string) => s.workers[0]!.counters[k]!;
    expect(st1.drops.tun_too_big! - st0.drops.tun_too_big!).toBeGreaterThanOrEqual(1);
    expect(c(st1, 'icmp_frag_needed_sent') - c(st0, 'icmp_frag_needed_sent')).toBeGreaterThanOrEqual(1);
    // After the first ICMP the client keeps to 1480: only the segments in flight before it were too big.
    expect(st1.drops.tun_too_big! - st0.drops.tun_too_big!).toBeLessThan(100);
    // A second large upload sees no oversize packets at all.
    const again = await bed.node(bed.cli, `
      const s = require('node:net').connect(${SINK_PORT}, '${VIP}', () => s.end(Buffer.alloc(1048576, 7)));
      let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => console.log(got));`, 60_000);
    expect(again.stdout.trim()).toBe('1048576');
    const st2 = await bed.status();
    expect(st2.drops.tun_too_big).toBe(st1.drops.tun_too_big);
  }, 120_000);

  it('the decapsulators handed every tunnelled packet to their kernels and dropped none', async () => {
    const st = await bed.status();
    for (const k of ['tx_failed', 'neigh_unresolved', 'no_route', 'tcp_no_conn', 'real_unavailable', 'tx_no_slot']) expect(st.drops[k], k).toBe(0);
    for (const [i, p] of decaps.entries()) {
      const ns = i === 0 ? bed.r1 : bed.r2;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
      const k = decapCounters(bed.decapLogs[ns]!);
      expect(k.tx_packets, ns).toBeGreaterThan(1000);
      expect(k.tx_packets, bed.decapLogs[ns]).toBe(k.rx_packets);
      for (const d of ['malformed', 'not_ipip', 'bad_source', 'inner_not_ipv4', 'inner_malformed', 'inner_bad_checksum', 'not_vip', 'tx_failed']) {
        expect(k[d], `${ns} ${d}`).toBe(0);
      }
    }
  }, 30_000);
});
