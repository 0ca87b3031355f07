/**
 * Prometheus exposition (prom-client) of what the control thread already aggregates: `list` (per service and
 * real) and `status` (per worker). Nothing runs per packet: every metric is filled by its `collect()` at scrape
 * time from one `list` + `status` taken at the start of the scrape, so a scrape is consistent with itself and
 * its figures are exactly what `tapvsadm -L -n --stats` and `tapvsadm --drops` show at that moment.
 *
 * Labels: service="tcp/VIP:port", real="RIP:port", worker="N", reason=<drop reason>, state=<health state>.
 * The HTTP server (startMetricsServer) answers GET /metrics only; it binds where it is told (the daemon's
 * default is loopback).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { COUNTERS, DROP_REASONS } from '../worker/stats.js';
import type { Control } from './control.js';
import type { ListResult, RealInfo, ServiceInfo, StatusResult } from './protocol.js';

/** Default metrics listen address of `tapvs run` (loopback only). */
export const DEFAULT_METRICS_HOST = '127.0.0.1';
export const DEFAULT_METRICS_PORT = 9475;

const P = 'tapvs_';

export const serviceLabel = (s: ServiceInfo): string => `${s.proto}/${s.vip}:${s.vport}`;
export const realLabel = (r: RealInfo): string => `${r.rip}:${r.rport}`;

interface Scrape {
  list: ListResult;
  status: StatusResult;
}

type Labels = Record<string, string | number>;
type Fill = (emit: (labels: Labels, value: number) => void, s: Scrape) => void;

/** Per-service (and per-real) counters as the listing shows them. */
const STAT_METRICS = [
  ['connections_total', 'conns', 'Connections scheduled (ipvsadm --stats Conns)'],
  ['incoming_packets_total', 'inpkts', 'Packets from clients (ipvsadm --stats InPkts)'],
  ['outgoing_packets_total', 'outpkts', 'Packets to clients (ipvsadm --stats OutPkts)'],
  ['incoming_bytes_total', 'inbytes', 'Bytes from clients (ipvsadm --stats InBytes)'],
  ['outgoing_bytes_total', 'outbytes', 'Bytes to clients (ipvsadm --stats OutBytes)'],
] as const;

const HEALTH_STATES = ['up', 'down', 'unknown'] as const;

/** The metrics registry of one Control. */
export class ControlMetrics {
  readonly registry = new Registry();
  private scrape: Scrape | null = null;

  constructor(private readonly control: Control, opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: P });
    const svcs = (s: Scrape) => s.list.services;
    const reals = function* (s: Scrape) {
      for (const svc of s.list.services) for (const r of svc.reals) yield { service: serviceLabel(svc), real: realLabel(r), r };
    };

    this.gauge('up', 'The daemon answers (always 1 in a scrape that succeeds)', [], (emit) => emit({}, 1));
    this.gauge('snapshot_version', 'Current configuration snapshot version', [], (emit, s) => emit({}, s.status.version));
    this.gauge('uptime_seconds', 'Seconds since the daemon started', [], (emit, s) => emit({}, s.status.uptimeSec));
    this.gauge('services', 'Virtual services configured', [], (emit, s) => emit({}, svcs(s).length));

    for (const [name, field, help] of STAT_METRICS) {
      this.counter(`service_${name}`, `${help}, per virtual service`, ['service'], (emit, s) => {
        for (const svc of svcs(s)) emit({ service: serviceLabel(svc) }, svc.stats[field]);
      });
      this.counter(`real_${name}`, `${help}, per real server`, ['service', 'real'], (emit, s) => {
        for (const { service, real, r } of reals(s)) emit({ service, real }, r.stats[field]);
      });
    }
    const realGauge = (name: string, help: string, value: (r: RealInfo) => number) =>
      this.gauge(name, help, ['service', 'real'], (emit, s) => {
        for (const { service, real, r } of reals(s)) emit({ service, real }, value(r));
      });
    realGauge('real_connections_active', 'Active connections (ipvsadm ActiveConn)', (r) => r.active);
    realGauge('real_connections_inactive', 'Inactive connections (ipvsadm InActConn)', (r) => r.inactive);
    realGauge('real_persistent_templates', 'Persistence templates (ipvsadm PersistConn)', (r) => r.persist);
    realGauge('real_weight', 'Weight the schedulers use (0 while quiesced by a health check or draining)', (r) => r.weight);
    realGauge('real_configured_weight', 'Weight set by the operator', (r) => r.configuredWeight ?? r.weight);
    realGauge('real_draining', '1 while the real drains (tapvsadm --drain)', (r) => (r.drain?.state === 'draining' ? 1 : 0));
    this.gauge('real_health_state', 'Health of a real under its service\'s check: 1 on the current state (reals without a check are absent)',
      ['service', 'real', 'state'], (emit, s) => {
        for (const { service, real, r } of reals(s)) {
          if (!r.health) continue;
          for (const state of HEALTH_STATES) emit({ service, real, state }, r.health.state === state ? 1 : 0);
        }
      });

    const workers = (s: Scrape) => s.status.workers;
    this.gauge('worker_alive', '1 while the worker thread runs', ['worker'], (emit, s) => {
      for (const w of workers(s)) emit({ worker: w.id }, w.alive ? 1 : 0);
    });
    this.gauge('worker_snapshot_version', 'Snapshot version the worker applied', ['worker'], (emit, s) => {
      for (const w of workers(s)) emit({ worker: w.id }, w.appliedVersion);
    });
    this.gauge('worker_connections', 'Connection entries in the worker\'s table', ['worker'], (emit, s) => {
      for (const w of workers(s)) emit({ worker: w.id }, w.conns);
    });
    this.counter('worker_restarts_total', 'Times the worker was restarted (crash or restart-worker)', ['worker'], (emit, s) => {
      for (const w of workers(s)) emit({ worker: w.id }, w.restarts);
    });
    this.counter('worker_drops_total', 'Packets dropped by the worker, by reason (src/worker/stats.ts DROP_REASONS)', ['worker', 'reason'], (emit, s) => {
      for (const w of workers(s)) for (const reason of DROP_REASONS) emit({ worker: w.id, reason }, w.drops[reason] ?? 0);
    });
    for (const c of COUNTERS) {
      this.counter(`worker_${c}_total`, `Worker event counter ${c} (src/worker/stats.ts COUNTERS)`, ['worker'], (emit, s) => {
        for (const w of workers(s)) emit({ worker: w.id }, w.counters[c] ?? 0);
      });
    }
  }

  /** The exposition text. Takes one `list` + `status` for the whole scrape. */
  async metrics(): Promise<string> {
    this.scrape = { list: this.control.list(), status: this.control.status() };
    try {
      return await this.registry.metrics();
    } finally {
      this.scrape = null;
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private current(): Scrape {
    return this.scrape ?? { list: this.control.list(), status: this.control.status() };
  }

  private gauge(name: string, help: string, labelNames: string[], fill: Fill): void {
    const self = this;
    new Gauge({
      name: P + name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        fill((labels, v) => this.set(labels, v), self.current());
      },
    });
  }

  /** A counter set to the aggregated value at each scrape (reset + inc: prom-client has no counter set()). */
  private counter(name: string, help: string, labelNames: string[], fill: Fill): void {
    const self = this;
    new Counter({
      name: P + name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        // -Z lowers the listed figures: Prometheus sees a counter reset, as after a restart.
        fill((labels, v) => this.inc(labels, Math.max(0, v)), self.current());
      },
    });
  }
}

export interface MetricsServer {
  server: Server;
  /** Where it listens (port resolved when 0 was asked for). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** Serves GET /metrics on host:port; rejects with a clear error when the address cannot be bound. */
export async function startMetricsServer(metrics: ControlMetrics, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      metrics.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(req.method === 'HEAD' ? undefined : text),
        (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('tapvs: metrics are at /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot serve metrics on ${host}:${port}: ${err.code ?? err.message} (choose another with --metrics ADDR:PORT, or --no-metrics)`)));
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    server, address: { host: a.address, port: a.port },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
