/**
 * PacketIO: how a worker moves frames. Implemented over a TAP queue (tap-io.ts), and in memory for tests and
 * benchmarks (memory-io.ts).
 *
 * Buffer contract: the caller owns every buffer. recv() writes frame i at byte offset
 * `i * slotSize + headroom` of `ring` and its length in lens[i]; frames longer than slotSize - headroom are
 * truncated by the kernel read and reported with their truncated length (the pipeline drops and counts them).
 * A frame stays valid until the caller's next recv() into the same slot. send() reads frame i from
 * `buf[offs[i] .. offs[i]+lens[i])` and has copied it out when it returns.
 * Return values: counts >= 0, or a negative errno. -EAGAIN never appears: "nothing to read" is 0.
 */
export interface PacketIO {
  /** Receives up to `max` frames. Returns the count (0 = none ready) or -errno. */
  recv(ring: ArrayBuffer, slotSize: number, headroom: number, max: number, lens: Int32Array): number;
  /** Sends `count` frames. Returns how many were accepted (the rest were dropped by a full queue) or -errno. */
  send(buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number): number;
  /**
   * Sleeps until a frame is readable, wake() was called, or timeoutMs passed. Returns a bitmask:
   * 1 = frames readable, 2 = woken; 0 on timeout; or -errno.
   */
  wait(timeoutMs: number): number;
  close(): void;
}

/**
 * A PacketIO that can also send a tx batch and receive the next rx batch in one call (io_uring). Frame i of the
 * rx batch lands at `rxOff + i * slotSize + headroom` of `buf`, so the caller can receive into one half of its
 * ring while the frames it sends still sit in the other half. Everything sent has been copied out when it
 * returns. Returns frames received or -errno; `lastSent` is how many tx frames were accepted.
 */
export interface ExchangeIO extends PacketIO {
  exchange(
    buf: ArrayBuffer, offs: Int32Array, lens: Int32Array, count: number, rxOff: number, slotSize: number,
    headroom: number, max: number, rxLens: Int32Array,
  ): number;
  readonly lastSent: number;
  /** False when the fast path is unavailable and exchange() would only be send() + recv(): use those. */
  readonly exchangeReady: boolean;
}
