/** The health state machine (src/health/state-machine.ts): rise/fall rules as tables of probe results. */
import { describe, expect, it } from 'vitest';
import { newRealHealth, recordResult, type HealthState } from '../../../src/health/state-machine.js';

/** Feeds results ('+' success, '-' failure); returns the state after each one. */
function run(results: string, rise: number, fall: number): HealthState[] {
  const h = newRealHealth(0);
  return [...results].map((c, i) => {
    recordResult(h, rise, fall, c === '+' ? null : `fail ${i}`, i + 1);
    return h.state;
  });
}

const U = 'unknown';
const cases: { name: string; results: string; rise: number; fall: number; states: HealthState[] }[] = [
  { name: 'first success trusted at once', results: '+', rise: 3, fall: 3, states: ['up'] },
  { name: 'unknown goes down after fall failures', results: '---', rise: 2, fall: 3, states: [U, U, 'down'] },
  { name: 'fall 1 goes down on the first failure', results: '-', rise: 2, fall: 1, states: ['down'] },
  { name: 'up stays up below fall', results: '+--+--', rise: 2, fall: 3, states: ['up', 'up', 'up', 'up', 'up', 'up'] },
  { name: 'a success resets the failure run', results: '+--+---', rise: 2, fall: 3, states: ['up', 'up', 'up', 'up', 'up', 'up', 'down'] },
  { name: 'down needs rise successes in a row', results: '---+-++', rise: 2, fall: 3, states: [U, U, 'down', 'down', 'down', 'down', 'up'] },
  { name: 'rise 1 comes back on the first success', results: '--+', rise: 1, fall: 2, states: [U, 'down', 'up'] },
  { name: 'flapping never reaches rise', results: '---+-+-+-', rise: 2, fall: 3, states: [U, U, 'down', 'down', 'down', 'down', 'down', 'down', 'down'] },
  { name: 'down and up again', results: '+---++---', rise: 2, fall: 3, states: ['up', 'up', 'up', 'down', 'down', 'up', 'up', 'up', 'down'] },
];

describe('health state machine', () => {
  for (const c of cases) {
    it(`${c.name}: ${c.results} (rise ${c.rise}, fall ${c.fall})`, () => {
      expect(run(c.results, c.rise, c.fall)).toEqual(c.states);
    });
  }

  it('reports a change only when the state changes, with its time, the last error and the counts', () => {
    const h = newRealHealth(100);
    expect(recordResult(h, 2, 2, 'ECONNREFUSED', 200)).toBeNull();
    expect(h).toMatchObject({ state: 'unknown', failRun: 1, lastError: 'ECONNREFUSED', lastCheck: 200, since: 100 });
    expect(recordResult(h, 2, 2, 'timeout', 300)).toBe('down');
    expect(h).toMatchObject({ state: 'down', since: 300, lastError: 'timeout', probes: 2, failures: 2 });
    expect(recordResult(h, 2, 2, null, 400)).toBeNull();
    expect(h).toMatchObject({ okRun: 1, failRun: 0, lastError: '' });
    expect(recordResult(h, 2, 2, null, 500)).toBe('up');
    expect(h).toMatchObject({ state: 'up', since: 500, probes: 4, failures: 2 });
  });
});
