/**
 * Starting and stopping a director: open the TAP queue(s) on the control thread, start one worker thread per
 * queue, start the control API socket. Used by `tapvs run` and by the end-to-end tests.
 */
import { createHash } from 'node:crypto';
import { ARP_MAX_ENTRIES, DEFAULT_BATCH, DEFAULT_MAX_CONNS } from './defaults.js';
import { DEFAULT_MTU, type ConnPolicy, type NetConfig, type Snapshot } from './config/snapshot.js';
import { Control } from './control/control.js';
import type { ApplyResult, DesiredConfig } from './control/protocol.js';
import { ControlServer } from './control/server.js';
import { ControlMetrics, startMetricsServer, type MetricsServer } from './control/metrics.js';
import type { SocketGroup } from './control/peer.js';
import { ThreadWorker } from './control/workers.js';
import { LbError } from './errors.js';
import { checkNative, native, TAP_MULTI_QUEUE, TAP_VNET_HDR, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO_ECN } from './io/native.js';
import { attachSteering } from './io/steering.js';
import { SharedNeighbors } from './worker/shared-neigh.js';
import { formatIPv4 } from './util/addr.js';
import { log } from './util/log.js';

export interface DaemonOptions {
  tap: string;
  workers: number;
  addrs: { addr: number; prefix: number }[];
  gateway: number;
  /** Director MAC; default derived from the TAP name (locally administered, stable across restarts). */
  mac?: string;
  socket: string;
  maxConns?: number;
  batch?: number;
  verifyL4?: boolean;
  /** TAP offloads (IFF_VNET_HDR + TUNSETOFFLOAD CSUM|TSO4): GSO super-frames through NAT/DR. Default true. */
  offload?: boolean;
  /** io_uring batched I/O in the workers (default true; falls back to read/write where unavailable). */
  uring?: boolean;
  /** IPVS expire_nodest_conn / expire_quiescent_template behaviours (default off, as IPVS). */
  policy?: Partial<ConnPolicy>;
  /** MTU of the TAP segment (default DEFAULT_MTU); TUN's tunnel MTU is this − 20. */
  mtu?: number;
  /** FULLNAT local port range (default 1025..65535), shared out between the workers. */
  lportRange?: [number, number];
  /** Configuration applied before the workers start (`tapvs run --config FILE`); refused → the daemon does not start. */
  config?: DesiredConfig;
  /** Prometheus exposition on http://host:port/metrics (port 0: any free port); absent: no metrics server. */
  metrics?: { host: string; port: number };
  /** Group allowed on the control socket besides root and the daemon's user (socket mode 0660). */
  socketGroup?: SocketGroup | null;
}

export interface Daemon {
  control: Control;
  server: ControlServer;
  workers: ThreadWorker[];
  net: NetConfig;
  /** What applying `config` at start changed (absent without a config). */
  configApplied?: ApplyResult;
  /** The metrics server, when `metrics` was given. */
  metrics?: MetricsServer;
  stop(): Promise<void>;
}

/** A locally administered unicast MAC derived from a name. */
export function macFromName(name: string): string {
  const h = createHash('sha256').update(`tapvs:${name}`).digest();
  const b = [0x02, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  if (o.addrs.length === 0) throw new LbError('EINVAL', 'at least one director address (--addr IP/PREFIX) is needed');
  const net: NetConfig = {
    mac: o.mac ?? macFromName(o.tap),
    addrs: o.addrs,
    gateway: o.gateway,
    verifyL4: o.verifyL4 ?? true,
    mtu: o.mtu ?? DEFAULT_MTU,
    ...(o.lportRange ? { lportMin: o.lportRange[0], lportMax: o.lportRange[1] } : {}),
  };
  const fds: number[] = [];
  const offload = o.offload ?? true;
  try {
    // Multi-queue always works for a new device and for one created with `multi_queue`; a single-queue device
    // made beforehand refuses it with EINVAL, which is fine when one queue is all we need.
    const vnet = offload ? TAP_VNET_HDR : 0;
    let flags = TAP_MULTI_QUEUE | vnet;
    for (let i = 0; i < o.workers; i++) {
      let fd = native.openTap(o.tap, flags);
      if (fd === -22 && i === 0 && o.workers === 1) fd = native.openTap(o.tap, (flags = vnet));
      fds.push(checkNative(fd, `open TAP ${o.tap}`));
    }
    if (offload) {
      // The kernel may now hand over partial checksums and TCP GSO super-frames (and accept them back).
      const rc = native.setOffload(fds[0]!, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN);
      if (rc < 0) log('warn', 'TUNSETOFFLOAD failed; frames keep the virtio header but arrive segmented', { errno: rc });
    }
  } catch (err) {
    for (const fd of fds) native.closeFd(fd);
    throw err;
  }
  const control = new Control(net);
  Object.assign(control.table.policy, o.policy ?? {});
  let configApplied: ApplyResult | undefined;
  try {
    await control.publish();
    // The config file's services are in the first snapshot the workers get: no packet is served without them.
    if (o.config) configApplied = await control.apply(o.config, false);
  } catch (err) {
    for (const fd of fds) native.closeFd(fd);
    throw err;
  }
  // Several queues: the kernel steers each frame with our eBPF program (src/io/steering.ts), regenerated when
  // the set of owned addresses changes; ARP results are shared, written by worker 0 (which gets every ARP).
  const neigh = o.workers > 1 ? new SharedArrayBuffer(SharedNeighbors.bytes(ARP_MAX_ENTRIES)) : null;
  if (o.workers > 1) {
    let steeredFor = '';
    const steer = (snap: Snapshot) => {
      const owned = [...new Set([...snap.net.addrs.map((a) => a.addr), ...snap.services.map((s) => s.vaddr)])].sort((a, b) => a - b);
      // FULLNAT local addresses: replies to LIP:lport go to the worker owning lport (laddr-pool.ts).
      const lips = [...new Set(snap.services.flatMap((s) => s.laddrs))].sort((a, b) => a - b);
      const key = `${owned.join(',')}/${lips.join(',')}`;
      if (key === steeredFor) return;
      const err = attachSteering(native, fds[0]!, owned, lips);
      if (err) throw new LbError('EIO', `cannot steer TAP ${o.tap} queues: ${err}`);
      steeredFor = key;
    };
    try {
      steer(control.snapshot());
    } catch (err) {
      for (const fd of fds) native.closeFd(fd);
      throw err;
    }
    control.onPublish = steer;
  }
  const ready = new Set<number>();
  let onAllReady: () => void = () => {};
  const allReady = new Promise<void>((r) => (onAllReady = r));
  const workers = fds.map(
    (fd, id) =>
      new ThreadWorker({
        id, fd, workers: o.workers, neigh, batch: o.batch ?? DEFAULT_BATCH, maxConns: o.maxConns ?? DEFAULT_MAX_CONNS,
        uring: o.uring ?? true, vnet: offload,
        snapshot: () => control.snapshot(),
        onMessage: (m) => {
          if (m.type === 'ready') {
            ready.add(m.id);
            log('info', 'worker ready', { worker: m.id, io: m.io });
            if (ready.size === fds.length) onAllReady();
          } else if (m.type === 'fatal') {
            log('error', 'worker failed', { worker: m.id, error: m.message });
          }
          control.onWorkerMessage(m);
        },
        onExit: (id, code, restarting) => {
          if (restarting) log('warn', 'worker exited; restarting it', { worker: id, code });
          else log('info', 'worker stopped', { worker: id, code });
        },
      }),
  );
  control.attach(workers);
  await allReady;
  control.startEstimator();
  control.startHealth();
  const server = new ControlServer(control, o.socket, undefined, { group: o.socketGroup ?? null });
  let metrics: MetricsServer | undefined;
  try {
    // Metrics first: once the control socket exists, the daemon is fully up.
    if (o.metrics) metrics = await startMetricsServer(new ControlMetrics(control, { processMetrics: true }), o.metrics.host, o.metrics.port);
    await server.listen();
  } catch (err) {
    await metrics?.close();
    control.stopEstimator();
    control.stopHealth();
    await Promise.all(workers.map((w) => w.stop()));
    for (const fd of fds) native.closeFd(fd);
    throw err;
  }
  log('info', 'tapvs running', {
    tap: o.tap, workers: o.workers, mac: net.mac, socket: o.socket,
    addrs: o.addrs.map((a) => `${formatIPv4(a.addr)}/${a.prefix}`), gateway: o.gateway ? formatIPv4(o.gateway) : null,
    mtu: net.mtu, metrics: metrics ? `http://${metrics.address.host}:${metrics.address.port}/metrics` : null, socketGroup: o.socketGroup?.name ?? null,
  });
  let stopped = false;
  return {
    control, server, workers, net, ...(configApplied ? { configApplied } : {}), ...(metrics ? { metrics } : {}),
    async stop() {
      if (stopped) return;
      stopped = true;
      control.stopEstimator();
      control.stopHealth();
      await metrics?.close();
      await server.close();
      await Promise.all(workers.map((w) => w.stop()));
      for (const fd of fds) native.closeFd(fd);
    },
  };
}
