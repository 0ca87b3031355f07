/**
 * Apply plans, table-driven: a running config (applied from YAML), a new file, the plan lines `tapvs apply`
 * prints. Each step edits in place (a kept real keeps its slot); only key changes delete and add.
 */
import { describe, expect, it } from 'vitest';
import { Control } from '../../../src/control/control.js';
import { parseConfigText } from '../../../src/config/file.js';
import { formatPlan } from '../../../src/cli/rules.js';
import type { ApplyResult } from '../../../src/control/protocol.js';
import { parseIPv4 } from '../../../src/util/addr.js';

function control(): Control {
  return new Control({ mac: '02:00:00:00:00:01', addrs: [{ addr: parseIPv4('10.0.0.1'), prefix: 24 }, { addr: parseIPv4('10.0.1.1'), prefix: 24 }], gateway: 0, verifyL4: true });
}

async function apply(c: Control, yaml: string): Promise<ApplyResult> {
  const r = await c.handle({ op: 'apply', config: parseConfigText(yaml) });
  if (!r.ok) throw new Error(r.error.message);
  return r.result as ApplyResult;
}

const web = (extra = '', reals = '      - { address: 10.0.1.11:8080, method: nat }\n      - { address: 10.0.1.12:8080, method: nat }\n') =>
  `services:\n  - proto: tcp\n    vip: 10.0.0.100:80\n${extra}    reals:\n${reals}`;
const HC = '    healthcheck: { kind: http, path: /health }\n';

describe('apply plans', () => {
  it.each([
    ['a new table', 'services: []\n', web(), [
      '-A -t 10.0.0.100:80 -s wlc', '-a -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 1', '-a -t 10.0.0.100:80 -r 10.0.1.12:8080 -m -w 1']],
    ['nothing changed', web(), web(), ['(no changes)']],
    ['a weight', web(), web('', '      - { address: 10.0.1.11:8080, method: nat, weight: 5 }\n      - { address: 10.0.1.12:8080, method: nat }\n'), [
      '-e -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 5  # weight 1 -> 5']],
    ['scheduler and flags', web(), web('    scheduler: sh\n    sched_flags: [sh-port]\n'), [
      '-E -t 10.0.0.100:80 -s sh -b sh-port  # scheduler wlc -> sh, sched-flags none -> sh-port']],
    ['persistence on', web(), web('    persistence: { timeout: 10m, netmask: 255.255.0.0 }\n'), [
      '-E -t 10.0.0.100:80 -s wlc -p 600 -M 255.255.0.0  # persistent 0 -> 600, netmask 255.255.255.255 -> 255.255.0.0']],
    ['persistence off', web('    persistence: { timeout: 10m }\n'), web(), ['-E -t 10.0.0.100:80 -s wlc  # persistent 600 -> 0']],
    ['a real removed, one added', web(), web('', '      - { address: 10.0.1.12:8080, method: nat }\n      - { address: 10.0.1.13:8080, method: nat, weight: 2 }\n'), [
      '-d -t 10.0.0.100:80 -r 10.0.1.11:8080', '-a -t 10.0.0.100:80 -r 10.0.1.13:8080 -m -w 2']],
    ['a real port changed: a different real', web(), web('', '      - { address: 10.0.1.11:8081, method: nat }\n      - { address: 10.0.1.12:8080, method: nat }\n'), [
      '-d -t 10.0.0.100:80 -r 10.0.1.11:8080', '-a -t 10.0.0.100:80 -r 10.0.1.11:8081 -m -w 1']],
    ['method and thresholds in place', web('', '      - { address: 10.0.1.11:80, method: nat }\n'), web('', '      - { address: 10.0.1.11, method: dr, u_threshold: 50 }\n'), [
      '-e -t 10.0.0.100:80 -r 10.0.1.11:80 -g -w 1 -x 50  # method nat -> dr, u-threshold 0 -> 50']],
    ['a service removed', `${web()}  - { proto: udp, vip: 10.0.0.100:53 }\n`, web(), ['-D -u 10.0.0.100:53']],
    ['Maglev table size (shown on mh services)', web('    scheduler: mh\n'), web('    scheduler: mh\n    mh_table_size: 65537\n'), [
      '-E -t 10.0.0.100:80 -s mh --mh-table-size 65537  # mh-table-size 4093 -> 65537']],
    ['local addresses and client-ip', web('    local_addresses: [10.0.1.200]\n'), web('    local_addresses: [10.0.1.200, 10.0.1.201]\n    client_ip: proxy-v2\n'), [
      '-E -t 10.0.0.100:80 -s wlc --proxy-protocol v2  # local addresses 10.0.1.200 -> 10.0.1.200,10.0.1.201, client-ip none -> proxy-v2']],
    ['FULLNAT given up: reals to NAT and the local addresses dropped together',
      web('    local_addresses: [10.0.1.200]\n', '      - { address: 10.0.1.11:8080, method: fullnat }\n'),
      web('', '      - { address: 10.0.1.11:8080, method: nat }\n'), [
        '-E -t 10.0.0.100:80 -s wlc  # local addresses 10.0.1.200 -> none', '-e -t 10.0.0.100:80 -r 10.0.1.11:8080 -m -w 1  # method fullnat -> nat']],
    ['FULLNAT taken up: local address first, then the reals',
      web('', '      - { address: 10.0.1.11:8080, method: nat }\n'),
      web('    local_addresses: [10.0.1.200]\n', '      - { address: 10.0.1.11:8080, method: fullnat }\n'), [
        '-E -t 10.0.0.100:80 -s wlc  # local addresses none -> 10.0.1.200', '-e -t 10.0.0.100:80 -r 10.0.1.11:8080 --fullnat -w 1  # method nat -> fullnat']],
    ['timeouts', web(), `timeouts: { tcp: 1h, udp: 60 }\n${web()}`, ['--set 3600 120 60  # tcp 900 -> 3600, udp 300 -> 60']],
    ['a health check added', web(), web(HC), [
      'health -t 10.0.0.100:80 http interval=2s timeout=1s rise=2 fall=3 path=/health on_fail=quiesce source=host  # added']],
    ['a health check changed', web(HC), web('    healthcheck: { kind: tcp, fall: 5 }\n'), [
      'health -t 10.0.0.100:80 tcp interval=2s timeout=1s rise=2 fall=5 on_fail=quiesce source=host  # was http interval=2s timeout=1s rise=2 fall=3 path=/health on_fail=quiesce source=host']],
  ])('%s', async (_what, before, after, lines) => {
    const c = control();
    await apply(c, before);
    const slots = new Map(c.table.list().flatMap((s) => s.reals.map((r) => [`${r.addr}:${r.port}`, r.slot])));
    const res = await apply(c, after);
    expect(formatPlan(res.plan).trimEnd().split('\n')).toEqual(lines);
    // Reals with the same key kept their slots (their conns and counters).
    for (const s of c.table.list()) for (const r of s.reals) if (slots.has(`${r.addr}:${r.port}`)) expect(r.slot).toBe(slots.get(`${r.addr}:${r.port}`));
    // Applying the same file again changes nothing.
    expect((await apply(c, after)).plan).toEqual([]);
  });
});
