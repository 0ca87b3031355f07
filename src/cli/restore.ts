/**
 * `tapvsadm -R`: ipvsadm's restore input (what -S prints, or any tapvsadm command lines) → the requests of one
 * `restore` op. As ipvsadm (config_stream.c): each line is split on spaces, tabs and CRs, the word `ipvsadm`
 * (here also `tapvsadm`) is dropped, empty lines are skipped, and each line is parsed as one command line, so
 * an option error names the same problem ipvsadm would (and stops the restore, exit 2). Lines starting with
 * `#` are comments (ipvsadm would refuse them).
 *
 * Unlike ipvsadm, which runs each line as it goes and carries on after a refused one, the daemon runs all the
 * lines on a copy of its table and applies the result as one atomic change: a refused line changes nothing.
 */
import type { RestoreRequest } from '../control/protocol.js';
import { UnsupportedError, UsageError, parseArgs } from './args.js';

export interface RestoreLine {
  /** 1-based line number in the input. */
  line: number;
  text: string;
  request: RestoreRequest;
}

/** A line that cannot be restored; `exitCode` as ipvsadm (2 for an option error). */
export class RestoreError extends Error {
  constructor(
    readonly line: number,
    message: string,
    readonly exitCode: number,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'RestoreError';
  }
}

const RULE_OPS = new Set(['add-service', 'edit-service', 'del-service', 'add-real', 'edit-real', 'del-real', 'clear']);

/** Parses the whole input; throws RestoreError for the first line that is not a rule. */
export function parseRestore(input: string): RestoreLine[] {
  const out: RestoreLine[] = [];
  input.split('\n').forEach((text, i) => {
    const words = text.split(/[ \t\r]+/).filter((w) => w !== '' && w !== 'ipvsadm' && w !== 'tapvsadm');
    if (words.length === 0 || words[0]!.startsWith('#')) return;
    let parsed;
    try {
      parsed = parseArgs(words);
    } catch (err) {
      if (err instanceof UsageError) throw new RestoreError(i + 1, err.message || `\`${text.trim()}' is not a command`, 2);
      if (err instanceof UnsupportedError) throw new RestoreError(i + 1, err.message, 1);
      throw err;
    }
    const c = parsed.command;
    let request: RestoreRequest | undefined;
    if (c.kind === 'change' && RULE_OPS.has(c.request.op)) request = c.request as RestoreRequest;
    else if (c.kind === 'set-timeouts') request = { op: 'set-timeouts', tcp: c.tcp, tcpfin: c.tcpfin, udp: c.udp };
    if (request === undefined) {
      throw new RestoreError(i + 1, `\`${text.trim()}' is not a rule (-R takes -A -E -D -a -e -d -C -P -Q --set)`, 2);
    }
    out.push({ line: i + 1, text: text.trim(), request });
  });
  return out;
}
