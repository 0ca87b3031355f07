/**
 * Every message between the control thread and a worker. Control → worker messages travel on a dedicated
 * MessagePort that the worker drains synchronously (receiveMessageOnPort) between batches, after the control
 * thread has signalled the worker's wake eventfd; worker → control messages are plain postMessage.
 */
import type { Snapshot } from '../config/snapshot.js';

export type ToWorker =
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'list-conns'; reqId: number }
  | { type: 'count-live'; reqId: number; slots: number[] }
  | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; id: number; io: 'io_uring' | 'read/write' }
  | { type: 'applied'; id: number; version: number }
  | { type: 'conns'; id: number; reqId: number; rows: ConnRows }
  | { type: 'live'; id: number; reqId: number; counts: number[] }
  | { type: 'fatal'; id: number; message: string };

/** A worker's connection entries as columns (one element per entry), for listings. Addresses int32. */
export interface ConnRows {
  proto: Uint8Array;
  state: Uint8Array;
  /** CF_* flags (templates: CF_TEMPLATE, CF_ASSURED). */
  flags: Uint8Array;
  /** Seconds until expiry. */
  expires: Int32Array;
  caddr: Int32Array;
  cport: Uint16Array;
  vaddr: Int32Array;
  vport: Uint16Array;
  daddr: Int32Array;
  dport: Uint16Array;
}

/** What a worker thread is started with (workerData). */
export interface WorkerInit {
  id: number;
  /** Frame fd (TAP queue), opened and owned by the control thread so a restarted worker reuses it. */
  fd: number;
  /** eventfd the control thread signals after posting a message. */
  wakeFd: number;
  stats: SharedArrayBuffer;
  /** Trace filter and record ring (worker/trace.ts), owned by the control thread like the stats block. */
  trace: SharedArrayBuffer;
  /** Number of workers (queues) and, with more than one, the shared ARP table (worker 0 writes it). */
  workers: number;
  neigh: SharedArrayBuffer | null;
  batch: number;
  maxConns: number;
  /** Use io_uring (one syscall per batch) when the kernel allows it; else one read()/write() per frame. */
  uring: boolean;
  /** The fd was opened with IFF_VNET_HDR (offloads): every frame carries a virtio_net_hdr. */
  vnet: boolean;
  /** The current snapshot, applied before the first batch (also on restart). */
  snapshot: Snapshot | null;
}
