/**
 * Control API wire protocol: newline-delimited JSON over a Unix stream socket.
 *
 * Each request is one JSON object on one line: `{"id": 1, "op": "add-service", ...}`. The daemon answers
 * each request with one line: `{"id": 1, "ok": true, "result": ...}` or
 * `{"id": 1, "ok": false, "error": {"code": "ESRCH_SERVICE", "message": "No such service"}}`.
 * Requests are answered in order. A line longer than MAX_REQUEST_BYTES, or one that is not a JSON object
 * with a known `op`, gets an error reply and changes nothing. Fields absent from an edit mean "unchanged"
 * (the CLI fills in ipvsadm's defaults itself; API users get true in-place partial edits).
 */
import type { FwdMethod, ProtoName, ServiceKey } from '../types.js';
import type { LbErrorCode } from '../errors.js';
import type { ClientIpMode } from '../config/snapshot.js';
import type { HealthCheckSpec } from '../config/health-spec.js';

export const PROTOCOL_VERSION = 1;

/** A virtual service as given by a user (add/edit). */
export interface ServiceSpec extends ServiceKey {
  /** Scheduler name as ipvsadm spells it; default wlc on add, unchanged on edit. */
  scheduler?: string;
  /** Scheduler flags (-b), e.g. ['sh-fallback','sh-port']. */
  schedFlags?: string[];
  /** Persistence timeout in seconds (-p); 0 = not persistent. */
  persistent?: number;
  /** mh: Maglev table size (a prime from MH_TABLE_SIZES; default 4093 as IPVS). tapvs extension. */
  mhTableSize?: number;
  /** Persistence netmask (-M), dotted quad. */
  netmask?: string;
  /** FULLNAT local addresses: the whole list (replaces it), or additions/removals (tapvsadm -P / -Q). */
  laddrs?: string[];
  addLaddrs?: string[];
  delLaddrs?: string[];
  /** How FULLNAT conns deliver the client address: none (default), toa, proxy-v1, proxy-v2 (UDP: v2 only). */
  clientIp?: ClientIpMode;
  /** Health check of the service's reals (config/health-spec.ts); null removes it. */
  health?: HealthCheckSpec | null;
}

/** A real server as given by a user (add/edit). */
export interface RealSpec {
  rip: string;
  /** Real port; defaults to the service port. Forced to the service port for dr/tun. */
  rport?: number;
  method?: FwdMethod;
  weight?: number;
  /** Upper connection threshold (-x); 0 = none. */
  uthreshold?: number;
  /** Lower connection threshold (-y); 0 = none. */
  lthreshold?: number;
}

export type Request =
  | { id?: number; op: 'ping' }
  | { id?: number; op: 'add-service'; service: ServiceSpec }
  | { id?: number; op: 'edit-service'; service: ServiceSpec }
  | { id?: number; op: 'del-service'; service: ServiceKey }
  | { id?: number; op: 'add-real'; service: ServiceKey; real: RealSpec }
  | { id?: number; op: 'edit-real'; service: ServiceKey; real: RealSpec }
  | { id?: number; op: 'del-real'; service: ServiceKey; real: { rip: string; rport?: number } }
  | { id?: number; op: 'clear' }
  | { id?: number; op: 'list'; service?: ServiceKey }
  | { id?: number; op: 'zero'; service?: ServiceKey }
  | { id?: number; op: 'status' }
  | { id?: number; op: 'list-conns'; service?: ServiceKey }
  | { id?: number; op: 'set-timeouts'; tcp: number; tcpfin: number; udp: number }
  | { id?: number; op: 'restart-worker'; worker: number }
  | { id?: number; op: 'apply'; config: DesiredConfig; dryRun?: boolean }
  | { id?: number; op: 'restore'; requests: RestoreRequest[]; dryRun?: boolean }
  /** Sets the service's health check (validated by validateHealthSpec, defaults filled in), or removes it (null). */
  | { id?: number; op: 'set-health'; service: ServiceKey; check: (Partial<HealthCheckSpec> & Pick<HealthCheckSpec, 'kind'>) | null }
  /** Starts (or re-arms) a drain: deadlineMs default 300000, atDeadline default 'keep'. Answers DrainStatus. */
  | { id?: number; op: 'drain'; service: ServiceKey; real: { rip: string; rport?: number }; deadlineMs?: number; atDeadline?: AtDeadlineName }
  /** Ends a drain early: the real keeps its place with its configured weight. */
  | { id?: number; op: 'undrain'; service: ServiceKey; real: { rip: string; rport?: number } }
  /** Progress of a drain, or how it ended (kept for the last DRAIN_HISTORY drains). */
  | { id?: number; op: 'drain-status'; service: ServiceKey; real: { rip: string; rport?: number } }
  /** Starts a packet trace (control/trace.ts): src "IP[:port]", dst "VIP:port"; count default 20, seconds 10. */
  | { id?: number; op: 'trace-start'; src: string; dst: string; proto?: ProtoName; count?: number; seconds?: number }
  /** Records since the last poll (TracePoll); a trace not polled for 5 s ends. */
  | { id?: number; op: 'trace-poll'; trace: number }
  | { id?: number; op: 'trace-stop'; trace: number };

export type Op = Request['op'];
export const OPS: readonly Op[] = [
  'ping', 'add-service', 'edit-service', 'del-service', 'add-real', 'edit-real', 'del-real', 'clear', 'list', 'zero', 'status',
  'list-conns', 'set-timeouts', 'restart-worker', 'apply', 'restore', 'set-health', 'drain', 'undrain', 'drain-status',
  'trace-start', 'trace-poll', 'trace-stop',
];

export type AtDeadlineName = 'keep' | 'reset' | 'reschedule';

/** A real's health under its service's check, as `list` reports it. */
export interface RealHealthInfo {
  state: 'unknown' | 'up' | 'down';
  /** ISO time of the last state change (the check's start while unknown). */
  since: string;
  /** ISO time of the last completed probe, or null. */
  lastCheck: string | null;
  /** Why the last probe failed, or null after a success. */
  lastError: string | null;
  /** Whether the real is out of the dataplane now: quiesced (weight 0) or removed from scheduling. */
  action: 'none' | 'quiesced' | 'removed';
}

/** A drain: in progress, or how it ended. */
export interface DrainStatus {
  state: 'draining' | 'done';
  service: string;
  real: string;
  atDeadline: AtDeadlineName;
  startedAt: string;
  deadlineAt: string;
  /** Conns on the real now (draining) or when it was removed (done). */
  active: number;
  inactive: number;
  persist: number;
  /** Conns that may still carry data (not TIME_WAIT/CLOSE, not templates); null until first counted. */
  live: number | null;
  /** done only: 'empty' (no live conn left) or 'deadline'. */
  outcome?: 'empty' | 'deadline' | 'deleted';
  finishedAt?: string;
}

/**
 * `apply`: the whole desired configuration. Services and reals absent from it are removed; absent fields take
 * their defaults (as on add); `timeouts` absent (or a field of it absent) leaves the current value.
 */
export interface DesiredConfig {
  services: DesiredService[];
  timeouts?: { tcp?: number; tcpfin?: number; udp?: number };
}

/** A service with all its reals (no addLaddrs/delLaddrs: `laddrs` is the whole list). */
export interface DesiredService extends Omit<ServiceSpec, 'addLaddrs' | 'delLaddrs'> {
  reals?: RealSpec[];
}

/** `restore` (tapvsadm -R): change requests run in order on a copy of the table, then applied as one change. */
export type RestoreRequest = Extract<
  Request,
  { op: 'add-service' | 'edit-service' | 'del-service' | 'add-real' | 'edit-real' | 'del-real' | 'clear' | 'set-timeouts' }
>;

/** A field an edit changes. */
export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

/** A service as a rule (what -S prints): ServiceInfo without counters and reals. */
export type ServiceRule = Omit<ServiceInfo, 'stats' | 'reals'>;
/** A real as a rule. */
export type RealRule = Pick<RealInfo, 'rip' | 'rport' | 'method' | 'weight' | 'uthreshold' | 'lthreshold'>;

/** One step of an apply plan (all steps are applied together, as one snapshot). */
export type PlanChange =
  | { op: 'add-service'; service: ServiceRule }
  | { op: 'edit-service'; service: ServiceRule; changed: FieldChange[] }
  | { op: 'del-service'; service: ServiceKey }
  | { op: 'add-real'; service: ServiceKey; real: RealRule }
  | { op: 'edit-real'; service: ServiceKey; real: RealRule; changed: FieldChange[] }
  | { op: 'del-real'; service: ServiceKey; real: { rip: string; rport: number } }
  | { op: 'set-health'; service: ServiceKey; health: HealthCheckSpec | null; previous: HealthCheckSpec | null }
  | { op: 'set-timeouts'; timeouts: { tcp: number; tcpfin: number; udp: number }; changed: FieldChange[] };

export interface ApplyResult {
  plan: PlanChange[];
  /** False for a dry run or an empty plan. */
  applied: boolean;
  /** Snapshot version running after the call. */
  version: number;
}

/** Counters as ipvsadm --stats shows them, plus the 2-second rate estimates (--rate). */
export interface StatsInfo {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface RealInfo {
  rip: string;
  rport: number;
  method: FwdMethod;
  weight: number;
  uthreshold: number;
  lthreshold: number;
  active: number;
  inactive: number;
  persist: number;
  stats: StatsInfo;
  /** The weight set by the operator; `weight` is what the schedulers use (0 while quiesced or draining). */
  configuredWeight?: number;
  /** Present while the service has a health check. */
  health?: RealHealthInfo;
  /** Present while the real drains. */
  drain?: DrainStatus;
}

export interface ServiceInfo {
  proto: ProtoName;
  vip: string;
  vport: number;
  scheduler: string;
  schedFlags: string[];
  /** 0 when not persistent. */
  persistent: number;
  /** Maglev table size (mh services only). */
  mhTableSize?: number;
  netmask: string;
  stats: StatsInfo;
  /** Sorted by (address, port) as ipvsadm displays them. */
  reals: RealInfo[];
  /** FULLNAT local addresses, in the order added. */
  laddrs?: string[];
  /** FULLNAT client-address delivery. */
  clientIp?: ClientIpMode;
  /** The service's health check spec, when it has one. */
  health?: HealthCheckSpec;
}

export interface ListResult {
  /** Connection hash size printed in the banner. */
  connTabSize: number;
  /** Sorted as ipvsadm sorts them (protocol, address, port). */
  services: ServiceInfo[];
}

export interface WorkerStatus {
  id: number;
  appliedVersion: number;
  alive: boolean;
  restarts: number;
  conns: number;
  /** Half-open (SYN_RECV, SYNACK) conns, and whether the SYN flood defence is on (src/worker/synflood.ts). */
  halfOpen: number;
  synflood: boolean;
  drops: Record<string, number>;
  counters: Record<string, number>;
}

export interface StatusResult {
  pid: number;
  version: number;
  /** Connection timeouts in seconds as `ipvsadm -L --timeout` shows them. */
  timeouts: { tcp: number; tcpfin: number; udp: number };
  uptimeSec: number;
  workers: WorkerStatus[];
  drops: Record<string, number>;
  /** Control socket: connections served, requests, and what was refused or cut off (src/control/server.ts). */
  controlSocket?: {
    connections: number; requests: number; deniedPeers: number; busy: number; oversized: number; badJson: number; slowClosed: number;
  };
}

/** One connection entry as `ipvsadm -L -n -c` shows it. */
export interface ConnInfo {
  /** 'TCP' or 'UDP'. */
  proto: string;
  /** Seconds until expiry. */
  expires: number;
  /** State name (TCP states, or UDP). */
  state: string;
  /** Client address:port. */
  source: string;
  /** Virtual address:port. */
  virtual: string;
  /** Real address:port. */
  destination: string;
  /** Worker that owns the entry. */
  worker: number;
}

export interface ConnListResult {
  conns: ConnInfo[];
}

export type Reply =
  | { id?: number; ok: true; result: unknown }
  | { id?: number; ok: false; error: { code: LbErrorCode; message: string } };
