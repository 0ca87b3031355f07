/**
 * `tapvs trace --src IP[:port] --dst VIP:port [--proto tcp|udp] [--count N] [--seconds S] [--json]`: starts a trace
 * in the daemon (trace-start), polls it every TRACE_POLL_MS and prints one line per traced packet, stops it at the
 * end, on Ctrl-C, or when the daemon ends it (count reached, duration over).
 */
import { ControlClient } from '../control/client.js';
import type { TracePoll, TraceRecord } from '../control/trace.js';
import { LbError } from '../errors.js';

const TRACE_POLL_MS = 100;

export interface TraceOpts {
  src: string;
  dst: string;
  proto?: string;
  count?: number;
  seconds?: number;
  json?: boolean;
  socket: string;
}

export interface TraceIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Resolves when the user interrupts (SIGINT); never in tests. */
  interrupted?: Promise<void>;
}

/** One traced packet as a line: what came in, the decision, what went out (or the drop reason). */
export function formatRecord(r: TraceRecord): string {
  const time = r.time.slice(11, 23);
  const decision = r.conn === 'none' ? 'conn none' : `conn ${r.conn} → ${r.real} ${r.method}`;
  const result = r.result === 'dropped' ? `DROP ${r.drop}` : r.result === 'held' ? 'held (ARP)' : 'forwarded';
  const out = r.out ? ` | out ${r.out.proto} ${r.out.src} > ${r.out.dst} to ${r.out.mac}${r.tx > 1 ? ` (${r.tx} frames)` : ''}` : '';
  return `${time} w${r.worker} ${r.proto} ${r.src} > ${r.dst} | ${decision} | ${result}${out}`;
}

/** Returns the exit status: 0 done, 1 refused (bad filter, a trace already running), 2 no daemon. */
export async function runTrace(opts: TraceOpts, io: TraceIo): Promise<number> {
  let client: ControlClient;
  try {
    client = await ControlClient.connect(opts.socket);
  } catch (err) {
    io.stderr.write(`tapvs: ${(err as Error).message}\n`);
    return 2;
  }
  let stopped = false;
  void io.interrupted?.then(() => (stopped = true));
  try {
    const started = (await client.request({
      op: 'trace-start', src: opts.src, dst: opts.dst, ...(opts.proto ? { proto: opts.proto as 'tcp' | 'udp' } : {}),
      ...(opts.count !== undefined ? { count: opts.count } : {}), ...(opts.seconds !== undefined ? { seconds: opts.seconds } : {}),
    })) as { trace: number; count: number; seconds: number };
    io.stderr.write(`tracing ${opts.src} > ${opts.dst}: up to ${started.count} packets for ${started.seconds} s\n`);
    let last: TracePoll;
    for (;;) {
      await new Promise((r) => setTimeout(r, TRACE_POLL_MS));
      last = (await client.request({ op: stopped ? 'trace-stop' : 'trace-poll', trace: started.trace })) as TracePoll;
      for (const r of last.records) io.stdout.write((opts.json ? JSON.stringify(r) : formatRecord(r)) + '\n');
      if (last.done) break;
    }
    const summary = { done: true, delivered: last.delivered, lost: last.lost, reason: last.reason };
    if (opts.json) io.stdout.write(JSON.stringify(summary) + '\n');
    else io.stderr.write(`${last.delivered} packet${last.delivered === 1 ? '' : 's'} traced, ${last.lost} lost (ring full), ended by ${last.reason}\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`tapvs trace: ${err instanceof LbError ? err.message : String(err)}\n`);
    return 1;
  } finally {
    client.close();
  }
}
