/**
 * tapvsadm: the ipvsadm-compatible client of the tapvs daemon.
 *
 * argv → parseArgs (args.ts) → Command → ControlClient request(s) over the Unix socket → text (format.ts).
 * `main` never exits the process; it returns the exit status ipvsadm would return (see EXIT).
 */
import { readFileSync } from 'node:fs';
import { ControlClient, resolveSocketPath } from '../control/client.js';
import type { ConnListResult, ListResult, StatusResult } from '../control/protocol.js';
import { runDrain } from './drain.js';
import { dropsJson, formatDrops } from './drops.js';
import { IPVS_MESSAGES, LbError } from '../errors.js';
import type { ServiceKey } from '../types.js';
import { DEFAULT_SOCKET_PATH, IPVS_VERSION_STRING, SOCKET_ENV } from '../defaults.js';
import { PROTOCOL_VERSION } from '../control/protocol.js';
import { PROGRAM, UnsupportedError, UsageError, parseArgs, tryHelpLine, type ChangeRequest, type Command } from './args.js';
import { formatConnList, formatLaddrs, formatList, formatService, formatTimeout } from './format.js';
import { RestoreError, parseRestore, type RestoreLine } from './restore.js';
import { formatSave } from './rules.js';

/**
 * Exit statuses, as ipvsadm.c (1.29–1.31) produces them:
 * - OK 0.
 * - USAGE 2: every `fail(2, ...)` in parse_options / process_options / generic_opt_check / set_option.
 * - TRY_HELP 255: `tryhelp_exit(argv[0], -1)` when the first option is not a command, and popt errors
 *   after it (parse_options returns -1, which main returns).
 * - DAEMON_ERROR 255: a refused change: process_options prints `ipvs_strerror(errno)` and returns the
 *   libipvs result -1, which main returns.
 * - LIST_FAILED 1: list_all / list_service / list_timeout print the error and `exit(1)`.
 * - NO_DAEMON 2: main's `fail(2, "Can't initialize ipvs: ...")` when the kernel side is not reachable.
 * - UNSUPPORTED 1: tapvs's own: valid ipvsadm syntax the daemon cannot do yet.
 */
export const EXIT = {
  OK: 0,
  USAGE: 2,
  TRY_HELP: 255,
  DAEMON_ERROR: 255,
  LIST_FAILED: 1,
  NO_DAEMON: 2,
  UNSUPPORTED: 1,
  /** tapvs --drain --wait: the deadline passed with conns left (the real was removed as --at-deadline says). */
  DRAIN_DEADLINE: 3,
} as const;

export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  /** The whole standard input (-R); default: process.stdin. */
  stdin?: () => Promise<string>;
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

/** Commands parsed fully but without a control op yet, and the words naming them. */
const NOT_YET: Partial<Record<Command['kind'], string>> = {
  'list-daemon': 'the connection sync daemon (--daemon)',
  'start-daemon': 'the connection sync daemon (--start-daemon)',
  'stop-daemon': 'the connection sync daemon (--stop-daemon)',
};

export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let command: Command;
  let socketFlag: string | undefined;
  try {
    ({ command, socketPath: socketFlag } = parseArgs(argv));
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message !== '') io.stderr.write(err.message + '\n');
      if (err.tryHelp) io.stderr.write(tryHelpLine() + '\n');
      return err.exitCode;
    }
    if (err instanceof UnsupportedError) return _unsupported(io, err.feature);
    throw err;
  }

  if (command.kind === 'help') {
    io.stdout.write(helpText());
    return EXIT.OK;
  }
  if (command.kind === 'version') {
    io.stdout.write(versionLine() + '\n');
    return EXIT.OK;
  }
  const notYet = NOT_YET[command.kind];
  if (notYet !== undefined) return _unsupported(io, notYet);
  // -R: the whole input is read and parsed before anything is sent (a bad line changes nothing).
  let rules: RestoreLine[] = [];
  if (command.kind === 'restore') {
    try {
      rules = parseRestore(await (io.stdin ?? readStdin)());
    } catch (err) {
      if (!(err instanceof RestoreError)) throw err;
      io.stderr.write(`${err.message}\n`);
      return err.exitCode;
    }
  }

  const path = resolveSocketPath(socketFlag);
  let client: ControlClient;
  try {
    client = await ControlClient.connect(path);
  } catch (err) {
    io.stderr.write(`${PROGRAM}: ${(err as Error).message}\n`);
    io.stderr.write(`(the control socket is chosen by --socket PATH, else $${SOCKET_ENV}, else ${DEFAULT_SOCKET_PATH})\n`);
    return EXIT.NO_DAEMON;
  }
  try {
    return command.kind === 'restore' ? await _restore(client, rules, io) : await _run(client, command, io);
  } finally {
    client.close();
  }
}

async function _run(client: ControlClient, command: Command, io: CliIo): Promise<number> {
  switch (command.kind) {
    case 'list': {
      const res = await _fetchList(client, io, command.service);
      if (typeof res === 'number') return res;
      if (command.service) {
        const k = command.service;
        const services = res.services.filter((s) => s.proto === k.proto && s.vip === k.vip && s.vport === k.vport);
        if (services.length === 0) {
          io.stderr.write(IPVS_MESSAGES.ESRCH_SERVICE + '\n');
          return EXIT.LIST_FAILED;
        }
        if (command.format.json) io.stdout.write(_json({ ...res, services }));
        else io.stdout.write(formatService({ ...res, services }, command.format));
      } else {
        io.stdout.write(command.format.json ? _json(res) : formatList(res, command.format));
      }
      return EXIT.OK;
    }
    case 'list-timeout': {
      const status = await _fetchStatus(client, io);
      if (typeof status === 'number') return status;
      const t = status?.timeouts;
      if (!t) return _unsupported(io, 'listing timeouts (--timeout)');
      io.stdout.write(command.json ? _json(t) : formatTimeout(t.tcp, t.tcpfin, t.udp));
      return EXIT.OK;
    }
    case 'drops': {
      const status = await _fetchStatus(client, io);
      if (typeof status === 'number') return status;
      if (!status?.drops || !Array.isArray(status.workers)) return _transport(io, 'malformed status from daemon');
      io.stdout.write(command.json ? _json(dropsJson(status)) : formatDrops(status));
      return EXIT.OK;
    }
    case 'list-conns': {
      let res: ConnListResult;
      try {
        res = (await client.request({ op: 'list-conns' })) as ConnListResult;
      } catch (err) {
        return _daemonError(io, 'list', err, EXIT.LIST_FAILED);
      }
      if (!res || !Array.isArray(res.conns)) return _transport(io, 'malformed connection list from daemon');
      io.stdout.write(command.format.json ? _json(res) : formatConnList(res.conns));
      return EXIT.OK;
    }
    case 'save': {
      const res = await _fetchList(client, io, undefined);
      if (typeof res === 'number') return res;
      io.stdout.write(formatSave(res));
      return EXIT.OK;
    }
    case 'get-laddr': {
      const res = await _fetchList(client, io, command.service);
      if (typeof res === 'number') return res;
      io.stdout.write(formatLaddrs(res.services, command.service !== undefined));
      return EXIT.OK;
    }
    case 'set-timeouts':
      try {
        await client.request({ op: 'set-timeouts', tcp: command.tcp, tcpfin: command.tcpfin, udp: command.udp });
        return EXIT.OK;
      } catch (err) {
        return _daemonError(io, 'status', err, EXIT.DAEMON_ERROR);
      }
    case 'drain':
    case 'undrain':
      return runDrain(client, command, { ...io, isTTY: (io.stdout as { isTTY?: boolean }).isTTY === true });
    case 'change':
      try {
        await client.request(command.request);
        return EXIT.OK;
      } catch (err) {
        return _daemonError(io, command.request.op, err, EXIT.DAEMON_ERROR);
      }
    default:
      return _unsupported(io, NOT_YET[command.kind] ?? command.kind);
  }
}

/** `--json`: the API's result, indented, for scripts (jq). */
function _json(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

/**
 * -R: one `restore` op; the daemon runs the rules on a copy of its table and applies the result atomically.
 * A refused rule (`rule N: ...`) is reported with its input line and ipvsadm's text; nothing was changed.
 */
async function _restore(client: ControlClient, rules: RestoreLine[], io: CliIo): Promise<number> {
  if (rules.length === 0) return EXIT.OK;
  try {
    await client.request({ op: 'restore', requests: rules.map((r) => r.request) });
    return EXIT.OK;
  } catch (err) {
    const m = err instanceof LbError ? /^rule (\d+): (.*)$/s.exec(err.message) : null;
    const rule = m ? rules[Number(m[1]) - 1] : undefined;
    if (!(err instanceof LbError) || !m || !rule) return _daemonError(io, 'restore', err, EXIT.DAEMON_ERROR);
    io.stderr.write(`line ${rule.line}: ${ipvsMessage(rule.request.op === 'set-timeouts' ? 'status' : rule.request.op, new LbError(err.code, m[2]!))}\n`);
    io.stderr.write(`${PROGRAM}: nothing restored (the table is unchanged)\n`);
    return EXIT.DAEMON_ERROR;
  }
}

/**
 * The text ipvsadm prints for a refused operation (libipvs ipvs_strerror): the message depends on the
 * operation as well as the errno, e.g. ESRCH is "Service not defined" for real-server operations and
 * "No such service" for the rest. Codes without an ipvsadm text print the daemon's message.
 */
export function ipvsMessage(op: ChangeRequest['op'] | 'list' | 'status' | 'restore' | 'drain', err: LbError): string {
  if (err.code === 'ESRCH_SERVICE' || err.code === 'ESRCH_DEST_SERVICE')
    return op === 'add-real' || op === 'edit-real' || op === 'del-real' || op === 'drain' ? IPVS_MESSAGES.ESRCH_DEST_SERVICE! : IPVS_MESSAGES.ESRCH_SERVICE!;
  return IPVS_MESSAGES[err.code] ?? err.message;
}

export function _daemonError(io: CliIo, op: ChangeRequest['op'] | 'list' | 'status' | 'restore' | 'drain', err: unknown, exitCode: number): number {
  if (!(err instanceof LbError)) return _transport(io, err instanceof Error ? err.message : String(err));
  // EIO is what ControlClient raises when the socket breaks; the daemon never answered.
  if (err.code === 'EIO') return _transport(io, err.message);
  io.stderr.write(ipvsMessage(op, err) + '\n');
  return exitCode;
}

/** The daemon's `list` reply (all services, or one), or the exit code after printing why there is none. */
async function _fetchList(client: ControlClient, io: CliIo, service: ServiceKey | undefined): Promise<ListResult | number> {
  let res: ListResult;
  try {
    res = await client.request(service ? { op: 'list', service } : { op: 'list' });
  } catch (err) {
    return _daemonError(io, 'list', err, EXIT.LIST_FAILED);
  }
  if (!res || !Array.isArray(res.services)) return _transport(io, 'malformed list reply from daemon');
  return res;
}

async function _fetchStatus(client: ControlClient, io: CliIo): Promise<StatusResult | number> {
  try {
    return (await client.request({ op: 'status' })) as StatusResult;
  } catch (err) {
    return _daemonError(io, 'status', err, EXIT.LIST_FAILED);
  }
}

export function _transport(io: CliIo, message: string): number {
  io.stderr.write(`${PROGRAM}: ${message}\n`);
  return EXIT.LIST_FAILED;
}

function _unsupported(io: CliIo, feature: string): number {
  io.stderr.write(`${PROGRAM}: ${new UnsupportedError(feature).message}\n`);
  return EXIT.UNSUPPORTED;
}

function _packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function versionLine(): string {
  return `${PROGRAM} v${_packageVersion()} (tapvs control protocol v${PROTOCOL_VERSION}, ipvsadm 1.31 syntax, IPVS v${IPVS_VERSION_STRING})`;
}

/** `-h`: ipvsadm's usage layout, listing what tapvsadm accepts. */
export function helpText(): string {
  const p = PROGRAM;
  return `${versionLine()}
Usage:
  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags]
  ${p} -D virtual-service
  ${p} -C
  ${p} -R
  ${p} -S [-n]
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -L|l [virtual-service] [options]
  ${p} -Z [virtual-service]
  ${p} -P|Q virtual-service -z local-address
  ${p} -G [virtual-service]
  ${p} --drain virtual-service -r server-address [--deadline 300s] [--at-deadline keep|reset|reschedule] [--wait]
  ${p} --undrain virtual-service -r server-address
  ${p} --drops [--json]
  ${p} -h
  ${p} -v

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin (applied as one atomic change)
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --add-laddr       -P        add a FULLNAT local address to a service (DPVS/Alibaba ipvsadm)
  --del-laddr       -Q        delete a FULLNAT local address from a service
  --get-laddr       -G        list the FULLNAT local addresses
  --drain                     drain a real server: no new flows, existing ones kept; removed when empty or
                              at the deadline (tapvs)
  --undrain                   end a drain early; the real keeps its configured weight (tapvs)
  --drops                     dropped packets by reason, total and per worker (non-zero reasons; --json: all)
  --help            -h        display this help message
  --version         -v        display the version
  --set tcp tcpfin udp                set connection timeout values
  Parsed as ipvsadm does but not carried out by the daemon yet:
  --start-daemon, --stop-daemon

virtual-service:
  --tcp-service|-t  service-address   service-address is a.b.c.d[:port]
  --udp-service|-u  service-address   service-address is a.b.c.d[:port]
  (IPv6, --sctp-service and --fwmark-service|-f are not supported yet)

Options:
  --scheduler    -s scheduler         scheduler name as ipvsadm spells it (rr, wrr, lc, wlc, sh, mh, ...;
                                      maglev = mh); the default scheduler is wlc.
  --persistent   -p [timeout]         persistent service (default timeout 360 seconds)
  --netmask      -M netmask           persistent granularity mask
  --sched-flags  -b flags             scheduler flags (comma-separated): flag-1,flag-2,flag-3,
                                      sh-fallback,sh-port (sh), mh-fallback,mh-port (mh).
                                      -b is --sched-flags, as in ipvsadm; FULLNAT is --fullnat.
  --real-server  -r server-address    server-address is a.b.c.d[:port]
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --fullnat                           full NAT (source and destination rewritten; tapvs): the real sees a
                                      local address of the service (-P ... -z LIP) as the client
  --laddr        -z local-address     FULLNAT local address (-P, -Q): on a connected prefix of the director
  --proxy-protocol v1|v2|disable      FULLNAT: PROXY protocol header to the real (TCP v1/v2, UDP v2 per datagram)
  --toa                               FULLNAT TCP: client address in TCP option 254 (needs the TOA module on the real)
  --mh-table-size M                   -s mh: Maglev table size, a prime (4093 as IPVS; 65537 behind ECMP; tapvs)
  --weight       -w weight            capacity of real server (0..65535, default 1)
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            accepted; entries are shown in the daemon's order
  --sort                              does nothing, for backwards compatibility
  --numeric      -n                   numeric output of addresses and ports (always numeric)
  --connection   -c                   output of current connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --json                              listings (-L, -L -c, --timeout, --drops) as JSON (tapvs)
  --health                            -L: a Health column (check state, drain) after the default layout (tapvs)
  --deadline     duration             --drain: how long to wait for the real to empty (300s; units ms s m h)
  --at-deadline  keep|reset|reschedule --drain: what happens to conns left at the deadline (default keep):
                                      keep = dropped until they time out (IPVS expire_nodest_conn=0),
                                      reschedule = expired at their next packet, which is scheduled anew,
                                      reset = next client packet answered with TCP RST (UDP: ICMP unreachable)
  --wait                              --drain: print progress until the drain ends; exit 0 when it emptied,
                                      3 when the deadline passed

tapvs options:
  --socket PATH                       control socket of the tapvs daemon; may come before the command.
                                      Default: $${SOCKET_ENV} if set, else ${DEFAULT_SOCKET_PATH}
`;
}
