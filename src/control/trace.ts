/**
 * `tapvs trace` on the control thread: one trace at a time. `trace-start` validates the filter and writes it into
 * every worker's trace buffer (worker/trace.ts); `trace-poll` drains the workers' record rings and decodes the
 * records; `trace-stop` (or the count reached, the duration over, or no poll for TRACE_IDLE_MS — a client that
 * went away) turns tracing off in the workers.
 */
import { LbError, invalid } from '../errors.js';
import { formatIPv4, formatMac, parseHostPort } from '../util/addr.js';
import { FWD_METHODS } from '../types.js';
import { DROP_REASONS } from '../worker/stats.js';
import {
  CONN_HIT, CONN_NEW, REC_F64, R_CONN, R_DADDR, R_DPORT, R_DROP, R_HELD, R_METHOD, R_OMAC_HI, R_OMAC_LO, R_OPROTO, R_ODADDR,
  R_ODPORT, R_OSADDR, R_OSPORT, R_PROTO, R_RADDR, R_RPORT, R_SADDR, R_SPORT, R_TIME, R_TX, TRACE_SLOTS, T_DADDR, T_DPORT, T_GEN,
  T_LOST, T_PROTO, T_READ, T_SADDR, T_SPORT, T_WRITE, traceViews,
} from '../worker/trace.js';
import type { WorkerHandle } from './workers.js';

export const TRACE_DEFAULT_COUNT = 20;
export const TRACE_MAX_COUNT = 10_000;
export const TRACE_DEFAULT_SECONDS = 10;
export const TRACE_MAX_SECONDS = 3600;
/** A trace nobody polled for this long is stopped (the client died). */
export const TRACE_IDLE_MS = 5000;

export interface TraceRecord {
  time: string;
  worker: number;
  proto: string;
  /** The packet as received. */
  src: string;
  dst: string;
  /** none: no conn (new or existing) for the packet; hit: an existing conn; new: the scheduler created one. */
  conn: 'none' | 'hit' | 'new';
  /** The conn's real and method (conn hit or new). */
  real?: string;
  method?: string;
  /** forwarded: queued for transmission; held: waiting for ARP; dropped: see `drop`. */
  result: 'forwarded' | 'held' | 'dropped';
  drop?: string;
  /** Frames queued for the packet (the forwarded packet, outer fragments, or an ICMP/RST answer to a drop). */
  tx: number;
  /** Headers of the last frame queued for it (after the rewrite). */
  out?: { proto: string; src: string; dst: string; mac: string };
}

export interface TracePoll {
  trace: number;
  records: TraceRecord[];
  /** Records the workers could not write (ring full between polls). */
  lost: number;
  /** Records delivered so far; the trace ends at `count`. */
  delivered: number;
  done: boolean;
  /** Why it ended: count, seconds, stopped, idle. */
  reason?: string;
}

const PROTOS: Record<string, number> = { tcp: 6, udp: 17 };
const protoName = (p: number) => (p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 1 ? 'icmp' : p === 4 ? 'ipip' : String(p));

interface Session {
  id: number;
  count: number;
  endsAt: number;
  lastPoll: number;
  delivered: number;
  lost: number;
  lostBase: number[];
  done: boolean;
  reason?: string;
  pending: TraceRecord[];
}

export class Traces {
  private session: Session | null = null;
  private nextId = 1;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly workers: () => WorkerHandle[]) {}

  start(req: { src?: unknown; dst?: unknown; proto?: unknown; count?: unknown; seconds?: unknown }): { trace: number; count: number; seconds: number } {
    const src = typeof req.src === 'string' ? parseHostPort(req.src) : null;
    if (!src) throw invalid(`trace: src must be IP or IP:port, got ${JSON.stringify(req.src)}`);
    const dst = typeof req.dst === 'string' ? parseHostPort(req.dst) : null;
    if (!dst || dst.port === undefined || dst.port === 0) throw invalid(`trace: dst must be VIP:port, got ${JSON.stringify(req.dst)}`);
    if (req.proto !== undefined && !(typeof req.proto === 'string' && req.proto in PROTOS)) {
      throw invalid(`trace: proto must be tcp or udp, got ${JSON.stringify(req.proto)}`);
    }
    const int = (v: unknown, name: string, def: number, max: number) => {
      if (v === undefined) return def;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw invalid(`trace: ${name} must be an integer 1..${max}, got ${JSON.stringify(v)}`);
      return v;
    };
    const count = int(req.count, 'count', TRACE_DEFAULT_COUNT, TRACE_MAX_COUNT);
    const seconds = int(req.seconds, 'seconds', TRACE_DEFAULT_SECONDS, TRACE_MAX_SECONDS);
    if (this.session && !this.session.done) {
      throw new LbError('EINVAL', `trace ${this.session.id} is already running; only one trace at a time (it ends by count, duration or trace-stop)`);
    }
    const id = this.nextId++;
    const now = Date.now();
    const lostBase: number[] = [];
    for (const w of this.workers()) {
      const { i32 } = traceViews(w.trace);
      Atomics.store(i32, T_GEN, 0);
      i32[T_PROTO] = req.proto === undefined ? 0 : PROTOS[req.proto as string]!;
      i32[T_SADDR] = src.addr | 0;
      i32[T_SPORT] = src.port ?? 0;
      i32[T_DADDR] = dst.addr | 0;
      i32[T_DPORT] = dst.port;
      Atomics.store(i32, T_READ, Atomics.load(i32, T_WRITE)); // records of an earlier trace are skipped
      lostBase[w.id] = i32[T_LOST]!;
      Atomics.store(i32, T_GEN, id);
    }
    this.session = { id, count, endsAt: now + seconds * 1000, lastPoll: now, delivered: 0, lost: 0, lostBase, done: false, pending: [] };
    this.timer ??= setInterval(() => this.check(), 250);
    this.timer.unref();
    return { trace: id, count, seconds };
  }

  poll(req: { trace?: unknown }): TracePoll {
    const s = this.get(req.trace);
    s.lastPoll = Date.now();
    if (!s.done) this.drain(s);
    this.check();
    const records = s.pending;
    s.pending = [];
    return { trace: s.id, records, lost: s.lost, delivered: s.delivered, done: s.done, ...(s.reason ? { reason: s.reason } : {}) };
  }

  stop(req: { trace?: unknown }): TracePoll {
    const s = this.get(req.trace);
    if (!s.done) {
      this.drain(s);
      this.finish(s, 'stopped');
    }
    return this.poll(req);
  }

  /** Stops tracing in the workers (daemon shutdown). */
  close(): void {
    if (this.session && !this.session.done) this.finish(this.session, 'stopped');
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private get(id: unknown): Session {
    const s = this.session;
    if (!s || s.id !== id) throw invalid(`trace: no trace ${JSON.stringify(id)}${s ? ` (the current one is ${s.id})` : ''}`);
    return s;
  }

  private check(): void {
    const s = this.session;
    if (!s || s.done) return;
    const now = Date.now();
    if (s.delivered >= s.count) this.finish(s, 'count');
    else if (now >= s.endsAt) this.finish(s, 'seconds');
    else if (now - s.lastPoll > TRACE_IDLE_MS) this.finish(s, 'idle');
  }

  private finish(s: Session, reason: string): void {
    s.done = true;
    s.reason = reason;
    for (const w of this.workers()) Atomics.store(traceViews(w.trace).i32, T_GEN, 0);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Moves the workers' new records into the session (up to its count). */
  private drain(s: Session): void {
    let lost = 0;
    for (const w of this.workers()) {
      const { i32, rec } = traceViews(w.trace);
      lost += i32[T_LOST]! - (s.lostBase[w.id] ?? 0);
      const end = Atomics.load(i32, T_WRITE);
      let r = i32[T_READ]!;
      for (; r < end && s.delivered < s.count; r++) {
        s.pending.push(decode(rec, (r % TRACE_SLOTS) * REC_F64, w.id));
        s.delivered++;
      }
      Atomics.store(i32, T_READ, end); // records past the count are discarded
    }
    s.lost = lost;
    if (s.delivered >= s.count) this.finish(s, 'count');
  }
}

function decode(r: Float64Array, o: number, worker: number): TraceRecord {
  const ep = (a: number, p: number, proto: number) => (proto === 6 || proto === 17 ? `${formatIPv4(a)}:${p}` : formatIPv4(a));
  const proto = r[o + R_PROTO]!;
  const conn = r[o + R_CONN]!;
  const drop = r[o + R_DROP]!;
  const tx = r[o + R_TX]!;
  const rec: TraceRecord = {
    time: new Date(r[o + R_TIME]!).toISOString(), worker, proto: protoName(proto),
    src: ep(r[o + R_SADDR]!, r[o + R_SPORT]!, proto), dst: ep(r[o + R_DADDR]!, r[o + R_DPORT]!, proto),
    conn: conn === CONN_NEW ? 'new' : conn === CONN_HIT ? 'hit' : 'none',
    result: drop >= 0 ? 'dropped' : r[o + R_HELD] ? 'held' : 'forwarded', tx,
  };
  if (r[o + R_METHOD]! >= 0) {
    rec.real = `${formatIPv4(r[o + R_RADDR]!)}:${r[o + R_RPORT]!}`;
    rec.method = FWD_METHODS[r[o + R_METHOD]!] ?? String(r[o + R_METHOD]);
  }
  if (drop >= 0) rec.drop = DROP_REASONS[drop] ?? String(drop);
  if (tx > 0) {
    const op = r[o + R_OPROTO]!;
    const mac = new Uint8Array(6);
    new DataView(mac.buffer).setUint16(0, r[o + R_OMAC_HI]!);
    new DataView(mac.buffer).setUint32(2, r[o + R_OMAC_LO]!);
    rec.out = {
      proto: protoName(op), src: ep(r[o + R_OSADDR]!, r[o + R_OSPORT]!, op), dst: ep(r[o + R_ODADDR]!, r[o + R_ODPORT]!, op), mac: formatMac(mac),
    };
  }
  return rec;
}
