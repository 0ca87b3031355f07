/**
 * Packet tracing (`tapvs trace`): a per-worker SharedArrayBuffer holding a filter the control thread writes and
 * a ring of fixed-size records the worker writes. Design note:
 *
 * - The control thread writes the filter fields, then bumps the generation word with Atomics.store (0 = off).
 * - The worker reads the generation once per batch (Dataplane.step). While it is 0 the batch runs the plain loop:
 *   tracing costs nothing per packet. Otherwise every frame goes through `matches()` (a few header reads).
 * - A matching frame is processed as usual between `begin()` and `end()`: begin copies the drop counters and the
 *   tx queue length, end derives the outcome (which drop counter moved, whether a frame was queued or held for
 *   ARP, whether a conn was created) and writes one record: no allocation, no message per packet.
 * - Records go into a ring of TRACE_SLOTS; the worker advances the write index, the control thread the read
 *   index. A full ring counts the record as lost (header word) instead of overwriting unread ones.
 */
import { ETH_HLEN, ETHERTYPE_IPV4, PROTO_TCP, PROTO_UDP } from '../packet/offsets.js';
import type { TxQueue } from './link.js';
import type { ConnTable } from './conn-table.js';
import { NIL } from './conn-table.js';
import { C, D, DROP_REASONS } from './stats.js';

/** Int32 header words. */
export const T_GEN = 0; // filter generation, 0 = tracing off (control writes)
export const T_PROTO = 1; // 0 = any
export const T_SADDR = 2;
export const T_SPORT = 3; // 0 = any
export const T_DADDR = 4;
export const T_DPORT = 5;
export const T_WRITE = 6; // records written (worker)
export const T_READ = 7; // records consumed (control)
export const T_LOST = 8; // records not written: ring full (worker)
const HDR_BYTES = 64;

export const TRACE_SLOTS = 256;
/** Float64 fields of one record. */
export const R_TIME = 0; // wall clock ms
export const R_PROTO = 1;
export const R_SADDR = 2; // addresses as uint32
export const R_SPORT = 3;
export const R_DADDR = 4;
export const R_DPORT = 5;
export const R_DROP = 6; // index into DROP_REASONS, -1 = none
export const R_CONN = 7; // CONN_*
export const R_RADDR = 8; // the conn's real (0 = no conn)
export const R_RPORT = 9;
export const R_METHOD = 10; // FwdCode, -1 = no conn
export const R_TX = 11; // frames queued for this packet (forwarded, or an ICMP/RST answer)
export const R_HELD = 12; // 1 = held waiting for ARP
export const R_OPROTO = 13; // the last queued frame's headers (after the rewrite); valid when R_TX > 0
export const R_OSADDR = 14;
export const R_OSPORT = 15;
export const R_ODADDR = 16;
export const R_ODPORT = 17;
export const R_OMAC_HI = 18; // its destination MAC: top 16 bits, low 32 bits
export const R_OMAC_LO = 19;
export const REC_F64 = 20;

export const CONN_NONE = 0;
export const CONN_HIT = 1;
export const CONN_NEW = 2;

export const TRACE_BYTES = HDR_BYTES + TRACE_SLOTS * REC_F64 * 8;

export function newTraceBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(TRACE_BYTES);
}

export function traceViews(sab: SharedArrayBuffer): { i32: Int32Array; rec: Float64Array } {
  return { i32: new Int32Array(sab, 0, HDR_BYTES / 4), rec: new Float64Array(sab, HDR_BYTES, TRACE_SLOTS * REC_F64) };
}

const NDROPS = DROP_REASONS.length;

/** The worker side: filter cache and record writer. */
export class Tracer {
  /** Generation of the filter in use; 0 = off (checked once per batch by the dataplane). */
  gen = 0;
  private proto = 0;
  private saddr = 0;
  private sport = 0;
  private daddr = 0;
  private dport = 0;
  private readonly i32: Int32Array;
  private readonly rec: Float64Array;
  private readonly drops = new Float64Array(NDROPS);
  private txBefore = 0;
  private createdBefore = 0;
  private heldBefore = 0;
  /** The matching frame's 5-tuple before processing (the frame is rewritten in place). */
  private inProto = 0;
  private inSaddr = 0;
  private inSport = 0;
  private inDaddr = 0;
  private inDport = 0;
  private inPorts = false;

  constructor(
    sab: SharedArrayBuffer,
    private readonly f64: Float64Array,
    private readonly txq: TxQueue,
    private readonly u8: Uint8Array,
    private readonly dv: DataView,
    private readonly vnet: number,
  ) {
    const v = traceViews(sab);
    this.i32 = v.i32;
    this.rec = v.rec;
  }

  /** Once per batch: picks up a new filter (or the end of tracing). Returns the generation. */
  poll(): number {
    const g = Atomics.load(this.i32, T_GEN);
    if (g !== this.gen) {
      const h = this.i32;
      this.proto = h[T_PROTO]!;
      this.saddr = h[T_SADDR]!;
      this.sport = h[T_SPORT]!;
      this.daddr = h[T_DADDR]!;
      this.dport = h[T_DPORT]!;
      this.gen = g;
    }
    return g;
  }

  /** Whether the frame at `base` is IPv4 and matches the filter (raw header reads: also for frames the parser rejects). */
  matches(base: number, len: number): boolean {
    if (len < ETH_HLEN + 20 || this.dv.getUint16(base + 12) !== ETHERTYPE_IPV4) return false;
    const ip = base + ETH_HLEN;
    const dv = this.dv;
    if (dv.getInt32(ip + 12) !== this.saddr || dv.getInt32(ip + 16) !== this.daddr) return false;
    const proto = this.u8[ip + 9]!;
    if (this.proto !== 0 && proto !== this.proto) return false;
    if (this.sport === 0 && this.dport === 0) return true;
    const l4 = ip + (this.u8[ip]! & 15) * 4;
    if ((proto !== PROTO_TCP && proto !== PROTO_UDP) || l4 + 4 > base + len) return false;
    return (this.sport === 0 || dv.getUint16(l4) === this.sport) && (this.dport === 0 || dv.getUint16(l4 + 2) === this.dport);
  }

  /** Before a matching frame is processed. */
  begin(base: number, len: number): void {
    const dv = this.dv;
    const ip = base + ETH_HLEN;
    const proto = this.u8[ip + 9]!;
    const l4 = ip + (this.u8[ip]! & 15) * 4;
    this.inPorts = (proto === PROTO_TCP || proto === PROTO_UDP) && l4 + 4 <= base + len;
    this.inProto = proto;
    this.inSaddr = dv.getInt32(ip + 12);
    this.inDaddr = dv.getInt32(ip + 16);
    this.inSport = this.inPorts ? dv.getUint16(l4) : 0;
    this.inDport = this.inPorts ? dv.getUint16(l4 + 2) : 0;
    const f64 = this.f64;
    for (let k = 0; k < NDROPS; k++) this.drops[k] = f64[D.rx_truncated + k]!;
    this.txBefore = this.txq.n;
    this.createdBefore = f64[C.conns_created]!;
    this.heldBefore = f64[C.frames_held]!;
  }

  /** After it was processed: writes one record (or counts it lost when the ring is full). */
  end(now: number, conns: ConnTable): void {
    const h = this.i32;
    const w = h[T_WRITE]!;
    if (w - Atomics.load(h, T_READ) >= TRACE_SLOTS) {
      h[T_LOST]!++;
      return;
    }
    const r = this.rec;
    const o = (w % TRACE_SLOTS) * REC_F64;
    const f64 = this.f64;
    r.fill(0, o, o + REC_F64);
    r[o + R_TIME] = now;
    const proto = this.inProto;
    const saddr = this.inSaddr;
    const daddr = this.inDaddr;
    const sport = this.inSport;
    const dport = this.inDport;
    const ports = this.inPorts;
    r[o + R_PROTO] = proto;
    r[o + R_SADDR] = saddr >>> 0;
    r[o + R_SPORT] = sport;
    r[o + R_DADDR] = daddr >>> 0;
    r[o + R_DPORT] = dport;
    r[o + R_DROP] = -1;
    for (let k = 0; k < NDROPS; k++) {
      if (f64[D.rx_truncated + k] !== this.drops[k]) {
        r[o + R_DROP] = k;
        break;
      }
    }
    const c = ports ? conns.lookupIn(proto, saddr, sport, daddr, dport) : NIL;
    r[o + R_CONN] = f64[C.conns_created] !== this.createdBefore ? CONN_NEW : c !== NIL ? CONN_HIT : CONN_NONE;
    r[o + R_METHOD] = -1;
    if (c !== NIL) {
      r[o + R_RADDR] = conns.daddr[c]! >>> 0;
      r[o + R_RPORT] = conns.dport[c]!;
      r[o + R_METHOD] = conns.fwd[c]!;
    }
    r[o + R_HELD] = f64[C.frames_held] !== this.heldBefore ? 1 : 0;
    const q = this.txq;
    r[o + R_TX] = q.n > this.txBefore ? q.n - this.txBefore : 0;
    if (q.n > this.txBefore) this.after(q.offs[q.n - 1]! + this.vnet, q.lens[q.n - 1]! - this.vnet, o);
    Atomics.store(h, T_WRITE, w + 1);
  }

  /** The headers of a queued frame after the rewrite. */
  private after(fb: number, flen: number, o: number): void {
    const r = this.rec;
    const dv = this.dv;
    r[o + R_OMAC_HI] = dv.getUint16(fb);
    r[o + R_OMAC_LO] = dv.getUint32(fb + 2);
    if (flen < ETH_HLEN + 20 || dv.getUint16(fb + 12) !== ETHERTYPE_IPV4) return;
    const ip = fb + ETH_HLEN;
    const proto = this.u8[ip + 9]!;
    r[o + R_OPROTO] = proto;
    r[o + R_OSADDR] = dv.getUint32(ip + 12);
    r[o + R_ODADDR] = dv.getUint32(ip + 16);
    const l4 = ip + (this.u8[ip]! & 15) * 4;
    if ((proto === PROTO_TCP || proto === PROTO_UDP) && l4 + 4 <= fb + flen) {
      r[o + R_OSPORT] = dv.getUint16(l4);
      r[o + R_ODPORT] = dv.getUint16(l4 + 2);
    }
  }
}
