/**
 * `apply` and `restore`: a whole desired configuration (or a list of ipvsadm-style changes) checked against a
 * copy of the service table, turned into the minimal plan of changes, and handed back as the new table for the
 * control thread to adopt and publish as one snapshot.
 *
 * Every rule of the service table (state.ts) runs on the copy, in the order the plan lists, so a plan that
 * validates here is exactly what the live table will hold. Services and reals are matched by their keys
 * (proto, VIP, port / real address, port); everything else is edited in place: slots, conns, counters and
 * health state of kept services and reals survive. Errors name the path in the request
 * (`services[1].reals[0]: ...`) and change nothing.
 */
import { DEFAULT_SCHEDULER, DEFAULT_WEIGHT, MAX_REALS, MAX_SERVICES } from '../defaults.js';
import { LbError, invalid } from '../errors.js';
import type { HealthCheckSpec } from '../config/health-spec.js';
import { DEFAULT_MH_TABLE_SIZE } from '../sched/mh.js';
import type { ServiceKey } from '../types.js';
import { formatIPv4, parseIPv4 } from '../util/addr.js';
import { TcpState, UDP_STATE } from '../worker/tcp-state.js';
import type {
  DesiredConfig, DesiredService, FieldChange, PlanChange, RealRule, RealSpec, RestoreRequest, ServiceRule, ServiceSpec,
} from './protocol.js';
import type { RealState, ServiceState, ServiceTable } from './state.js';

export interface ApplyPlan {
  plan: PlanChange[];
  /** The table after the plan (a copy; the caller adopts it). */
  next: ServiceTable;
  /** Slots handed out by the plan (their counters start from zero). */
  freshServices: number[];
  freshReals: number[];
}

const SERVICE_KEYS = new Set([
  'proto', 'vip', 'vport', 'scheduler', 'schedFlags', 'persistent', 'mhTableSize', 'netmask', 'laddrs', 'clientIp', 'health', 'reals',
]);
const REAL_KEYS = new Set(['rip', 'rport', 'method', 'weight', 'uthreshold', 'lthreshold']);
const TIMEOUT_KEYS = new Set(['tcp', 'tcpfin', 'udp']);

/** The service as a rule (what -S prints and a plan shows). */
export function serviceRule(s: ServiceState): ServiceRule {
  return {
    proto: s.proto, vip: formatIPv4(s.addr), vport: s.port, scheduler: s.scheduler, schedFlags: s.schedFlagNames,
    persistent: s.persistent, netmask: formatIPv4(s.netmask), ...(s.scheduler === 'mh' ? { mhTableSize: s.mhTableSize } : {}),
    laddrs: s.laddrs.map(formatIPv4), clientIp: s.clientIp,
  };
}

export function realRule(r: RealState): RealRule {
  return { rip: formatIPv4(r.addr), rport: r.port, method: r.method, weight: r.weight, uthreshold: r.uthreshold, lthreshold: r.lthreshold };
}

const keyOf = (s: ServiceState): ServiceKey => ({ proto: s.proto, vip: formatIPv4(s.addr), vport: s.port });

/** Runs `fn`, prefixing the message of a refused change with where it comes from. */
function at<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof LbError) throw new LbError(err.code, `${path}: ${err.message}`);
    throw err;
  }
}

function object(v: unknown, path: string, keys: Set<string>): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${path} must be an object`);
  for (const k of Object.keys(v)) if (!keys.has(k)) throw invalid(`${path}: unknown key "${k}"`);
  return v as Record<string, unknown>;
}

function list(v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw invalid(`${path} must be an array`);
  if (v.length > max) throw invalid(`${path}: more than ${max} entries`);
  return v;
}

/** Checks the request's shape (the values are checked by the service table). */
function checkShape(raw: unknown): DesiredConfig {
  const c = object(raw, 'config', new Set(['services', 'timeouts']));
  const services = list(c.services, 'services', MAX_SERVICES);
  services.forEach((s, i) => {
    const o = object(s, `services[${i}]`, SERVICE_KEYS);
    if (o.reals !== undefined) list(o.reals, `services[${i}].reals`, MAX_REALS).forEach((r, j) => object(r, `services[${i}].reals[${j}]`, REAL_KEYS));
  });
  if (c.timeouts !== undefined) object(c.timeouts, 'timeouts', TIMEOUT_KEYS);
  return c as unknown as DesiredConfig;
}

/** A desired service with every absent field at its default, as the table takes it. */
function fullService(d: DesiredService): ServiceSpec {
  return {
    proto: d.proto, vip: d.vip, vport: d.vport, scheduler: d.scheduler ?? DEFAULT_SCHEDULER, schedFlags: d.schedFlags ?? [],
    persistent: d.persistent ?? 0, netmask: d.netmask ?? '255.255.255.255', mhTableSize: d.mhTableSize ?? DEFAULT_MH_TABLE_SIZE,
    laddrs: d.laddrs ?? [], clientIp: d.clientIp ?? 'none', health: d.health ?? null,
  };
}

function fullReal(r: RealSpec, vport: number): RealSpec & { rport: number } {
  const method = r.method ?? 'dr';
  // DR and TUN cannot map ports: the table stores the service port whatever was given (as ipvsadm forces it).
  const rport = method === 'dr' || method === 'tun' ? vport : (r.rport ?? vport);
  return { rip: r.rip, rport, method, weight: r.weight ?? DEFAULT_WEIGHT, uthreshold: r.uthreshold ?? 0, lthreshold: r.lthreshold ?? 0 };
}

function diff(before: object, after: object, fields: readonly string[]): FieldChange[] {
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  return fields
    .filter((f) => JSON.stringify(b[f]) !== JSON.stringify(a[f]))
    .map((f) => ({ field: f, from: b[f], to: a[f] }));
}

const SERVICE_FIELDS = ['scheduler', 'schedFlags', 'persistent', 'netmask', 'mhTableSize', 'laddrs', 'clientIp'] as const;
const REAL_FIELDS = ['method', 'weight', 'uthreshold', 'lthreshold'] as const;

/** Rules compared with scheduler flags as bits (names differ between spellings of the same flags). */
function comparable(s: ServiceState): object {
  return { ...serviceRule(s), schedFlags: s.schedFlags, mhTableSize: s.mhTableSize };
}

/** Plans `raw` (a DesiredConfig from the API) against `table`; throws LbError naming the path on any refusal. */
export function planApply(table: ServiceTable, raw: unknown): ApplyPlan {
  const desired = checkShape(raw);
  const next = table.clone();
  const plan: PlanChange[] = [];
  const freshServices: number[] = [];
  const freshReals: number[] = [];

  // Keys of the desired services; duplicates refused.
  const wanted = new Map<string, number>();
  const svcId = (k: { proto?: unknown; vip?: unknown; vport?: unknown }) => `${String(k.proto)}/${typeof k.vip === 'string' ? parseIPv4(k.vip) : NaN}:${String(k.vport)}`;
  desired.services.forEach((d, i) => {
    const id = svcId(d);
    const j = wanted.get(id);
    if (j !== undefined && typeof d.vip === 'string' && parseIPv4(d.vip) >= 0) throw invalid(`services[${i}]: the same service as services[${j}] (${d.proto} ${d.vip}:${d.vport})`);
    wanted.set(id, i);
  });

  // Removed services, in ipvsadm's listing order.
  const byListOrder = (a: ServiceState, b: ServiceState) => (a.proto === b.proto ? 0 : a.proto === 'tcp' ? -1 : 1) || a.addr - b.addr || a.port - b.port;
  for (const s of next.list().sort(byListOrder)) {
    if (wanted.has(svcId(keyOf(s)))) continue;
    next.delService(keyOf(s));
    plan.push({ op: 'del-service', service: keyOf(s) });
  }

  const addReal = (key: ServiceKey, r: RealSpec, path: string) => {
    const added = at(path, () => next.addReal(key, r));
    freshReals.push(added.slot);
    plan.push({ op: 'add-real', service: key, real: realRule(added) });
  };
  const editReal = (key: ServiceKey, cur: RealState, r: RealSpec, path: string, out = plan) => {
    const before = realRule(cur);
    const after = realRule(at(path, () => next.editReal(key, r)));
    const changed = diff(before, after, REAL_FIELDS);
    if (changed.length > 0) out.push({ op: 'edit-real', service: key, real: after, changed });
  };
  const setHealth = (key: ServiceKey, previous: HealthCheckSpec | undefined, now: HealthCheckSpec | undefined) => {
    if (JSON.stringify(previous ?? null) !== JSON.stringify(now ?? null)) {
      plan.push({ op: 'set-health', service: key, health: now ?? null, previous: previous ?? null });
    }
  };

  desired.services.forEach((d, i) => {
    const path = `services[${i}]`;
    const spec = fullService(d);
    const realsIn = (d.reals ?? []).map((r, j) => ({ j, r: fullReal(r, d.vport) }));
    const realIds = new Map<string, number>();
    for (const { j, r } of realsIn) {
      const id = `${parseIPv4(r.rip)}:${r.rport}`;
      const k = realIds.get(id);
      if (k !== undefined && parseIPv4(r.rip) >= 0) throw invalid(`${path}.reals[${j}]: the same real server as ${path}.reals[${k}] (${r.rip}:${r.rport})`);
      realIds.set(id, j);
    }
    const existing = next.find(spec);
    if (!existing) {
      const svc = at(path, () => next.addService(spec));
      freshServices.push(svc.slot);
      plan.push({ op: 'add-service', service: serviceRule(svc) });
      setHealth(keyOf(svc), undefined, svc.health);
      for (const { j, r } of realsIn) addReal(keyOf(svc), r, `${path}.reals[${j}]`);
      return;
    }
    const key = keyOf(existing);
    const find = (r: RealState) => realIds.get(`${r.addr}:${r.port}`);
    for (const r of [...existing.reals]) {
      if (find(r) !== undefined) continue;
      next.delReal(key, { rip: formatIPv4(r.addr), rport: r.port });
      plan.push({ op: 'del-real', service: key, real: { rip: formatIPv4(r.addr), rport: r.port } });
    }
    const kept = realsIn.filter(({ r }) => existing.reals.some((x) => x.addr === parseIPv4(r.rip) && x.port === r.rport));
    const cur = (r: RealSpec & { rport: number }) => existing.reals.find((x) => x.addr === parseIPv4(r.rip) && x.port === r.rport)!;
    // Reals that will not be FULLNAT are edited first, so a service may drop its local addresses with its FULLNAT
    // reals; the plan lists them after the service's own edit all the same (it is applied as one change).
    const realEdits: PlanChange[] = [];
    for (const { j, r } of kept) if (r.method !== 'fullnat') editReal(key, cur(r), r, `${path}.reals[${j}]`, realEdits);
    const before = comparable(existing);
    const flagsBefore = existing.schedFlagNames;
    const previousHealth = existing.health;
    at(path, () => next.editService(spec));
    // The Maglev table size only shows (and matters) on mh services; flags are compared as bits, shown as names.
    const changed = diff(before, comparable(existing), SERVICE_FIELDS)
      .filter((c) => c.field !== 'mhTableSize' || existing.scheduler === 'mh')
      .map((c) => (c.field === 'schedFlags' ? { ...c, from: flagsBefore, to: existing.schedFlagNames } : c));
    if (changed.length > 0) plan.push({ op: 'edit-service', service: serviceRule(existing), changed });
    setHealth(key, previousHealth, existing.health);
    plan.push(...realEdits);
    for (const { j, r } of kept) if (r.method === 'fullnat') editReal(key, cur(r), r, `${path}.reals[${j}]`);
    for (const { j, r } of realsIn) if (!kept.some((k) => k.j === j)) addReal(key, r, `${path}.reals[${j}]`);
  });

  if (desired.timeouts !== undefined) {
    const t = desired.timeouts;
    const read = () => ({ tcp: next.timeouts[TcpState.ESTABLISHED]!, tcpfin: next.timeouts[TcpState.FIN_WAIT]!, udp: next.timeouts[UDP_STATE]! });
    const before = read();
    for (const k of ['tcp', 'tcpfin', 'udp'] as const) {
      if (t[k] !== undefined && (typeof t[k] !== 'number' || t[k]! < 1)) throw invalid(`timeouts.${k} must be an integer of at least 1 (seconds)`);
    }
    at('timeouts', () => next.setTimeouts(t.tcp ?? 0, t.tcpfin ?? 0, t.udp ?? 0));
    const changed = diff(before, read(), ['tcp', 'tcpfin', 'udp']);
    if (changed.length > 0) plan.push({ op: 'set-timeouts', timeouts: read(), changed });
  }
  return { plan, next, freshServices, freshReals };
}

/**
 * `restore`: runs ipvsadm-style change requests in order on a copy of the table (each refused exactly as the
 * single command would be, the message prefixed with `rule N:`), and returns the resulting configuration as a
 * DesiredConfig to apply. Health checks are not part of ipvsadm's rules: a service keeps its spec, also through
 * a -C / -D and -A of the same service inside the input.
 */
export function restoreToDesired(table: ServiceTable, requests: unknown): DesiredConfig {
  const scratch = table.clone();
  list(requests, 'requests', MAX_SERVICES + MAX_REALS + 16).forEach((raw, i) =>
    at(`rule ${i + 1}`, () => {
      if (raw === null || typeof raw !== 'object') throw invalid('must be a request object');
      const r = raw as RestoreRequest;
      switch (r.op) {
        case 'add-service': return scratch.addService(r.service);
        case 'edit-service': return scratch.editService(r.service);
        case 'del-service': return scratch.delService(r.service);
        case 'add-real': return scratch.addReal(r.service, r.real);
        case 'edit-real': return scratch.editReal(r.service, r.real);
        case 'del-real': return scratch.delReal(r.service, r.real);
        case 'clear': return scratch.clear();
        case 'set-timeouts': return scratch.setTimeouts(r.tcp, r.tcpfin, r.udp);
        default: throw invalid(`op ${JSON.stringify((r as { op?: unknown }).op)} is not a rule`);
      }
    }),
  );
  return {
    services: scratch.list().map((s) => ({
      ...serviceRule(s), mhTableSize: s.mhTableSize, health: s.health ?? table.find(keyOf(s))?.health ?? null,
      // Oldest first: added in this order, the reals end up in the copy's IPVS list order.
      reals: [...s.reals].reverse().map(realRule),
    })),
    timeouts: { tcp: scratch.timeouts[TcpState.ESTABLISHED]!, tcpfin: scratch.timeouts[TcpState.FIN_WAIT]!, udp: scratch.timeouts[UDP_STATE]! },
  };
}
