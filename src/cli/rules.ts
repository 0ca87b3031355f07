/**
 * Rules as text: `tapvsadm -S` (ipvsadm 1.31's FMT_RULE lines, print_service_entry) and the lines of an apply
 * plan (`tapvs apply`, SIGHUP), which use the same ipvsadm wording so a plan reads like the commands it stands for.
 *
 * ipvsadm's -S: `-A -t VIP:PORT -s SCHED[ -p TIMEOUT[ -M MASK]][ -b FLAGS]`, then one
 * `-a -t VIP:PORT -r RIP:RPORT -g|-i|-m -w WEIGHT[ --tun-type ipip]` per real in address order. tapvs adds, only
 * where the rule has them (so a plain IPVS table saves exactly as ipvsadm saves it): `--mh-table-size M` (not
 * 4093), `--toa` / `--proxy-protocol v1|v2`, one `-P -t VIP:PORT -z LIP` line per FULLNAT local address (before
 * the reals, which need them), `--fullnat`, and `-x`/`-y` when a threshold is set (ipvsadm drops thresholds).
 */
import type { HealthCheckSpec } from '../config/health-spec.js';
import type { FieldChange, ListResult, PlanChange, RealRule, ServiceRule } from '../control/protocol.js';
import { DEFAULT_MH_TABLE_SIZE } from '../sched/mh.js';
import type { FwdMethod, ServiceKey } from '../types.js';
import { displaySchedFlags, schedFlagBits } from './format.js';

const FWD_SWITCH: Record<FwdMethod, string> = { dr: '-g', nat: '-m', tun: '-i', fullnat: '--fullnat' };
const CLIENT_IP_SWITCH: Record<string, string> = { toa: ' --toa', 'proxy-v1': ' --proxy-protocol v1', 'proxy-v2': ' --proxy-protocol v2' };

/** `-t 10.0.0.1:80` / `-u 10.0.0.1:53` */
export function serviceArg(s: ServiceKey): string {
  return `${s.proto === 'tcp' ? '-t' : '-u'} ${s.vip}:${s.vport}`;
}

/** The -A line of a service (`cmd` -E for a plan's edit). */
export function serviceLine(s: ServiceRule, cmd = '-A'): string {
  let out = `${cmd} ${serviceArg(s)} -s ${s.scheduler}`;
  if (s.persistent > 0) {
    out += ` -p ${s.persistent}`;
    if (s.netmask !== '255.255.255.255') out += ` -M ${s.netmask}`;
  }
  const bits = schedFlagBits(s.schedFlags);
  if (bits !== 0) out += ` -b ${displaySchedFlags(s.scheduler, bits)}`;
  if (s.mhTableSize !== undefined && s.mhTableSize !== DEFAULT_MH_TABLE_SIZE) out += ` --mh-table-size ${s.mhTableSize}`;
  return out + (CLIENT_IP_SWITCH[s.clientIp ?? 'none'] ?? '');
}

/** `-P -t VIP:PORT -z LIP` per FULLNAT local address. */
export function laddrLines(s: ServiceRule): string[] {
  return (s.laddrs ?? []).map((a) => `-P ${serviceArg(s)} -z ${a}`);
}

/** The -a line of a real (`cmd` -e for a plan's edit). */
export function realLine(svc: ServiceKey, r: RealRule, cmd = '-a'): string {
  let out = `${cmd} ${serviceArg(svc)} -r ${r.rip}:${r.rport} ${FWD_SWITCH[r.method]} -w ${r.weight}`;
  if (r.method === 'tun') out += ' --tun-type ipip';
  if (r.uthreshold) out += ` -x ${r.uthreshold}`;
  if (r.lthreshold) out += ` -y ${r.lthreshold}`;
  return out;
}

/** `tapvsadm -S [-n]`: every service, its local addresses and its reals, in the daemon's (ipvsadm's) order. */
export function formatSave(res: ListResult): string {
  let out = '';
  for (const s of res.services) {
    out += serviceLine(s) + '\n';
    for (const l of laddrLines(s)) out += l + '\n';
    // The configured weight: a real quiesced by its health check or draining lists weight 0 but keeps its own.
    for (const r of s.reals) out += realLine(s, { ...r, weight: r.configuredWeight ?? r.weight }) + '\n';
  }
  return out;
}

/** 2000 → "2s", 1500 → "1500ms". */
export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A health spec in the config file's words: `http interval=2s timeout=1s rise=2 fall=3 path=/ ...`. */
export function describeHealth(h: HealthCheckSpec | null): string {
  if (h === null) return 'none';
  const parts = [h.kind, `interval=${formatMs(h.intervalMs)}`, `timeout=${formatMs(h.timeoutMs)}`, `rise=${h.rise}`, `fall=${h.fall}`];
  if (h.port !== undefined) parts.push(`port=${h.port}`);
  if (h.path !== undefined) parts.push(`path=${h.path}`);
  if (h.host !== undefined) parts.push(`host=${h.host}`);
  if (h.expectStatus !== undefined) parts.push(`expect_status=${h.expectStatus.join(',')}`);
  if (h.expectBody !== undefined) parts.push(`expect_body=${JSON.stringify(h.expectBody)}`);
  if (h.send !== undefined) parts.push(`send=${JSON.stringify(h.send)}`);
  if (h.expect !== undefined) parts.push(`expect=${JSON.stringify(h.expect)}`);
  if (h.command !== undefined) parts.push(`command=${JSON.stringify(h.command)}`);
  parts.push(`on_fail=${h.onFail}`, `source=${h.source}`);
  return parts.join(' ');
}

/** Field names of a plan in ipvsadm's / the config file's words. */
const FIELD_NAMES: Record<string, string> = {
  schedFlags: 'sched-flags', persistent: 'persistent', mhTableSize: 'mh-table-size', laddrs: 'local addresses',
  clientIp: 'client-ip', uthreshold: 'u-threshold', lthreshold: 'l-threshold', tcpfin: 'tcpfin',
};

function value(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(',');
  return String(v);
}

function changes(changed: FieldChange[]): string {
  return '  # ' + changed.map((c) => `${FIELD_NAMES[c.field] ?? c.field} ${value(c.from)} -> ${value(c.to)}`).join(', ');
}

/** The lines of one plan step (one line, or an -A line followed by its local addresses). */
export function formatPlanChange(c: PlanChange): string[] {
  switch (c.op) {
    case 'add-service':
      return [serviceLine(c.service), ...laddrLines(c.service)];
    case 'edit-service':
      return [serviceLine(c.service, '-E') + changes(c.changed)];
    case 'del-service':
      return [`-D ${serviceArg(c.service)}`];
    case 'add-real':
      return [realLine(c.service, c.real)];
    case 'edit-real':
      return [realLine(c.service, c.real, '-e') + changes(c.changed)];
    case 'del-real':
      return [`-d ${serviceArg(c.service)} -r ${c.real.rip}:${c.real.rport}`];
    case 'set-health':
      return [`health ${serviceArg(c.service)} ${describeHealth(c.health)}  # ${c.previous === null ? 'added' : `was ${describeHealth(c.previous)}`}`];
    case 'set-timeouts':
      return [`--set ${c.timeouts.tcp} ${c.timeouts.tcpfin} ${c.timeouts.udp}` + changes(c.changed)];
  }
}

/** A whole plan, one change per line; `(no changes)` when there is nothing to do. */
export function formatPlan(plan: readonly PlanChange[]): string {
  if (plan.length === 0) return '(no changes)\n';
  return plan.flatMap(formatPlanChange).join('\n') + '\n';
}
