/**
 * DR (-g) end to end, as root: the test bed in `dr` mode (scripts/testbed.sh) — the VIP on the reals' lo with
 * ARP suppressed, their default route via the site router (the LAN namespace), never via the director — the
 * daemon in its own process, kernel TCP/UDP endpoints, configured with tapvsadm. Requests go client → tapvs →
 * real; replies go real → router → client and never pass the director. Skipped with the reason when not root.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, Testbed, e2eSkipReason, nsExec, run } from '../helpers/testbed.js';
import { trafficShapeTests } from '../helpers/shapes.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const UDP_PORT = 5300;

/** Service line counters of `-L -n --stats`: [conns, inpkts, outpkts, inbytes, outbytes]. */
async function svcStats(bed: Testbed, flag: '-t' | '-u', svc: string): Promise<number[]> {
  const r = await bed.adm(['-L', '-n', '--stats', '--exact', flag, svc]);
  const line = r.stdout.split('\n').find((l) => /^(TCP|UDP) {2}/.test(l))!;
  return line.trim().split(/\s+/).slice(2).map(Number);
}

describe.skipIf(skip !== null)(`DR end to end over a real TAP${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`td${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up('dr');
    await bed.startReals();
    await bed.startUdpEcho(bed.r1, 'r1', VIP, UDP_PORT);
    await bed.startUdpEcho(bed.r2, 'r2', VIP, UDP_PORT);
    await bed.startDaemon();
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-g'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12', '-g'],
      ['-A', '-u', `${VIP}:${UDP_PORT}`, '-s', 'rr'],
      ['-a', '-u', `${VIP}:${UDP_PORT}`, '-r', '198.18.1.11', '-g'],
      ['-a', '-u', `${VIP}:${UDP_PORT}`, '-r', '198.18.1.12', '-g'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it('carries 200 HTTP requests to both reals, which see the client and answer it directly', async () => {
    const before = bed.snmp(bed.cli);
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '200', '--concurrency', '8', '--deadline', '60'], 90_000);
    const res = JSON.parse(r.stdout);
    expect(res, r.stderr + bed.daemonLog).toMatchObject({ ok: 200, failed: 0 });
    expect(res.byServer).toEqual({ r1: 100, r2: 100 });
    const after = bed.snmp(bed.cli);
    const [conns, inpkts, outpkts] = await svcStats(bed, '-t', `${VIP}:80`);
    expect(conns).toBe(200);
    // Every segment the client sent went through the director; none of the replies did.
    expect(inpkts).toBe(after.Tcp!.OutSegs! - before.Tcp!.OutSegs!);
    expect(outpkts).toBe(0);
    expect(after.Tcp!.InSegs! - before.Tcp!.InSegs!).toBeGreaterThan(200 * 3);
    // The reals see the client's own address, and the reply comes from the VIP (the socket is connected to it).
    const body = await bed.node(bed.cli, `fetch('http://${VIP}/').then(r=>r.text()).then(t=>process.stdout.write(t))`, 20_000);
    expect(body.stdout).toMatch(/^served-by r[12] client 198\.18\.0\.2:\d+/);
    // The router forwarded the replies (the reals never talk to the director's addresses).
    expect(nsExec(bed.r1, ['ip', 'route', 'get', '198.18.0.2'])).toContain('via 198.18.1.254');
  }, 120_000);

  trafficShapeTests(bed, VIP, 'Route');

  it('echoes UDP through DR from both reals, replies coming from the VIP', async () => {
    const before = bed.snmp(bed.cli);
    const r = await bed.node(bed.cli, `
      const dgram = require('node:dgram');
      const replies = []; let pending = 20;
      for (let i = 0; i < 20; i++) {
        const s = dgram.createSocket('udp4');
        s.connect(${UDP_PORT}, '${VIP}', () => s.send('hello ' + i));   // a connected socket accepts only VIP:port
        s.on('message', (m, rinfo) => { replies.push(rinfo.address + ':' + rinfo.port + ' ' + m); s.close(); if (--pending === 0) done(); });
      }
      const timer = setTimeout(done, 5000);
      function done() { clearTimeout(timer); console.log(JSON.stringify(replies)); process.exit(0); }`, 20_000);
    const replies: string[] = JSON.parse(r.stdout);
    expect(replies.length).toBe(20);
    expect(replies.every((x) => x.startsWith(`${VIP}:${UDP_PORT} r`))).toBe(true);
    expect(replies.filter((x) => x.includes(' r1 hello')).length).toBe(10);
    expect(replies.filter((x) => x.includes(' r2 hello')).length).toBe(10);
    const after = bed.snmp(bed.cli);
    const [conns, inpkts, outpkts] = await svcStats(bed, '-u', `${VIP}:${UDP_PORT}`);
    expect(conns).toBe(20);
    expect(inpkts).toBe(after.Udp!.OutDatagrams! - before.Udp!.OutDatagrams!);
    expect(outpkts).toBe(0);
  }, 60_000);

  it('lists the reals as Route on the service port and drops nothing unexpected', async () => {
    const l = await bed.adm(['-L', '-n']);
    expect(l.stdout).toMatch(/ {2}-> 198\.18\.1\.11:80 {15}Route {3}1 /);
    expect(l.stdout).toMatch(/ {2}-> 198\.18\.1\.12:5300 {13}Route {3}1 /);
    const st = await bed.status();
    for (const k of ['tx_failed', 'neigh_unresolved', 'no_route', 'tcp_no_conn', 'real_unavailable', 'rx_truncated', 'l4_bad_checksum']) {
      expect(st.drops[k], k).toBe(0);
    }
  }, 30_000);
});
