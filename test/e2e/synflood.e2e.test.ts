/**
 * A SYN flood from spoofed sources against a NAT service, end to end (the defence: src/worker/synflood.ts).
 * The director runs with a small table (--max-conns 8192); a raw-socket sender in the client namespace sends
 * SYNs from random addresses of 10.77.0.0/16 (off-link: the director answers them through a gateway address
 * the client namespace holds, where they die) while an HTTP loop in the same namespace keeps requesting over
 * established (kept-alive) connections and over new ones. Checked: the conn count never exceeds the bound, the
 * HTTP loop sees no failure of either kind, and the defence shows in the counters. The figures are printed.
 * Long version: scripts/synflood.sh (longer, faster flood); RELIABILITY.md has its latest figures.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, Testbed, e2eSkipReason, nsExec, run } from '../helpers/testbed.js';

const skip = e2eSkipReason();
const VIP = '198.18.0.100';
const MAX_CONNS = 8192;
const FLOOD_S = Number(process.env.SYNFLOOD_SECONDS ?? 6);
const FLOOD_PPS = Number(process.env.SYNFLOOD_PPS ?? 10_000);

describe.skipIf(skip !== null)(`SYN flood against a small conn table${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const bed = new Testbed(`tf${process.pid % 1000}`);
  const flooder = join(bed.dir, 'synflood');

  beforeAll(async () => {
    execFileSync('cc', ['-O2', '-o', flooder, join(ROOT, 'test/helpers/synflood.c')]);
    bed.up();
    // The client namespace also plays the site's gateway: replies to the spoofed sources end there.
    nsExec(bed.cli, ['ip', 'addr', 'add', '198.18.0.254/24', 'dev', 'eth0']);
    await bed.startReals(['--keep-alive', '30000']);
    await bed.startDaemon(['--max-conns', String(MAX_CONNS), '--gateway', '198.18.0.254']);
    await bed.configure([
      ['-A', '-t', `${VIP}:80`, '-s', 'wlc'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.11:80', '-m'],
      ['-a', '-t', `${VIP}:80`, '-r', '198.18.1.12:80', '-m'],
    ]);
  }, 60_000);

  afterAll(async () => {
    await bed.teardown();
  });

  it(`keeps the table under ${MAX_CONNS} and serves every request during a ${FLOOD_S} s flood`, async () => {
    const before = await bed.api({ op: 'status' });
    const rssBefore = Testbed.rssKiB(before.pid);
    const http = run('ip', ['netns', 'exec', bed.cli, process.execPath, join(ROOT, 'scripts/httploop.js'), '--url', `http://${VIP}/`,
      '--seconds', String(FLOOD_S + 2), '--keepalive', '4', '--fresh', '4', '--timeout', '15000'], (FLOOD_S + 40) * 1000);
    await new Promise((r) => setTimeout(r, 1000));
    const flood = run('ip', ['netns', 'exec', bed.cli, flooder, VIP, '80', String(FLOOD_S), String(FLOOD_PPS), '10.77.0.0', '16', '7'], (FLOOD_S + 20) * 1000);
    let maxConns = 0;
    let maxHalfOpen = 0;
    let defenceSeen = false;
    let done = false;
    const polled = (async () => {
      while (!done) {
        const st = await bed.api({ op: 'status' });
        maxConns = Math.max(maxConns, ...st.workers.map((w: any) => w.conns));
        maxHalfOpen = Math.max(maxHalfOpen, ...st.workers.map((w: any) => w.halfOpen));
        defenceSeen ||= st.workers.some((w: any) => w.synflood);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const [f, h] = await Promise.all([flood, http]);
    done = true;
    await polled;
    const after = await bed.api({ op: 'status' });
    const sent = JSON.parse(f.stdout);
    const loop = JSON.parse(h.stdout);
    const w = after.workers[0];
    const figures = {
      flood: sent, http: loop, maxConns, maxHalfOpen, defenceSeen, rssKiB: { before: rssBefore, after: Testbed.rssKiB(after.pid) },
      counters: { synflood_on: w.counters.synflood_on, synflood_evicted: w.counters.synflood_evicted, conns_created: w.counters.conns_created },
      drops: Object.fromEntries(Object.entries(after.drops).filter(([, v]) => v !== 0)),
    };
    console.log(`SYN flood figures: ${JSON.stringify(figures)}`);
    expect(sent.sent, f.stderr).toBeGreaterThan(FLOOD_S * FLOOD_PPS * 0.5);
    expect(maxConns).toBeLessThanOrEqual(MAX_CONNS);
    expect(loop.keepalive, JSON.stringify(figures)).toMatchObject({ failed: 0 });
    expect(loop.fresh, JSON.stringify(figures)).toMatchObject({ failed: 0 });
    expect(loop.keepalive.reused).toBeGreaterThan(50);
    expect(loop.fresh.ok).toBeGreaterThan(50);
    expect(defenceSeen).toBe(true);
    expect(w.counters.synflood_on).toBeGreaterThanOrEqual(1);
    expect(w.counters.synflood_evicted).toBeGreaterThan(0);
  }, (FLOOD_S + 60) * 1000);
});
