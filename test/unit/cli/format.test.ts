/**
 * format.ts against golden files. The goldens in test/golden/cli were built independently of this code:
 * with the shell's printf and ipvsadm.c's own format strings, and ref-*.txt copied from the reference's
 * examples (ipvs-semantics.md 5.2 / 5.3) with the trailing spaces of `%-10u` put back.
 * Comparisons are byte-exact (trailing spaces included).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ListResult, RealInfo, ServiceInfo, StatsInfo } from '../../../src/control/protocol.js';
import {
  DEFAULT_LIST_FORMAT,
  formatLaddrs,
  formatList,
  formatService,
  formatTimeout,
  largenum,
  schedFlagNames,
  serviceName,
  realName,
  sprintf,
  type ListFormat,
} from '../../../src/cli/format.js';

const golden = (name: string): string => readFileSync(new URL(`../../golden/cli/${name}`, import.meta.url), 'utf8');
const fmt = (over: Partial<ListFormat> = {}): ListFormat => ({ ...DEFAULT_LIST_FORMAT, numeric: true, ...over });

const ZERO: StatsInfo = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const stats = (s: Partial<StatsInfo>): StatsInfo => ({ ...ZERO, ...s });
const real = (r: Partial<RealInfo> & Pick<RealInfo, 'rip' | 'rport' | 'method'>): RealInfo => ({
  weight: 1,
  uthreshold: 0,
  lthreshold: 0,
  active: 0,
  inactive: 0,
  persist: 0,
  stats: ZERO,
  ...r,
});
const service = (s: Partial<ServiceInfo> & Pick<ServiceInfo, 'proto' | 'vip' | 'vport' | 'scheduler'>): ServiceInfo => ({
  schedFlags: [],
  persistent: 0,
  netmask: '255.255.255.255',
  stats: ZERO,
  reals: [],
  ...s,
});

/** The reference's 5.2 / 5.3 example service. */
const REF_SERVICE = service({
  proto: 'tcp',
  vip: '10.0.0.1',
  vport: 80,
  scheduler: 'wlc',
  persistent: 300,
  netmask: '255.255.255.0',
  stats: stats({ conns: 5, inpkts: 30, inbytes: 1800 }),
  reals: [
    real({ rip: '192.168.10.2', rport: 80, method: 'nat', weight: 1, active: 3, inactive: 12, persist: 2, stats: stats({ conns: 5, inpkts: 30, inbytes: 1800 }) }),
  ],
});

/** Same numbers as the comment block in the golden generator. */
const FIXTURE: ListResult = {
  connTabSize: 4096,
  services: [
    REF_SERVICE,
    service({
      proto: 'tcp',
      vip: '10.0.0.1',
      vport: 443,
      scheduler: 'sh',
      schedFlags: ['sh-fallback', 'sh-port'],
      stats: stats({ conns: 99999999, inpkts: 100000000, outpkts: 999999999, inbytes: 1000000000, outbytes: 99999999999, cps: 1, inpps: 2, outpps: 3, inbps: 123456789 }),
      reals: [
        real({
          rip: '192.168.10.3',
          rport: 443,
          method: 'dr',
          weight: 0,
          uthreshold: 100,
          lthreshold: 50,
          stats: stats({ conns: 100000000000, inpkts: 99999999999999, outpkts: 100000000000000, inbytes: 1234567890123456, outbytes: 7 }),
        }),
        real({
          rip: '192.168.10.4',
          rport: 443,
          method: 'tun',
          weight: 65535,
          active: 1234567890,
          inactive: 7,
          persist: 9,
          stats: stats({ cps: 12, inpps: 345, outpps: 6789, inbps: 1000000000, outbps: 5 }),
        }),
      ],
    }),
    service({
      proto: 'udp',
      vip: '10.0.0.1',
      vport: 53,
      scheduler: 'rr',
      schedFlags: ['flag-1'],
      stats: stats({ conns: 1, inpkts: 2, outpkts: 3, inbytes: 4, outbytes: 5 }),
      reals: [real({ rip: '172.16.1.2', rport: 5353, method: 'fullnat', weight: 2, active: 1, stats: stats({ conns: 1, inpkts: 2, outpkts: 3, inbytes: 4, outbytes: 5 }) })],
    }),
    service({ proto: 'tcp', vip: '10.0.0.2', vport: 8080, scheduler: 'wrr', persistent: 360 }),
  ],
};

describe('format', () => {
  describe("reproduces the reference's own examples", () => {
    it('5.2: -L -n (TCP service with persistence and mask, one Masq real; trailing spaces kept)', () => {
      expect(formatList({ connTabSize: 4096, services: [REF_SERVICE] }, fmt())).toBe(golden('ref-5.2-list-n.txt'));
    });
    it('5.3: --stats title and rows line up (as -L -t 10.0.0.1:80 --stats, which has no banner)', () => {
      expect(formatService({ connTabSize: 4096, services: [REF_SERVICE] }, fmt({ stats: true }))).toBe(golden('ref-5.3-stats.txt'));
    });
  });

  describe('matches the printf-built goldens', () => {
    it.each<[string, Partial<ListFormat>]>([
      ['list-n.txt', {}],
      ['list-stats.txt', { stats: true }],
      ['list-stats-exact.txt', { stats: true, exact: true }],
      ['list-rate.txt', { rate: true }],
      ['list-thresholds.txt', { thresholds: true }],
      ['list-persistent-conn.txt', { persistentConn: true }],
      ['list-tun-info.txt', { tunInfo: true }],
    ])('%s', (file, over) => {
      expect(formatList(FIXTURE, fmt(over))).toBe(golden(file));
    });

    it('-L with an empty table prints banner (size from connTabSize) and titles only', () => {
      expect(formatList({ connTabSize: 65536, services: [] }, fmt())).toBe(golden('list-empty.txt'));
    });

    it('-L -t VIP:port prints the titles and that service, without the banner', () => {
      expect(formatService({ connTabSize: 4096, services: [FIXTURE.services[1]] }, fmt())).toBe(golden('service-443.txt'));
    });

    it('--timeout', () => {
      expect(formatTimeout(900, 120, 300)).toBe(golden('timeout.txt'));
    });
  });

  describe('largenum', () => {
    it.each<[number, string]>([
      [0, '        0'],
      [99999999, ' 99999999'],
      [100000000, '  100000K'],
      [999999999, '  999999K'],
      [1000000000, '    1000M'],
      [99999999999, '   99999M'],
      [100000000000, '     100G'],
      [99999999999999, '   99999G'],
      [100000000000000, '     100T'],
    ])('%d → %j', (n, text) => {
      expect(largenum(n)).toBe(text);
    });

    it.each<[number | bigint, string]>([
      [0, '        0'],
      [12345678, ' 12345678'],
      [123456789, ' 123456789'],
      [12345678901n, ' 12345678901'],
      [18446744073709551615n, ' 18446744073709551615'],
    ])('--exact %s → %j (width 9, or digits+1 beyond 8 digits)', (n, text) => {
      expect(largenum(n, true)).toBe(text);
    });
  });

  describe('sprintf', () => {
    it('pads %-Ns right, %Ns/%Nd/%Nllu left, and takes * widths', () => {
      expect(sprintf('[%-6s][%6s][%-4d][%5llu][%*llu][%%]', 'ab', 'cd', 7, 42n, 4, 3)).toBe('[ab    ][    cd][7   ][   42][   3][%]');
    });
  });

  describe('names', () => {
    it('service name is "%-4s %s" of PROTO and addr:port', () => {
      expect(serviceName({ proto: 'udp', vip: '10.0.0.1', vport: 53 })).toBe('UDP  10.0.0.1:53');
    });
    it('IPv6 addresses are bracketed and not cut', () => {
      expect(serviceName({ proto: 'tcp', vip: 'fd00:1234:5678:9abc:def0:1234:5678:9abc', vport: 65535 })).toBe(
        'TCP  [fd00:1234:5678:9abc:def0:1234:5678:9abc]:65535',
      );
      expect(realName({ rip: '2001:db8::1', rport: 80 })).toBe('[2001:db8::1]:80');
    });
  });

  describe('scheduler flags', () => {
    it.each<[string, string[], string]>([
      ['sh', ['flag-1', 'flag-2'], ' (sh-fallback,sh-port)'],
      ['sh', ['flag-3'], ' ()'], // ipvsadm 1.31 prints no name for flag-3 on sh, but still the parentheses
      ['mh', ['mh-port'], ' (mh-port)'],
      ['wrr', ['flag-2', 'flag-3'], ' (flag-2,flag-3)'],
      ['rr', [], ''],
    ])('%s %j shows%j', (scheduler, schedFlags, shown) => {
      const out = formatList({ connTabSize: 4096, services: [service({ proto: 'tcp', vip: '10.0.0.9', vport: 1, scheduler, schedFlags })] }, fmt());
      expect(out.split('\n')[3]).toBe(`TCP  10.0.0.9:1 ${scheduler}${shown}`);
    });
    it('canonical names per scheduler', () => {
      expect(schedFlagNames('sh', 7)).toEqual(['sh-fallback', 'sh-port', 'flag-3']);
      expect(schedFlagNames('maglev', 2)).toEqual(['mh-port']);
      expect(schedFlagNames('wlc', 5)).toEqual(['flag-1', 'flag-3']);
    });
  });
});

describe('formatLaddrs (-G)', () => {
  it('lists each service with local addresses in DPVS\'s VIP:VPORT / TOTAL / SNAT_IP layout', () => {
    const services = [
      service({ proto: 'tcp', vip: '10.0.0.1', vport: 80, scheduler: 'wlc', laddrs: ['10.0.1.200', '10.0.1.201'] }),
      service({ proto: 'udp', vip: '10.0.0.1', vport: 53, scheduler: 'rr', laddrs: [] }),
    ];
    expect(formatLaddrs(services)).toBe(
      'VIP:VPORT            TOTAL    SNAT_IP             \n' +
      '10.0.0.1:80          2       \n' +
      '                              10.0.1.200          \n' +
      '                              10.0.1.201          \n',
    );
    // A service asked for by name is shown even without local addresses.
    expect(formatLaddrs([services[1]!], true).split('\n')[1]).toBe('10.0.0.1:53          0       ');
  });
});
