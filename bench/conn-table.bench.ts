/**
 * Connection-table micro-benchmark and memory measurement (issue: ≤ 150 bytes per connection at 1M entries
 * in one worker; lookup ≤ 100 ns).
 *
 * Run: npx tsc -p bench/tsconfig.json && node --expose-gc dist-bench/bench/conn-table.bench.js [--out FILE]
 *
 * Memory: heap + external bytes (ArrayBuffers are part of external) before creating a 1M-entry table and after filling it, divided by
 * the entry count (typed arrays are allocated up front, so this is the table's full cost, including both hash
 * indexes and the timer wheel). Speed (tinybench): inbound lookup hit and miss, outbound lookup, insert+remove,
 * and an expiry pass, at 10^4, 10^5 and 10^6 live entries.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Bench } from 'tinybench';
import { ConnTable } from '../src/worker/conn-table.js';

const TCP = 6;
const VIP = 0xc6120064 | 0;
const SIZES = [10_000, 100_000, 1_000_000];
const OPS_PER_CALL = 1000;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
// `external` already includes ArrayBuffer memory (`arrayBuffers` is a subset of it), so it is not added again.
const mem = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
};
const caddr = (i: number) => (0x0a000000 + (i >>> 8)) | 0;
const cport = (i: number) => 1024 + (i & 255);
const raddr = (i: number) => (0xc6120100 + (i % 64)) | 0;

function filled(n: number): ConnTable {
  const t = new ConnTable(n, 0);
  t.now = 0;
  for (let i = 0; i < n; i++) t.insert(TCP, caddr(i), cport(i), VIP, 80, raddr(i), 8080, caddr(i), cport(i), 900_000);
  return t;
}

const lines: string[] = [];
const say = (s: string) => {
  lines.push(s);
  console.log(s);
};

say(`# conn-table benchmark ${new Date().toISOString()}`);
say(`# machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

gc();
const before = mem();
const big = filled(1_000_000);
gc();
const after = mem();
const perConn = (after - before) / big.count;
say(`memory: ${big.count} entries, ${((after - before) / 1048576).toFixed(1)} MiB, ${perConn.toFixed(1)} bytes/connection (target ≤ 150)`);

const bench = new Bench({ time: 400, warmupTime: 100 });
for (const n of SIZES) {
  const t = n === 1_000_000 ? big : filled(n);
  let k = 0;
  bench.add(`lookupIn hit   n=${n}`, () => {
    for (let j = 0; j < OPS_PER_CALL; j++) {
      const i = (k = (k + 7919) % n);
      t.lookupIn(TCP, caddr(i), cport(i), VIP, 80);
    }
  });
  bench.add(`lookupIn miss  n=${n}`, () => {
    for (let j = 0; j < OPS_PER_CALL; j++) {
      const i = (k = (k + 7919) % n);
      t.lookupIn(TCP, caddr(i), cport(i) + 20000, VIP, 80);
    }
  });
  bench.add(`lookupOut hit  n=${n}`, () => {
    for (let j = 0; j < OPS_PER_CALL; j++) {
      const i = (k = (k + 7919) % n);
      t.lookupOut(TCP, raddr(i), 8080, caddr(i), cport(i));
    }
  });
  const spare = new ConnTable(n + OPS_PER_CALL, 0);
  for (let i = 0; i < n; i++) spare.insert(TCP, caddr(i), cport(i), VIP, 80, raddr(i), 8080, caddr(i), cport(i), 900_000);
  const rows = new Int32Array(OPS_PER_CALL);
  const h = { onExpire: () => true };
  bench.add(`insert+remove  n=${n}`, () => {
    for (let j = 0; j < OPS_PER_CALL; j++) rows[j] = spare.insert(TCP, 0x0b000000 + j, 5000, VIP, 80, raddr(j), 8080, 0x0b000000 + j, 5000, 1000);
    for (let j = 0; j < OPS_PER_CALL; j++) spare.remove(rows[j]!, h);
  });
}
await bench.run();
say('');
say(`${'case'.padEnd(26)} ${'ns/op mean'.padStart(12)} ${'p99 ns/op'.padStart(12)}`);
for (const task of bench.tasks) {
  const r = task.result as { latency?: { mean: number; p99?: number } } | undefined;
  const mean = (r?.latency?.mean ?? NaN) * 1e6 / OPS_PER_CALL;
  const p99 = (r?.latency?.p99 ?? NaN) * 1e6 / OPS_PER_CALL;
  say(`${task.name.padEnd(26)} ${mean.toFixed(1).padStart(12)} ${p99.toFixed(1).padStart(12)}`);
}

// Expiry: a full pass over 1M entries that all expire at once (bounded batches of 4096 per call).
const ex = filled(1_000_000);
const t0 = process.hrtime.bigint();
let gone = 0;
while (ex.count > 0) gone += ex.expire(901_000, { onExpire: () => true }, 4096);
const dt = Number(process.hrtime.bigint() - t0);
say(`expire 1M entries in batches of 4096: ${(dt / 1e6).toFixed(0)} ms total, ${(dt / gone).toFixed(1)} ns/entry`);

const outIdx = process.argv.indexOf('--out');
if (outIdx > 0) writeFileSync(process.argv[outIdx + 1]!, lines.join('\n') + '\n');
