/** tapvsadm's tapvs-only commands and options for drains and the health column, with their exact messages. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIST_FORMAT, formatAge, formatHealthCell, formatList } from '../../../src/cli/format.js';
import { UsageError, parseArgs, parseDuration } from '../../../src/cli/args.js';
import { progressLine } from '../../../src/cli/drain.js';
import { formatSave } from '../../../src/cli/rules.js';
import type { DrainStatus, ListResult, RealInfo } from '../../../src/control/protocol.js';

const parse = (line: string) => parseArgs(line.split(' ')).command;
function usage(line: string): string {
  try {
    parseArgs(line.split(' '));
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error('parsed');
}
const SVC = { proto: 'tcp', vip: '10.0.0.1', vport: 80 };

describe('--drain / --undrain', () => {
  it('parses the service, the real (port defaults to the service port) and the defaults', () => {
    expect(parse('--drain -t 10.0.0.1:80 -r 10.0.1.11')).toEqual({
      kind: 'drain', service: SVC, real: { rip: '10.0.1.11', rport: 80 }, deadlineMs: 300_000, atDeadline: 'keep', wait: false,
    });
    expect(parse('--drain -u 10.0.0.1:53 -r 10.0.1.11:5353 --deadline 90s --at-deadline reschedule --wait')).toEqual({
      kind: 'drain', service: { proto: 'udp', vip: '10.0.0.1', vport: 53 }, real: { rip: '10.0.1.11', rport: 5353 }, deadlineMs: 90_000,
      atDeadline: 'reschedule', wait: true,
    });
    expect(parse('--undrain -t 10.0.0.1:80 -r 10.0.1.11:8080')).toEqual({ kind: 'undrain', service: SVC, real: { rip: '10.0.1.11', rport: 8080 } });
  });

  it('reads durations with units (bare numbers are seconds)', () => {
    expect([parseDuration('300'), parseDuration('300s'), parseDuration('5m'), parseDuration('1500ms'), parseDuration('1h'), parseDuration('0.5s')])
      .toEqual([300_000, 300_000, 300_000, 1500, 3_600_000, 500]);
    expect([parseDuration('5 minutes'), parseDuration('-1s'), parseDuration('32d'), parseDuration('745h')]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('refuses what does not fit, with ipvsadm-style messages', () => {
    expect(usage('--drain -t 10.0.0.1:80')).toBe("You need to supply the 'real-server' option for the 'drain' command");
    expect(usage('--drain -t 10.0.0.1:80 -r 10.0.1.11 -w 3')).toBe("Illegal 'weight' option with the 'drain' command");
    expect(usage('--drain -t 10.0.0.1:80 -r 10.0.1.11 --deadline soon')).toBe("invalid deadline `soon' (a duration such as 300s, 5m or 1500ms, at most 31 days)");
    expect(usage('--drain -t 10.0.0.1:80 -r 10.0.1.11 --at-deadline drop')).toBe("invalid at-deadline `drop' (keep, reset or reschedule)");
    expect(usage('--undrain -t 10.0.0.1:80 -r 10.0.1.11 --wait')).toBe("Illegal 'wait' option with the 'undrain' command");
    expect(usage('-A -t 10.0.0.1:80 --deadline 5s')).toBe("Illegal 'deadline' option with the 'add-service' command");
  });
});

describe('-L --health', () => {
  it('is a list format flag, only with the default layout', () => {
    expect(parse('-L -n --health')).toEqual({ kind: 'list', format: { ...DEFAULT_LIST_FORMAT, numeric: true, health: true } });
    expect(usage('-L --health --stats')).toBe('options conflicts in the list command');
    expect(usage('-L --health -c')).toBe('options conflicts in the list command');
  });

  const now = Date.parse('2026-01-01T00:10:00Z');
  const real = (o: Partial<RealInfo>): RealInfo => ({
    rip: '10.0.1.11', rport: 80, method: 'nat', weight: 1, uthreshold: 0, lthreshold: 0, active: 0, inactive: 0, persist: 0,
    stats: { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 }, ...o,
  });
  const drain: DrainStatus = {
    state: 'draining', service: 'TCP 10.0.0.1:80', real: '10.0.1.12:80', atDeadline: 'reset', startedAt: '2026-01-01T00:09:48Z',
    deadlineAt: '2026-01-01T00:14:48Z', active: 3, inactive: 1, persist: 0, live: null,
  };

  it('puts the health cell after the unchanged default columns, and the check on the service line', () => {
    const res: ListResult = {
      connTabSize: 4096,
      services: [{
        proto: 'tcp', vip: '10.0.0.1', vport: 80, scheduler: 'rr', schedFlags: [], persistent: 0, netmask: '255.255.255.255',
        stats: real({}).stats, health: { kind: 'http', path: '/healthz', intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, onFail: 'quiesce', source: 'host' },
        reals: [
          real({ health: { state: 'up', since: '2026-01-01T00:07:55Z', lastCheck: null, lastError: null, action: 'none' }, active: 12, inactive: 3 }),
          real({ rip: '10.0.1.12', weight: 0, health: { state: 'down', since: '2026-01-01T00:09:48Z', lastCheck: null, lastError: 'http GET /healthz: status 503', action: 'quiesced' }, drain }),
          real({ rip: '10.0.1.13' }),
        ],
      }],
    };
    const plain = formatList(res, DEFAULT_LIST_FORMAT);
    const withHealth = formatList(res, { ...DEFAULT_LIST_FORMAT, health: true });
    const p = plain.split('\n');
    const h = withHealth.split('\n');
    expect(h[0]).toBe(p[0]);
    expect(h[1]).toBe(p[1]);
    expect(h[2]).toBe('  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn  Health');
    expect(h[3]).toBe(`${p[3]}  check http /healthz every 2s timeout 1s rise 2 fall 3 on-fail quiesce`);
    // Every real line is ipvsadm's, then one space and the cell (%-10u leaves InActConn padded to 10).
    expect(h[4]!.startsWith(p[4]!)).toBe(true);
    expect(h[4]!.slice(p[4]!.length)).toMatch(/^ UP \S+$/);
    expect(h[4]!.indexOf(' UP ')).toBe(h[2]!.indexOf(' Health'));
    expect(h[6]!.slice(p[6]!.length)).toBe(' -');
    expect(formatHealthCell(res.services[0]!.reals[1]!, now)).toBe('DOWN 12s quiesced (http GET /healthz: status 503) DRAINING 12s/5m at-deadline reset');
    expect(formatHealthCell(res.services[0]!.reals[0]!, now)).toBe('UP 2m5s');
  });

  it('writes ages short', () => {
    expect([formatAge(200), formatAge(2000), formatAge(12_400), formatAge(125_000), formatAge(300_000), formatAge(3_725_000)]).toEqual(['200ms', '2s', '12s', '2m5s', '5m', '1h2m']);
  });
});

describe('--drain --wait progress', () => {
  const base: DrainStatus = {
    state: 'draining', service: 'TCP 10.0.0.1:80', real: '10.0.1.11:80', atDeadline: 'keep', startedAt: '2026-01-01T00:00:00Z',
    deadlineAt: '2026-01-01T00:05:00Z', active: 3, inactive: 7, persist: 1, live: null,
  };
  const t = Date.parse('2026-01-01T00:00:04Z');
  it('names the counts of the protocol, elapsed time and the deadline; then the outcome', () => {
    expect(progressLine(base, t)).toBe('TCP 10.0.0.1:80 -> 10.0.1.11:80 draining: ActiveConn 3 InActConn 7 PersistConn 1, 4s elapsed, deadline in 4m56s');
    expect(progressLine({ ...base, service: 'UDP 10.0.0.1:53', active: 0, inactive: 4, live: 4 }, t)).toBe(
      'UDP 10.0.0.1:53 -> 10.0.1.11:80 draining: UDP 4 PersistConn 1 (live 4), 4s elapsed, deadline in 4m56s');
    expect(progressLine({ ...base, state: 'done', outcome: 'empty', finishedAt: '2026-01-01T00:00:05.200Z' }, t)).toBe(
      'TCP 10.0.0.1:80 -> 10.0.1.11:80 drained after 5.2s: empty, removed');
    expect(progressLine({ ...base, state: 'done', outcome: 'deadline', finishedAt: '2026-01-01T00:05:00Z' }, t)).toBe(
      'TCP 10.0.0.1:80 -> 10.0.1.11:80 deadline passed after 5m with ActiveConn 3 InActConn 7 PersistConn 1: removed (at-deadline keep: its remaining conns are dropped until they time out)');
  });
});

describe('-S with health and drains', () => {
  it('saves the configured weight of a real listed with weight 0 (quiesced or draining)', () => {
    const st = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
    const res: ListResult = {
      connTabSize: 4096,
      services: [{
        proto: 'tcp', vip: '10.0.0.1', vport: 80, scheduler: 'rr', schedFlags: [], persistent: 0, netmask: '255.255.255.255', stats: st,
        reals: [{ rip: '10.0.1.11', rport: 80, method: 'nat', weight: 0, configuredWeight: 3, uthreshold: 0, lthreshold: 0, active: 0, inactive: 0, persist: 0, stats: st }],
      }],
    };
    expect(formatSave(res)).toBe('-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.11:80 -m -w 3\n');
  });
});
