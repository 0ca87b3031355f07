/**
 * The only module that loads the native addon (build/Release/tapvs.node, built by `npm run build:native`).
 *
 * The addon is small and dumb (native/README.md): it opens TAP queues and packet sockets, moves batches of frames
 * between an fd and caller-owned buffers, waits for readiness, and computes checksums. It never throws for a
 * failed syscall: every such function returns a negative errno (-EAGAIN never appears: "nothing" is 0). It throws
 * only a TypeError/RangeError naming the argument when called with a wrong type or out-of-range bounds.
 * This module maps negative errnos to `LbError('ENATIVE', ...)` with nativeError(); callers on the hot path
 * compare return codes and do not throw.
 *
 * Loading is lazy-safe: if the .node file is missing or fails to load, nativeAvailable() is false,
 * nativeLoadError() says why, and every `native.*` call throws LbError('ENATIVE', 'native addon not loaded: ...').
 * The path resolves the same from src/io (vitest) and dist/io (compiled): both are two levels below the repo root.
 * Node-API modules are initialised per thread, so each worker_thread may import this module.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';

import { LbError } from '../errors.js';

/** openTap() flag: IFF_MULTI_QUEUE (one fd per queue, same name; up to 256 queues). */
export const TAP_MULTI_QUEUE = 1;
/** openTap() flag: IFF_VNET_HDR (every read/write is prefixed by a virtio_net_hdr, VNET_HDR_LEN bytes). */
export const TAP_VNET_HDR = 2;
/** openTap() flag: IFF_TUN, an L3 device (bare IP packets, no Ethernet header) instead of a TAP. */
export const TAP_TUN = 4;
/** Size of the default virtio_net_hdr prefix with TAP_VNET_HDR (TUNSETVNETHDRSZ can change it, e.g. to 12). */
export const VNET_HDR_LEN = 10;

/** TUNSETOFFLOAD bits (linux/if_tun.h): what userspace accepts from the kernel on a TAP_VNET_HDR queue. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
/** USO4 and USO6 must be set together (kernel >= 6.2). */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

/** waitReadable() result bits. */
export const WAIT_READABLE = 1;
export const WAIT_WOKEN = 2;

/**
 * The addon's exported functions. Numbers passed as fd/count/size must be integers (else TypeError naming the
 * argument). Return values: >= 0 on success, negative errno on a syscall failure.
 */
export interface NativeAddon {
  /**
   * Opens /dev/net/tun and attaches to (or creates) TAP device `name` with IFF_TAP|IFF_NO_PI plus `flags`
   * (TAP_MULTI_QUEUE, TAP_VNET_HDR); with TAP_TUN a TUN device (IFF_TUN|IFF_NO_PI: every read/write is one
   * bare IP packet). The fd is O_NONBLOCK and close-on-exec. Attaches to an existing persistent device
   * (`ip tuntap add NAME mode tap|tun [multi_queue]`); mode and multi-queue must match the device.
   * A non-persistent device disappears when its last queue fd is closed.
   * @returns the fd, or -errno: -EINVAL (name >= 16 bytes, or multi-queue mismatch), -EBUSY (single-queue
   *   device already attached), -EPERM (no CAP_NET_ADMIN), -ENOENT (no /dev/net/tun).
   * @throws RangeError if flags has bits other than 1, 2 and 4.
   */
  openTap(name: string, flags: number): number;
  /** close(2). @returns 0 or -errno (-EBADF). */
  closeFd(fd: number): number;
  /** TUNSETOFFLOAD with TUN_F_* bits (needs TAP_VNET_HDR to be useful). @returns 0 or -errno (-EINVAL). */
  setOffload(fd: number, flags: number): number;
  /** TUNSETVNETHDRSZ (>= 10; 12 = mergeable-rx-buffers layout). @returns 0 or -errno. */
  setVnetHdrSize(fd: number, size: number): number;
  /**
   * Reads up to `max` frames, one read(2) each, until the fd has none left (EAGAIN). Frame i is written at byte
   * `i * slotSize + headroom` of `ring`, at most `slotSize - headroom` bytes (a longer frame is truncated and
   * reported with the truncated length); `lens[i]` gets its length. With TAP_VNET_HDR each frame starts with the
   * virtio_net_hdr. The ring and lens are owned by the caller; the addon keeps no reference after returning, and
   * a frame stays valid until the next recvBatch() into the same slot.
   * @returns the count (0 = nothing ready), or -errno if the first read failed with something other than EAGAIN
   *   (a failure after some frames were read returns the count so far).
   * @throws RangeError unless slotSize > 0, 0 <= headroom < slotSize, max >= 0,
   *   max * slotSize <= ring.byteLength and lens.length >= max.
   */
  recvBatch(fd: number, ring: ArrayBuffer, slotSize: number, headroom: number, max: number, lens: Int32Array): number;
  /**
   * Writes frames i = 0..count-1, one write(2) each, from `buf[offs[i] .. offs[i] + lens[i])`; the bytes have
   * been copied into the kernel when it returns. A frame that is empty or outside buf is skipped and not counted.
   * Stops at the first failing write: EAGAIN/ENOBUFS (queue full) or any error after a frame was written.
   * If no frame was out of bounds, a result r < count means frame r was the one refused.
   * @returns frames written, or -errno if the first write failed with an error other than EAGAIN/ENOBUFS
   *   (e.g. -EINVAL for a malformed frame or vnet header, -EIO if the TAP device is down).
   * @throws RangeError unless count >= 0 and offs.length, lens.length >= count.
   */
  sendBatch(fd: number, buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number): number;
  /**
   * Blocks the calling thread in poll(2) until `fd` is readable, `wakeFd` (an eventfd, or -1 for none) is
   * signalled, or `timeoutMs` passes (negative = forever). A signalled wakeFd is drained (reset to 0).
   * Only a worker thread that owns its loop should call this: it freezes that thread's event loop.
   * POLLERR/POLLHUP on fd count as readable, so the following recvBatch() reports the real errno.
   * @returns bitmask WAIT_READABLE (1) | WAIT_WOKEN (2); 0 on timeout or EINTR; -errno (-EBADF) on failure.
   */
  waitReadable(fd: number, wakeFd: number, timeoutMs: number): number;
  /** eventfd(0, EFD_NONBLOCK|EFD_CLOEXEC). @returns the fd or -errno. */
  eventfdCreate(): number;
  /** Adds 1 to an eventfd (wakes a thread in waitReadable). Safe from any thread. @returns 0 or -errno. */
  eventfdSignal(fd: number): number;
  /**
   * RFC 1071 one's-complement sum of `buf[offset .. offset + length)` as big-endian 16-bit words (an odd trailing
   * byte is padded with zero), added to `initial` (a 32-bit partial sum, e.g. a pseudo-header sum), folded to
   * 16 bits and NOT complemented (the checksum field value is `~result & 0xffff`). For a view, offset is
   * relative to the view. Reads only; keeps no reference.
   * @throws RangeError if the range is outside buf.
   */
  checksum(buf: ArrayBuffer | ArrayBufferView, offset: number, length: number, initial: number): number;
  /**
   * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the new value of a complemented checksum field `check` after a 16-
   * or 32-bit field (a port, an IPv4 address) changed from oldValue to newValue. Returns `check` unchanged when
   * oldValue === newValue (RFC 1624 errata 4782). Does not apply the UDP "0 means no checksum" rule.
   * @throws RangeError unless bits is 16 or 32, check <= 0xffff, and values fit in `bits`.
   */
  checksumUpdate(check: number, oldValue: number, newValue: number, bits: 16 | 32): number;
  /** if_nametoindex(3) in the calling thread's network namespace. @returns the index or -errno (-ENODEV). */
  ifIndex(name: string): number;
  /** The interface's hardware address (SIOCGIFHWADDR) as "aa:bb:cc:dd:ee:ff", or "" if there is none. */
  ifMac(name: string): string;
  /**
   * AF_PACKET SOCK_RAW socket bound to `ifname` for all protocols (ETH_P_ALL), O_NONBLOCK, close-on-exec,
   * PACKET_QDISC_BYPASS (writes go straight to the driver) and PACKET_IGNORE_OUTGOING (frames the host sends
   * on that interface are not read back: the socket sees the wire side only, like a TAP fd). recvBatch and
   * sendBatch work on it unchanged (read/write on a bound packet socket).
   * @returns the fd or -errno (-ENODEV if absent, -EPERM without CAP_NET_RAW).
   */
  openPacket(ifname: string): number;
  /**
   * socket(AF_INET, SOCK_RAW, proto), O_NONBLOCK and close-on-exec: receives every IPv4 datagram of protocol
   * `proto` addressed to this host (after reassembly), each read returning one datagram with its IP header.
   * recvBatch works on it unchanged. Receiving only: nothing is sent on it.
   * @returns the fd or -errno (-EPERM without CAP_NET_RAW).
   * @throws RangeError unless 1 <= proto <= 254.
   */
  openRawIp(proto: number): number;
  /**
   * Loads an eBPF socket-filter program (`insns`: 8-byte instructions, built by src/io/steering.ts).
   * @param log receives the kernel verifier's message (NUL-terminated) when loading fails; may be empty.
   * @returns the program fd (close it with closeFd when replaced), or -errno (-EINVAL: rejected by the verifier,
   *   -EPERM: no CAP_BPF/CAP_SYS_ADMIN).
   * @throws RangeError if insns is not a whole number of instructions.
   */
  bpfLoadSocketFilter(insns: Uint8Array, log: Uint8Array): number;
  /**
   * TUNSETSTEERINGEBPF: attaches program `progFd` to the TAP device of queue `fd` (the whole device: every
   * queue); -1 detaches it. The kernel keeps its own reference, so the caller may close progFd afterwards.
   * @returns 0 or -errno.
   */
  tunSetSteering(fd: number, progFd: number): number;
  /**
   * Creates an io_uring (raw syscalls, 512 submission entries) for uringExchange. One per worker thread.
   * @returns a ring id (>= 0) or -errno (-ENOSYS/-EPERM where io_uring is unavailable or disabled).
   */
  uringCreate(): number;
  /** Tears a ring down. @returns 0 or -EBADF for an unknown id. */
  uringDestroy(id: number): number;
  /**
   * One io_uring_enter(): writes frames i < txCount from `mem[txOffs[i] .. + txLens[i])` (skipping empty or
   * out-of-bounds ones, as sendBatch), then reads up to `rxMax` frames with RWF_NOWAIT into slots
   * `rxOff + i * slotSize + headroom` (at most slotSize - headroom bytes each), lengths in rxLens[0..n). All
   * operations complete before it returns, so every buffer is free again. Received frames are compacted into
   * slots 0..n-1. res[0] = frames written, res[1] = the first write error (-errno) or 0.
   * @returns frames read (0 = none ready) or -errno if nothing was read and a read failed with something other
   *   than EAGAIN (-EOPNOTSUPP: the fd does not support non-blocking io_uring reads; use recvBatch/sendBatch).
   * @throws RangeError on inconsistent counts or bounds (txCount + rxMax must fit in the ring's 512 entries).
   */
  uringExchange(
    id: number, fd: number, mem: ArrayBuffer, txOffs: Int32Array, txLens: Int32Array, txCount: number, rxOff: number,
    slotSize: number, headroom: number, rxMax: number, rxLens: Int32Array, res: Int32Array,
  ): number;
  /**
   * getsockopt(SO_PEERCRED) on a connected Unix socket: the peer's pid, uid and gid at connect() time, as the
   * kernel recorded them (the control API's access check).
   * @returns {pid, uid, gid}, or -errno (-ENOTSOCK, -ENOTCONN, -EBADF).
   */
  peerCred(fd: number): { pid: number; uid: number; gid: number } | number;
}

const _names: readonly (keyof NativeAddon)[] = [
  'openTap', 'closeFd', 'setOffload', 'setVnetHdrSize', 'recvBatch', 'sendBatch', 'waitReadable',
  'eventfdCreate', 'eventfdSignal', 'checksum', 'checksumUpdate', 'ifIndex', 'ifMac', 'openPacket', 'openRawIp',
  'bpfLoadSocketFilter', 'tunSetSteering', 'uringCreate', 'uringDestroy', 'uringExchange', 'peerCred',
];

/** Absolute path of the addon this module loads. */
export const NATIVE_PATH = fileURLToPath(new URL('../../build/Release/tapvs.node', import.meta.url));

let _loadError: string | null = null;

function _load(): NativeAddon {
  try {
    const mod = createRequire(import.meta.url)(NATIVE_PATH) as Partial<NativeAddon>;
    const missing = _names.filter((n) => typeof mod[n] !== 'function');
    if (missing.length > 0) throw new Error(`${NATIVE_PATH} lacks ${missing.join(', ')} (stale build?)`);
    return mod as NativeAddon;
  } catch (e) {
    _loadError = (e instanceof Error ? e.message : String(e)).split('\n')[0];
    const fail = () => {
      throw new LbError('ENATIVE', `native addon not loaded: ${_loadError}`);
    };
    return Object.fromEntries(_names.map((n) => [n, fail])) as unknown as NativeAddon;
  }
}

/** The addon's functions (see NativeAddon). If it failed to load, every call throws LbError('ENATIVE'). */
export const native: NativeAddon = _load();

/** True if the addon loaded (false when build/Release/tapvs.node is missing or unloadable). */
export function nativeAvailable(): boolean {
  return _loadError === null;
}

/** Why the addon did not load, or null if it did. */
export function nativeLoadError(): string | null {
  return _loadError;
}

const _errnoNames = new Map<number, string>();
for (const [name, n] of Object.entries(osConstants.errno)) {
  if (!_errnoNames.has(n)) _errnoNames.set(n, name);
}
_errnoNames.set(osConstants.errno.EOPNOTSUPP, 'EOPNOTSUPP'); // Linux's name for 95 (ENOTSUP is an alias)

/** Symbolic name of a (positive or negative) errno, e.g. 13 → 'EACCES'; 'EUNKNOWN' if not known. */
export function errnoName(n: number): string {
  return _errnoNames.get(Math.abs(n)) ?? 'EUNKNOWN';
}

/** LbError for a native failure: nativeError(-13, 'openTap tap0') → LbError('ENATIVE', 'openTap tap0: EACCES (13)'). */
export function nativeError(rc: number, what: string): LbError {
  const n = Math.abs(rc);
  return new LbError('ENATIVE', `${what}: ${errnoName(n)} (${n})`);
}

/** Returns rc if >= 0, else throws nativeError(rc, what). For setup code, not for the per-packet path. */
export function checkNative(rc: number, what: string): number {
  if (rc < 0) throw nativeError(rc, what);
  return rc;
}
