/**
 * PacketIO over one TAP queue fd plus an optional wake eventfd. Each method is one N-API call per batch
 * (native.recvBatch / sendBatch / waitReadable); no allocation, no throwing on the per-batch path.
 *
 * Threading: a worker thread owns its TapIO and is the only caller of recv/send/wait. The control thread keeps
 * the wake eventfd (native.eventfdCreate) and calls wakeWorker(wakeFd) to interrupt a worker sleeping in wait(),
 * e.g. after posting a new snapshot. fds are process-wide, so an fd opened on one thread works on any other.
 */
import { checkNative, native, nativeError, TAP_MULTI_QUEUE, TAP_VNET_HDR } from './native.js';
import type { PacketIO } from './packet-io.js';

const EAGAIN = 11;

/** Options for TapIO.open(). */
export interface TapOpenOptions {
  /** Open one queue of an IFF_MULTI_QUEUE device (open once per worker with the same name). Default false. */
  multiQueue?: boolean;
  /** IFF_VNET_HDR: every frame read or written carries a VNET_HDR_LEN-byte virtio_net_hdr prefix. Default false. */
  vnetHdr?: boolean;
  /** eventfd that wakes wait() (not owned: close() leaves it open). Default -1 (none). */
  wakeFd?: number;
}

export class TapIO implements PacketIO {
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

  /** See PacketIO.wait and NativeAddon.waitReadable: blocks this thread up to timeoutMs. */
  wait(timeoutMs: number): number {
    return native.waitReadable(this._fd, this.wakeFd, timeoutMs);
  }

  /** Closes the queue fd (idempotent). A non-persistent device disappears with its last queue. */
  close(): void {
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
