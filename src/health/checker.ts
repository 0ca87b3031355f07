/**
 * The health checker: runs every service's check against each of its reals on the control thread and turns
 * results into state changes that go through the normal snapshot publish.
 *
 * It follows the service table rather than owning configuration: after every publish `sync()` starts a prober
 * for each (service with a check, real) pair, restarts one whose spec changed, and stops those whose real or
 * check is gone, whoever made the change (set-health, a config apply, -d). A real's health state lives on the
 * real (RealState.check), so it survives republishes and spec edits.
 *
 * Each prober runs one probe at a time: the next starts `intervalMs` after the previous one started (a probe
 * ends within `timeoutMs` <= `intervalMs`); the first starts after a random part of the interval (at most 1 s)
 * so a service's probes spread out. A transition into or out of DOWN asks for a publish, where the real gets
 * weight 0 (onFail 'quiesce') or is left out of the snapshot (onFail 'remove'); see state.ts effectiveWeight.
 */
import { TAP_SOURCE_UNSUPPORTED, type HealthCheckSpec } from '../config/health-spec.js';
import type { RealState, ServiceState, ServiceTable } from '../control/state.js';
import { formatIPv4 } from '../util/addr.js';
import { log } from '../util/log.js';
import { probe, type ProbeTarget } from './probes.js';
import { newRealHealth, recordResult } from './state-machine.js';

export interface HealthHost {
  readonly table: ServiceTable;
  /** Publishes the current state soon (coalesced). */
  requestPublish(): void;
}

/** A probe function (tests substitute their own). */
export type ProbeFn = (spec: HealthCheckSpec, t: ProbeTarget) => Promise<string | null>;

const FIRST_PROBE_SPREAD_MS = 1000;

class Prober {
  private timer: NodeJS.Timeout | null = null;
  stopped = false;

  constructor(
    private readonly checker: HealthChecker,
    readonly svc: ServiceState,
    readonly real: RealState,
    readonly spec: HealthCheckSpec,
    readonly specJson: string,
  ) {}

  start(): void {
    this.schedule(Math.floor(Math.random() * Math.min(this.spec.intervalMs, FIRST_PROBE_SPREAD_MS)));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.run(), ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const started = this.checker.now();
    const s = this.svc;
    const t: ProbeTarget = {
      rip: formatIPv4(this.real.addr), port: this.spec.port ?? this.real.port, vip: formatIPv4(s.addr), vport: s.port, proto: s.proto,
    };
    let err: string | null;
    try {
      err = await this.checker.probeFn(this.spec, t);
    } catch (e) {
      err = `probe failed: ${(e as Error).message}`;
    }
    if (this.stopped) return;
    this.checker.result(this.svc, this.real, this.spec, err);
    this.schedule(Math.max(0, this.spec.intervalMs - (this.checker.now() - started)));
  }
}

export class HealthChecker {
  private readonly probers = new Map<string, Prober>();
  private running = false;

  constructor(
    private readonly host: HealthHost,
    readonly probeFn: ProbeFn = probe,
    readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.running = true;
    this.sync();
  }

  stop(): void {
    this.running = false;
    for (const p of this.probers.values()) p.stop();
    this.probers.clear();
  }

  /** Number of running probers (for tests and status). */
  get size(): number {
    return this.probers.size;
  }

  /** Brings the probers in line with the service table (called after every publish). */
  sync(): void {
    const seen = new Set<string>();
    for (const svc of this.host.table.list()) {
      if (!svc.health) {
        for (const r of svc.reals) delete r.check;
        continue;
      }
      const spec = svc.health;
      const json = JSON.stringify(spec);
      // A spec that reached the table without validateHealthSpec (e.g. from a config file) may still say 'tap':
      // nothing is probed (from the host instead would be a different check); the reals stay unknown, with why.
      const unsupported = spec.source === 'tap';
      for (const r of svc.reals) {
        r.check ??= newRealHealth(this.now());
        if (unsupported) r.check.lastError = TAP_SOURCE_UNSUPPORTED;
        if (!this.running || unsupported) continue;
        const key = `${svc.proto}/${svc.addr}:${svc.port}/${r.addr}:${r.port}`;
        seen.add(key);
        let p = this.probers.get(key);
        if (p && (p.specJson !== json || p.real !== r || p.svc !== svc)) {
          p.stop();
          p = undefined;
        }
        if (!p) {
          p = new Prober(this, svc, r, spec, json);
          this.probers.set(key, p);
          p.start();
        }
      }
    }
    for (const [key, p] of this.probers) {
      if (!seen.has(key)) {
        p.stop();
        this.probers.delete(key);
      }
    }
  }

  /** Records a probe result; a change into or out of DOWN is logged and published. */
  result(svc: ServiceState, r: RealState, spec: HealthCheckSpec, err: string | null): void {
    if (!r.check) return;
    const before = r.check.state;
    const after = recordResult(r.check, spec.rise, spec.fall, err, this.now());
    if (after === null) return;
    const fields = {
      service: `${svc.proto.toUpperCase()} ${formatIPv4(svc.addr)}:${svc.port}`, real: `${formatIPv4(r.addr)}:${r.port}`,
      from: before, to: after, check: spec.kind, ...(err ? { error: err } : {}),
      ...(after === 'down' ? { action: spec.onFail === 'remove' ? 'removed from scheduling' : 'quiesced (weight 0)' } : {}),
    };
    log(after === 'down' ? 'warn' : 'info', 'health transition', fields);
    if (after === 'down' || before === 'down') this.host.requestPublish();
  }
}
