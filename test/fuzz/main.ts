/**
 * The long fuzz run (scripts/fuzz.sh): `node dist-fuzz/test/fuzz/main.js [frames] [seed] [--out FILE]` runs the
 * pipeline fuzzer in its three configurations (7/10 of the frames: one worker with a roomy conn table; 2/10:
 * worker 2 of 2 with a table of 64 entries that a flood of spoofed SYNs keeps full; 1/10: TAP offloads, every frame
 * with a virtio_net_hdr) and prints the figures as JSON. Exit status 1 on any failure.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { fuzz, type FuzzResult } from './harness.js';

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args.splice(outAt, 2)[1] : undefined;
const frames = Number(args[0] ?? 10_000_000);
const seed = Number(args[1] ?? Date.now() % 100_000);
if (!Number.isInteger(frames) || frames < 1 || !Number.isInteger(seed)) {
  console.error('usage: main.js [frames] [seed] [--out FILE]');
  process.exit(2);
}

const runs: { config: string; result: FuzzResult }[] = [];
const small = Math.max(1, Math.round(frames / 5));
const vnet = Math.max(1, Math.round(frames / 10));
for (const [config, n, opts, s] of [
  ['1 worker, 2048 conns', frames - small - vnet, {}, seed],
  ['worker 2 of 2, 64 conns, 20 % spoofed SYNs', small, { workers: 2, maxConns: 64, synFlood: 0.2 }, seed + 1],
  ['TAP offloads: virtio headers, partial checksums, GSO super-frames', vnet, { vnet: true }, seed + 2],
] as const) {
  const result = await fuzz(s, n, opts);
  runs.push({ config, result });
  const r = result;
  console.error(`${config}: seed ${r.seed}, ${r.frames} frames in ${(r.ms / 1000).toFixed(1)} s (${Math.round(r.frames / (r.ms / 1000))} frames/s), ` +
    `${r.exceptions} exceptions, ${r.failures.length} failure kinds, ${r.txFrames} frames sent, ${r.conns.created} conns created`);
}
const report = {
  date: new Date().toISOString(),
  machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, node ${process.version}`,
  frames, seed, runs,
};
const text = JSON.stringify(report, null, 1);
console.log(text);
if (out) writeFileSync(out, text + '\n');
process.exit(runs.every((r) => r.result.exceptions === 0 && r.result.failures.length === 0) ? 0 : 1);
