/**
 * ARP neighbour cache of one worker: IPv4 address → MAC, with states and retry bookkeeping.
 * Rows live in typed arrays; a Map from address (int32, a small integer for V8) to row finds them.
 * Lookups do not allocate. Entries past their lifetime stay usable while a refresh request is outstanding
 * (like Linux's STALE/PROBE), so traffic to a known neighbour never stalls on a refresh.
 */
import { ARP_MAX_ENTRIES } from '../defaults.js';

export const N_FREE = 0;
export const N_INCOMPLETE = 1;
export const N_REACHABLE = 2;

export class Neighbors {
  readonly capacity: number;
  readonly ip: Int32Array;
  readonly mac: Uint8Array;
  readonly state: Uint8Array;
  /** When a reachable entry needs a refresh (ms). */
  readonly expires: Float64Array;
  /** Last request sent (ms) and requests sent since the last answer. */
  readonly lastReq: Float64Array;
  readonly tries: Uint8Array;
  /** Frames currently held for this entry. */
  readonly held: Uint16Array;
  private readonly index = new Map<number, number>();
  private next = 0;
  used = 0;

  constructor(capacity = ARP_MAX_ENTRIES) {
    this.capacity = capacity;
    this.ip = new Int32Array(capacity);
    this.mac = new Uint8Array(capacity * 6);
    this.state = new Uint8Array(capacity);
    this.expires = new Float64Array(capacity);
    this.lastReq = new Float64Array(capacity);
    this.tries = new Uint8Array(capacity);
    this.held = new Uint16Array(capacity);
  }

  /** Row of `ip`, or -1. */
  lookup(ip: number): number {
    const n = this.index.get(ip);
    return n === undefined ? -1 : n;
  }

  /** Row of `ip`, creating an INCOMPLETE entry if absent (evicting a row with no held frames if full). */
  ensure(ip: number): number {
    const found = this.lookup(ip);
    if (found >= 0) return found;
    let n = -1;
    for (let k = 0; k < this.capacity; k++) {
      const cand = (this.next + k) % this.capacity;
      if (this.state[cand] === N_FREE || this.held[cand] === 0) {
        n = cand;
        break;
      }
    }
    if (n < 0) return -1;
    this.next = (n + 1) % this.capacity;
    if (this.state[n] !== N_FREE) this.index.delete(this.ip[n]!);
    else this.used++;
    this.ip[n] = ip;
    this.state[n] = N_INCOMPLETE;
    this.expires[n] = 0;
    this.lastReq[n] = -Infinity;
    this.tries[n] = 0;
    this.held[n] = 0;
    this.index.set(ip, n);
    return n;
  }

  /** Records `ip` at the MAC found in src[off..off+6); returns its row (or -1 if the cache is full). */
  learn(ip: number, src: Uint8Array, off: number, expires: number): number {
    const n = this.ensure(ip);
    if (n < 0) return -1;
    const m = n * 6;
    for (let i = 0; i < 6; i++) this.mac[m + i] = src[off + i]!;
    this.state[n] = N_REACHABLE;
    this.expires[n] = expires;
    this.tries[n] = 0;
    return n;
  }

  /** Frees a row (resolution failed). */
  drop(n: number): void {
    if (this.state[n] === N_FREE) return;
    this.index.delete(this.ip[n]!);
    this.state[n] = N_FREE;
    this.held[n] = 0;
    this.used--;
  }
}
