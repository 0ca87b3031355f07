/**
 * Scheduler registry: ipvsadm name → Scheduler, plus `-b` (sched-flags) parsing with ipvsadm's own wording.
 * Adding a scheduler: import it and add it to ALL (see README.md).
 */
import { SCHED_FLAG_1, SCHED_FLAG_2, SCHED_FLAG_3, type Scheduler } from './scheduler.js';
import { dh } from './dh.js';
import { fo } from './fo.js';
import { lblc } from './lblc.js';
import { lblcr } from './lblcr.js';
import { lc } from './lc.js';
import { mh } from './mh.js';
import { nq } from './nq.js';
import { ovf } from './ovf.js';
import { rr } from './rr.js';
import { sed } from './sed.js';
import { sh } from './sh.js';
import { wlc } from './wlc.js';
import { wrr } from './wrr.js';

/** Every scheduler, in the order `schedulerNames()` lists them (ipvsadm's man page order). */
const ALL: readonly Scheduler[] = [
  rr,
  wrr,
  lc,
  wlc,
  lblc,
  lblcr,
  dh,
  sh,
  sed,
  nq,
  fo,
  ovf,
  mh,
];

/** Schedulers keyed by their ipvsadm name (`SCHEDULERS[k].name === k` for every key). */
export const SCHEDULERS: Readonly<Record<string, Scheduler>> = Object.freeze(
  Object.fromEntries(ALL.map((s) => [s.name, s])),
);

/** Other spellings accepted for `-s`, resolved to the ipvsadm name by getScheduler (convention 14). */
export const SCHEDULER_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  maglev: 'mh',
});

/** ipvsadm's default scheduler (DEF_SCHED), also used to judge `-b` when no `-s` is given. */
export const DEFAULT_SCHEDULER = 'wlc';

/** The scheduler for an ipvsadm name or alias, or undefined (the caller reports `unknownScheduler()` once, at config time). */
export function getScheduler(name: string): Scheduler | undefined {
  const key = Object.hasOwn(SCHEDULER_ALIASES, name) ? SCHEDULER_ALIASES[name] : name;
  return Object.hasOwn(SCHEDULERS, key) ? SCHEDULERS[key] : undefined;
}

/** Registered ipvsadm names (aliases not included). */
export function schedulerNames(): string[] {
  return ALL.map((s) => s.name);
}

/** Flags every scheduler accepts (ipvsadm parse_sched_flags). */
const _GENERIC_FLAGS: Readonly<Record<string, number>> = {
  'flag-1': SCHED_FLAG_1,
  'flag-2': SCHED_FLAG_2,
  'flag-3': SCHED_FLAG_3,
};

/**
 * Scheduler-specific flag names ipvsadm knows (1.31). A name here is "incompatible" with any scheduler whose
 * `flags` lacks it, whether or not its owner is registered yet; a name nowhere is "invalid".
 */
const _SPECIFIC_FLAGS: ReadonlySet<string> = new Set(['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port']);

/**
 * Parses the `-b` list (already split on commas) for scheduler `sched` (empty → the default, wlc, as ipvsadm does).
 * Returns the SCHED_FLAG_* bit mask, or ipvsadm's error text for the first bad flag:
 * "incompatible scheduler flag `sh-port'" or "invalid scheduler flag `foo'". Empty items are skipped (strtok).
 */
export function parseSchedFlags(sched: string, flags: readonly string[]): number | string {
  const s = getScheduler(sched === '' ? DEFAULT_SCHEDULER : sched);
  const own = s?.flags ?? {};
  let mask = 0;
  for (const flag of flags) {
    if (flag === '') continue;
    if (Object.hasOwn(_GENERIC_FLAGS, flag)) mask |= _GENERIC_FLAGS[flag];
    else if (Object.hasOwn(own, flag)) mask |= own[flag];
    else if (_SPECIFIC_FLAGS.has(flag)) return `incompatible scheduler flag \`${flag}'`;
    else return `invalid scheduler flag \`${flag}'`;
  }
  return mask;
}
