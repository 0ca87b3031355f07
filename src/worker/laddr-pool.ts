/**
 * FULLNAT local ports (lports), per worker. Design note:
 *
 * A FULLNAT conn is (client → VIP) on the outside and (LIP:lport → RIP:rport) on the inside; the real answers to
 * LIP:lport and the reply must find its conn in the worker that created it, without shared state. As in DPVS's
 * sa_pool, every worker owns a disjoint share of each LIP's ports: worker w of W owns the lports p with
 * p % W === w inside the configured range (default 1025..65535), and the TAP steering program sends a reply to
 * LIP:p to queue p mod W, i.e. back to the owner. The outbound index (proto, RIP, rport, LIP, lport) then
 * finds the conn in that worker's own table.
 *
 * Each (LIP, protocol) has one pool per worker: a FIFO ring of its free ports with the time each was released.
 * A port is reused only once the TIME_WAIT timeout has passed since its conn ended, so a real that still holds
 * the old (LIP, lport, RIP, rport) in TIME_WAIT never sees a new SYN on it. A TCP conn that closed normally
 * already waited that long in the table (its entry expires from the TIME_WAIT state): its port is free at once
 * and goes to the head (`putBack`). Every other ended conn (reset, idle timeout, removed, UDP) puts its port
 * at the tail with the release time, and take() hands out the head only once `quarantineMs` (the TIME_WAIT
 * timeout) has passed since then. Releases happen in clock order, so the head is always the oldest: take and
 * release are O(1), there is nothing to scan, and memory is fixed at 10 bytes per owned port (~630 KiB for a
 * whole range in one worker). A port the caller could not use (conn table full) also goes back to the head.
 * A pool outlives the removal of its LIP from a service, so live conns can still release into it and a LIP
 * added again resumes with its quarantine intact.
 *
 * Nothing here allocates after construction; times are the worker's relative ms clock, read from `clock.now`.
 */
import type { CompiledService } from './services.js';

/** Default local port range (DPVS: 1025..65535). */
export const DEFAULT_LPORT_MIN = 1025;
export const DEFAULT_LPORT_MAX = 65535;

export class LaddrPool {
  /** Free ports, oldest release first, in a ring of `size` slots starting at `head`. */
  private readonly ports: Uint16Array;
  private readonly freedAt: Float64Array;
  private head = 0;
  /** Free ports in the ring. */
  free: number;
  /** Ports this worker owns in the range. */
  readonly size: number;

  constructor(
    /** The LIP, int32. */
    readonly addr: number,
    readonly proto: number,
    workerId: number,
    workers: number,
    min: number,
    max: number,
  ) {
    let first = min + ((((workerId - min) % workers) + workers) % workers);
    const size = first > max ? 0 : Math.floor((max - first) / workers) + 1;
    this.size = size;
    this.ports = new Uint16Array(size);
    this.freedAt = new Float64Array(size).fill(-Infinity);
    for (let i = 0; i < size; i++, first += workers) this.ports[i] = first;
    this.free = size;
  }

  /** The oldest free port if it was released at least `quarantineMs` before `now`, else -1. */
  take(now: number, quarantineMs: number): number {
    if (this.free === 0) return -1;
    const h = this.head;
    if (this.freedAt[h]! + quarantineMs > now) return -1;
    this.head = h + 1 === this.size ? 0 : h + 1;
    this.free--;
    return this.ports[h]!;
  }

  /** A conn on `port` ended at `now`: the port is free again after the quarantine. */
  release(port: number, now: number): void {
    if (this.free >= this.size) return; // not ours (a range change); never overfill
    let t = this.head + this.free;
    if (t >= this.size) t -= this.size;
    this.ports[t] = port;
    this.freedAt[t] = now;
    this.free++;
  }

  /** A port take() just gave out was not used: it is free at once, ahead of the others. */
  putBack(port: number): void {
    if (this.free >= this.size) return;
    this.head = this.head === 0 ? this.size - 1 : this.head - 1;
    this.ports[this.head] = port;
    this.freedAt[this.head] = -Infinity;
    this.free++;
  }
}

/** One worker's pools, by (protocol, LIP); picks a LIP and port for new FULLNAT conns. */
export class LaddrPools {
  /** Ports are reused this long after their conn ended (the TIME_WAIT timeout, ms). */
  quarantineMs = 0;
  /** The result of the last successful take(): LIP (int32) and port. */
  addr = 0;
  port = 0;
  private readonly tcp = new Map<number, LaddrPool>();
  private readonly udp = new Map<number, LaddrPool>();
  private min = DEFAULT_LPORT_MIN;
  private max = DEFAULT_LPORT_MAX;

  constructor(
    /** The owner's clock (the conn table: `now` is set before every batch). */
    private readonly clock: { now: number },
    private readonly workerId: number,
    private readonly workers: number,
  ) {}

  /**
   * Control path (snapshot apply): makes sure every service LIP has its pool and hands each service the pools
   * of its own LIPs (`svc.pools`, same order as `svc.laddrs`). Allocates; never called per packet.
   */
  configure(services: readonly CompiledService[], min: number, max: number, quarantineMs: number): void {
    if (min !== this.min || max !== this.max) {
      // A new range (only at start in practice): pools restart with it.
      this.tcp.clear();
      this.udp.clear();
      this.min = min;
      this.max = max;
    }
    this.quarantineMs = quarantineMs;
    for (const svc of services) {
      const map = svc.proto === 17 ? this.udp : this.tcp;
      svc.pools = Array.from(svc.laddrs, (a) => {
        let p = map.get(a);
        if (!p) map.set(a, (p = new LaddrPool(a, svc.proto, this.workerId, this.workers, min, max)));
        return p;
      });
    }
  }

  /**
   * A local address and port for a new conn of `svc`: its LIPs in turn (round robin from the one after the last
   * used), the first with a port out of quarantine. Sets `addr`/`port` and returns true, or false when every
   * LIP is exhausted.
   */
  take(svc: CompiledService): boolean {
    const pools = svc.pools;
    const n = pools.length;
    const now = this.clock.now;
    for (let k = 0; k < n; k++) {
      let i = svc.lipNext + k;
      if (i >= n) i -= n;
      const pool = pools[i]!;
      const port = pool.take(now, this.quarantineMs);
      if (port >= 0) {
        svc.lipNext = i + 1 === n ? 0 : i + 1;
        this.addr = pool.addr;
        this.port = port;
        return true;
      }
    }
    return false;
  }

  /**
   * The conn on (proto, addr, port) ended now. `settled`: it already spent the TIME_WAIT timeout in the table
   * (a TCP conn that expired from TIME_WAIT), so its port is free at once; otherwise it is quarantined.
   */
  release(proto: number, addr: number, port: number, settled: boolean): void {
    const p = (proto === 17 ? this.udp : this.tcp).get(addr);
    if (p === undefined) return;
    if (settled) p.putBack(port);
    else p.release(port, this.clock.now);
  }

  /** A port from the last take() that was not used. */
  putBack(proto: number, addr: number, port: number): void {
    const p = (proto === 17 ? this.udp : this.tcp).get(addr);
    if (p !== undefined) p.putBack(port);
  }

  /** Free ports of a LIP (tests, status). */
  freePorts(proto: number, addr: number): number {
    return (proto === 17 ? this.udp : this.tcp).get(addr | 0)?.free ?? 0;
  }
}
