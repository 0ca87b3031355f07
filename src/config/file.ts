/**
 * The declarative config file (`tapvs apply FILE`, `tapvs run --config FILE`): YAML 1.2 (so JSON too) →
 * checked with the zod schemas of file-schema.ts → the control API's DesiredConfig (the `apply` op's input),
 * health checks converted to the HealthCheckSpec contract and checked by it.
 *
 * Every problem found is reported, each with its path and rule (`services[1].reals[0].weight: must be an
 * integer in 0..65535`) and the line it is on; nothing is applied unless the whole file is clean.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { LbError } from '../errors.js';
import type { DesiredConfig, DesiredService, RealSpec } from '../control/protocol.js';
import { validateHealthSpec, type HealthCheckSpec } from './health-spec.js';
import { ConfigFile, type HealthFileData, type ServiceFileData } from './file-schema.js';

export interface ConfigIssue {
  /** `services[1].reals[0].weight`; '' for the whole file. */
  path: string;
  message: string;
  /** 1-based line in the file, when known. */
  line?: number;
}

/** `services[1].reals[0].weight: must be ...` */
export function issueText(i: ConfigIssue): string {
  return i.path === '' ? i.message : `${i.path}: ${i.message}`;
}

/** A file that does not describe a valid config; `message` has one `FILE:LINE: path: rule` line per issue. */
export class ConfigError extends Error {
  constructor(
    readonly issues: ConfigIssue[],
    readonly file = '<config>',
  ) {
    super(issues.map((i) => `${file}:${i.line === undefined ? '' : `${i.line}:`} ${issueText(i)}`).join('\n'));
    this.name = 'ConfigError';
  }
}

type Path = (string | number)[];

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

/** The line of the node at `path` (or of its nearest ancestor); of the key itself when `key` is given. */
function lineOf(doc: Document, lc: LineCounter, path: Path, key?: string): number | undefined {
  for (let k = path.length; k >= 0; k--) {
    const node = (k === 0 ? doc.contents : doc.getIn(path.slice(0, k), true)) as { range?: [number, number, number] } | null | undefined;
    if (!node || typeof node !== 'object' || !node.range) continue;
    if (key !== undefined && k === path.length && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (pair && isScalar(pair.key) && pair.key.range) return lc.linePos(pair.key.range[0]).line;
    }
    return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

/** HealthCheckSpec field → the file's spelling, for the contract's messages. */
const HEALTH_NAMES: Record<string, string> = {
  intervalMs: 'interval', timeoutMs: 'timeout', expectStatus: 'expect_status', expectBody: 'expect_body', onFail: 'on_fail',
};

/** The health contract's message (`health check intervalMs must be ...`) as a file issue under `base`. */
function healthIssue(base: Path, err: LbError): { path: Path; message: string } {
  const m = /^health check:? (\w+)((?:\[\d+\])?) (.*)$/.exec(err.message);
  if (!m) return { path: [...base, 'healthcheck'], message: err.message.replace(/^health check:? ?/, '') };
  const field = HEALTH_NAMES[m[1]!] ?? m[1]!;
  let rest = m[3]!.replace(/\b(intervalMs|timeoutMs|expectStatus|expectBody|onFail)\b/g, (n) => HEALTH_NAMES[n]!);
  if (/Ms$/.test(m[1]!)) rest = rest.replace(/an integer in (\d+)\.\.(\d+), got (\S+)/, 'from $1ms to $2ms, got $3ms');
  const idx = m[2] ? Number(m[2].slice(1, -1)) : undefined;
  return { path: [...base, 'healthcheck', field, ...(idx === undefined ? [] : [idx])], message: rest };
}

function healthSpec(h: HealthFileData): HealthCheckSpec {
  const raw: Record<string, unknown> = {
    kind: h.kind, intervalMs: h.interval, timeoutMs: h.timeout, rise: h.rise, fall: h.fall, port: h.port, path: h.path,
    host: h.host, expectStatus: typeof h.expect_status === 'number' ? [h.expect_status] : h.expect_status,
    expectBody: h.expect_body, send: h.send, expect: h.expect, command: h.command, onFail: h.on_fail, source: h.source,
  };
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  return validateHealthSpec(raw);
}

/** Drops undefined fields (the apply op takes an absent field as its default). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function toService(s: ServiceFileData, health: HealthCheckSpec | null): DesiredService {
  const reals: RealSpec[] = (s.reals ?? []).map((r) =>
    defined({ rip: r.address.ip, rport: r.address.port, method: r.method, weight: r.weight, uthreshold: r.u_threshold, lthreshold: r.l_threshold }),
  );
  return defined({
    proto: s.proto, vip: s.vip.ip, vport: s.vip.port!, scheduler: s.scheduler, schedFlags: s.sched_flags,
    persistent: s.persistence?.timeout, netmask: s.persistence?.netmask, mhTableSize: s.mh_table_size,
    laddrs: s.local_addresses, clientIp: s.client_ip as DesiredService['clientIp'], health, reals,
  });
}

/**
 * Parses a config file's text. Throws ConfigError listing every issue (YAML syntax, shape, health contract).
 * `file` names the file in the error text.
 */
export function parseConfigText(text: string, file = '<config>'): DesiredConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, line: e.linePos?.[0].line })),
      file,
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError([{ path: '', message: `YAML: ${(err as Error).message}` }], file);
  }
  if (data === null || data === undefined) throw new ConfigError([{ path: '', message: "the file is empty (a config has at least 'services:')" }], file);
  const parsed = ConfigFile.safeParse(data);
  const issues: ConfigIssue[] = [];
  if (!parsed.success) {
    for (const iss of parsed.error.issues) {
      const path = iss.path as Path;
      const keys = iss.code === 'unrecognized_keys' ? iss.keys : [undefined];
      iss.message.split('\n').forEach((message, k) => issues.push({ path: formatPath(path), message, line: lineOf(doc, lc, path, keys[k]) }));
    }
    // In file order (zod reports an object's unknown keys after its fields).
    throw new ConfigError(issues.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity)), file);
  }
  const services: DesiredService[] = [];
  parsed.data.services.forEach((s, i) => {
    let health: HealthCheckSpec | null = null;
    if (s.healthcheck !== undefined) {
      try {
        health = healthSpec(s.healthcheck);
      } catch (err) {
        if (!(err instanceof LbError)) throw err;
        const { path, message } = healthIssue(['services', i], err);
        issues.push({ path: formatPath(path), message, line: lineOf(doc, lc, path) });
      }
    }
    services.push(toService(s, health));
  });
  if (issues.length > 0) throw new ConfigError(issues, file);
  const t = parsed.data.timeouts;
  return { services, ...(t ? { timeouts: defined({ tcp: t.tcp, tcpfin: t.tcp_fin, udp: t.udp }) } : {}) };
}

/** Reads and parses a config file; a file that cannot be read is a ConfigError too. */
export function loadConfigFile(path: string): DesiredConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read the file: ${(err as Error).message}` }], path);
  }
  return parseConfigText(text, path);
}
