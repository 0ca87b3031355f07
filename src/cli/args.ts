/**
 * ipvsadm's command-line grammar as data, and the checks ipvsadm runs, in ipvsadm's order
 * (ipvsadm.c 1.29–1.31: parse_options, process_options, generic_opt_check, set_option).
 *
 * Flow: a popt-like scanner turns argv into flag events (short clusters `-Ln`, `--long[=value]`,
 * `-p` with an optional value, everything that does not start with `-` kept as a leftover argument)
 * → the first event must be a command flag (tapvs: `--socket PATH` may come before it) → each later
 * flag's `apply` checks its value and records it → leftovers, scheduler flags, the command/option
 * matrix, per-command rules → a typed `Command`.
 *
 * Failures throw `UsageError` carrying ipvsadm's exact text and exit status, or `UnsupportedError`
 * for ipvsadm syntax tapvs cannot carry out (IPv6, fwmark, SCTP, -o, --pe, GUE/GRE tunnels); those are
 * raised only after every ipvsadm check has passed, so ipvsadm's own errors win.
 */
import { isIPv6 } from 'node:net';
import type { RequestBody } from '../control/client.js';
import type { FwdMethod, ServiceKey } from '../types.js';
import type { ClientIpMode } from '../config/snapshot.js';
import { DEFAULT_SCHEDULER, DEFAULT_WEIGHT, MAX_WEIGHT } from '../defaults.js';
import type { AtDeadlineName } from '../control/protocol.js';
import { DEFAULT_LIST_FORMAT, SCHED_FLAG_BITS, schedFlagNames, type ListFormat } from './format.js';

export const PROGRAM = 'tapvsadm';

/** `-p` without a value (IPVS_SVC_PERSISTENT_TIMEOUT in libipvs; ipvsadm.8 wrongly says 300). */
export const DEFAULT_PERSISTENT_TIMEOUT = 360;
/** Largest `-p` / `--set` timeout: 31 days (MAX_TIMEOUT in ipvsadm.c). */
export const MAX_TIMEOUT = 86400 * 31;
/** Persistence granularity default (/32). */
export const DEFAULT_NETMASK = '255.255.255.255';
const INT_MAX = 2147483647;

// ---------------------------------------------------------------------------------------------------
// Errors

/** Bad command line. `message` is ipvsadm's text ('' = none); `tryHelp` adds the "Try ..." line. */
export class UsageError extends Error {
  /** 2 for ipvsadm's fail(2, ...); 255 for tryhelp_exit(-1) and popt errors (parse_options returns -1). */
  readonly exitCode: 2 | 255;
  readonly tryHelp: boolean;
  constructor(message: string, exitCode: 2 | 255 = 2, tryHelp = false) {
    super(message);
    this.name = 'UsageError';
    this.exitCode = exitCode;
    this.tryHelp = tryHelp;
  }
}

/** Valid ipvsadm syntax naming something tapvs does not do (yet). */
export class UnsupportedError extends Error {
  readonly feature: string;
  constructor(feature: string) {
    super(`${feature} is not supported by this daemon yet`);
    this.name = 'UnsupportedError';
    this.feature = feature;
  }
}

export function tryHelpLine(program = PROGRAM): string {
  return `Try \`${program} -h' or '${program} --help' for more information.`;
}

const _fail = (msg: string): never => {
  throw new UsageError(msg, 2);
};
const _tryHelp = (): never => {
  throw new UsageError('', 255, true);
};

// ---------------------------------------------------------------------------------------------------
// The result

/** Requests that change the table; sent as they are, answered ok or with an LbError. */
export type ChangeRequest = Extract<
  RequestBody,
  { op: 'add-service' | 'edit-service' | 'del-service' | 'add-real' | 'edit-real' | 'del-real' | 'clear' | 'zero' }
>;

/** What the command line asks for. */
export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  /** -L [-t|-u svc] [--stats|--rate|--thresholds|--persistent-conn|--tun-info] [--exact] [-n] */
  | { kind: 'list'; service?: ServiceKey; format: ListFormat }
  /** -L --timeout [--json] */
  | { kind: 'list-timeout'; json?: true }
  /** -L --daemon */
  | { kind: 'list-daemon' }
  /** -L -c */
  | { kind: 'list-conns'; format: ListFormat }
  /** -A -E -D -a -e -d -C -Z: one request with ipvsadm's defaults filled in. */
  | { kind: 'change'; request: ChangeRequest }
  /** --set tcp tcpfin udp */
  | { kind: 'set-timeouts'; tcp: number; tcpfin: number; udp: number }
  /** -S [-n] */
  | { kind: 'save'; numeric: boolean }
  /** -R */
  | { kind: 'restore' }
  | { kind: 'start-daemon'; state: 'master' | 'backup'; daemon: DaemonOptions }
  | { kind: 'stop-daemon'; state: 'master' | 'backup'; daemon: DaemonOptions }
  /** -G [-t|-u svc]: FULLNAT local addresses (DPVS/Alibaba ipvsadm). */
  | { kind: 'get-laddr'; service?: ServiceKey }
  /** --drain -t|-u svc -r RIP[:port] [--deadline D] [--at-deadline keep|reset|reschedule] [--wait] (tapvs). */
  | { kind: 'drain'; service: ServiceKey; real: { rip: string; rport: number }; deadlineMs: number; atDeadline: AtDeadlineName; wait: boolean }
  /** --undrain -t|-u svc -r RIP[:port]: ends a drain early (tapvs). */
  | { kind: 'undrain'; service: ServiceKey; real: { rip: string; rport: number } }
  /** --drops [--json]: drop counters by reason, summed and per worker (tapvs). */
  | { kind: 'drops'; json?: true };

export interface DaemonOptions {
  mcastInterface?: string;
  syncid?: number;
  mcastGroup?: string;
  mcastPort?: number;
  mcastTtl?: number;
  syncMaxlen?: number;
}

export interface ParsedArgs {
  command: Command;
  /** --socket PATH (tapvs); undefined = TAPVS_SOCKET or the default path. */
  socketPath?: string;
}

// ---------------------------------------------------------------------------------------------------
// Commands, options and which go together

/** Command names as ipvsadm prints them in messages. */
export type CommandName =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'flush'
  | 'list'
  | 'add-server'
  | 'delete-server'
  | 'edit-server'
  | 'set'
  | 'start-daemon'
  | 'stop-daemon'
  | 'restore'
  | 'save'
  | 'zero'
  | 'add-laddr'
  | 'del-laddr'
  | 'get-laddr'
  | 'drain'
  | 'undrain'
  | 'drops';

/** Option names as ipvsadm prints them, in the order ipvsadm checks them. */
export const OPTION_NAMES = [
  'numeric',
  'connection',
  'service-address',
  'scheduler',
  'persistent',
  'netmask',
  'real-server',
  'forwarding-method',
  'weight',
  'u-threshold',
  'l-threshold',
  'mcast-interface',
  'timeout',
  'daemon',
  'stats',
  'rate',
  'thresholds',
  'persistent-conn',
  'nosort',
  'syncid',
  'exact',
  'ops',
  'pe',
  'sched-flags',
  'mcast-group',
  'mcast-port',
  'mcast-ttl',
  'sync-maxlen',
  'tun-info',
  'tun-type',
  'tun-port',
  'tun-nocsum',
  'tun-csum',
  'tun-remcsum',
  // tapvs (DPVS/Alibaba ipvsadm) FULLNAT options
  'laddr',
  'proxy-protocol',
  'toa',
  // tapvs: Maglev table size for -s mh
  'mh-table-size',
  // tapvs: listings as JSON (the API's result)
  'json',
  // tapvs: drains and the health column
  'deadline',
  'at-deadline',
  'wait',
  'health',
] as const;
export type OptionName = (typeof OPTION_NAMES)[number];

/**
 * Which options each command takes: `required` must be given, `optional` may be, `oneOf` at most one of
 * them; anything else is illegal with that command (ipvsadm's commands_v_options).
 */
interface Compat {
  required?: readonly OptionName[];
  optional?: readonly OptionName[];
  oneOf?: readonly OptionName[];
}
const SERVICE_OPTS: readonly OptionName[] = ['scheduler', 'persistent', 'netmask', 'ops', 'pe', 'sched-flags', 'proxy-protocol', 'toa', 'mh-table-size'];
const REAL_OPTS: readonly OptionName[] = [
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum',
];
export const COMMAND_OPTIONS: Readonly<Record<CommandName, Compat>> = {
  'add-service': { required: ['service-address'], optional: SERVICE_OPTS },
  'edit-service': { required: ['service-address'], optional: SERVICE_OPTS },
  'delete-service': { required: ['service-address'] },
  flush: {},
  list: {
    optional: ['numeric', 'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'tun-info', 'json', 'health'],
    oneOf: ['connection', 'service-address', 'timeout', 'daemon'],
  },
  'add-server': { required: ['service-address', 'real-server'], optional: REAL_OPTS },
  'delete-server': { required: ['service-address', 'real-server'] },
  'edit-server': { required: ['service-address', 'real-server'], optional: REAL_OPTS },
  set: {},
  'start-daemon': { optional: ['mcast-interface', 'syncid', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen'] },
  'stop-daemon': { optional: ['syncid'] },
  restore: {},
  save: { optional: ['numeric'] },
  zero: { optional: ['service-address'] },
  'add-laddr': { required: ['service-address', 'laddr'] },
  'del-laddr': { required: ['service-address', 'laddr'] },
  'get-laddr': { optional: ['service-address', 'numeric'] },
  drain: { required: ['service-address', 'real-server'], optional: ['deadline', 'at-deadline', 'wait'] },
  undrain: { required: ['service-address', 'real-server'] },
  drops: { optional: ['json', 'numeric'] },
};

type TunType = 'ipip' | 'gue' | 'gre';
const TUN_OPTS = ['tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum'] as const;
/** Tunnel options per tunnel type (ipvsadm 1.31 tunnel_types_v_options). */
const TUNNEL_OPTIONS: Readonly<Record<TunType, Compat>> = {
  ipip: {},
  gue: { required: ['tun-port'], oneOf: ['tun-nocsum', 'tun-csum', 'tun-remcsum'] },
  gre: { oneOf: ['tun-nocsum', 'tun-csum'] },
};

// ---------------------------------------------------------------------------------------------------
// Parse state and value parsers

interface Addr {
  af: 'inet' | 'inet6';
  addr: string;
  /** undefined when no `:port` was given. */
  port?: number;
}

interface State {
  cmd: CommandName;
  set: Set<OptionName>;
  socketPath?: string;
  proto: 'tcp' | 'udp' | 'sctp';
  svc?: Addr;
  fwmark?: number;
  fwmarkV6: boolean;
  scheduler?: string;
  persistent: number;
  netmask: string;
  ops: boolean;
  schedFlagsArg?: string;
  real?: Addr;
  method: FwdMethod;
  weight: number;
  uthreshold: number;
  lthreshold: number;
  tunType: TunType;
  daemonState?: 'master' | 'backup';
  daemon: DaemonOptions;
  format: ListFormat;
  /** tapvs-unsupported features met, raised after ipvsadm's checks. */
  unsupported: string[];
  /** -z LIP (-P/-Q). */
  laddr?: string;
  /** --toa / --proxy-protocol: FULLNAT client-IP delivery; undefined = not given. */
  clientIp?: ClientIpMode;
  /** --mh-table-size M; undefined = not given. */
  mhTableSize?: number;
  /** --deadline (ms) and --at-deadline of --drain. */
  deadlineMs?: number;
  atDeadline?: AtDeadlineName;
}

/** Drain deadline when --deadline is not given (300 s). */
export const DEFAULT_DRAIN_DEADLINE_MS = 300_000;

/**
 * A duration: a number with a unit ms, s, m or h (`300s`, `5m`, `1500ms`); a bare number is seconds. Returns ms,
 * or undefined when malformed or longer than 31 days.
 */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']);
  return ms <= MAX_TIMEOUT * 1000 ? ms : undefined;
}

function _setOption(st: State, name: OptionName): void {
  if (st.set.has(name)) _fail(`multiple '${name}' options specified`);
  st.set.add(name);
}

/** string_to_number: a base-10 integer (strtol syntax) within [min, max], else undefined. */
function _toNumber(s: string, min: number, max: number): number | undefined {
  if (!/^\s*[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

function _parseTimeout(s: string, min: number, max: number): number {
  return _toNumber(s, min, max) ?? _fail(`invalid timeout value \`${s}' specified`);
}

/** Strict dotted quad (tapvs does not take inet_aton's short, octal or hex forms, nor host names). */
function _isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/**
 * ipvsadm's parse_service: `a.b.c.d[:port]`, a bare IPv6 address, or `[v6]:port`; undefined where
 * ipvsadm gives SERVICE_NONE (all digits, bad address, bad port). Host and port names are not resolved.
 */
function _parseAddr(buf: string): Addr | undefined {
  if (/^\d*$/.test(buf)) return undefined;
  let host = buf;
  let port: string | undefined;
  if (buf.startsWith('[')) {
    const close = buf.indexOf(']');
    if (close < 0 || buf[close + 1] !== ':') return undefined;
    host = buf.slice(1, close);
    port = buf.slice(close + 2);
    if (!isIPv6(host)) return undefined;
  } else if (isIPv6(buf)) {
    return { af: 'inet6', addr: buf };
  } else {
    const colon = buf.lastIndexOf(':');
    if (colon >= 0) {
      host = buf.slice(0, colon);
      port = buf.slice(colon + 1);
    }
    if (!_isIPv4(host)) return undefined;
  }
  const addr: Addr = { af: isIPv6(host) ? 'inet6' : 'inet', addr: host };
  if (port !== undefined) {
    const n = _toNumber(port, 0, 65535);
    if (n === undefined) return undefined;
    addr.port = n;
  }
  return addr;
}

function _isMulticastV4(s: string): boolean {
  if (!_isIPv4(s)) return false;
  const first = Number(s.split('.')[0]);
  return first >= 224 && first <= 239;
}

// ---------------------------------------------------------------------------------------------------
// The flag table

type ArgKind = 'none' | 'required' | 'optional';

interface FlagSpec {
  short?: string;
  long: string;
  arg: ArgKind;
  /** Set on command flags. */
  command?: CommandName | 'help' | 'version';
  /** Set on option flags: check and record the value. */
  apply?: (st: State, value: string | undefined) => void;
}

const _cmd = (short: string | undefined, long: string, command: FlagSpec['command'], arg: ArgKind = 'none'): FlagSpec => ({
  short,
  long,
  arg,
  command,
});
const _flag = (short: string | undefined, long: string, name: OptionName, then?: (st: State) => void): FlagSpec => ({
  short,
  long,
  arg: 'none',
  apply: (st) => {
    _setOption(st, name);
    then?.(st);
  },
});
const _fwd = (short: string | undefined, long: string, method: FwdMethod): FlagSpec =>
  _flag(short, long, 'forwarding-method', (st) => {
    st.method = method;
  });
const _svc = (short: string | undefined, long: string, proto: State['proto']): FlagSpec => ({
  short,
  long,
  arg: 'required',
  apply: (st, v) => {
    _setOption(st, 'service-address');
    st.proto = proto;
    const a = _parseAddr(v!) ?? _fail('illegal virtual server address[:port] specified');
    st.svc = a;
    if (proto === 'sctp') st.unsupported.push('SCTP (--sctp-service)');
    if (a.af === 'inet6') st.unsupported.push('IPv6');
  },
});
const _num = (long: string, name: OptionName, min: number, max: number, what: string, put: (st: State, n: number) => void, short?: string): FlagSpec => ({
  short,
  long,
  arg: 'required',
  apply: (st, v) => {
    _setOption(st, name);
    put(st, _toNumber(v!, min, max) ?? _fail(`illegal ${what} specified`));
  },
});

/** Every flag tapvsadm knows: ipvsadm 1.31's, plus tapvs's --fullnat and --socket. */
export const FLAGS: readonly FlagSpec[] = [
  // commands
  _cmd('A', 'add-service', 'add-service'),
  _cmd('E', 'edit-service', 'edit-service'),
  _cmd('D', 'delete-service', 'delete-service'),
  _cmd('C', 'clear', 'flush'),
  _cmd('L', 'list', 'list'),
  _cmd('l', 'list', 'list'),
  _cmd('Z', 'zero', 'zero'),
  _cmd('a', 'add-server', 'add-server'),
  _cmd('e', 'edit-server', 'edit-server'),
  _cmd('d', 'delete-server', 'delete-server'),
  _cmd(undefined, 'set', 'set'),
  _cmd('h', 'help', 'help'),
  _cmd('v', 'version', 'version'),
  _cmd('R', 'restore', 'restore'),
  _cmd('S', 'save', 'save'),
  _cmd(undefined, 'start-daemon', 'start-daemon', 'required'),
  _cmd(undefined, 'stop-daemon', 'stop-daemon', 'required'),
  _cmd('P', 'add-laddr', 'add-laddr'),
  _cmd('Q', 'del-laddr', 'del-laddr'),
  _cmd('G', 'get-laddr', 'get-laddr'),
  // virtual service
  _svc('t', 'tcp-service', 'tcp'),
  _svc('u', 'udp-service', 'udp'),
  _svc(undefined, 'sctp-service', 'sctp'),
  {
    short: 'f',
    long: 'fwmark-service',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'service-address');
      const n = /^\s*[+-]?\d+$/.test(v!) ? Number(v!.trim()) : NaN;
      if (!(n > 0 && n <= 0xffffffff)) _fail(`invalid fwmark value \`${v}' specified`);
      st.fwmark = n;
      st.proto = 'tcp';
      st.unsupported.push('a firewall-mark service (-f)');
    },
  },
  // service options
  {
    short: 's',
    long: 'scheduler',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'scheduler');
      st.scheduler = v!;
    },
  },
  {
    short: 'p',
    long: 'persistent',
    arg: 'optional',
    apply: (st, v) => {
      _setOption(st, 'persistent');
      st.persistent = v === undefined ? DEFAULT_PERSISTENT_TIMEOUT : _parseTimeout(v, 1, MAX_TIMEOUT);
    },
  },
  {
    short: 'M',
    long: 'netmask',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'netmask');
      if (st.svc?.af === 'inet6' || st.fwmarkV6) {
        const n = parseInt(v!, 10);
        if (!(n >= 1 && n <= 128)) _fail('illegal ipv6 netmask specified');
        st.netmask = String(n);
      } else {
        if (!_isIPv4(v!)) _fail('illegal virtual server persistent mask specified');
        st.netmask = v!;
      }
    },
  },
  {
    short: '6',
    long: 'ipv6',
    arg: 'none',
    apply: (st) => {
      if (st.fwmark === undefined) _fail('-6 used before -f\n');
      st.fwmarkV6 = true;
      st.netmask = '128';
    },
  },
  _flag('o', 'ops', 'ops', (st) => {
    st.ops = true;
    st.unsupported.push('one-packet scheduling (-o)');
  }),
  {
    long: 'pe',
    arg: 'required',
    apply: (st) => {
      _setOption(st, 'pe');
      st.unsupported.push('a persistence engine (--pe)');
    },
  },
  {
    short: 'b',
    long: 'sched-flags',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'sched-flags');
      st.schedFlagsArg = v!;
    },
  },
  // real server options
  {
    short: 'r',
    long: 'real-server',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'real-server');
      const a = _parseAddr(v!) ?? _fail('illegal real server address[:port] specified');
      st.real = a;
      if (a.af === 'inet6') st.unsupported.push('IPv6');
    },
  },
  _fwd('g', 'gatewaying', 'dr'),
  _fwd('i', 'ipip', 'tun'),
  _fwd('m', 'masquerading', 'nat'),
  _fwd(undefined, 'fullnat', 'fullnat'),
  _num('weight', 'weight', 0, MAX_WEIGHT, 'weight', (st, n) => (st.weight = n), 'w'),
  _num('u-threshold', 'u-threshold', 0, INT_MAX, 'u_threshold', (st, n) => (st.uthreshold = n), 'x'),
  _num('l-threshold', 'l-threshold', 0, INT_MAX, 'l_threshold', (st, n) => (st.lthreshold = n), 'y'),
  {
    long: 'tun-type',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'tun-type');
      if (v !== 'ipip' && v !== 'gue' && v !== 'gre') _fail('illegal tunnel type specified');
      st.tunType = v as TunType;
      if (v !== 'ipip') st.unsupported.push(`${v!.toUpperCase()} tunnelling (--tun-type ${v})`);
    },
  },
  _num('tun-port', 'tun-port', 1, 65535, 'tunnel port', () => undefined),
  _flag(undefined, 'tun-nocsum', 'tun-nocsum'),
  _flag(undefined, 'tun-csum', 'tun-csum'),
  _flag(undefined, 'tun-remcsum', 'tun-remcsum'),
  // list options
  _flag('n', 'numeric', 'numeric', (st) => (st.format.numeric = true)),
  _flag('c', 'connection', 'connection'),
  _flag(undefined, 'timeout', 'timeout'),
  _flag(undefined, 'daemon', 'daemon'),
  _flag(undefined, 'stats', 'stats', (st) => (st.format.stats = true)),
  _flag(undefined, 'rate', 'rate', (st) => (st.format.rate = true)),
  _flag(undefined, 'thresholds', 'thresholds', (st) => (st.format.thresholds = true)),
  _flag(undefined, 'persistent-conn', 'persistent-conn', (st) => (st.format.persistentConn = true)),
  _flag(undefined, 'tun-info', 'tun-info', (st) => (st.format.tunInfo = true)),
  _flag(undefined, 'nosort', 'nosort', (st) => (st.format.nosort = true)),
  { long: 'sort', arg: 'none', apply: () => undefined }, // the default; a no-op kept for compatibility
  _flag('X', 'exact', 'exact', (st) => (st.format.exact = true)),
  _flag(undefined, 'json', 'json', (st) => (st.format.json = true)),
  // sync daemon options
  {
    long: 'mcast-interface',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'mcast-interface');
      st.daemon.mcastInterface = v!;
    },
  },
  _num('syncid', 'syncid', 0, 255, 'syncid', (st, n) => (st.daemon.syncid = n)),
  {
    long: 'mcast-group',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'mcast-group');
      if (v!.includes(':')) {
        if (!(isIPv6(v!) && /^ff/i.test(v!))) _fail(`invalid IPv6 mcast-group \`${v}'`);
      } else if (!_isMulticastV4(v!)) _fail(`invalid IPv4 mcast-group \`${v}'`);
      st.daemon.mcastGroup = v!;
    },
  },
  _num('mcast-port', 'mcast-port', 1, 65535, 'mcast-port', (st, n) => (st.daemon.mcastPort = n)),
  _num('mcast-ttl', 'mcast-ttl', 1, 255, 'mcast-ttl', (st, n) => (st.daemon.mcastTtl = n)),
  _num('sync-maxlen', 'sync-maxlen', 1, 65535 - 20 - 8, 'sync-maxlen', (st, n) => (st.daemon.syncMaxlen = n)),
  // FULLNAT (DPVS/Alibaba ipvsadm)
  {
    short: 'z',
    long: 'laddr',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'laddr');
      if (!_isIPv4(v!)) _fail('illegal local address specified');
      st.laddr = v!;
    },
  },
  {
    long: 'proxy-protocol',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'proxy-protocol');
      const mode = ({ v1: 'proxy-v1', v2: 'proxy-v2', disable: 'none' } as const)[v as 'v1' | 'v2' | 'disable'];
      if (mode === undefined) _fail(`invalid proxy-protocol value \`${v}' (v1, v2 or disable)`);
      st.clientIp = mode;
    },
  },
  _flag(undefined, 'toa', 'toa', (st) => (st.clientIp = 'toa')),
  {
    long: 'mh-table-size',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'mh-table-size');
      if (!/^\d+$/.test(v!)) _fail(`illegal mh table size \`${v}' (a prime such as 4093 or 65537)`);
      st.mhTableSize = Number(v);
    },
  },
  // tapvs: drains (--drain/--undrain with -t|-u and -r) and the health column of -L
  _cmd(undefined, 'drain', 'drain'),
  _cmd(undefined, 'undrain', 'undrain'),
  // tapvs: drop counters by reason
  _cmd(undefined, 'drops', 'drops'),
  {
    long: 'deadline',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'deadline');
      st.deadlineMs = parseDuration(v!) ?? _fail(`invalid deadline \`${v}' (a duration such as 300s, 5m or 1500ms, at most 31 days)`);
    },
  },
  {
    long: 'at-deadline',
    arg: 'required',
    apply: (st, v) => {
      _setOption(st, 'at-deadline');
      if (v !== 'keep' && v !== 'reset' && v !== 'reschedule') _fail(`invalid at-deadline \`${v}' (keep, reset or reschedule)`);
      st.atDeadline = v as AtDeadlineName;
    },
  },
  _flag(undefined, 'wait', 'wait'),
  _flag(undefined, 'health', 'health', (st) => (st.format.health = true)),
  // tapvs
  {
    long: 'socket',
    arg: 'required',
    apply: (st, v) => {
      if (st.socketPath !== undefined) _fail(`multiple 'socket' options specified`);
      st.socketPath = v!;
    },
  },
];

const SHORT = new Map(FLAGS.filter((f) => f.short).map((f) => [f.short!, f]));
const LONG = new Map<string, FlagSpec>();
for (const f of FLAGS) if (!LONG.has(f.long)) LONG.set(f.long, f);

// ---------------------------------------------------------------------------------------------------
// Scanner (popt's rules)

type ScanEvent =
  | { type: 'flag'; spec: FlagSpec; value: string | undefined; token: string }
  | { type: 'error'; token: string; reason: string };

/**
 * Yields flags in argv order; pushes non-option words (and everything after `--`) to `leftovers`.
 * Stops after the first error. Lazy, so a bad value fails before a later unknown option is seen.
 */
function* _scan(argv: readonly string[], leftovers: string[]): Generator<ScanEvent, void, undefined> {
  let i = 0;
  let rest = false;
  // A value from the next word: always for 'required'; for 'optional' only if it does not start with '-'.
  const takeNext = (spec: FlagSpec): { ok: true; value: string | undefined } | { ok: false } => {
    if (i >= argv.length) return spec.arg === 'optional' ? { ok: true, value: undefined } : { ok: false };
    if (spec.arg === 'optional' && argv[i].startsWith('-')) return { ok: true, value: undefined };
    return { ok: true, value: argv[i++] };
  };
  while (i < argv.length) {
    const tok = argv[i++];
    if (rest || !tok.startsWith('-') || tok === '-') {
      leftovers.push(tok);
      continue;
    }
    if (tok === '--') {
      rest = true;
      continue;
    }
    if (tok.startsWith('--')) {
      const body = tok.slice(2);
      const eq = body.indexOf('=');
      const spec = LONG.get(eq < 0 ? body : body.slice(0, eq));
      if (!spec) return yield { type: 'error', token: tok, reason: 'unknown option' };
      if (spec.arg === 'none') {
        if (eq >= 0) return yield { type: 'error', token: tok, reason: 'option does not take an argument' };
        yield { type: 'flag', spec, value: undefined, token: tok };
      } else if (eq >= 0) {
        yield { type: 'flag', spec, value: body.slice(eq + 1), token: tok };
      } else {
        const v = takeNext(spec);
        if (!v.ok) return yield { type: 'error', token: tok, reason: 'missing argument' };
        yield { type: 'flag', spec, value: v.value, token: tok };
      }
      continue;
    }
    // short cluster: -Ln, -p300, -w=5, -t 1.2.3.4:80
    let j = 1;
    while (j < tok.length) {
      const spec = SHORT.get(tok[j++]);
      if (!spec) return yield { type: 'error', token: tok, reason: 'unknown option' };
      if (spec.arg === 'none') {
        if (tok[j] === '=') j++;
        yield { type: 'flag', spec, value: undefined, token: tok };
      } else if (j < tok.length) {
        const inline = tok.slice(tok[j] === '=' ? j + 1 : j);
        j = tok.length;
        yield { type: 'flag', spec, value: inline, token: tok };
      } else {
        const v = takeNext(spec);
        if (!v.ok) return yield { type: 'error', token: tok, reason: 'missing argument' };
        yield { type: 'flag', spec, value: v.value, token: tok };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Checks

/** generic_opt_check / tunnel_opt_check: walk options in ipvsadm's order, first offence wins. */
function _checkCompat(compat: Compat, given: (name: OptionName) => boolean, names: readonly OptionName[], what: string): void {
  let first: OptionName | undefined;
  for (const name of names) {
    const required = compat.required?.includes(name) ?? false;
    const oneOf = compat.oneOf?.includes(name) ?? false;
    if (!given(name)) {
      if (required) _fail(`You need to supply the '${name}' option for the ${what}`);
      continue;
    }
    if (!required && !oneOf && !(compat.optional?.includes(name) ?? false)) _fail(`Illegal '${name}' option with the ${what}`);
    if (oneOf) {
      if (first === undefined) first = name;
      else _fail(`The option '${name}' conflicts with the '${first}' option in the ${what}`);
    }
  }
}

/** parse_sched_flags: comma list; the sh-* and mh-* names only with that scheduler (default wlc). */
function _parseSchedFlags(scheduler: string | undefined, arg: string): string[] {
  const sched = scheduler || DEFAULT_SCHEDULER;
  const family = sched === 'maglev' ? 'mh' : sched;
  const words = arg.split(',').filter((w) => w !== '');
  if (words.length === 0) _fail(`invalid scheduler flag \`${arg}'`);
  let bits = 0;
  for (const w of words) {
    const bit = SCHED_FLAG_BITS[w] ?? _fail(`invalid scheduler flag \`${w}'`);
    if ((w.startsWith('sh-') && family !== 'sh') || (w.startsWith('mh-') && family !== 'mh')) _fail(`incompatible scheduler flag \`${w}'`);
    bits |= bit;
  }
  return schedFlagNames(sched, bits);
}

// ---------------------------------------------------------------------------------------------------
// Entry point

/**
 * Parses tapvsadm's argv (without node and script) into a `Command`.
 * @throws UsageError with ipvsadm's message and exit status; UnsupportedError for valid ipvsadm syntax
 *   tapvs cannot carry out.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const st: State = {
    cmd: 'list',
    set: new Set(),
    proto: 'tcp',
    fwmarkV6: false,
    persistent: 0,
    netmask: DEFAULT_NETMASK,
    ops: false,
    method: 'dr', // ipvsadm's default forwarding method is gatewaying (-g)
    weight: DEFAULT_WEIGHT,
    uthreshold: 0,
    lthreshold: 0,
    tunType: 'ipip',
    daemon: {},
    format: { ...DEFAULT_LIST_FORMAT },
    unsupported: [],
  };
  const leftovers: string[] = [];
  const events = _scan(argv, leftovers);

  // The first flag must be the command (tapvs lets --socket come before it).
  let r = events.next();
  let sawSocket = false;
  while (!r.done && r.value.type === 'flag' && r.value.spec.long === 'socket') {
    r.value.spec.apply!(st, r.value.value);
    sawSocket = true;
    r = events.next();
  }
  if (r.done) {
    // `ipvsadm` alone lists the table; so does `tapvsadm --socket PATH`.
    if (argv.length === 0 || (sawSocket && leftovers.length === 0 && !argv.includes('--')))
      return { command: { kind: 'list', format: st.format }, socketPath: st.socketPath };
    return _tryHelp();
  }
  const first = r.value;
  if (first.type === 'error' || first.spec.command === undefined) return _tryHelp();
  if (first.spec.command === 'help') return { command: { kind: 'help' } };
  if (first.spec.command === 'version') return { command: { kind: 'version' } };
  st.cmd = first.spec.command;
  if (st.cmd === 'start-daemon' || st.cmd === 'stop-daemon') {
    if (first.value === 'master' || first.value === 'backup') st.daemonState = first.value;
    else _fail(st.cmd === 'start-daemon' ? 'illegal start-daemon parameter specified' : 'illegal start_daemon specified');
  }

  for (r = events.next(); !r.done; r = events.next()) {
    const ev = r.value;
    if (ev.type === 'error') throw new UsageError(`${ev.token}: ${ev.reason}`, 255);
    if (ev.spec.command !== undefined) _fail(`invalid option \`${ev.token}'`);
    ev.spec.apply!(st, ev.value);
  }

  let timeouts: [number, number, number] | undefined;
  if (st.cmd === 'set') {
    if (leftovers.length < 3) _fail('--set option requires 3 timeout values');
    const [tcp, tcpfin, udp] = leftovers.splice(0, 3).map((s) => _parseTimeout(s, 0, MAX_TIMEOUT));
    timeouts = [tcp, tcpfin, udp];
  }
  if (leftovers.length > 0) _fail(`unexpected argument ${leftovers[0]}`);

  let schedFlags: string[] = [];
  if (st.schedFlagsArg) schedFlags = _parseSchedFlags(st.scheduler, st.schedFlagsArg);

  _checkCompat(COMMAND_OPTIONS[st.cmd], (n) => st.set.has(n), OPTION_NAMES, `'${st.cmd}' command`);

  if (st.cmd === 'add-service' || st.cmd === 'edit-service') {
    if (st.fwmark === undefined && !st.svc?.port && st.persistent === 0) _fail('Zero port specified for non-persistent service');
    if (st.ops && st.fwmark === undefined && st.proto !== 'udp') _fail('One-Packet Scheduling is only for UDP virtual services');
  }

  if (st.cmd === 'add-server' || st.cmd === 'edit-server') {
    const svcAf = st.fwmark !== undefined ? (st.fwmarkV6 ? 'inet6' : 'inet') : st.svc!.af;
    if (st.real!.af !== svcAf && st.method !== 'tun') _fail('Different address family is allowed only for tunneling servers');
    const tunOptGiven = st.set.has('tun-type') || TUN_OPTS.some((n) => st.set.has(n));
    if (tunOptGiven && st.method !== 'tun') _fail('Tunnel options conflict with forward method');
    _checkCompat(TUNNEL_OPTIONS[st.tunType], (n) => st.set.has(n), TUN_OPTS, `'${st.tunType}' tunnel type`);
  }

  if (st.cmd === 'list') {
    const s = st.set;
    if (
      ((s.has('connection') || s.has('timeout') || s.has('daemon')) && (s.has('stats') || s.has('rate') || s.has('thresholds'))) ||
      ((s.has('timeout') || s.has('daemon')) && s.has('persistent-conn')) ||
      // tapvs: the health column goes after ipvsadm's default layout only
      (s.has('health') && ['connection', 'timeout', 'daemon', 'stats', 'rate', 'thresholds', 'persistent-conn', 'tun-info'].some((o) => s.has(o as OptionName)))
    )
      _fail('options conflicts in the list command');
  }

  if (st.set.has('toa') && st.set.has('proxy-protocol')) _fail("The option 'proxy-protocol' conflicts with the 'toa' option");

  if (st.unsupported.length > 0) throw new UnsupportedError(st.unsupported[0]);

  return { command: _build(st, schedFlags, timeouts), socketPath: st.socketPath };
}

/** Turns a checked state into the command, with ipvsadm's defaults filled in. */
function _build(st: State, schedFlags: string[], timeouts: [number, number, number] | undefined): Command {
  // fwmark, SCTP and IPv6 were refused above, so a given service is tcp/udp IPv4 here.
  const key = (): ServiceKey => ({ proto: st.proto as 'tcp' | 'udp', vip: st.svc!.addr, vport: st.svc!.port ?? 0 });
  const realPort = (): number => {
    // -r without a port takes the service port; dr and tun cannot map ports, so theirs is forced to it.
    if (st.method === 'dr' || st.method === 'tun') return key().vport;
    return st.real!.port ?? key().vport;
  };
  switch (st.cmd) {
    case 'list':
      if (st.set.has('connection')) return { kind: 'list-conns', format: st.format };
      if (st.set.has('timeout')) return st.format.json ? { kind: 'list-timeout', json: true } : { kind: 'list-timeout' };
      if (st.set.has('daemon')) return { kind: 'list-daemon' };
      return st.set.has('service-address') ? { kind: 'list', service: key(), format: st.format } : { kind: 'list', format: st.format };
    case 'add-service':
    case 'edit-service':
      // ipvsadm sends the whole service on an edit too: whatever is not given goes back to its default.
      return {
        kind: 'change',
        request: {
          op: st.cmd === 'add-service' ? 'add-service' : 'edit-service',
          service: {
            ...key(),
            scheduler: st.scheduler || DEFAULT_SCHEDULER,
            schedFlags,
            persistent: st.persistent,
            netmask: st.netmask,
            // FULLNAT client-IP delivery: only when given (an edit without it keeps the current one).
            ...(st.clientIp === undefined ? {} : { clientIp: st.clientIp }),
            ...(st.mhTableSize === undefined ? {} : { mhTableSize: st.mhTableSize }),
          },
        },
      };
    case 'delete-service':
      return { kind: 'change', request: { op: 'del-service', service: key() } };
    case 'add-server':
    case 'edit-server':
      return {
        kind: 'change',
        request: {
          op: st.cmd === 'add-server' ? 'add-real' : 'edit-real',
          service: key(),
          real: {
            rip: st.real!.addr,
            rport: realPort(),
            method: st.method,
            weight: st.weight,
            uthreshold: st.uthreshold,
            lthreshold: st.lthreshold,
          },
        },
      };
    case 'delete-server':
      return { kind: 'change', request: { op: 'del-real', service: key(), real: { rip: st.real!.addr, rport: st.real!.port ?? key().vport } } };
    case 'flush':
      return { kind: 'change', request: { op: 'clear' } };
    case 'zero':
      return { kind: 'change', request: st.set.has('service-address') ? { op: 'zero', service: key() } : { op: 'zero' } };
    case 'set':
      return { kind: 'set-timeouts', tcp: timeouts![0], tcpfin: timeouts![1], udp: timeouts![2] };
    case 'save':
      return { kind: 'save', numeric: st.format.numeric };
    case 'restore':
      return { kind: 'restore' };
    case 'start-daemon':
      return { kind: 'start-daemon', state: st.daemonState!, daemon: { mcastInterface: 'eth0', ...st.daemon } };
    case 'stop-daemon':
      return { kind: 'stop-daemon', state: st.daemonState!, daemon: st.daemon };
    case 'add-laddr':
      return { kind: 'change', request: { op: 'edit-service', service: { ...key(), addLaddrs: [st.laddr!] } } };
    case 'del-laddr':
      return { kind: 'change', request: { op: 'edit-service', service: { ...key(), delLaddrs: [st.laddr!] } } };
    case 'get-laddr':
      return st.set.has('service-address') ? { kind: 'get-laddr', service: key() } : { kind: 'get-laddr' };
    case 'drops':
      return st.format.json ? { kind: 'drops', json: true } : { kind: 'drops' };
    case 'drain':
    case 'undrain': {
      const real = { rip: st.real!.addr, rport: st.real!.port ?? key().vport };
      if (st.cmd === 'undrain') return { kind: 'undrain', service: key(), real };
      return {
        kind: 'drain', service: key(), real, deadlineMs: st.deadlineMs ?? DEFAULT_DRAIN_DEADLINE_MS, atDeadline: st.atDeadline ?? 'keep',
        wait: st.set.has('wait'),
      };
    }
  }
}
