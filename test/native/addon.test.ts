import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { LbError } from '../../src/errors.js';
import {
  errnoName,
  native,
  NATIVE_PATH,
  nativeAvailable,
  nativeError,
  nativeLoadError,
  TAP_MULTI_QUEUE,
  TAP_VNET_HDR,
  TUN_F_CSUM,
  VNET_HDR_LEN,
  WAIT_READABLE,
  WAIT_WOKEN,
} from '../../src/io/native.js';
import { TapIO, wakeWorker } from '../../src/io/tap-io.js';
import { prng as rng } from '../helpers/prng.js';

const EBADF = 9;
const EBUSY = 16;
const EINVAL = 22;
const ENODEV = 19;

const built = nativeAvailable();
const isRoot = process.getuid?.() === 0;
const hasTun = existsSync('/dev/net/tun');
const hasIp = spawnSync('ip', ['-V']).status === 0;
const canTap = built && isRoot && hasTun && hasIp;
const builtName = built ? 'native addon' : `native addon (skipped: not built: ${nativeLoadError()})`;
const missing = [
  isRoot ? '' : 'root',
  hasTun ? '' : '/dev/net/tun',
  hasIp ? '' : 'iproute2 (ip)',
  built ? '' : 'the addon (npm run build:native)',
].filter(Boolean);
const tapName = canTap ? 'TAP' : `TAP (skipped: needs ${missing.join(', ')})`;

/** "TypeError: fd must be an integer" for whatever fn throws, or "no throw". */
function thrown(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
  return 'no throw';
}


/** Naive RFC 1071 reference: big-endian words, odd byte padded, end-around carry fold, not complemented. */
function refSum(u8: Uint8Array, off: number, len: number, initial: number): number {
  let s = initial;
  for (let i = 0; i < len; i += 2) s += (u8[off + i] << 8) | (i + 1 < len ? u8[off + i + 1] : 0);
  while (s > 0xffff) s = (s % 65536) + Math.floor(s / 65536);
  return s;
}

describe.skipIf(!built)(builtName, () => {
  describe('errors', () => {
    it('errnoName maps numbers of either sign to names', () => {
      expect(errnoName(13)).toBe('EACCES');
      expect(errnoName(-11)).toBe('EAGAIN');
      expect(errnoName(95)).toBe('EOPNOTSUPP');
      expect(errnoName(99999)).toBe('EUNKNOWN');
    });

    it('nativeError builds an ENATIVE LbError naming the call and the errno', () => {
      const e = nativeError(-13, 'openTap tap0');
      expect(e).toBeInstanceOf(LbError);
      expect(e.code).toBe('ENATIVE');
      expect(e.message).toBe('openTap tap0: EACCES (13)');
    });

    it('loads the addon from the documented path', () => {
      expect(NATIVE_PATH.endsWith('/build/Release/tapvs.node')).toBe(true);
      expect(nativeLoadError()).toBeNull();
    });
  });

  describe('argument checks', () => {
    const ab = new ArrayBuffer(1024);
    const l4 = new Int32Array(4);
    it.each<[string, () => unknown, string]>([
      ['openTap name', () => native.openTap(1 as never, 0), 'TypeError: name must be a string'],
      ['openTap flags', () => native.openTap('x', 1.5), 'TypeError: flags must be an integer'],
      ['openTap flag bits', () => native.openTap('x', 8), 'RangeError: flags must be a combination of 1 (multi-queue), 2 (vnet header) and 4 (tun)'],
      ['openRawIp proto', () => native.openRawIp(0), 'RangeError: proto must be in 1..254'],
      ['closeFd fd', () => native.closeFd('3' as never), 'TypeError: fd must be an integer'],
      ['setOffload flags', () => native.setOffload(0, -1), 'TypeError: flags must be an unsigned 32-bit integer'],
      ['setVnetHdrSize size', () => native.setVnetHdrSize(0, 'x' as never), 'TypeError: size must be an integer'],
      ['recvBatch fd', () => native.recvBatch(NaN, ab, 64, 0, 4, l4), 'TypeError: fd must be an integer'],
      ['recvBatch ring', () => native.recvBatch(0, new Uint8Array(8) as never, 64, 0, 4, l4), 'TypeError: ring must be an ArrayBuffer'],
      ['recvBatch slotSize', () => native.recvBatch(0, ab, '64' as never, 0, 4, l4), 'TypeError: slotSize must be an integer'],
      ['recvBatch headroom', () => native.recvBatch(0, ab, 64, undefined as never, 4, l4), 'TypeError: headroom must be an integer'],
      ['recvBatch max', () => native.recvBatch(0, ab, 64, 0, 2 ** 40, l4), 'TypeError: max must be an integer'],
      ['recvBatch lens', () => native.recvBatch(0, ab, 64, 0, 4, new Uint32Array(4) as never), 'TypeError: lens must be an Int32Array'],
      ['recvBatch ring size', () => native.recvBatch(0, ab, 512, 0, 4, l4), 'RangeError: ring must hold max * slotSize bytes'],
      ['recvBatch headroom bound', () => native.recvBatch(0, ab, 64, 64, 4, l4), 'RangeError: headroom must be in 0..slotSize-1'],
      ['recvBatch lens size', () => native.recvBatch(0, ab, 64, 0, 8, l4), 'RangeError: lens must have at least max elements'],
      ['sendBatch buf', () => native.sendBatch(0, null as never, l4, l4, 1), 'TypeError: buf must be an ArrayBuffer'],
      ['sendBatch offs', () => native.sendBatch(0, ab, [0] as never, l4, 1), 'TypeError: offs must be an Int32Array'],
      ['sendBatch count', () => native.sendBatch(0, ab, l4, l4, undefined as never), 'TypeError: count must be an integer'],
      ['sendBatch count bound', () => native.sendBatch(0, ab, l4, l4, 5), 'RangeError: offs must have at least count elements'],
      ['waitReadable wakeFd', () => native.waitReadable(0, null as never, 0), 'TypeError: wakeFd must be an integer'],
      ['waitReadable timeoutMs', () => native.waitReadable(0, -1, 0.5), 'TypeError: timeoutMs must be an integer'],
      ['eventfdSignal fd', () => native.eventfdSignal(undefined as never), 'TypeError: fd must be an integer'],
      ['checksum buf', () => native.checksum('abc' as never, 0, 0, 0), 'TypeError: buf must be an ArrayBuffer or ArrayBufferView'],
      ['checksum offset', () => native.checksum(ab, -1.5, 0, 0), 'TypeError: offset must be an integer'],
      ['checksum initial', () => native.checksum(ab, 0, 0, -1), 'TypeError: initial must be an unsigned 32-bit integer'],
      ['checksum length bound', () => native.checksum(ab, 1000, 25, 0), 'RangeError: length must be in 0..buf.byteLength - offset'],
      ['checksum offset bound', () => native.checksum(new Uint8Array(ab, 1000), 25, 0, 0), 'RangeError: offset must be in 0..buf.byteLength'],
      ['checksumUpdate check', () => native.checksumUpdate('1' as never, 0, 1, 16), 'TypeError: check must be an unsigned 32-bit integer'],
      ['checksumUpdate bits', () => native.checksumUpdate(0, 0, 1, 8 as never), 'RangeError: bits must be 16 or 32'],
      ['checksumUpdate oldValue', () => native.checksumUpdate(0, 0x10000, 1, 16), 'RangeError: oldValue must be in 0..65535 when bits is 16'],
      ['ifIndex name', () => native.ifIndex(5 as never), 'TypeError: name must be a string'],
      ['ifMac name', () => native.ifMac({} as never), 'TypeError: name must be a string'],
      ['openPacket ifname', () => native.openPacket(null as never), 'TypeError: ifname must be a string'],
    ])('%s', (_what, fn, message) => {
      expect(thrown(fn)).toBe(message);
    });
  });

  describe('io_uring exchange', () => {
    it('checks its arguments and refuses unknown rings', () => {
      const id = native.uringCreate();
      expect(id).toBeGreaterThanOrEqual(0);
      try {
        const mem = new ArrayBuffer(64 * 2048);
        const i32 = new Int32Array(600);
        const res = new Int32Array(2);
        expect(() => native.uringExchange(id, 0, mem, i32, i32, 300, 0, 2048, 0, 300, i32, res)).toThrow(RangeError);
        expect(() => native.uringExchange(id, 0, mem, i32, i32, 0, 2048, 2048, 0, 64, i32, res)).toThrow(RangeError);
        expect(() => native.uringExchange(id, 0, mem, i32, i32, 0, 0, 2048, 2048, 1, i32, res)).toThrow(RangeError);
        expect(() => native.uringExchange(id, 0, mem, i32, i32, 0, 0, 2048, 0, 1, i32, new Int32Array(1))).toThrow(RangeError);
        expect(native.uringExchange(9999, 0, mem, i32, i32, 0, 0, 2048, 0, 1, i32, res)).toBe(-9); // EBADF
        expect(native.uringDestroy(9999)).toBe(-9);
      } finally {
        expect(native.uringDestroy(id)).toBe(0);
      }
    });
  });

  describe('syscall failures return -errno', () => {
    it('on a bad fd', () => {
      const lens = new Int32Array(1);
      lens[0] = 10;
      expect(native.closeFd(-1)).toBe(-EBADF);
      expect(native.eventfdSignal(-1)).toBe(-EBADF);
      expect(native.recvBatch(-1, new ArrayBuffer(64), 64, 0, 1, lens)).toBe(-EBADF);
      expect(native.sendBatch(-1, new ArrayBuffer(64), new Int32Array(1), lens, 1)).toBe(-EBADF);
      expect(native.setOffload(-1, 0)).toBe(-EBADF);
      expect(native.waitReadable(1_000_000, -1, 0)).toBe(-EBADF);
    });

    it('for names that are too long or absent', () => {
      expect(native.openTap('x'.repeat(16), 0)).toBe(-EINVAL);
      expect(native.openTap('ab\0cd', 0)).toBe(-EINVAL);
      expect(native.ifIndex('tvs-no-such0')).toBe(-ENODEV);
      expect(native.ifIndex('x'.repeat(40))).toBe(-ENODEV);
      expect(native.ifMac('tvs-no-such0')).toBe('');
      expect(native.openPacket('tvs-no-such0')).toBe(-ENODEV);
    });

    it('ifIndex/ifMac find the loopback device', () => {
      expect(native.ifIndex('lo')).toBeGreaterThan(0);
      expect(native.ifMac('lo')).toBe('00:00:00:00:00:00');
    });
  });

  describe('batch I/O on plain fds', () => {
    it('recvBatch places frame i at i*slotSize+headroom and leaves headroom untouched', () => {
      const fd = openSync('/dev/zero', 'r');
      try {
        const slot = 100, head = 14, max = 5;
        const ring = new ArrayBuffer(slot * max + 7);
        const u8 = new Uint8Array(ring).fill(0xaa);
        const lens = new Int32Array(max + 1).fill(-1);
        expect(native.recvBatch(fd, ring, slot, head, max, lens)).toBe(max);
        expect(Array.from(lens)).toEqual([86, 86, 86, 86, 86, -1]);
        for (let i = 0; i < max; i++) {
          expect(u8.subarray(i * slot, i * slot + head).every((b) => b === 0xaa)).toBe(true);
          expect(u8.subarray(i * slot + head, (i + 1) * slot).every((b) => b === 0)).toBe(true);
        }
        expect(u8.subarray(slot * max).every((b) => b === 0xaa)).toBe(true);
        expect(native.recvBatch(fd, ring, slot, head, 0, lens)).toBe(0);
      } finally {
        closeSync(fd);
      }
      const nul = openSync('/dev/null', 'r');
      try {
        expect(native.recvBatch(nul, new ArrayBuffer(64), 64, 0, 1, new Int32Array(1))).toBe(0);
      } finally {
        closeSync(nul);
      }
    });

    it('sendBatch skips empty and out-of-bounds frames and counts the rest', () => {
      const fd = openSync('/dev/null', 'w');
      try {
        const buf = new ArrayBuffer(100);
        const offs = Int32Array.from([0, 90, -1, 50, 60, 99]);
        const lens = Int32Array.from([10, 11, 5, 0, 40, 1]);
        expect(native.sendBatch(fd, buf, offs, lens, 6)).toBe(3);
        expect(native.sendBatch(fd, buf, offs, lens, 0)).toBe(0);
      } finally {
        closeSync(fd);
      }
    });

    it('an eventfd wakes waitReadable once per signal batch, and times out with 0', () => {
      const efd = native.eventfdCreate();
      expect(efd).toBeGreaterThanOrEqual(0);
      try {
        expect(native.waitReadable(-1, efd, 0)).toBe(0);
        expect(native.eventfdSignal(efd)).toBe(0);
        expect(native.eventfdSignal(efd)).toBe(0);
        expect(native.waitReadable(-1, efd, 1000)).toBe(WAIT_WOKEN);
        const t0 = performance.now();
        expect(native.waitReadable(-1, efd, 30)).toBe(0);
        expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
        wakeWorker(efd);
        expect(native.waitReadable(-1, efd, 1000)).toBe(WAIT_WOKEN);
      } finally {
        expect(native.closeFd(efd)).toBe(0);
      }
      expect(() => wakeWorker(efd)).toThrow('eventfdSignal: EBADF (9)');
    });

    it('loads in several worker threads at once', async () => {
      const code = `
        const { parentPort, workerData } = require('node:worker_threads');
        const a = require(workerData.path);
        parentPort.postMessage(a.checksum(new Uint8Array([1, 2, 3, 4, 5]), 0, 5, 0));`;
      const run = () =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { path: NATIVE_PATH } });
          w.once('message', (v: number) => void w.terminate().then(() => resolve(v)));
          w.once('error', reject);
        });
      const results = await Promise.all([run(), run(), run()]);
      expect(results).toEqual([0x0906, 0x0906, 0x0906]);
    });
  });

  describe('checksum', () => {
    it('matches a naive reference on random buffers, lengths and offsets', () => {
      const rand = rng(1071);
      for (let iter = 0; iter < 400; iter++) {
        const size = Math.floor(rand() * 1600) + (iter % 2);
        const u8 = new Uint8Array(size);
        for (let i = 0; i < size; i++) u8[i] = Math.floor(rand() * 256);
        const off = Math.floor(rand() * (size + 1));
        const len = Math.floor(rand() * (size - off + 1));
        const initial = iter % 3 === 0 ? 0 : Math.floor(rand() * 2 ** 32);
        const want = refSum(u8, off, len, initial);
        expect(native.checksum(u8.buffer, off, len, initial)).toBe(want);
        // a view: offset is relative to the view
        const view = new Uint8Array(u8.buffer, off);
        expect(native.checksum(view, 0, len, initial)).toBe(want);
        expect(native.checksum(new DataView(u8.buffer, off, len), 0, len, initial)).toBe(want);
      }
    });

    it('handles edge values: empty, all-ones, huge initial, 64 KiB', () => {
      expect(native.checksum(new ArrayBuffer(0), 0, 0, 0)).toBe(0);
      expect(native.checksum(new ArrayBuffer(9), 0, 9, 0)).toBe(0);
      expect(native.checksum(new ArrayBuffer(0), 0, 0, 0x12345)).toBe(0x2346);
      const ones = new Uint8Array(1501).fill(0xff);
      expect(native.checksum(ones, 0, 1501, 0xffffffff)).toBe(refSum(ones, 0, 1501, 0xffffffff));
      const big = new Uint8Array(65545);
      const rand = rng(7);
      for (let i = 0; i < big.length; i++) big[i] = Math.floor(rand() * 256);
      expect(native.checksum(big, 3, 65540, 0)).toBe(refSum(big, 3, 65540, 0));
      const u16 = new Uint16Array(big.buffer, 8, 100);
      expect(native.checksum(u16, 2, 198, 0)).toBe(refSum(big, 10, 198, 0));
    });

    it('RFC 1624 worked example gives 0x0000, not 0xFFFF', () => {
      // sum of the other words 0xCD7A; m 0x5555 -> m' 0x3285
      const before = new Uint8Array([0xcd, 0x7a, 0x55, 0x55]);
      const hc = ~native.checksum(before, 0, 4, 0) & 0xffff;
      expect(hc).toBe(0xdd2f);
      expect(native.checksumUpdate(hc, 0x5555, 0x3285, 16)).toBe(0x0000);
      const after = new Uint8Array([0xcd, 0x7a, 0x32, 0x85]);
      expect(~native.checksum(after, 0, 4, 0) & 0xffff).toBe(0x0000);
    });

    it('returns check unchanged when the field does not change (errata 4782)', () => {
      expect(native.checksumUpdate(0, 0x1234, 0x1234, 16)).toBe(0);
      expect(native.checksumUpdate(0xbeef, 0xdeadbeef, 0xdeadbeef, 32)).toBe(0xbeef);
      // eqn. 3 alone would turn 0xFFFF (a UDP checksum whose computed value was 0) into 0x0000 = "no checksum"
      expect(native.checksumUpdate(0xffff, 5, 5, 16)).toBe(0xffff);
    });

    it.each([16, 32] as const)('incremental update of a %i-bit field agrees with full recomputation', (bits) => {
      const rand = rng(1624 + bits);
      const bytes = bits / 8;
      for (let iter = 0; iter < 1000; iter++) {
        const size = 20 + 2 * Math.floor(rand() * 20); // an IPv4-header-like even-length block
        const u8 = new Uint8Array(size);
        for (let i = 0; i < size; i++) u8[i] = Math.floor(rand() * 256);
        const dv = new DataView(u8.buffer);
        dv.setUint16(10, 0);
        const check = ~native.checksum(u8, 0, size, 0) & 0xffff;
        dv.setUint16(10, check);
        let at = 12 + 2 * Math.floor(rand() * ((size - 12 - bytes) / 2 + 1));
        if (iter % 10 === 0) at = 12; // also the IPv4 saddr position
        const oldV = bits === 16 ? dv.getUint16(at) : dv.getUint32(at);
        const pick = rand();
        const newV = pick < 0.05 ? 0 : pick < 0.1 ? 2 ** bits - 1 : Math.floor(rand() * 2 ** bits);
        if (bits === 16) dv.setUint16(at, newV);
        else dv.setUint32(at, newV);
        dv.setUint16(10, 0);
        const want = ~native.checksum(u8, 0, size, 0) & 0xffff;
        expect(native.checksumUpdate(check, oldV, newV, bits)).toBe(want);
        expect(want).toBe(~refSum(u8, 0, size, 0) & 0xffff);
      }
    });
  });
});

/**
 * Real TAP devices. Everything gets a unique name from the pid; the kernel side lives in a network namespace
 * the suite creates (the TAP is opened in the root namespace and moved: its fd stays attached).
 */
describe.skipIf(!canTap)(tapName, () => {
  const id = process.pid % 10000;
  const NS = `tvsn${id}`;
  const TAP = `tvsn${id}`; // kernel side 10.77.0.1/24 in NS
  const VTAP = `tvsv${id}`; // IFF_VNET_HDR, 10.78.0.1/24 in NS
  const MQ = `tvsm${id}`;
  const SQ = `tvss${id}`;
  const PERSIST = `tvsp${id}`;
  const PKT = `tvsk${id}`; // root namespace, for openPacket
  const ME = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
  const fds: number[] = [];
  let fd = -1;
  let vfd = -1;
  let efd = -1;

  const sh = (cmd: string, ...args: string[]) =>
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).toString();
  const quiet = (cmd: string, ...args: string[]) => spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  const nsStat = (dev: string, what: string) =>
    Number(sh('ip', 'netns', 'exec', NS, 'cat', `/sys/class/net/${dev}/statistics/${what}`));
  const track = (f: number) => {
    expect(f).toBeGreaterThanOrEqual(0);
    fds.push(f);
    return f;
  };

  /** ARP request "who has `target`? tell `sender`" from `mac`, at `at` in u8 (42 bytes). */
  function arpRequest(u8: Uint8Array, at: number, mac: number[], sender: number[], target: number[]): number {
    u8.fill(0xff, at, at + 6);
    u8.set(mac, at + 6);
    u8.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01], at + 12);
    u8.set(mac, at + 22);
    u8.set(sender, at + 28);
    u8.fill(0, at + 32, at + 38);
    u8.set(target, at + 38);
    return 42;
  }

  /** Reads until nothing arrives for 20 ms (bounded: 50 rounds). */
  function drain(f: number): number {
    const ring = new ArrayBuffer(64 * 2048);
    const lens = new Int32Array(64);
    let total = 0;
    for (let round = 0; round < 50 && native.waitReadable(f, -1, 20) > 0; round++) {
      const n = native.recvBatch(f, ring, 2048, 0, 64, lens);
      if (n <= 0) break;
      total += n;
    }
    return total;
  }

  function cleanup(): void {
    for (const f of fds.splice(0)) native.closeFd(f);
    quiet('ip', 'netns', 'del', NS);
    for (const dev of [MQ, SQ, PERSIST, PKT]) quiet('ip', 'link', 'del', dev);
  }

  beforeAll(() => {
    cleanup(); // leftovers from a killed run with the same pid
    sh('ip', 'netns', 'add', NS);
    sh('ip', 'netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    fd = track(native.openTap(TAP, 0));
    vfd = track(native.openTap(VTAP, TAP_VNET_HDR));
    efd = track(native.eventfdCreate());
    for (const [dev, addr] of [[TAP, '10.77.0.1/24'], [VTAP, '10.78.0.1/24']]) {
      sh('ip', 'link', 'set', dev, 'netns', NS);
      sh('ip', '-n', NS, 'link', 'set', dev, 'up');
      sh('ip', '-n', NS, 'addr', 'add', addr, 'dev', dev);
    }
  });

  afterAll(() => {
    cleanup();
  });

  it('sendBatch writes a batch that the kernel counts, and recvBatch gets the ARP replies', () => {
    const N = 8;
    const buf = new ArrayBuffer(64 * (N + 1));
    const u8 = new Uint8Array(buf);
    const offs = new Int32Array(N + 1);
    const lens = new Int32Array(N + 1);
    for (let i = 0; i < N; i++) {
      offs[i] = i * 64;
      lens[i] = arpRequest(u8, offs[i], [...ME.slice(0, 5), i + 1], [10, 77, 0, 100 + i], [10, 77, 0, 1]);
    }
    offs[N] = buf.byteLength - 10; // out of bounds: skipped
    lens[N] = 42;
    const rx0 = nsStat(TAP, 'rx_packets');
    const tx0 = nsStat(TAP, 'tx_packets');
    expect(native.sendBatch(fd, buf, offs, lens, N + 1)).toBe(N);
    expect(nsStat(TAP, 'rx_packets') - rx0).toBe(N);

    // The kernel answers each request; collect the replies (bounded in calls and time).
    const ring = new ArrayBuffer(64 * 2048);
    const rlens = new Int32Array(64);
    const seen = new Set<number>();
    const perCall: number[] = [];
    const deadline = performance.now() + 2000;
    while (seen.size < N && perCall.length < 20 && performance.now() < deadline) {
      if (native.waitReadable(fd, -1, 100) <= 0) continue;
      const n = native.recvBatch(fd, ring, 2048, 0, 64, rlens);
      expect(n).toBeGreaterThanOrEqual(0);
      perCall.push(n);
      const r = new Uint8Array(ring);
      for (let i = 0; i < n; i++) {
        const f = r.subarray(i * 2048, i * 2048 + rlens[i]);
        if (f[12] !== 0x08 || f[13] !== 0x06 || f[21] !== 2) continue; // ARP reply only
        expect(rlens[i]).toBe(42);
        expect(Array.from(f.subarray(0, 5))).toEqual(ME.slice(0, 5));
        seen.add(f[5]);
      }
    }
    expect(seen.size).toBe(N);
    expect(Math.max(...perCall)).toBeGreaterThan(1); // batched, not one frame per call
    expect(nsStat(TAP, 'tx_packets') - tx0).toBeGreaterThanOrEqual(N);
  });

  it('uringExchange sends a batch and receives the replies with one syscall per call, into the half it is given', () => {
    drain(fd);
    const ringId = native.uringCreate();
    expect(ringId).toBeGreaterThanOrEqual(0);
    try {
      const N = 8;
      const SLOT = 2048;
      const mem = new ArrayBuffer(2 * 64 * SLOT);
      const u8 = new Uint8Array(mem);
      const offs = new Int32Array(N);
      const lens = new Int32Array(N);
      for (let i = 0; i < N; i++) {
        offs[i] = i * SLOT;
        lens[i] = arpRequest(u8, offs[i], [...ME.slice(0, 5), 0x40 + i], [10, 77, 0, 150 + i], [10, 77, 0, 1]);
      }
      const rxLens = new Int32Array(64);
      const res = new Int32Array(2);
      const rx0 = nsStat(TAP, 'rx_packets');
      // Send the batch and post 4 reads into the second half in the same call (nothing has been answered yet).
      const first = native.uringExchange(ringId, fd, mem, offs, lens, N, 64 * SLOT, SLOT, 0, 4, rxLens, res);
      expect(res[0]).toBe(N);
      expect(res[1]).toBe(0);
      expect(first).toBeGreaterThanOrEqual(0);
      expect(nsStat(TAP, 'rx_packets') - rx0).toBe(N);
      const seen = new Set<number>();
      const collect = (n: number, rxOff: number) => {
        for (let i = 0; i < n; i++) {
          const f = u8.subarray(rxOff + i * SLOT, rxOff + i * SLOT + rxLens[i]);
          if (f[12] === 0x08 && f[13] === 0x06 && f[21] === 2 && f[5] >= 0x40) seen.add(f[5]);
        }
      };
      collect(first, 64 * SLOT);
      const deadline = performance.now() + 2000;
      for (let round = 0; seen.size < N && round < 50 && performance.now() < deadline; round++) {
        if (native.waitReadable(fd, -1, 100) <= 0) continue;
        const n = native.uringExchange(ringId, fd, mem, offs, lens, 0, 64 * SLOT, SLOT, 0, 64, rxLens, res);
        expect(n).toBeGreaterThanOrEqual(0);
        expect(res[0]).toBe(0);
        for (let i = 0; i < n; i++) expect(rxLens[i]).toBeGreaterThan(0); // compacted: frames in slots 0..n-1
        collect(n, 64 * SLOT);
      }
      expect(seen.size).toBe(N);
      // A drained queue: 0, never -EAGAIN.
      drain(fd);
      expect(native.uringExchange(ringId, fd, mem, offs, lens, 0, 0, SLOT, 0, 16, rxLens, res)).toBe(0);
    } finally {
      expect(native.uringDestroy(ringId)).toBe(0);
    }
    sh('ip', '-n', NS, 'neigh', 'flush', 'dev', TAP);
  });

  it('recvBatch gets, in one call, the ARP requests the kernel emits for UDP to on-link addresses', () => {
    drain(fd);
    const code = `
      const s = require('node:dgram').createSocket('udp4');
      let left = 8;
      for (let i = 10; i < 18; i++) s.send(Buffer.from('x'), 9, '10.77.0.' + i, () => { if (--left === 0) s.close(); });`;
    const child = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '-e', code], { timeout: 10_000 });
    expect(child.status, child.stderr?.toString()).toBe(0);
    const ring = new ArrayBuffer(64 * 2048);
    const lens = new Int32Array(64);
    const n = native.recvBatch(fd, ring, 2048, 0, 64, lens);
    expect(n).toBeGreaterThanOrEqual(8);
    const r = new Uint8Array(ring);
    const targets = new Set<number>();
    for (let i = 0; i < n; i++) {
      const f = r.subarray(i * 2048, i * 2048 + lens[i]);
      if (f[12] === 0x08 && f[13] === 0x06 && f[21] === 1) targets.add(f[41]);
    }
    expect([...targets].sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    expect(native.recvBatch(fd, ring, 2048, 0, 64, lens)).toBe(0); // drained: 0, never -EAGAIN
    sh('ip', '-n', NS, 'neigh', 'flush', 'dev', TAP); // no ARP retransmissions 1 s later to disturb later tests
  });

  describe('waitReadable', () => {
    /** Runs `action` ('frame' or 'signal') on a worker thread 30 ms after the main thread starts waiting. */
    async function waitWhileWorker(action: 'frame' | 'signal'): Promise<{ mask: number; lateMs: number; waitedMs: number }> {
      const shared = new SharedArrayBuffer(16);
      const code = `
        const { parentPort, workerData: d } = require('node:worker_threads');
        const a = require(d.path);
        const at = new Float64Array(d.shared);
        parentPort.once('message', () => {
          Atomics.wait(new Int32Array(d.shared, 8, 1), 0, 0, 30);
          at[0] = performance.timeOrigin + performance.now();
          if (d.action === 'signal') a.eventfdSignal(d.efd);
          else a.sendBatch(d.fd, d.frame.buffer, new Int32Array([0]), new Int32Array([42]), 1);
          parentPort.postMessage('done');
        });
        parentPort.postMessage('ready');`;
      const frame = new Uint8Array(64);
      arpRequest(frame, 0, ME, [10, 77, 0, 2], [10, 77, 0, 1]);
      const w = new Worker(code, {
        eval: true,
        workerData: { path: NATIVE_PATH, shared, action, fd, efd, frame },
      });
      try {
        await new Promise((resolve, reject) => {
          w.once('message', resolve);
          w.once('error', reject);
        });
        drain(fd);
        w.postMessage('go');
        const t0 = performance.timeOrigin + performance.now();
        const mask = native.waitReadable(fd, efd, 3000); // blocks this thread
        const t1 = performance.timeOrigin + performance.now();
        const sentAt = new Float64Array(shared)[0];
        return { mask, lateMs: t1 - sentAt, waitedMs: t1 - t0 };
      } finally {
        await w.terminate();
      }
    }

    it('returns 0 on timeout', () => {
      drain(fd);
      const t0 = performance.now();
      expect(native.waitReadable(fd, efd, 50)).toBe(0);
      const waited = performance.now() - t0;
      expect(waited).toBeGreaterThanOrEqual(45);
      expect(waited).toBeLessThan(1000);
    });

    it('wakes within a few ms when a frame arrives (written by another thread)', async () => {
      const r = await waitWhileWorker('frame');
      expect(r.mask & WAIT_READABLE).toBe(WAIT_READABLE);
      expect(r.waitedMs).toBeGreaterThanOrEqual(20); // it did sleep until the frame came
      expect(r.lateMs).toBeLessThan(50);
      expect(drain(fd)).toBeGreaterThanOrEqual(1);
    });

    it('wakes within a few ms when the eventfd is signalled from another thread', async () => {
      const r = await waitWhileWorker('signal');
      expect(r.mask).toBe(WAIT_WOKEN);
      expect(r.waitedMs).toBeGreaterThanOrEqual(20);
      expect(r.lateMs).toBeLessThan(50);
      expect(native.waitReadable(-1, efd, 0)).toBe(0); // the eventfd was drained
    });
  });

  it('IFF_MULTI_QUEUE: two queues on one name; single-queue devices refuse a second open', () => {
    const q0 = track(native.openTap(MQ, TAP_MULTI_QUEUE));
    const q1 = track(native.openTap(MQ, TAP_MULTI_QUEUE));
    expect(q1).not.toBe(q0);
    const queues = readdirSync(`/sys/class/net/${MQ}/queues`).filter((q) => q.startsWith('tx-'));
    expect(queues.sort()).toEqual(['tx-0', 'tx-1']);
    expect(native.openTap(MQ, 0)).toBe(-EINVAL); // multi-queue flag must match
    const s0 = track(native.openTap(SQ, 0));
    expect(s0).toBeGreaterThanOrEqual(0);
    expect(native.openTap(SQ, 0)).toBe(-EBUSY);
    expect(thrown(() => TapIO.open(SQ))).toBe(`LbError: openTap ${SQ}: EBUSY (16)`);
  });

  it('attaches to a persistent multi-queue device made by ip tuntap', () => {
    sh('ip', 'tuntap', 'add', 'dev', PERSIST, 'mode', 'tap', 'multi_queue');
    const a = native.openTap(PERSIST, TAP_MULTI_QUEUE);
    const b = native.openTap(PERSIST, TAP_MULTI_QUEUE);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(b).toBeGreaterThanOrEqual(0);
    expect(native.closeFd(a)).toBe(0);
    expect(native.closeFd(b)).toBe(0);
    expect(existsSync(`/sys/class/net/${PERSIST}`)).toBe(true); // persistent: survives its queues
    sh('ip', 'link', 'del', PERSIST);
  });

  it('IFF_VNET_HDR: frames carry the 10-byte virtio_net_hdr prefix both ways', () => {
    expect(native.setOffload(vfd, TUN_F_CSUM)).toBe(0);
    expect(native.setVnetHdrSize(vfd, 12)).toBe(0);
    expect(native.setVnetHdrSize(vfd, VNET_HDR_LEN)).toBe(0);
    drain(vfd);
    const buf = new ArrayBuffer(128);
    const u8 = new Uint8Array(buf); // bytes 0..9: an all-zero virtio_net_hdr (no offload)
    const len = VNET_HDR_LEN + arpRequest(u8, VNET_HDR_LEN, ME, [10, 78, 0, 2], [10, 78, 0, 1]);
    expect(native.sendBatch(vfd, buf, new Int32Array([0]), new Int32Array([len]), 1)).toBe(1);
    const ring = new ArrayBuffer(16 * 2048);
    const lens = new Int32Array(16);
    let reply: Uint8Array | null = null;
    for (let round = 0; round < 20 && reply === null; round++) {
      if (native.waitReadable(vfd, -1, 100) <= 0) continue;
      const n = native.recvBatch(vfd, ring, 2048, 0, 16, lens);
      for (let i = 0; i < n; i++) {
        const f = new Uint8Array(ring, i * 2048, lens[i]);
        if (f[VNET_HDR_LEN + 12] === 0x08 && f[VNET_HDR_LEN + 13] === 0x06 && f[VNET_HDR_LEN + 21] === 2) reply = f;
      }
    }
    expect(reply).not.toBeNull();
    expect(reply!.length).toBe(42 + VNET_HDR_LEN); // an ARP reply is 42 bytes on the plain TAP
    expect(Array.from(reply!.subarray(0, 2))).toEqual([0, 0]); // flags, gso_type: none
    expect(Array.from(reply!.subarray(VNET_HDR_LEN, VNET_HDR_LEN + 6))).toEqual(ME);
  });

  it('openPacket: an AF_PACKET socket and a TAP exchange frames through TapIO', () => {
    const efd2 = track(native.eventfdCreate());
    const io = TapIO.open(PKT, { wakeFd: efd2 });
    try {
      const v6 = `/proc/sys/net/ipv6/conf/${PKT}/disable_ipv6`;
      if (existsSync(v6)) writeFileSync(v6, '1');
      sh('ip', 'link', 'set', PKT, 'up');
      expect(native.ifIndex(PKT)).toBe(Number(readFileSync(`/sys/class/net/${PKT}/ifindex`, 'utf8')));
      expect(native.ifMac(PKT)).toBe(readFileSync(`/sys/class/net/${PKT}/address`, 'utf8').trim());
      const pfd = track(native.openPacket(PKT));

      // frames with the local experimental EtherType 0x88b5, 60 bytes, marker in byte 14
      const buf = new ArrayBuffer(256);
      const u8 = new Uint8Array(buf);
      for (let i = 0; i < 3; i++) {
        u8.fill(0xff, i * 64, i * 64 + 6);
        u8.set(ME, i * 64 + 6);
        u8.set([0x88, 0xb5, 0xa0 + i], i * 64 + 12);
      }
      const offs = Int32Array.from([0, 64, 128]);
      const lens = Int32Array.from([60, 60, 60]);
      const ring = new ArrayBuffer(16 * 256);
      const rlens = new Int32Array(16);
      const collect = (recv: () => number, wait: () => number): number[] => {
        const got: number[] = [];
        const r = new Uint8Array(ring);
        for (let round = 0; round < 20 && got.length < 3; round++) {
          if (wait() <= 0) continue;
          const n = recv();
          for (let i = 0; i < n; i++) if (r[i * 256 + 12] === 0x88 && r[i * 256 + 13] === 0xb5) got.push(r[i * 256 + 14]);
        }
        return got;
      };

      // TAP write -> device receives -> packet socket reads
      expect(io.send(buf, offs, lens, 3)).toBe(3);
      expect(
        collect(
          () => native.recvBatch(pfd, ring, 256, 0, 16, rlens),
          () => native.waitReadable(pfd, -1, 100),
        ),
      ).toEqual([0xa0, 0xa1, 0xa2]);

      // packet socket write -> device transmits -> TAP read
      u8[14] = 0xb0;
      u8[64 + 14] = 0xb1;
      u8[128 + 14] = 0xb2;
      expect(native.sendBatch(pfd, buf, offs, lens, 3)).toBe(3);
      expect(
        collect(
          () => io.recv(ring, 256, 0, 16, rlens),
          () => io.wait(100),
        ),
      ).toEqual([0xb0, 0xb1, 0xb2]);

      wakeWorker(efd2);
      expect(io.wait(1000) & WAIT_WOKEN).toBe(WAIT_WOKEN);
    } finally {
      io.close();
      io.close();
    }
    expect(io.fd).toBe(-1);
    expect(io.recv(new ArrayBuffer(64), 64, 0, 1, new Int32Array(1))).toBe(-EBADF);
    expect(existsSync(`/sys/class/net/${PKT}`)).toBe(false); // non-persistent: gone with its last queue
  });
});
