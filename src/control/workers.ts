/**
 * Handles the control thread holds for its workers. ThreadWorker runs a Dataplane in a worker_thread over a
 * TAP queue fd the control thread opened (so a restarted worker keeps the same queue); InlineWorker runs a
 * Dataplane in the calling thread over any PacketIO (tests and benchmarks pump it by hand).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Snapshot } from '../config/snapshot.js';
import { native } from '../io/native.js';
import type { PacketIO } from '../io/packet-io.js';
import { Dataplane } from '../worker/dataplane.js';
import type { FromWorker, ToWorker, WorkerInit } from '../worker/messages.js';
import { newTraceBuffer } from '../worker/trace.js';
import { H_VERSION, newStatsBuffer, statsViews, type StatsViews } from '../worker/stats.js';

export interface WorkerHandle {
  readonly id: number;
  readonly stats: StatsViews;
  /** Trace filter and record ring shared with the worker (worker/trace.ts). */
  readonly trace: SharedArrayBuffer;
  /** Delivers a message and wakes the worker. */
  send(msg: ToWorker): void;
  /** Version of the last snapshot the worker applied (read from its counters). */
  appliedVersion(): number;
  readonly alive: boolean;
  readonly restarts: number;
  stop(): Promise<void>;
  /** Terminates the worker as a crash would; it is restarted with the current snapshot. */
  restart?(): Promise<void>;
}

/** Where the compiled worker entry lives (dist/worker/thread.js, also when this module runs from src/). */
function threadScript(): string {
  const here = fileURLToPath(new URL('../worker/thread.js', import.meta.url));
  if (existsSync(here)) return here;
  const dist = here.replace(/\/src\/worker\/thread\.js$/, '/dist/worker/thread.js');
  if (existsSync(dist)) return dist;
  throw new Error(`worker entry not found at ${here} or ${dist}: run \`npm run build:ts\``);
}

export interface ThreadWorkerOptions {
  id: number;
  fd: number;
  workers: number;
  neigh: SharedArrayBuffer | null;
  batch: number;
  maxConns: number;
  /** io_uring batching (default true); see WorkerInit.uring. */
  uring?: boolean;
  /** The queue fd carries virtio_net_hdr (offloads); see WorkerInit.vnet. */
  vnet?: boolean;
  /** Current snapshot provider, used at (re)start. */
  snapshot: () => Snapshot | null;
  onMessage: (m: FromWorker) => void;
  onExit: (id: number, code: number, restarting: boolean) => void;
}

export class ThreadWorker implements WorkerHandle {
  readonly id: number;
  readonly stats: StatsViews;
  readonly trace = newTraceBuffer();
  private readonly sab: SharedArrayBuffer;
  private readonly wakeFd: number;
  private worker!: Worker;
  private port!: MessagePort;
  private stopping = false;
  alive = false;
  restarts = 0;

  constructor(private readonly opts: ThreadWorkerOptions) {
    this.id = opts.id;
    this.sab = newStatsBuffer();
    this.stats = statsViews(this.sab);
    this.wakeFd = native.eventfdCreate();
    if (this.wakeFd < 0) throw new Error(`eventfd: errno ${-this.wakeFd}`);
    this.spawn();
  }

  private spawn(): void {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const init: WorkerInit & { port: MessagePort } = {
      id: this.id, fd: this.opts.fd, wakeFd: this.wakeFd, stats: this.sab, trace: this.trace, workers: this.opts.workers,
      neigh: this.opts.neigh, batch: this.opts.batch,
      maxConns: this.opts.maxConns, uring: this.opts.uring ?? true, vnet: this.opts.vnet ?? false, snapshot: this.opts.snapshot(), port: port2,
    };
    this.worker = new Worker(threadScript(), { workerData: init, transferList: [port2], name: `tapvs-worker-${this.id}` });
    this.alive = true;
    this.worker.on('message', (m: FromWorker) => this.opts.onMessage(m));
    this.worker.on('error', () => {
      /* reported by 'exit' */
    });
    this.worker.on('exit', (code) => {
      this.alive = false;
      const restart = !this.stopping;
      this.opts.onExit(this.id, code, restart);
      if (restart) {
        this.restarts++;
        this.spawn();
      }
    });
  }

  send(msg: ToWorker): void {
    this.port.postMessage(msg);
    native.eventfdSignal(this.wakeFd);
  }

  appliedVersion(): number {
    return this.stats.f64[H_VERSION]!;
  }

  /** Kills the thread as a crash would; the exit handler starts a new one. Resolves once it is back. */
  async restart(): Promise<void> {
    const before = this.restarts;
    await this.worker.terminate();
    for (let i = 0; i < 200 && (this.restarts === before || !this.alive); i++) await new Promise((r) => setTimeout(r, 10));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.send({ type: 'stop' });
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
    native.closeFd(this.wakeFd);
  }
}

/** A worker that runs in the caller's thread. `pump()` processes everything pending. */
export class InlineWorker implements WorkerHandle {
  readonly stats: StatsViews;
  readonly trace = newTraceBuffer();
  readonly dp: Dataplane;
  readonly alive = true;
  readonly restarts = 0;
  private readonly inbox: ToWorker[] = [];

  constructor(
    readonly id: number,
    readonly io: PacketIO,
    private readonly onMessage: (m: FromWorker) => void,
    opts: { maxConns?: number; now?: () => number; batch?: number; vnet?: boolean } = {},
  ) {
    this.stats = statsViews(newStatsBuffer());
    this.dp = new Dataplane({ io, stats: this.stats, trace: this.trace, ...opts });
  }

  send(msg: ToWorker): void {
    this.inbox.push(msg);
    this.drain();
  }

  appliedVersion(): number {
    return this.stats.f64[H_VERSION]!;
  }

  private drain(): void {
    for (let m = this.inbox.shift(); m; m = this.inbox.shift()) {
      if (m.type === 'snapshot') {
        this.dp.applySnapshot(m.snapshot);
        this.onMessage({ type: 'applied', id: this.id, version: m.snapshot.version });
      } else if (m.type === 'list-conns') {
        this.onMessage({ type: 'conns', id: this.id, reqId: m.reqId, rows: this.dp.listConns() });
      } else if (m.type === 'count-live') {
        this.onMessage({ type: 'live', id: this.id, reqId: m.reqId, counts: this.dp.countLive(m.slots) });
      }
    }
  }

  /** Runs loop turns until the IO has nothing pending. Returns frames processed. */
  pump(maxTurns = 1000): number {
    let total = 0;
    for (let i = 0; i < maxTurns; i++) {
      const n = this.dp.step();
      if (n <= 0) break;
      total += n;
    }
    return total;
  }

  async stop(): Promise<void> {}
}
