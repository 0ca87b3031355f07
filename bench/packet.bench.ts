/**
 * Packet micro-benchmark: header parsing (src/packet/parse.ts) and the Internet checksum, full (RFC 1071) and
 * incremental (RFC 1624), in TypeScript (src/packet/checksum.ts) and through the native addon (one N-API call
 * per checksum), at 64- and 1500-byte frames. It answers which one the packet path should call, and what a
 * parse with and without L4 checksum verification costs.
 *
 * Run: npm run bench (all micro benches), or
 *   npx tsc -p bench/tsconfig.json && node dist-bench/bench/packet.bench.js [--out FILE]
 *
 * Each measured call runs OPS_PER_CALL operations over a few different frames, so tinybench's per-call overhead
 * is amortised; ns/op = call latency / OPS_PER_CALL (p99 over calls). Results feed a sink so nothing is
 * optimised away.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { Bench } from 'tinybench';
import { csumPartial, csumUpdate16, csumUpdate32 } from '../src/packet/checksum.js';
import { Pkt, parseIPv4 } from '../src/packet/parse.js';
import type { NativeAddon } from '../src/io/native.js';
import { pkt } from '../test/helpers/packet-builder.js';

const OPS_PER_CALL = 1000;
const FRAMES = 8;

// The addon, from the repository root (this file runs from dist-bench/bench/).
let native: NativeAddon | null = null;
let nativeWhy = '';
try {
  native = createRequire(import.meta.url)('../../build/Release/tapvs.node') as NativeAddon;
} catch (e) {
  nativeWhy = (e as Error).message.split('\n')[0]!;
}

/** FRAMES frames of `size` bytes (Ethernet included) in one buffer, each at a 2048-byte slot. */
function frames(proto: 'udp' | 'tcp', size: number): { u8: Uint8Array; dv: DataView; offs: number[] } {
  const u8 = new Uint8Array(FRAMES * 2048);
  const offs: number[] = [];
  for (let i = 0; i < FRAMES; i++) {
    let b = pkt().eth({ src: '02:cc:00:00:00:02', dst: '02:aa:00:00:00:01' }).ipv4({ src: `198.18.0.${2 + i}`, dst: '198.18.0.100' });
    b = proto === 'udp' ? b.udp({ sport: 20000 + i, dport: 9000 }) : b.tcp({ sport: 30000 + i, dport: 80, flags: 'PA', seq: 1, ack: 1 });
    const hdr = 14 + 20 + (proto === 'udp' ? 8 : 20);
    const f = b.payload(size - hdr).build();
    if (f.length !== size) throw new Error(`frame is ${f.length} bytes, wanted ${size}`);
    u8.set(f, i * 2048);
    offs.push(i * 2048);
  }
  return { u8, dv: new DataView(u8.buffer), offs };
}

const lines: string[] = [];
const say = (s: string) => {
  lines.push(s);
  console.log(s);
};
say(`# packet benchmark ${new Date().toISOString()}`);
say(`# machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
say(`# ${OPS_PER_CALL} ops per measured call over ${FRAMES} frames; sizes are Ethernet frame bytes`);
say(`# full checksum = one's-complement sum over the whole IPv4 packet (frame - 14 bytes); incremental = one`);
say(`# 32-bit field (an address) + one 16-bit field (a port) changed, as NAT does per packet`);
if (!native) say(`# native addon not loaded (${nativeWhy}): native cases skipped`);

let sink = 0;
const bench = new Bench({ time: 500, warmupTime: 100 });
const pk = new Pkt();
for (const size of [64, 1500]) {
  for (const proto of ['udp', 'tcp'] as const) {
    const { u8, dv, offs } = frames(proto, size);
    for (const verify of [false, true]) {
      bench.add(`parse ${proto} ${size} B${verify ? ' + verify L4' : ''}`, () => {
        for (let j = 0; j < OPS_PER_CALL; j++) {
          pk.base = offs[j & (FRAMES - 1)]!;
          pk.len = size;
          sink += parseIPv4(u8, dv, pk, verify);
        }
      });
    }
  }
  const { u8, offs } = frames('udp', size);
  const len = size - 14;
  bench.add(`csum full TS      ${size} B`, () => {
    for (let j = 0; j < OPS_PER_CALL; j++) sink += csumPartial(u8, offs[j & (FRAMES - 1)]! + 14, len, 0);
  });
  if (native) {
    const n = native;
    bench.add(`csum full native  ${size} B`, () => {
      for (let j = 0; j < OPS_PER_CALL; j++) sink += n.checksum(u8, offs[j & (FRAMES - 1)]! + 14, len, 0);
    });
  }
}
// Incremental updates do not depend on the frame size: they touch only the checksum field.
const olds = Int32Array.from({ length: FRAMES }, (_, i) => (0xc6120064 + i) | 0);
const nows = Int32Array.from({ length: FRAMES }, (_, i) => (0xc612010b + i) | 0);
bench.add('csum incremental TS', () => {
  let c = 0x1234;
  for (let j = 0; j < OPS_PER_CALL; j++) {
    const k = j & (FRAMES - 1);
    c = csumUpdate16(csumUpdate32(c, olds[k]! >>> 0, nows[k]! >>> 0), 20000 + k, 9000);
  }
  sink += c;
});
if (native) {
  const n = native;
  bench.add('csum incremental native', () => {
    let c = 0x1234;
    for (let j = 0; j < OPS_PER_CALL; j++) {
      const k = j & (FRAMES - 1);
      c = n.checksumUpdate(n.checksumUpdate(c, olds[k]! >>> 0, nows[k]! >>> 0, 32), 20000 + k, 9000, 16);
    }
    sink += c;
  });
}
await bench.run();
say('');
say(`${'case'.padEnd(32)} ${'ns/op mean'.padStart(12)} ${'p99 ns/op'.padStart(12)}`);
for (const task of bench.tasks) {
  const r = task.result as { latency?: { mean: number; p99?: number } } | undefined;
  const mean = ((r?.latency?.mean ?? NaN) * 1e6) / OPS_PER_CALL;
  const p99 = ((r?.latency?.p99 ?? NaN) * 1e6) / OPS_PER_CALL;
  say(`${task.name.padEnd(32)} ${mean.toFixed(1).padStart(12)} ${p99.toFixed(1).padStart(12)}`);
}
if (sink === 0.5) console.log('unreachable');
const outIdx = process.argv.indexOf('--out');
if (outIdx > 0) writeFileSync(process.argv[outIdx + 1]!, lines.join('\n') + '\n');
