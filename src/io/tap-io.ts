/**
 * PacketIO over one TAP queue fd plus an optional wake eventfd. Each method is one N-API call per batch
 * (native.recvBatch / sendBatch / waitReadable); no allocation, no throwing on the per-batch path.
 *
 * Threading: a worker thread owns its TapIO and is the only caller of recv/send/wait. The control thread keeps
 * the wake eventfd (native.eventfdCreate) and calls wakeWorker(wakeFd) to interrupt a worker sleeping in wait(),
 * e.g. after posting a new snapshot. fds are process-wide, so an fd opened on one thread works on any other.
 */
import { checkNative, native, nativeError, TAP_MULTI_QUEUE, TAP_VNET_HDR } from './native.js';
import type { ExchangeIO } from './packet-io.js';

const EAGAIN = 11;
const EINVAL = 22;
const EOPNOTSUPP = 95;
/** Submission queue entries of a ring (native/uring.cc kEntries): writes + reads of one exchange. */
const URING_ENTRIES = 512;

/** Options for TapIO.open(). */
export interface TapOpenOptions {
  /** Open one queue of an IFF_MULTI_QUEUE device (open once per worker with the same name). Default false. */
  multiQueue?: boolean;
  /** IFF_VNET_HDR: every frame read or written carries a VNET_HDR_LEN-byte virtio_net_hdr prefix. Default false. */
  vnetHdr?: boolean;
  /** eventfd that wakes wait() (not owned: close() leaves it open). Default -1 (none). */
  wakeFd?: number;
}

export class TapIO implements ExchangeIO {
  /** io_uring ring id (enableUring), or -1: exchange() then falls back to send() + recv(). */
  private ring = -1;
  private readonly res = new Int32Array(2);
  lastSent = 0;

  /**
   * Adopts an already-open TAP queue fd (or a bound AF_PACKET socket, a TUN fd, a raw IP socket: read/write
   * move one frame or datagram each on all of them); close() closes it.
   * @param fd non-blocking frame fd.
   * @param wakeFd eventfd for wait(), or -1; not owned.
   * @param name device name, for messages only.
   * @param vnetHdr whether frames carry the virtio_net_hdr prefix.
   */
  constructor(
    private _fd: number,
    readonly wakeFd: number = -1,
    readonly name: string = '',
    readonly vnetHdr: boolean = false,
  ) {}

  /**
   * Opens (and creates if absent) TAP device `name`, one queue.
   * @throws LbError('ENATIVE', 'openTap NAME: EBUSY (16)') and the like on failure.
   */
  static open(name: string, opts: TapOpenOptions = {}): TapIO {
    const flags = (opts.multiQueue ? TAP_MULTI_QUEUE : 0) | (opts.vnetHdr ? TAP_VNET_HDR : 0);
    const fd = checkNative(native.openTap(name, flags), `openTap ${name}`);
    return new TapIO(fd, opts.wakeFd ?? -1, name, opts.vnetHdr ?? false);
  }

  /** The queue fd, or -1 after close(). */
  get fd(): number {
    return this._fd;
  }

  /** See PacketIO.recv and NativeAddon.recvBatch. Returns -EBADF after close(). */
  recv(ring: ArrayBuffer, slotSize: number, headroom: number, max: number, lens: Int32Array): number {
    return native.recvBatch(this._fd, ring, slotSize, headroom, max, lens);
  }

  /** See PacketIO.send and NativeAddon.sendBatch. Returns -EBADF after close(). */
  send(buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number): number {
    return native.sendBatch(this._fd, buf, offs, lens, count);
  }

  /**
   * Switches exchange() to io_uring: one syscall per batch instead of one per frame. Call it on the thread
   * that runs the loop. @returns 0, or -errno when io_uring is unavailable (the plain syscalls stay in use).
   */
  enableUring(): number {
    if (this.ring >= 0) return 0;
    const id = native.uringCreate();
    if (id >= 0) this.ring = id;
    return id < 0 ? id : 0;
  }

  get exchangeReady(): boolean {
    return this.ring >= 0;
  }

  /**
   * See ExchangeIO.exchange. Without a ring (never enabled, or dropped because the fd refused non-blocking
   * io_uring reads) it only sends and receives nothing: callers check exchangeReady and use recv() instead.
   */
  exchange(
    buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number, rxOff: number, slotSize: number,
    headroom: number, max: number, rxLens: Int32Array,
  ): number {
    if (this.ring < 0) {
      this.lastSent = count > 0 ? Math.max(0, this.send(buf, offs, lens, count)) : 0;
      return 0;
    }
    if (count + max > URING_ENTRIES) {
      // More than one submission queue holds (a batch larger than the default): send the tx batch first.
      const sent = count > 0 ? this.send(buf, offs, lens, count) : 0;
      const n = this.exchangeRing(buf, offs, lens, 0, rxOff, slotSize, headroom, Math.min(max, URING_ENTRIES), rxLens);
      this.lastSent = Math.max(0, sent);
      return n;
    }
    return this.exchangeRing(buf, offs, lens, count, rxOff, slotSize, headroom, max, rxLens);
  }

  private exchangeRing(
    buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number, rxOff: number, slotSize: number,
    headroom: number, max: number, rxLens: Int32Array,
  ): number {
    const n = native.uringExchange(
      this.ring, this._fd, buf, offs, lens, count, rxOff, slotSize, headroom, max, rxLens, this.res,
    );
    this.lastSent = this.res[0]!;
    if (n === -EOPNOTSUPP || n === -EINVAL) {
      // This fd (an older kernel's TAP, a packet socket) cannot do non-blocking io_uring reads: stop using it.
      native.uringDestroy(this.ring);
      this.ring = -1;
      return 0;
    }
    return n;
  }

  /** See PacketIO.wait and NativeAddon.waitReadable: blocks this thread up to timeoutMs. */
  wait(timeoutMs: number): number {
    return native.waitReadable(this._fd, this.wakeFd, timeoutMs);
  }

  /** Closes the queue fd (idempotent). A non-persistent device disappears with its last queue. */
  close(): void {
    if (this.ring >= 0) native.uringDestroy(this.ring);
    this.ring = -1;
    if (this._fd >= 0) native.closeFd(this._fd);
    this._fd = -1;
  }
}

/**
 * Wakes the worker sleeping in wait() on `wakeFd` (adds 1 to the eventfd). Signals coalesce: several wakes
 * before the worker runs are seen as one. A saturated counter (EAGAIN) already means "woken" and is ignored.
 * @throws LbError('ENATIVE', 'eventfdSignal: EBADF (9)') if wakeFd is not a valid eventfd.
 */
export function wakeWorker(wakeFd: number): void {
  const rc = native.eventfdSignal(wakeFd);
  if (rc < 0 && rc !== -EAGAIN) throw nativeError(rc, 'eventfdSignal');
}
