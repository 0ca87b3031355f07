/**
 * tapvsadm's grammar: one `it` per ipvsadm rule, asserting ipvsadm's exact message and exit status
 * (ipvsadm.c 1.29–1.31) or the exact request produced.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIST_FORMAT } from '../../../src/cli/format.js';
import { UnsupportedError, UsageError, parseArgs, tryHelpLine, type Command } from '../../../src/cli/args.js';

const argv = (line: string | string[]): string[] => (Array.isArray(line) ? line : line.split(/\s+/).filter((w) => w !== ''));
const parse = (line: string | string[]): Command => parseArgs(argv(line)).command;
const request = (line: string | string[]): unknown => {
  const c = parse(line);
  if (c.kind !== 'change') throw new Error(`not a change: ${c.kind}`);
  return c.request;
};
function usage(line: string | string[]): { message: string; exitCode: number; tryHelp: boolean } {
  try {
    parseArgs(argv(line));
  } catch (err) {
    if (err instanceof UsageError) return { message: err.message, exitCode: err.exitCode, tryHelp: err.tryHelp };
    throw err;
  }
  throw new Error(`parsed: ${JSON.stringify(line)}`);
}
const failed = (message: string) => ({ message, exitCode: 2, tryHelp: false });
const unsupported = (line: string | string[]): string => {
  try {
    parseArgs(argv(line));
  } catch (err) {
    if (err instanceof UnsupportedError) return err.message;
    throw err;
  }
  throw new Error('parsed');
};

const SVC80 = { proto: 'tcp', vip: '10.0.0.1', vport: 80 } as const;
const LIST = { kind: 'list', format: DEFAULT_LIST_FORMAT };

describe('args', () => {
  describe('command selection', () => {
    it('no arguments lists the table (ipvsadm with argc == 1)', () => {
      expect(parse([])).toEqual(LIST);
    });

    it.each([
      ['-L', LIST],
      ['-l', LIST],
      ['--list', LIST],
      ['-Ln', { kind: 'list', format: { ...DEFAULT_LIST_FORMAT, numeric: true } }],
      ['-L -n --stats --exact', { kind: 'list', format: { ...DEFAULT_LIST_FORMAT, numeric: true, stats: true, exact: true } }],
      ['-L --rate --sort', { kind: 'list', format: { ...DEFAULT_LIST_FORMAT, rate: true } }],
      ['-L --thresholds --nosort', { kind: 'list', format: { ...DEFAULT_LIST_FORMAT, thresholds: true, nosort: true } }],
      ['-L --persistent-conn -X', { kind: 'list', format: { ...DEFAULT_LIST_FORMAT, persistentConn: true, exact: true } }],
      ['-L --tun-info', { kind: 'list', format: { ...DEFAULT_LIST_FORMAT, tunInfo: true } }],
      ['-L -n -t 10.0.0.1:80', { kind: 'list', service: SVC80, format: { ...DEFAULT_LIST_FORMAT, numeric: true } }],
      ['-L -c', { kind: 'list-conns', format: DEFAULT_LIST_FORMAT }],
      ['-L --timeout', { kind: 'list-timeout' }],
      ['-L --daemon', { kind: 'list-daemon' }],
      ['-h', { kind: 'help' }],
      ['--help -L --bogus', { kind: 'help' }],
      ['-v', { kind: 'version' }],
      ['-S -n', { kind: 'save', numeric: true }],
      ['--save', { kind: 'save', numeric: false }],
      ['-R', { kind: 'restore' }],
      ['--set 900 120 300', { kind: 'set-timeouts', tcp: 900, tcpfin: 120, udp: 300 }],
      ['--start-daemon master --syncid 7', { kind: 'start-daemon', state: 'master', daemon: { mcastInterface: 'eth0', syncid: 7 } }],
      ['--stop-daemon backup', { kind: 'stop-daemon', state: 'backup', daemon: {} }],
    ])('%s', (line, command) => {
      expect(parse(line)).toEqual(command);
    });

    it.each(['-n -L', '-t 10.0.0.1:80 -A', 'foo', '--bogus', '-K', '--', '--list=1'])(
      'the first option must be a command, else only the "Try" line and exit 255 (tryhelp_exit): %s',
      (line) => {
        expect(usage(line)).toEqual({ message: '', exitCode: 255, tryHelp: true });
      },
    );

    it('a second command is "invalid option" naming the word it came in, exit 2 (commands are not accepted after the first)', () => {
      expect(usage('-A -t 10.0.0.1:80 -a')).toEqual(failed("invalid option `-a'"));
      expect(usage('-LZ')).toEqual(failed("invalid option `-LZ'"));
      expect(usage('-L -h')).toEqual(failed("invalid option `-h'"));
    });

    it('the try-help line names tapvsadm', () => {
      expect(tryHelpLine()).toBe("Try `tapvsadm -h' or 'tapvsadm --help' for more information.");
    });
  });

  describe('popt scanner', () => {
    it('unknown option after the command: "<word>: unknown option", exit 255', () => {
      expect(usage('-L --bogus')).toEqual({ message: '--bogus: unknown option', exitCode: 255, tryHelp: false });
      expect(usage('-LK')).toEqual({ message: '-LK: unknown option', exitCode: 255, tryHelp: false });
    });

    it('missing argument: "<word>: missing argument", exit 255', () => {
      expect(usage('-A -t')).toEqual({ message: '-t: missing argument', exitCode: 255, tryHelp: false });
      expect(usage('-A --tcp-service')).toEqual({ message: '--tcp-service: missing argument', exitCode: 255, tryHelp: false });
    });

    it('a value on a flag without one: "<word>: option does not take an argument", exit 255', () => {
      expect(usage('-L --stats=1')).toEqual({ message: '--stats=1: option does not take an argument', exitCode: 255, tryHelp: false });
    });

    it('values come attached (-t10.0.0.1:80, --tcp-service=...) or as the next word, even one starting with "-"', () => {
      expect(request('-At10.0.0.1:80')).toEqual(request('--add-service --tcp-service=10.0.0.1:80'));
      expect(request('-A -t 10.0.0.1:80 -s -x')).toMatchObject({ service: { scheduler: '-x' } });
    });

    it('option values are checked in argv order, before a later unknown option is reached', () => {
      expect(usage('-A -t bad --bogus')).toEqual(failed('illegal virtual server address[:port] specified'));
    });

    it('non-option words are "unexpected argument", exit 2', () => {
      expect(usage('-A -t 10.0.0.1:80 rr')).toEqual(failed('unexpected argument rr'));
      expect(usage('-L -- -n')).toEqual(failed('unexpected argument -n'));
    });
  });

  describe('options', () => {
    it("a repeated option: multiple 'X' options specified", () => {
      expect(usage('-A -t 10.0.0.1:80 -s rr -s wrr')).toEqual(failed("multiple 'scheduler' options specified"));
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -m -g')).toEqual(failed("multiple 'forwarding-method' options specified"));
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -m --fullnat')).toEqual(failed("multiple 'forwarding-method' options specified"));
      expect(usage('-A -t 10.0.0.1:80 -u 10.0.0.1:53')).toEqual(failed("multiple 'service-address' options specified"));
      expect(usage('-L -nn')).toEqual(failed("multiple 'numeric' options specified"));
    });

    it.each([
      ['-a -t 10.0.0.1:80 -r 10.0.1.1 -s rr', "Illegal 'scheduler' option with the 'add-server' command"],
      ['-A -t 10.0.0.1:80 -w 3', "Illegal 'weight' option with the 'add-service' command"],
      ['-D -t 10.0.0.1:80 -p', "Illegal 'persistent' option with the 'delete-service' command"],
      ['-d -t 10.0.0.1:80 -r 10.0.1.1 -m', "Illegal 'forwarding-method' option with the 'delete-server' command"],
      ['-C -n', "Illegal 'numeric' option with the 'flush' command"],
      ['-L -s rr', "Illegal 'scheduler' option with the 'list' command"],
      ['-Z --stats', "Illegal 'stats' option with the 'zero' command"],
      ['-S -c', "Illegal 'connection' option with the 'save' command"],
      ['-A -t 10.0.0.1:80 --tun-info', "Illegal 'tun-info' option with the 'add-service' command"],
    ])('options not allowed with the command (command/option matrix): %s', (line, message) => {
      expect(usage(line)).toEqual(failed(message));
    });

    it.each([
      ['-A -s rr', "You need to supply the 'service-address' option for the 'add-service' command"],
      ['-a -t 10.0.0.1:80 -m', "You need to supply the 'real-server' option for the 'add-server' command"],
      ['-a -s rr', "You need to supply the 'service-address' option for the 'add-server' command"], // earlier option wins
      ['-D', "You need to supply the 'service-address' option for the 'delete-service' command"],
    ])('required options: %s', (line, message) => {
      expect(usage(line)).toEqual(failed(message));
    });

    it('-L takes at most one of -c, a service, --timeout, --daemon (named in ipvsadm option order)', () => {
      expect(usage('-L -t 10.0.0.1:80 -c')).toEqual(failed("The option 'service-address' conflicts with the 'connection' option in the 'list' command"));
      expect(usage('-L --daemon --timeout')).toEqual(failed("The option 'daemon' conflicts with the 'timeout' option in the 'list' command"));
    });

    it.each(['-L -c --stats', '-L --timeout --rate', '-L --daemon --thresholds', '-L --timeout --persistent-conn'])(
      '-L format conflicts: %s',
      (line) => {
        expect(usage(line)).toEqual(failed('options conflicts in the list command'));
      },
    );
  });

  describe('values', () => {
    it.each(['65536', '-1', 'abc', '1.5', ''])('weight must be an integer in 0..65535: -w %j → illegal weight specified', (w) => {
      expect(usage(['-a', '-t', '10.0.0.1:80', '-r', '10.0.1.1', '-w', w])).toEqual(failed('illegal weight specified'));
    });

    it.each([
      ['0', 0],
      ['65535', 65535],
      ['+7', 7],
    ])('weight %s is accepted', (w, n) => {
      expect(request(['-a', '-t', '10.0.0.1:80', '-r', '10.0.1.1', '-w', w])).toMatchObject({ real: { weight: n } });
    });

    it('thresholds are integers in 0..2147483647', () => {
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -x 2147483648')).toEqual(failed('illegal u_threshold specified'));
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -y x')).toEqual(failed('illegal l_threshold specified'));
      expect(request('-a -t 10.0.0.1:80 -r 10.0.1.1 -x 2147483647 -y 10')).toMatchObject({ real: { uthreshold: 2147483647, lthreshold: 10 } });
    });

    it('-y without -x is sent as given: like the kernel, the daemon refuses l > u (ERANGE)', () => {
      expect(request('-a -t 10.0.0.1:80 -r 10.0.1.1 -y 5')).toMatchObject({ real: { uthreshold: 0, lthreshold: 5 } });
    });

    it('-p without a value is 360 s; a following word starting with "-" is not taken as its value', () => {
      expect(request('-A -t 10.0.0.1:80 -p')).toMatchObject({ service: { persistent: 360 } });
      expect(request('-A -t 10.0.0.1:80 -p -s rr')).toMatchObject({ service: { persistent: 360, scheduler: 'rr' } });
      expect(request('-A -t 10.0.0.1:80 -p 60')).toMatchObject({ service: { persistent: 60 } });
      expect(request('-A -t 10.0.0.1:80 -p600')).toMatchObject({ service: { persistent: 600 } });
      expect(request('-A -t 10.0.0.1:80 --persistent=2678400')).toMatchObject({ service: { persistent: 2678400 } });
    });

    it.each(['0', '2678401', 'rr'])('-p %s → invalid timeout value', (p) => {
      expect(usage(['-A', '-t', '10.0.0.1:80', '-p', p])).toEqual(failed(`invalid timeout value \`${p}' specified`));
    });

    it('-M must be a dotted quad', () => {
      expect(usage('-A -t 10.0.0.1:80 -p -M 255.255.255')).toEqual(failed('illegal virtual server persistent mask specified'));
      expect(request('-A -t 10.0.0.1:80 -p -M 255.255.0.0')).toMatchObject({ service: { netmask: '255.255.0.0' } });
    });

    it.each(['10.0.0', '10.0.0.256', '10.0.0.1:65536', '10.0.0.1:', '10.0.0.1:http', 'www.example.com:80', '8080', '010.0.0.1:80'])(
      'virtual address %j → illegal virtual server address[:port] specified',
      (a) => {
        expect(usage(['-A', '-t', a])).toEqual(failed('illegal virtual server address[:port] specified'));
      },
    );

    it('real address errors name the real server', () => {
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1')).toEqual(failed('illegal real server address[:port] specified'));
    });

    it('zero port needs persistence: "Zero port specified for non-persistent service"', () => {
      expect(usage('-A -t 10.0.0.1')).toEqual(failed('Zero port specified for non-persistent service'));
      expect(usage('-E -u 10.0.0.1:0 -s rr')).toEqual(failed('Zero port specified for non-persistent service'));
      expect(request('-A -t 10.0.0.1 -p')).toMatchObject({ service: { vport: 0, persistent: 360 } });
    });

    it('-o is for UDP services only', () => {
      expect(usage('-A -t 10.0.0.1:80 -o')).toEqual(failed('One-Packet Scheduling is only for UDP virtual services'));
    });

    it('-6 must follow -f (the message keeps ipvsadm\'s extra newline)', () => {
      expect(usage('-A -t 10.0.0.1:80 -6')).toEqual(failed('-6 used before -f\n'));
    });

    it('--set needs 3 timeouts in 0..2678400', () => {
      expect(usage('--set 900 120')).toEqual(failed('--set option requires 3 timeout values'));
      expect(usage('--set 900 120 x')).toEqual(failed("invalid timeout value `x' specified"));
      expect(usage('--set 900 120 300 5')).toEqual(failed('unexpected argument 5'));
    });

    it('--start-daemon / --stop-daemon take master or backup', () => {
      expect(usage('--start-daemon primary')).toEqual(failed('illegal start-daemon parameter specified'));
      expect(usage('--stop-daemon primary')).toEqual(failed('illegal start_daemon specified'));
      expect(usage('--start-daemon master --mcast-group 10.0.0.1')).toEqual(failed("invalid IPv4 mcast-group `10.0.0.1'"));
      expect(usage('--start-daemon master --syncid 256')).toEqual(failed('illegal syncid specified'));
    });
  });

  describe('scheduler flags (-b is --sched-flags, as in ipvsadm)', () => {
    it('are sent under their canonical names for the scheduler', () => {
      expect(request('-A -t 10.0.0.1:80 -s sh -b sh-port,sh-fallback')).toMatchObject({ service: { scheduler: 'sh', schedFlags: ['sh-fallback', 'sh-port'] } });
      expect(request('-A -t 10.0.0.1:80 -s sh -b flag-1')).toMatchObject({ service: { schedFlags: ['sh-fallback'] } });
      expect(request('-A -t 10.0.0.1:80 -s rr -b flag-3,flag-1')).toMatchObject({ service: { schedFlags: ['flag-1', 'flag-3'] } });
    });

    it('unknown flag: invalid scheduler flag', () => {
      expect(usage('-A -t 10.0.0.1:80 -b fast')).toEqual(failed("invalid scheduler flag `fast'"));
    });

    it('sh-*/mh-* with another scheduler (default wlc): incompatible scheduler flag', () => {
      expect(usage('-A -t 10.0.0.1:80 -b sh-port')).toEqual(failed("incompatible scheduler flag `sh-port'"));
      expect(usage('-A -t 10.0.0.1:80 -s sh -b mh-port')).toEqual(failed("incompatible scheduler flag `mh-port'"));
    });

    it('-b is not FULLNAT: "-b" on a real server is an illegal sched-flags option', () => {
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -b flag-1')).toEqual(failed("Illegal 'sched-flags' option with the 'add-server' command"));
    });
  });

  describe('requests with ipvsadm defaults', () => {
    it('-A fills scheduler wlc, no persistence, /32 mask, no flags', () => {
      expect(request('-A -t 10.0.0.1:80')).toEqual({
        op: 'add-service',
        service: { ...SVC80, scheduler: 'wlc', schedFlags: [], persistent: 0, netmask: '255.255.255.255' },
      });
    });

    it('-E sends the full service as ipvsadm does (unset fields go back to their defaults)', () => {
      expect(request('-E -u 10.0.0.1:53 -s rr')).toEqual({
        op: 'edit-service',
        service: { proto: 'udp', vip: '10.0.0.1', vport: 53, scheduler: 'rr', schedFlags: [], persistent: 0, netmask: '255.255.255.255' },
      });
    });

    it('-A with every service option', () => {
      expect(request('--add-service --tcp-service 10.0.0.1:80 --scheduler sh --persistent 300 --netmask 255.255.255.0 --sched-flags sh-port')).toEqual({
        op: 'add-service',
        service: { ...SVC80, scheduler: 'sh', schedFlags: ['sh-port'], persistent: 300, netmask: '255.255.255.0' },
      });
    });

    it('-a fills weight 1, gatewaying (dr), thresholds 0, and the service port', () => {
      expect(request('-a -t 10.0.0.1:80 -r 10.0.1.1')).toEqual({
        op: 'add-real',
        service: SVC80,
        real: { rip: '10.0.1.1', rport: 80, method: 'dr', weight: 1, uthreshold: 0, lthreshold: 0 },
      });
    });

    it('-e sends the full real as ipvsadm does', () => {
      expect(request('-e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 5')).toEqual({
        op: 'edit-real',
        service: SVC80,
        real: { rip: '10.0.1.1', rport: 8080, method: 'nat', weight: 5, uthreshold: 0, lthreshold: 0 },
      });
    });

    it.each([
      ['-g', 'dr', 80],
      ['-i', 'tun', 80],
      ['--gatewaying', 'dr', 80],
      ['--ipip', 'tun', 80],
    ])('%s forces the real port to the service port', (flag, method, rport) => {
      expect(request(`-a -t 10.0.0.1:80 -r 10.0.1.1:8080 ${flag}`)).toMatchObject({ real: { method, rport } });
    });

    it.each([
      ['-m', 'nat'],
      ['--masquerading', 'nat'],
      ['--fullnat', 'fullnat'],
    ])('%s may map the port', (flag, method) => {
      expect(request(`-a -t 10.0.0.1:80 -r 10.0.1.1:8080 ${flag}`)).toMatchObject({ real: { method, rport: 8080 } });
    });

    it('-r without a port takes the service port, wherever -t appears', () => {
      expect(request('-a -r 10.0.1.1 -m -t 10.0.0.1:80')).toMatchObject({ real: { rip: '10.0.1.1', rport: 80, method: 'nat' } });
    });

    it('-D, -d, -C, -Z', () => {
      expect(request('-D -t 10.0.0.1:80')).toEqual({ op: 'del-service', service: SVC80 });
      expect(request('-d -t 10.0.0.1:80 -r 10.0.1.1:8080')).toEqual({ op: 'del-real', service: SVC80, real: { rip: '10.0.1.1', rport: 8080 } });
      expect(request('-d -t 10.0.0.1:80 -r 10.0.1.1')).toEqual({ op: 'del-real', service: SVC80, real: { rip: '10.0.1.1', rport: 80 } });
      expect(request('-C')).toEqual({ op: 'clear' });
      expect(request('--clear')).toEqual({ op: 'clear' });
      expect(request('-Z')).toEqual({ op: 'zero' });
      expect(request('-Z -t 10.0.0.1:80')).toEqual({ op: 'zero', service: SVC80 });
    });
  });

  describe('real-server forwarding rules', () => {
    it('tunnel options need -i', () => {
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -m --tun-type ipip')).toEqual(failed('Tunnel options conflict with forward method'));
    });
    it('tunnel options per tunnel type', () => {
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-port 6080')).toEqual(failed("Illegal 'tun-port' option with the 'ipip' tunnel type"));
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue')).toEqual(failed("You need to supply the 'tun-port' option for the 'gue' tunnel type"));
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 6080 --tun-csum --tun-nocsum')).toEqual(
        failed("The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type"),
      );
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type vxlan')).toEqual(failed('illegal tunnel type specified'));
      expect(request('-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type ipip')).toMatchObject({ real: { method: 'tun' } });
    });
    it('address families must match unless tunnelling', () => {
      expect(usage('-a -t 10.0.0.1:80 -r [2001:db8::1]:80 -m')).toEqual(failed('Different address family is allowed only for tunneling servers'));
    });
  });

  describe('tapvs', () => {
    it('--socket PATH may come anywhere, before the command too', () => {
      expect(parseArgs(argv('--socket /tmp/a.sock -L -n'))).toEqual({
        command: { kind: 'list', format: { ...DEFAULT_LIST_FORMAT, numeric: true } },
        socketPath: '/tmp/a.sock',
      });
      expect(parseArgs(argv('-C --socket=/tmp/b.sock')).socketPath).toBe('/tmp/b.sock');
      expect(parseArgs(argv('--socket /tmp/c.sock'))).toEqual({ command: LIST, socketPath: '/tmp/c.sock' });
    });

    it("--socket once: multiple 'socket' options specified", () => {
      expect(usage('-L --socket /a --socket /b')).toEqual(failed("multiple 'socket' options specified"));
    });

    it.each([
      ['-A -t [2001:db8::1]:80', 'IPv6 is not supported by this daemon yet'],
      ['-A -t 2001:db8::1 -p', 'IPv6 is not supported by this daemon yet'],
      ['-A -f 1', 'a firewall-mark service (-f) is not supported by this daemon yet'],
      ['-A --sctp-service 10.0.0.1:80', 'SCTP (--sctp-service) is not supported by this daemon yet'],
      ['-A -u 10.0.0.1:53 -o', 'one-packet scheduling (-o) is not supported by this daemon yet'],
      ['-A -t 10.0.0.1:80 -p --pe sip', 'a persistence engine (--pe) is not supported by this daemon yet'],
      ['-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 6080', 'GUE tunnelling (--tun-type gue) is not supported by this daemon yet'],
    ])('valid ipvsadm syntax tapvs cannot do is an UnsupportedError: %s', (line, message) => {
      expect(unsupported(line)).toBe(message);
    });

    it("ipvsadm's own errors win over unsupported features", () => {
      expect(usage('-A -f 0')).toEqual(failed("invalid fwmark value `0' specified"));
      expect(usage('-A -t [2001:db8::1]:80 -w 1')).toEqual(failed("Illegal 'weight' option with the 'add-service' command"));
    });
  });
  describe('FULLNAT local addresses and client-IP delivery (DPVS/Alibaba ipvsadm)', () => {
    it('-P / --add-laddr -z adds a local address by a partial service edit; -Q removes it', () => {
      expect(request('-P -t 10.0.0.1:80 -z 10.0.1.200')).toEqual({ op: 'edit-service', service: { ...SVC80, addLaddrs: ['10.0.1.200'] } });
      expect(request('--add-laddr --laddr 10.0.1.200 -t 10.0.0.1:80')).toEqual({ op: 'edit-service', service: { ...SVC80, addLaddrs: ['10.0.1.200'] } });
      expect(request('-Q -u 10.0.0.1:53 -z 10.0.1.201')).toEqual({
        op: 'edit-service', service: { proto: 'udp', vip: '10.0.0.1', vport: 53, delLaddrs: ['10.0.1.201'] },
      });
    });

    it('-G lists the local addresses, of all services or one', () => {
      expect(parse('-G')).toEqual({ kind: 'get-laddr' });
      expect(parse('-G -n -t 10.0.0.1:80')).toEqual({ kind: 'get-laddr', service: SVC80 });
    });

    it('-P needs the service and -z; -z takes a dotted quad only', () => {
      expect(usage('-P -t 10.0.0.1:80')).toEqual(failed("You need to supply the 'laddr' option for the 'add-laddr' command"));
      expect(usage('-Q -z 10.0.1.200')).toEqual(failed("You need to supply the 'service-address' option for the 'del-laddr' command"));
      expect(usage('-P -t 10.0.0.1:80 -z 10.0.1')).toEqual(failed('illegal local address specified'));
      expect(usage('-P -t 10.0.0.1:80 -z 10.0.1.200 -s rr')).toEqual(failed("Illegal 'scheduler' option with the 'add-laddr' command"));
      expect(usage('-A -t 10.0.0.1:80 -z 10.0.1.200')).toEqual(failed("Illegal 'laddr' option with the 'add-service' command"));
    });

    it('--proxy-protocol v1|v2|disable and --toa set the service\'s client-IP delivery; an edit without them keeps it', () => {
      const svc = (extra: object) => ({ ...SVC80, scheduler: 'wlc', schedFlags: [], persistent: 0, netmask: '255.255.255.255', ...extra });
      expect(request('-A -t 10.0.0.1:80 --proxy-protocol v1')).toEqual({ op: 'add-service', service: svc({ clientIp: 'proxy-v1' }) });
      expect(request('-E -t 10.0.0.1:80 --proxy-protocol=v2')).toEqual({ op: 'edit-service', service: svc({ clientIp: 'proxy-v2' }) });
      expect(request('-E -t 10.0.0.1:80 --proxy-protocol disable')).toEqual({ op: 'edit-service', service: svc({ clientIp: 'none' }) });
      expect(request('-A -t 10.0.0.1:80 --toa')).toEqual({ op: 'add-service', service: svc({ clientIp: 'toa' }) });
      expect(request('-E -t 10.0.0.1:80 -s rr')).toEqual({ op: 'edit-service', service: svc({ scheduler: 'rr' }) });
    });

    it('rejects a bad --proxy-protocol value, and --toa with --proxy-protocol', () => {
      expect(usage('-A -t 10.0.0.1:80 --proxy-protocol v3')).toEqual(failed("invalid proxy-protocol value `v3' (v1, v2 or disable)"));
      expect(usage('-A -t 10.0.0.1:80 --toa --proxy-protocol v2')).toEqual(failed("The option 'proxy-protocol' conflicts with the 'toa' option"));
      expect(usage('-a -t 10.0.0.1:80 -r 10.0.1.1 --fullnat --toa')).toEqual(failed("Illegal 'toa' option with the 'add-server' command"));
    });
  });
});
