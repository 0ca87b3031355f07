/**
 * Health checks and drains end to end, as root: the NAT test bed (scripts/testbed.sh), the daemon in the LAN
 * namespace probing the reals from that namespace's own stack (source "host": br0 gets 198.18.1.254/24, as a
 * director host's NIC on the reals' network), HTTP load from the client namespace. Short intervals keep it quick.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ControlClient } from '../../src/control/client.js';
import type { ListResult, RealInfo } from '../../src/control/protocol.js';
import { ROOT, Testbed, e2eSkipReason, nsExec, run, waitFor } from '../helpers/testbed.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const R1 = '198.18.1.11';
const R2 = '198.18.1.12';
const svc = { proto: 'tcp', vip: VIP, vport: 80 } as const;
const CHECK = { kind: 'http', path: '/', intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2 } as const;

/**
 * A client with two idle connections to the VIP (rr: one per real), each holding a half-sent request; SIGUSR2
 * finishes both requests. Prints READY, then {localPort: served-by | error code | 'timeout'} (2.5 s to answer).
 */
const IDLE_PAIR = `
  const net = require('node:net');
  const out = {};
  let ready = 0, done = 0;
  const ports = [];
  const socks = [0, 1].map((i) => {
    const s = net.connect(80, '${VIP}', () => { ports[i] = s.localPort; s.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n'); if (++ready === 2) console.log('READY'); });
    let buf = '';
    s.on('data', (d) => (buf += d));
    s.on('error', (e) => finish(i, e.code));
    s.on('end', () => finish(i, (/x-served-by: (\\S+)/i.exec(buf) || [])[1] || 'closed'));
    return s;
  });
  function finish(i, what) {
    if (out[ports[i]]) return;
    out[ports[i]] = what;
    socks[i].destroy();
    if (++done === 2) { console.log(JSON.stringify(out)); process.exit(0); }
  }
  process.on('SIGUSR2', () => {
    socks.forEach((s) => s.write('Connection: close\\r\\n\\r\\n'));
    setTimeout(() => socks.forEach((s, i) => finish(i, 'timeout')), 2500);
  });
  setTimeout(() => process.exit(1), 30000);`;

describe.skipIf(skip !== null)(`health checks and drains end to end${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`hd${process.pid % 1000}`);
  const servers: Record<string, ChildProcess> = {};
  let api: ControlClient;

  const startReal = async (ns: string, name: string) => {
    servers[name] = bed.spawnIn(ns, [process.execPath, join(ROOT, 'scripts/realserver.js'), '--name', name]);
    await waitFor(`real server ${name}`, () => /:0050 /.test(nsExec(ns, ['cat', '/proc/net/tcp'])));
  };
  const reals = async (port = 80): Promise<Record<string, RealInfo>> => {
    const l = (await api.request({ op: 'list' })) as ListResult;
    return Object.fromEntries((l.services.find((s) => s.vport === port)?.reals ?? []).map((r) => [r.rip, r]));
  };
  const load = async (n: number, concurrency = 4, path = '/') => {
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}${path}`, '--n', String(n), '--concurrency', String(concurrency), '--deadline', '60'], 90_000);
    return JSON.parse(r.stdout) as { ok: number; failed: number; byServer: Record<string, number>; errors: Record<string, number> };
  };

  beforeAll(async () => {
    bed.up();
    nsExec(bed.lan, ['ip', 'addr', 'add', '198.18.1.254/24', 'dev', 'br0']); // the host's own address for probes
    await startReal(bed.r1, 'r1');
    await startReal(bed.r2, 'r2');
    await bed.startDaemon();
    api = await ControlClient.connect(bed.socket);
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'rr'],
      ['-a', '-t', `${VIP}:80`, '-r', `${R1}:80`, '-m'],
      ['-a', '-t', `${VIP}:80`, '-r', `${R2}:80`, '-m'],
      ['-A', '-u', `${VIP}:53`, '-s', 'rr'],
      ['-a', '-u', `${VIP}:53`, '-r', `${R1}:53`, '-m'],
      ['-a', '-u', `${VIP}:53`, '-r', `${R2}:53`, '-m'],
    ]);
  }, 60_000);

  /** Set by a test that drained R1 away: the next test gets it back (also when that test failed). */
  let readdR1 = false;
  beforeEach(async () => {
    if (readdR1) await bed.configure([['-a', '-t', `${VIP}:80`, '-r', `${R1}:80`, '-m']]);
    readdR1 = false;
  });

  afterAll(async () => {
    api?.close();
    await bed.teardown();
  });

  it('marks a stopped real DOWN within interval x fall, sends traffic to the other with 0 failures, and brings it back after rise', async () => {
    await api.request({ op: 'set-health', service: svc, check: CHECK });
    await waitFor('both reals UP', async () => Object.values(await reals()).every((r) => r.health?.state === 'up'), 5000);

    servers.r1!.kill('SIGTERM');
    const stopped = Date.now();
    await waitFor('r1 DOWN', async () => (await reals())[R1]!.health!.state === 'down', 5000);
    const detectMs = Date.now() - stopped;
    // The next probe starts within one interval; `fall` failures take (fall - 1) more; each ends by the timeout.
    expect(detectMs).toBeLessThan(CHECK.intervalMs * CHECK.fall + CHECK.timeoutMs + 400);
    const down = (await reals())[R1]!;
    expect(down).toMatchObject({ weight: 0, configuredWeight: 1, health: { state: 'down', action: 'quiesced' } });
    expect(down.health!.lastError).toMatch(/^http GET \/: ECONNREFUSED$/);

    const after = await load(200);
    expect(after, JSON.stringify(after.errors)).toMatchObject({ ok: 200, failed: 0, byServer: { r2: 200 } });
    expect(after.byServer.r1).toBeUndefined();

    const listed = await bed.adm(['-L', '-n', '--health']);
    expect(listed.stdout).toContain('  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn  Health');
    expect(listed.stdout).toContain(`TCP  ${VIP}:80 rr  check http / every 200ms timeout 150ms rise 2 fall 2 on-fail quiesce\n`);
    expect(listed.stdout).toMatch(new RegExp(`-> ${R1.replace(/\./g, '\\.')}:80 +Masq +0 .* DOWN \\S+ quiesced \\(http GET /: ECONNREFUSED\\)`));
    const plain = await bed.adm(['-L', '-n']);
    expect(plain.stdout).not.toContain('Health');

    await startReal(bed.r1, 'r1');
    const restarted = Date.now();
    await waitFor('r1 UP', async () => (await reals())[R1]!.health!.state === 'up', 5000);
    expect(Date.now() - restarted).toBeLessThan(CHECK.intervalMs * (CHECK.rise + 1) + CHECK.timeoutMs + 400);
    expect((await reals())[R1]).toMatchObject({ weight: 1, health: { action: 'none', lastError: null } });
    const back = await load(100);
    expect(back).toMatchObject({ ok: 100, failed: 0, byServer: { r1: 50, r2: 50 } });
    expect(bed.daemonLog).toMatch(/"msg":"health transition"/);
    await api.request({ op: 'set-health', service: svc, check: null });
  }, 60_000);

  it('drains a real under HTTP load with 0 failed requests, showing progress, and removes it', async () => {
    // 300 KB answers keep conns busy while the drain starts, so it has active conns to wait for.
    const loading = load(600, 6, '/?bytes=300000');
    await new Promise((r) => setTimeout(r, 800));
    const drain = await bed.adm(['--drain', '-t', `${VIP}:80`, '-r', `${R1}:80`, '--deadline', '20s', '--wait']);
    readdR1 = true;
    const res = await loading;
    expect(drain.code, drain.stdout + drain.stderr).toBe(0);
    expect(drain.stdout).toMatch(/^TCP 198\.18\.0\.100:80 -> 198\.18\.1\.11:80 draining: ActiveConn \d+ InActConn \d+ PersistConn 0/m);
    expect(drain.stdout).toMatch(/^TCP 198\.18\.0\.100:80 -> 198\.18\.1\.11:80 drained after \S+: empty, removed$/m);
    expect(res, JSON.stringify(res.errors)).toMatchObject({ ok: 600, failed: 0 });
    expect(res.byServer.r1).toBeGreaterThan(0);
    expect(Object.keys(await reals())).toEqual([R2]);
    expect(bed.daemonLog).toMatch(/"msg":"drain complete: real removed"/);
  }, 90_000);

  for (const [mode, r1Outcome] of [['reset', 'ECONNRESET'], ['keep', 'timeout']] as const) {
    it(`at the deadline with ${mode}: the conn left on the drained real ${mode === 'reset' ? 'is reset at its next segment' : 'gets no answer'}, the other is served`, async () => {
      let out = '';
      const client = bed.spawnIn(bed.cli, [process.execPath, '-e', IDLE_PAIR], (d) => (out += d));
      await waitFor('two idle connections', () => out.includes('READY'), 10_000);
      const conns = await api.request({ op: 'list-conns' }) as { conns: { source: string; destination: string; state: string }[] };
      const onR1 = conns.conns.filter((c) => c.destination === `${R1}:80` && c.state === 'ESTABLISHED').map((c) => c.source.split(':')[1]);
      expect(onR1).toHaveLength(1);
      const drain = await bed.adm(['--drain', '-t', `${VIP}:80`, '-r', R1, '--deadline', '1s', '--at-deadline', mode, '--wait']);
      readdR1 = true;
      expect(drain.code, drain.stdout + drain.stderr).toBe(3);
      expect(drain.stdout).toMatch(new RegExp(`deadline passed after \\S+ with ActiveConn 1 InActConn 0 PersistConn 0: removed \\(at-deadline ${mode}: `));
      const before = await bed.status();
      client.kill('SIGUSR2');
      await waitFor('both requests answered', () => out.trim().split('\n').length >= 2, 10_000);
      const outcome = JSON.parse(out.trim().split('\n')[1]!) as Record<string, string>;
      expect(outcome[onR1[0]!]).toBe(r1Outcome);
      expect(Object.entries(outcome).find(([port]) => port !== onR1[0])![1]).toBe('r2');
      const after = await bed.status();
      if (mode === 'reset') {
        expect(after.drops.orphan_reset! - before.drops.orphan_reset!).toBe(1);
        expect(after.workers[0]!.counters.orphan_resets_sent! - before.workers[0]!.counters.orphan_resets_sent!).toBe(1);
      } else {
        expect(after.drops.real_unavailable! - before.drops.real_unavailable!).toBeGreaterThanOrEqual(1);
      }
    }, 60_000);
  }

  it('at the deadline with reschedule: a UDP flow moves to the other real at its next datagram', async () => {
    let out = '';
    const client = bed.spawnIn(bed.cli, [process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m) => console.log(String(m).split(' ')[0]));
      s.connect(53, '${VIP}', () => s.send('one'));
      process.on('SIGUSR2', () => s.send('two'));
      setTimeout(() => process.exit(0), 20000);`], (d) => (out += d));
    await waitFor('first reply', () => out.trim().length > 0, 10_000);
    const first = out.trim();
    const rip = first === 'r1' ? R1 : R2;
    const drain = await bed.adm(['--drain', '-u', `${VIP}:53`, '-r', rip, '--deadline', '1s', '--at-deadline', 'reschedule', '--wait']);
    expect(drain.code, drain.stdout + drain.stderr).toBe(3);
    expect(drain.stdout).toMatch(/^UDP 198\.18\.0\.100:53 -> .* draining: UDP 1 PersistConn 0/m);
    client.kill('SIGUSR2');
    await waitFor('second reply', () => out.trim().split('\n').length >= 2, 10_000);
    expect(out.trim().split('\n')[1]).toBe(first === 'r1' ? 'r2' : 'r1');
    client.kill();
  }, 60_000);
});
