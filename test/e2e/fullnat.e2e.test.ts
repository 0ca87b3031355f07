/**
 * FULLNAT (--fullnat) end to end, as root: the test bed in `fullnat` mode (scripts/testbed.sh) — the reals'
 * default route is the site router, never the director; they talk to the director's local addresses (LIPs
 * 198.18.1.200/.201 on their own prefix) — the daemon in its own process, kernel endpoints, tapvsadm (-P adds
 * the LIPs). Replies from the reals go to a LIP and come back through the director. Client-IP delivery: PROXY
 * protocol v1/v2 to a real server that parses the header (scripts/realserver.js --proxy-http/--proxy-udp), TOA
 * seen on the wire in a real's namespace (no TOA kernel module here), and ICMP translation (a real's port
 * unreachable reaches the client as an error from the VIP).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, Testbed, e2eSkipReason, nsExec, run, waitFor } from '../helpers/testbed.js';
import { trafficShapeTests } from '../helpers/shapes.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const LIP1 = '198.18.1.200';
const LIP2 = '198.18.1.201';
const PP_HTTP = 8081; // the reals' PROXY-parsing HTTP server
const PP_UDP = 5301; // the reals' PROXY v2 UDP echo

async function svcStats(bed: Testbed, flag: '-t' | '-u', svc: string): Promise<number[]> {
  const r = await bed.adm(['-L', '-n', '--stats', '--exact', flag, svc]);
  const line = r.stdout.split('\n').find((l) => /^(TCP|UDP) {2}/.test(l))!;
  return line.trim().split(/\s+/).slice(2).map(Number);
}

/** n HTTP GETs from the client, one connection each; returns [local port, body] pairs. */
function getsWithPorts(bed: Testbed, port: number, n: number) {
  return bed.node(bed.cli, `
    const http = require('node:http');
    const out = [];
    let left = ${n};
    const one = () => {
      const req = http.get({ host: '${VIP}', port: ${port}, path: '/', agent: false }, (res) => {
        let b = ''; res.on('data', (d) => (b += d));
        res.on('end', () => { out.push([req.socket.localPort ?? lport, b.trim(), res.statusCode]); if (--left === 0) console.log(JSON.stringify(out)); else one(); });
      });
      let lport = 0;
      req.on('socket', (s) => s.on('connect', () => (lport = s.localPort)));
      req.on('error', (e) => { console.error(e.message); process.exit(1); });
    };
    one();`, 60_000);
}

/**
 * A capture on a real's eth0 (the addon's AF_PACKET socket): TCP segments to `port` that carry TOA (kind 254,
 * length 8), as { flags, port, addr } from the option. Prints 'ready', then the list once `want` were seen or
 * after `ms`.
 */
function toaCapture(port: number, want: number, ms: number): string {
  return `
    import('${join(ROOT, 'dist/io/native.js')}').then(({ native }) => {
      const fd = native.openPacket('eth0');
      if (fd < 0) { console.log('openPacket ' + fd); process.exit(1); }
      const ring = new ArrayBuffer(64 * 2048), lens = new Int32Array(64), b = new Uint8Array(ring), dv = new DataView(ring);
      const seen = [];
      let segs = 0;
      const until = Date.now() + ${ms};
      console.log('ready');
      while (Date.now() < until && seen.length < ${want}) {
        native.waitReadable(fd, -1, 100);
        const n = native.recvBatch(fd, ring, 2048, 0, 64, lens);
        for (let i = 0; i < n; i++) {
          const o = i * 2048;
          if (dv.getUint16(o + 12) !== 0x0800 || b[o + 23] !== 6) continue;
          const t = o + 14 + (b[o + 14] & 15) * 4;
          if (dv.getUint16(t + 2) !== ${port}) continue;
          segs++;
          const end = t + (b[t + 12] >> 4) * 4;
          for (let p = t + 20; p < end;) {
            const k = b[p];
            if (k === 0) break;
            if (k === 1) { p++; continue; }
            if (k === 254 && b[p + 1] === 8) {
              seen.push({ flags: b[t + 13], port: dv.getUint16(p + 2), addr: [b[p + 4], b[p + 5], b[p + 6], b[p + 7]].join('.'), src: [b[o + 26], b[o + 27], b[o + 28], b[o + 29]].join('.') });
            }
            p += b[p + 1] || 1;
          }
        }
      }
      console.log(JSON.stringify({ segs, seen }));
      process.exit(0);
    });`;
}

describe.skipIf(skip !== null)(`FULLNAT end to end over a real TAP${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tf${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up('fullnat');
    await bed.startReals(['--proxy-http', String(PP_HTTP), '--proxy-udp', String(PP_UDP)]);
    await bed.startDaemon();
    const fnat = (svc: string, proto: '-t' | '-u', opts: string[], reals: string[], laddrs = [LIP1]) => [
      ['-A', proto, svc, '-s', 'rr', ...opts],
      ...laddrs.map((l) => ['-P', proto, svc, '-z', l]),
      ...reals.map((r) => ['-a', proto, svc, '-r', r, '--fullnat']),
    ];
    await bed.configure([
      ...fnat(`${VIP}:80`, '-t', [], ['198.18.1.11:80', '198.18.1.12:80'], [LIP1, LIP2]),
      ...fnat(`${VIP}:53`, '-u', [], ['198.18.1.11:53', '198.18.1.12:53']),
      ...fnat(`${VIP}:8081`, '-t', ['--proxy-protocol', 'v1'], [`198.18.1.11:${PP_HTTP}`, `198.18.1.12:${PP_HTTP}`]),
      ...fnat(`${VIP}:8082`, '-t', ['--proxy-protocol', 'v2'], [`198.18.1.11:${PP_HTTP}`, `198.18.1.12:${PP_HTTP}`]),
      ...fnat(`${VIP}:${PP_UDP}`, '-u', ['--proxy-protocol', 'v2'], [`198.18.1.11:${PP_UDP}`, `198.18.1.12:${PP_UDP}`]),
      ...fnat(`${VIP}:8083`, '-t', ['--toa'], ['198.18.1.11:80']),
      ...fnat(`${VIP}:5399`, '-u', [], ['198.18.1.11:5399']), // nothing listens there
      ['-A', '-t', `${VIP}:9`, '-s', 'rr'], ['-P', '-t', `${VIP}:9`, '-z', LIP1], ['-a', '-t', `${VIP}:9`, '-r', '198.18.1.11:9', '--fullnat', '-w', '0'],
    ]);
  }, 90_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it('carries 200 HTTP requests to both reals, which see a local address as the client and answer it', async () => {
    const before = bed.snmp(bed.cli);
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '200', '--concurrency', '8', '--deadline', '60'], 90_000);
    const res = JSON.parse(r.stdout);
    expect(res, r.stderr + bed.daemonLog).toMatchObject({ ok: 200, failed: 0 });
    expect(res.byServer).toEqual({ r1: 100, r2: 100 });
    const after = bed.snmp(bed.cli);
    const [conns, inpkts, outpkts] = await svcStats(bed, '-t', `${VIP}:80`);
    expect(conns).toBe(200);
    // Both directions pass the director: it counted every segment the client sent and received.
    expect(inpkts).toBe(after.Tcp!.OutSegs! - before.Tcp!.OutSegs!);
    expect(outpkts).toBe(after.Tcp!.InSegs! - before.Tcp!.InSegs!);
    // The reals see the LIPs (both in turn), never the client; their routes never lead to the director.
    const bodies = await getsWithPorts(bed, 80, 4);
    const seen = (JSON.parse(bodies.stdout) as [number, string][]).map(([, b]) => /client ([\d.]+):\d+/.exec(b)![1]);
    expect(new Set(seen)).toEqual(new Set([LIP1, LIP2]));
    expect(nsExec(bed.r1, ['ip', 'route', 'get', '198.18.0.2'])).toContain('via 198.18.1.254');
  }, 120_000);

  trafficShapeTests(bed, VIP, 'FullNat');

  it('echoes UDP from both reals, replies coming from the VIP', async () => {
    const r = await bed.node(bed.cli, `
      const dgram = require('node:dgram');
      const replies = []; let pending = 20;
      for (let i = 0; i < 20; i++) {
        const s = dgram.createSocket('udp4');
        s.connect(53, '${VIP}', () => s.send('hello ' + i));
        s.on('message', (m, rinfo) => { replies.push(rinfo.address + ':' + rinfo.port + ' ' + m); s.close(); if (--pending === 0) done(); });
      }
      const timer = setTimeout(done, 5000);
      function done() { clearTimeout(timer); console.log(JSON.stringify(replies)); process.exit(0); }`, 20_000);
    const replies: string[] = JSON.parse(r.stdout);
    expect(replies.length).toBe(20);
    expect(replies.every((x) => x.startsWith(`${VIP}:53 r`))).toBe(true);
    expect(replies.filter((x) => x.includes(' r1 hello')).length).toBe(10);
    expect(replies.filter((x) => x.includes(' r2 hello')).length).toBe(10);
    const [conns, inpkts, outpkts] = await svcStats(bed, '-u', `${VIP}:53`);
    expect([conns, inpkts, outpkts]).toEqual([20, 20, 20]);
  }, 60_000);

  it.each([['v1', 8081], ['v2', 8082]] as const)('PROXY protocol %s: the real learns the client address and port from the header', async (v, port) => {
    const r = await getsWithPorts(bed, port, 20);
    const got = JSON.parse(r.stdout) as [number, string, number][];
    expect(got.length, r.stderr).toBe(20);
    for (const [lport, body, status] of got) {
      expect(status).toBe(200);
      expect(body).toMatch(new RegExp(`^served-by r[12] client 198\\.18\\.0\\.2:${lport} peer 198\\.18\\.1\\.200:\\d+ proxy ${v}$`));
    }
    expect(new Set(got.map(([, b]) => b.split(' ')[1]))).toEqual(new Set(['r1', 'r2']));
  }, 60_000);

  it('PROXY protocol: 1 MB each way keeps the sequence shift right for the whole connection', async () => {
    const r = await bed.node(bed.cli, `
      const http = require('node:http');
      (async () => {
        const down = await fetch('http://${VIP}:8082/?bytes=1048576');
        const b = Buffer.from(await down.arrayBuffer());
        const up = await new Promise((resolve, reject) => {
          const req = http.request({ host: '${VIP}', port: 8081, method: 'POST', path: '/', agent: false }, (res) => {
            let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => resolve(t.trim()));
          });
          req.on('error', reject);
          req.end(Buffer.alloc(1048576, 7));
        });
        console.log(JSON.stringify({ len: b.length, x: b.every((c) => c === 120), up }));
      })().catch((e) => { console.error(e); process.exit(1); });`, 60_000);
    expect(JSON.parse(r.stdout), r.stderr).toEqual({ len: 1048576, x: true, up: 'received 1048576' });
  }, 90_000);

  it('PROXY protocol v2 over UDP: a header on every datagram names the client', async () => {
    const r = await bed.node(bed.cli, `
      const dgram = require('node:dgram');
      const out = []; let pending = 10;
      for (let i = 0; i < 10; i++) {
        const s = dgram.createSocket('udp4');
        s.connect(${PP_UDP}, '${VIP}', () => { s.send('a' + i); s.send('b' + i); });
        let n = 0;
        s.on('message', (m) => { out.push(s.address().port + ' ' + m); if (++n === 2) { s.close(); if (--pending === 0) done(); } });
      }
      const timer = setTimeout(done, 5000);
      function done() { clearTimeout(timer); console.log(JSON.stringify(out)); process.exit(0); }`, 20_000);
    const out: string[] = JSON.parse(r.stdout);
    expect(out.length).toBe(20);
    for (const line of out) {
      const [port, rest] = [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
      expect(rest).toMatch(new RegExp(`^r[12] client 198\\.18\\.0\\.2:${port} [ab]\\d$`));
    }
  }, 60_000);

  it('TOA: the first segments to the real carry option 254 with the client address and port', async () => {
    let cap = '';
    const p: ChildProcess = bed.spawnIn(bed.r1, [process.execPath, '-e', toaCapture(80, 5, 20_000)], (s) => (cap += s));
    await waitFor('capture ready', () => cap.includes('ready') || p.exitCode !== null, 15_000);
    const st0 = await bed.status();
    const r = await getsWithPorts(bed, 8083, 5);
    const got = JSON.parse(r.stdout) as [number, string, number][];
    expect(got.map(([, , s]) => s)).toEqual([200, 200, 200, 200, 200]);
    await waitFor('capture done', () => p.exitCode !== null, 25_000);
    const { seen } = JSON.parse(cap.slice(cap.indexOf('{'))) as { seen: { port: number; addr: string; src: string; flags: number }[] };
    expect(seen.length).toBeGreaterThanOrEqual(5);
    const ports = new Set(got.map(([lport]) => lport));
    for (const s of seen) {
      expect(s.addr).toBe('198.18.0.2');
      expect(ports.has(s.port)).toBe(true);
      expect(s.src).toBe(LIP1);
    }
    const st1 = await bed.status();
    const c = (s: typeof st0, k: string) => s.workers.reduce((n, w) => n + (w.counters[k] ?? 0), 0);
    expect(c(st1, 'toa_inserted') - c(st0, 'toa_inserted')).toBeGreaterThanOrEqual(5);
    expect(c(st1, 'toa_no_room') - c(st0, 'toa_no_room')).toBe(0);
  }, 60_000);

  it('translates a real\'s ICMP port unreachable back to the client, which sees ECONNREFUSED from the VIP', async () => {
    const icmp0 = bed.snmp(bed.cli).Icmp!;
    const st0 = await bed.status();
    const r = await bed.node(bed.cli, `
      const s = require('node:dgram').createSocket('udp4');
      s.on('error', (e) => { console.log(e.code); process.exit(0); });
      s.connect(5399, '${VIP}', () => { s.send('anyone?'); setTimeout(() => s.send('anyone?'), 300); });
      setTimeout(() => { console.log('no error'); process.exit(0); }, 5000);`, 20_000);
    expect(r.stdout.trim()).toBe('ECONNREFUSED');
    const icmp1 = bed.snmp(bed.cli).Icmp!;
    expect(icmp1.InDestUnreachs! - icmp0.InDestUnreachs!).toBeGreaterThanOrEqual(1);
    expect(icmp1.InErrors! - icmp0.InErrors!).toBe(0); // checksums and quoted header were right
    const st1 = await bed.status();
    const c = (s: typeof st0, k: string) => s.workers.reduce((n, w) => n + (w.counters[k] ?? 0), 0);
    expect(c(st1, 'icmp_translated') - c(st0, 'icmp_translated')).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('answers a client with ICMP port unreachable when no real is available: connect() fails at once', async () => {
    const r = await bed.node(bed.cli, `
      const t0 = Date.now();
      require('node:net').connect(9, '${VIP}').on('error', (e) => { console.log(e.code, Date.now() - t0 < 2000); process.exit(0); });`, 20_000);
    expect(r.stdout.trim()).toBe('ECONNREFUSED true');
    const st = await bed.status();
    expect(st.drops.sched_no_real).toBeGreaterThanOrEqual(1);
    expect(st.workers.reduce((n, w) => n + (w.counters.icmp_unreach_sent ?? 0), 0)).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('lists the local addresses with -G and the reals as FullNat, and drops nothing unexpected', async () => {
    const g = await bed.adm(['-G', '-t', `${VIP}:80`]);
    expect(g.stdout.split('\n').map((l) => l.trim())).toEqual(['VIP:VPORT            TOTAL    SNAT_IP'.trim(), `${VIP}:80      2`, LIP1, LIP2, '']);
    const l = await bed.adm(['-L', '-n']);
    expect(l.stdout).toMatch(/ {2}-> 198\.18\.1\.11:80 {15}FullNat 1 /);
    const st = await bed.status();
    for (const k of ['tx_failed', 'neigh_unresolved', 'no_route', 'tcp_no_conn', 'real_unavailable', 'l4_bad_checksum', 'laddr_exhausted', 'proxy_no_room', 'reply_no_conn']) {
      expect(st.drops[k], k).toBe(0);
    }
  }, 30_000);
});

/**
 * Two workers on a two-queue TAP: each worker hands out only its own local ports (p % 2), the steering program
 * sends a real's reply to LIP:lport — and an ICMP error quoting LIP:lport — to the worker that chose lport.
 */
describe.skipIf(skip !== null)(`FULLNAT with two workers${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tg${process.pid % 1000}`);

  beforeAll(async () => {
    bed.up('fullnat');
    await bed.startReals(['--proxy-http', String(PP_HTTP)]);
    await bed.startDaemon(['--workers', '2', '--lport-range', '20000-29999']);
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'wlc'], ['-P', '-t', `${VIP}:80`, '-z', LIP1], ['-P', '-t', `${VIP}:80`, '-z', LIP2],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '--fullnat'], ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12:80', '--fullnat'],
      ['-A', '-t', `${VIP}:8082`, '-s', 'rr', '--proxy-protocol', 'v2'], ['-P', '-t', `${VIP}:8082`, '-z', LIP1],
      ['-a', '-t', `${VIP}:8082`, '-r', `198.18.1.11:${PP_HTTP}`, '--fullnat'], ['-a', '-t', `${VIP}:8082`, '-r', `198.18.1.12:${PP_HTTP}`, '--fullnat'],
      ['-A', '-u', `${VIP}:5399`, '-s', 'rr'], ['-P', '-u', `${VIP}:5399`, '-z', LIP1], ['-a', '-u', `${VIP}:5399`, '-r', '198.18.1.11:5399', '--fullnat'],
    ]);
  }, 90_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it('carries 1000 requests at 500 concurrent connections; every reply reached the worker owning its local port', async () => {
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', '1000', '--concurrency', '500', '--deadline', '90', '--timeout', '20000'], 120_000);
    const res = JSON.parse(r.stdout);
    expect(res, r.stderr + bed.daemonLog).toMatchObject({ ok: 1000, failed: 0 });
    const st = await bed.status();
    expect(st.workers.map((w) => w.counters.wrong_worker)).toEqual([0, 0]);
    const created = st.workers.map((w) => w.counters.conns_created!);
    expect(created.every((n) => n > 200)).toBe(true);
    expect(st.drops.reply_no_conn).toBe(0);
    expect(st.drops.laddr_exhausted).toBe(0);
  }, 150_000);

  it('PROXY v2 names every client through both workers; local ports come from --lport-range', async () => {
    const r = await getsWithPorts(bed, 8082, 20);
    const got = JSON.parse(r.stdout) as [number, string, number][];
    expect(got.length, r.stderr).toBe(20);
    const lports = new Set<number>();
    for (const [cport, body] of got) {
      const m = new RegExp(`^served-by r[12] client 198\\.18\\.0\\.2:${cport} peer 198\\.18\\.1\\.200:(\\d+) proxy v2$`).exec(body);
      expect(m, body).not.toBeNull();
      lports.add(Number(m![1]));
    }
    for (const p of lports) expect(p >= 20000 && p <= 29999, String(p)).toBe(true);
    expect(new Set([...lports].map((p) => p % 2)).size).toBe(2); // both workers' shares in use
  }, 60_000);

  it('a real\'s port unreachable reaches every client, whichever worker owns its conn', async () => {
    // The real's kernel would rate-limit its errors to the one LIP (6, then 1/s): let all ten through.
    nsExec(bed.r1, ['sysctl', '-qw', 'net.ipv4.icmp_ratelimit=0']);
    const r = await bed.node(bed.cli, `
      const dgram = require('node:dgram');
      const codes = []; let left = 10;
      for (let i = 0; i < 10; i++) {
        const s = dgram.createSocket('udp4');
        s.on('error', (e) => { codes.push(e.code); s.close(); if (--left === 0) { console.log(JSON.stringify(codes)); process.exit(0); } });
        s.connect(5399, '${VIP}', () => { s.send('x'); setTimeout(() => { try { s.send('x'); } catch {} }, 300); });
      }
      setTimeout(() => { console.log(JSON.stringify(codes)); process.exit(0); }, 5000);`, 20_000);
    expect(JSON.parse(r.stdout)).toEqual(Array(10).fill('ECONNREFUSED'));
    const st = await bed.status();
    expect(st.workers.map((w) => w.counters.wrong_worker)).toEqual([0, 0]);
    expect(st.drops.icmp_unhandled).toBe(0);
  }, 30_000);
});
