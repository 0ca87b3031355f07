/**
 * SYN flood defence of one worker, in the spirit of IPVS's defence strategies (ipvs-semantics.md §3.6:
 * drop_entry and secure_tcp, automatic mode). Design note:
 *
 * A flood of spoofed SYNs makes one half-open conn per SYN (SYN_RECV, 60 s by default) that no client will ever
 * complete; a bounded table then fills and every legitimate new connection is dropped (`conn_table_full`).
 * The defence keeps the evictable conns on a FIFO list in the order they became evictable: the half-open ones (TCP
 * states SYN_RECV and SYNACK: the two that IPVS's drop_entry drops unconditionally) and the closed ones
 * (TIME_WAIT, CLOSE: no live flow left, but two minutes of TIME_WAIT each — a high rate of short connections fills
 * a bounded table with them too). It switches on while the table is under pressure from them — at least HIGH of
 * its capacity in use and at least half of that evictable — and off again below LOW. While it is on:
 *  - a new conn that finds the table full evicts the oldest evictable conn instead of being dropped
 *    (`synflood_evicted`), so new handshakes and every established conn keep working: a legitimate handshake
 *    completes within one round trip, long before the FIFO reaches it unless the table turns over faster than
 *    that (capacity / flood rate < RTT);
 *  - half-open conns get a short timeout (SYN_RECV and SYNACK: SYNFLOOD_TIMEOUT_MS instead of 60/120 s).
 * The state is a gauge in the stats header (H_SYNFLOOD, 1 = on); `synflood_on` counts activations.
 *
 * Not done: IPVS's secure_tcp state table (`tcp_states_dos`), in which a client's ACK does not establish a NAT
 * conn until the real answers. It stops a flood that completes handshakes blindly (a spoofed SYN, then an ACK
 * for the same tuple: ESTABLISHED, out of reach of this defence), but it keeps every legitimate NAT conn
 * half-open, hence evictable, until the real's first answer after the handshake: measured end to end (20 000
 * spoofed SYNs/s against a 2048-entry table), that let the FIFO reach legitimate conns whose request took
 * longer than the table's turnover. With the normal table a legitimate conn leaves the FIFO at the client's ACK.
 *
 * Cost per packet: nothing unless a conn changes state (then two table reads, and an O(1) list update when it
 * becomes or stops being evictable); the pressure check runs with the timers (every 50 ms); eviction only when
 * the table is full. Memory: two int32 links per conn. Nothing allocates after construction.
 */
import { NIL } from './conn-table.js';

/** The defence switches on at this share of the table in use (with half of it evictable), off below LOW. */
export const SYNFLOOD_HIGH = 0.75;
export const SYNFLOOD_LOW = 0.5;
/** Timeout of half-open conns while the defence is on. */
export const SYNFLOOD_TIMEOUT_MS = 5_000;

/** Doubly linked FIFO of evictable conn rows, oldest first. A row is on it iff EVICTABLE[its state] is not 0. */
export class EvictFifo {
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  head = NIL;
  private tail = NIL;
  count = 0;

  constructor(capacity: number) {
    this.next = new Int32Array(capacity);
    this.prev = new Int32Array(capacity);
  }

  push(c: number): void {
    this.next[c] = NIL;
    this.prev[c] = this.tail;
    if (this.tail !== NIL) this.next[this.tail] = c;
    else this.head = c;
    this.tail = c;
    this.count++;
  }

  remove(c: number): void {
    const p = this.prev[c]!;
    const n = this.next[c]!;
    if (p !== NIL) this.next[p] = n;
    else this.head = n;
    if (n !== NIL) this.prev[n] = p;
    else this.tail = p;
    this.count--;
  }
}

/** Whether the defence should be on, from the table's fill and its evictable share (`on`: current state). */
export function synfloodPressure(on: boolean, count: number, capacity: number, evictable: number): boolean {
  if (on) return count >= capacity * SYNFLOOD_LOW;
  return count >= capacity * SYNFLOOD_HIGH && evictable * 2 >= count;
}
