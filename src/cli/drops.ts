/**
 * `tapvsadm --drops [--json]`: the workers' drop counters by reason (src/worker/stats.ts DROP_REASONS), from the
 * `status` op. The table shows the reasons with a non-zero total, with the total and one column per worker;
 * `--json` gives every reason (zeros included) for scripts.
 */
import type { StatusResult } from '../control/protocol.js';
import { sprintf } from './format.js';

export interface DropsJson {
  /** Every reason, summed over the workers. */
  total: Record<string, number>;
  workers: { id: number; alive: boolean; drops: Record<string, number> }[];
}

export function dropsJson(s: StatusResult): DropsJson {
  return { total: { ...s.drops }, workers: s.workers.map((w) => ({ id: w.id, alive: w.alive, drops: { ...w.drops } })) };
}

/** The plain table: reasons with a non-zero total, in DROP_REASONS order (the daemon's key order). */
export function formatDrops(s: StatusResult): string {
  const workerCols = s.workers.map((w) => sprintf('%10s', `Worker ${w.id}`)).join('');
  let out = sprintf('%-24s %10s', 'Drop reason', 'Total') + workerCols + '\n';
  for (const [reason, total] of Object.entries(s.drops)) {
    if (total === 0) continue;
    out += sprintf('%-24s %10s', reason, String(total)) + s.workers.map((w) => sprintf('%10s', String(w.drops[reason] ?? 0))).join('') + '\n';
  }
  return out;
}
