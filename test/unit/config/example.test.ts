/**
 * examples/tapvs.yaml is a valid config: it parses, and a control thread whose director owns 10.0.0.1/24 and
 * 10.0.1.1/24 (as in the README) applies it; applied again, it changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadConfigFile } from '../../../src/config/file.js';
import { Control } from '../../../src/control/control.js';
import { formatSave } from '../../../src/cli/rules.js';
import { parseIPv4 } from '../../../src/util/addr.js';

const FILE = join(import.meta.dirname, '../../../examples/tapvs.yaml');

describe('examples/tapvs.yaml', () => {
  it('parses and applies to a director on 10.0.0.1/24 and 10.0.1.1/24', async () => {
    const config = loadConfigFile(FILE);
    const c = new Control({ mac: '02:00:00:00:00:01', addrs: [{ addr: parseIPv4('10.0.0.1'), prefix: 24 }, { addr: parseIPv4('10.0.1.1'), prefix: 24 }], gateway: 0, verifyL4: true });
    const r = await c.handle({ op: 'apply', config });
    expect(r).toMatchObject({ ok: true, result: { applied: true } });
    const list = c.list();
    expect(list.services.map((s) => `${s.proto} ${s.vip}:${s.vport} ${s.scheduler} ${s.reals.length} ${s.health?.kind ?? '-'}`)).toEqual([
      'tcp 10.0.0.100:80 wlc 2 http', 'tcp 10.0.0.100:443 sh 2 tcp', 'tcp 10.0.0.101:80 rr 2 -', 'tcp 10.0.0.102:3306 lc 1 exec', 'udp 10.0.0.100:53 mh 2 udp',
    ]);
    expect(c.status().timeouts).toEqual({ tcp: 900, tcpfin: 120, udp: 300 });
    expect(formatSave(list)).toContain('-A -t 10.0.0.100:443 -s sh -p 360 -M 255.255.255.0 -b sh-port\n');
    expect(await c.handle({ op: 'apply', config: loadConfigFile(FILE) })).toMatchObject({ ok: true, result: { plan: [], applied: false } });
  });
});
