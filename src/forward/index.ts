/**
 * Forwarding methods. Each method is one file exporting a `Forwarder`; a connection stores the method's
 * FwdCode when it is created and the packet path calls FORWARDERS[code] — no switch on the mode per packet.
 * A forwarder rewrites the frame in place and hands it to `ctx.link.output` (or drops it, counting why).
 */
import type { ConnTable } from '../worker/conn-table.js';
import type { Link } from '../worker/link.js';
import type { Pkt } from '../packet/parse.js';
import { FwdCode } from '../types.js';
import { dr } from './dr.js';
import { fullnat } from './fullnat.js';
import { nat } from './nat.js';
import { tun } from './tun.js';

/** What a forwarder may touch: the frame buffer, the worker's conn table and link, its counters. */
export interface FwdContext {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly conns: ConnTable;
  readonly link: Link;
  readonly f64: Float64Array;
  /** Ring geometry: a frame may grow up to slotSize − headroom bytes in place. */
  readonly slotSize: number;
  readonly headroom: number;
}

export interface Forwarder {
  /**
   * Whether a TCP GSO super-frame (offloads) may be forwarded whole: the method rewrites only addresses/ports
   * (partial-checksum aware) or MACs. Otherwise the dataplane cuts it into segments first.
   */
  readonly gso: boolean;
  /** Client → real. Returns true if the frame was queued or held, false if dropped (and counted). */
  inbound(ctx: FwdContext, pk: Pkt, c: number): boolean;
  /** Real → client (NAT/FULLNAT replies). Same contract. */
  outbound(ctx: FwdContext, pk: Pkt, c: number): boolean;
}

/** Indexed by FwdCode. Methods not built yet are refused by the control thread before they reach here. */
export const FORWARDERS: (Forwarder | undefined)[] = [];
FORWARDERS[FwdCode.DR] = dr;
FORWARDERS[FwdCode.NAT] = nat;
FORWARDERS[FwdCode.TUN] = tun;
FORWARDERS[FwdCode.FULLNAT] = fullnat;

/** Methods the dataplane implements (control validation uses it). */
export function fwdImplemented(code: FwdCode): boolean {
  return FORWARDERS[code] !== undefined;
}
