/**
 * The config file's shape as zod schemas, with the rule of every check in its message ("must be an integer in
 * 0..65535"), unknown keys refused with a near-miss hint. Only shapes, types and ranges are checked here; the
 * rules that involve several fields or the running state (scheduler flags per scheduler, local addresses on a
 * director prefix, FULLNAT reals needing a local address, ...) are the service table's (control/state.ts) and
 * the health contract's (health-spec.ts), so they are never written twice.
 */
import * as z from 'zod';
import { MAX_WEIGHT } from '../defaults.js';
import { DEFAULT_MH_TABLE_SIZE, MH_TABLE_SIZES } from '../sched/mh.js';
import { SCHEDULER_ALIASES, schedulerNames } from '../sched/registry.js';
import { parseIPv4 } from '../util/addr.js';
import { HEALTH_KINDS, HEALTH_ON_FAIL, HEALTH_SOURCES } from './health-spec.js';
import { CLIENT_IP_CODES } from './snapshot.js';
import { didYouMean } from './near-miss.js';

/** Longest timeout (seconds): 31 days, ipvsadm's MAX_TIMEOUT. */
export const MAX_TIMEOUT_S = 86400 * 31;
const INT_MAX = 0x7fffffff;
const SCHED_FLAGS = ['flag-1', 'flag-2', 'flag-3', 'sh-fallback', 'sh-port', 'mh-fallback', 'mh-port'] as const;
const METHODS = ['nat', 'dr', 'tun', 'fullnat'] as const;
const PROTOS = ['tcp', 'udp'] as const;

type Iss = { input?: unknown };
/** A check's message: "is required" for a missing value, else the rule. */
const rule = (text: string) => ({ error: (iss: Iss) => (iss.input === undefined ? 'is required' : text) });

function int(min: number, max: number) {
  const m = rule(`must be an integer in ${min}..${max}`);
  return z.number(m).int(m).min(min, m).max(max, m);
}

const str = () => z.string(rule('must be a string')).min(1, rule('must not be empty'));

function oneOf<T extends readonly [string, ...string[]]>(values: T, what = '') {
  return z.enum(values, {
    error: (iss: Iss) =>
      iss.input === undefined
        ? 'is required'
        : typeof iss.input === 'string'
          ? `'${iss.input}' is not ${what || 'one of'} ${values.join(', ')}${didYouMean(iss.input, values)}`
          : `must be one of ${values.join(', ')}`,
  });
}

/** A mapping with exactly these keys (all optional unless their schema says otherwise). */
function mapping<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss: Iss & { code?: string; keys?: string[] }) =>
      iss.code === 'unrecognized_keys'
        ? iss.keys!.map((k) => `unknown key '${k}'${didYouMean(k, known)}`).join('\n')
        : iss.input === undefined
          ? 'is required'
          : 'must be a mapping (key: value)',
  });
}

const list = <T extends z.ZodType>(item: T) => z.array(item, rule('must be a list'));

const ipv4 = () => z.string(rule('must be an IPv4 address (a.b.c.d)')).refine((s) => parseIPv4(s) >= 0, 'must be an IPv4 address (a.b.c.d)');

/** `a.b.c.d:port` (port required) or `a.b.c.d[:port]`. */
function endpoint(portRequired: boolean) {
  const text = portRequired ? 'must be an IPv4 address and port, such as 10.0.0.100:80' : 'must be an IPv4 address with an optional port, such as 10.0.1.11:8080';
  const re = portRequired ? /^([\d.]+):(\d{1,5})$/ : /^([\d.]+)(?::(\d{1,5}))?$/;
  return z
    .string(rule(text))
    .refine((s) => {
      const m = re.exec(s);
      return m !== null && parseIPv4(m[1]!) >= 0 && (m[2] === undefined || (Number(m[2]) >= 1 && Number(m[2]) <= 65535));
    }, text)
    .transform((s) => {
      const m = re.exec(s)!;
      return { ip: m[1]!, port: m[2] === undefined ? undefined : Number(m[2]) };
    });
}

const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "2s", "1m30s", "1.5h", or a bare number of seconds → milliseconds; undefined if malformed. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : undefined;
  if (typeof v !== 'string' || !DURATION_RE.test(v)) return undefined;
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Math.round(ms);
}

const DURATION_TEXT = 'must be a duration such as 500ms, 2s or 1m30s (a bare number is seconds)';

/** A duration in milliseconds (health checks; the ranges are the health contract's). */
function durationMs() {
  return z.unknown().transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: v === undefined ? 'is required' : DURATION_TEXT, input: v });
      return z.NEVER;
    }
    return ms;
  });
}

/** A duration in whole seconds within min..max (IPVS timeouts). */
function durationS(min: number, max: number) {
  return z.unknown().transform((v, ctx) => {
    const ms = parseDuration(v);
    let message: string | undefined;
    if (ms === undefined) message = v === undefined ? 'is required' : DURATION_TEXT;
    else if (ms % 1000 !== 0) message = 'must be a whole number of seconds';
    else if (ms / 1000 < min || ms / 1000 > max) message = `must be from ${min}s to ${max}s`;
    if (message !== undefined) {
      ctx.addIssue({ code: 'custom', message, input: v });
      return z.NEVER;
    }
    return ms! / 1000;
  });
}

const HealthFile = mapping({
  kind: oneOf(HEALTH_KINDS),
  interval: durationMs().optional(),
  timeout: durationMs().optional(),
  rise: int(1, 100).optional(),
  fall: int(1, 100).optional(),
  port: int(1, 65535).optional(),
  path: str().optional(),
  host: str().optional(),
  expect_status: z.union([int(100, 599), list(int(100, 599))], rule('must be an HTTP status or a list of them')).optional(),
  expect_body: str().optional(),
  send: str().optional(),
  expect: str().optional(),
  command: list(str()).min(1, rule('must be a non-empty list (the argv)')).optional(),
  on_fail: oneOf(HEALTH_ON_FAIL).optional(),
  source: oneOf(HEALTH_SOURCES).optional(),
});

const RealFile = mapping({
  address: endpoint(false),
  method: oneOf(METHODS).optional(),
  weight: int(0, MAX_WEIGHT).optional(),
  u_threshold: int(0, INT_MAX).optional(),
  l_threshold: int(0, INT_MAX).optional(),
});

const SCHEDULER_NAMES = [...schedulerNames(), ...Object.keys(SCHEDULER_ALIASES)] as [string, ...string[]];

const ServiceFile = mapping({
  proto: oneOf(PROTOS),
  vip: endpoint(true),
  scheduler: oneOf(SCHEDULER_NAMES, 'a scheduler:').optional(),
  sched_flags: list(oneOf(SCHED_FLAGS)).optional(),
  persistence: mapping({ timeout: durationS(1, MAX_TIMEOUT_S), netmask: ipv4().optional() }).optional(),
  mh_table_size: z
    .number(rule(`must be one of ${MH_TABLE_SIZES.join(', ')}`))
    .refine((n) => MH_TABLE_SIZES.includes(n), `must be one of ${MH_TABLE_SIZES.join(', ')} (a prime; default ${DEFAULT_MH_TABLE_SIZE})`)
    .optional(),
  local_addresses: list(ipv4()).optional(),
  client_ip: oneOf(Object.keys(CLIENT_IP_CODES) as [string, ...string[]]).optional(),
  healthcheck: HealthFile.optional(),
  reals: list(RealFile).optional(),
});

export const ConfigFile = mapping({
  version: z.literal(1, rule('must be 1 (the only version of this format)')).optional(),
  timeouts: mapping({
    tcp: durationS(1, MAX_TIMEOUT_S).optional(),
    tcp_fin: durationS(1, MAX_TIMEOUT_S).optional(),
    udp: durationS(1, MAX_TIMEOUT_S).optional(),
  }).optional(),
  services: list(ServiceFile),
});

export type ConfigFileData = z.output<typeof ConfigFile>;
export type ServiceFileData = z.output<typeof ServiceFile>;
export type HealthFileData = z.output<typeof HealthFile>;
