/**
 * `apply` and `restore` on the real control thread with an in-memory worker: connections, counters and slots of
 * kept services and reals survive edits of every mutable field; a dry run and a refused config change nothing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { parseFrame } from '../helpers/packet-builder.js';
import { R1, R2, VIP, answerArp, bed, ok, svcKey, syn, type Bed } from '../helpers/inline-bed.js';
import { formatPlan } from '../../src/cli/rules.js';
import type { ApplyResult, DesiredConfig } from '../../src/control/protocol.js';
import { parseIPv4 } from '../../src/util/addr.js';

const base = (over: { weight1?: number; scheduler?: string; tcp?: number } = {}): DesiredConfig => ({
  services: [
    {
      proto: 'tcp', vip: VIP, vport: 80, scheduler: over.scheduler ?? 'rr',
      reals: [
        { rip: R1, rport: 8080, method: 'nat', weight: over.weight1 ?? 1 },
        { rip: R2, rport: 8080, method: 'nat', weight: 1 },
      ],
    },
  ],
  ...(over.tcp ? { timeouts: { tcp: over.tcp } } : {}),
});

async function apply(b: Bed, config: unknown, dryRun = false): Promise<ApplyResult> {
  return (await ok(b.control, { op: 'apply', config, dryRun })) as ApplyResult;
}

async function refused(b: Bed, req: object): Promise<string> {
  const r = await b.control.handle(req);
  expect(r.ok).toBe(false);
  return (r as { error: { message: string } }).error.message;
}

describe('apply on the control thread', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
  });

  it('builds the table from nothing, in one snapshot, with the plan in ipvsadm words', async () => {
    const v0 = b.control.status().version;
    const res = await apply(b, base());
    expect(res.applied).toBe(true);
    expect(res.version).toBe(v0 + 1);
    expect(formatPlan(res.plan)).toBe(
      [
        `-A -t ${VIP}:80 -s rr`,
        `-a -t ${VIP}:80 -r ${R1}:8080 -m -w 1`,
        `-a -t ${VIP}:80 -r ${R2}:8080 -m -w 1`,
        '',
      ].join('\n'),
    );
    const again = await apply(b, base());
    expect(again).toEqual({ plan: [], applied: false, version: v0 + 1 });
  });

  it('keeps conns, counters and slots when weights, scheduler and timeouts change', async () => {
    await apply(b, base());
    answerArp(b);
    for (let i = 0; i < 4; i++) b.io.inject(syn(42000 + i));
    b.w.pump();
    expect(answerArp(b).length).toBe(4);
    const before = b.control.list().services[0]!;
    const conns = (await b.control.listConns()).conns;
    expect(conns.length).toBe(4);
    const slotsBefore = b.control.table.list().flatMap((s) => [s.slot, ...s.reals.map((r) => r.slot)]);

    const res = await apply(b, base({ weight1: 3, scheduler: 'wlc', tcp: 600 }));
    expect(formatPlan(res.plan)).toBe(
      [
        `-E -t ${VIP}:80 -s wlc  # scheduler rr -> wlc`,
        `-e -t ${VIP}:80 -r ${R1}:8080 -m -w 3  # weight 1 -> 3`,
        '--set 600 120 300  # tcp 900 -> 600',
        '',
      ].join('\n'),
    );
    const after = b.control.list().services[0]!;
    expect(after.scheduler).toBe('wlc');
    expect(after.stats.conns).toBe(before.stats.conns);
    expect(after.stats.inpkts).toBe(before.stats.inpkts);
    expect(after.reals.map((r) => [r.rip, r.weight, r.active, r.stats.conns])).toEqual(before.reals.map((r) => [r.rip, r.rip === R1 ? 3 : 1, r.active, r.stats.conns]));
    expect((await b.control.listConns()).conns.map((c) => c.source)).toEqual(conns.map((c) => c.source));
    expect(b.control.table.list().flatMap((s) => [s.slot, ...s.reals.map((r) => r.slot)])).toEqual(slotsBefore);
    expect(b.control.status().timeouts).toEqual({ tcp: 600, tcpfin: 120, udp: 300 });

    // The conns are still forwarded to the real they had: an ACK of each goes where its SYN went.
    const firstDst = conns.map((c) => c.destination.split(':')[0]);
    for (let i = 0; i < 4; i++) b.io.inject(syn(42000 + i, 'A'));
    b.w.pump();
    const dsts = b.io.take().map((f) => parseFrame(f)).map((p) => [p.tcp!.sport, p.ip!.dst]);
    expect(dsts.sort()).toEqual(conns.map((c, i) => [Number(c.source.split(':')[1]), firstDst[i]]).sort());
  });

  it('a dry run returns the plan and changes nothing', async () => {
    await apply(b, base());
    const list = JSON.stringify(b.control.list());
    const version = b.control.status().version;
    const res = await apply(b, { services: [] }, true);
    expect(res.applied).toBe(false);
    expect(formatPlan(res.plan)).toBe(`-D -t ${VIP}:80\n`);
    expect(JSON.stringify(b.control.list())).toBe(list);
    expect(b.control.status().version).toBe(version);
  });

  it('removes what the config no longer lists and edits method, thresholds, persistence in place', async () => {
    await apply(b, base());
    const r2Slot = () => b.control.table.list()[0]!.reals.find((r) => r.addr === parseIPv4(R2))!.slot;
    const slot = r2Slot();
    const res = await apply(b, {
      services: [
        {
          proto: 'tcp', vip: VIP, vport: 80, scheduler: 'sh', schedFlags: ['sh-port'], persistent: 300, netmask: '255.255.255.0',
          reals: [{ rip: R2, rport: 8080, method: 'nat', weight: 2, uthreshold: 100, lthreshold: 10 }],
        },
        { proto: 'udp', vip: VIP, vport: 53, reals: [{ rip: R1, method: 'nat' }] },
      ],
    });
    expect(formatPlan(res.plan)).toBe(
      [
        `-d -t ${VIP}:80 -r ${R1}:8080`,
        `-E -t ${VIP}:80 -s sh -p 300 -M 255.255.255.0 -b sh-port  # scheduler rr -> sh, sched-flags none -> sh-port, persistent 0 -> 300, netmask 255.255.255.255 -> 255.255.255.0`,
        `-e -t ${VIP}:80 -r ${R2}:8080 -m -w 2 -x 100 -y 10  # weight 1 -> 2, u-threshold 0 -> 100, l-threshold 0 -> 10`,
        `-A -u ${VIP}:53 -s wlc`,
        `-a -u ${VIP}:53 -r ${R1}:53 -m -w 1`,
        '',
      ].join('\n'),
    );
    expect(r2Slot()).toBe(slot);
  });

  it('stores the health spec on the service, lists it, and plans its changes', async () => {
    const health = { kind: 'http', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, path: '/healthz', onFail: 'quiesce', source: 'host' };
    const cfg = base();
    cfg.services[0]!.health = health as never;
    const res = await apply(b, cfg);
    expect(formatPlan(res.plan).split('\n')[1]).toBe(`health -t ${VIP}:80 http interval=2s timeout=1s rise=2 fall=3 path=/healthz on_fail=quiesce source=host  # added`);
    expect(b.control.list().services[0]!.health).toEqual(health);
    expect(b.control.table.list()[0]!.health).toEqual(health);
    const off = await apply(b, base());
    expect(formatPlan(off.plan)).toBe(`health -t ${VIP}:80 none  # was http interval=2s timeout=1s rise=2 fall=3 path=/healthz on_fail=quiesce source=host\n`);
    expect(b.control.list().services[0]!.health).toBeUndefined();
  });

  it.each([
    [{ services: [{ ...base().services[0]!, scheduler: 'nosuch' }] }, 'services[0]: Scheduler or persistence engine not found'],
    [{ services: [{ ...base().services[0]!, reals: [{ rip: R1, rport: 8080, method: 'nat', weight: 70000 }] }] }, 'services[0].reals[0]: real.weight must be an integer in 0..65535'],
    [{ services: [base().services[0]!, base().services[0]!] }, `services[1]: the same service as services[0] (tcp ${VIP}:80)`],
    [{ services: [{ ...base().services[0]!, reals: [{ rip: R1, rport: 8080, method: 'nat' }, { rip: R1, rport: 8080, method: 'nat' }] }] }, `services[0].reals[1]: the same real server as services[0].reals[0] (${R1}:8080)`],
    [{ services: [{ ...base().services[0]!, laddrs: ['10.9.9.9'] }] }, 'services[0]: local address 10.9.9.9 is not on a connected prefix of the director (--addr); the real servers must reach it directly'],
    [{ services: [{ ...base().services[0]!, reals: [{ rip: R1, method: 'fullnat' }] }] }, `services[0].reals[0]: FULLNAT real servers need a local address on the service first: tapvsadm -P -t ${VIP}:80 -z LIP`],
    [{ services: [{ ...base().services[0]!, wieght: 1 }] }, 'services[0]: unknown key "wieght"'],
    [{ services: 'x' }, 'services must be an array'],
    [{ services: [], timeouts: { tcp: 0 } }, 'timeouts.tcp must be an integer of at least 1 (seconds)'],
  ])('refuses %j with the path and changes nothing', async (config, message) => {
    await apply(b, base());
    const list = JSON.stringify(b.control.list());
    expect(await refused(b, { op: 'apply', config })).toBe(message);
    expect(JSON.stringify(b.control.list())).toBe(list);
  });
});

describe('restore on the control thread', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, rport: 8080, method: 'nat', weight: 1 } });
  });

  it('runs the rules on a copy and applies the result as a minimal change (clear + rules keeps kept reals)', async () => {
    const slots = b.control.table.list()[0]!.reals.map((r) => r.slot);
    const res = (await ok(b.control, {
      op: 'restore',
      requests: [
        { op: 'clear' },
        { op: 'add-service', service: { ...svcKey, scheduler: 'wrr' } },
        { op: 'add-real', service: svcKey, real: { rip: R1, rport: 8080, method: 'nat', weight: 1 } },
        { op: 'add-real', service: svcKey, real: { rip: R2, rport: 8080, method: 'nat', weight: 5 } },
        { op: 'set-timeouts', tcp: 0, tcpfin: 60, udp: 0 },
      ],
    })) as ApplyResult;
    expect(formatPlan(res.plan)).toBe(
      [`-E -t ${VIP}:80 -s wrr  # scheduler rr -> wrr`, `-a -t ${VIP}:80 -r ${R2}:8080 -m -w 5`, '--set 900 60 300  # tcpfin 120 -> 60', ''].join('\n'),
    );
    const reals = b.control.table.list()[0]!.reals;
    expect(reals.find((r) => r.weight === 1)!.slot).toBe(slots[0]);
    // IPVS list order as if the rules ran one by one: the newest real first.
    expect(reals.map((r) => r.weight)).toEqual([5, 1]);
  });

  it('refuses the whole input at the first bad rule, naming it', async () => {
    const list = JSON.stringify(b.control.list());
    const r = await b.control.handle({
      op: 'restore',
      requests: [{ op: 'add-real', service: svcKey, real: { rip: R2, rport: 8080, method: 'nat' } }, { op: 'add-service', service: svcKey }],
    });
    expect(r).toMatchObject({ ok: false, error: { code: 'EEXIST_SERVICE', message: 'rule 2: Service already exists' } });
    expect(JSON.stringify(b.control.list())).toBe(list);
  });
});
