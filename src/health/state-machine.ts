/**
 * The health state of one real under one check, as a pure state machine (no timers, no I/O), so the rules can
 * be tested as tables of results:
 *
 *   unknown ──success──▶ UP                  (a fresh check trusts its first success at once)
 *   unknown / UP ──`fall` failures in a row──▶ DOWN
 *   DOWN ──`rise` successes in a row──▶ UP
 *
 * A real whose check has not answered yet (unknown) stays in scheduling: adding a check to a running service
 * must not take its reals out before any probe has run. A success resets the failure run and vice versa.
 */
export type HealthState = 'unknown' | 'up' | 'down';

export interface RealHealth {
  state: HealthState;
  /** Consecutive successes / failures up to the last result. */
  okRun: number;
  failRun: number;
  /** When `state` last changed (ms since the epoch; the check's start for unknown). */
  since: number;
  /** Time of the last completed probe, 0 = none yet. */
  lastCheck: number;
  /** Why the last probe failed ('' after a success). */
  lastError: string;
  /** Completed probes, and failed ones, since the check started. */
  probes: number;
  failures: number;
}

export function newRealHealth(now: number): RealHealth {
  return { state: 'unknown', okRun: 0, failRun: 0, since: now, lastCheck: 0, lastError: '', probes: 0, failures: 0 };
}

/**
 * Records one probe result (`error` null = success). Returns the new state when it changed, else null.
 */
export function recordResult(h: RealHealth, rise: number, fall: number, error: string | null, now: number): HealthState | null {
  h.lastCheck = now;
  h.probes++;
  const before = h.state;
  if (error === null) {
    h.okRun++;
    h.failRun = 0;
    h.lastError = '';
    if (h.state === 'unknown' || (h.state === 'down' && h.okRun >= rise)) h.state = 'up';
  } else {
    h.failRun++;
    h.okRun = 0;
    h.failures++;
    h.lastError = error;
    if (h.state !== 'down' && h.failRun >= fall) h.state = 'down';
  }
  if (h.state === before) return null;
  h.since = now;
  return h.state;
}
