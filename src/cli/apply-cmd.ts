/**
 * `tapvs apply FILE [--dry-run]` and the daemon's SIGHUP reload: read and check a config file, send it to the
 * `apply` op, print the plan (rules.ts wording, one change per line).
 */
import { ControlClient } from '../control/client.js';
import type { ApplyResult } from '../control/protocol.js';
import { ConfigError, loadConfigFile } from '../config/file.js';
import type { Control } from '../control/control.js';
import { LbError } from '../errors.js';
import { log } from '../util/log.js';
import { formatPlan } from './rules.js';

export interface ApplyIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Exit statuses of `tapvs apply`. */
export const APPLY_EXIT = { OK: 0, REFUSED: 1, NO_DAEMON: 2 } as const;

/** `tapvs apply`: returns the exit status. */
export async function applyFile(file: string, opts: { dryRun?: boolean; socket: string }, io: ApplyIo): Promise<number> {
  let config;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(`${err.message}\n${file}: not applied (${err.issues.length} problem${err.issues.length === 1 ? '' : 's'})\n`);
    return APPLY_EXIT.REFUSED;
  }
  let client: ControlClient;
  try {
    client = await ControlClient.connect(opts.socket);
  } catch (err) {
    io.stderr.write(`tapvs: ${(err as Error).message}\n`);
    return APPLY_EXIT.NO_DAEMON;
  }
  try {
    const res = (await client.request({ op: 'apply', config, dryRun: opts.dryRun === true })) as ApplyResult;
    io.stdout.write(formatPlan(res.plan));
    const n = `${res.plan.length} change${res.plan.length === 1 ? '' : 's'}`;
    if (opts.dryRun) io.stdout.write(`dry run: ${n}, nothing applied\n`);
    else if (res.applied) io.stdout.write(`applied: ${n} (config version ${res.version})\n`);
    return APPLY_EXIT.OK;
  } catch (err) {
    io.stderr.write(`${file}: ${err instanceof LbError ? err.message : String(err)}\n${file}: not applied (the running config is unchanged)\n`);
    return APPLY_EXIT.REFUSED;
  } finally {
    client.close();
  }
}

/**
 * SIGHUP: re-reads `file` and applies it in the daemon; a bad file or a refused change is logged and the running
 * config stays as it was. Signals during a reload cause one more reload after it.
 */
export function reloader(control: Control, file: string | undefined): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  const once = async () => {
    const t0 = Date.now();
    try {
      const res = await control.apply(loadConfigFile(file!), false);
      log('info', 'config reloaded', { file, changes: res.plan.length, version: res.version, ms: Date.now() - t0, plan: logPlan(res) });
    } catch (err) {
      log('error', 'config reload refused; the running config is kept', { file, error: (err as Error).message.split('\n') });
    }
  };
  return async () => {
    if (file === undefined) {
      log('warn', 'SIGHUP ignored: the daemon was started without --config');
      return;
    }
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await once();
      } while (again);
    })();
    await running;
    running = null;
  };
}

/** A plan as log lines. */
export function logPlan(res: ApplyResult): string[] {
  return res.plan.length === 0 ? [] : formatPlan(res.plan).trimEnd().split('\n');
}
