/**
 * `tapvsadm --drain` / `--undrain` (tapvs): sends the drain op and, with --wait, follows its progress with
 * drain-status until the daemon reports it done (the real emptied, or the deadline passed and the real was
 * removed as --at-deadline says). On a terminal the progress line is rewritten in place; otherwise a line is
 * printed when the counts change, and at least every PROGRESS_EVERY_MS.
 */
import type { ControlClient } from '../control/client.js';
import type { DrainStatus } from '../control/protocol.js';
import { LbError } from '../errors.js';
import type { Command } from './args.js';
import { formatAge } from './format.js';
import { EXIT, _daemonError, _transport, type CliIo } from './tapvsadm.js';

/** How often --wait asks the daemon. */
export const DRAIN_POLL_MS = 250;
const PROGRESS_EVERY_MS = 5000;
/** How long after the deadline --wait keeps asking before giving up (the daemon ends drains within a second). */
const DEADLINE_SLACK_MS = 30_000;

const WHAT_HAPPENS: Record<DrainStatus['atDeadline'], string> = {
  keep: 'its remaining conns are dropped until they time out',
  reschedule: 'its remaining conns are expired at their next packet and scheduled anew',
  reset: 'the next packet of each remaining conn is answered with a TCP RST (UDP: ICMP port unreachable)',
};

function counts(d: DrainStatus, udp: boolean): string {
  const conns = udp ? `UDP ${d.inactive + d.active}` : `ActiveConn ${d.active} InActConn ${d.inactive}`;
  return `${conns} PersistConn ${d.persist}${d.live !== null && d.active === 0 ? ` (live ${d.live})` : ''}`;
}

export function progressLine(d: DrainStatus, now: number): string {
  const udp = d.service.startsWith('UDP ');
  const start = Date.parse(d.startedAt);
  const end = Date.parse(d.deadlineAt);
  if (d.state === 'draining') {
    return `${d.service} -> ${d.real} draining: ${counts(d, udp)}, ${formatAge(now - start)} elapsed, deadline in ${formatAge(end - now)}`;
  }
  const took = formatAge(Date.parse(d.finishedAt!) - start);
  if (d.outcome === 'empty') return `${d.service} -> ${d.real} drained after ${took}: empty, removed`;
  return `${d.service} -> ${d.real} deadline passed after ${took} with ${counts(d, udp)}: removed (at-deadline ${d.atDeadline}: ${WHAT_HAPPENS[d.atDeadline]})`;
}

export async function runDrain(client: ControlClient, command: Extract<Command, { kind: 'drain' | 'undrain' }>, io: CliIo & { isTTY?: boolean }): Promise<number> {
  const target = { service: command.service, real: command.real };
  if (command.kind === 'undrain') {
    try {
      await client.request({ op: 'undrain', ...target });
      return EXIT.OK;
    } catch (err) {
      return _daemonError(io, 'drain', err, EXIT.DAEMON_ERROR);
    }
  }
  let st: DrainStatus;
  try {
    st = (await client.request({ op: 'drain', ...target, deadlineMs: command.deadlineMs, atDeadline: command.atDeadline })) as DrainStatus;
  } catch (err) {
    return _daemonError(io, 'drain', err, EXIT.DAEMON_ERROR);
  }
  if (!command.wait) return EXIT.OK;
  const tty = io.isTTY === true;
  let lastKey = '';
  let lastPrint = 0;
  const giveUp = Date.parse(st.deadlineAt) + DEADLINE_SLACK_MS;
  for (;;) {
    if (!st || typeof st.state !== 'string') return _transport(io, 'malformed drain status from daemon');
    const now = Date.now();
    const line = progressLine(st, now);
    if (st.state === 'done') {
      io.stdout.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
      return st.outcome === 'empty' ? EXIT.OK : EXIT.DRAIN_DEADLINE;
    }
    const key = `${st.active}/${st.inactive}/${st.persist}/${st.live}`;
    if (tty) io.stdout.write(`\r\x1b[K${line}`);
    else if (key !== lastKey || now - lastPrint >= PROGRESS_EVERY_MS) {
      io.stdout.write(line + '\n');
      lastPrint = now;
    }
    lastKey = key;
    if (now > giveUp) return _transport(io, 'the drain did not end within 30 s of its deadline; see the daemon log');
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    try {
      st = (await client.request({ op: 'drain-status', ...target })) as DrainStatus;
    } catch (err) {
      if (err instanceof LbError && err.code === 'ENOENT_DEST') {
        io.stdout.write(`${tty ? '\r\x1b[K' : ''}the real server was deleted while draining (not by the drain)\n`);
        return EXIT.DAEMON_ERROR;
      }
      return _daemonError(io, 'drain', err, EXIT.DAEMON_ERROR);
    }
  }
}
