/**
 * The health check contract shared by the declarative config (`tapvs apply`), the control API and the health
 * checker: what one service's check looks like once parsed (numbers in milliseconds, defaults filled in).
 * The config file's YAML spelling ("2s", snake_case keys) is converted to this by the config parser; the API
 * accepts this JSON shape directly and validates it with `validateHealthSpec()`.
 */
import { invalid } from '../errors.js';

export const HEALTH_KINDS = ['tcp', 'http', 'https', 'udp', 'exec'] as const;
export type HealthKind = (typeof HEALTH_KINDS)[number];

/** What happens to a real whose check fails `fall` times in a row. */
export const HEALTH_ON_FAIL = ['quiesce', 'remove'] as const;
export type HealthOnFail = (typeof HEALTH_ON_FAIL)[number];

/** Where probes come from: the host's own stack, or the director's addresses through the TAP path. */
export const HEALTH_SOURCES = ['host', 'tap'] as const;
export type HealthSource = (typeof HEALTH_SOURCES)[number];

export interface HealthCheckSpec {
  kind: HealthKind;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that bring a down real back. */
  rise: number;
  /** Consecutive failures that take an up real down. */
  fall: number;
  /** Port probed; default: the real's port. */
  port?: number;
  /** http/https: request path (default "/"), Host header, accepted statuses (default 200..399), body substring. */
  path?: string;
  host?: string;
  expectStatus?: number[];
  expectBody?: string;
  /** udp: datagram sent (UTF-8) and the substring the reply must contain (any reply if absent). */
  send?: string;
  expect?: string;
  /** exec: argv; the real is passed in TAPVS_REAL_IP / TAPVS_REAL_PORT / TAPVS_VIP / TAPVS_VPORT / TAPVS_PROTO. */
  command?: string[];
  onFail: HealthOnFail;
  source: HealthSource;
}

/**
 * Why source 'tap' is refused for now: the director's addresses exist only in the userspace dataplane, which
 * has no TCP/UDP stack to open connections from them (it forwards and answers ARP/ping, nothing more).
 */
export const TAP_SOURCE_UNSUPPORTED =
  'health check source "tap" is not supported by this tapvs version: the director\'s addresses live only in the ' +
  'userspace dataplane, which has no TCP/UDP stack to originate probes; use source "host" (probes from the ' +
  'director host\'s own address on the reals\' network)';

export const HEALTH_DEFAULTS = {
  intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, onFail: 'quiesce', source: 'host',
} as const satisfies Partial<HealthCheckSpec>;

const KEYS = new Set([
  'kind', 'intervalMs', 'timeoutMs', 'rise', 'fall', 'port', 'path', 'host', 'expectStatus', 'expectBody',
  'send', 'expect', 'command', 'onFail', 'source',
]);

function int(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalid(`health check ${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function str(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096) {
    throw invalid(`health check ${name} must be a non-empty string`);
  }
  return v;
}

function oneOf<T extends string>(v: unknown, name: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw invalid(`health check ${name} must be one of ${allowed.join(', ')}`);
  return v as T;
}

/** Validates an API-supplied spec (unknown keys rejected) and fills in defaults. Throws LbError (EINVAL). */
export function validateHealthSpec(raw: unknown): HealthCheckSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid('health check must be an object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw invalid(`health check: unknown key "${k}"`);
  const kind = oneOf(o.kind, 'kind', HEALTH_KINDS);
  const spec: HealthCheckSpec = {
    kind,
    intervalMs: o.intervalMs === undefined ? HEALTH_DEFAULTS.intervalMs : int(o.intervalMs, 'intervalMs', 100, 3_600_000),
    timeoutMs: o.timeoutMs === undefined ? HEALTH_DEFAULTS.timeoutMs : int(o.timeoutMs, 'timeoutMs', 10, 600_000),
    rise: o.rise === undefined ? HEALTH_DEFAULTS.rise : int(o.rise, 'rise', 1, 100),
    fall: o.fall === undefined ? HEALTH_DEFAULTS.fall : int(o.fall, 'fall', 1, 100),
    onFail: o.onFail === undefined ? HEALTH_DEFAULTS.onFail : oneOf(o.onFail, 'onFail', HEALTH_ON_FAIL),
    source: o.source === undefined ? HEALTH_DEFAULTS.source : oneOf(o.source, 'source', HEALTH_SOURCES),
  };
  if (spec.timeoutMs > spec.intervalMs) throw invalid('health check timeoutMs must not exceed intervalMs');
  if (o.port !== undefined) spec.port = int(o.port, 'port', 1, 65535);
  if (o.path !== undefined) {
    spec.path = str(o.path, 'path');
    if (!spec.path.startsWith('/')) throw invalid('health check path must start with "/"');
  }
  if (o.host !== undefined) spec.host = str(o.host, 'host');
  if (o.expectStatus !== undefined) {
    if (!Array.isArray(o.expectStatus) || o.expectStatus.length === 0) {
      throw invalid('health check expectStatus must be a non-empty list of HTTP statuses');
    }
    spec.expectStatus = o.expectStatus.map((s, i) => int(s, `expectStatus[${i}]`, 100, 599));
  }
  if (o.expectBody !== undefined) spec.expectBody = str(o.expectBody, 'expectBody');
  if (o.send !== undefined) spec.send = str(o.send, 'send');
  if (o.expect !== undefined) spec.expect = str(o.expect, 'expect');
  if (o.command !== undefined) {
    if (!Array.isArray(o.command) || o.command.length === 0) throw invalid('health check command must be a non-empty argv list');
    spec.command = o.command.map((a, i) => str(a, `command[${i}]`));
  }
  const http = kind === 'http' || kind === 'https';
  for (const k of ['path', 'host', 'expectStatus', 'expectBody'] as const) {
    if (spec[k] !== undefined && !http) throw invalid(`health check ${k} applies to http/https checks only`);
  }
  for (const k of ['send', 'expect'] as const) {
    if (spec[k] !== undefined && kind !== 'udp') throw invalid(`health check ${k} applies to udp checks only`);
  }
  if (kind === 'exec' && !spec.command) throw invalid('health check kind exec needs command');
  if (kind !== 'exec' && spec.command) throw invalid('health check command applies to exec checks only');
  if (kind === 'exec' && spec.source === 'tap') throw invalid('health check kind exec runs on the host (source tap not possible)');
  if (spec.source === 'tap') throw invalid(TAP_SOURCE_UNSUPPORTED);
  return spec;
}
