/**
 * Worker thread entry: one dataplane loop per TAP queue. The loop is run-to-completion and synchronous:
 * drain control messages → step (rx batch, process, tx batch, timers) → when idle, sleep in poll() on the
 * queue fd and the wake eventfd (woken within ~1 ms by frames or by the control thread; never spinning).
 * Raw worker_threads rather than piscina: this is a long-lived loop pinned to one queue, not a task pool.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import { ARP_MAX_ENTRIES, WORKER_MAX_SLEEP_MS } from '../defaults.js';
import { SharedNeighbors } from './shared-neigh.js';
import { TapIO } from '../io/tap-io.js';
import { Dataplane } from './dataplane.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { statsViews } from './stats.js';

const init = workerData as WorkerInit & { port: MessagePort };
const port = init.port;
const post = (m: FromWorker) => parentPort!.postMessage(m);

function main(): void {
  const stats = statsViews(init.stats);
  // A restarted worker starts with an empty conn table: its share of active/inactive counts restarts at 0.
  stats.active.fill(0);
  stats.inactive.fill(0);
  const io = new TapIO(init.fd, init.wakeFd, '', init.vnet);
  // io_uring where the kernel allows it (else the plain syscalls; the mode is in the ready message and the log).
  if (init.uring) io.enableUring();
  const dp = new Dataplane({
    io, stats, batch: init.batch, vnet: init.vnet, maxConns: init.maxConns, workerId: init.id, workers: init.workers, trace: init.trace,
    sharedNeigh: init.neigh ? new SharedNeighbors(init.neigh, ARP_MAX_ENTRIES) : undefined,
  });
  if (init.snapshot) {
    dp.applySnapshot(init.snapshot);
    post({ type: 'applied', id: init.id, version: init.snapshot.version });
  }
  post({ type: 'ready', id: init.id, io: io.exchangeReady ? 'io_uring' : 'read/write' });
  for (;;) {
    let m;
    while ((m = receiveMessageOnPort(port)) !== undefined) {
      const msg = m.message as ToWorker;
      if (msg.type === 'stop') return;
      if (msg.type === 'snapshot') {
        dp.applySnapshot(msg.snapshot);
        post({ type: 'applied', id: init.id, version: msg.snapshot.version });
      } else if (msg.type === 'list-conns') {
        post({ type: 'conns', id: init.id, reqId: msg.reqId, rows: dp.listConns() });
      } else if (msg.type === 'count-live') {
        post({ type: 'live', id: init.id, reqId: msg.reqId, counts: dp.countLive(msg.slots) });
      }
    }
    const n = dp.step();
    if (n === 0) {
      const sleep = Math.min(dp.msUntilTimers(), WORKER_MAX_SLEEP_MS);
      if (sleep > 0) io.wait(sleep);
    } else if (n < 0) {
      // The queue fd failed (device removed?): back off instead of spinning; the error is visible in counters.
      io.wait(WORKER_MAX_SLEEP_MS);
    }
  }
}

try {
  main();
} catch (err) {
  post({ type: 'fatal', id: init.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  throw err;
}
