/**
 * Prometheus exposition of a Control with one InlineWorker over the in-memory PacketIO: after some frames, the
 * scraped text (parsed back) carries exactly the figures of `list` and `status`. Also the HTTP server and the
 * `tapvs run --metrics` option parsing. No root.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlMetrics, startMetricsServer, type MetricsServer } from '../../src/control/metrics.js';
import { buildProgram, listenAddr } from '../../src/cli/tapvs.js';
import { COUNTERS, DROP_REASONS } from '../../src/worker/stats.js';
import { parseFrame, pkt } from '../helpers/packet-builder.js';
import { CIP, CLIENT_MAC, DIR_MAC, MACS, R1, R2, VIP, answerArp, bed, ok, svcKey, syn, type Bed } from '../helpers/inline-bed.js';

/** `name{a="x",b="y"} value` lines → name → (sorted label string → value). */
function parseExposition(text: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}=${x[2]}`).sort().join(',');
    if (!out.has(m[1]!)) out.set(m[1]!, new Map());
    out.get(m[1]!)!.set(labels, Number(m[3]));
  }
  return out;
}

describe('metrics of a Control (prom-client registry, filled at scrape time)', () => {
  let b: Bed;
  beforeEach(async () => {
    b = await bed();
    await ok(b.control, { op: 'add-service', service: { ...svcKey, scheduler: 'rr' } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R1, rport: 8080, method: 'nat', weight: 3 } });
    await ok(b.control, { op: 'add-real', service: svcKey, real: { rip: R2, rport: 8080, method: 'nat', weight: 1 } });
    answerArp(b);
  });

  it('exports per service, real and worker exactly what list and status show', async () => {
    for (let i = 0; i < 6; i++) b.io.inject(syn(42000 + i));
    b.w.pump();
    const fwd = answerArp(b);
    expect(fwd.length).toBe(6);
    // The real of the first conn answers; a UDP datagram to the VIP on a port without service; a TCP ACK with no conn.
    const first = parseFrame(fwd[0]!);
    expect(first.tcp!.sport).toBe(42000);
    const r0 = first.ip!.dst;
    b.io.inject(pkt().eth({ src: MACS[r0]!, dst: DIR_MAC }).ipv4({ src: r0, dst: CIP }).tcp({ sport: 8080, dport: 42000, flags: 'SA', seq: 9, ack: 1001 }).payload('').build());
    b.io.inject(pkt().eth({ src: CLIENT_MAC, dst: DIR_MAC }).ipv4({ src: CIP, dst: VIP }).udp({ sport: 5000, dport: 9999 }).payload('x').build());
    b.io.inject(syn(43000, 'A'));
    b.w.pump();
    answerArp(b);
    // A health check that has not run yet (the checker is not started): every real is unknown.
    await ok(b.control, { op: 'set-health', service: svcKey, check: { kind: 'tcp' } });

    const m = new ControlMetrics(b.control);
    const text = await m.metrics();
    const x = parseExposition(text);
    const list = b.control.list();
    const status = b.control.status();
    const get = (name: string, labels: string) => x.get(name)?.get(labels);

    expect(get('tapvs_up', '')).toBe(1);
    expect(get('tapvs_snapshot_version', '')).toBe(status.version);
    expect(get('tapvs_services', '')).toBe(1);
    const svc = list.services[0]!;
    const sl = `service=tcp/${VIP}:80`;
    expect(svc.stats.conns).toBe(6);
    expect(get('tapvs_service_connections_total', sl)).toBe(6);
    expect(get('tapvs_service_incoming_packets_total', sl)).toBe(svc.stats.inpkts);
    expect(get('tapvs_service_outgoing_packets_total', sl)).toBe(1);
    expect(get('tapvs_service_incoming_bytes_total', sl)).toBe(svc.stats.inbytes);
    expect(get('tapvs_service_outgoing_bytes_total', sl)).toBe(svc.stats.outbytes);
    for (const r of svc.reals) {
      const rl = `real=${r.rip}:${r.rport},${sl}`;
      expect(get('tapvs_real_connections_total', rl)).toBe(r.stats.conns);
      expect(get('tapvs_real_incoming_packets_total', rl)).toBe(r.stats.inpkts);
      expect(get('tapvs_real_outgoing_packets_total', rl)).toBe(r.stats.outpkts);
      expect(get('tapvs_real_incoming_bytes_total', rl)).toBe(r.stats.inbytes);
      expect(get('tapvs_real_outgoing_bytes_total', rl)).toBe(r.stats.outbytes);
      expect(get('tapvs_real_connections_active', rl)).toBe(r.active);
      expect(get('tapvs_real_connections_inactive', rl)).toBe(r.inactive);
      expect(get('tapvs_real_weight', rl)).toBe(r.weight);
      expect(get('tapvs_real_configured_weight', rl)).toBe(r.rip === R1 ? 3 : 1);
      expect(get('tapvs_real_draining', rl)).toBe(0);
      expect(r.health?.state).toBe('unknown');
      expect(get('tapvs_real_health_state', `${rl},state=unknown`)).toBe(1);
      expect(get('tapvs_real_health_state', `${rl},state=up`)).toBe(0);
    }
    // rr over the two reals: 3 + 3 conns, the answered one counted out on its real.
    expect(svc.reals.map((r) => r.stats.conns)).toEqual([3, 3]);
    expect(svc.reals.map((r) => r.stats.outpkts)).toEqual(svc.reals.map((r) => (r.rip === r0 ? 1 : 0)));
    expect(svc.reals.map((r) => r.active + r.inactive)).toEqual([3, 3]);

    const w = status.workers[0]!;
    expect(get('tapvs_worker_alive', 'worker=0')).toBe(1);
    expect(get('tapvs_worker_snapshot_version', 'worker=0')).toBe(w.appliedVersion);
    expect(get('tapvs_worker_restarts_total', 'worker=0')).toBe(0);
    expect(get('tapvs_worker_connections', 'worker=0')).toBe(w.conns);
    for (const reason of DROP_REASONS) expect(get('tapvs_worker_drops_total', `reason=${reason},worker=0`), reason).toBe(w.drops[reason]);
    for (const c of COUNTERS) expect(get(`tapvs_worker_${c}_total`, 'worker=0'), c).toBe(w.counters[c]);
    expect(w.drops.no_service).toBe(1);
    expect(w.drops.tcp_no_conn).toBe(1);
    expect(w.counters.conns_created).toBe(6);
    expect(text).toMatch(/^# TYPE tapvs_worker_drops_total counter$/m);
    expect(text).toMatch(/^# TYPE tapvs_real_connections_active gauge$/m);

    // A deleted real leaves the exposition at the next scrape.
    await ok(b.control, { op: 'del-real', service: svcKey, real: { rip: R2, rport: 8080 } });
    const y = parseExposition(await m.metrics());
    expect([...y.get('tapvs_real_weight')!.keys()]).toEqual([`real=${R1}:8080,${sl}`]);
  });

  describe('HTTP server', () => {
    let srv: MetricsServer | null = null;
    afterEach(async () => {
      await srv?.close();
      srv = null;
    });

    it('serves /metrics (text format), 404 elsewhere, and names the address it cannot bind', async () => {
      srv = await startMetricsServer(new ControlMetrics(b.control), '127.0.0.1', 0);
      const base = `http://127.0.0.1:${srv.address.port}`;
      const r = await fetch(`${base}/metrics`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(parseExposition(await r.text()).get('tapvs_real_weight')?.size).toBe(2);
      expect((await fetch(`${base}/`)).status).toBe(404);
      await expect(startMetricsServer(new ControlMetrics(b.control), '127.0.0.1', srv.address.port)).rejects.toThrow(
        new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${srv.address.port}: EADDRINUSE .*--no-metrics`),
      );
    });
  });
});

describe('tapvs run --metrics', () => {
  const runOpts = (argv: string[]) => {
    const run = buildProgram().commands.find((c) => c.name() === 'run')!;
    run.parseOptions(argv);
    return run.opts();
  };

  it('defaults to loopback 9475, takes ADDR:PORT, and --no-metrics turns it off', () => {
    expect(runOpts([]).metrics).toEqual({ host: '127.0.0.1', port: 9475 });
    expect(runOpts(['--metrics', '0.0.0.0:9100']).metrics).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(runOpts(['--no-metrics']).metrics).toBe(false);
    expect(listenAddr(':9200')).toEqual({ host: '127.0.0.1', port: 9200 });
    expect(listenAddr('[::1]:9200')).toEqual({ host: '::1', port: 9200 });
    for (const bad of ['9475', '1.2.3.4:', '1.2.3.4:70000', 'a b:1']) expect(() => listenAddr(bad), bad).toThrow(/expected ADDR:PORT/);
  });
});
