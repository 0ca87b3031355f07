/**
 * tapvsadm -S (ipvsadm's rule format), -R (its input parsing and the single `restore` request) and --json, against
 * a fake daemon. The expected -S text is ipvsadm 1.31's print_service_entry with FMT_RULE, line for line.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/tapvsadm.js';
import { formatSave } from '../../../src/cli/rules.js';
import { RestoreError, parseRestore } from '../../../src/cli/restore.js';
import type { ListResult, RealInfo, ServiceInfo, StatsInfo } from '../../../src/control/protocol.js';
import { Capture, FakeDaemon, fakeDaemonPerTest } from '../../helpers/fake-daemon.js';

const ZERO: StatsInfo = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const real = (rip: string, rport: number, method: RealInfo['method'], weight: number, over: Partial<RealInfo> = {}): RealInfo => ({
  rip, rport, method, weight, uthreshold: 0, lthreshold: 0, active: 2, inactive: 7, persist: 0, stats: ZERO, ...over,
});
const svc = (proto: 'tcp' | 'udp', vip: string, vport: number, scheduler: string, reals: RealInfo[], over: Partial<ServiceInfo> = {}): ServiceInfo => ({
  proto, vip, vport, scheduler, schedFlags: [], persistent: 0, netmask: '255.255.255.255', stats: ZERO, reals, laddrs: [], clientIp: 'none', ...over,
});

/** A plain IPVS table: what ipvsadm -S -n prints for it, byte for byte. */
const PLAIN: ListResult = {
  connTabSize: 4096,
  services: [
    svc('tcp', '10.0.0.1', 80, 'wlc', [real('172.16.1.2', 80, 'tun', 1), real('192.168.10.2', 80, 'nat', 1), real('192.168.10.3', 8080, 'nat', 0)], {
      persistent: 300, netmask: '255.255.255.0',
    }),
    svc('tcp', '10.0.0.1', 443, 'sh', [real('192.168.10.5', 443, 'dr', 5)], { schedFlags: ['sh-fallback', 'sh-port', 'flag-3'] }),
    svc('tcp', '10.0.0.2', 80, 'rr', [], { persistent: 360 }),
    svc('udp', '10.0.0.1', 53, 'rr', [real('192.168.10.2', 53, 'nat', 1)], { schedFlags: ['flag-1', 'flag-3'] }),
  ],
};
const PLAIN_SAVE = [
  '-A -t 10.0.0.1:80 -s wlc -p 300 -M 255.255.255.0',
  '-a -t 10.0.0.1:80 -r 172.16.1.2:80 -i -w 1 --tun-type ipip',
  '-a -t 10.0.0.1:80 -r 192.168.10.2:80 -m -w 1',
  '-a -t 10.0.0.1:80 -r 192.168.10.3:8080 -m -w 0',
  '-A -t 10.0.0.1:443 -s sh -b sh-fallback,sh-port',
  '-a -t 10.0.0.1:443 -r 192.168.10.5:443 -g -w 5',
  '-A -t 10.0.0.2:80 -s rr -p 360',
  '-A -u 10.0.0.1:53 -s rr -b flag-1,flag-3',
  '-a -u 10.0.0.1:53 -r 192.168.10.2:53 -m -w 1',
  '',
].join('\n');

describe('-S: ipvsadm rule lines', () => {
  it('prints a plain IPVS table exactly as ipvsadm -S -n does', () => {
    expect(formatSave(PLAIN)).toBe(PLAIN_SAVE);
  });

  it('prints nothing for an empty table', () => {
    expect(formatSave({ connTabSize: 4096, services: [] })).toBe('');
  });

  it('adds tapvs settings only where a rule has them: mh table size, client-ip, local addresses, FULLNAT, thresholds', () => {
    const res: ListResult = {
      connTabSize: 4096,
      services: [
        svc('tcp', '10.0.0.1', 80, 'mh', [real('10.0.1.11', 8080, 'fullnat', 2, { uthreshold: 100, lthreshold: 10 })], {
          schedFlags: ['mh-port'], mhTableSize: 65537, laddrs: ['10.0.1.200', '10.0.1.201'], clientIp: 'proxy-v2',
        }),
        svc('tcp', '10.0.0.1', 81, 'mh', [real('10.0.1.11', 81, 'dr', 1)], { mhTableSize: 4093, clientIp: 'toa' }),
      ],
    };
    expect(formatSave(res)).toBe(
      [
        '-A -t 10.0.0.1:80 -s mh -b mh-port --mh-table-size 65537 --proxy-protocol v2',
        '-P -t 10.0.0.1:80 -z 10.0.1.200',
        '-P -t 10.0.0.1:80 -z 10.0.1.201',
        '-a -t 10.0.0.1:80 -r 10.0.1.11:8080 --fullnat -w 2 -x 100 -y 10',
        '-A -t 10.0.0.1:81 -s mh --toa',
        '-a -t 10.0.0.1:81 -r 10.0.1.11:81 -g -w 1',
        '',
      ].join('\n'),
    );
  });
});

describe('-R: parsing the input', () => {
  it('reads what -S prints back into the requests ipvsadm would send, line by line', () => {
    const rules = parseRestore(PLAIN_SAVE);
    expect(rules.map((r) => r.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(rules[0]!.request).toEqual({
      op: 'add-service', service: { proto: 'tcp', vip: '10.0.0.1', vport: 80, scheduler: 'wlc', schedFlags: [], persistent: 300, netmask: '255.255.255.0' },
    });
    expect(rules[1]!.request).toEqual({
      op: 'add-real', service: { proto: 'tcp', vip: '10.0.0.1', vport: 80 },
      real: { rip: '172.16.1.2', rport: 80, method: 'tun', weight: 1, uthreshold: 0, lthreshold: 0 },
    });
    expect(rules[4]!.request).toMatchObject({ op: 'add-service', service: { scheduler: 'sh', schedFlags: ['sh-fallback', 'sh-port'] } });
  });

  it('drops the word ipvsadm, blank lines, CRs and tabs, and # comments; takes -C, -P, --set, -E, -d, -D', () => {
    const rules = parseRestore(
      '# saved\r\nipvsadm -C\r\n\n\t-A\t-t 10.0.0.1:80 -s rr\n-P -t 10.0.0.1:80 -z 10.0.1.200\n--set 900 60 300\n' +
        'tapvsadm -E -t 10.0.0.1:80 -s wrr\n-d -t 10.0.0.1:80 -r 10.0.1.1\n-D -t 10.0.0.1:80\n',
    );
    expect(rules.map((r) => [r.line, r.request.op])).toEqual([
      [2, 'clear'], [4, 'add-service'], [5, 'edit-service'], [6, 'set-timeouts'], [7, 'edit-service'], [8, 'del-real'], [9, 'del-service'],
    ]);
    expect(rules[2]!.request).toEqual({ op: 'edit-service', service: { proto: 'tcp', vip: '10.0.0.1', vport: 80, addLaddrs: ['10.0.1.200'] } });
    expect(rules[3]!.request).toEqual({ op: 'set-timeouts', tcp: 900, tcpfin: 60, udp: 300 });
  });

  it.each([
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1 -w 70000\n', 2, 'line 2: illegal weight specified', 2],
    ['-A -t 10.0.0.1:80 -s\n', 1, 'line 1: -s: missing argument', 2],
    ['-L -n\n', 1, "line 1: `-L -n' is not a rule (-R takes -A -E -D -a -e -d -C -P -Q --set)", 2],
    ['-Z\n', 1, "line 1: `-Z' is not a rule (-R takes -A -E -D -a -e -d -C -P -Q --set)", 2],
    ['-A -f 1 -s rr\n', 1, 'line 1: a firewall-mark service (-f) is not supported by this daemon yet', 1],
    ['x -A -t 10.0.0.1:80\n', 1, 'line 1: unexpected argument x', 2],
    ['10.0.0.1\n', 1, "line 1: `10.0.0.1' is not a command", 2],
  ])('%j: refused at line %i with ipvsadm\'s message', (input, line, message, exitCode) => {
    let err: unknown;
    try {
      parseRestore(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RestoreError);
    expect(err).toMatchObject({ line, message, exitCode });
  });
});

describe('tapvsadm -S, -R and --json against a daemon', () => {
  const fake = fakeDaemonPerTest('tapvsadm-sr-');
  let daemon: FakeDaemon;
  let cap: Capture;
  beforeEach(() => ({ daemon, cap } = fake));
  const run = (args: string[], stdin = '') => main(['--socket', daemon.path, ...args], { ...cap.io, stdin: async () => stdin });

  it('-S -n lists and prints the rules', async () => {
    daemon.answers.list = { ok: true, result: PLAIN };
    expect(await run(['-S', '-n'])).toBe(0);
    expect(daemon.ops()).toEqual([{ op: 'list' }]);
    expect(cap.out).toBe(PLAIN_SAVE);
  });

  it('-R sends every rule in one restore request', async () => {
    expect(await run(['-R'], '-C\n-A -t 10.0.0.1:80 -s rr\n')).toBe(0);
    expect(daemon.ops()).toEqual([
      { op: 'restore', requests: [{ op: 'clear' }, { op: 'add-service', service: { proto: 'tcp', vip: '10.0.0.1', vport: 80, scheduler: 'rr', schedFlags: [], persistent: 0, netmask: '255.255.255.255' } }] },
    ]);
    expect(cap.out + cap.err).toBe('');
  });

  it('-R with a bad line sends nothing (exit 2)', async () => {
    expect(await run(['-R'], '-A -t 10.0.0.1:80\n-A -t 10.0.0.1:99999\n')).toBe(2);
    expect(cap.err).toBe('line 2: illegal virtual server address[:port] specified\n');
    expect(daemon.requests).toEqual([]);
  });

  it('-R refused by the daemon names the input line and ipvsadm\'s text (exit 255)', async () => {
    daemon.answers.restore = { ok: false, error: { code: 'EEXIST_DEST', message: 'rule 2: Destination already exists' } };
    expect(await run(['-R'], '\n-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\n')).toBe(255);
    expect(cap.err).toBe('line 3: Destination already exists\ntapvsadm: nothing restored (the table is unchanged)\n');
  });

  it('--json prints the API result of -L, -L -t, -L -c and -L --timeout', async () => {
    daemon.answers.list = { ok: true, result: PLAIN };
    expect(await run(['-L', '-n', '--json'])).toBe(0);
    expect(JSON.parse(cap.out)).toEqual(PLAIN);
    cap.out = '';
    expect(await run(['-L', '-n', '--stats', '--json', '-t', '10.0.0.1:443'])).toBe(0);
    expect(JSON.parse(cap.out)).toEqual({ connTabSize: 4096, services: [PLAIN.services[1]] });
    cap.out = '';
    const conns = { conns: [{ proto: 'TCP', expires: 60, state: 'ESTABLISHED', source: '1.2.3.4:5', virtual: '10.0.0.1:80', destination: '192.168.10.2:80', worker: 0 }] };
    daemon.answers['list-conns'] = { ok: true, result: conns };
    expect(await run(['-L', '-n', '-c', '--json'])).toBe(0);
    expect(JSON.parse(cap.out)).toEqual(conns);
    cap.out = '';
    daemon.answers.status = { ok: true, result: { pid: 1, version: 1, uptimeSec: 1, workers: [], drops: {}, timeouts: { tcp: 900, tcpfin: 120, udp: 300 } } };
    expect(await run(['-L', '--timeout', '--json'])).toBe(0);
    expect(JSON.parse(cap.out)).toEqual({ tcp: 900, tcpfin: 120, udp: 300 });
  });

  it('--json is refused where ipvsadm would refuse an unknown listing option', async () => {
    expect(await run(['-A', '-t', '10.0.0.1:80', '--json'])).toBe(2);
    expect(cap.err).toBe("Illegal 'json' option with the 'add-service' command\n");
  });
});
