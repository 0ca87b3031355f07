/**
 * The whole per-packet pipeline over the in-memory PacketIO, per forwarding method: ns per frame for the frames
 * of established connections (both directions where the method sees both), including parse, checksum
 * verification, conn lookup, state machine, rewrite and Ethernet output. No syscalls: this is the JS cost a
 * worker adds on top of the TAP reads and writes.
 *
 * Run: npx tsc -p bench/tsconfig.json && node dist-bench/bench/pipeline.bench.js [--out FILE]
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Bench } from 'tinybench';
import { Control } from '../src/control/control.js';
import { InlineWorker } from '../src/control/workers.js';
import { MemoryIO } from '../src/io/memory-io.js';
import { parseIPv4 } from '../src/util/addr.js';
import { pkt } from '../test/helpers/packet-builder.js';

const DIR = '02:aa:00:00:00:01';
const CL = '02:cc:00:00:00:02';
const R1 = '02:11:00:00:00:11';
const VIP = '198.18.0.100';
const CIP = '198.18.0.2';
const RIP = '198.18.1.11';
const LIP = '198.18.1.5';
const FLOWS = 16;
const FRAMES_PER_CALL = 64 * 16;

type Method = 'nat' | 'dr' | 'tun' | 'fullnat';

async function setup(method: Method): Promise<{ w: InlineWorker; io: MemoryIO; control: Control }> {
  const control = new Control({
    mac: DIR, addrs: [{ addr: parseIPv4('198.18.0.1'), prefix: 24 }, { addr: parseIPv4('198.18.1.1'), prefix: 24 }],
    gateway: 0, verifyL4: true,
  });
  const io = new MemoryIO();
  const w = new InlineWorker(0, io, (m) => control.onWorkerMessage(m), { maxConns: 4096 });
  control.attach([w]);
  const svc = { proto: 'tcp', vip: VIP, vport: 80 };
  const must = async (req: object) => {
    const r = await control.handle(req);
    if (!r.ok) throw new Error(`${JSON.stringify(req)}: ${JSON.stringify(r)}`);
  };
  await must({ op: 'add-service', service: { ...svc, scheduler: 'wlc', ...(method === 'fullnat' ? { laddrs: [LIP] } : {}) } });
  await must({ op: 'add-real', service: svc, real: { rip: RIP, method } });
  io.inject(pkt().eth({ src: R1, dst: DIR }).arp({ op: 'reply', sha: R1, spa: RIP, tha: DIR, tpa: '198.18.1.1' }).build());
  io.inject(pkt().eth({ src: CL, dst: DIR }).arp({ op: 'reply', sha: CL, spa: CIP, tha: DIR, tpa: '198.18.0.1' }).build());
  w.pump();
  const frames: Uint8Array[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const sport = 30000 + i;
    io.inject(pkt().eth({ src: CL, dst: DIR }).ipv4({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags: 'S', seq: 1 }).build());
    w.pump();
    frames.push(pkt().eth({ src: CL, dst: DIR }).ipv4({ src: CIP, dst: VIP }).tcp({ sport, dport: 80, flags: 'PA', seq: 2, ack: 1 }).payload(100).build());
    if (method === 'nat') {
      frames.push(pkt().eth({ src: R1, dst: DIR }).ipv4({ src: RIP, dst: CIP }).tcp({ sport: 80, dport: sport, flags: 'PA', seq: 1, ack: 102 }).payload(400).build());
    }
  }
  if (method === 'fullnat') {
    // Replies go to the local address and port the worker chose: read them from its connection listing.
    const rows = w.dp.listConns();
    for (let k = 0; k < rows.proto.length; k++) {
      if (rows.cport[k] === 0) continue;
      const lport = w.dp.conns.lport[w.dp.conns.lookupIn(6, parseIPv4(CIP) | 0, rows.cport[k]!, parseIPv4(VIP) | 0, 80)]!;
      frames.push(pkt().eth({ src: R1, dst: DIR }).ipv4({ src: RIP, dst: LIP }).tcp({ sport: 80, dport: lport, flags: 'PA', seq: 1, ack: 102 }).payload(400).build());
    }
  }
  io.take();
  io.countOnly = true;
  io.replayForever(frames);
  return { w, io, control };
}

const lines: string[] = [];
const say = (s: string) => {
  lines.push(s);
  console.log(s);
};
say(`# pipeline benchmark ${new Date().toISOString()}`);
say(`# machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
say(`# ${FLOWS} established TCP flows; NAT and FULLNAT frames alternate client→real (100 B) and real→client (400 B)`);
const bench = new Bench({ time: 1000, warmupTime: 200 });
const beds = new Map<string, { io: MemoryIO; control: Control }>();
for (const method of ['nat', 'dr', 'tun', 'fullnat'] as Method[]) {
  const { w, io, control } = await setup(method);
  beds.set(method, { io, control });
  bench.add(method, () => {
    for (let i = 0; i < FRAMES_PER_CALL / w.dp.batch; i++) w.dp.step();
  });
}
await bench.run();
say(`${'method'.padEnd(10)} ${'ns/frame mean'.padStart(14)} ${'p99'.padStart(10)} ${'frames sent'.padStart(12)} ${'drops'.padStart(6)}`);
for (const task of bench.tasks) {
  const r = task.result as { latency?: { mean: number; p99?: number } } | undefined;
  const mean = ((r?.latency?.mean ?? NaN) * 1e6) / FRAMES_PER_CALL;
  const p99 = ((r?.latency?.p99 ?? NaN) * 1e6) / FRAMES_PER_CALL;
  const b = beds.get(task.name)!;
  const drops = Object.values(b.control.status().drops).reduce((x, y) => x + y, 0);
  say(`${task.name.padEnd(10)} ${mean.toFixed(1).padStart(14)} ${p99.toFixed(1).padStart(10)} ${String(b.io.sentCount).padStart(12)} ${String(drops).padStart(6)}`);
}
const outIdx = process.argv.indexOf('--out');
if (outIdx > 0) writeFileSync(process.argv[outIdx + 1]!, lines.join('\n') + '\n');
