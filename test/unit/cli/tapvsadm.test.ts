/**
 * main() against a fake daemon: a Unix socket in a tmp dir speaking the NDJSON control protocol.
 * Asserts the requests it receives, what is printed, and ipvsadm's exit statuses.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { EXIT, helpText, main, versionLine } from '../../../src/cli/tapvsadm.js';
import type { ListResult, StatsInfo } from '../../../src/control/protocol.js';
import { Capture, FakeDaemon, fakeDaemonPerTest } from '../../helpers/fake-daemon.js';

const ZERO: StatsInfo = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0, cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const TABLE: ListResult = {
  connTabSize: 4096,
  services: [
    {
      proto: 'tcp',
      vip: '10.0.0.1',
      vport: 80,
      scheduler: 'wlc',
      schedFlags: [],
      persistent: 300,
      netmask: '255.255.255.0',
      stats: { ...ZERO, conns: 5, inpkts: 30, inbytes: 1800 },
      reals: [
        {
          rip: '192.168.10.2',
          rport: 80,
          method: 'nat',
          weight: 1,
          uthreshold: 0,
          lthreshold: 0,
          active: 3,
          inactive: 12,
          persist: 0,
          stats: { ...ZERO, conns: 5, inpkts: 30, inbytes: 1800 },
        },
      ],
    },
  ],
};
const golden = (name: string): string => readFileSync(new URL(`../../golden/cli/${name}`, import.meta.url), 'utf8');

describe('tapvsadm main()', () => {
  const fake = fakeDaemonPerTest('tapvsadm-test-');
  let daemon: FakeDaemon;
  let cap: Capture;
  beforeEach(() => ({ daemon, cap } = fake));
  const run = (args: string[]) => main(['--socket', daemon.path, ...args], cap.io);

  describe('success', () => {
    it('-A sends add-service with ipvsadm defaults, prints nothing, exits 0', async () => {
      expect(await run(['-A', '-t', '10.0.0.1:80', '-s', 'rr'])).toBe(0);
      expect(daemon.ops()).toEqual([
        { op: 'add-service', service: { proto: 'tcp', vip: '10.0.0.1', vport: 80, scheduler: 'rr', schedFlags: [], persistent: 0, netmask: '255.255.255.255' } },
      ]);
      expect(cap.out).toBe('');
      expect(cap.err).toBe('');
    });

    it('-a sends add-real', async () => {
      expect(await run(['-a', '-t', '10.0.0.1:80', '-r', '192.168.10.2:8080', '-m', '-w', '3'])).toBe(0);
      expect(daemon.ops()).toEqual([
        {
          op: 'add-real',
          service: { proto: 'tcp', vip: '10.0.0.1', vport: 80 },
          real: { rip: '192.168.10.2', rport: 8080, method: 'nat', weight: 3, uthreshold: 0, lthreshold: 0 },
        },
      ]);
    });

    it('-L -n sends list and prints the ipvsadm table', async () => {
      daemon.answers.list = { ok: true, result: TABLE };
      expect(await run(['-L', '-n'])).toBe(0);
      expect(daemon.ops()).toEqual([{ op: 'list' }]);
      expect(cap.out).toBe(golden('ref-5.2-list-n.txt'));
    });

    it('no command at all lists the table', async () => {
      daemon.answers.list = { ok: true, result: TABLE };
      expect(await run([])).toBe(0);
      expect(cap.out).toBe(golden('ref-5.2-list-n.txt'));
    });

    it('-L -t VIP:port --stats asks for that service and prints it without the banner', async () => {
      daemon.answers.list = { ok: true, result: TABLE };
      expect(await run(['-L', '-t', '10.0.0.1:80', '--stats'])).toBe(0);
      expect(daemon.ops()).toEqual([{ op: 'list', service: { proto: 'tcp', vip: '10.0.0.1', vport: 80 } }]);
      expect(cap.out).toBe(golden('ref-5.3-stats.txt'));
    });

    it('-L --timeout prints timeouts when the status reply carries them', async () => {
      daemon.answers.status = { ok: true, result: { pid: 1, version: 1, uptimeSec: 1, workers: [], drops: {}, timeouts: { tcp: 900, tcpfin: 120, udp: 300 } } };
      expect(await run(['-L', '--timeout'])).toBe(0);
      expect(daemon.ops()).toEqual([{ op: 'status' }]);
      expect(cap.out).toBe('Timeout (tcp tcpfin udp): 900 120 300\n');
    });

    it('TAPVS_SOCKET is used when --socket is absent', async () => {
      const saved = process.env.TAPVS_SOCKET;
      process.env.TAPVS_SOCKET = daemon.path;
      try {
        expect(await main(['-C'], cap.io)).toBe(0);
      } finally {
        if (saved === undefined) delete process.env.TAPVS_SOCKET;
        else process.env.TAPVS_SOCKET = saved;
      }
      expect(daemon.ops()).toEqual([{ op: 'clear' }]);
    });
  });

  describe('daemon errors print ipvsadm\'s message', () => {
    it("-D of a missing service: 'No such service', exit 255 (the libipvs -1 ipvsadm returns)", async () => {
      daemon.answers['del-service'] = { ok: false, error: { code: 'ESRCH_SERVICE', message: 'No such service' } };
      expect(await run(['-D', '-t', '10.0.0.1:80'])).toBe(255);
      expect(cap.err).toBe('No such service\n');
      expect(cap.out).toBe('');
    });

    it("ESRCH on a real-server operation reads 'Service not defined', as libipvs maps it", async () => {
      daemon.answers['add-real'] = { ok: false, error: { code: 'ESRCH_SERVICE', message: 'No such service' } };
      expect(await run(['-a', '-t', '10.0.0.1:80', '-r', '10.0.1.1'])).toBe(EXIT.DAEMON_ERROR);
      expect(cap.err).toBe('Service not defined\n');
    });

    it('ERANGE (l_threshold above u_threshold) prints strerror', async () => {
      daemon.answers['add-real'] = { ok: false, error: { code: 'ERANGE', message: 'lower threshold is higher than upper threshold' } };
      expect(await run(['-a', '-t', '10.0.0.1:80', '-r', '10.0.1.1', '-y', '5'])).toBe(255);
      expect(cap.err).toBe('Numerical result out of range\n');
    });

    it('codes without an ipvsadm text print the daemon message', async () => {
      daemon.answers['add-service'] = { ok: false, error: { code: 'EINVAL', message: 'services[0].netmask must be a contiguous mask' } };
      expect(await run(['-A', '-t', '10.0.0.1:80', '-p', '-M', '255.0.255.0'])).toBe(255);
      expect(cap.err).toBe('services[0].netmask must be a contiguous mask\n');
    });

    it("-L -t of a missing service: 'No such service', exit 1 (list_service exits 1)", async () => {
      daemon.answers.list = { ok: false, error: { code: 'ESRCH_SERVICE', message: 'No such service' } };
      expect(await run(['-L', '-t', '10.0.0.9:80'])).toBe(1);
      expect(cap.err).toBe('No such service\n');
      expect(cap.out).toBe('');
    });

    it("-L -t answered with no services is 'No such service' too", async () => {
      daemon.answers.list = { ok: true, result: { connTabSize: 4096, services: [] } };
      expect(await run(['-L', '-t', '10.0.0.9:80'])).toBe(1);
      expect(cap.err).toBe('No such service\n');
    });
  });

  describe('no daemon', () => {
    it('a missing socket names the path, exit 2 (ipvsadm\'s "Can\'t initialize ipvs")', async () => {
      const path = join(fake.dir, 'nobody-here.sock');
      expect(await main(['--socket', path, '-L'], cap.io)).toBe(EXIT.NO_DAEMON);
      expect(cap.err).toContain(`tapvsadm: cannot connect to ${path}: is the tapvs daemon running?\n`);
      expect(cap.out).toBe('');
    });

    it('connection refused (a path nobody listens on) names the path, exit 2', async () => {
      const path = join(fake.dir, 'refused.sock');
      writeFileSync(path, '');
      expect(await main(['--socket', path, '-C'], cap.io)).toBe(2);
      expect(cap.err).toContain(`cannot connect to ${path}`);
    });
  });

  describe('usage', () => {
    it('a fail() error prints the message alone, exit 2, and nothing reaches the daemon', async () => {
      expect(await run(['-a', '-t', '10.0.0.1:80', '-r', '10.0.1.1', '-s', 'rr'])).toBe(2);
      expect(cap.err).toBe("Illegal 'scheduler' option with the 'add-server' command\n");
      expect(daemon.requests).toEqual([]);
    });

    it('no command first: only the try-help line, exit 255', async () => {
      expect(await run(['-t', '10.0.0.1:80'])).toBe(255);
      expect(cap.err).toBe("Try `tapvsadm -h' or 'tapvsadm --help' for more information.\n");
    });

    it('popt errors: "<word>: <reason>", exit 255', async () => {
      expect(await run(['-L', '--bogus'])).toBe(255);
      expect(cap.err).toBe('--bogus: unknown option\n');
    });

    it('-h prints the help to stdout (mentioning --socket, TAPVS_SOCKET, --fullnat and -b), exit 0', async () => {
      expect(await main(['-h'], cap.io)).toBe(0);
      expect(cap.out).toBe(helpText());
      for (const word of ['--socket PATH', 'TAPVS_SOCKET', '--fullnat', '--sched-flags  -b', '-L|l', '--stats', '--rate', '--exact']) expect(cap.out).toContain(word);
      expect(cap.err).toBe('');
    });

    it('-v prints one version line, exit 0', async () => {
      expect(await main(['-v'], cap.io)).toBe(0);
      expect(cap.out).toBe(versionLine() + '\n');
      expect(cap.out).toMatch(/^tapvsadm v\d+\.\d+\.\d+ .*IPVS v1\.2\.1\)\n$/);
    });
  });

  describe('connections and timeouts', () => {
    it('-L -n -c prints the connection table in ipvsadm layout', async () => {
      const conns = [
        { proto: 'TCP', expires: 898, state: 'ESTABLISHED', source: '198.18.0.2:51234', virtual: '198.18.0.100:80', destination: '198.18.1.11:80', worker: 0 },
        { proto: 'UDP', expires: 3600, state: 'UDP', source: '198.18.0.2:5353', virtual: '198.18.0.100:53', destination: '198.18.1.12:53', worker: 1 },
      ];
      daemon.answers['list-conns'] = { ok: true, result: { conns } };
      expect(await run(['-L', '-n', '-c'])).toBe(0);
      // Built from ipvsadm's print_conn format strings by hand (not from formatConnList).
      expect(cap.out).toBe(
        'IPVS connection entries\n' +
          'pro expire state       source             virtual            destination\n' +
          'TCP 14:58  ESTABLISHED 198.18.0.2:51234   198.18.0.100:80    198.18.1.11:80\n' +
          'UDP 60:00  UDP         198.18.0.2:5353    198.18.0.100:53    198.18.1.12:53\n',
      );
      expect(daemon.ops()).toEqual([{ op: 'list-conns' }]);
    });

    it('--set sends the three timeouts', async () => {
      expect(await run(['--set', '900', '120', '300'])).toBe(0);
      expect(daemon.ops()).toEqual([{ op: 'set-timeouts', tcp: 900, tcpfin: 120, udp: 300 }]);
    });
  });

  describe('not supported yet', () => {
    it.each([
      [['--start-daemon', 'master'], 'the connection sync daemon (--start-daemon)'],
      [['-A', '-f', '1'], 'a firewall-mark service (-f)'],
      [['-A', '-t', '[2001:db8::1]:80'], 'IPv6'],
    ])('%j: "tapvsadm: <feature> is not supported by this daemon yet", exit 1, nothing sent', async (args, feature) => {
      expect(await run(args)).toBe(1);
      expect(cap.err).toBe(`tapvsadm: ${feature} is not supported by this daemon yet\n`);
      expect(daemon.requests).toEqual([]);
    });

    it('-L --timeout when the status reply has no timeouts', async () => {
      daemon.answers.status = { ok: true, result: { pid: 1, version: 1, uptimeSec: 1, workers: [], drops: {} } };
      expect(await run(['-L', '--timeout'])).toBe(1);
      expect(cap.err).toBe('tapvsadm: listing timeouts (--timeout) is not supported by this daemon yet\n');
    });
  });
});
