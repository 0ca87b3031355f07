/**
 * The generated steering program against the real kernel: it passes the verifier, attaches to a multi-queue
 * TAP, and every frame the kernel sends lands on the queue the workers' steerOwner() names — keyed on the
 * source for traffic to an owned address, on the destination otherwise; ARP on queue 0.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native, nativeAvailable } from '../../src/io/native.js';
import { attachSteering, buildSteeringProgram, steerOwner } from '../../src/io/steering.js';
import { parseIPv4 } from '../../src/util/addr.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : !nativeAvailable() ? 'native addon not built' : null;
const NS = `tvst${process.pid % 1000}`;
const TAP = `tvst${process.pid % 1000}`;
const sh = (...a: string[]) => execFileSync(a[0]!, a.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const nsx = (...a: string[]) => sh('ip', 'netns', 'exec', NS, ...a);

describe.skipIf(skip !== null)(`steering on a multi-queue TAP${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const fds: number[] = [];
  const OWNED = parseIPv4('198.18.9.100');

  beforeAll(() => {
    try { sh('ip', 'netns', 'del', NS); } catch { /* leftover from a killed run */ }
    for (let q = 0; q < 2; q++) {
      const fd = native.openTap(TAP, 1);
      expect(fd, `openTap queue ${q}`).toBeGreaterThanOrEqual(0);
      fds.push(fd);
    }
    sh('ip', 'netns', 'add', NS);
    sh('ip', 'link', 'set', TAP, 'netns', NS);
    nsx('ip', 'addr', 'add', '198.18.9.1/24', 'dev', TAP);
    nsx('ip', 'link', 'set', TAP, 'up');
    nsx('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
    for (const ip of ['198.18.9.100', '198.18.9.50']) nsx('ip', 'neigh', 'add', ip, 'lladdr', '02:00:00:00:09:01', 'dev', TAP);
  });

  afterAll(() => {
    for (const fd of fds) native.closeFd(fd);
    try { sh('ip', 'netns', 'del', NS); } catch { /* gone */ }
  });

  it('loads, attaches, and steers each flow to the queue steerOwner computes', () => {
    expect(attachSteering(native, fds[0]!, [OWNED])).toBeNull();
    const ring = new ArrayBuffer(64 * 2048);
    const lens = new Int32Array(64);
    const drain = (q: number) => {
      const frames: { src: number; dst: number; sport: number; dport: number; type: number }[] = [];
      for (;;) {
        const n = native.recvBatch(fds[q]!, ring, 2048, 0, 64, lens);
        if (n <= 0) return frames;
        for (let i = 0; i < n; i++) {
          const dv = new DataView(ring, i * 2048, lens[i]!);
          const type = dv.getUint16(12);
          frames.push(type === 0x0800
            ? { type, src: dv.getUint32(26), dst: dv.getUint32(30), sport: dv.getUint16(34), dport: dv.getUint16(36) }
            : { type, src: 0, dst: 0, sport: 0, dport: 0 });
        }
      }
    };
    drain(0);
    drain(1);
    // 64 datagrams to the owned address from distinct source ports, and 64 to another host (a "reply" shape).
    const script = `
      const d = require('node:dgram'); let left = 128;
      for (let i = 0; i < 64; i++) for (const dst of ['198.18.9.100', '198.18.9.50']) {
        const s = d.createSocket('udp4');
        s.bind((dst === '198.18.9.100' ? 20000 : 21000) + i, () => s.send('x', dst === '198.18.9.100' ? 9000 : 30000 + i, dst, () => { s.close(); if (--left === 0) process.exit(0); }));
      }`;
    nsx(process.execPath, '-e', script);
    const got = [drain(0), drain(1)];
    let checked = 0;
    for (let q = 0; q < 2; q++) {
      for (const f of got[q]!) {
        if (f.type !== 0x0800) {
          expect(q, 'non-IPv4 frames go to queue 0').toBe(0);
          continue;
        }
        const owned = f.dst === OWNED;
        const want = owned ? steerOwner(f.src, f.sport, 2) : steerOwner(f.dst, f.dport, 2);
        expect(q, `${owned ? 'to owned' : 'to other'} ${f.sport}->${f.dport}`).toBe(want);
        checked++;
      }
    }
    expect(checked).toBe(128);
    expect(got[0]!.length).toBeGreaterThan(20); // both queues used
    expect(got[1]!.length).toBeGreaterThan(20);
  });

  it('loads for any address set: none, many, with FULLNAT local addresses', () => {
    for (const [owned, lips] of [[[], []], [[OWNED], [OWNED + 1]], [Array.from({ length: 300 }, (_, k) => OWNED + k), []]] as number[][][]) {
      const log = new Uint8Array(65536);
      const fd = native.bpfLoadSocketFilter(buildSteeringProgram(owned!, lips), log);
      expect(fd, new TextDecoder().decode(log.subarray(0, log.indexOf(0)))).toBeGreaterThanOrEqual(0);
      native.closeFd(fd);
    }
  });

  it('reports the verifier\'s complaint for a bad program', () => {
    const bad = buildSteeringProgram([OWNED]).slice(0, 16); // no exit
    const log = new Uint8Array(4096);
    expect(native.bpfLoadSocketFilter(bad, log)).toBeLessThan(0);
    expect(new TextDecoder().decode(log.subarray(0, log.indexOf(0)))).not.toBe('');
  });
});
