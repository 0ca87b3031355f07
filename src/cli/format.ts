/**
 * ipvsadm's listing formats as pure functions: `ListResult` / numbers in, text out, byte for byte what
 * ipvsadm 1.31 prints (print_title, print_service_entry, print_largenum, list_timeout in ipvsadm.c),
 * trailing spaces from `%-10u` included. Widths are written as printf formats and rendered by the small
 * `sprintf` below so each line can be checked against ipvsadm's source by eye.
 *
 * Addresses are always printed numerically: tapvs never resolves names, so `-n` changes nothing here.
 */
import type { ConnInfo, ListResult, RealInfo, ServiceInfo } from '../control/protocol.js';
import { FWD_DISPLAY } from '../types.js';
import { IPVS_VERSION_STRING } from '../defaults.js';

/** Which `-L` columns to print (ipvsadm's FMT_* bits). */
export interface ListFormat {
  /** -n: numeric addresses (tapvs is always numeric). */
  numeric: boolean;
  /** --stats */
  stats: boolean;
  /** --rate */
  rate: boolean;
  /** --thresholds */
  thresholds: boolean;
  /** --persistent-conn */
  persistentConn: boolean;
  /** --tun-info */
  tunInfo: boolean;
  /** --exact: numbers in full instead of K/M/G/T. */
  exact: boolean;
  /** --nosort: accepted; tapvs prints in the daemon's order either way. */
  nosort: boolean;
  /** --json (tapvs): print the API's result as JSON instead. */
  json: boolean;
  /** --health (tapvs): a Health column after ipvsadm's default layout. */
  health?: boolean;
}

export const DEFAULT_LIST_FORMAT: Readonly<ListFormat> = Object.freeze({
  numeric: false,
  stats: false,
  rate: false,
  thresholds: false,
  persistentConn: false,
  tunInfo: false,
  exact: false,
  nosort: false,
  json: false,
});

/**
 * Minimal C printf: conversions `%s %d %u %%` with an optional `-` or `0` flag, width (digits or `*`) and
 * length modifiers `h l ll` (ignored). Integers are printed in full (bigint-safe); nothing else is supported.
 */
export function sprintf(fmt: string, ...args: ReadonlyArray<string | number | bigint>): string {
  let next = 0;
  return fmt.replace(/%([-0]?)(\*|\d*)(?:hh|h|ll|l)?([sdu%])/g, (_m, flag: string, width: string, conv: string) => {
    if (conv === '%') return '%';
    let w = 0;
    if (width === '*') w = Number(args[next++]);
    else if (width !== '') w = Number(width);
    const v = args[next++];
    const s = conv === 's' ? String(v) : _intString(v);
    if (flag === '-') return s.padEnd(w);
    if (flag === '0' && conv !== 's') return s.startsWith('-') ? '-' + s.slice(1).padStart(w - 1, '0') : s.padStart(w, '0');
    return s.padStart(w);
  });
}

function _intString(v: string | number | bigint | undefined): string {
  if (typeof v === 'bigint') return v.toString();
  const n = Math.trunc(Number(v ?? 0));
  return Number.isSafeInteger(n) ? String(n) : BigInt(n).toString();
}

/**
 * ipvsadm's print_largenum: below 10^8 as `%9llu`; then `%8lluK` (/10^3) below 10^9, `%8lluM` (/10^6)
 * below 10^11, `%8lluG` (/10^9) below 10^14, else `%8lluT` (/10^12). With --exact the full number,
 * right-aligned in 9 columns, or in digits+1 columns when it has more than 8 digits.
 */
export function largenum(n: number | bigint, exact = false): string {
  const v = typeof n === 'bigint' ? n : BigInt(Math.max(0, Math.trunc(n)));
  if (exact) {
    const s = v.toString();
    return sprintf('%*llu', s.length <= 8 ? 9 : s.length + 1, v);
  }
  if (v < 100_000_000n) return sprintf('%9llu', v);
  if (v < 1_000_000_000n) return sprintf('%8lluK', v / 1_000n);
  if (v < 100_000_000_000n) return sprintf('%8lluM', v / 1_000_000n);
  if (v < 100_000_000_000_000n) return sprintf('%8lluG', v / 1_000_000_000n);
  return sprintf('%8lluT', v / 1_000_000_000_000n);
}

/** IPVS scheduler flag bits (IP_VS_SVC_F_SCHED1..3) behind each `-b` name. */
export const SCHED_FLAG_BITS: Readonly<Record<string, number>> = Object.freeze({
  'flag-1': 1,
  'flag-2': 2,
  'flag-3': 4,
  'sh-fallback': 1,
  'sh-port': 2,
  'mh-fallback': 1,
  'mh-port': 2,
});

/** The scheduler whose flag names apply: `maglev` is tapvs's alias of `mh`. */
function _flagFamily(scheduler: string): 'sh' | 'mh' | 'generic' {
  if (scheduler === 'sh') return 'sh';
  if (scheduler === 'mh' || scheduler === 'maglev') return 'mh';
  return 'generic';
}

/** OR of the bits of the given flag names (unknown names count as 0). */
export function schedFlagBits(flags: readonly string[]): number {
  let bits = 0;
  for (const f of flags) bits |= SCHED_FLAG_BITS[f] ?? 0;
  return bits;
}

/**
 * Canonical names of `bits` for a scheduler, every bit named (what tapvsadm sends to the daemon):
 * sh → sh-fallback, sh-port, flag-3; mh → mh-fallback, mh-port, flag-3; others flag-1, flag-2, flag-3.
 */
export function schedFlagNames(scheduler: string, bits: number): string[] {
  const fam = _flagFamily(scheduler);
  const names =
    fam === 'sh' ? ['sh-fallback', 'sh-port', 'flag-3'] : fam === 'mh' ? ['mh-fallback', 'mh-port', 'flag-3'] : ['flag-1', 'flag-2', 'flag-3'];
  return names.filter((_n, i) => (bits & (1 << i)) !== 0);
}

/** ipvsadm 1.31 print_sched_flags: sh/mh show only their two named flags, others flag-1..3. */
export function displaySchedFlags(scheduler: string, bits: number): string {
  const names = schedFlagNames(scheduler, bits);
  return (_flagFamily(scheduler) === 'generic' ? names : names.filter((n) => n !== 'flag-3')).join(',');
}

function _addrPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** `"%-4s %s"` of PROTO and addr:port, cut to 33 characters for IPv4 as ipvsadm does. */
export function serviceName(s: Pick<ServiceInfo, 'proto' | 'vip' | 'vport'>): string {
  const name = sprintf('%-4s %s', s.proto.toUpperCase(), _addrPort(s.vip, s.vport));
  return s.vip.includes(':') ? name : name.slice(0, 33);
}

/** addr:port of a real, cut to 28 characters for IPv4 as ipvsadm does. */
export function realName(r: Pick<RealInfo, 'rip' | 'rport'>): string {
  const name = _addrPort(r.rip, r.rport);
  return r.rip.includes(':') ? name : name.slice(0, 28);
}

/** `IP Virtual Server version 1.2.1 (size=4096)` */
export function formatBanner(connTabSize: number): string {
  return `IP Virtual Server version ${IPVS_VERSION_STRING} (size=${connTabSize})\n`;
}

/** The two title lines for the chosen format (print_title). */
export function formatTitle(fmt: ListFormat): string {
  if (fmt.stats)
    return (
      sprintf('%-33s %8s %8s %8s %8s %8s\n', 'Prot LocalAddress:Port', 'Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes') +
      '  -> RemoteAddress:Port\n'
    );
  if (fmt.rate)
    return (
      sprintf('%-33s %8s %8s %8s %8s %8s\n', 'Prot LocalAddress:Port', 'CPS', 'InPPS', 'OutPPS', 'InBPS', 'OutBPS') +
      '  -> RemoteAddress:Port\n'
    );
  if (fmt.thresholds)
    return (
      sprintf('%-33s %-10s %-10s %-10s %-10s\n', 'Prot LocalAddress:Port', 'Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn') +
      '  -> RemoteAddress:Port\n'
    );
  if (fmt.persistentConn)
    return (
      sprintf('%-33s %-9s %-11s %-10s %-10s\n', 'Prot LocalAddress:Port', 'Weight', 'PersistConn', 'ActiveConn', 'InActConn') +
      '  -> RemoteAddress:Port\n'
    );
  if (fmt.tunInfo)
    return (
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n'
    );
  if (fmt.health)
    return 'Prot LocalAddress:Port Scheduler Flags\n' + sprintf('  -> RemoteAddress:Port           Forward Weight ActiveConn %-10s %s\n', 'InActConn', 'Health');
  return 'Prot LocalAddress:Port Scheduler Flags\n' + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
}

/** `1h2m`, `3m5s`, `12s`, `5.2s`, `150ms`: a short duration for the Health column and drain progress. */
export function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.floor(ms))}ms`;
  const s = ms / 1000;
  if (s < 10) return `${(Math.floor(s * 10) / 10).toString()}s`;
  const t = Math.floor(s);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${t % 60 ? `${t % 60}s` : ''}`;
  return `${Math.floor(t / 3600)}h${Math.floor((t % 3600) / 60) ? `${Math.floor((t % 3600) / 60)}m` : ''}`;
}

/**
 * The Health cell of a real (`-L --health`, tapvs): the check's state and how long it has held, what it did to
 * the real, the last probe error; then a drain in progress. `-` when neither applies.
 */
export function formatHealthCell(r: RealInfo, now: number): string {
  const parts: string[] = [];
  const h = r.health;
  if (h) {
    let cell = `${h.state.toUpperCase()} ${formatAge(now - Date.parse(h.since))}`;
    if (h.action !== 'none') cell += ` ${h.action}`;
    if (h.lastError) cell += ` (${h.lastError})`;
    parts.push(cell);
  }
  const d = r.drain;
  if (d) {
    const start = Date.parse(d.startedAt);
    parts.push(`DRAINING ${formatAge(now - start)}/${formatAge(Date.parse(d.deadlineAt) - start)} at-deadline ${d.atDeadline}`);
  }
  return parts.length > 0 ? parts.join(' ') : '-';
}

/** The service line's addition under `--health`: the check, or nothing. */
function _healthSpecText(s: ServiceInfo): string {
  const c = s.health;
  if (!c) return '';
  const what = c.kind === 'http' || c.kind === 'https' ? `${c.kind} ${c.path ?? '/'}` : c.kind === 'exec' ? `exec ${c.command![0]}` : c.kind;
  return `  check ${what}${c.port ? ` port ${c.port}` : ''} every ${formatAge(c.intervalMs)} timeout ${formatAge(c.timeoutMs)} rise ${c.rise} fall ${c.fall} on-fail ${c.onFail}`;
}

/** One service line plus its real lines (print_service_entry). */
export function formatServiceEntry(s: ServiceInfo, fmt: ListFormat): string {
  const name = serviceName(s);
  let out: string;
  if (fmt.stats) {
    const t = s.stats;
    out = sprintf('%-33s', name) + [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes].map((n) => largenum(n, fmt.exact)).join('');
  } else if (fmt.rate) {
    const t = s.stats;
    out = sprintf('%-33s', name) + [t.cps, t.inpps, t.outpps, t.inbps, t.outbps].map((n) => largenum(n, fmt.exact)).join('');
  } else {
    out = `${name} ${s.scheduler}`;
    const bits = schedFlagBits(s.schedFlags);
    if (bits !== 0) out += ` (${displaySchedFlags(s.scheduler, bits)})`;
    if (s.persistent > 0) {
      out += ` persistent ${s.persistent}`;
      if (s.netmask !== '255.255.255.255') out += ` mask ${s.netmask}`;
    }
    if (fmt.health) out += _healthSpecText(s);
  }
  out += '\n';
  const now = fmt.health ? Date.now() : 0;
  for (const r of s.reals) out += _formatReal(r, fmt) + (fmt.health ? ` ${formatHealthCell(r, now)}` : '') + '\n';
  return out;
}

function _formatReal(r: RealInfo, fmt: ListFormat): string {
  const name = realName(r);
  const t = r.stats;
  if (fmt.stats)
    return sprintf('  -> %-28s', name) + [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes].map((n) => largenum(n, fmt.exact)).join('');
  if (fmt.rate)
    return sprintf('  -> %-28s %8llu %8llu %8llu', name, t.cps, t.inpps, t.outpps) + largenum(t.inbps, fmt.exact) + largenum(t.outbps, fmt.exact);
  if (fmt.thresholds) return sprintf('  -> %-28s %-10u %-10u %-10u %-10u', name, r.uthreshold, r.lthreshold, r.active, r.inactive);
  if (fmt.persistentConn) return sprintf('  -> %-28s %-9u %-11u %-10u %-10u', name, r.weight, r.persist, r.active, r.inactive);
  const fwd = FWD_DISPLAY[r.method] ?? r.method;
  if (fmt.tunInfo)
    return sprintf('  -> %-28s %-7s %-13s %-6d %-10u %-10u', name, fwd, r.method === 'tun' ? 'ipip' : 'n/a', r.weight, r.active, r.inactive);
  return sprintf('  -> %-28s %-7s %-6d %-10u %-10u', name, fwd, r.weight, r.active, r.inactive);
}

/** `ipvsadm -L` (list_all): banner, title, every service in the order the daemon gave. */
export function formatList(res: ListResult, fmt: ListFormat): string {
  return formatBanner(res.connTabSize) + formatTitle(fmt) + res.services.map((s) => formatServiceEntry(s, fmt)).join('');
}

/** `ipvsadm -L -t VIP:port` (list_service): title and the service, no banner. */
export function formatService(res: ListResult, fmt: ListFormat): string {
  return formatTitle(fmt) + res.services.map((s) => formatServiceEntry(s, fmt)).join('');
}

/** `ipvsadm -L --timeout` (list_timeout). */
export function formatTimeout(tcp: number, tcpfin: number, udp: number): string {
  return sprintf('Timeout (tcp tcpfin udp): %d %d %d\n', tcp, tcpfin, udp);
}

/**
 * `ipvsadm -L -n -c` (list_conn/print_conn): a title, the header `"pro expire %-11s %-18s %-18s %s"` and one
 * `"%-3s %-6s %-11s %-18s %-18s %s"` row per entry; expire is `"%02d:%02d"` of minutes (not wrapped) and seconds.
 */
export function formatConnList(conns: readonly ConnInfo[]): string {
  let out = 'IPVS connection entries\n';
  out += sprintf('pro expire %-11s %-18s %-18s %s\n', 'state', 'source', 'virtual', 'destination');
  for (const c of conns) {
    const expire = sprintf('%02d:%02d', Math.floor(c.expires / 60), c.expires % 60);
    out += sprintf('%-3s %-6s %-11s %-18s %-18s %s\n', c.proto, expire, c.state, c.source, c.virtual, c.destination);
  }
  return out;
}

/**
 * `-G`: FULLNAT local addresses per service, in the layout of DPVS's ipvsadm (`VIP:VPORT TOTAL SNAT_IP`, one
 * LIP per line under its service). Services without local addresses are left out unless asked for by name.
 */
export function formatLaddrs(services: readonly ServiceInfo[], named = false): string {
  let out = sprintf('%-20s %-8s %-20s\n', 'VIP:VPORT', 'TOTAL', 'SNAT_IP');
  for (const s of services) {
    const laddrs = s.laddrs ?? [];
    if (laddrs.length === 0 && !named) continue;
    out += sprintf('%-20s %-8u\n', `${s.vip}:${s.vport}`, laddrs.length);
    for (const a of laddrs) out += sprintf('%-29s %-20s\n', '', a);
  }
  return out;
}
