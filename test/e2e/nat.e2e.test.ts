/**
 * End to end, as root: a real TAP in a network-namespace test bed (scripts/testbed.sh), the daemon in its own
 * process, real kernel TCP/UDP endpoints on both sides, configured with tapvsadm. Skipped with the reason when
 * not root or not built.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ROOT, Testbed, e2eSkipReason, nsExec, run } from '../helpers/testbed.js';
import { trafficShapeTests } from '../helpers/shapes.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';

describe.skipIf(skip !== null)(`NAT end to end over a real TAP${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tn${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up();
    await bed.startReals();
    await bed.startDaemon();
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-m'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12:80', '-m'],
      ['-A', '-u', `${VIP}:53`, '-s', 'wlc'],
      ['-a', '-u', `${VIP}:53`, '-r', '198.18.1.11:53', '-m'],
      ['-a', '-u', `${VIP}:53`, '-r', '198.18.1.12:53', '-m'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it('carries 200 HTTP requests to both reals, which see the real client address', async () => {
    const before = bed.snmp(bed.cli);
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '200', '--concurrency', '8', '--deadline', '60'], 90_000);
    const res = JSON.parse(r.stdout);
    expect(res, r.stderr + bed.daemonLog).toMatchObject({ ok: 200, failed: 0 });
    expect(res.byServer.r1).toBe(100); // rr over two reals
    expect(res.byServer.r2).toBe(100);
    const after = bed.snmp(bed.cli);
    const sent = after.Tcp!.OutSegs! - before.Tcp!.OutSegs!;
    const recv = after.Tcp!.InSegs! - before.Tcp!.InSegs!;

    // The kernel accepted every reply on a socket connected to the VIP, so replies carried the VIP as source.
    // The reals saw the client itself (NAT keeps the client address).
    const body = await run('ip', ['netns', 'exec', bed.cli, process.execPath, '-e', `fetch('http://${VIP}/').then(r=>r.text()).then(t=>process.stdout.write(t))`], 20_000);
    expect(body.stdout).toMatch(/^served-by r[12] client 198\.18\.0\.2:\d+/);

    // -L -n --stats: the service counts exactly the segments the client's kernel sent and received.
    const stats = await bed.adm(['-L', '-n', '--stats', '-t', `${VIP}:80`]);
    expect(stats.code).toBe(0);
    const svcLine = stats.stdout.split('\n').find((l) => l.startsWith('TCP  '))!;
    const [conns, inpkts, outpkts] = svcLine.trim().split(/\s+/).slice(2).map(Number);
    // 201 conns: the 200 of the load plus the one fetch above; packets counted before that fetch.
    expect(conns).toBe(201);
    expect(inpkts).toBeGreaterThanOrEqual(sent);
    expect(outpkts).toBeGreaterThanOrEqual(recv);
    const single = bed.snmp(bed.cli);
    expect(inpkts).toBe(sent + (single.Tcp!.OutSegs! - after.Tcp!.OutSegs!));
    expect(outpkts).toBe(recv + (single.Tcp!.InSegs! - after.Tcp!.InSegs!));
  }, 120_000);

  it('lists the connections with -L -n -c', async () => {
    const r = await bed.adm(['-L', '-n', '-c']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('IPVS connection entries');
    expect(lines[1]).toBe('pro expire state       source             virtual            destination');
    const rows = lines.slice(2).filter((l) => l.startsWith('TCP'));
    expect(rows.length).toBe(201); // every connection of the HTTP test, closed and waiting out their timers
    for (const row of rows) expect(row).toMatch(/^TCP \d\d:\d\d  (TIME_WAIT|CLOSE|FIN_WAIT|CLOSE_WAIT|LAST_ACK) +198\.18\.0\.2:\d+ +198\.18\.0\.100:80 +198\.18\.1\.1[12]:80$/);
  });

  it('lists the service in ipvsadm layout with both reals', async () => {
    const r = await bed.adm(['-L', '-n']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
    ]);
    expect(lines).toContain(`TCP  ${VIP}:80 rr`);
    expect(lines.some((l) => /^ {2}-> 198\.18\.1\.11:80 {15}Masq {4}1 {6}\d+ +\d+ +$/.test(l))).toBe(true);
    expect(lines).toContain(`UDP  ${VIP}:53 wlc`);
  });

  it('echoes UDP through NAT from both reals, replies coming from the VIP', async () => {
    const script = `
      const dgram = require('node:dgram');
      const replies = []; let pending = 20;
      for (let i = 0; i < 20; i++) {
        const s = dgram.createSocket('udp4');
        s.connect(53, '${VIP}', () => s.send('hello ' + i));   // a connected socket accepts only VIP:53
        s.on('message', (m, rinfo) => { replies.push(rinfo.address + ':' + rinfo.port + ' ' + m); s.close(); if (--pending === 0) done(); });
      }
      const timer = setTimeout(done, 5000);
      function done() { clearTimeout(timer); console.log(JSON.stringify(replies)); process.exit(0); }`;
    const before = bed.snmp(bed.cli);
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, '-e', script], 20_000);
    const replies: string[] = JSON.parse(r.stdout);
    expect(replies.length).toBe(20);
    expect(replies.every((x) => x.startsWith(`${VIP}:53 r`))).toBe(true);
    expect(replies.filter((x) => x.includes(' r1 hello')).length).toBe(10); // wlc alternates on inactive counts
    expect(replies.filter((x) => x.includes(' r2 hello')).length).toBe(10);
    const after = bed.snmp(bed.cli);
    const stats = await bed.adm(['-L', '-n', '--stats', '-u', `${VIP}:53`]);
    const svcLine = stats.stdout.split('\n').find((l) => l.startsWith('UDP  '))!;
    const [conns, inpkts, outpkts] = svcLine.trim().split(/\s+/).slice(2).map(Number);
    expect(conns).toBe(20);
    expect(inpkts).toBe(after.Udp!.OutDatagrams! - before.Udp!.OutDatagrams!);
    expect(outpkts).toBe(after.Udp!.InDatagrams! - before.Udp!.InDatagrams!);
  }, 60_000);

  it('reports ipvsadm errors with ipvsadm texts and keeps the config', async () => {
    const missing = await bed.adm(['-D', '-t', '198.18.0.200:80']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No such service');
    const dup = await bed.adm(['-A', '-t', `${VIP}:80`]);
    expect(dup.stderr).toContain('Service already exists');
    const sched = await bed.adm(['-A', '-t', `${VIP}:81`, '-s', 'nosuch']);
    expect(sched.stderr).toContain('Scheduler or persistence engine not found');
    const list = await bed.adm(['-L', '-n']);
    expect(list.stdout).toContain(`TCP  ${VIP}:80 rr`);
    expect(list.stdout).not.toContain(':81');
    const status = await run(process.execPath, ['-e', `
      import('${join(ROOT, 'dist/control/client.js')}').then(async ({ ControlClient }) => {
        const c = await ControlClient.connect('${bed.socket}');
        console.log(JSON.stringify(await c.request({ op: 'status' }))); c.close();
      })`], 20_000);
    const st = JSON.parse(status.stdout);
    expect(st.workers[0].alive).toBe(true);
    expect(st.drops.tx_failed).toBe(0);
    expect(nsExec(bed.lan, ['ip', '-br', 'link', 'show', bed.tap])).toContain(bed.tap);
  }, 60_000);
  trafficShapeTests(bed, VIP, 'Masq');

  it('translates a real\'s ICMP port unreachable back to the client (outer and quoted headers from the VIP)', async () => {
    for (const args of [['-A', '-u', `${VIP}:5399`, '-s', 'rr'], ['-a', '-u', `${VIP}:5399`, '-r', '198.18.1.11:5399', '-m']]) {
      expect((await bed.adm(args)).code).toBe(0);
    }
    const icmp0 = bed.snmp(bed.cli).Icmp!;
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.on('error', (e) => { console.log(e.code); process.exit(0); });
      s.connect(5399, '${VIP}', () => s.send('anyone?'));   // nothing listens on the real's port 5399
      setTimeout(() => { console.log('no error'); process.exit(0); }, 5000);`], 20_000);
    expect(r.stdout.trim()).toBe('ECONNREFUSED');
    const icmp1 = bed.snmp(bed.cli).Icmp!;
    expect(icmp1.InDestUnreachs! - icmp0.InDestUnreachs!).toBe(1);
    expect(icmp1.InErrors! - icmp0.InErrors!).toBe(0);
  }, 30_000);
});
