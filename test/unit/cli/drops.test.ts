/** tapvsadm --drops: parsing, the plain table, --json, against a fake daemon's `status` answer. */
import { beforeEach, describe, expect, it } from 'vitest';
import { UsageError, parseArgs } from '../../../src/cli/args.js';
import { dropsJson, formatDrops } from '../../../src/cli/drops.js';
import { main } from '../../../src/cli/tapvsadm.js';
import type { StatusResult } from '../../../src/control/protocol.js';
import { DROP_REASONS } from '../../../src/worker/stats.js';
import { Capture, FakeDaemon, fakeDaemonPerTest } from '../../helpers/fake-daemon.js';

const zeros = () => Object.fromEntries(DROP_REASONS.map((r) => [r, 0]));
const w0 = { ...zeros(), no_service: 3, tcp_no_conn: 12 };
const w1 = { ...zeros(), no_service: 1, eth_not_for_us: 1234567 };
const STATUS: StatusResult = {
  pid: 1, version: 7, timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, uptimeSec: 5, drops: { ...zeros(), no_service: 4, tcp_no_conn: 12, eth_not_for_us: 1234567 },
  workers: [
    { id: 0, appliedVersion: 7, alive: true, restarts: 0, conns: 0, halfOpen: 0, synflood: false, drops: w0, counters: {} },
    { id: 1, appliedVersion: 7, alive: true, restarts: 1, conns: 0, halfOpen: 0, synflood: false, drops: w1, counters: {} },
  ],
};

describe('--drops', () => {
  it('parses with --json (and -n, a no-op); other options are refused as ipvsadm refuses them', () => {
    expect(parseArgs(['--drops']).command).toEqual({ kind: 'drops' });
    expect(parseArgs(['--drops', '--json']).command).toEqual({ kind: 'drops', json: true });
    expect(parseArgs(['--drops', '-n']).command).toEqual({ kind: 'drops' });
    expect(() => parseArgs(['--drops', '-t', '10.0.0.1:80'])).toThrow(UsageError);
    expect(() => parseArgs(['--drops', '--stats'])).toThrow(/Illegal 'stats' option with the 'drops' command/);
  });

  it('prints the non-zero reasons in DROP_REASONS order, total then one column per worker', () => {
    expect(formatDrops(STATUS)).toBe(
      'Drop reason                   Total  Worker 0  Worker 1\n' +
        'eth_not_for_us              1234567         0   1234567\n' +
        'no_service                        4         3         1\n' +
        'tcp_no_conn                      12        12         0\n',
    );
    expect(formatDrops({ ...STATUS, drops: zeros() })).toBe('Drop reason                   Total  Worker 0  Worker 1\n');
  });

  it('--json has every reason, summed and per worker', () => {
    const j = dropsJson(STATUS);
    expect(Object.keys(j.total)).toEqual([...DROP_REASONS]);
    expect(j.workers.map((w) => [w.id, w.drops.no_service])).toEqual([[0, 3], [1, 1]]);
  });

  describe('main() against a fake daemon', () => {
    const fake = fakeDaemonPerTest('tapvsadm-drops-');
    let daemon: FakeDaemon;
    let cap: Capture;
    beforeEach(() => ({ daemon, cap } = fake));

    it('sends status and prints the table or the JSON', async () => {
      daemon.answers.status = { ok: true, result: STATUS };
      expect(await main(['--socket', daemon.path, '--drops'], cap.io)).toBe(0);
      expect(daemon.ops()).toEqual([{ op: 'status' }]);
      expect(cap.out).toBe(formatDrops(STATUS));
      cap.out = '';
      expect(await main(['--socket', daemon.path, '--drops', '--json'], cap.io)).toBe(0);
      expect(JSON.parse(cap.out)).toEqual(dropsJson(STATUS));
    });

    it('a malformed status answer is an error, not an empty table', async () => {
      daemon.answers.status = { ok: true, result: { pid: 1 } };
      expect(await main(['--socket', daemon.path, '--drops'], cap.io)).not.toBe(0);
      expect(cap.err).toMatch(/malformed status/);
    });
  });
});
