/**
 * tapvsadm against the real control thread (a Control with an in-memory worker behind a real Unix socket):
 * ipvsadm command lines in, ipvsadm layouts out, including scheduler flags, persistence and the errors ipvsadm
 * prints for an unknown scheduler or a bad flag. No root needed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/tapvsadm.js';
import { Control } from '../../src/control/control.js';
import { ControlServer } from '../../src/control/server.js';
import { InlineWorker } from '../../src/control/workers.js';
import { MemoryIO } from '../../src/io/memory-io.js';
import { parseIPv4 } from '../../src/util/addr.js';

const dir = mkdtempSync(join(tmpdir(), 'tapvs-adm-'));
const sock = join(dir, 'tapvs.sock');
let server: ControlServer;

async function adm(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(['--socket', sock, ...args], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { code, out, err };
}

beforeAll(async () => {
  const control = new Control({ mac: '02:00:00:00:00:01', addrs: [{ addr: parseIPv4('10.0.0.254'), prefix: 24 }, { addr: parseIPv4('192.168.10.1'), prefix: 24 }], gateway: 0, verifyL4: true });
  control.attach([new InlineWorker(0, new MemoryIO(), (m) => control.onWorkerMessage(m))]);
  server = new ControlServer(control, sock);
  await server.listen();
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('tapvsadm → control thread', () => {
  it('configures services with every kind of scheduler option and lists them as ipvsadm does', async () => {
    for (const cmd of [
      ['-A', '-t', '10.0.0.1:80', '-s', 'wlc', '-p', '300', '-M', '255.255.255.0'],
      ['-a', '-t', '10.0.0.1:80', '-r', '192.168.10.2:8080', '-m', '-w', '3'],
      ['-A', '-t', '10.0.0.1:443', '-s', 'sh', '-b', 'sh-fallback,sh-port'],
      ['-a', '-t', '10.0.0.1:443', '-r', '192.168.10.3', '-g', '-w', '0'],
      ['-A', '-u', '10.0.0.1:53', '-s', 'maglev', '-b', 'mh-port'],
      ['-a', '-u', '10.0.0.1:53', '-r', '192.168.10.4', '-m', '-x', '100', '-y', '50'],
      ['-A', '-t', '10.0.0.2:8080', '-s', 'lblcr', '-p'],
    ]) {
      const r = await adm(...cmd);
      expect(r, cmd.join(' ')).toMatchObject({ code: 0, err: '' });
    }
    const r = await adm('-L', '-n');
    expect(r.out).toBe(
      [
        'IP Virtual Server version 1.2.1 (size=4096)',
        'Prot LocalAddress:Port Scheduler Flags',
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
        'TCP  10.0.0.1:80 wlc persistent 300 mask 255.255.255.0',
        '  -> 192.168.10.2:8080            Masq    3      0          0         ',
        'TCP  10.0.0.1:443 sh (sh-fallback,sh-port)',
        '  -> 192.168.10.3:443             Route   0      0          0         ',
        'TCP  10.0.0.2:8080 lblcr persistent 360',
        'UDP  10.0.0.1:53 mh (mh-port)',
        '  -> 192.168.10.4:53              Masq    1      0          0         ',
        '',
      ].join('\n'),
    );
    const t = await adm('-L', '-n', '--thresholds', '-u', '10.0.0.1:53');
    expect(t.out).toContain('  -> 192.168.10.4:53              100        50         0          0         ');
  });

  it('sets the Maglev table size per service and refuses sizes that are not one of the primes', async () => {
    expect(await adm('-A', '-t', '10.0.0.3:80', '-s', 'mh', '--mh-table-size', '65537')).toMatchObject({ code: 0, err: '' });
    const bad = await adm('-A', '-t', '10.0.0.4:80', '-s', 'mh', '--mh-table-size', '65536');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('service.mhTableSize must be one of');
    expect((await adm('-D', '-t', '10.0.0.3:80')).code).toBe(0);
  });

  it('edits a service in place with -E (scheduler change) and keeps its reals', async () => {
    expect((await adm('-E', '-t', '10.0.0.1:443', '-s', 'rr')).code).toBe(0);
    const r = await adm('-L', '-n', '-t', '10.0.0.1:443');
    expect(r.out).toContain('TCP  10.0.0.1:443 rr');
    expect(r.out).toContain('192.168.10.3:443');
  });

  it('answers with ipvsadm\'s messages and exit codes, and changes nothing', async () => {
    const before = (await adm('-L', '-n')).out;
    expect(await adm('-A', '-t', '10.0.0.9:80', '-s', 'nosuch')).toMatchObject({ code: 255, err: 'Scheduler or persistence engine not found\n' });
    expect((await adm('-A', '-t', '10.0.0.9:80', '-s', 'rr', '-b', 'sh-port')).err).toContain("incompatible scheduler flag `sh-port'");
    expect(await adm('-a', '-t', '10.0.0.9:80', '-r', '192.168.10.5', '-m')).toMatchObject({ code: 255, err: 'Service not defined\n' });
    expect(await adm('-a', '-t', '10.0.0.1:80', '-r', '192.168.10.2:8080', '-m')).toMatchObject({ code: 255, err: 'Destination already exists\n' });
    expect(await adm('-d', '-t', '10.0.0.1:80', '-r', '192.168.10.9:8080')).toMatchObject({ code: 255, err: 'No such destination\n' });
    expect((await adm('-L', '-n')).out).toBe(before);
  });
});
