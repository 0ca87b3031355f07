/**
 * End to end, as root, in the namespace test bed (NAT mode): the declarative config and save/restore on a real
 * daemon under real HTTP load.
 *  (a) `tapvs apply` of a changed file during a bounded HTTP load changes weights, scheduler and timeouts with 0
 *      failed requests, and connections held open across the apply still work; --dry-run changes nothing.
 *  (b) `tapvsadm -S`, `-C`, `-R` reproduces `-L -n`, and traffic is served after it.
 *  (c) the daemon killed and restarted with `--config FILE` comes back with the same services and serves; SIGHUP
 *      re-applies the edited file, and a broken file is logged and leaves the running config intact.
 *  (d) 20 applies during a bounded ~1000 req/s HTTP load (~12 s): 0 failed requests (figures printed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, Testbed, e2eSkipReason, run, sh, waitFor, type RunOutput } from '../helpers/testbed.js';
import { ControlClient } from '../../src/control/client.js';
import { parseConfigText } from '../../src/config/file.js';
import type { ApplyResult } from '../../src/control/protocol.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Load {
  ok: number;
  failed: number;
  byServer: Record<string, number>;
  errors: Record<string, number>;
  elapsedMs: number;
}

/** The config file of these tests: the HTTP service (two NAT reals) and, optionally, a UDP one. */
function config(o: { w1: number; w2: number; sched: string; tcp?: number; udp?: boolean }): string {
  return `# e2e
${o.tcp ? `timeouts: { tcp: ${o.tcp} }\n` : ''}services:
  - proto: tcp
    vip: ${VIP}:80
    scheduler: ${o.sched}
    reals:
      - { address: 198.18.1.11:80, method: nat, weight: ${o.w1} }
      - { address: 198.18.1.12:80, method: nat, weight: ${o.w2} }
${o.udp ? `  - proto: udp\n    vip: ${VIP}:53\n    reals: [{ address: 198.18.1.11:53, method: nat }, { address: 198.18.1.12:53, method: nat }]\n` : ''}`;
}

/** `-L -n` without the ActiveConn/InActConn columns (they move with traffic and timers; a restart zeroes them). */
const shape = (listing: string) => listing.split('\n').map((l) => (l.startsWith('  -> ') ? l.split(/\s+/).slice(0, 5).join(' ') : l)).join('\n');

describe.skipIf(skip !== null)(`declarative config, apply and save/restore end to end${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tc${process.pid % 1000}`);
  const file = join(bed.dir, 'tapvs.yaml');
  let daemon: ChildProcess;

  const tapvs = (args: string[]): Promise<RunOutput> => run(process.execPath, [join(ROOT, 'bin/tapvs.js'), ...args, '--socket', bed.socket], 30_000);
  const load = async (n: number, extra: string[] = []): Promise<Load> => {
    const r = await run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httpload.js'), '--url', `http://${VIP}/`, '--n', String(n), ...extra], 120_000);
    expect(r.stdout, r.stderr).toMatch(/^\{/);
    return JSON.parse(r.stdout) as Load;
  };
  const listing = async (args = ['-L', '-n']) => {
    const r = await bed.adm(args);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    bed.up();
    await bed.startReals();
    daemon = await bed.startDaemon();
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it('(a) apply of a changed file under HTTP load: weights, scheduler, timeouts change, 0 failures, open connections kept', async () => {
    writeFileSync(file, config({ w1: 1, w2: 1, sched: 'rr' }));
    const first = await tapvs(['apply', file]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(new RegExp(`^-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 198.18.1.11:80 -m -w 1\n-a -t ${VIP}:80 -r 198.18.1.12:80 -m -w 1\napplied: 3 changes \\(config version \\d+\\)\n$`));

    const changed = join(bed.dir, 'changed.yaml');
    writeFileSync(changed, config({ w1: 3, w2: 1, sched: 'wrr', tcp: 600 }));
    let during: Load | undefined;
    const held = await bed.parallelHttp(bed.cli, VIP, 80, 40, async () => {
      const running = load(1500, ['--rate', '300', '--concurrency', '16', '--deadline', '40']);
      await sleep(1500);
      const r = await tapvs(['apply', changed]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n').slice(0, 3)).toEqual([
        `-E -t ${VIP}:80 -s wrr  # scheduler rr -> wrr`,
        `-e -t ${VIP}:80 -r 198.18.1.11:80 -m -w 3  # weight 1 -> 3`,
        '--set 600 120 300  # tcp 900 -> 600',
      ]);
      during = await running;
    });
    expect(during, JSON.stringify(during)).toMatchObject({ ok: 1500, failed: 0 });
    // The 40 connections opened before the apply answered their requests after it.
    expect(held).toMatchObject({ connected: 40, ok: 40, failed: 0 });
    const list = await listing();
    expect(list).toContain(`TCP  ${VIP}:80 wrr`);
    expect(list).toMatch(/ {2}-> 198\.18\.1\.11:80 {15}Masq {4}3 /);
    expect(await listing(['-L', '--timeout'])).toBe('Timeout (tcp tcpfin udp): 600 120 300\n');
    // wrr 3:1 from now on (one worker: the exact IPVS sequence).
    expect((await load(400, ['--concurrency', '4'])).byServer).toEqual({ r1: 300, r2: 100 });

    // --dry-run prints the way back and changes nothing.
    const before = await listing(['-S', '-n']);
    const dry = await tapvs(['apply', '--dry-run', file]);
    expect(dry.stdout).toBe(
      `-E -t ${VIP}:80 -s rr  # scheduler wrr -> rr\n-e -t ${VIP}:80 -r 198.18.1.11:80 -m -w 1  # weight 3 -> 1\ndry run: 2 changes, nothing applied\n`,
    );
    expect(await listing(['-S', '-n'])).toBe(before);
  }, 120_000);

  it('(b) -S, -C, -R reproduces -L -n, and traffic is served after it', async () => {
    await bed.configure([
      ['-A', '-u', `${VIP}:53`, '-s', 'sh', '-b', 'sh-port'],
      ['-a', '-u', `${VIP}:53`, '-r', '198.18.1.11:53', '-m', '-w', '2'],
      ['-a', '-u', `${VIP}:53`, '-r', '198.18.1.12:53', '-m', '-x', '50', '-y', '5'],
      ['-A', '-t', `${VIP}:8080`, '-s', 'lc', '-p', '600', '-M', '255.255.255.0'],
      ['-a', '-t', `${VIP}:8080`, '-r', '198.18.1.12:80', '-m', '-w', '0'],
    ]);
    const before = await listing();
    const thresholds = await listing(['-L', '-n', '--thresholds']);
    const saved = await listing(['-S', '-n']);
    expect(saved.split('\n')).toContain(`-a -u ${VIP}:53 -r 198.18.1.12:53 -m -w 1 -x 50 -y 5`);
    expect(await bed.adm(['-C'])).toMatchObject({ code: 0 });
    expect(await listing()).not.toContain(VIP);
    sh(process.execPath, [join(ROOT, 'bin/tapvsadm.js'), '--socket', bed.socket, '-R'], { input: saved });
    // The same rules; the connection counts start again (the old conns stay with the deleted reals, as in IPVS).
    expect(shape(await listing())).toBe(shape(before));
    expect(shape(await listing(['-L', '-n', '--thresholds']))).toBe(shape(thresholds));
    expect(await load(100, ['--concurrency', '4'])).toMatchObject({ ok: 100, failed: 0 });
  }, 60_000);

  it('(c) killed and restarted with --config: the same services, traffic served; SIGHUP re-applies, a broken file is refused', async () => {
    writeFileSync(file, config({ w1: 2, w2: 1, sched: 'wlc', udp: true }));
    expect((await tapvs(['apply', file])).code).toBe(0);
    const before = await listing();
    daemon.kill('SIGKILL');
    await waitFor('daemon gone', () => daemon.exitCode !== null || daemon.signalCode !== null);
    rmSync(bed.socket, { force: true });
    bed.daemonLog = '';
    daemon = await bed.startDaemon(['--config', file]);
    // Logged by `tapvs run` once startDaemon returned, i.e. just after the socket appeared: wait for the line.
    await waitFor('"config applied" logged', () => bed.daemonLog.includes('"config applied"'), 5_000);
    expect(shape(await listing())).toBe(shape(before));
    expect(await load(100, ['--concurrency', '4'])).toMatchObject({ ok: 100, failed: 0 });

    writeFileSync(file, config({ w1: 1, w2: 4, sched: 'rr' }));
    daemon.kill('SIGHUP');
    await waitFor('reload', () => bed.daemonLog.includes('"config reloaded"'));
    const reloaded = await listing();
    expect(reloaded).toContain(`TCP  ${VIP}:80 rr`);
    expect(reloaded).not.toContain(`UDP  ${VIP}:53`);
    expect(reloaded).toMatch(/ {2}-> 198\.18\.1\.12:80 {15}Masq {4}4 /);

    writeFileSync(file, config({ w1: 1, w2: 4, sched: 'rr' }).replace('weight: 4', 'wieght: 4'));
    daemon.kill('SIGHUP');
    await waitFor('refused reload', () => bed.daemonLog.includes('config reload refused'));
    expect(bed.daemonLog).toContain("unknown key 'wieght' — did you mean 'weight'?");
    expect(shape(await listing())).toBe(shape(reloaded));
    expect(daemon.exitCode).toBeNull();
  }, 90_000);

  it('(d) 20 applies during a bounded ~1000 req/s HTTP load: 0 failed requests', async () => {
    writeFileSync(file, config({ w1: 1, w2: 1, sched: 'wlc' }));
    expect((await tapvs(['apply', file])).code).toBe(0);
    const scheds = ['wlc', 'rr', 'wrr', 'lc', 'sed', 'nq'];
    const configs = Array.from({ length: 20 }, (_, i) =>
      parseConfigText(config({ w1: 1 + (i % 3), w2: 1 + ((i + 1) % 3), sched: scheds[i % scheds.length]!, tcp: 900 - i, udp: i % 2 === 1 })),
    );
    const client = await ControlClient.connect(bed.socket);
    const latencies: number[] = [];
    let changes = 0;
    try {
      const running = load(12_000, ['--rate', '1000', '--concurrency', '32', '--deadline', '45', '--timeout', '5000']);
      await sleep(1000);
      for (const cfg of configs) {
        const t0 = performance.now();
        const r = (await client.request({ op: 'apply', config: cfg })) as ApplyResult;
        latencies.push(performance.now() - t0);
        expect(r.applied).toBe(true);
        changes += r.plan.length;
        await sleep(500);
      }
      const res = await running;
      const figures = {
        requests: res.ok + res.failed, failed: res.failed, reqPerSec: Math.round(((res.ok + res.failed) * 1000) / res.elapsedMs),
        applies: latencies.length, planChanges: changes, maxApplyMs: Math.round(Math.max(...latencies) * 10) / 10,
        medianApplyMs: Math.round([...latencies].sort((a, b) => a - b)[10]! * 10) / 10, errors: res.errors,
      };
      console.log(`[reload under load] ${JSON.stringify(figures)}`);
      expect(res.failed, JSON.stringify(figures)).toBe(0);
      expect(res.ok).toBe(12_000);
      expect(latencies.length).toBe(20);
    } finally {
      client.close();
    }
  }, 120_000);
});
